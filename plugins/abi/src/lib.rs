//! Oort plugin interface, version 1: the only types that cross between the server and a plugin.
//!
//! A plugin is a `cdylib` loaded at run time. The server and the plugin may be built by different
//! rustc versions, with different dependency versions and different profiles, so nothing with a
//! Rust-specific layout crosses the boundary: only `#[repr(C)]` structs, fixed-width integers,
//! pointer + length pairs and `extern "C"` function pointers. Records cross as MessagePack bytes
//! (see [`ENCODING_MSGPACK`]). A buffer that one side allocates and the other side receives is an
//! [`OwnedBuf`] carrying its own `free`, so the two allocators never mix.
//!
//! The first thing the host reads is a *data* symbol, [`DECLARATION_SYMBOL`]
//! (`oort_plugin_declaration_v1`, a [`PluginDeclaration`]), together with [`ABI_MAJOR_SYMBOL`]
//! (`oort_plugin_abi_major`, a `u16`). Both are statics: the host validates the magic bytes, the
//! ABI major and minor, the struct size and the encodings *before any plugin function runs*, and
//! only then calls [`PluginDeclaration::init`], which hands back the factories of the plugin's
//! sources, sinks and functions. A future, incompatible ABI v2 uses the symbol
//! `oort_plugin_declaration_v2`; a v1 host reading `oort_plugin_abi_major == 2` can then say
//! "this plugin was built for v2" instead of "symbol not found".
//!
//! Growth rules. The ABI minor grows when fields are appended to a vtable or a context; every such
//! struct starts with a `size` field, so each side can tell which fields the other side knows.
//! Anything else is a new major with a new declaration symbol.
//!
//! Calling conventions shared by every vtable:
//! - `this` is the pointer returned by the factory's `new`; the host calls `drop` exactly once and
//!   nothing after it.
//! - Every call that can fail returns a [`Status`]; [`PANIC`] means the plugin caught a panic at the
//!   boundary (the SDK wraps every entry point in `catch_unwind`); the host then stops using the
//!   instance except to drop it.
//! - Borrowed data ([`StrRef`], [`BytesRef`]) is valid only for the duration of the call.
//!
//! Plugin authors never use this crate directly: they implement the safe traits of
//! `oort-plugin-sdk` and call its `export_plugin!` macro. The host side lives in `oort-plugin-host`.

#![no_std]

use core::ffi::c_void;

/// Magic bytes at the start of every declaration.
pub const OORT_MAGIC: [u8; 8] = *b"OORTPLG\0";
/// ABI major version spoken by this crate. A different major is refused.
pub const ABI_MAJOR: u16 = 1;
/// ABI minor version. A plugin built for a newer minor than the host knows is refused; an older
/// minor is accepted (vtables only grow at the end).
pub const ABI_MINOR: u16 = 0;

/// Name of the declaration symbol for [`ABI_MAJOR`].
pub const DECLARATION_SYMBOL: &str = "oort_plugin_declaration_v1";
/// Name of the `u16` symbol holding the ABI major the plugin was built for.
pub const ABI_MAJOR_SYMBOL: &str = "oort_plugin_abi_major";

/// Bit of [`PluginDeclaration::encodings`]: records are MessagePack (required in v1).
pub const ENCODING_MSGPACK: u32 = 1;
/// Bit of [`PluginDeclaration::encodings`]: records may also be JSON (optional, unused in v1).
pub const ENCODING_JSON: u32 = 2;

/// Status code: success. For `is_ready`: the sink is ready.
pub const OK: i32 = 0;
/// Status code: failure; the message says why.
pub const ERR: i32 = 1;
/// Status code: try again later (backpressure). From `emit`: the host queue is full. From
/// `collect`: the sink keeps nothing, the host keeps the batch. From `is_ready`: not ready.
pub const RETRY: i32 = 2;
/// Status code: the callee panicked; the panic was caught at the boundary.
pub const PANIC: i32 = 3;

