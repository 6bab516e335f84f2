//! The window kinds as state machines over one ordered stream of rows and deadlines.
//!
//! Each kind owns the rows of its open window(s) and answers three questions:
//! what happens when a row arrives ([`WindowKindState::on_row`]), when it next
//! needs time to pass ([`WindowKindState::next_deadline`]), and what it emits
//! when that deadline is reached ([`WindowKindState::on_deadline`]). The timely
//! operator in `window.rs` feeds rows in time order and turns deadlines into
//! capabilities: a deadline `d` is reached when the input frontier passes
//! `time::of_ms(d)`, that is when the clock (processing time) or the watermark
//! (event time) reaches `d`. No timers and no threads: time is the frontier.
//!
//! The rules are eKuiper's (`internal/topo/node/window_op.go`,
//! `event_window_trigger.go`), including its quirks, because the conformance
//! vectors encode them:
//!
//! | kind | fires | rows | `window_start` |
//! |---|---|---|---|
//! | tumbling | every `size`, first end aligned to the unit from the rule start (processing) or the first row (event) | `ts < end` | previous end (first: rule start / first row) |
//! | hopping | every `hop`, aligned on `hop` | `end - size - δ <= ts < end` | previous end − hop |
//! | sliding | at each row whose `OVER (WHEN …)` holds, `delay` later | `t - size <= ts <= t` (`< t + delay` with a delay) | `t - size` |
//! | session | a gap of `timeout` or a tick every `max` aligned on `max` | `ts < end` | first row of the session, or the previous tick |
//! | count | every `interval` rows once `count` rows are there | the last `count` rows | end |
//! | state | at a row where `end` holds, after one where `begin` held | rows in between | first row |
//!
//! δ is eKuiper's drift correction of processing-time hopping windows (the
//! first window after the start may be shorter). Empty tumbling and hopping
//! windows fire too (eKuiper emits `[]` for them).

use crate::value::{Row, Value};
use oort_compiler::plan::{TimeUnit, WindowKind};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Analytic-function results computed for one row when it arrived: `(call_id, value)`.
pub type Memo = Vec<(usize, Value)>;

/// An admitted row: which rule input it came from, the row, its analytic results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Index of the rule input (`RulePlan::sources`).
    pub source: usize,
    /// The row.
    pub row: Row,
    /// Analytic results computed when the row arrived.
    pub memo: Memo,
}

impl Entry {
    fn ts(&self) -> u64 {
        self.row.ts
    }
}

/// The rows of one window firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowPane {
    /// `(window_start, window_end)` in ms; `None` for a stream–table join without a window.
    pub range: Option<(u64, u64)>,
    /// Rows in arrival order (stream rows first, then the rows of joined tables).
    pub rows: Vec<Entry>,
}

/// What the window operator hands on: a pane, or an error to emit in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WindowEvent {
    /// A window fired.
    Pane(WindowPane),
    /// A row failed before it entered a window (decoding, WHERE pushed down, FILTER).
    Error(std::sync::Arc<str>),
}

/// What the operator evaluated on an arriving row for the kinds that need it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowSignals {
    /// Sliding: `OVER (WHEN …)` holds (true without a trigger).
    pub trigger: bool,
    /// State window: the begin condition holds.
    pub begin: bool,
    /// State window: the end condition holds.
    pub end: bool,
}

/// One window kind's state.
pub trait WindowKindState {
    /// Processing time: the rule starts at `now_ms` (the first frontier seen).
    fn start(&mut self, _now_ms: u64) {}
    /// Whether [`Self::start`] must be called before anything else.
    fn needs_start(&self) -> bool {
        false
    }
    /// A row arrives (in time order); may fire at once.
    fn on_row(&mut self, entry: Entry, signals: RowSignals, out: &mut Vec<WindowPane>);
    /// The next time (ms) at which something fires, if any.
    fn next_deadline(&self) -> Option<u64>;
    /// Time reached the deadline returned by [`Self::next_deadline`].
    fn on_deadline(&mut self, at: u64, out: &mut Vec<WindowPane>);
    /// Event-time kinds whose ends depend on the watermark itself (sessions).
    fn on_watermark(&mut self, _watermark: u64, _out: &mut Vec<WindowPane>) {}
    /// Whether the state holds rows that only [`Self::on_watermark`] releases.
    fn wants_watermark(&self) -> bool {
        false
    }
}

