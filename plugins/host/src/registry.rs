//! Installed plugins by kind and name, and hot reload.
//!
//! Installing a plugin that is already installed loads the new file beside the old one (the
//! [`Loader`] gives every load a fresh path) and swaps the registry entry: rules created from
//! then on bind to the new version, running rules keep the `Arc` of the old one until they are
//! restarted, and the old library is shut down when its last instance drops. If the new file is
//! refused, the old version stays active. No server restart is ever needed.
//!
//! Persistence (which files are installed) belongs to the server; the registry only loads.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::error::PluginError;
use crate::function::PluginFunction;
use crate::loader::{LoadedPlugin, Loader};
use crate::sink::PluginSink;
use crate::source::PluginSource;

/// The three kinds of plugin (eKuiper's REST paths `/plugins/sources|sinks|functions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PluginKind {
    /// A source.
    Source,
    /// A sink.
    Sink,
    /// One or more SQL functions.
    Function,
}

impl PluginKind {
    /// The REST path segment: `sources`, `sinks` or `functions`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Source => "sources",
            PluginKind::Sink => "sinks",
            PluginKind::Function => "functions",
        }
    }

    /// Parse a REST path segment.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sources" => Some(PluginKind::Source),
            "sinks" => Some(PluginKind::Sink),
            "functions" => Some(PluginKind::Function),
            _ => None,
        }
    }
}

/// Registry failures.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Loading or validating the library failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// Nothing installed under that name.
    #[error("no {} plugin named `{name}` is installed", kind.as_str())]
    NotFound {
        /// Kind.
        kind: PluginKind,
        /// Name.
        name: String,
    },
    /// The plugin is used by rules and cannot be removed.
    #[error("{} plugin `{name}` is used by rules {}; stop or delete them first", kind.as_str(), rules.join(", "))]
    InUse {
        /// Kind.
        kind: PluginKind,
        /// Name.
        name: String,
        /// The rules using it.
        rules: Vec<String>,
    },
    /// The library does not export what its kind and name promise.
    #[error("{} plugin `{name}`: {reason}", kind.as_str())]
    Mismatch {
        /// Kind.
        kind: PluginKind,
        /// Name.
        name: String,
        /// What is missing.
        reason: String,
    },
}

/// An installed plugin: what `GET /plugins/{kind}/{name}` describes.
#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    /// Kind.
    pub kind: PluginKind,
    /// Name it is installed under.
    pub name: String,
    /// The loaded library (current version).
    pub plugin: Arc<LoadedPlugin>,
}

impl InstalledPlugin {
    /// Declared version.
    pub fn version(&self) -> &str {
        self.plugin.version()
    }
}

/// Installed plugins: (kind, name) → current version.
#[derive(Debug)]
pub struct PluginRegistry {
    loader: Loader,
    current: RwLock<BTreeMap<(PluginKind, String), Arc<LoadedPlugin>>>,
}

impl PluginRegistry {
    /// A registry loading copies into `loaded_dir`.
    pub fn new(loader: Loader) -> Self {
        PluginRegistry { loader, current: RwLock::new(BTreeMap::new()) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<(PluginKind, String), Arc<LoadedPlugin>>> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Load `file` and make it the current version of (`kind`, `name`). A source or sink plugin
    /// must export a source or sink called `name`; a function plugin at least one function.
    /// Answers the previous version, if any (still alive while rules use it).
    pub fn install(
        &self,
        kind: PluginKind,
        name: &str,
        file: &Path,
    ) -> Result<Option<Arc<LoadedPlugin>>, RegistryError> {
        let plugin = self.loader.load(file)?;
        let exported = match kind {
            PluginKind::Source => plugin.source_names().contains(&name),
            PluginKind::Sink => plugin.sink_names().contains(&name),
            PluginKind::Function => !plugin.function_names().is_empty(),
        };
        if !exported {
            let what = match kind {
                PluginKind::Function => "exports no function".to_string(),
                _ => format!(
                    "the library (plugin `{}` {}) exports no {} named `{name}`",
                    plugin.name(),
                    plugin.version(),
                    &kind.as_str()[..kind.as_str().len() - 1]
                ),
            };
            return Err(RegistryError::Mismatch { kind, name: name.into(), reason: what });
        }
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        Ok(current.insert((kind, name.to_string()), plugin))
    }

    /// The current version of (`kind`, `name`).
    pub fn get(&self, kind: PluginKind, name: &str) -> Option<InstalledPlugin> {
        self.read().get(&(kind, name.to_string())).map(|p| InstalledPlugin {
            kind,
            name: name.into(),
            plugin: p.clone(),
        })
    }

    /// Names installed for `kind`, sorted.
    pub fn list(&self, kind: PluginKind) -> Vec<String> {
        self.read().keys().filter(|(k, _)| *k == kind).map(|(_, n)| n.clone()).collect()
    }

    /// Remove (`kind`, `name`) unless `users` (the rules using it, computed by the caller) is
    /// non-empty. Running instances keep the library alive until they drop.
    pub fn remove(&self, kind: PluginKind, name: &str, users: &[String]) -> Result<(), RegistryError> {
        if !users.is_empty() {
            return Err(RegistryError::InUse { kind, name: name.into(), rules: users.to_vec() });
        }
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        match current.remove(&(kind, name.to_string())) {
            Some(_) => Ok(()),
            None => Err(RegistryError::NotFound { kind, name: name.into() }),
        }
    }

    /// A new instance of the installed sink `name`, or `None` when no such plugin is installed.
    pub fn new_sink(&self, name: &str) -> Option<Result<PluginSink, PluginError>> {
        let plugin = self.read().get(&(PluginKind::Sink, name.to_string())).cloned()?;
        Some(plugin.new_sink(name))
    }

    /// A new instance of the installed source `name`, or `None`.
    pub fn new_source(&self, name: &str) -> Option<Result<PluginSource, PluginError>> {
        let plugin = self.read().get(&(PluginKind::Source, name.to_string())).cloned()?;
        Some(plugin.new_source(name))
    }

    /// A new instance of the SQL function `function` (names compare case-insensitively, as SQL
    /// function names do) from whichever installed function plugin exports it, or `None`.
    pub fn new_function(&self, function: &str) -> Option<Result<PluginFunction, PluginError>> {
        let (plugin, exported) =
            self.read().iter().filter(|((k, _), _)| *k == PluginKind::Function).find_map(|(_, p)| {
                let exported = p.function_names().into_iter().find(|f| f.eq_ignore_ascii_case(function))?;
                Some((p.clone(), exported.to_string()))
            })?;
        Some(plugin.new_function(&exported))
    }
}