/// Borrowed UTF-8 text, valid for the duration of the call (or `'static` in declarations).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StrRef {
    /// First byte; may dangle when `len == 0`.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrRef {
    /// A reference to static text (usable in `static` initializers).
    pub const fn from_static(s: &'static str) -> Self {
        StrRef { ptr: s.as_ptr(), len: s.len() }
    }

    /// A reference to `s`, valid while `s` is.
    pub fn new(s: &str) -> Self {
        StrRef { ptr: s.as_ptr(), len: s.len() }
    }

    /// The referenced bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid and unchanged for `'a`.
    pub unsafe fn as_bytes<'a>(&self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            return &[];
        }
        // SAFETY: guaranteed by the caller.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Borrowed bytes (MessagePack), valid for the duration of the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BytesRef {
    /// First byte; may dangle when `len == 0`.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl BytesRef {
    /// A reference to `b`, valid while `b` is.
    pub fn new(b: &[u8]) -> Self {
        BytesRef { ptr: b.as_ptr(), len: b.len() }
    }

    /// The referenced bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid and unchanged for `'a`.
    pub unsafe fn as_bytes<'a>(&self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            return &[];
        }
        // SAFETY: guaranteed by the caller.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Function releasing an [`OwnedBuf`]: `free(ptr, len, cap)`, provided by whoever allocated it.
pub type FreeFn = unsafe extern "C" fn(ptr: *mut u8, len: usize, cap: usize);

/// A buffer handed from one side to the other. The receiver reads `len` bytes at `ptr`, then calls
/// `free(ptr, len, cap)` exactly once (when `free` is `Some`).
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuf {
    /// First byte; null when empty.
    pub ptr: *mut u8,
    /// Number of initialized bytes.
    pub len: usize,
    /// Capacity, meaningful only to `free`.
    pub cap: usize,
    /// Releases the buffer; `None` for an empty buffer.
    pub free: Option<FreeFn>,
}

impl OwnedBuf {
    /// The empty buffer (nothing to free).
    pub const EMPTY: OwnedBuf = OwnedBuf { ptr: core::ptr::null_mut(), len: 0, cap: 0, free: None };
}

/// Result of a call: a code ([`OK`], [`ERR`], [`RETRY`], [`PANIC`]) and a UTF-8 message (may be empty).
#[repr(C)]
#[derive(Debug)]
pub struct Status {
    /// One of [`OK`], [`ERR`], [`RETRY`], [`PANIC`].
    pub code: i32,
    /// Why, for anything but [`OK`]; owned by the receiver.
    pub message: OwnedBuf,
}

impl Status {
    /// Success with no message.
    pub const OK: Status = Status { code: OK, message: OwnedBuf::EMPTY };
    /// Retry with no message.
    pub const RETRY: Status = Status { code: RETRY, message: OwnedBuf::EMPTY };
}

/// The one symbol the host reads first (`oort_plugin_declaration_v1`). A static, not a function:
/// nothing of the plugin runs before it is validated.
#[repr(C)]
pub struct PluginDeclaration {
    /// Must equal [`OORT_MAGIC`].
    pub magic: [u8; 8],
    /// Must equal the host's [`ABI_MAJOR`].
    pub abi_major: u16,
    /// Must be at most the host's [`ABI_MINOR`].
    pub abi_minor: u16,
    /// `size_of::<PluginDeclaration>()` as the plugin saw it.
    pub decl_size: u32,
    /// Plugin name, e.g. `random`.
    pub name: StrRef,
    /// Plugin semver, e.g. `1.0.0`, shown by `GET /plugins/...`.
    pub version: StrRef,
    /// Informational: the SDK version the plugin was built with. Never used for gating.
    pub sdk_version: StrRef,
    /// Bit set of `ENCODING_*`; [`ENCODING_MSGPACK`] is required.
    pub encodings: u32,
    /// Called once after validation; fills `out` with the plugin's factories.
    pub init: unsafe extern "C" fn(host: *const HostApi, out: *mut PluginExports) -> Status,
    /// Called once before the library is closed; must join every plugin thread.
    pub shutdown: unsafe extern "C" fn(),
}

/// Services the host offers to plugins (SQLite style: append-only, `size` first).
#[repr(C)]
pub struct HostApi {
    /// `size_of::<HostApi>()` as the host saw it.
    pub size: u32,
    /// Host ABI minor.
    pub abi_minor: u16,
    /// Log a message: level 1 error, 2 warn, 3 info, 4 debug, 5 trace.
    pub log: unsafe extern "C" fn(level: u8, target: StrRef, msg: StrRef),
}

