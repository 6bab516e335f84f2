//! Loading a plugin file: unique copy, `dlopen`, declaration checks, `init`.
//!
//! The order matters. Nothing of the plugin runs until its declaration — a *data* symbol — has
//! passed every check:
//! 1. hash the file and copy it to `<dir>/<stem>-<hash>-<n>.so`: a path never used before, so the
//!    dynamic loader maps new code instead of returning a cached image of an older version;
//! 2. `dlopen` the copy (a text file or a library for another machine is refused here; Rust
//!    cdylibs have no ELF initializers unless they opt in, so no plugin code runs);
//! 3. read `oort_plugin_abi_major` and `oort_plugin_declaration_v1`: another major is refused with
//!    a message naming both versions; a library with neither symbol is "not an Oort plugin";
//! 4. check the declaration's magic, major, minor, size and encodings;
//! 5. only then call `init`, and validate what it hands back (vtable sizes, unique names).
//!
//! The result is an [`Arc<LoadedPlugin>`]; every instance created from it holds a clone, so the
//! library stays mapped while any rule uses it. When the last clone drops, `shutdown` runs and the
//! library is closed as a best effort (glibc may keep a Rust cdylib mapped; each reload can thus
//! leak its image until the server restarts — the price of never restarting the server).

use std::collections::HashSet;
use std::ffi::c_void;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use oort_plugin_abi::{
    ABI_MAJOR, ABI_MAJOR_SYMBOL, ABI_MINOR, DECLARATION_SYMBOL, ENCODING_MSGPACK, FunctionVTable, HostApi, OORT_MAGIC,
    PluginDeclaration, PluginExports, SinkVTable, SourceVTable, StrRef,
};

use crate::error::{PluginError, Result};
use crate::ffi::{self, HOST_API};

/// Loads plugin files into this process.
#[derive(Debug)]
pub struct Loader {
    dir: PathBuf,
}

static LOAD_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Loader {
    /// A loader copying libraries into `dir` (created if missing), e.g. `<data>/plugins/.loaded`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Loader { dir: dir.into() }
    }

    /// Load `path`, validate it and initialize it. See the module docs for the steps.
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedPlugin>> {
        let io = |source| PluginError::Io { path: path.to_path_buf(), source };
        let bytes = std::fs::read(path).map_err(io)?;
        let label = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
        std::fs::create_dir_all(&self.dir).map_err(|source| PluginError::Io { path: self.dir.clone(), source })?;
        let n = LOAD_COUNTER.fetch_add(1, Ordering::Relaxed);
        let copy = self.dir.join(format!("{label}-{:016x}-{}-{n}.so", content_hash(&bytes), std::process::id()));
        std::fs::write(&copy, &bytes).map_err(|source| PluginError::Io { path: copy.clone(), source })?;
        let result = load_copy(path, &copy, &label);
        if result.is_err() {
            let _ = std::fs::remove_file(&copy);
        }
        result
    }
}