/// Builds the state of a window kind.
pub fn new_state(kind: &WindowKind, unit: TimeUnit, event_time: bool) -> Result<Box<dyn WindowKindState>, String> {
    let raw = |ms: u64| (ms / unit.millis()).max(1);
    Ok(match *kind {
        WindowKind::Tumbling { size_ms } if size_ms > 0 => {
            Box::new(FixedWindows::new(size_ms, size_ms, false, unit, raw(size_ms), event_time))
        }
        WindowKind::Hopping { size_ms, hop_ms } if size_ms > 0 && hop_ms > 0 => {
            Box::new(FixedWindows::new(size_ms, hop_ms, true, unit, raw(hop_ms), event_time))
        }
        WindowKind::Sliding { size_ms, delay_ms } => Box::new(SlidingWindows::new(size_ms, delay_ms, event_time)),
        WindowKind::Session { max_ms, timeout_ms } if max_ms > 0 => {
            Box::new(SessionWindows::new(max_ms, timeout_ms, unit, raw(max_ms), event_time))
        }
        WindowKind::Count { count, interval } => Box::new(CountWindows::new(count, interval)),
        WindowKind::State { .. } => Box::new(StateWindows::default()),
        ref other => return Err(format!("a window of length zero: {other:?}")),
    })
}

/// The end of the first window after `now_ms`, aligned to natural time as
/// eKuiper does (`getAlignedWindowEndTime`, UTC): `interval` units past the
/// start of the enclosing larger unit, or the next multiple of `interval`
/// after the current unit count when that count exceeds `interval`.
pub fn aligned_window_end(now_ms: u64, interval: u64, unit: TimeUnit) -> u64 {
    let interval = interval.max(1);
    let gap = |n: u64| if n > interval { interval * (n / interval + 1) } else { interval };
    const DAY: u64 = 86_400_000;
    match unit {
        TimeUnit::Day => now_ms / DAY * DAY + interval * DAY,
        TimeUnit::Hour => {
            let day = now_ms / DAY * DAY;
            day + gap((now_ms - day) / 3_600_000) * 3_600_000
        }
        TimeUnit::Minute => {
            let hour = now_ms / 3_600_000 * 3_600_000;
            hour + gap((now_ms - hour) / 60_000) * 60_000
        }
        TimeUnit::Second => {
            let minute = now_ms / 60_000 * 60_000;
            minute + gap((now_ms - minute) / 1_000) * 1_000
        }
        TimeUnit::Millisecond => {
            let second = now_ms / 1_000 * 1_000;
            second + gap(now_ms - second)
        }
    }
}

/// Tumbling (`hop == size`, not overlapping) and hopping windows.
pub struct FixedWindows {
    size: u64,
    hop: u64,
    overlapping: bool,
    unit: TimeUnit,
    raw_interval: u64,
    event_time: bool,
    rows: Vec<Entry>,
    /// eKuiper's `triggerTime`: the rule start, the first row, then the last end.
    trigger_time: Option<u64>,
    next_end: Option<u64>,
}

impl FixedWindows {
    fn new(size: u64, hop: u64, overlapping: bool, unit: TimeUnit, raw_interval: u64, event_time: bool) -> Self {
        Self {
            size,
            hop,
            overlapping,
            unit,
            raw_interval,
            event_time,
            rows: Vec::new(),
            trigger_time: None,
            next_end: None,
        }
    }
}

impl WindowKindState for FixedWindows {
    fn start(&mut self, now_ms: u64) {
        self.trigger_time = Some(now_ms);
        self.next_end = Some(aligned_window_end(now_ms, self.raw_interval, self.unit));
    }

    fn needs_start(&self) -> bool {
        !self.event_time
    }

    fn on_row(&mut self, entry: Entry, _signals: RowSignals, _out: &mut Vec<WindowPane>) {
        if self.event_time {
            // Rows come in event-time order: the first one fixes the alignment.
            self.trigger_time.get_or_insert(entry.ts());
            if self.next_end.is_none() {
                self.next_end = Some(aligned_window_end(entry.ts(), self.raw_interval, self.unit));
            }
        }
        self.rows.push(entry);
    }

    fn next_deadline(&self) -> Option<u64> {
        self.next_end
    }

