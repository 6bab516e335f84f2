//! A plugin function as a plain Rust object: `validate` at rule creation, `exec` per row (or,
//! for aggregates, per group with each argument the array of the group's values).
//!
//! `exec` takes `&self` and may run on several threads at once (the ABI allows it; the SDK
//! requires `Function: Sync`). A panic poisons the instance: later calls fail without entering
//! the plugin.

use std::ffi::c_void;
use std::sync::{Arc, Mutex};

use oort_plugin_abi::{BytesRef, FunctionContext, FunctionVTable, OwnedBuf, StrRef};
use serde_json::Value;

use crate::error::Result;
use crate::ffi::{self, Guard};
use crate::loader::LoadedPlugin;

/// One instance of a plugin function (one per call site in a rule).
pub struct PluginFunction {
    this: *mut c_void,
    vt: *const FunctionVTable,
    name: String,
    aggregate: bool,
    guard: Mutex<Guard>,
    plugin: Arc<LoadedPlugin>,
}

// SAFETY: the ABI allows concurrent `exec` on one instance (SDK functions are `Send + Sync`);
// the poison state is behind a Mutex.
unsafe impl Send for PluginFunction {}
// SAFETY: as above.
unsafe impl Sync for PluginFunction {}

impl std::fmt::Debug for PluginFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginFunction").field("plugin", &self.plugin.name()).field("function", &self.name).finish()
    }
}

impl LoadedPlugin {
    /// A new instance of the function `name`.
    pub fn new_function(self: &Arc<Self>, name: &str) -> Result<PluginFunction> {
        let (this, vt) = self.instantiate(&self.functions, "function", name)?;
        // SAFETY: live instance and its vtable (a static of the library).
        let aggregate = unsafe { ((*vt).is_aggregate)(this) };
        Ok(PluginFunction {
            this,
            vt,
            name: name.into(),
            aggregate,
            guard: Mutex::new(Guard::new(self.name(), "function", name)),
            plugin: self.clone(),
        })
    }
}

impl PluginFunction {
    fn vt(&self) -> &FunctionVTable {
        // SAFETY: the vtable is a static of the library, kept mapped by `self.plugin`.
        unsafe { &*self.vt }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, Guard> {
        self.guard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The SQL name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin library this instance belongs to.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// Whether the function aggregates a group.
    pub fn is_aggregate(&self) -> bool {
        self.aggregate
    }

    /// Accept or refuse these argument types at rule creation.
    pub fn validate(&self, arg_types: &[&str]) -> Result<()> {
        self.guard().check("validate")?;
        let bytes = ffi::encode(arg_types).map_err(|e| self.guard().codec("argument types", e))?;
        // SAFETY: live instance; borrowed bytes valid for the call.
        let status = unsafe { (self.vt().validate)(self.this, BytesRef::new(&bytes)) };
        self.guard().ok("validate", status)
    }

    /// Evaluate on `args`. `rule_id` and `func_id` identify the call site.
    pub fn exec(&self, rule_id: &str, func_id: u32, args: &[Value]) -> Result<Value> {
        self.guard().check("exec")?;
        let bytes = ffi::encode(args).map_err(|e| self.guard().codec("arguments", e))?;
        let ctx = FunctionContext { size: size_of::<FunctionContext>() as u32, rule_id: StrRef::new(rule_id), func_id };
        let mut out = OwnedBuf::EMPTY;
        // SAFETY: live instance; `ctx`, the argument bytes and `out` are valid for the call;
        // concurrent `exec` calls are allowed by the ABI.
        let status = unsafe { (self.vt().exec)(self.this, &ctx, BytesRef::new(&bytes), &mut out) };
        let result = ffi::take_buf(out);
        self.guard().ok("exec", status)?;
        ffi::decode(&result).map_err(|e| self.guard().codec("result", e))
    }
}

impl Drop for PluginFunction {
    fn drop(&mut self) {
        // SAFETY: last call on the instance; `self.plugin` keeps the library mapped meanwhile.
        unsafe { (self.vt().drop)(self.this) };
    }
}
