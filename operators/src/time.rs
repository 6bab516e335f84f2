//! Dataflow time: the timely timestamp of every rule is `ms << 16 | tick`.
//!
//! The high bits are milliseconds (processing time or event-time watermark);
//! the low 16 bits are sub-ticks inside one millisecond. A driver that has
//! delivered a batch at millisecond `m` advances its input to the next
//! sub-tick, which flushes that batch through every operator (the probe
//! passes it) without claiming that millisecond `m` is over; so a second batch
//! in the same millisecond is not late, and a window ending at `m + 1` does
//! not fire before the clock really reaches `m + 1`. Windows hold their
//! capability at `of_ms(window_end)`.

/// The timely timestamp type of rule dataflows.
pub type Time = u64;

/// Bits of sub-millisecond ticks.
pub const TICK_BITS: u32 = 16;

/// The first dataflow time of millisecond `ms`.
pub fn of_ms(ms: u64) -> Time {
    ms << TICK_BITS
}

/// The millisecond a dataflow time belongs to.
pub fn to_ms(t: Time) -> u64 {
    t >> TICK_BITS
}

/// The time to advance an input to after sending a batch at `current` while
/// the clock reads `now_ms`: the next sub-tick, never before `of_ms(now_ms)`.
pub fn after_batch(current: Time, now_ms: u64) -> Time {
    let base = of_ms(now_ms);
    if current < base { base + 1 } else { current + 1 }
}
