//! The reference floor: the bare minimum work of each query on the same
//! input messages (framed once before the clock starts, as the memory feed
//! takes them: [`crate::workload::Messages`]), single-threaded, no engine — parse each JSON
//! object into a struct with serde (borrowing the device id), filter or
//! aggregate in a `HashMap`, and write each output row in the canonical form
//! of [`crate::checksum`] into an output buffer (flushed to nowhere every
//! MB, as a buffered file writer would). Oort's figure is reported as a ratio
//! to it, timed in the same run.
//!
//! The window floors use that the workload arrives in event-time order: a
//! window is emitted as soon as an event past its end is read, which is what
//! the engine does with its watermark.

use crate::checksum::{Checksum, RowWriter};
use crate::queries::Query;
use crate::workload::Messages;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// One event as the floor parses it.
#[derive(Debug, Deserialize)]
pub struct Reading<'a> {
    /// `deviceId`.
    #[serde(rename = "deviceId", borrow)]
    pub device_id: &'a str,
    /// `temperature`.
    pub temperature: f64,
    /// `humidity`.
    pub humidity: i64,
    /// `ts`.
    pub ts: u64,
}

/// What a floor run gives.
#[derive(Debug, Clone, Copy)]
pub struct FloorResult {
    /// Input events read.
    pub events: u64,
    /// Wall seconds.
    pub secs: f64,
    /// The output.
    pub checksum: Checksum,
}

impl FloorResult {
    /// Events per second.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }
}

/// Collects output rows: hashes each and appends it to a buffer flushed every MB.
struct Out {
    w: RowWriter,
    buf: Vec<u8>,
    sum: Checksum,
}

impl Out {
    fn new() -> Self {
        Self { w: RowWriter::default(), buf: Vec::with_capacity(1 << 20), sum: Checksum::default() }
    }

    fn row(&mut self) -> &mut RowWriter {
        self.w.begin();
        &mut self.w
    }

    fn done(&mut self) {
        let bytes = self.w.end();
        self.sum.add_row(bytes);
        self.buf.extend_from_slice(bytes);
        self.buf.push(b'\n');
        if self.buf.len() >= 1 << 20 {
            std::hint::black_box(&self.buf);
            self.buf.clear();
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Agg {
    count: i64,
    sum: f64,
    max_h: i64,
}

impl Agg {
    fn add(&mut self, r: &Reading) {
        if self.count == 0 || r.humidity > self.max_h {
            self.max_h = r.humidity;
        }
        self.count += 1;
        self.sum += r.temperature;
    }
}

fn emit_window(out: &mut Out, groups: &mut HashMap<String, Agg>) {
    for (device, a) in groups.drain() {
        let w = out.row();
        w.str("deviceId", &device);
        w.int("c", a.count);
        w.float("t", a.sum / a.count as f64);
        w.int("h", a.max_h);
        out.sum.sum_c += a.count;
        out.sum.sum_h += a.max_h;
        out.done();
    }
}

fn add_to(groups: &mut HashMap<String, Agg>, r: &Reading) {
    match groups.get_mut(r.device_id) {
        Some(a) => a.add(r),
        None => {
            let mut a = Agg::default();
            a.add(r);
            groups.insert(r.device_id.to_string(), a);
        }
    }
}

fn parse(line: &[u8]) -> Option<Reading<'_>> {
    serde_json::from_slice(line).ok()
}

/// Q1: `WHERE temperature > 50`, project deviceId and temperature.
pub fn q1<'a>(messages: impl IntoIterator<Item = &'a [u8]>) -> FloorResult {
    let t0 = Instant::now();
    let mut out = Out::new();
    let mut events = 0;
    for line in messages {
        events += 1;
        let Some(r) = parse(line) else { continue };
        if r.temperature > 50.0 {
            let w = out.row();
            w.str("deviceId", r.device_id);
            w.float("temperature", r.temperature);
            out.done();
        }
    }
    FloorResult { events, secs: t0.elapsed().as_secs_f64(), checksum: out.sum }
}

/// Q2: 10 s tumbling windows, COUNT/AVG/MAX per device.
pub fn q2<'a>(messages: impl IntoIterator<Item = &'a [u8]>) -> FloorResult {
    let t0 = Instant::now();
    let mut out = Out::new();
    let mut groups: HashMap<String, Agg> = HashMap::with_capacity(1024);
    let mut window_end = 0u64;
    let mut events = 0;
    for line in messages {
        events += 1;
        let Some(r) = parse(line) else { continue };
        if r.ts >= window_end {
            emit_window(&mut out, &mut groups);
            window_end = r.ts - r.ts % 10_000 + 10_000;
        }
        add_to(&mut groups, &r);
    }
    emit_window(&mut out, &mut groups);
    FloorResult { events, secs: t0.elapsed().as_secs_f64(), checksum: out.sum }
}

