//! A plugin source as a plain Rust object.
//!
//! The plugin owns its threads and pushes batches through the host's `emit` callback; this
//! adapter turns each MessagePack batch back into `serde_json::Value` records and hands them to
//! the [`Emitter`] the rule supplied. The emitter answers [`EmitOutcome::Retry`] when its bounded
//! queue is full: the plugin backs off and re-emits (backpressure instead of unbounded memory).
//! The host state behind the callback stays alive until `close` has returned, which the ABI
//! defines as "no plugin thread will emit again".

use std::ffi::c_void;
use std::sync::Arc;

use oort_plugin_abi::{BytesRef, ERR, OK, RETRY, SourceContext, SourceVTable, Status, StrRef};
use serde_json::{Map, Value};

use crate::error::Result;
use crate::ffi::{self, Guard};
use crate::loader::LoadedPlugin;
use crate::sink::ErrorReporter;

/// What the rule answers to a pushed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitOutcome {
    /// Taken.
    Accepted,
    /// Queue full: the plugin should retry the same batch later.
    Retry,
    /// The rule is closing or the batch is invalid; the plugin should stop.
    Closed(String),
}

/// Receives the batches a source pushes: `(records, event_time_ms)`. Called from plugin threads.
pub type Emitter = Arc<dyn Fn(Vec<Value>, i64) -> EmitOutcome + Send + Sync>;

struct SourceHost {
    emit: Emitter,
    on_error: ErrorReporter,
}

/// One instance of a plugin source.
pub struct PluginSource {
    this: *mut c_void,
    vt: *const SourceVTable,
    guard: Guard,
    host: Option<Box<SourceHost>>,
    rule_id: Option<Box<str>>,
    open: bool,
    plugin: Arc<LoadedPlugin>,
}

// SAFETY: calls on one instance never overlap (`&mut self`); SDK sources are `Send`.
unsafe impl Send for PluginSource {}

impl std::fmt::Debug for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSource").field("plugin", &self.plugin.name()).field("source", &self.guard.name).finish()
    }
}

impl LoadedPlugin {
    /// A new instance of the source `name`.
    pub fn new_source(self: &Arc<Self>, name: &str) -> Result<PluginSource> {
        let (this, vt) = self.instantiate(&self.sources, "source", name)?;
        Ok(PluginSource {
            this,
            vt,
            guard: Guard::new(self.name(), "source", name),
            host: None,
            rule_id: None,
            open: false,
            plugin: self.clone(),
        })
    }
}

unsafe extern "C" fn host_emit(host: *mut c_void, batch: BytesRef, event_time_ms: i64) -> Status {
    let result = std::panic::catch_unwind(|| {
        // SAFETY: `host` is the boxed SourceHost of a PluginSource that has not returned from
        // `close` yet (ABI contract); `batch` is valid for the call.
        let (host, bytes) = unsafe { (&*(host as *const SourceHost), batch.as_bytes()) };
        let records: Vec<Value> = match ffi::decode(bytes) {
            Ok(r) => r,
            Err(e) => return ffi::host_status(ERR, &format!("batch is not a MessagePack array of records: {e}")),
        };
        match (host.emit)(records, event_time_ms) {
            EmitOutcome::Accepted => ffi::host_status(OK, ""),
            EmitOutcome::Retry => ffi::host_status(RETRY, "queue full"),
            EmitOutcome::Closed(m) => ffi::host_status(ERR, &m),
        }
    });
    result.unwrap_or_else(|_| ffi::host_status(ERR, "host emitter panicked"))
}

unsafe extern "C" fn host_emit_error(host: *mut c_void, msg: StrRef) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: as in `host_emit`.
        let (host, msg) = unsafe { (&*(host as *const SourceHost), msg.as_bytes()) };
        (host.on_error)(&String::from_utf8_lossy(msg));
    });
}

impl PluginSource {
    fn vt(&self) -> &SourceVTable {
        // SAFETY: the vtable is a static of the library, kept mapped by `self.plugin`.
        unsafe { &*self.vt }
    }

    /// The plugin library this instance belongs to.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// Configure with the stream's `DATASOURCE` and the merged configuration section.
    pub fn configure(&mut self, datasource: &str, props: &Map<String, Value>) -> Result<()> {
        self.guard.check("configure")?;
        let bytes = ffi::encode_props(props).map_err(|e| self.guard.codec("properties", e))?;
        // SAFETY: live instance; borrowed text and bytes valid for the call.
        let status = unsafe { (self.vt().configure)(self.this, StrRef::new(datasource), BytesRef::new(&bytes)) };
        self.guard.ok("configure", status)
    }

    /// Start producing into `emit` until [`PluginSource::close`].
    pub fn open(&mut self, rule_id: &str, emit: Emitter, on_error: ErrorReporter) -> Result<()> {
        self.guard.check("open")?;
        let host = Box::new(SourceHost { emit, on_error });
        let rule: Box<str> = rule_id.into();
        let ctx = SourceContext {
            size: size_of::<SourceContext>() as u32,
            host: &*host as *const SourceHost as *mut c_void,
            rule_id: StrRef::new(&rule),
            emit: host_emit,
            emit_error: host_emit_error,
        };
        self.host = Some(host);
        self.rule_id = Some(rule);
        // SAFETY: live instance; `ctx` valid for the call; the boxed host state it points to is
        // kept in `self` until after `close` returns.
        let status = unsafe { (self.vt().open)(self.this, &ctx) };
        self.open = true;
        self.guard.ok("open", status)
    }

    /// Stop producing; when this returns no plugin thread emits any more.
    pub fn close(&mut self) -> Result<()> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        let result = self.guard.check("close").and_then(|()| {
            // SAFETY: live instance.
            let status = unsafe { (self.vt().close)(self.this) };
            self.guard.ok("close", status)
        });
        if result.is_ok() {
            self.host = None;
        }
        result
    }
}

impl Drop for PluginSource {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(error = %e, "closing plugin source on drop failed");
        }
        // SAFETY: last call on the instance; the plugin library stays mapped meanwhile.
        unsafe { (self.vt().drop)(self.this) };
        if self.guard.poisoned.is_some() {
            // A source that panicked may still have threads holding our callback state: leak it
            // rather than risk a use after free.
            std::mem::forget(self.host.take());
        }
    }
}
