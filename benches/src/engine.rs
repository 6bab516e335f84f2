//! Runs one query in the engine, in this process, through the `oort`
//! library as the server does: the SQL compiles against a catalog of the
//! workload's streams, and the rule manager's `install` puts the rule on
//! every worker (into a stream group for a stateless rule over a live
//! source), and the stream's source connector (file, MQTT) feeds it — or,
//! for the `memory` feed, the harness hands the rule's [`SourceFeed`]
//! batches of 1,024 raw JSON records itself: the workload's messages are
//! framed once before the clock starts ([`Messages`], as the floor's input
//! is), and each batch is a slice of the framed input, handed over
//! without a copy as a `RecordBlock` (the records are ranges of it; the
//! file source hands over the lines of each read the same way). The feed
//! runs on its own thread (`bench-feed`); set `OORT_BENCH_THREAD_CPU=1` to
//! print each thread's CPU seconds, run-queue waits, timeslices and waits
//! for a run, and `OORT_BENCH_TIMELINE=1` for the same in 5 ms steps
//! ([`crate::sys::Timeline`], printed to stderr once the run ends).
//!
//! The harness is the rule's sink: a thread takes the rule's emissions (the
//! queue a server's sink driver reads), writes each row in the canonical
//! form of [`crate::checksum`] and hashes it, and notes when the last result
//! came out. Throughput is input events over the time from the first event
//! in to the last result out. Event-time rules get one closing record per
//! stream, far past the last window, once every event is in, so that every
//! window closes (WORKLOAD.md: "all windows closed at the end").
//!
//! Latency runs pace the memory feed at a fixed rate, one record per batch.
//! Q1 measures each row from the moment its record was handed to the
//! engine to the moment the sink thread holds it. Window queries measure,
//! for each window end `E`, from the arrival of the first record at or past
//! `E` (the earliest the window can close) to the arrival of the window's
//! last result emission.

