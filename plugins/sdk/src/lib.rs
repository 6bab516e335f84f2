//! Write Oort plugins in safe Rust.
//!
//! A plugin is a `cdylib` crate that implements one or more of [`Source`], [`Sink`] and
//! [`Function`] and ends with one [`export_plugin!`] call:
//!
//! ```ignore
//! #[derive(Default)]
//! struct Echo;
//! impl oort_plugin_sdk::Function for Echo {
//!     fn exec(&self, args: Vec<Value>) -> oort_plugin_sdk::Result<Value> {
//!         Ok(args.into_iter().next().unwrap_or(Value::Null))
//!     }
//! }
//! oort_plugin_sdk::export_plugin! {
//!     name: "echo",
//!     version: env!("CARGO_PKG_VERSION"),
//!     functions: ["echo" => Echo],
//! }
//! ```
//!
//! The macro generates everything the server reads through plugin interface v1 (crate
//! `oort-plugin-abi`): the `oort_plugin_declaration_v1` and `oort_plugin_abi_major` statics, one
//! vtable per exported type, and the `extern "C"` shims behind them. The shims
//! - decode MessagePack arguments into [`serde_json::Value`]s ([`Record`] for rows, [`Props`] for
//!   configuration) and encode results back, so no Rust type crosses the boundary and the plugin
//!   may be built by another rustc with other dependency versions;
//! - run every entry point under `catch_unwind`: a panic becomes a `PANIC` status carrying the
//!   panic message, which the server turns into an error of the one rule using the instance
//!   (a panic escaping `extern "C"` would abort the whole server). Plugins must therefore be built
//!   with `panic = "unwind"` (the default);
//! - hand buffers to the host with their own `free`, so the two allocators never mix.
//!
//! Plugin authors write no `unsafe`: the only unsafe code is in this crate's internals (the `ffi`
//! module and the `Send`/`Sync` impls of the contexts), each block with its safety argument.

mod ffi;

use std::ffi::c_void;
use std::fmt;

pub use serde_json::{Map, Value};

#[doc(hidden)]
pub mod __private {
    pub use crate::ffi::*;
    pub use oort_plugin_abi as abi;
    /// Version of this SDK, recorded (informationally) in each declaration.
    pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
}

/// One row: a map from column name to value.
pub type Record = Map<String, Value>;
/// Configuration properties: a map from key to value (a yaml section, a rule action's properties).
pub type Props = Map<String, Value>;

/// What a plugin call answers when it does not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Backpressure: not now, try again later. From [`Sink::collect`]: the sink kept nothing of the
    /// batch, the host keeps it and offers it again.
    Retry(String),
    /// A failure, with its message.
    Failed(String),
}

impl Error {
    /// A failure with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::Failed(message.to_string())
    }

    /// A "try again later" answer with this reason.
    pub fn retry(reason: impl fmt::Display) -> Self {
        Error::Retry(reason.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Retry(m) => write!(f, "retry later: {m}"),
            Error::Failed(m) => f.write_str(m),
        }
    }
}

/// Any standard error converts into [`Error::Failed`], so `?` works on I/O, parsing, drivers, ...
impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(e: E) -> Self {
        Error::Failed(e.to_string())
    }
}

/// Result of plugin calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A source (eKuiper's `api.Source`). One instance serves one rule; calls never overlap.
///
/// `open` starts producing and returns; the source owns its threads and pushes batches with
/// [`SourceContext::emit`] from any of them. `close` stops them and returns only when none will
/// emit again.
pub trait Source: Default + Send + 'static {
    /// `datasource` is the stream's `DATASOURCE`; `props` the merged configuration section.
    fn configure(&mut self, datasource: &str, props: &Props) -> Result<()>;
    /// Start producing.
    fn open(&mut self, ctx: SourceContext) -> Result<()>;
    /// Stop producing and join every thread that could still emit.
    fn close(&mut self) -> Result<()>;
}