fn load_copy(original: &Path, copy: &Path, label: &str) -> Result<Arc<LoadedPlugin>> {
    // SAFETY: dlopen runs the library's ELF initializers. Oort plugins are Rust cdylibs, which
    // define none unless they opt in (e.g. the `ctor` crate); that is part of the plugin contract.
    let lib = unsafe { libloading::Library::new(copy) }
        .map_err(|e| PluginError::Open { path: original.to_path_buf(), reason: e.to_string() })?;

    // SAFETY: reading a data symbol as `u16`: the ABI fixes its type for every major version.
    let major: Option<u16> = unsafe { lib.get::<*const u16>(ABI_MAJOR_SYMBOL.as_bytes()) }
        .ok()
        .map(|sym| *sym)
        .filter(|p| !p.is_null())
        // SAFETY: the symbol is a `static u16` in the library, which stays loaded meanwhile.
        .map(|p| unsafe { p.read_unaligned() });
    if let Some(major) = major
        && major != ABI_MAJOR
    {
        return Err(PluginError::AbiMismatch { plugin: label.into(), plugin_major: major, host_major: ABI_MAJOR });
    }
    // SAFETY: looking up a data symbol; nothing is called.
    let decl_ptr = match unsafe { lib.get::<*const PluginDeclaration>(DECLARATION_SYMBOL.as_bytes()) } {
        Ok(sym) if !sym.is_null() => *sym,
        _ if major.is_some() => {
            return Err(PluginError::BadDeclaration {
                plugin: label.into(),
                reason: format!("exports `{ABI_MAJOR_SYMBOL}` but not `{DECLARATION_SYMBOL}`"),
            });
        }
        _ => return Err(PluginError::NotAPlugin { path: original.to_path_buf() }),
    };
    // SAFETY: the first 16 bytes of a declaration (magic, major, minor, size) have the same layout
    // in every ABI version; the rest is read only after `validate_declaration` checked the version
    // and size.
    let decl: &PluginDeclaration = unsafe { &*decl_ptr };
    let (name, version, sdk_version) = validate_declaration(decl, label)?;

    let mut exports = PluginExports::EMPTY;
    // SAFETY: the declaration passed every check; `init` receives our 'static host table and a
    // writable exports struct. The SDK catches panics inside `init`.
    let status = unsafe { (decl.init)(&HOST_API as *const HostApi, &mut exports) };
    let (code, message) = ffi::take_status(status);
    if code != oort_plugin_abi::OK {
        return Err(PluginError::Init { plugin: name, message });
    }
    let shutdown = decl.shutdown;
    let mut plugin = LoadedPlugin {
        name,
        version,
        sdk_version,
        file: original.to_path_buf(),
        loaded_copy: copy.to_path_buf(),
        sources: Vec::new(),
        sinks: Vec::new(),
        functions: Vec::new(),
        shutdown,
        lib: Some(lib),
    };
    // SAFETY: `exports` was filled by `init` with arrays that live as long as the library.
    unsafe { plugin.read_exports(&exports)? };
    Ok(Arc::new(plugin))
}