/// What `init` hands back: arrays of factories, valid until `shutdown`.
#[repr(C)]
pub struct PluginExports {
    /// `size_of::<PluginExports>()` as the plugin saw it.
    pub size: u32,
    /// Source factories.
    pub sources: *const SourceFactory,
    /// Number of source factories.
    pub n_sources: usize,
    /// Sink factories.
    pub sinks: *const SinkFactory,
    /// Number of sink factories.
    pub n_sinks: usize,
    /// Function factories.
    pub functions: *const FunctionFactory,
    /// Number of function factories.
    pub n_functions: usize,
}

impl PluginExports {
    /// Nothing exported (what the host passes to `init` to be filled).
    pub const EMPTY: PluginExports = PluginExports {
        size: 0,
        sources: core::ptr::null(),
        n_sources: 0,
        sinks: core::ptr::null(),
        n_sinks: 0,
        functions: core::ptr::null(),
        n_functions: 0,
    };
}

/// Creates a source instance of one kind.
#[repr(C)]
pub struct SourceFactory {
    /// Source type name as used in `CREATE STREAM ... TYPE="name"`.
    pub name: StrRef,
    /// Allocates an instance; null on failure.
    pub new: unsafe extern "C" fn() -> *mut c_void,
    /// The instance's functions.
    pub vt: *const SourceVTable,
}

/// Creates a sink instance of one kind.
#[repr(C)]
pub struct SinkFactory {
    /// Sink name as used in a rule's `actions`.
    pub name: StrRef,
    /// Allocates an instance; null on failure.
    pub new: unsafe extern "C" fn() -> *mut c_void,
    /// The instance's functions.
    pub vt: *const SinkVTable,
}

/// Creates a function instance (one per call site in a rule).
#[repr(C)]
pub struct FunctionFactory {
    /// Function name as used in SQL.
    pub name: StrRef,
    /// Allocates an instance; null on failure.
    pub new: unsafe extern "C" fn() -> *mut c_void,
    /// The instance's functions.
    pub vt: *const FunctionVTable,
}

/// A source (eKuiper `Configure` / `Open` / `Close`). Calls on one instance never overlap.
#[repr(C)]
pub struct SourceVTable {
    /// `size_of::<SourceVTable>()` as the plugin saw it.
    pub size: u32,
    /// `datasource` is the stream's DATASOURCE; `props` a MessagePack map (the merged yaml section).
    pub configure: unsafe extern "C" fn(this: *mut c_void, datasource: StrRef, props: BytesRef) -> Status,
    /// Starts producing; the plugin owns its threads. The context's fields (not the pointer to it)
    /// stay valid until `close` returns; records are pushed with `ctx.emit`.
    pub open: unsafe extern "C" fn(this: *mut c_void, ctx: *const SourceContext) -> Status,
    /// Stops producing; returns only when no plugin thread will call `emit` again.
    pub close: unsafe extern "C" fn(this: *mut c_void) -> Status,
    /// Releases the instance.
    pub drop: unsafe extern "C" fn(this: *mut c_void),
}

/// Given to a source's `open`.
#[repr(C)]
pub struct SourceContext {
    /// `size_of::<SourceContext>()` as the host saw it.
    pub size: u32,
    /// Opaque host state; the functions below may be called from any thread.
    pub host: *mut c_void,
    /// The rule this instance serves.
    pub rule_id: StrRef,
    /// Push a MessagePack array of records (maps). [`RETRY`]: host queue full, back off and
    /// push the same batch again. [`ERR`]: the host is closing; stop.
    pub emit: unsafe extern "C" fn(host: *mut c_void, batch: BytesRef, event_time_ms: i64) -> Status,
    /// Report a non-fatal error (counted and shown in the rule status).
    pub emit_error: unsafe extern "C" fn(host: *mut c_void, msg: StrRef),
}