/// A sink (eKuiper's `api.Sink`, with iLogtail flusher semantics). One instance serves one rule;
/// calls never overlap.
pub trait Sink: Default + Send + 'static {
    /// `props` are the action's properties.
    fn configure(&mut self, props: &Props) -> Result<()>;
    /// Connect.
    fn open(&mut self, _ctx: SinkContext) -> Result<()> {
        Ok(())
    }
    /// Backpressure: while false the host keeps data queued (bounded) and the rule slows down.
    fn is_ready(&mut self) -> bool {
        true
    }
    /// Take a batch (may buffer it). `Err(Error::Retry(..))` means the sink kept nothing of it and
    /// the host will offer the same batch again.
    fn collect(&mut self, batch: Vec<Record>) -> Result<()>;
    /// Write out anything buffered.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    /// Shutdown is imminent (`exiting`: the process exits): stop waiting, stop lingering.
    fn set_urgent(&mut self, _exiting: bool) {}
    /// Flush everything cached and release resources. Nothing accepted may be lost.
    fn close(&mut self) -> Result<()>;
}

/// A SQL function (eKuiper's `api.Function`). One instance per call site in a rule; `exec` may be
/// called from several threads at once.
pub trait Function: Default + Send + Sync + 'static {
    /// At rule creation: accept or refuse these argument types (`"bigint"`, `"float"`,
    /// `"string"`, `"boolean"`, `"datetime"`, `"bytea"`, `"array"`, `"struct"`, `"any"`).
    fn validate(&self, _arg_types: &[String]) -> Result<()> {
        Ok(())
    }
    /// Whether this aggregates a group; then each argument is the array of the group's values.
    fn is_aggregate(&self) -> bool {
        false
    }
    /// Evaluate. An error becomes the SQL evaluation error of the row (or group).
    fn exec(&self, args: Vec<Value>) -> Result<Value>;
}

/// Why [`SourceContext::emit`] did not take a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitError {
    /// The host queue is full: back off and emit the same batch again.
    Retry,
    /// The host is closing or refused the batch; stop emitting.
    Closed(String),
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::Retry => f.write_str("host queue full, retry later"),
            EmitError::Closed(m) => write!(f, "host refused the batch: {m}"),
        }
    }
}

impl std::error::Error for EmitError {}

/// Handed to [`Source::open`]; clone it into the source's threads. Valid until `close` returns.
#[derive(Clone)]
pub struct SourceContext {
    pub(crate) host: *mut c_void,
    pub(crate) rule_id: String,
    pub(crate) emit: unsafe extern "C" fn(*mut c_void, oort_plugin_abi::BytesRef, i64) -> oort_plugin_abi::Status,
    pub(crate) emit_error: unsafe extern "C" fn(*mut c_void, oort_plugin_abi::StrRef),
}

// SAFETY: the ABI requires the host's `emit`/`emit_error` and their `host` state to be callable
// from any thread until `close` returns; the context holds nothing else but an owned String.
unsafe impl Send for SourceContext {}
// SAFETY: as above; every method takes `&self` and only calls those thread-safe host functions.
unsafe impl Sync for SourceContext {}

impl SourceContext {
    /// The rule this source instance serves.
    pub fn rule_id(&self) -> &str {
        &self.rule_id
    }

    /// Push a batch stamped with the current wall-clock time.
    pub fn emit(&self, batch: &[Record]) -> Result<(), EmitError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        self.emit_at(batch, now)
    }

    /// Push a batch with an explicit event time (milliseconds since the epoch).
    pub fn emit_at(&self, batch: &[Record], event_time_ms: i64) -> Result<(), EmitError> {
        ffi::emit(self, batch, event_time_ms)
    }

    /// Report a non-fatal error (counted in the rule status).
    pub fn report_error(&self, message: &str) {
        ffi::emit_error(self, message)
    }
}

/// Handed to [`Sink::open`].
pub struct SinkContext {
    pub(crate) host: *mut c_void,
    pub(crate) rule_id: String,
    pub(crate) report_error: unsafe extern "C" fn(*mut c_void, oort_plugin_abi::StrRef),
}

// SAFETY: the host's `report_error` and its state are valid until the sink's `close` returns and
// may be called from the sink's threads.
unsafe impl Send for SinkContext {}

