//! A sink that panics in `collect` (test fixture): the host must turn the panic into an error of
//! the one rule using it, and keep running.

use oort_plugin_sdk::{Props, Record, Result, Sink};

/// Panics on every batch.
#[derive(Default)]
pub struct PanicSink;

impl Sink for PanicSink {
    fn configure(&mut self, _props: &Props) -> Result<()> {
        Ok(())
    }

    fn collect(&mut self, batch: Vec<Record>) -> Result<()> {
        panic!("panic_sink refuses a batch of {} records", batch.len())
    }

    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

oort_plugin_sdk::export_plugin! {
    name: "panic",
    version: env!("CARGO_PKG_VERSION"),
    sinks: ["panic" => PanicSink],
}
