//! The `extern "C"` side of the SDK: the generic shims behind every vtable entry, the declaration
//! constructor used by `export_plugin!`, and the host callbacks wrapped as safe functions.
//!
//! Every shim follows one pattern: turn the borrowed ABI arguments into owned Rust values
//! (MessagePack → [`serde_json::Value`]), call the trait method under `catch_unwind`, and turn the
//! outcome into a [`Status`] whose message buffer carries this library's own `free`.

use std::any::Any;
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use oort_plugin_abi::{
    ABI_MAJOR, ABI_MINOR, BytesRef, ENCODING_MSGPACK, ERR, FunctionFactory, FunctionVTable, HostApi, OK, OORT_MAGIC,
    OwnedBuf, PANIC, PluginDeclaration, PluginExports, RETRY, SinkContext as AbiSinkContext, SinkFactory, SinkVTable,
    SourceContext as AbiSourceContext, SourceFactory, SourceVTable, Status, StrRef,
};

use crate::{EmitError, Error, Function, Props, Record, Sink, SinkContext, Source, SourceContext, Value};

/// What `export_plugin!` declares: the factory arrays of one plugin.
pub trait PluginSpec {
    /// Source factories.
    fn sources() -> &'static [SourceFactory];
    /// Sink factories.
    fn sinks() -> &'static [SinkFactory];
    /// Function factories.
    fn functions() -> &'static [FunctionFactory];
}

/// The declaration of a plugin described by `S`.
pub const fn declaration<S: PluginSpec>(name: &'static str, version: &'static str) -> PluginDeclaration {
    PluginDeclaration {
        magic: OORT_MAGIC,
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        decl_size: size_of::<PluginDeclaration>() as u32,
        name: StrRef::from_static(name),
        version: StrRef::from_static(version),
        sdk_version: StrRef::from_static(crate::__private::SDK_VERSION),
        encodings: ENCODING_MSGPACK,
        init: init::<S>,
        shutdown,
    }
}

/// A declaration claiming `abi_major`, whose `init` aborts the process (tests only).
pub const fn fixture_declaration(name: &'static str, abi_major: u16) -> PluginDeclaration {
    PluginDeclaration {
        magic: OORT_MAGIC,
        abi_major,
        abi_minor: 0,
        decl_size: size_of::<PluginDeclaration>() as u32,
        name: StrRef::from_static(name),
        version: StrRef::from_static("0.0.0"),
        sdk_version: StrRef::from_static(crate::__private::SDK_VERSION),
        encodings: ENCODING_MSGPACK,
        init: abort_init,
        shutdown,
    }
}

extern "C" fn abort_init(_host: *const HostApi, _out: *mut PluginExports) -> Status {
    eprintln!("oort plugin fixture: init called on a plugin the host should have refused");
    std::process::abort()
}

/// The host's log function, recorded by `init`.
static HOST_LOG: OnceLock<unsafe extern "C" fn(u8, StrRef, StrRef)> = OnceLock::new();

unsafe extern "C" fn init<S: PluginSpec>(host: *const HostApi, out: *mut PluginExports) -> Status {
    guard(|| {
        if !host.is_null() {
            // SAFETY: the host passes a pointer to its `'static` HostApi table (or null).
            let host = unsafe { &*host };
            let _ = HOST_LOG.set(host.log);
        }
        if out.is_null() {
            return Err(Error::msg("init: null exports pointer"));
        }
        let (sources, sinks, functions) = (S::sources(), S::sinks(), S::functions());
        let exports = PluginExports {
            size: size_of::<PluginExports>() as u32,
            sources: sources.as_ptr(),
            n_sources: sources.len(),
            sinks: sinks.as_ptr(),
            n_sinks: sinks.len(),
            functions: functions.as_ptr(),
            n_functions: functions.len(),
        };
        // SAFETY: checked non-null above; the host passes a writable PluginExports.
        unsafe { out.write(exports) };
        Ok(())
    })
}

extern "C" fn shutdown() {}

// ---------------------------------------------------------------------------------------------
// Buffers, statuses, panics

