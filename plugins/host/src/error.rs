//! The one error type of the plugin host.

use std::path::PathBuf;

/// Why a plugin could not be loaded, or why a call into it failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// Reading or copying the plugin file failed.
    #[error("plugin file `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The dynamic loader refused the file (not a shared library, wrong architecture, missing
    /// dependencies).
    #[error("cannot load `{path}` as a plugin: not a loadable shared library for this machine ({reason})")]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// A shared library without any Oort plugin symbol.
    #[error(
        "`{path}` is a shared library but not an Oort plugin: it exports neither `oort_plugin_declaration_v1` nor \
         `oort_plugin_abi_major` (build it with oort-plugin-sdk's export_plugin!)"
    )]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// The plugin was built for another major version of the plugin interface.
    #[error(
        "plugin `{plugin}` was built for plugin ABI v{plugin_major}; this server speaks plugin ABI v{host_major}; \
         rebuild it against oort-plugin-sdk for plugin ABI v{host_major}"
    )]
    AbiMismatch {
        /// Plugin (file) name.
        plugin: String,
        /// The ABI major the plugin declares.
        plugin_major: u16,
        /// The ABI major of this server.
        host_major: u16,
    },
    /// The plugin needs a newer minor version of the plugin interface than this server has.
    #[error(
        "plugin `{plugin}` needs plugin ABI v{major}.{plugin_minor}; this server speaks plugin ABI \
         v{major}.{host_minor}; upgrade the server or rebuild the plugin with an older oort-plugin-sdk"
    )]
    AbiTooNew {
        /// Plugin (file) name.
        plugin: String,
        /// The common major.
        major: u16,
        /// The minor the plugin needs.
        plugin_minor: u16,
        /// The minor of this server.
        host_minor: u16,
    },
    /// The declaration is malformed (magic, size, encodings, names).
    #[error("plugin `{plugin}` has an invalid declaration: {reason}")]
    BadDeclaration {
        /// Plugin (file) name.
        plugin: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin's `init` failed.
    #[error("plugin `{plugin}` failed to initialize: {message}")]
    Init {
        /// Plugin name.
        plugin: String,
        /// The plugin's message.
        message: String,
    },
    /// The plugin does not export what was asked for.
    #[error("plugin `{plugin}` {version} exports no {kind} named `{name}`")]
    NoSuchExport {
        /// Plugin name.
        plugin: String,
        /// Plugin version.
        version: String,
        /// `source`, `sink` or `function`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// A call into the plugin answered an error.
    #[error("plugin `{plugin}`: {what} failed: {message}")]
    Call {
        /// Plugin name.
        plugin: String,
        /// Which entry point, e.g. `sink file collect`.
        what: String,
        /// The plugin's message.
        message: String,
    },
    /// A call into the plugin panicked; the instance is no longer used (except to drop it).
    #[error("plugin `{plugin}`: {what} panicked: {message}")]
    Panicked {
        /// Plugin name.
        plugin: String,
        /// Which entry point.
        what: String,
        /// The panic message.
        message: String,
    },
    /// Records could not be encoded or decoded (MessagePack).
    #[error("plugin `{plugin}`: {what}: {message}")]
    Codec {
        /// Plugin name.
        plugin: String,
        /// What was being converted.
        what: String,
        /// The codec's message.
        message: String,
    },
}

/// Result of the plugin host.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;
