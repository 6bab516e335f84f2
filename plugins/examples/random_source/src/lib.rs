//! The `random` source (eKuiper's random source): every `interval` milliseconds it emits a copy of
//! `pattern` in which every numeric field is replaced by a pseudo-random integer in `[0, seed)`.
//!
//! Properties (from `etc/sources/random.yaml`, section `default` or a `CONF_KEY`):
//! - `pattern` (map, required): the record template.
//! - `interval` (milliseconds, default 1000).
//! - `seed` (positive integer, default 1): the exclusive upper bound of generated values.
//!
//! The generator thread backs off and re-emits the same record when the host answers "retry"
//! (backpressure), and `close` joins it, so nothing is emitted after `close` returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use oort_plugin_sdk::{EmitError, Error, Props, Record, Result, Source, SourceContext, Value};

/// The `random` source.
#[derive(Default)]
pub struct RandomSource {
    pattern: Record,
    interval: Duration,
    seed: u64,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl Source for RandomSource {
    fn configure(&mut self, _datasource: &str, props: &Props) -> Result<()> {
        self.pattern = match props.get("pattern") {
            Some(Value::Object(p)) => p.clone(),
            Some(other) => return Err(Error::msg(format!("random: `pattern` must be a map, got {other}"))),
            None => return Err(Error::msg("random: property `pattern` is required")),
        };
        let interval = match props.get("interval") {
            None => 1000,
            Some(v) => {
                v.as_u64().ok_or_else(|| Error::msg(format!("random: `interval` must be milliseconds, got {v}")))?
            }
        };
        self.interval = Duration::from_millis(interval);
        self.seed = match props.get("seed") {
            None => 1,
            Some(v) => v
                .as_u64()
                .filter(|s| *s > 0)
                .ok_or_else(|| Error::msg(format!("random: `seed` must be > 0, got {v}")))?,
        };
        Ok(())
    }

    fn open(&mut self, ctx: SourceContext) -> Result<()> {
        let (pattern, interval, seed, stop) = (self.pattern.clone(), self.interval, self.seed, self.stop.clone());
        stop.store(false, Ordering::SeqCst);
        let worker = std::thread::Builder::new().name("oort-random-source".into()).spawn(move || {
            // xorshift64*, seeded per rule so two rules differ.
            let mut state =
                0x9E37_79B9_7F4A_7C15u64 ^ ctx.rule_id().bytes().fold(0u64, |h, b| h.rotate_left(5) ^ b as u64);
            while !stop.load(Ordering::SeqCst) {
                let record = randomize(&pattern, seed, &mut state);
                loop {
                    match ctx.emit(std::slice::from_ref(&record)) {
                        Ok(()) => break,
                        Err(EmitError::Retry) if !stop.load(Ordering::SeqCst) => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(EmitError::Retry) => return,
                        Err(EmitError::Closed(_)) => return,
                    }
                }
                sleep_unless_stopped(interval, &stop);
            }
        })?;
        self.worker = Some(worker);
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(worker) = self.worker.take() {
            worker.join().map_err(|_| Error::msg("random: generator thread panicked"))?;
        }
        Ok(())
    }
}

impl Drop for RandomSource {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(10);
    let mut left = total;
    while !left.is_zero() && !stop.load(Ordering::SeqCst) {
        let d = left.min(step);
        std::thread::sleep(d);
        left -= d;
    }
}

fn randomize(pattern: &Record, seed: u64, state: &mut u64) -> Record {
    pattern
        .iter()
        .map(|(k, v)| {
            let v = if v.is_number() {
                *state ^= *state >> 12;
                *state ^= *state << 25;
                *state ^= *state >> 27;
                Value::from(state.wrapping_mul(0x2545_F491_4F6C_DD1D) % seed)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

oort_plugin_sdk::export_plugin! {
    name: "random",
    version: env!("CARGO_PKG_VERSION"),
    sources: ["random" => RandomSource],
}