    fn on_deadline(&mut self, end: u64, out: &mut Vec<WindowPane>) {
        let previous = self.trigger_time.unwrap_or(0) as i64;
        let end_i = end as i64;
        let mut rows = Vec::new();
        if self.overlapping {
            let drift = if self.event_time || previous == 0 { 0 } else { end_i - previous - self.hop as i64 };
            let left = end_i - self.size as i64 - drift;
            self.rows.retain(|e| e.ts() as i64 >= left);
            rows.extend(self.rows.iter().filter(|e| e.ts() < end).cloned());
        } else {
            rows = take_before(&mut self.rows, end);
        }
        let mut start = if self.overlapping { previous - self.hop as i64 } else { previous };
        if start <= 0 {
            start = end_i - self.size as i64;
        }
        out.push(WindowPane { range: Some((start.max(0) as u64, end)), rows });
        self.trigger_time = Some(end);
        self.next_end = Some(end + self.hop);
    }
}

/// Takes the rows of `rows` before `end` (in their order), leaving the
/// others. Usually every buffered row is before the end (rows enter in time
/// order and a window fires before any row of its end): the buffer itself
/// is then handed over, and a new one made at its size, instead of both
/// parts grown a push at a time.
fn take_before(rows: &mut Vec<Entry>, end: u64) -> Vec<Entry> {
    if rows.iter().all(|e| e.ts() < end) {
        let size = rows.len();
        return std::mem::replace(rows, Vec::with_capacity(size));
    }
    let mut inside = Vec::with_capacity(rows.len());
    let mut later = Vec::with_capacity(rows.len());
    for e in rows.drain(..) {
        if e.ts() < end { inside.push(e) } else { later.push(e) }
    }
    *rows = later;
    inside
}

/// Sliding windows: one window per triggering row, looking `size` back and `delay` ahead.
pub struct SlidingWindows {
    size: u64,
    delay: u64,
    event_time: bool,
    rows: Vec<Entry>,
    /// Scan times due (`trigger + delay`), ascending.
    due: VecDeque<u64>,
}

impl SlidingWindows {
    fn new(size: u64, delay: u64, event_time: bool) -> Self {
        Self { size, delay, event_time, rows: Vec::new(), due: VecDeque::new() }
    }

    fn scan(&mut self, right: u64, out: &mut Vec<WindowPane>) {
        let left = right.saturating_sub(self.size + self.delay);
        self.rows.retain(|e| e.ts() >= left);
        let delayed = self.delay > 0;
        let rows =
            self.rows.iter().filter(|e| if delayed { e.ts() < right } else { e.ts() <= right }).cloned().collect();
        out.push(WindowPane { range: Some((left, right)), rows });
    }
}

impl WindowKindState for SlidingWindows {
    fn on_row(&mut self, entry: Entry, signals: RowSignals, out: &mut Vec<WindowPane>) {
        let ts = entry.ts();
        self.rows.push(entry);
        if signals.trigger {
            if self.delay > 0 || self.event_time {
                self.due.push_back(ts + self.delay);
            } else {
                self.scan(ts, out);
            }
        } else if !self.event_time {
            let left = ts.saturating_sub(self.size + self.delay);
            self.rows.retain(|e| e.ts() >= left);
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        self.due.front().copied()
    }

    fn on_deadline(&mut self, at: u64, out: &mut Vec<WindowPane>) {
        self.due.pop_front();
        self.scan(at, out);
    }
}

/// Session windows: close after `timeout` without rows, or at ticks every `max`.
pub struct SessionWindows {
    max: u64,
    timeout: u64,
    unit: TimeUnit,
    raw_interval: u64,
    event_time: bool,
    rows: Vec<Entry>,
    trigger_time: u64,
    next_tick: Option<u64>,
    /// Processing time: a timeout timer exists (eKuiper's `timeoutTicker != nil`).
    timeout_armed: bool,
    timeout_at: Option<u64>,
    /// Event time: the previous window was closed by a tick, not a gap.
    last_ticked: bool,
}

impl SessionWindows {
    fn new(max: u64, timeout: u64, unit: TimeUnit, raw_interval: u64, event_time: bool) -> Self {
        Self {
            max,
            timeout,
            unit,
            raw_interval,
            event_time,
            rows: Vec::new(),
            trigger_time: 0,
            next_tick: None,
            timeout_armed: false,
            timeout_at: None,
            last_ticked: false,
        }
    }

    fn scan(&mut self, end: u64, out: &mut Vec<WindowPane>) {
        let inside = take_before(&mut self.rows, end);
        out.push(WindowPane { range: Some((self.trigger_time, end)), rows: inside });
        self.trigger_time = end;
    }