/// A sink (eKuiper `Configure` / `Open` / `Collect` / `Close`, plus iLogtail flusher semantics).
/// Calls on one instance never overlap.
#[repr(C)]
pub struct SinkVTable {
    /// `size_of::<SinkVTable>()` as the plugin saw it.
    pub size: u32,
    /// `props` is a MessagePack map (the action's properties).
    pub configure: unsafe extern "C" fn(this: *mut c_void, props: BytesRef) -> Status,
    /// Connects. The context's fields stay valid until `close` returns.
    pub open: unsafe extern "C" fn(this: *mut c_void, ctx: *const SinkContext) -> Status,
    /// Backpressure: [`OK`] ready, [`RETRY`] not ready (the host keeps data queued and polls again).
    /// (The design sketch had `bool`; a `Status` lets a panic be reported instead of hidden.)
    pub is_ready: unsafe extern "C" fn(this: *mut c_void) -> Status,
    /// A batch (MessagePack array of maps). The sink may buffer it. [`RETRY`]: the sink kept
    /// nothing of it, the host keeps the batch and offers it again later.
    pub collect: unsafe extern "C" fn(this: *mut c_void, batch: BytesRef) -> Status,
    /// Write out anything buffered (batch size reached, linger timer, ...).
    pub flush: unsafe extern "C" fn(this: *mut c_void) -> Status,
    /// Shutdown is imminent (`exiting`: the process exits). Relax `is_ready`, shorten lingering;
    /// more `collect` calls may follow.
    pub set_urgent: unsafe extern "C" fn(this: *mut c_void, exiting: bool) -> Status,
    /// Flush everything cached, release connections, join threads. Nothing accepted is lost.
    pub close: unsafe extern "C" fn(this: *mut c_void) -> Status,
    /// Releases the instance.
    pub drop: unsafe extern "C" fn(this: *mut c_void),
}

/// Given to a sink's `open`.
#[repr(C)]
pub struct SinkContext {
    /// `size_of::<SinkContext>()` as the host saw it.
    pub size: u32,
    /// The rule this instance serves.
    pub rule_id: StrRef,
    /// Opaque host state for `report_error`.
    pub host: *mut c_void,
    /// Report a non-fatal error (counted and shown in the rule status).
    pub report_error: unsafe extern "C" fn(host: *mut c_void, msg: StrRef),
}

/// A function (eKuiper `Validate` / `Exec` / `IsAggregate`). `exec` may be called concurrently
/// from several threads on one instance.
#[repr(C)]
pub struct FunctionVTable {
    /// `size_of::<FunctionVTable>()` as the plugin saw it.
    pub size: u32,
    /// At rule creation. `args`: MessagePack array of argument type names (`"bigint"`, `"float"`,
    /// `"string"`, `"boolean"`, `"datetime"`, `"bytea"`, `"array"`, `"struct"`, `"any"`).
    pub validate: unsafe extern "C" fn(this: *mut c_void, args: BytesRef) -> Status,
    /// Whether the function aggregates a group (then each argument is the array of the group's
    /// values). A panic reads as `false`.
    pub is_aggregate: unsafe extern "C" fn(this: *mut c_void) -> bool,
    /// `args`: MessagePack array of values. On [`OK`], `*out` holds the MessagePack result; on
    /// [`ERR`] the message is the SQL evaluation error.
    pub exec: unsafe extern "C" fn(
        this: *mut c_void,
        ctx: *const FunctionContext,
        args: BytesRef,
        out: *mut OwnedBuf,
    ) -> Status,
    /// Releases the instance.
    pub drop: unsafe extern "C" fn(this: *mut c_void),
}

/// Given to every `exec`.
#[repr(C)]
pub struct FunctionContext {
    /// `size_of::<FunctionContext>()` as the host saw it.
    pub size: u32,
    /// The rule evaluating the call.
    pub rule_id: StrRef,
    /// Which call site of the rule (several calls of one function in one rule differ here).
    pub func_id: u32,
}

// SAFETY: these structs hold only pointers to immutable `'static` data (names, vtables, factory
// arrays) and function pointers; sharing them between threads cannot race. They must be `Sync` to
// be placed in `static`s by the SDK.
unsafe impl Sync for PluginDeclaration {}
// SAFETY: as above.
unsafe impl Sync for SourceFactory {}
// SAFETY: as above.
unsafe impl Sync for SinkFactory {}
// SAFETY: as above.
unsafe impl Sync for FunctionFactory {}
// SAFETY: as above (the host's table holds only function pointers).
unsafe impl Sync for HostApi {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_stable_on_64_bit() {
        if core::mem::size_of::<usize>() == 8 {
            assert_eq!(core::mem::size_of::<StrRef>(), 16);
            assert_eq!(core::mem::size_of::<OwnedBuf>(), 32);
            assert_eq!(core::mem::size_of::<Status>(), 40);
            assert_eq!(core::mem::size_of::<PluginDeclaration>(), 88);
            assert_eq!(core::mem::offset_of!(PluginDeclaration, decl_size), 12);
            assert_eq!(core::mem::offset_of!(PluginDeclaration, init), 72);
            assert_eq!(core::mem::offset_of!(PluginDeclaration, abi_major), 8);
        }
    }
}