use crate::checksum::{Checksum, RowWriter};
use crate::mqtt::Broker;
use crate::queries::{Feed, Query, StreamSource, stream_ddl};
use crate::sys::Meter;
use crate::workload::{Messages, T0_MS, lines};
use anyhow::{Context, anyhow};
use bytes::Bytes;
use hdrhistogram::Histogram;
use oort::connectors::{ConnectorEnv, SourceContext, memory::MemoryBus, spawn_source};
use oort::runtime::clock::{Clock, SystemClock};
use oort::runtime::{Runtime, RuntimeConfig, SourceFeed};
use oort_compiler::catalog::StreamDef;
use oort_operators::query::Emission;
use oort_operators::source::{Payload, RecordBlock, SourceRecord};
use oort_operators::value::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Records per batch of the memory feed (the connectors' batch size).
pub const BATCH: usize = 1024;
/// How long the output must stay quiet, once all input is in, to call a run done.
const QUIET: Duration = Duration::from_millis(500);
/// A run that makes no progress for this long is given up (and reported incomplete).
const STALL: Duration = Duration::from_secs(20);

/// The input of a run.
pub struct Input {
    /// `demo` as JSON lines.
    pub demo: Arc<Vec<u8>>,
    /// Events in `demo`.
    pub events: u64,
    /// `demo2` (Q4) as JSON lines.
    pub demo2: Arc<Vec<u8>>,
    /// Events in `demo2`.
    pub events2: u64,
    /// Folder for files (the file feed's inputs, broker config).
    pub dir: PathBuf,
    /// `demo` and `demo2` framed, on first use ([`Input::messages`]).
    framed: [OnceLock<Messages>; 2],
}

impl Input {
    /// The input of a run: `demo` and `demo2` as JSON lines, files in `dir`.
    pub fn new(demo: Arc<Vec<u8>>, events: u64, demo2: Arc<Vec<u8>>, events2: u64, dir: PathBuf) -> Self {
        Self { demo, events, demo2, events2, dir, framed: [OnceLock::new(), OnceLock::new()] }
    }

    /// A stream's messages, framed on first use (before any clock starts).
    pub fn messages(&self, stream: &str) -> &Messages {
        let i = usize::from(stream == "demo2");
        self.framed[i].get_or_init(|| Messages::frame(self.data(stream)))
    }

    /// The file holding a stream's lines, written on first use.
    pub fn file(&self, stream: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(format!("{stream}-{}.jsonl", self.events));
        if !path.is_file() {
            let data = if stream == "demo2" { &self.demo2 } else { &self.demo };
            std::fs::write(&path, data.as_slice()).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(path)
    }

    fn data(&self, stream: &str) -> Arc<Vec<u8>> {
        if stream == "demo2" { self.demo2.clone() } else { self.demo.clone() }
    }

    fn total(&self, q: Query) -> u64 {
        if q == Query::Q4 { self.events + self.events2 } else { self.events }
    }
}

/// A run to make.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec {
    /// The query.
    pub query: Query,
    /// The feed.
    pub feed: Feed,
    /// Worker threads.
    pub workers: usize,
    /// Events per second for a latency run (memory feed only); `None` for throughput.
    pub rate: Option<u64>,
}

/// What a run measured.
#[derive(Debug)]
pub struct EngineResult {
    /// The output.
    pub checksum: Checksum,
    /// Input events handed in.
    pub events: u64,
    /// Records the workers took in (closers included).
    pub records_in: u64,
    /// First event in to last result out, seconds.
    pub secs: f64,
    /// CPU seconds of the process over the run.
    pub cpu_s: f64,
    /// Peak RSS over the run, MB.
    pub peak_rss_mb: f64,
    /// RSS before the run (the harness holds the input), MB.
    pub base_rss_mb: f64,
    /// Records dropped as late.
    pub late: u64,
    /// Errors counted by the rule.
    pub exceptions: u64,
    /// Whether every input was taken in and the output went quiet.
    pub complete: bool,
    /// Latencies (µs) of a latency run.
    pub latency: Option<Histogram<u64>>,
    /// When the first event went in and when the run ended (`secs` apart).
    pub span: (Instant, Instant),
}

impl EngineResult {
    /// Events per second.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }
}

/// Where a paced Q1 run notes the arrival of each record that will pass the filter.
type Arrivals = Arc<Mutex<HashMap<(String, i64), VecDeque<Instant>>>>;

/// What the sink thread hands back.
struct SinkOutcome {
    checksum: Checksum,
    latency: Histogram<u64>,
    emission_times: Vec<Instant>,
}

/// Shared progress between the sink thread and the run's driver.
struct Progress {
    start: Instant,
    rows: AtomicU64,
    last_out_ns: AtomicU64,
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| anyhow!("histogram: {e}"))
}

fn temperature_key(v: &Value) -> i64 {
    match v {
        Value::Float(f) => (f * 100.0).round() as i64,
        Value::Int(i) => i * 100,
        _ => i64::MIN,
    }
}

