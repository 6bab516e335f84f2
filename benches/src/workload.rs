//! The standard IoT workload of `shared/bench/WORKLOAD.md`, generated
//! exactly as its reference `gen.py` does: splitmix64 seeded with 42, three
//! draws per event (deviceId, temperature, humidity), one JSON object per
//! line. The same `N` gives byte-identical output (the tests compare with
//! `gen.py` and with the sha256 check figure).
//!
//! Q4 needs a second stream "of the same shape, N/10 events" that
//! WORKLOAD.md does not pin down; [`Workload::demo2`] defines it here as the
//! same generator seeded with 43, event `j` stamped `1700000000000 + 10·j`,
//! so it spans the same time range as the main stream.

use std::io::Write;
use std::sync::Arc;

/// First event time (ms since the epoch) of the workload.
pub const T0_MS: u64 = 1_700_000_000_000;
/// The default number of events of WORKLOAD.md.
pub const DEFAULT_EVENTS: u64 = 2_000_000;
/// sha256 of the file for [`DEFAULT_EVENTS`] events (WORKLOAD.md's check figure).
pub const SHA256_2M: &str = "78515f524fba502c79392570dcc21e9a183d91afd3df2e494a268db56c17cb89";

/// One event's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// `k` of `"d<k>"`, 0..999.
    pub device: u32,
    /// Temperature in hundredths (0..=10000).
    pub temperature_centi: u32,
    /// 0..=100.
    pub humidity: u32,
    /// Event time, ms.
    pub ts: u64,
}

impl Event {
    /// Appends the event's JSON line, `\n` included.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = writeln!(
            out,
            "{{\"deviceId\":\"d{}\",\"temperature\":{}.{:02},\"humidity\":{},\"ts\":{}}}",
            self.device,
            self.temperature_centi / 100,
            self.temperature_centi % 100,
            self.humidity,
            self.ts
        );
    }
}

/// The deterministic event generator.
#[derive(Debug, Clone)]
pub struct Workload {
    state: u64,
    next: u64,
    ts_step: u64,
}

impl Workload {
    /// The standard workload (seed 42, `ts = T0 + i`).
    pub fn new() -> Self {
        Self { state: 42, next: 0, ts_step: 1 }
    }

    /// Q4's second stream (seed 43, `ts = T0 + 10·j`).
    pub fn demo2() -> Self {
        Self { state: 43, next: 0, ts_step: 10 }
    }

    fn draw(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next event.
    pub fn next_event(&mut self) -> Event {
        let (a, b, c) = (self.draw(), self.draw(), self.draw());
        let i = self.next;
        self.next += 1;
        Event {
            device: (a % 1000) as u32,
            temperature_centi: (b % 10_001) as u32,
            humidity: (c % 101) as u32,
            ts: T0_MS + i * self.ts_step,
        }
    }
}

impl Default for Workload {
    fn default() -> Self {
        Self::new()
    }
}

impl Iterator for Workload {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        Some(self.next_event())
    }
}

/// `n` events of `workload` as JSON lines in one buffer.
pub fn generate(mut workload: Workload, n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity((n as usize).saturating_mul(73));
    for _ in 0..n {
        workload.next_event().write_line(&mut out);
    }
    out
}

/// Writes `n` events of the standard workload to `w`.
pub fn write_to(w: &mut impl Write, n: u64) -> std::io::Result<()> {
    let mut workload = Workload::new();
    let mut buf = Vec::with_capacity(1 << 20);
    for _ in 0..n {
        workload.next_event().write_line(&mut buf);
        if buf.len() >= 1 << 20 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)
}

/// The lines of a JSON-lines buffer, without their `\n`.
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    // memchr finds each newline a vector at a time: splitting with a
    // per-byte closure cost the memory feed ≈ 80 ns per record, on a core
    // the workers need.
    let mut start = 0;
    memchr::memchr_iter(b'\n', data)
        .chain(std::iter::once(data.len()))
        .map(move |end| {
            let line = &data[start..end];
            start = end + 1;
            line
        })
        .filter(|l| !l.is_empty())
}

/// The workload's bytes, owned by the [`bytes::Bytes`] the memory feed
/// slices.
#[derive(Debug)]
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A stream's messages, framed once: the byte range of each line of the
/// workload, so whoever takes the input takes it message by message, as a
/// message source hands it over (an MQTT client delivers one publish at a
/// time). The memory feed and the floor both take their input framed, so
/// neither scans for newlines while it is timed.
#[derive(Debug, Clone)]
pub struct Messages {
    /// The framed bytes, shared: the memory feed hands out slices of them.
    bytes: bytes::Bytes,
    /// `(start, end)` of each message in `bytes`.
    spans: Vec<(usize, usize)>,
}

impl Messages {
    /// Frames `data`'s lines (the ones [`lines`] yields).
    pub fn frame(data: Arc<Vec<u8>>) -> Self {
        let base = data.as_ptr() as usize;
        let spans = lines(&data)
            .map(|l| {
                let start = l.as_ptr() as usize - base;
                (start, start + l.len())
            })
            .collect();
        Self { bytes: bytes::Bytes::from_owner(Shared(data)), spans }
    }

    /// [`Self::data`] as shared bytes: a slice of it is a block of messages
    /// without a copy.
    pub fn bytes(&self) -> &bytes::Bytes {
        &self.bytes
    }

    /// How many messages there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The messages in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone {
        self.spans.iter().map(|&(start, end)| &self.bytes[start..end])
    }

    /// The bytes the messages are ranges of.
    pub fn data(&self) -> &[u8] {
        &self.bytes
    }

    /// `(start, end)` of each message in [`Self::data`].
    pub fn spans(&self) -> &[(usize, usize)] {
        &self.spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_messages_are_the_lines() {
        let data = Arc::new(b"{\"a\":1}\n\n{\"a\":22}\n{\"a\":333}".to_vec());
        let framed = Messages::frame(data.clone());
        assert_eq!(framed.iter().collect::<Vec<_>>(), lines(&data).collect::<Vec<_>>());
        assert_eq!(framed.spans(), &[(0, 7), (9, 17), (18, 27)]);
        assert_eq!(framed.len(), 3);
    }

    #[test]
    fn first_events_match_the_reference_rule() {
        let data = generate(Workload::new(), 2);
        let text = String::from_utf8(data).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("{\"deviceId\":\"d"), "{first}");
        assert!(first.ends_with(",\"ts\":1700000000000}"), "{first}");
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn demo2_spans_the_same_time_range() {
        let mut w = Workload::demo2();
        let _ = w.next_event();
        assert_eq!(w.next_event().ts, T0_MS + 10);
    }
}
