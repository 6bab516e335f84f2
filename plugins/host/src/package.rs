//! Plugin packages: where a plugin file comes from and what it holds.
//!
//! `POST /plugins/{kind}` names a file by path, `file://` URL or `http://` URL. It is either a
//! library (`Name@vX.Y.Z.so`) or a zip holding that library and, for sources, the default
//! configuration `name.yaml` (eKuiper's layout; other entries such as install scripts are ignored).
//! [`stage`] fetches and unpacks it into a staging folder without touching anything installed: the
//! caller loads the staged library, and only if that succeeds moves it into place
//! ([`StagedPackage`] says what to move). A zip with any entry that would escape the target folder
//! (`../x`, absolute paths) is refused as a whole.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::registry::PluginKind;

/// Why a package could not be fetched or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Reading, writing or fetching failed.
    #[error("plugin package `{what}`: {message}")]
    Io {
        /// The file or URL.
        what: String,
        /// Why.
        message: String,
    },
    /// The URL scheme is not supported.
    #[error("plugin file `{0}`: unsupported location (use a path, file:// or http://)")]
    Scheme(String),
    /// A zip entry would be written outside the target folder.
    #[error("plugin zip `{zip}`: entry `{entry}` escapes the target folder; refused")]
    UnsafeEntry {
        /// The zip.
        zip: String,
        /// The entry name.
        entry: String,
    },
    /// The package does not hold what it should.
    #[error("plugin package `{file}`: {reason}")]
    Content {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// A fetched and unpacked package, not installed yet.
#[derive(Debug, Clone)]
pub struct StagedPackage {
    /// The staged library (load it from here).
    pub library: PathBuf,
    /// The library's file name in the package, e.g. `Mysql@v1.0.0.so` (install it under this name).
    pub file_name: String,
    /// The version in the file name, if any.
    pub version: Option<String>,
    /// The `name.yaml` configuration (sources only), if the zip had one.
    pub config_yaml: Option<Vec<u8>>,
}

/// Split a library file name: `Mysql@v1.0.0.so` → (`Mysql`, Some(`1.0.0`)); `random.so` →
/// (`random`, None).
pub fn parse_library_name(file_name: &str) -> Option<(String, Option<String>)> {
    let stem = file_name.strip_suffix(".so")?;
    match stem.split_once('@') {
        Some((name, version)) => {
            Some((name.to_string(), Some(version.strip_prefix('v').unwrap_or(version).to_string())))
        }
        None => Some((stem.to_string(), None)),
    }
}

static STAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io(what: impl std::fmt::Display, e: impl std::fmt::Display) -> PackageError {
    PackageError::Io { what: what.to_string(), message: e.to_string() }
}

/// Fetch `file` (path, `file://` or `http://` URL) and unpack it for plugin (`kind`, `name`) into
/// `staging_dir`.
pub fn stage(kind: PluginKind, name: &str, file: &str, staging_dir: &Path) -> Result<StagedPackage, PackageError> {
    std::fs::create_dir_all(staging_dir).map_err(|e| io(staging_dir.display(), e))?;
    let n = STAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let bytes = fetch(file)?;
    let url_name = file.rsplit('/').next().unwrap_or(file).to_string();
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return unzip(kind, name, file, &bytes, staging_dir, n);
    }
    let (lib_name, version) =
        parse_library_name(&url_name).filter(|(n, _)| n.eq_ignore_ascii_case(name)).ok_or_else(|| {
            PackageError::Content {
                file: file.into(),
                reason: format!("expected a zip or a library named `{name}.so` or `Name@vX.Y.Z.so` (name `{name}`)"),
            }
        })?;
    let _ = lib_name;
    let library = staging_dir.join(format!("{n}-{url_name}"));
    std::fs::write(&library, &bytes).map_err(|e| io(library.display(), e))?;
    Ok(StagedPackage { library, file_name: url_name, version, config_yaml: None })
}

fn unzip(
    kind: PluginKind,
    name: &str,
    file: &str,
    bytes: &[u8],
    staging_dir: &Path,
    n: u64,
) -> Result<StagedPackage, PackageError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| io(file, e))?;
    // Refuse the whole package if any entry would escape, before extracting anything.
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| io(file, e))?;
        let raw = entry.name().map(|n| n.into_owned()).map_err(|e| io(file, e))?;
        if entry.enclosed_name().is_none()
            || raw.starts_with(['/', '\\'])
            || raw.contains(':')
            || raw.split(['/', '\\']).any(|c| c == "..")
        {
            return Err(PackageError::UnsafeEntry { zip: file.into(), entry: raw });
        }
    }
    let mut library = None;
    let mut config_yaml = None;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| io(file, e))?;
        if entry.is_dir() {
            continue;
        }
        let Some(base) = entry.enclosed_name().and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        else {
            continue;
        };
        let mut content = Vec::new();
        if let Some((lib, version)) = parse_library_name(&base).filter(|(l, _)| l.eq_ignore_ascii_case(name)) {
            let _ = lib;
            if library.is_some() {
                return Err(PackageError::Content {
                    file: file.into(),
                    reason: format!("holds more than one `{name}` library"),
                });
            }
            entry.read_to_end(&mut content).map_err(|e| io(file, e))?;
            let staged = staging_dir.join(format!("{n}-{base}"));
            let mut out = std::fs::File::create(&staged).map_err(|e| io(staged.display(), e))?;
            out.write_all(&content).map_err(|e| io(staged.display(), e))?;
            library = Some(StagedPackage { library: staged, file_name: base, version, config_yaml: None });
        } else if kind == PluginKind::Source && base == format!("{name}.yaml") {
            entry.read_to_end(&mut content).map_err(|e| io(file, e))?;
            config_yaml = Some(content);
        }
    }
    let mut staged = library.ok_or_else(|| PackageError::Content {
        file: file.into(),
        reason: format!("no library `{name}.so` or `Name@vX.Y.Z.so` with name `{name}` in the zip"),
    })?;
    staged.config_yaml = config_yaml;
    Ok(staged)
}