unsafe extern "C" fn free_vec(ptr: *mut u8, len: usize, cap: usize) {
    if !ptr.is_null() {
        // SAFETY: (ptr, len, cap) come from a Vec<u8> of this library leaked by `owned_buf`.
        drop(unsafe { Vec::from_raw_parts(ptr, len, cap) });
    }
}

/// Hand `bytes` to the host; it calls our `free` when done.
pub fn owned_buf(bytes: Vec<u8>) -> OwnedBuf {
    if bytes.capacity() == 0 {
        return OwnedBuf::EMPTY;
    }
    let mut bytes = ManuallyDrop::new(bytes);
    OwnedBuf { ptr: bytes.as_mut_ptr(), len: bytes.len(), cap: bytes.capacity(), free: Some(free_vec) }
}

fn status(code: i32, message: &str) -> Status {
    Status { code, message: owned_buf(message.as_bytes().to_vec()) }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string());
    format!("plugin panicked: {text}")
}

/// Run `f` with panics caught; map its outcome to a [`Status`].
fn guard(f: impl FnOnce() -> Result<(), Error>) -> Status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Status::OK,
        Ok(Err(Error::Retry(m))) => status(RETRY, &m),
        Ok(Err(Error::Failed(m))) => status(ERR, &m),
        Err(payload) => status(PANIC, &panic_message(payload.as_ref())),
    }
}

