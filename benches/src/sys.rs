//! What the process costs: CPU seconds (`getrusage`), resident and peak
//! resident memory (`/proc/self/status`), and a way to restart the peak
//! between runs of one harness process (`/proc/self/clear_refs`, value 5).

use std::time::{Duration, Instant};

/// User + system CPU seconds of this process so far (`getrusage(RUSAGE_SELF)`).
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn status_kb(pid: Option<u32>, key: &str) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// Resident set size in MB (`VmRSS`).
pub fn rss_mb() -> f64 {
    status_kb(None, "VmRSS:").unwrap_or(0.0) / 1024.0
}

/// Resident set size of another process in MB.
pub fn rss_mb_of(pid: u32) -> Option<f64> {
    status_kb(Some(pid), "VmRSS:").map(|kb| kb / 1024.0)
}

/// Peak resident set size in MB since the last [`reset_peak_rss`] (`VmHWM`).
pub fn peak_rss_mb() -> f64 {
    status_kb(None, "VmHWM:").unwrap_or(0.0) / 1024.0
}

/// Restarts the peak RSS at the current RSS (Linux ≥ 4.0). Returns whether it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU seconds (user + system) of the calling thread so far.
pub fn this_thread_cpu_seconds() -> f64 {
    // SAFETY: clock_gettime only writes the timespec we hand it.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// A figure of each thread of this process, by thread name (threads of one
/// name added up): `of` reads it from the named file of the thread's
/// `/proc/self/task/<tid>/` folder.
fn by_thread(file: &str, of: impl Fn(&str) -> Option<f64>) -> std::collections::BTreeMap<String, f64> {
    by_thread_with(file, of, |sum, v| *sum += v)
}

/// [`by_thread`] of any figure, added up by `add`.
fn by_thread_with<T: Default>(
    file: &str,
    of: impl Fn(&str) -> Option<T>,
    add: impl Fn(&mut T, T),
) -> std::collections::BTreeMap<String, T> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let dir = task.path();
        let (Ok(comm), Ok(text)) = (std::fs::read_to_string(dir.join("comm")), std::fs::read_to_string(dir.join(file)))
        else {
            continue;
        };
        if let Some(v) = of(&text) {
            add(out.entry(comm.trim().to_string()).or_default(), v);
        }
    }
    out
}

/// CPU seconds of each thread of this process, by thread name
/// (`/proc/self/task/*/schedstat`, first field: time on a CPU, in ns;
/// threads of one name added up). `stat`'s utime and stime count 10 ms
/// ticks, too coarse for a thread that runs 20–50 ms in a run (the sink,
/// the feed).
pub fn thread_cpu_seconds() -> std::collections::BTreeMap<String, f64> {
    by_thread("schedstat", |stat| stat.split_whitespace().next().and_then(|f| f.parse::<f64>().ok()).map(|ns| ns / 1e9))
}

/// Seconds each thread of this process has spent waiting for a CPU while
/// runnable, by thread name (`/proc/self/task/*/schedstat`, second field, in
/// ns; threads of one name added up): on a machine with fewer cores than
/// busy threads, the time a thread lost to the others.
pub fn thread_runqueue_seconds() -> std::collections::BTreeMap<String, f64> {
    thread_schedstat().into_iter().map(|(name, (_, waiting))| (name, waiting)).collect()
}

/// Times each thread of this process was put on a CPU, by thread name
/// (`/proc/self/task/*/schedstat`, third field): with more busy threads than
/// cores, how often the threads took turns.
pub fn thread_timeslices() -> std::collections::BTreeMap<String, f64> {
    by_thread("schedstat", |stat| stat.split_whitespace().nth(2).and_then(|f| f.parse::<f64>().ok()))
}

/// Times each thread of this process gave up its CPU to wait (parked, blocked:
/// `voluntary_ctxt_switches` in `/proc/self/task/*/status`), by thread name.
pub fn thread_waits() -> std::collections::BTreeMap<String, f64> {
    by_thread("status", |status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<f64>().ok())
    })
}

/// Times the calling thread was put on a CPU so far (see [`thread_timeslices`]).
pub fn this_thread_timeslices() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2).and_then(|f| f.parse::<f64>().ok()))
        .unwrap_or(0.0)
}

/// Each thread name's growth from `before` to `now`, rounded to `digits`;
/// the names that grew.
fn since(
    before: &std::collections::BTreeMap<String, f64>,
    now: std::collections::BTreeMap<String, f64>,
    digits: i32,
) -> Vec<(String, f64)> {
    now.into_iter()
        .map(|(name, s)| {
            let was = before.get(&name).copied().unwrap_or(0.0);
            (name, round(s - was, digits))
        })
        .filter(|(_, s)| *s > 0.0)
        .collect()
}

/// CPU and memory over one measured stretch.
#[derive(Debug, Clone)]
pub struct Meter {
    threads0: std::collections::BTreeMap<String, f64>,
    waits0: std::collections::BTreeMap<String, f64>,
    slices0: std::collections::BTreeMap<String, f64>,
    voluntary0: std::collections::BTreeMap<String, f64>,
    cpu0: f64,
    t0: Instant,
    /// RSS when the stretch began, MB.
    pub base_rss_mb: f64,
}

