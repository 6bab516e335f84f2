//! The server's footprint: start the `oort` binary (`oort serve` on a free
//! loopback port, in an empty folder, two workers, no embedded broker), time
//! from spawn until `GET /ping` answers 200, then read its RSS after it has
//! sat idle for a few seconds. It is started [`STARTS`] times, each in a new
//! folder: the first start finds the binary as the host's page cache left
//! it (a host that reclaims idle pages makes it read the binary from disk:
//! 92 ms against 14–24 ms on one such host), so the figure is the median
//! start, and the first is reported beside it. The binary is the one beside
//! the harness (`target/release/oort` for a release harness); without it
//! the measurement is skipped with that reason.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What was measured.
#[derive(Debug, Clone)]
pub struct ServerResult {
    /// The binary measured.
    pub binary: PathBuf,
    /// Spawn to first `/ping` answer, ms, of each start in order.
    pub ready_ms: Vec<f64>,
    /// RSS after idling, MB.
    pub idle_rss_mb: f64,
}

/// The `oort` binary beside this executable (or one level up, for `deps/`).
pub fn find_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("oort"), dir.parent()?.join("oort")].into_iter().find(|p| p.is_file())
}

fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(50)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1.1 200"))
}

/// Times the server's start this many times.
pub const STARTS: usize = 5;

impl ServerResult {
    /// The median start, ms.
    pub fn median_ready_ms(&self) -> f64 {
        let mut v = self.ready_ms.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

/// Starts the server [`STARTS`] times, timing each start; reads the RSS of
/// the last after `idle`.
pub fn measure(binary: &Path, dir: &Path, idle: Duration) -> anyhow::Result<ServerResult> {
    let mut ready_ms = Vec::with_capacity(STARTS);
    let mut idle_rss_mb = f64::NAN;
    for i in 0..STARTS {
        let last = i + 1 == STARTS;
        let (ready, rss) = start_once(binary, dir, last.then_some(idle))?;
        ready_ms.push(ready.as_secs_f64() * 1000.0);
        if let Some(rss) = rss {
            idle_rss_mb = rss;
        }
    }
    Ok(ServerResult { binary: binary.to_path_buf(), ready_ms, idle_rss_mb })
}

/// Starts the server once: spawn to ready, and its RSS after `idle` when given.
fn start_once(binary: &Path, dir: &Path, idle: Option<Duration>) -> anyhow::Result<(Duration, Option<f64>)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let work = dir.join(format!("server-{port}"));
    std::fs::create_dir_all(&work)?;
    let t0 = Instant::now();
    let mut child = Command::new(binary)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", "2", "--data-dir"])
        .arg(work.join("data"))
        .current_dir(&work)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut ready = None;
    while t0.elapsed() < Duration::from_secs(10) {
        if ping(port) {
            ready = Some(t0.elapsed());
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            anyhow::bail!("oort serve exited with {status} before answering /ping");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let result = match ready {
        Some(r) => {
            let rss = idle.map(|idle| {
                std::thread::sleep(idle);
                crate::sys::rss_mb_of(child.id()).unwrap_or(f64::NAN)
            });
            Ok((r, rss))
        }
        None => Err(anyhow::anyhow!("oort serve did not answer /ping within 10 s")),
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&work);
    result
}