fn text<'a>(s: StrRef) -> Result<&'a str, Error> {
    // SAFETY: the host passes text valid for the duration of the call; the result does not outlive it.
    let bytes = unsafe { s.as_bytes() };
    std::str::from_utf8(bytes).map_err(|e| Error::msg(format!("invalid UTF-8 from host: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(b: BytesRef, what: &str) -> Result<T, Error> {
    // SAFETY: the host passes bytes valid for the duration of the call.
    let bytes = unsafe { b.as_bytes() };
    rmp_serde::from_slice(bytes).map_err(|e| Error::msg(format!("cannot decode {what} (MessagePack): {e}")))
}

fn decode_props(b: BytesRef) -> Result<Props, Error> {
    if b.len == 0 {
        return Ok(Props::new());
    }
    decode(b, "properties")
}

/// # Safety
/// `this` must be a live instance created by the matching `*_new::<T>`.
unsafe fn instance<'a, T>(this: *mut c_void) -> &'a mut T {
    // SAFETY: guaranteed by the caller (the host passes back the pointer our factory returned,
    // and never overlaps calls on one instance, except `exec`, which only takes `&T`).
    unsafe { &mut *(this as *mut T) }
}

fn new_instance<T: Default>() -> *mut c_void {
    catch_unwind(|| Box::into_raw(Box::<T>::default()) as *mut c_void).unwrap_or(std::ptr::null_mut())
}

/// # Safety
/// `this` must come from `new_instance::<T>` and not be used afterwards.
unsafe fn drop_instance<T>(this: *mut c_void) {
    if this.is_null() {
        return;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: guaranteed by the caller: `this` is a Box<T> leaked by `new_instance`.
        drop(unsafe { Box::from_raw(this as *mut T) })
    }));
    if let Err(p) = result {
        host_log(1, &format!("{} while dropping an instance", panic_message(p.as_ref())));
    }
}

// ---------------------------------------------------------------------------------------------
// Source shims

/// Factory shim for a [`Source`].
pub extern "C" fn source_new<T: Source>() -> *mut c_void {
    new_instance::<T>()
}

unsafe extern "C" fn source_configure<T: Source>(this: *mut c_void, datasource: StrRef, props: BytesRef) -> Status {
    guard(|| {
        let datasource = text(datasource)?;
        let props = decode_props(props)?;
        // SAFETY: vtable contract.
        unsafe { instance::<T>(this) }.configure(datasource, &props)
    })
}

unsafe extern "C" fn source_open<T: Source>(this: *mut c_void, ctx: *const AbiSourceContext) -> Status {
    guard(|| {
        if ctx.is_null() {
            return Err(Error::msg("open: null context"));
        }
        // SAFETY: the host passes a valid context for the duration of the call.
        let ctx = unsafe { &*ctx };
        let ctx = SourceContext {
            host: ctx.host,
            rule_id: text(ctx.rule_id)?.to_string(),
            emit: ctx.emit,
            emit_error: ctx.emit_error,
        };
        // SAFETY: vtable contract.
        unsafe { instance::<T>(this) }.open(ctx)
    })
}

unsafe extern "C" fn source_close<T: Source>(this: *mut c_void) -> Status {
    // SAFETY: vtable contract.
    guard(|| unsafe { instance::<T>(this) }.close())
}

unsafe extern "C" fn source_drop<T: Source>(this: *mut c_void) {
    // SAFETY: vtable contract: `drop` is the last call on `this`.
    unsafe { drop_instance::<T>(this) }
}

/// The vtable of source type `T`.
pub const fn source_vtable<T: Source>() -> SourceVTable {
    SourceVTable {
        size: size_of::<SourceVTable>() as u32,
        configure: source_configure::<T>,
        open: source_open::<T>,
        close: source_close::<T>,
        drop: source_drop::<T>,
    }
}

pub(crate) fn emit(ctx: &SourceContext, batch: &[Record], event_time_ms: i64) -> Result<(), EmitError> {
    let bytes = rmp_serde::to_vec_named(batch).map_err(|e| EmitError::Closed(format!("cannot encode batch: {e}")))?;
    // SAFETY: the host keeps `emit` and its state valid until `close` returns, callable from any thread.
    let status = unsafe { (ctx.emit)(ctx.host, BytesRef::new(&bytes), event_time_ms) };
    let (code, message) = take_status(status);
    match code {
        OK => Ok(()),
        RETRY => Err(EmitError::Retry),
        _ => Err(EmitError::Closed(message)),
    }
}

pub(crate) fn emit_error(ctx: &SourceContext, message: &str) {
    // SAFETY: as for `emit`.
    unsafe { (ctx.emit_error)(ctx.host, StrRef::new(message)) }
}

/// Read and release a status handed to us by the host.
fn take_status(status: Status) -> (i32, String) {
    let buf = status.message;
    let message = if buf.ptr.is_null() || buf.len == 0 {
        String::new()
    } else {
        // SAFETY: the host's buffer holds `len` bytes until we call its `free`.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }).into_owned()
    };
    if let Some(free) = buf.free {
        // SAFETY: called once, with the values the host gave us.
        unsafe { free(buf.ptr, buf.len, buf.cap) }
    }
    (status.code, message)
}

// ---------------------------------------------------------------------------------------------
// Sink shims

/// Factory shim for a [`Sink`].
pub extern "C" fn sink_new<T: Sink>() -> *mut c_void {
    new_instance::<T>()
}

unsafe extern "C" fn sink_configure<T: Sink>(this: *mut c_void, props: BytesRef) -> Status {
    guard(|| {
        let props = decode_props(props)?;
        // SAFETY: vtable contract.
        unsafe { instance::<T>(this) }.configure(&props)
    })
}

unsafe extern "C" fn sink_open<T: Sink>(this: *mut c_void, ctx: *const AbiSinkContext) -> Status {
    guard(|| {
        if ctx.is_null() {
            return Err(Error::msg("open: null context"));
        }
        // SAFETY: the host passes a valid context for the duration of the call.
        let ctx = unsafe { &*ctx };
        let ctx =
            SinkContext { host: ctx.host, rule_id: text(ctx.rule_id)?.to_string(), report_error: ctx.report_error };
        // SAFETY: vtable contract.
        unsafe { instance::<T>(this) }.open(ctx)
    })
}

unsafe extern "C" fn sink_is_ready<T: Sink>(this: *mut c_void) -> Status {
    guard(|| {
        // SAFETY: vtable contract.
        if unsafe { instance::<T>(this) }.is_ready() { Ok(()) } else { Err(Error::retry("not ready")) }
    })
}

unsafe extern "C" fn sink_collect<T: Sink>(this: *mut c_void, batch: BytesRef) -> Status {
    guard(|| {
        let batch: Vec<Record> = decode(batch, "batch")?;
        // SAFETY: vtable contract.
        unsafe { instance::<T>(this) }.collect(batch)
    })
}

unsafe extern "C" fn sink_flush<T: Sink>(this: *mut c_void) -> Status {
    // SAFETY: vtable contract.
    guard(|| unsafe { instance::<T>(this) }.flush())
}

unsafe extern "C" fn sink_set_urgent<T: Sink>(this: *mut c_void, exiting: bool) -> Status {
    guard(|| {
        // SAFETY: vtable contract.
        unsafe { instance::<T>(this) }.set_urgent(exiting);
        Ok(())
    })
}

unsafe extern "C" fn sink_close<T: Sink>(this: *mut c_void) -> Status {
    // SAFETY: vtable contract.
    guard(|| unsafe { instance::<T>(this) }.close())
}

unsafe extern "C" fn sink_drop<T: Sink>(this: *mut c_void) {
    // SAFETY: vtable contract: `drop` is the last call on `this`.
    unsafe { drop_instance::<T>(this) }
}

/// The vtable of sink type `T`.
pub const fn sink_vtable<T: Sink>() -> SinkVTable {
    SinkVTable {
        size: size_of::<SinkVTable>() as u32,
        configure: sink_configure::<T>,
        open: sink_open::<T>,
        is_ready: sink_is_ready::<T>,
        collect: sink_collect::<T>,
        flush: sink_flush::<T>,
        set_urgent: sink_set_urgent::<T>,
        close: sink_close::<T>,
        drop: sink_drop::<T>,
    }
}

pub(crate) fn sink_report_error(ctx: &SinkContext, message: &str) {
    // SAFETY: the host keeps `report_error` and its state valid until `close` returns.
    unsafe { (ctx.report_error)(ctx.host, StrRef::new(message)) }
}

// ---------------------------------------------------------------------------------------------
// Function shims

/// Factory shim for a [`Function`].
pub extern "C" fn function_new<T: Function>() -> *mut c_void {
    new_instance::<T>()
}

/// # Safety
/// `this` must be a live instance of `T`; shared access only.
unsafe fn shared<'a, T>(this: *mut c_void) -> &'a T {
    // SAFETY: guaranteed by the caller.
    unsafe { &*(this as *const T) }
}

unsafe extern "C" fn function_validate<T: Function>(this: *mut c_void, args: BytesRef) -> Status {
    guard(|| {
        let types: Vec<String> = decode(args, "argument types")?;
        // SAFETY: vtable contract.
        unsafe { shared::<T>(this) }.validate(&types)
    })
}

unsafe extern "C" fn function_is_aggregate<T: Function>(this: *mut c_void) -> bool {
    // SAFETY: vtable contract.
    catch_unwind(AssertUnwindSafe(|| unsafe { shared::<T>(this) }.is_aggregate())).unwrap_or(false)
}

unsafe extern "C" fn function_exec<T: Function>(
    this: *mut c_void,
    _ctx: *const oort_plugin_abi::FunctionContext,
    args: BytesRef,
    out: *mut OwnedBuf,
) -> Status {
    guard(|| {
        let args: Vec<Value> = decode(args, "arguments")?;
        // SAFETY: vtable contract.
        let result = unsafe { shared::<T>(this) }.exec(args)?;
        let bytes = rmp_serde::to_vec_named(&result).map_err(|e| Error::msg(format!("cannot encode result: {e}")))?;
        if out.is_null() {
            return Err(Error::msg("exec: null output pointer"));
        }
        // SAFETY: checked non-null; the host passes a writable OwnedBuf.
        unsafe { out.write(owned_buf(bytes)) };
        Ok(())
    })
}

unsafe extern "C" fn function_drop<T: Function>(this: *mut c_void) {
    // SAFETY: vtable contract: `drop` is the last call on `this`.
    unsafe { drop_instance::<T>(this) }
}

/// The vtable of function type `T`.
pub const fn function_vtable<T: Function>() -> FunctionVTable {
    FunctionVTable {
        size: size_of::<FunctionVTable>() as u32,
        validate: function_validate::<T>,
        is_aggregate: function_is_aggregate::<T>,
        exec: function_exec::<T>,
        drop: function_drop::<T>,
    }
}

// ---------------------------------------------------------------------------------------------
// Host services

pub(crate) fn host_log(level: u8, message: &str) {
    match HOST_LOG.get() {
        // SAFETY: the host's log function is valid for the life of the library.
        Some(log) => unsafe { log(level, StrRef::from_static("plugin"), StrRef::new(message)) },
        None => eprintln!("[plugin] {message}"),
    }
}
