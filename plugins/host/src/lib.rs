//! The server side of Oort plugins: load a plugin library, check it, and expose its sources,
//! sinks and functions as plain Rust objects.
//!
//! - [`Loader`] copies each file to a path never used before and `dlopen`s the copy, so a new
//!   version of a plugin is really new code, loaded beside the old one (hot reload without a
//!   server restart). It validates the declaration static — magic, ABI major and minor, size,
//!   encodings — before calling any plugin code, and refuses with a [`PluginError`] that names
//!   both versions when the ABI differs.
//! - [`LoadedPlugin`] is shared as an `Arc` by every instance made from it ([`PluginSource`],
//!   [`PluginSink`], [`PluginFunction`]), so the library stays mapped while any rule uses it.
//! - The adapters convert records between `serde_json::Value` and MessagePack, and turn a plugin
//!   panic (caught by the SDK inside the plugin) into [`PluginError::Panicked`]: it fails the one
//!   rule that uses the instance, never the server.
//! - [`SinkDriver`] implements the sink delivery semantics shared by plugin and built-in sinks:
//!   bounded queue while `is_ready` is false, retry keeps the batch, batch size / linger drive
//!   flush, and shutdown is `set_urgent(true)` then `close` with nothing accepted lost.
//! - [`PluginRegistry`] maps (kind, name) to the current version for new rules.

mod driver;
mod error;
mod ffi;
mod function;
mod loader;
mod package;
mod registry;
mod sink;
mod source;

pub use driver::{DriverConfig, DriverSink, SinkDriver};
pub use error::{PluginError, Result};
pub use ffi::CallOutcome;
pub use function::PluginFunction;
pub use loader::{LoadedPlugin, Loader, validate_declaration};
pub use package::{PackageError, StagedPackage, fetch, parse_library_name, stage};
pub use registry::{InstalledPlugin, PluginKind, PluginRegistry, RegistryError};
pub use sink::{ErrorReporter, PluginSink};
pub use source::{EmitOutcome, Emitter, PluginSource};