    /// eKuiper's `getNextSessionWindow`: the end of the next session given the
    /// buffered rows and the watermark, and whether a tick (not a gap) ends it.
    fn next_session(&self, watermark: u64) -> Option<(u64, bool)> {
        let first = self.rows.first()?.ts();
        let mut tick = aligned_window_end(first, self.raw_interval, self.unit);
        let mut previous: Option<u64> = None;
        let mut ticked = false;
        for e in &self.rows {
            let ts = e.ts();
            let mut end = None;
            if let Some(p) = previous
                && ts - p > self.timeout
            {
                end = Some(p + self.timeout);
            }
            if ts > tick {
                if tick.saturating_sub(self.max) > first && end.is_none_or(|r| tick < r) {
                    end = Some(tick);
                    ticked = true;
                }
                tick += self.max;
            }
            if let Some(end) = end {
                return Some((end, ticked));
            }
            previous = Some(ts);
        }
        match previous {
            Some(p) if watermark.saturating_sub(p) > self.timeout => Some((p + self.timeout, ticked)),
            _ => None,
        }
    }
}

impl WindowKindState for SessionWindows {
    fn start(&mut self, now_ms: u64) {
        self.trigger_time = now_ms;
        self.next_tick = Some(aligned_window_end(now_ms, self.raw_interval, self.unit));
    }

    fn needs_start(&self) -> bool {
        !self.event_time
    }