/// Check a declaration before any plugin code runs; answers (name, version, sdk version).
pub fn validate_declaration(decl: &PluginDeclaration, label: &str) -> Result<(String, String, String)> {
    let bad = |reason: String| PluginError::BadDeclaration { plugin: label.into(), reason };
    if decl.magic != OORT_MAGIC {
        return Err(bad(format!("wrong magic bytes {:?} (expected {:?})", decl.magic, OORT_MAGIC)));
    }
    if decl.abi_major != ABI_MAJOR {
        return Err(PluginError::AbiMismatch {
            plugin: label.into(),
            plugin_major: decl.abi_major,
            host_major: ABI_MAJOR,
        });
    }
    if decl.abi_minor > ABI_MINOR {
        return Err(PluginError::AbiTooNew {
            plugin: label.into(),
            major: ABI_MAJOR,
            plugin_minor: decl.abi_minor,
            host_minor: ABI_MINOR,
        });
    }
    if (decl.decl_size as usize) < size_of::<PluginDeclaration>() {
        return Err(bad(format!(
            "declaration size {} is smaller than {} (the v{ABI_MAJOR}.{ABI_MINOR} declaration)",
            decl.decl_size,
            size_of::<PluginDeclaration>()
        )));
    }
    if decl.encodings & ENCODING_MSGPACK == 0 {
        return Err(bad(format!(
            "encodings {:#x} lack MessagePack (bit {ENCODING_MSGPACK:#x}), required in v1",
            decl.encodings
        )));
    }
    // SAFETY: the declaration is a v1 declaration of full size; its StrRefs point to the
    // library's static data, which stays mapped while `decl` is borrowed.
    let text = |s: StrRef, what: &str| -> Result<String> {
        let bytes = unsafe { s.as_bytes() };
        String::from_utf8(bytes.to_vec()).map_err(|_| bad(format!("{what} is not UTF-8")))
    };
    let name = text(decl.name, "name")?;
    if name.is_empty() {
        return Err(bad("empty plugin name".into()));
    }
    Ok((name, text(decl.version, "version")?, text(decl.sdk_version, "sdk version")?))
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// One export of a plugin: its name and pointers into the library.
pub(crate) struct Export<V> {
    pub(crate) name: String,
    pub(crate) new: unsafe extern "C" fn() -> *mut c_void,
    pub(crate) vt: *const V,
}

impl LoadedPlugin {
    /// Finds the export `name` of this kind and makes an instance with its
    /// factory: `(instance, vtable)`.
    pub(crate) fn instantiate<V>(
        &self,
        exports: &[Export<V>],
        kind: &'static str,
        name: &str,
    ) -> Result<(*mut c_void, *const V)> {
        let export = exports.iter().find(|e| e.name == name).ok_or_else(|| PluginError::NoSuchExport {
            plugin: self.name().into(),
            version: self.version().into(),
            kind,
            name: name.into(),
        })?;
        // SAFETY: a factory of this (validated, loaded) library; the SDK catches panics in it.
        let this = unsafe { (export.new)() };
        if this.is_null() {
            return Err(PluginError::Call {
                plugin: self.name().into(),
                what: format!("{kind} `{name}` new"),
                message: "factory failed".into(),
            });
        }
        Ok((this, export.vt))
    }
}

impl<V> std::fmt::Debug for Export<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// A plugin library loaded, validated and initialized. Shared (`Arc`) by every instance made
/// from it; dropping the last clone shuts the plugin down and closes the library.
#[derive(Debug)]
pub struct LoadedPlugin {
    name: String,
    version: String,
    sdk_version: String,
    file: PathBuf,
    loaded_copy: PathBuf,
    pub(crate) sources: Vec<Export<SourceVTable>>,
    pub(crate) sinks: Vec<Export<SinkVTable>>,
    pub(crate) functions: Vec<Export<FunctionVTable>>,
    shutdown: unsafe extern "C" fn(),
    lib: Option<libloading::Library>,
}

// SAFETY: the raw pointers point to immutable statics of the library (factories, vtables), which
// `lib` keeps mapped for as long as `self` lives; the plugin's entry points are thread-safe per
// the ABI contract (calls on one instance are serialized by the adapters).
unsafe impl Send for LoadedPlugin {}
// SAFETY: as above; `LoadedPlugin` has no interior mutability.
unsafe impl Sync for LoadedPlugin {}

impl LoadedPlugin {
    /// The plugin's declared name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's declared version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The SDK version the plugin was built with (informational).
    pub fn sdk_version(&self) -> &str {
        &self.sdk_version
    }

    /// The file it was loaded from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Names of the sources it exports.
    pub fn source_names(&self) -> Vec<&str> {
        self.sources.iter().map(|e| e.name.as_str()).collect()
    }

    /// Names of the sinks it exports.
    pub fn sink_names(&self) -> Vec<&str> {
        self.sinks.iter().map(|e| e.name.as_str()).collect()
    }

    /// Names of the functions it exports.
    pub fn function_names(&self) -> Vec<&str> {
        self.functions.iter().map(|e| e.name.as_str()).collect()
    }

    /// # Safety
    /// `exports` must come from this library's `init`.
    unsafe fn read_exports(&mut self, exports: &PluginExports) -> Result<()> {
        let bad = |reason: String| PluginError::BadDeclaration { plugin: self.name.clone(), reason };
        if (exports.size as usize) < size_of::<PluginExports>() {
            return Err(bad(format!("exports size {} too small", exports.size)));
        }
        let mut seen = HashSet::new();
        // SAFETY (all three): `init` handed arrays of `n_*` factories in the library's statics.
        let sources = unsafe { slice(exports.sources, exports.n_sources) };
        for f in sources {
            self.sources.push(export(f.name, f.new, f.vt, "source", &mut seen).map_err(bad)?);
        }
        let sinks = unsafe { slice(exports.sinks, exports.n_sinks) };
        for f in sinks {
            self.sinks.push(export(f.name, f.new, f.vt, "sink", &mut seen).map_err(bad)?);
        }
        let functions = unsafe { slice(exports.functions, exports.n_functions) };
        for f in functions {
            self.functions.push(export(f.name, f.new, f.vt, "function", &mut seen).map_err(bad)?);
        }
        Ok(())
    }
}

/// Every vtable type starts with its `size: u32`.
trait SizedVTable {
    const MIN_SIZE: usize;
}
impl SizedVTable for SourceVTable {
    const MIN_SIZE: usize = size_of::<SourceVTable>();
}
impl SizedVTable for SinkVTable {
    const MIN_SIZE: usize = size_of::<SinkVTable>();
}
impl SizedVTable for FunctionVTable {
    const MIN_SIZE: usize = size_of::<FunctionVTable>();
}

fn export<V: SizedVTable>(
    name: StrRef,
    new: unsafe extern "C" fn() -> *mut c_void,
    vt: *const V,
    kind: &str,
    seen: &mut HashSet<(String, String)>,
) -> std::result::Result<Export<V>, String> {
    // SAFETY: factory names point to the library's static data.
    let name =
        String::from_utf8(unsafe { name.as_bytes() }.to_vec()).map_err(|_| format!("a {kind} name is not UTF-8"))?;
    if vt.is_null() {
        return Err(format!("{kind} `{name}` has no vtable"));
    }
    // SAFETY: every vtable starts with `size: u32`; non-null and in the library's statics.
    let size = unsafe { (vt as *const u32).read() } as usize;
    if size < V::MIN_SIZE {
        return Err(format!("{kind} `{name}` vtable size {size} is smaller than {}", V::MIN_SIZE));
    }
    if !seen.insert((kind.to_string(), name.clone())) {
        return Err(format!("{kind} `{name}` is exported twice"));
    }
    Ok(Export { name, new, vt })
}

/// # Safety
/// `ptr` must point to `n` valid `T`s (or `n == 0`).
unsafe fn slice<'a, T>(ptr: *const T, n: usize) -> &'a [T] {
    if ptr.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(ptr, n) }
}