fn spawn_sink(
    mut emissions: tokio::sync::mpsc::UnboundedReceiver<Vec<Emission>>,
    metrics: Arc<oort::runtime::metrics::RuleMetrics>,
    progress: Arc<Progress>,
    arrivals: Option<Arrivals>,
    keep_times: bool,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<SinkOutcome>>> {
    let sink = std::thread::Builder::new().name("bench-sink".into()).spawn(move || {
        let mut checksum = Checksum::default();
        let mut w = RowWriter::default();
        let mut latency = new_histogram()?;
        let mut emission_times = Vec::new();
        // OORT_BENCH_SHOW_ROWS=n prints the first n output rows (canonical form) to stderr.
        let mut show: u64 = std::env::var("OORT_BENCH_SHOW_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        while let Some(batch) = emissions.blocking_recv() {
            metrics.pending_out.fetch_sub(batch.len() as i64, Ordering::Relaxed);
            let now = Instant::now();
            let mut batch_rows = 0;
            for e in &batch {
                let Emission::Rows(rows) = e else { continue };
                if rows.is_empty() {
                    continue;
                }
                batch_rows += rows.len() as u64;
                for row in rows {
                    checksum.add_fields(&mut w, row);
                    if show > 0 {
                        show -= 1;
                        eprintln!("{}", String::from_utf8_lossy(w.last()));
                    }
                    if let Some(arr) = &arrivals {
                        let device = row.iter().find(|(k, _)| &**k == "deviceId").and_then(|(_, v)| v.as_str());
                        let temp = row.iter().find(|(k, _)| &**k == "temperature").map(|(_, v)| temperature_key(v));
                        if let (Some(d), Some(t)) = (device, temp)
                            && let Ok(mut map) = arr.lock()
                            && let Some(at) = map.get_mut(&(d.to_string(), t)).and_then(|q| q.pop_front())
                        {
                            let _ = latency.record((now.duration_since(at).as_micros() as u64).max(1));
                        }
                    }
                }
                if keep_times {
                    emission_times.push(now);
                }
            }
            // Done with the rows: back to the workers to fill again, as the engine's sinks do.
            oort_operators::out_rows::recycle(batch);
            if batch_rows == 0 {
                continue;
            }
            progress.rows.fetch_add(batch_rows, Ordering::Relaxed);
            progress.last_out_ns.store(now.duration_since(progress.start).as_nanos() as u64, Ordering::Relaxed);
        }
        Ok(SinkOutcome { checksum, latency, emission_times })
    });
    sink.context("starting the sink thread")
}

fn record(payload: Bytes, now_ms: u64) -> SourceRecord {
    SourceRecord { payload: Payload::Bytes(payload), meta: None, ts: now_ms }
}

/// Messages `from..to` as one block of records: a slice of the framed input
/// (no copy: the input is already in memory, and the floor reads it in
/// place too; the `file` feed is the one whose source reads blocks).
fn batch_of(messages: &Messages, from: usize, to: usize, now_ms: u64) -> RecordBlock {
    let spans = messages.spans().get(from..to.min(messages.len())).unwrap_or_default();
    let (Some(&(base, _)), Some(&(_, end))) = (spans.first(), spans.last()) else { return RecordBlock::default() };
    let mut block = RecordBlock::new(messages.bytes().slice(base..end), None, now_ms);
    for &(start, end) in spans {
        block.push(start - base..end - base);
    }
    block
}

/// The closing record of an event-time stream: far past every window.
fn closer(events: u64) -> Vec<u8> {
    let ts = T0_MS + events * 10 + 3_600_000;
    format!(r#"{{"deviceId":"closer","temperature":0.0,"humidity":0,"ts":{ts}}}"#).into_bytes()
}

/// Feeds the memory streams as fast as the rule takes them, in event-time
/// order across streams (Q4's demo2 records go in with the demo batch they
/// belong beside).
fn feed_throughput(feeds: &[SourceFeed], input: &Input, query: Query, clock: &dyn Clock) -> anyhow::Result<()> {
    let (left, right) = (input.messages("demo"), input.messages("demo2"));
    let two = query == Query::Q4 && feeds.len() > 1;
    let (mut fed_left, mut fed_right) = (0usize, 0usize);
    while fed_left < left.len() {
        let now = clock.now_ms();
        let batch = batch_of(left, fed_left, fed_left + BATCH, now);
        fed_left += batch.len();
        feeds[0].blocking_send(batch).map_err(|e| anyhow!("feed: {e}"))?;
        if two {
            // demo2's event j is stamped T0 + 10·j: keep it level with demo's event time.
            let side = batch_of(right, fed_right, fed_left.div_ceil(10), now);
            fed_right += side.len();
            if !side.is_empty() {
                feeds[1].blocking_send(side).map_err(|e| anyhow!("feed: {e}"))?;
            }
        }
    }
    if two {
        let now = clock.now_ms();
        while fed_right < right.len() {
            let batch = batch_of(right, fed_right, fed_right + BATCH, now);
            fed_right += batch.len();
            feeds[1].blocking_send(batch).map_err(|e| anyhow!("feed: {e}"))?;
        }
    }
    Ok(())
}

/// Feeds `demo` one record at a time at `rate` events/s, noting arrivals
/// (Q1) or window closes (window queries).
fn feed_paced(
    feed: &SourceFeed,
    input: &Input,
    rate: u64,
    clock: &dyn Clock,
    arrivals: Option<&Arrivals>,
    hop_ms: Option<u64>,
    closes: &mut Vec<Instant>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let step = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut next_close = hop_ms.map(|h| T0_MS - T0_MS % h + h);
    for (i, line) in lines(&input.demo).enumerate() {
        let due = start + step * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let reading: Option<crate::floor::Reading> = serde_json::from_slice(line).ok();
        let at = Instant::now();
        if let (Some(arr), Some(r)) = (arrivals, &reading)
            && r.temperature > 50.0
            && let Ok(mut map) = arr.lock()
        {
            map.entry((r.device_id.to_string(), (r.temperature * 100.0).round() as i64)).or_default().push_back(at);
        }
        if let (Some(end), Some(r), Some(hop)) = (next_close.as_mut(), &reading, hop_ms)
            && r.ts >= *end
        {
            closes.push(at);
            *end += hop;
        }
        feed.blocking_send(vec![record(Bytes::copy_from_slice(line), clock.now_ms())])
            .map_err(|e| anyhow!("feed: {e}"))?;
    }
    Ok(())
}

/// Window latencies: for each close, the last emission before the next
/// close (or before the closing records went in, which close the rest).
fn window_latencies(closes: &[Instant], emissions: &[Instant], closers_at: Instant) -> anyhow::Result<Histogram<u64>> {
    let mut h = new_histogram()?;
    for (k, c) in closes.iter().enumerate() {
        let next = closes.get(k + 1).copied().unwrap_or(closers_at);
        let last = emissions.iter().filter(|e| **e >= *c && **e < next).max();
        if let Some(l) = last {
            let _ = h.record((l.duration_since(*c).as_micros() as u64).max(1));
        }
    }
    Ok(h)
}

/// Runs `spec` over `input`. `broker` is required for the MQTT feed.
pub fn run(spec: RunSpec, input: &Input, broker: Option<&Broker>, progress_bar: bool) -> anyhow::Result<EngineResult> {
    run_gated(spec, input, broker, progress_bar, None)
}

/// [`run`], feeding only once every party of `gate` is ready to (runs made
/// side by side start their feeds together).
pub fn run_gated(
    spec: RunSpec,
    input: &Input,
    broker: Option<&Broker>,
    progress_bar: bool,
    gate: Option<&std::sync::Barrier>,
) -> anyhow::Result<EngineResult> {
    let query = spec.query;
    let tokio_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("tokio runtime")?;
    let _enter = tokio_rt.enter();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runtime = Runtime::start(RuntimeConfig { workers: spec.workers }, clock.clone())?;
    let mut env = ConnectorEnv::new(MemoryBus::default(), input.dir.clone()).with_conf_dir(input.dir.join("etc"));
    if let Some(b) = broker {
        env = env.with_mqtt_server(b.url());
    }
    let env = Arc::new(env);

    // Catalog and plan.
    // Topics unique to this run, so a broker shared with other runs cannot mix them.
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let run_tag = format!("{}-{nanos:x}", std::process::id());
    let mut catalog: BTreeMap<String, StreamDef> = BTreeMap::new();
    let mut topics = Vec::new();
    for name in query.streams() {
        let source = match spec.feed {
            Feed::Memory => StreamSource::Mock,
            Feed::File => StreamSource::File(input.file(name)?.display().to_string()),
            Feed::Mqtt => {
                let t = format!("oortbench/{run_tag}/{name}");
                topics.push((name.to_string(), t.clone()));
                StreamSource::Mqtt(t)
            }
        };
        let def = oort_compiler::parse_stream_ddl(&stream_ddl(name, &source)).map_err(|e| anyhow!("{e}"))?;
        catalog.insert(def.name.clone(), def);
    }
    let latency_run = spec.rate.is_some();
    let opts = oort::rule::options::parse(&query.options(latency_run)).map_err(|e| anyhow!(e))?;
    let mut plan = oort_compiler::compile_rule(&query.sql(0), &catalog, opts).map_err(|e| anyhow!("{e}"))?;
    let rule_id = query.name().to_string();
    plan.rule_id = rule_id.clone();
    // As the rule manager installs it: a stateless rule over a live source
    // (Q1 fed from memory or MQTT) runs in a stream group.
    let plan = Arc::new(plan);
    let installed = oort::rule::manager::install(&runtime, &rule_id, plan.clone())?;
    let metrics = installed.metrics.clone();

    let arrivals: Option<Arrivals> = (latency_run && query == Query::Q1).then(|| Arc::new(Mutex::new(HashMap::new())));
    if spec.feed == Feed::Memory && spec.rate.is_none() {
        // Framed before the clock starts, as the floor's input is.
        input.messages("demo");
        input.messages("demo2");
    }
    let meter = Meter::start();
    let progress =
        Arc::new(Progress { start: Instant::now(), rows: AtomicU64::new(0), last_out_ns: AtomicU64::new(0) });
    let sink = spawn_sink(
        installed.emissions,
        metrics.clone(),
        progress.clone(),
        arrivals.clone(),
        latency_run && query.window_hop_ms().is_some(),
    )?;
    let feeds = installed.feeds;
    let total = input.total(query);

    let bar = progress_bar.then(|| {
        crate::report::progress_bar(total, &format!("{} {} w{}", query.name(), spec.feed.name(), spec.workers))
    });
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = bar.clone().map(|bar| {
        let (metrics, watching) = (metrics.clone(), watching.clone());
        std::thread::spawn(move || {
            while watching.load(Ordering::Relaxed) {
                bar.set_position(metrics.records_in.load(Ordering::Relaxed).min(total));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    });

    let timeline = match std::env::var_os("OORT_BENCH_TIMELINE") {
        Some(_) => {
            let (metrics, progress) = (metrics.clone(), progress.clone());
            let figures = move || {
                let (rows_in, rows_out) =
                    (metrics.records_in.load(Ordering::Relaxed), progress.rows.load(Ordering::Relaxed));
                format!("in {rows_in:>9} out {rows_out:>8}")
            };
            Some(crate::sys::Timeline::start(Duration::from_millis(5), figures).context("starting the timeline")?)
        }
        None => None,
    };

    // Feed.
    if let Some(gate) = gate {
        gate.wait();
    }
    let started = Instant::now();
    let mut closes = Vec::new();
    // CPU seconds and timeslices of the memory feed's thread, which ends
    // before the run does.
    let mut feed_cpu_s: Option<(f64, f64)> = None;
    let mut source_tasks = Vec::new();
    match spec.feed {
        Feed::Memory => match spec.rate {
            Some(rate) => feed_paced(
                &feeds[0],
                input,
                rate,
                clock.as_ref(),
                arrivals.as_ref(),
                query.window_hop_ms(),
                &mut closes,
            )?,
            None => {
                feed_cpu_s = Some(std::thread::scope(|s| {
                    // Its own thread, so that a profile tells the feed apart from the harness.
                    std::thread::Builder::new()
                        .name("bench-feed".into())
                        .spawn_scoped(s, || {
                            feed_throughput(&feeds, input, query, clock.as_ref())?;
                            Ok::<_, anyhow::Error>((
                                crate::sys::this_thread_cpu_seconds(),
                                crate::sys::this_thread_timeslices(),
                            ))
                        })
                        .context("starting the feed thread")?
                        .join()
                        .map_err(|_| anyhow!("the feed thread panicked"))?
                })?);
            }
        },
        Feed::File | Feed::Mqtt => {
            for (i, s) in plan.sources.iter().enumerate() {
                let ctx = SourceContext {
                    rule_id: rule_id.clone(),
                    stream: s.def.clone(),
                    feed: feeds[i].clone(),
                    metrics: metrics.clone(),
                    clock: clock.clone(),
                    env: env.clone(),
                };
                if let Some(t) = spawn_source(ctx)? {
                    source_tasks.push(t);
                }
            }
            if spec.feed == Feed::Mqtt {
                let broker = broker.ok_or_else(|| anyhow!("the MQTT feed needs a broker"))?;
                // Publish only once every source has subscribed.
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let states = env.mqtt.rule_states(&rule_id);
                    if states.len() == topics.len() && states.values().all(|s| s == "connected") {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(anyhow!("MQTT source did not subscribe within 10 s: {states:?}"));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                for (stream, topic) in &topics {
                    let data = input.data(stream);
                    tokio_rt
                        .block_on(crate::mqtt::publish_lines(broker, &format!("oort-bench-{stream}"), topic, data))
                        .map_err(|e| anyhow!(e))?;
                }
            }
        }
    }
    // Wait until every event is in.
    let mut complete = wait_for(|| metrics.records_in.load(Ordering::Relaxed), total);
    let closers_at = Instant::now();
    if query.event_time() && complete {
        let now = clock.now_ms();
        for f in feeds.iter().take(query.streams().len()) {
            f.blocking_send(vec![record(Bytes::from(closer(input.events)), now)]).map_err(|e| anyhow!("feed: {e}"))?;
        }
        complete = wait_for(|| metrics.records_in.load(Ordering::Relaxed), total + query.streams().len() as u64);
    }
    let all_in = Instant::now();
    // Then until the output is quiet.
    let quiet_since = Instant::now();
    loop {
        let out = metrics.records_out.load(Ordering::Relaxed);
        let seen = progress.rows.load(Ordering::Relaxed);
        let last = progress.start + Duration::from_nanos(progress.last_out_ns.load(Ordering::Relaxed));
        let idle = Instant::now().duration_since(last.max(quiet_since));
        if seen >= out && idle >= QUIET {
            break;
        }
        if idle >= STALL {
            complete = false;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu_s = meter.cpu_s();
    for line in timeline.map(crate::sys::Timeline::stop).unwrap_or_default() {
        eprintln!("{line}");
    }
    if std::env::var_os("OORT_BENCH_THREAD_CPU").is_some() {
        // Where the CPU went, by thread.
        let mut threads = meter.thread_cpu_s();
        let mut slices = meter.thread_timeslices();
        if let Some((cpu, n)) = feed_cpu_s {
            threads.push(("bench-feed".into(), crate::sys::round(cpu, 2)));
            slices.push(("bench-feed".into(), n));
        }
        eprintln!("thread cpu s: {threads:?}");
        eprintln!("thread run-queue wait s: {:?}", meter.thread_runqueue_s());
        eprintln!("thread timeslices: {slices:?}");
        eprintln!("thread waits (parked or blocked): {:?}", meter.thread_waits());
    }
    let peak_rss_mb = crate::sys::peak_rss_mb();
    watching.store(false, Ordering::Relaxed);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let records_in = metrics.records_in.load(Ordering::Relaxed);
    let late = metrics.late.load(Ordering::Relaxed);
    let exceptions = metrics.exceptions.load(Ordering::Relaxed);
    for t in source_tasks {
        t.abort();
    }
    drop(feeds);
    runtime.uninstall(&rule_id, installed.generation)?;
    runtime.shutdown();
    let outcome = sink.join().map_err(|_| anyhow!("sink thread panicked"))??;
    let last_out = progress.start + Duration::from_nanos(progress.last_out_ns.load(Ordering::Relaxed));
    // The end is the last result out, or the last record in if nothing came out after it.
    let ended = last_out.max(all_in);
    let secs = ended.saturating_duration_since(started).as_secs_f64();
    let latency = match (spec.rate, query.window_hop_ms()) {
        (None, _) => None,
        (Some(_), None) => Some(outcome.latency),
        (Some(_), Some(_)) => Some(window_latencies(&closes, &outcome.emission_times, closers_at)?),
    };
    Ok(EngineResult {
        checksum: outcome.checksum,
        events: total,
        records_in,
        secs,
        cpu_s,
        peak_rss_mb,
        base_rss_mb: meter.base_rss_mb,
        late,
        exceptions,
        complete,
        latency,
        span: (started, ended),
    })
}

/// Waits until `get()` reaches `target`, giving up after [`STALL`] without progress.
fn wait_for(get: impl Fn() -> u64, target: u64) -> bool {
    let mut last = get();
    let mut since = Instant::now();
    loop {
        let now = get();
        if now >= target {
            return true;
        }
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= STALL {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