/// Q3: 10 s windows starting every 5 s.
pub fn q3<'a>(messages: impl IntoIterator<Item = &'a [u8]>) -> FloorResult {
    let t0 = Instant::now();
    let mut out = Out::new();
    let mut open: BTreeMap<u64, HashMap<String, Agg>> = BTreeMap::new();
    let mut events = 0;
    for line in messages {
        events += 1;
        let Some(r) = parse(line) else { continue };
        while let Some(mut first) = open.first_entry() {
            if *first.key() + 10_000 > r.ts {
                break;
            }
            emit_window(&mut out, first.get_mut());
            first.remove();
        }
        let start = r.ts - r.ts % 5_000;
        for s in [start.saturating_sub(5_000), start] {
            add_to(open.entry(s).or_insert_with(|| HashMap::with_capacity(1024)), &r);
        }
    }
    for (_, mut g) in std::mem::take(&mut open) {
        emit_window(&mut out, &mut g);
    }
    FloorResult { events, secs: t0.elapsed().as_secs_f64(), checksum: out.sum }
}

/// One side of a Q4 join row.
struct Side<'a> {
    device_id: &'a str,
    temperature: f64,
    humidity: i64,
    ts: u64,
}

/// Q4: demo ⋈ demo2 on deviceId within 1 s tumbling windows, `SELECT *`.
/// [`q4_row`] says what an output row holds.
pub fn q4<'a>(demo: impl IntoIterator<Item = &'a [u8]>, demo2: impl IntoIterator<Item = &'a [u8]>) -> FloorResult {
    let t0 = Instant::now();
    let mut out = Out::new();
    let mut events = 0;
    let mut right = demo2.into_iter().peekable();
    let mut window: HashMap<&str, Vec<Side>> = HashMap::new();
    let mut window_end = 0u64;
    for line in demo {
        events += 1;
        let Some(l) = parse(line) else { continue };
        if l.ts >= window_end {
            window.clear();
            window_end = l.ts - l.ts % 1_000 + 1_000;
            // Load the right side of this window.
            while let Some(line) = right.peek() {
                let Some(r) = parse(line) else {
                    right.next();
                    events += 1;
                    continue;
                };
                if r.ts >= window_end {
                    break;
                }
                right.next();
                events += 1;
                if r.ts + 1_000 >= window_end {
                    window.entry(r.device_id).or_default().push(Side {
                        device_id: r.device_id,
                        temperature: r.temperature,
                        humidity: r.humidity,
                        ts: r.ts,
                    });
                }
            }
        }
        if let Some(matches) = window.get(l.device_id) {
            let left = Side { device_id: l.device_id, temperature: l.temperature, humidity: l.humidity, ts: l.ts };
            for r in matches {
                q4_row(out.row(), &left, r);
                out.done();
            }
        }
    }
    events += right.count() as u64;
    FloorResult { events, secs: t0.elapsed().as_secs_f64(), checksum: out.sum }
}

/// A Q4 row: `SELECT *` over the join names each field once, the left
/// (demo) side's value winning, as eKuiper's join tuples merge; the engine
/// emits them in name order.
fn q4_row(w: &mut RowWriter, l: &Side, _r: &Side) {
    w.str("deviceId", l.device_id);
    w.int("humidity", l.humidity);
    w.float("temperature", l.temperature);
    w.int("ts", l.ts as i64);
}

/// Q5: `rules` rules `deviceId = "d<i mod 1000>" AND temperature > <i mod 100>`,
/// indexed by device; every match writes the event (`SELECT *`, fields in
/// name order, as the memory sink delivers them).
pub fn q5<'a>(messages: impl IntoIterator<Item = &'a [u8]>, rules: usize) -> FloorResult {
    let t0 = Instant::now();
    let mut out = Out::new();
    let mut by_device: HashMap<String, Vec<f64>> = HashMap::new();
    for i in 0..rules {
        by_device.entry(format!("d{}", i % 1000)).or_default().push((i % 100) as f64);
    }
    let mut events = 0;
    for line in messages {
        events += 1;
        let Some(r) = parse(line) else { continue };
        let Some(thresholds) = by_device.get(r.device_id) else { continue };
        for t in thresholds {
            if r.temperature > *t {
                let w = out.row();
                w.str("deviceId", r.device_id);
                w.int("humidity", r.humidity);
                w.float("temperature", r.temperature);
                w.int("ts", r.ts as i64);
                out.done();
            }
        }
    }
    FloorResult { events, secs: t0.elapsed().as_secs_f64(), checksum: out.sum }
}

/// The floor of `query` on `demo` (and `demo2` for Q4; `rules` for Q5).
pub fn run(query: Query, demo: &Messages, demo2: &Messages, rules: usize) -> FloorResult {
    match query {
        Query::Q1 => q1(demo.iter()),
        Query::Q2 => q2(demo.iter()),
        Query::Q3 => q3(demo.iter()),
        Query::Q4 => q4(demo.iter(), demo2.iter()),
        Query::Q5 => q5(demo.iter(), rules),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Workload, generate, lines};

    #[test]
    fn window_floors_count_every_event() {
        let data = generate(Workload::new(), 25_000);
        let q2 = q2(lines(&data));
        assert_eq!(q2.checksum.sum_c, 25_000);
        let q3 = q3(lines(&data));
        assert_eq!(q3.checksum.sum_c, 50_000);
        let q1 = q1(lines(&data));
        assert!(q1.checksum.rows > 10_000 && q1.checksum.rows < 15_000);
    }
}