/// The largest plugin package accepted (library or zip).
pub const MAX_PACKAGE_BYTES: u64 = 512 * 1024 * 1024;

/// Read a plugin file from a path, a `file://` URL or an `http://` URL.
pub fn fetch(file: &str) -> Result<Vec<u8>, PackageError> {
    if let Some(path) = file.strip_prefix("file://") {
        return read_regular(file, Path::new(path));
    }
    if let Some(rest) = file.strip_prefix("http://") {
        return http_get(file, rest);
    }
    if file.contains("://") {
        return Err(PackageError::Scheme(file.into()));
    }
    read_regular(file, Path::new(file))
}

/// Read a regular file of at most [`MAX_PACKAGE_BYTES`] (never a device or a pipe, which could
/// block or never end).
fn read_regular(file: &str, path: &Path) -> Result<Vec<u8>, PackageError> {
    let meta = std::fs::metadata(path).map_err(|e| io(file, e))?;
    if !meta.is_file() {
        return Err(io(file, "not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| io(file, e))?
        .take(MAX_PACKAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(file, e))?;
    if bytes.len() as u64 > MAX_PACKAGE_BYTES {
        return Err(io(file, format!("larger than {MAX_PACKAGE_BYTES} bytes")));
    }
    Ok(bytes)
}

/// A minimal HTTP/1.0 GET (no TLS, no redirects): plugin files come from a local or LAN server.
fn http_get(url: &str, rest: &str) -> Result<Vec<u8>, PackageError> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let timeout = std::time::Duration::from_secs(10);
    let socket_addr = std::net::ToSocketAddrs::to_socket_addrs(&address)
        .map_err(|e| io(url, e))?
        .next()
        .ok_or_else(|| io(url, "the host name resolves to no address"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket_addr, timeout).map_err(|e| io(url, e))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).map_err(|e| io(url, e))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| io(url, e))?;
    let mut response = Vec::new();
    (&mut stream).take(MAX_PACKAGE_BYTES + 64 * 1024).read_to_end(&mut response).map_err(|e| io(url, e))?;
    let header_end =
        response.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| io(url, "malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&response[..header_end]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(io(url, format!("HTTP status {status}")));
    }
    Ok(response[header_end + 4..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, content) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(content).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn dir(test: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oort-package-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn names() {
        assert_eq!(parse_library_name("Mysql@v1.0.0.so"), Some(("Mysql".into(), Some("1.0.0".into()))));
        assert_eq!(parse_library_name("random.so"), Some(("random".into(), None)));
        assert_eq!(parse_library_name("random.yaml"), None);
    }

    #[test]
    fn zip_with_library_and_yaml() {
        let d = dir("ok");
        let zip = d.join("random.zip");
        std::fs::write(
            &zip,
            zip_with(&[("Random@v1.2.3.so", b"lib"), ("random.yaml", b"default: {}"), ("install.sh", b"")]),
        )
        .unwrap();
        let url = format!("file://{}", zip.display());
        let staged = stage(PluginKind::Source, "random", &url, &d.join("staging")).unwrap();
        assert_eq!((staged.file_name.as_str(), staged.version.as_deref()), ("Random@v1.2.3.so", Some("1.2.3")));
        assert_eq!(std::fs::read(&staged.library).unwrap(), b"lib");
        assert_eq!(staged.config_yaml.as_deref(), Some(&b"default: {}"[..]));
    }

    #[test]
    fn escaping_entries_are_refused() {
        let d = dir("escape");
        for evil in ["../evil.so", "/etc/evil.so", "a/../../evil.so"] {
            let zip = d.join("evil.zip");
            std::fs::write(&zip, zip_with(&[("Random@v1.0.0.so", b"lib"), (evil, b"x")])).unwrap();
            let e = stage(PluginKind::Source, "random", zip.to_str().unwrap(), &d.join("staging")).expect_err(evil);
            assert!(matches!(e, PackageError::UnsafeEntry { .. }), "{evil}: {e:?}");
            assert!(e.to_string().contains("escapes the target folder; refused"), "{e}");
        }
        assert!(!d.join("evil.so").exists() && !d.parent().unwrap().join("evil.so").exists());
    }

    #[test]
    fn zip_without_the_library_is_refused() {
        let d = dir("nolib");
        let zip = d.join("x.zip");
        std::fs::write(&zip, zip_with(&[("Other@v1.0.0.so", b"lib")])).unwrap();
        let e = stage(PluginKind::Sink, "mysql", zip.to_str().unwrap(), &d.join("staging")).unwrap_err().to_string();
        assert!(e.contains("no library `mysql.so` or `Name@vX.Y.Z.so` with name `mysql` in the zip"), "{e}");
        let e = stage(PluginKind::Sink, "mysql", "ftp://host/x.zip", &d).unwrap_err().to_string();
        assert!(e.contains("unsupported location"), "{e}");
    }

    #[test]
    fn http_fetch() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let (mut request, mut buf) = (Vec::new(), [0u8; 1024]);
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nlib").unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let d = dir("http");
        let staged = stage(PluginKind::Sink, "file", &format!("http://127.0.0.1:{port}/File@v2.0.0.so"), &d).unwrap();
        server.join().unwrap();
        assert_eq!(std::fs::read(staged.library).unwrap(), b"lib");
        assert_eq!(staged.version.as_deref(), Some("2.0.0"));
    }
}