impl Meter {
    /// Starts measuring (and restarts the peak RSS).
    pub fn start() -> Self {
        reset_peak_rss();
        Self {
            threads0: thread_cpu_seconds(),
            waits0: thread_runqueue_seconds(),
            slices0: thread_timeslices(),
            voluntary0: thread_waits(),
            cpu0: cpu_seconds(),
            t0: Instant::now(),
            base_rss_mb: rss_mb(),
        }
    }

    /// CPU seconds per thread name since the start (threads that ended in
    /// between are not counted: a thread that ends early reports its own,
    /// see [`this_thread_cpu_seconds`]).
    pub fn thread_cpu_s(&self) -> Vec<(String, f64)> {
        since(&self.threads0, thread_cpu_seconds(), 4)
    }

    /// Seconds each thread name waited for a CPU since the start (see
    /// [`thread_runqueue_seconds`]).
    pub fn thread_runqueue_s(&self) -> Vec<(String, f64)> {
        since(&self.waits0, thread_runqueue_seconds(), 3)
    }

    /// Times each thread name was put on a CPU since the start (see
    /// [`thread_timeslices`]).
    pub fn thread_timeslices(&self) -> Vec<(String, f64)> {
        since(&self.slices0, thread_timeslices(), 0)
    }

    /// Times each thread name gave up its CPU to wait since the start (see
    /// [`thread_waits`]).
    pub fn thread_waits(&self) -> Vec<(String, f64)> {
        since(&self.voluntary0, thread_waits(), 0)
    }

    /// CPU seconds since the start.
    pub fn cpu_s(&self) -> f64 {
        cpu_seconds() - self.cpu0
    }

    /// Wall seconds since the start.
    pub fn wall_s(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }
}

/// Rounds to `d` decimals (for reports).
pub fn round(x: f64, d: i32) -> f64 {
    let p = 10f64.powi(d);
    (x * p).round() / p
}

/// Each thread name's seconds on a CPU and waiting for one (the first two
/// fields of `/proc/self/task/*/schedstat`, in ns; one read per thread).
fn thread_schedstat() -> std::collections::BTreeMap<String, (f64, f64)> {
    by_thread_with(
        "schedstat",
        |stat| {
            let mut ns = stat.split_whitespace().map(|f| f.parse::<f64>().unwrap_or(0.0) / 1e9);
            Some((ns.next()?, ns.next()?))
        },
        |sum, (on_cpu, waiting)| {
            sum.0 += on_cpu;
            sum.1 += waiting;
        },
    )
}

/// A timeline of one run, by thread: every `step`, the share of that step
/// each thread name spent on a CPU and waiting for one (percent of one core),
/// with a caller's progress figures. It shows, where a whole-run figure
/// cannot, which thread lost its core when, and to whom.
pub struct Timeline {
    on: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<Vec<String>>,
}

impl Timeline {
    /// Starts sampling on its own thread (`bench-timeline`); `progress`
    /// gives the figures printed at the start of each line.
    pub fn start(step: Duration, progress: impl Fn() -> String + Send + 'static) -> std::io::Result<Self> {
        use std::sync::atomic::Ordering;
        let on = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let running = on.clone();
        let sampler = std::thread::Builder::new().name("bench-timeline".into()).spawn(move || {
            let t0 = Instant::now();
            let mut lines = Vec::new();
            let (mut last, mut last_at) = (thread_schedstat(), Instant::now());
            while running.load(Ordering::Relaxed) {
                std::thread::sleep(step);
                let (now, at) = (thread_schedstat(), Instant::now());
                let span_s = at.duration_since(last_at).as_secs_f64().max(1e-9);
                let mut line = format!("{:7.1} ms {}", t0.elapsed().as_secs_f64() * 1e3, progress());
                let mut total = 0.0;
                for (name, (cpu, wait)) in &now {
                    let (cpu0, wait0) = last.get(name).copied().unwrap_or((0.0, 0.0));
                    let (cpu, wait) = ((cpu - cpu0) / span_s * 100.0, (wait - wait0) / span_s * 100.0);
                    total += cpu;
                    if cpu >= 1.0 || wait >= 1.0 {
                        line.push_str(&format!(" | {name} {cpu:3.0}/{wait:3.0}"));
                    }
                }
                line.push_str(&format!(" | all {total:3.0}"));
                lines.push(line);
                (last, last_at) = (now, at);
            }
            lines
        })?;
        Ok(Self { on, sampler })
    }

    /// Stops sampling; the lines, one per step: `ms since the start,
    /// progress | thread cpu%/wait% | … | all cpu%`.
    pub fn stop(self) -> Vec<String> {
        self.on.store(false, std::sync::atomic::Ordering::Relaxed);
        self.sampler.join().unwrap_or_default()
    }
}