    fn on_row(&mut self, entry: Entry, _signals: RowSignals, _out: &mut Vec<WindowPane>) {
        let ts = entry.ts();
        self.rows.push(entry);
        if self.event_time {
            return;
        }
        self.timeout_at = Some(ts + self.timeout);
        if !self.timeout_armed {
            self.timeout_armed = true;
            self.trigger_time = ts;
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        match (self.next_tick, self.timeout_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_deadline(&mut self, at: u64, out: &mut Vec<WindowPane>) {
        if self.next_tick == Some(at) {
            self.next_tick = Some(at + self.max);
            if self.rows.first().is_some_and(|e| at.saturating_sub(self.max) >= e.ts()) {
                self.scan(at, out);
            }
            return;
        }
        self.timeout_at = None;
        if !self.rows.is_empty() {
            self.scan(at, out);
            self.rows.clear();
            self.timeout_armed = false;
        }
    }

    fn on_watermark(&mut self, watermark: u64, out: &mut Vec<WindowPane>) {
        while let Some((end, ticked)) = self.next_session(watermark) {
            if end > watermark {
                break;
            }
            if !self.last_ticked
                && let Some(first) = self.rows.first()
            {
                self.trigger_time = first.ts();
            }
            self.scan(end, out);
            self.last_ticked = ticked;
        }
    }

    fn wants_watermark(&self) -> bool {
        self.event_time && !self.rows.is_empty()
    }
}

/// Count windows: every `interval` rows, the last `count` rows once there are that many.
pub struct CountWindows {
    count: usize,
    interval: usize,
    since_emit: usize,
    rows: Vec<Entry>,
}

impl CountWindows {
    fn new(count: u64, interval: u64) -> Self {
        let count = count.max(1) as usize;
        let interval = if interval == 0 { count } else { interval as usize };
        Self { count, interval, since_emit: 0, rows: Vec::new() }
    }
}

impl WindowKindState for CountWindows {
    fn on_row(&mut self, entry: Entry, _signals: RowSignals, out: &mut Vec<WindowPane>) {
        let ts = entry.ts();
        self.rows.push(entry);
        self.since_emit += 1;
        if !self.since_emit.is_multiple_of(self.interval) {
            return;
        }
        self.since_emit = 0;
        if self.rows.len() >= self.count {
            let first = self.rows.len() - self.count;
            out.push(WindowPane { range: Some((ts, ts)), rows: self.rows[first..].to_vec() });
            self.rows.drain(..=first);
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        None
    }

    fn on_deadline(&mut self, _at: u64, _out: &mut Vec<WindowPane>) {}
}

/// State windows: open at a row where `begin` holds, emit and close at one where `end` holds.
#[derive(Default)]
pub struct StateWindows {
    open: bool,
    rows: Vec<Entry>,
}

impl WindowKindState for StateWindows {
    fn on_row(&mut self, entry: Entry, signals: RowSignals, out: &mut Vec<WindowPane>) {
        if !self.open {
            if !signals.begin {
                return;
            }
            self.open = true;
        }
        let ts = entry.ts();
        self.rows.push(entry);
        if signals.end {
            let start = self.rows.first().map(Entry::ts).unwrap_or(ts);
            out.push(WindowPane { range: Some((start, ts)), rows: std::mem::take(&mut self.rows) });
            self.open = false;
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        None
    }

    fn on_deadline(&mut self, _at: u64, _out: &mut Vec<WindowPane>) {}
}

/// No window: each stream row is its own pane (a stream–table join probes the tables with it).
pub struct RowPanes;

impl WindowKindState for RowPanes {
    fn on_row(&mut self, entry: Entry, _signals: RowSignals, out: &mut Vec<WindowPane>) {
        out.push(WindowPane { range: None, rows: vec![entry] });
    }

    fn next_deadline(&self) -> Option<u64> {
        None
    }

    fn on_deadline(&mut self, _at: u64, _out: &mut Vec<WindowPane>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_541_152_486_000;

    fn entry(ts: u64, v: i64) -> Entry {
        Entry { source: 0, row: Row { slots: vec![Value::Int(v)], meta: None, ts }, memo: Vec::new() }
    }

    fn values(p: &WindowPane) -> Vec<i64> {
        p.rows
            .iter()
            .map(|e| match e.row.slots[0] {
                Value::Int(i) => i,
                _ => -1,
            })
            .collect()
    }

    /// A firing as tests compare it: `(range, values)`.
    type Fired = (Option<(u64, u64)>, Vec<i64>);

    /// Feeds `(ts, value, trigger)` rows and runs deadlines up to each row's
    /// time (due ones first), then up to `until`: `(range, values)` per firing.
    fn run(state: &mut dyn WindowKindState, rows: &[(u64, i64, bool)], until: u64) -> Vec<Fired> {
        let mut out = Vec::new();
        let fire = |state: &mut dyn WindowKindState, upto: u64, out: &mut Vec<WindowPane>| {
            while let Some(d) = state.next_deadline().filter(|d| *d <= upto) {
                state.on_deadline(d, out);
            }
        };
        for &(ts, v, trigger) in rows {
            fire(state, ts, &mut out);
            state.on_row(entry(ts, v), RowSignals { trigger, begin: trigger, end: !trigger }, &mut out);
        }
        fire(state, until, &mut out);
        out.iter().map(|p| (p.range, values(p))).collect()
    }

    #[test]
    fn alignment_follows_ekuiper() {
        // T0 is 46 s past the minute: the next 1 s / 2 s boundaries.
        assert_eq!(aligned_window_end(T0, 1, TimeUnit::Second), T0 + 1_000);
        assert_eq!(aligned_window_end(T0, 2, TimeUnit::Second), T0 + 2_000);
        // 7 s windows count from the minute: 49 s is the next multiple after 46 s.
        assert_eq!(aligned_window_end(T0, 7, TimeUnit::Second), T0 + 3_000);
        // A count not above the interval aligns to `interval` units past the minute.
        assert_eq!(aligned_window_end(T0 - 46_000 + 3_000, 5, TimeUnit::Second), T0 - 46_000 + 5_000);
    }

    #[test]
    fn tumbling_processing_time_fires_every_size_with_empty_windows() {
        let mut s =
            new_state(&WindowKind::Tumbling { size_ms: 1_000 }, TimeUnit::Second, false).expect("a valid window");
        s.start(T0);
        let fired = run(s.as_mut(), &[(T0 + 13, 1, true), (T0 + 822, 2, true), (T0 + 2_442, 3, true)], T0 + 3_000);
        assert_eq!(
            fired,
            vec![
                (Some((T0, T0 + 1_000)), vec![1, 2]),
                (Some((T0 + 1_000, T0 + 2_000)), vec![]),
                (Some((T0 + 2_000, T0 + 3_000)), vec![3]),
            ]
        );
    }

    #[test]
    fn hopping_event_time_aligns_on_first_row_and_starts_one_hop_before_previous_end() {
        let mut s = new_state(&WindowKind::Hopping { size_ms: 2_000, hop_ms: 1_000 }, TimeUnit::Second, true)
            .expect("a valid window");
        let fired = run(s.as_mut(), &[(T0 + 13, 1, true), (T0 + 1_632, 2, true)], T0 + 3_000);
        assert_eq!(
            fired,
            vec![
                (Some((T0 - 987, T0 + 1_000)), vec![1]),
                (Some((T0, T0 + 2_000)), vec![1, 2]),
                (Some((T0 + 1_000, T0 + 3_000)), vec![2]),
            ]
        );
    }

    #[test]
    fn sliding_fires_on_triggers_only_and_delays() {
        let mut s = new_state(&WindowKind::Sliding { size_ms: 1_000, delay_ms: 0 }, TimeUnit::Second, false)
            .expect("a valid window");
        let fired = run(s.as_mut(), &[(T0, 1, true), (T0 + 500, 2, false), (T0 + 1_200, 3, true)], T0 + 5_000);
        assert_eq!(fired, vec![(Some((T0 - 1_000, T0)), vec![1]), (Some((T0 + 200, T0 + 1_200)), vec![2, 3])]);

        let mut d = new_state(&WindowKind::Sliding { size_ms: 5_000, delay_ms: 1_000 }, TimeUnit::Second, false)
            .expect("a valid window");
        let fired = run(
            d.as_mut(),
            &[(T0, 1, false), (T0 + 600, 2, true), (T0 + 1_500, 3, false), (T0 + 1_700, 4, false)],
            T0 + 9_000,
        );
        assert_eq!(fired, vec![(Some((T0 + 600 - 5_000, T0 + 1_600)), vec![1, 2, 3])]);
    }

    #[test]
    fn session_processing_time_closes_on_timeout_and_on_ticks() {
        let mut s = new_state(&WindowKind::Session { max_ms: 2_000, timeout_ms: 1_000 }, TimeUnit::Second, false)
            .expect("a valid window");
        s.start(T0);
        let rows = [13, 823, 1_932, 2_442, 3_252, 4_062].map(|d| (T0 + d, d as i64, true));
        let fired = run(s.as_mut(), &rows, T0 + 4_100);
        assert_eq!(
            fired,
            vec![
                (Some((T0 + 13, T0 + 1_823)), vec![13, 823]),
                (Some((T0 + 1_932, T0 + 4_000)), vec![1_932, 2_442, 3_252]),
            ]
        );
    }

    #[test]
    fn session_event_time_follows_the_watermark() {
        let mut s = new_state(&WindowKind::Session { max_ms: 2_000, timeout_ms: 1_000 }, TimeUnit::Second, true)
            .expect("a valid window");
        let mut out = Vec::new();
        for d in [13u64, 823] {
            s.on_row(entry(T0 + d, d as i64), RowSignals::default(), &mut out);
        }
        s.on_watermark(T0 + 1_823, &mut out);
        assert!(out.is_empty(), "a gap of exactly the timeout does not close the session");
        s.on_watermark(T0 + 1_824, &mut out);
        assert_eq!(
            out.iter().map(|p| (p.range, values(p))).collect::<Vec<_>>(),
            vec![(Some((T0 + 13, T0 + 1_823)), vec![13, 823])]
        );
        assert!(!s.wants_watermark());
    }

    #[test]
    fn count_window_emits_the_last_rows_every_interval() {
        let mut s =
            new_state(&WindowKind::Count { count: 3, interval: 2 }, TimeUnit::Second, false).expect("a valid window");
        let rows: Vec<(u64, i64, bool)> = (1..=6).map(|i| (T0 + i as u64, i, true)).collect();
        let fired = run(s.as_mut(), &rows, T0 + 10);
        assert_eq!(fired, vec![(Some((T0 + 4, T0 + 4)), vec![2, 3, 4]), (Some((T0 + 6, T0 + 6)), vec![4, 5, 6])]);
    }

    #[test]
    fn state_window_collects_from_begin_to_end() {
        let mut s = StateWindows::default();
        let mut out = Vec::new();
        let signal = |begin, end| RowSignals { trigger: false, begin, end };
        s.on_row(entry(T0, 1), signal(false, true), &mut out);
        s.on_row(entry(T0 + 1, 2), signal(true, false), &mut out);
        s.on_row(entry(T0 + 2, 3), signal(false, false), &mut out);
        s.on_row(entry(T0 + 3, 4), signal(false, true), &mut out);
        assert_eq!(
            out.iter().map(|p| (p.range, values(p))).collect::<Vec<_>>(),
            vec![(Some((T0 + 1, T0 + 3)), vec![2, 3, 4])]
        );
    }
}