impl Drop for LoadedPlugin {
    fn drop(&mut self) {
        // SAFETY: every instance holds an `Arc` to us, so none is alive; the SDK's `shutdown`
        // joins plugin threads and catches nothing that could unwind (it does not panic).
        unsafe { (self.shutdown)() };
        if let Some(lib) = self.lib.take()
            && let Err(e) = lib.close()
        {
            tracing::warn!(plugin = %self.name, error = %e, "closing plugin library failed");
        }
        let _ = std::fs::remove_file(&self.loaded_copy);
        tracing::debug!(plugin = %self.name, version = %self.version, "plugin unloaded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn never_init(_: *const HostApi, _: *mut PluginExports) -> oort_plugin_abi::Status {
        panic!("init must not be called by validation")
    }
    extern "C" fn never_shutdown() {}

    fn decl() -> PluginDeclaration {
        PluginDeclaration {
            magic: OORT_MAGIC,
            abi_major: ABI_MAJOR,
            abi_minor: ABI_MINOR,
            decl_size: size_of::<PluginDeclaration>() as u32,
            name: StrRef::from_static("t"),
            version: StrRef::from_static("1.2.3"),
            sdk_version: StrRef::from_static("0.1.0"),
            encodings: ENCODING_MSGPACK,
            init: never_init,
            shutdown: never_shutdown,
        }
    }

    #[test]
    fn accepts_a_good_declaration() {
        let (name, version, _) = validate_declaration(&decl(), "t").unwrap();
        assert_eq!((name.as_str(), version.as_str()), ("t", "1.2.3"));
    }

    #[test]
    fn refuses_bad_declarations_with_clear_messages() {
        let check = |d: PluginDeclaration, expected: &str| {
            let e = validate_declaration(&d, "t").unwrap_err().to_string();
            assert!(e.contains(expected), "{e:?} should contain {expected:?}");
        };
        check(PluginDeclaration { magic: *b"NOTOORT\0", ..decl() }, "wrong magic bytes");
        check(
            PluginDeclaration { abi_major: 2, ..decl() },
            "plugin `t` was built for plugin ABI v2; this server speaks plugin ABI v1",
        );
        check(
            PluginDeclaration { abi_minor: ABI_MINOR + 1, ..decl() },
            "needs plugin ABI v1.1; this server speaks plugin ABI v1.0",
        );
        check(PluginDeclaration { decl_size: 16, ..decl() }, "declaration size 16 is smaller");
        check(PluginDeclaration { encodings: 2, ..decl() }, "lack MessagePack");
        check(PluginDeclaration { name: StrRef::from_static(""), ..decl() }, "empty plugin name");
    }
}