impl SinkContext {
    /// The rule this sink instance serves.
    pub fn rule_id(&self) -> &str {
        &self.rule_id
    }

    /// Report a non-fatal error (counted in the rule status).
    pub fn report_error(&self, message: &str) {
        ffi::sink_report_error(self, message)
    }
}

/// Log through the server's logger (level 1 error, 2 warn, 3 info, 4 debug, 5 trace).
pub fn log(level: u8, message: &str) {
    ffi::host_log(level, message)
}

/// Generates the plugin's declaration, vtables and `extern "C"` entry points.
///
/// ```ignore
/// oort_plugin_sdk::export_plugin! {
///     name: "file",                          // plugin name
///     version: env!("CARGO_PKG_VERSION"),    // plugin semver
///     sources: ["random" => RandomSource],   // optional: SQL source type => type implementing Source
///     sinks: ["file" => FileSink],           // optional: action name => type implementing Sink
///     functions: ["echo" => Echo],           // optional: SQL function name => type implementing Function
/// }
/// ```
/// Exported types must implement `Default` (the factory) and be listed at most once per name.
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        version: $version:expr
        $(, sources: [$($sname:literal => $sty:ty),* $(,)?])?
        $(, sinks: [$($kname:literal => $kty:ty),* $(,)?])?
        $(, functions: [$($fname:literal => $fty:ty),* $(,)?])?
        $(,)?
    ) => {
        #[doc(hidden)]
        pub struct __OortPluginSpec;

        impl $crate::__private::PluginSpec for __OortPluginSpec {
            fn sources() -> &'static [$crate::__private::abi::SourceFactory] {
                static SOURCES: &[$crate::__private::abi::SourceFactory] = &[$($({
                    static VT: $crate::__private::abi::SourceVTable = $crate::__private::source_vtable::<$sty>();
                    $crate::__private::abi::SourceFactory {
                        name: $crate::__private::abi::StrRef::from_static($sname),
                        new: $crate::__private::source_new::<$sty>,
                        vt: &VT,
                    }
                }),*)?];
                SOURCES
            }
            fn sinks() -> &'static [$crate::__private::abi::SinkFactory] {
                static SINKS: &[$crate::__private::abi::SinkFactory] = &[$($({
                    static VT: $crate::__private::abi::SinkVTable = $crate::__private::sink_vtable::<$kty>();
                    $crate::__private::abi::SinkFactory {
                        name: $crate::__private::abi::StrRef::from_static($kname),
                        new: $crate::__private::sink_new::<$kty>,
                        vt: &VT,
                    }
                }),*)?];
                SINKS
            }
            fn functions() -> &'static [$crate::__private::abi::FunctionFactory] {
                static FUNCTIONS: &[$crate::__private::abi::FunctionFactory] = &[$($({
                    static VT: $crate::__private::abi::FunctionVTable =
                        $crate::__private::function_vtable::<$fty>();
                    $crate::__private::abi::FunctionFactory {
                        name: $crate::__private::abi::StrRef::from_static($fname),
                        new: $crate::__private::function_new::<$fty>,
                        vt: &VT,
                    }
                }),*)?];
                FUNCTIONS
            }
        }

        /// Plugin interface v1 declaration, read by the server before any plugin code runs.
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static oort_plugin_declaration_v1: $crate::__private::abi::PluginDeclaration =
            $crate::__private::declaration::<__OortPluginSpec>($name, $version);

        /// The plugin interface major version this plugin was built for.
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static oort_plugin_abi_major: u16 = $crate::__private::abi::ABI_MAJOR;
    };
}

/// Test fixture only: exports a declaration that claims plugin interface `abi_major` and whose
/// `init` aborts the process, so a test proves the host refuses it without running plugin code.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_abi_fixture {
    (name: $name:expr, abi_major: $major:expr $(,)?) => {
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static oort_plugin_declaration_v1: $crate::__private::abi::PluginDeclaration =
            $crate::__private::fixture_declaration($name, $major);

        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static oort_plugin_abi_major: u16 = $major;
    };
}
