//! A plugin sink as a plain Rust object.
//!
//! [`PluginSink`] owns one plugin instance and the `Arc` of its library. Its methods mirror the
//! ABI one to one; records are `serde_json::Value` objects encoded as MessagePack on the way in.
//! A `PANIC` status (the SDK caught a panic inside the plugin) becomes
//! [`PluginError::Panicked`], and the instance is never called again except to drop it, so one
//! misbehaving plugin stops only the rule that uses it.

use std::ffi::c_void;
use std::sync::Arc;

use oort_plugin_abi::{BytesRef, SinkContext, SinkVTable, StrRef};
use serde_json::{Map, Value};

use crate::error::Result;
use crate::ffi::{self, CallOutcome, Guard};
use crate::loader::LoadedPlugin;

/// Callback receiving the non-fatal errors a sink reports.
pub type ErrorReporter = Arc<dyn Fn(&str) + Send + Sync>;

/// One instance of a plugin sink.
pub struct PluginSink {
    this: *mut c_void,
    vt: *const SinkVTable,
    guard: Guard,
    /// Host state behind `SinkContext::host`; must outlive the plugin's use of it (until `close`).
    reporter: Option<Box<ErrorReporter>>,
    rule_id: Option<Box<str>>,
    open: bool,
    plugin: Arc<LoadedPlugin>,
}

// SAFETY: the ABI says calls on one instance never overlap; `&mut self` on every method enforces
// that, and the instance may move between threads (SDK sinks are `Send`).
unsafe impl Send for PluginSink {}

impl std::fmt::Debug for PluginSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSink").field("plugin", &self.plugin.name()).field("sink", &self.guard.name).finish()
    }
}

impl LoadedPlugin {
    /// A new instance of the sink `name`.
    pub fn new_sink(self: &Arc<Self>, name: &str) -> Result<PluginSink> {
        let (this, vt) = self.instantiate(&self.sinks, "sink", name)?;
        Ok(PluginSink {
            this,
            vt,
            guard: Guard::new(self.name(), "sink", name),
            reporter: None,
            rule_id: None,
            open: false,
            plugin: self.clone(),
        })
    }
}

unsafe extern "C" fn report_error(host: *mut c_void, msg: StrRef) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: `host` is the `Box<ErrorReporter>` of a live PluginSink (kept until after
        // `close`); `msg` is valid for the call.
        let (reporter, msg) = unsafe { (&*(host as *const ErrorReporter), msg.as_bytes()) };
        reporter(&String::from_utf8_lossy(msg));
    });
}

impl PluginSink {
    fn vt(&self) -> &SinkVTable {
        // SAFETY: the vtable is a static of the library, kept mapped by `self.plugin`.
        unsafe { &*self.vt }
    }

    /// The plugin library this instance belongs to.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// Configure with the action's properties.
    pub fn configure(&mut self, props: &Map<String, Value>) -> Result<()> {
        self.guard.check("configure")?;
        let bytes = ffi::encode_props(props).map_err(|e| self.guard.codec("properties", e))?;
        // SAFETY: live instance, its own vtable, borrowed bytes valid for the call.
        let status = unsafe { (self.vt().configure)(self.this, BytesRef::new(&bytes)) };
        self.guard.ok("configure", status)
    }

    /// Connect. `on_error` receives the non-fatal errors the sink reports until `close`.
    pub fn open(&mut self, rule_id: &str, on_error: ErrorReporter) -> Result<()> {
        self.guard.check("open")?;
        let reporter = Box::new(on_error);
        let rule: Box<str> = rule_id.into();
        let ctx = SinkContext {
            size: size_of::<SinkContext>() as u32,
            rule_id: StrRef::new(&rule),
            host: &*reporter as *const ErrorReporter as *mut c_void,
            report_error,
        };
        self.reporter = Some(reporter);
        self.rule_id = Some(rule);
        // SAFETY: live instance; `ctx` valid for the call; its `host` (boxed, stored in self)
        // outlives the instance's use of it.
        let status = unsafe { (self.vt().open)(self.this, &ctx) };
        self.guard.ok("open", status)?;
        self.open = true;
        Ok(())
    }

    /// Backpressure: `false` while the sink wants no data.
    pub fn is_ready(&mut self) -> Result<bool> {
        self.guard.check("is_ready")?;
        // SAFETY: live instance, its own vtable.
        let status = unsafe { (self.vt().is_ready)(self.this) };
        Ok(self.guard.status("is_ready", status)? == CallOutcome::Ok)
    }

    /// Offer a batch of records (JSON objects). [`CallOutcome::Retry`]: the sink kept nothing;
    /// offer the same batch again later.
    pub fn collect(&mut self, batch: &[Value]) -> Result<CallOutcome> {
        let bytes = ffi::encode(batch).map_err(|e| self.guard.codec("batch", e))?;
        self.collect_encoded(&bytes)
    }

    /// [`PluginSink::collect`] with a batch already encoded as a MessagePack array of maps.
    pub fn collect_encoded(&mut self, batch: &[u8]) -> Result<CallOutcome> {
        self.guard.check("collect")?;
        // SAFETY: live instance, borrowed bytes valid for the call.
        let status = unsafe { (self.vt().collect)(self.this, BytesRef::new(batch)) };
        self.guard.status("collect", status)
    }

    /// Write out anything buffered.
    pub fn flush(&mut self) -> Result<()> {
        self.guard.check("flush")?;
        // SAFETY: live instance.
        let status = unsafe { (self.vt().flush)(self.this) };
        self.guard.ok("flush", status)
    }

    /// Shutdown is imminent.
    pub fn set_urgent(&mut self, exiting: bool) -> Result<()> {
        self.guard.check("set_urgent")?;
        // SAFETY: live instance.
        let status = unsafe { (self.vt().set_urgent)(self.this, exiting) };
        self.guard.ok("set_urgent", status)
    }

    /// Flush everything cached and disconnect.
    pub fn close(&mut self) -> Result<()> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        self.guard.check("close")?;
        // SAFETY: live instance.
        let status = unsafe { (self.vt().close)(self.this) };
        self.guard.ok("close", status)
    }
}

impl Drop for PluginSink {
    fn drop(&mut self) {
        if self.open
            && self.guard.poisoned.is_none()
            && let Err(e) = self.close()
        {
            tracing::warn!(error = %e, "closing plugin sink on drop failed");
        }
        // SAFETY: last call on the instance; the SDK catches panics in drop. `self.plugin` (a
        // field, dropped after this body) keeps the library mapped meanwhile.
        unsafe { (self.vt().drop)(self.this) };
    }
}
