//! Installed plugins, as the server sees them.
//!
//! [`PluginManager`] is what `POST/GET/DELETE /plugins/{sources|sinks|functions}` and the
//! connector and function lookups talk to. It owns the `oort-plugin-host` registry and keeps the
//! installed files on disk, which is also how installed plugins persist across restarts:
//!
//! ```text
//! <data>/plugins/<kind>/<name>/<Name@vX.Y.Z.so>   the installed library (one per name)
//! <data>/plugins/.staging/                         downloads and unpacked zips, before validation
//! <data>/plugins/.loaded/                          the unique copy each load maps (see the host crate)
//! <conf>/sources/<name>.yaml                       a source plugin's default + CONF_KEY sections
//! ```
//!
//! Installing fetches and unpacks the package into the staging folder, loads it (every check of
//! the declaration happens before any plugin code runs), and only if that succeeds moves the
//! library into place and swaps the registry entry: new rules bind to the new version at once,
//! running rules keep the old library until restarted, and a refused file leaves the installed
//! version untouched. [`PluginManager::restore`] reloads every installed library at start-up.
//!
//! The server builds one manager at boot ([`crate::server::start_plugins`]) and hands it to the
//! connectors ([`crate::connectors::ConnectorEnv::plugins`]): a sink action or stream `TYPE` that
//! is not built in is looked up here. The adapters at the bottom make plugin instances look like
//! built-ins: a plugin sink is a [`connectors::Sink`] (a panic inside it makes it
//! [fatal](connectors::Sink::fatal), which stops its rule only), a plugin source is spawned like a
//! built-in source feeding the rule's [`crate::runtime::SourceFeed`] (a full feed answers
//! "retry"), and a plugin function is found by the compiler through [`FunctionResolver`] (with
//! the plugin's own `validate` at rule creation) and by the evaluator through
//! [`FunctionProvider`]. Both look the registry up when a rule is created or (re)started, so new
//! rules see a plugin installed a moment ago, and running rules keep the version they started
//! with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oort_operators::source::{Payload, SourceRecord};
use oort_operators::value::{Value, from_json, to_json};
use oort_plugin_host::{
    CallOutcome, EmitOutcome, Loader, PluginError, PluginFunction, PluginKind, PluginRegistry, PluginSink,
    RegistryError, stage,
};
use serde_json::{Map, Value as Json};

use oort_compiler::catalog::FunctionResolver;
use oort_compiler::functions::{Category, FunctionKind, FunctionSig};
use oort_compiler::plan::{LogicalPlan, RulePlan};
use oort_operators::functions::Accumulator;
use oort_operators::functions::external::{ExternalScalar, FunctionProvider};

use crate::connectors::sink::SinkFuture;
use crate::connectors::{self, ConnectorError, SinkError, SourceContext};
use crate::rule::manager::RuleDef;

/// Why a plugin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginManagerError {
    /// Fetching or unpacking the package failed.
    #[error(transparent)]
    Package(#[from] oort_plugin_host::PackageError),
    /// Loading, validating, finding or removing failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Moving files into place failed.
    #[error("plugin {what}: {source}")]
    Io {
        /// What was being written.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The name cannot be a plugin name.
    #[error("invalid plugin name `{0}`: use letters, digits and `_`")]
    BadName(String),
    /// A built-in source or sink already has the name.
    #[error("plugin name `{name}` is taken by the built-in {kind} `{name}`")]
    BuiltIn {
        /// `source` or `sink`.
        kind: &'static str,
        /// The name.
        name: String,
    },
}

/// `GET /plugins/{kind}/{name}`: `{"name": "mysql", "version": "1.0.0"}` (plus, for function
/// plugins, the functions they export).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginInfo {
    /// Installed name.
    pub name: String,
    /// Declared version.
    pub version: String,
    /// SQL functions exported (function plugins only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
}

/// Installed plugins of one server.
#[derive(Debug)]
pub struct PluginManager {
    registry: PluginRegistry,
    dir: PathBuf,
    sources_conf_dir: PathBuf,
    /// Serializes installs and deletes (file moves); lookups go straight to the registry.
    install_lock: Mutex<()>,
}

impl PluginManager {
    /// Plugins under `<data_dir>/plugins`; source configuration in `<conf_dir>/sources`.
    pub fn new(data_dir: &Path, conf_dir: &Path) -> Self {
        let dir = data_dir.join("plugins");
        PluginManager {
            registry: PluginRegistry::new(Loader::new(dir.join(".loaded"))),
            dir,
            sources_conf_dir: conf_dir.join("sources"),
            install_lock: Mutex::new(()),
        }
    }

    /// The registry (for lookups by the runtime).
    pub fn registry(&self) -> &PluginRegistry {
        &self.registry
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.install_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn name_dir(&self, kind: PluginKind, name: &str) -> PathBuf {
        self.dir.join(kind.as_str()).join(name)
    }

    /// Install (or hot-reload) plugin (`kind`, `name`) from `file`: a path, `file://` or
    /// `http://` URL, naming a library or a zip. See the module docs.
    pub fn install(&self, kind: PluginKind, name: &str, file: &str) -> Result<PluginInfo, PluginManagerError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(PluginManagerError::BadName(name.into()));
        }
        let built_in = match kind {
            PluginKind::Source => {
                connectors::SOURCE_TYPES.iter().any(|t| t.eq_ignore_ascii_case(name)).then_some("source")
            }
            PluginKind::Sink => connectors::SINK_TYPES.iter().any(|t| t.eq_ignore_ascii_case(name)).then_some("sink"),
            PluginKind::Function => None,
        };
        if let Some(kind) = built_in {
            return Err(PluginManagerError::BuiltIn { kind, name: name.into() });
        }
        let _guard = self.lock();
        let staged = stage(kind, name, file, &self.dir.join(".staging"))?;
        let result = self.registry.install(kind, name, &staged.library);
        if let Err(e) = result {
            let _ = std::fs::remove_file(&staged.library);
            return Err(e.into());
        }
        let io = |what: String| move |source| PluginManagerError::Io { what, source };
        let target_dir = self.name_dir(kind, name);
        std::fs::create_dir_all(&target_dir).map_err(io(target_dir.display().to_string()))?;
        for old in std::fs::read_dir(&target_dir).map_err(io(target_dir.display().to_string()))?.flatten() {
            let _ = std::fs::remove_file(old.path());
        }
        let installed = target_dir.join(&staged.file_name);
        std::fs::rename(&staged.library, &installed).map_err(io(installed.display().to_string()))?;
        if let (PluginKind::Source, Some(yaml)) = (kind, &staged.config_yaml) {
            std::fs::create_dir_all(&self.sources_conf_dir).map_err(io(self.sources_conf_dir.display().to_string()))?;
            let path = self.sources_conf_dir.join(format!("{name}.yaml"));
            std::fs::write(&path, yaml).map_err(io(path.display().to_string()))?;
        }
        tracing::info!(kind = kind.as_str(), name, file, "plugin installed");
        self.get(kind, name).ok_or_else(|| RegistryError::NotFound { kind, name: name.into() }.into())
    }

    /// Names installed for `kind`.
    pub fn list(&self, kind: PluginKind) -> Vec<String> {
        self.registry.list(kind)
    }

    /// Describe (`kind`, `name`).
    pub fn get(&self, kind: PluginKind, name: &str) -> Option<PluginInfo> {
        let installed = self.registry.get(kind, name)?;
        let functions = match kind {
            PluginKind::Function => installed.plugin.function_names().into_iter().map(String::from).collect(),
            _ => Vec::new(),
        };
        Some(PluginInfo { name: name.into(), version: installed.version().into(), functions })
    }

    /// Remove (`kind`, `name`) unless `users` (the rules using it) is non-empty; the error then
    /// names them. Running instances keep the library until they stop.
    pub fn delete(&self, kind: PluginKind, name: &str, users: &[String]) -> Result<(), PluginManagerError> {
        let _guard = self.lock();
        self.registry.remove(kind, name, users)?;
        let _ = std::fs::remove_dir_all(self.name_dir(kind, name));
        if kind == PluginKind::Source {
            let _ = std::fs::remove_file(self.sources_conf_dir.join(format!("{name}.yaml")));
        }
        Ok(())
    }

    /// Load every installed plugin (at start-up). Answers the ones that failed, with why; the
    /// others are registered.
    pub fn restore(&self) -> Vec<(PluginKind, String, PluginManagerError)> {
        let _guard = self.lock();
        let mut failed = Vec::new();
        for kind in [PluginKind::Source, PluginKind::Sink, PluginKind::Function] {
            let Ok(names) = std::fs::read_dir(self.dir.join(kind.as_str())) else { continue };
            for entry in names.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let libs: BTreeMap<_, _> = std::fs::read_dir(entry.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|f| (f.file_name(), f.path()))
                    .filter(|(n, _)| n.to_string_lossy().ends_with(".so"))
                    .collect();
                let Some(lib) = libs.values().next_back() else { continue };
                if let Err(e) = self.registry.install(kind, &name, lib) {
                    tracing::warn!(kind = kind.as_str(), name, error = %e, "installed plugin not restored");
                    failed.push((kind, name, e.into()));
                }
            }
        }
        failed
    }

    /// A plugin sink named `name` configured with the action's `props`, or `None` when no such
    /// sink plugin is installed (then the name is unknown).
    pub fn build_sink(
        &self,
        name: &str,
        props: &Map<String, Json>,
        rule_id: &str,
    ) -> Option<Result<Box<dyn connectors::Sink>, ConnectorError>> {
        let sink = self.registry.new_sink(name)?;
        let open = |e: PluginError| ConnectorError::Open { connector: name.into(), message: e.to_string() };
        Some((|| {
            let mut sink = sink.map_err(open)?;
            sink.configure(props).map_err(open)?;
            let rule = rule_id.to_string();
            sink.open(rule_id, Arc::new(move |m| tracing::warn!(rule = %rule, "plugin sink: {m}"))).map_err(open)?;
            Ok(Box::new(PluginSinkAdapter::new(name, sink)) as Box<dyn connectors::Sink>)
        })())
    }

    /// Start the plugin source of `ctx.stream` (type = plugin name), or `None` when no such
    /// source plugin is installed. Its configuration is `<conf>/sources/<name>.yaml`, section
    /// `default` overridden by the stream's `CONF_KEY` section; `concurrency` and `bufferLength`
    /// are the host's and are not passed to the plugin.
    pub fn spawn_source(&self, ctx: SourceContext) -> Option<Result<tokio::task::JoinHandle<()>, ConnectorError>> {
        let name = ctx.stream.options.source_type.clone();
        let source = self.registry.new_source(&name)?;
        Some((|| {
            let open = |e: PluginError| ConnectorError::Open { connector: name.clone(), message: e.to_string() };
            let mut source = source.map_err(open)?;
            let mut props =
                connectors::profile::load(&self.sources_conf_dir, &name, ctx.stream.options.conf_key.as_deref())?;
            props.remove("concurrency");
            props.remove("bufferLength");
            source.configure(&ctx.stream.options.datasource, &props).map_err(open)?;
            let (feed, clock, metrics) = (ctx.feed.clone(), ctx.clock.clone(), ctx.metrics.clone());
            let error_clock = ctx.clock.clone();
            let stopped = Arc::new(tokio::sync::Notify::new());
            let on_stop = stopped.clone();
            let emit = Arc::new(move |records: Vec<Json>, _event_time_ms: i64| {
                let ts = clock.now_ms();
                let batch: Vec<SourceRecord> = records
                    .iter()
                    .map(|r| {
                        let map = match from_json(r) {
                            Value::Object(m) => m,
                            other => Arc::new(BTreeMap::from([("value".to_string(), other)])),
                        };
                        SourceRecord { payload: Payload::Object(map), meta: None, ts }
                    })
                    .collect();
                // Never block a plugin thread: a full queue answers "retry later" and the
                // plugin re-emits the same batch (backpressure).
                match feed.try_send(batch) {
                    Ok(true) => EmitOutcome::Accepted,
                    Ok(false) => EmitOutcome::Retry,
                    Err(e) => {
                        on_stop.notify_one();
                        EmitOutcome::Closed(e.to_string())
                    }
                }
            });
            let report = Arc::new(move |m: &str| metrics.exception(m, error_clock.now_ms()));
            source.open(&ctx.rule_id, emit, report).map_err(open)?;
            let running = RunningSource(Some(source));
            Ok(tokio::spawn(async move {
                // Runs until the rule aborts this task (dropping `running` closes the plugin
                // source) or the rule's feed closes.
                stopped.notified().await;
                drop(running);
            }))
        })())
    }

    /// A new instance of the plugin SQL function `name`, or `None` when no installed function
    /// plugin exports it.
    pub fn function(&self, name: &str) -> Option<Result<PluginScalar, PluginError>> {
        Some(self.registry.new_function(name)?.map(|f| PluginScalar { function: Arc::new(f) }))
    }
}

impl PluginManager {
    /// The rules among `rules` (id, plan) that use plugin (`kind`, `name`): sink actions named
    /// `name`, streams of `TYPE` `name`, calls to a function that plugin exports.
    pub fn users<'a>(
        &self,
        kind: PluginKind,
        name: &str,
        rules: impl IntoIterator<Item = (&'a RuleDef, Option<&'a RulePlan>)>,
    ) -> Vec<String> {
        let functions: Vec<String> = match kind {
            PluginKind::Function => self.get(kind, name).map(|i| i.functions).unwrap_or_default(),
            _ => Vec::new(),
        };
        rules
            .into_iter()
            .filter(|(def, plan)| match kind {
                PluginKind::Sink => def.actions.iter().any(|a| a.contains_key(name)),
                PluginKind::Source => {
                    plan.is_some_and(|p| p.sources.iter().any(|s| s.def.options.source_type.eq_ignore_ascii_case(name)))
                }
                PluginKind::Function => plan.is_some_and(|p| {
                    let called = called_functions(&p.root);
                    called.iter().any(|c| functions.iter().any(|f| f.eq_ignore_ascii_case(c)))
                }),
            })
            .map(|(def, _)| def.id.clone())
            .collect()
    }
}

/// Names of every function (scalar and aggregate) a plan calls.
fn called_functions(plan: &LogicalPlan) -> Vec<String> {
    let mut names = Vec::new();
    oort_operators::plan_walk::for_each_call(plan, &mut |c| names.push(c.name.clone()));
    let mut node = Some(plan);
    while let Some(p) = node {
        node = match p {
            LogicalPlan::Scan { .. } => None,
            LogicalPlan::Aggregate { input, aggregates, .. } => {
                names.extend(aggregates.iter().map(|a| a.name.clone()));
                Some(input)
            }
            LogicalPlan::Join { left: input, .. }
            | LogicalPlan::Window { input, .. }
            | LogicalPlan::Filter { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Project { input, .. } => Some(input),
        };
    }
    names
}

/// Plugin functions as the compiler sees them: a signature (scalar or aggregate, any number of
/// arguments) and the plugin's own `validate` at rule creation.
impl FunctionResolver for PluginManager {
    fn function(&self, name: &str) -> Option<FunctionSig> {
        let function = self.registry.new_function(name)?.ok()?;
        Some(FunctionSig {
            name: name.to_ascii_lowercase(),
            category: Category::Other,
            kind: if function.is_aggregate() { FunctionKind::Aggregate } else { FunctionKind::Scalar },
            min_args: 0,
            max_args: None,
            implemented: true,
        })
    }

    fn validate_call(&self, name: &str, arg_types: &[&str]) -> Result<(), String> {
        match self.registry.new_function(name) {
            Some(Ok(f)) => f.validate(arg_types).map_err(|e| e.to_string()),
            Some(Err(e)) => Err(e.to_string()),
            None => Ok(()),
        }
    }
}

/// Plugin functions as the evaluator calls them: every rule built gets fresh instances of the
/// version installed at that moment.
impl FunctionProvider for PluginManager {
    fn scalar(&self, name: &str, rule_id: &str) -> Option<ExternalScalar> {
        let function = self.function(name)?.ok()?;
        (!function.is_aggregate()).then(|| function.into_fn(rule_id.to_string()))
    }

    fn accumulator(&self, name: &str) -> Option<Box<dyn Accumulator>> {
        let function = self.function(name)?.ok()?;
        function.is_aggregate().then(|| Box::new(PluginAccumulator { function, columns: Vec::new() }) as _)
    }
}

/// A plugin aggregate over one group: collects each argument's values, then calls the plugin
/// once with one array per argument (the ABI's aggregate convention).
struct PluginAccumulator {
    function: PluginScalar,
    columns: Vec<Vec<Value>>,
}

impl Accumulator for PluginAccumulator {
    fn update(&mut self, args: &[Value]) -> Result<(), String> {
        if self.columns.len() < args.len() {
            self.columns.resize_with(args.len(), Vec::new);
        }
        for (column, v) in self.columns.iter_mut().zip(args) {
            column.push(v.clone());
        }
        Ok(())
    }

    fn finish(&self) -> Result<Value, String> {
        let args: Vec<Value> = self.columns.iter().map(|c| Value::Array(Arc::new(c.clone()))).collect();
        self.function.call("", &args)
    }
}

/// A started plugin source; dropping it closes the source (joining its threads).
struct RunningSource(Option<oort_plugin_host::PluginSource>);

impl Drop for RunningSource {
    fn drop(&mut self) {
        if let Some(source) = self.0.take() {
            // `close` joins plugin threads; keep that off the async worker when we can.
            let close = move || {
                let mut source = source;
                if let Err(e) = source.close() {
                    tracing::warn!(error = %e, "closing plugin source failed");
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(h) => drop(h.spawn_blocking(close)),
                Err(_) => close(),
            }
        }
    }
}

/// A SQL function as the evaluator calls it: arguments in, value or error message out.
pub type ScalarFn = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// A plugin function bound to one call site: `call(args)` converts to and from JSON values.
#[derive(Debug, Clone)]
pub struct PluginScalar {
    function: Arc<PluginFunction>,
}

impl PluginScalar {
    /// Whether it aggregates a group (then each argument is the array of the group's values).
    pub fn is_aggregate(&self) -> bool {
        self.function.is_aggregate()
    }

    /// Check argument type names at rule creation.
    pub fn validate(&self, arg_types: &[&str]) -> Result<(), String> {
        self.function.validate(arg_types).map_err(|e| e.to_string())
    }

    /// Evaluate; an error is the row's evaluation error.
    pub fn call(&self, rule_id: &str, args: &[Value]) -> Result<Value, String> {
        let args: Vec<Json> = args.iter().map(to_json).collect();
        self.function.exec(rule_id, 0, &args).map(|v| from_json(&v)).map_err(|e| e.to_string())
    }

    /// As the evaluator's function type.
    pub fn into_fn(self, rule_id: String) -> ScalarFn {
        Arc::new(move |args| self.call(&rule_id, args))
    }
}

/// How long a sink that is not ready, or answers "retry", waits before being asked again.
const RETRY_POLL: Duration = Duration::from_millis(10);

/// A plugin sink as a built-in [`connectors::Sink`]. Plugin calls block, so they run on tokio's
/// blocking pool; while the plugin is not ready (or answers retry) the message is held and the
/// rule's sink lane — and through its bounded queue, the rule — slows down.
///
/// A plugin that panics (the SDK catches it and the host refuses every later call into that
/// instance) makes the sink [`fatal`](connectors::Sink::fatal): its rule stops by error, nothing
/// else does.
pub struct PluginSinkAdapter {
    name: String,
    sink: Arc<Mutex<PluginSink>>,
    panicked: Option<String>,
}

impl PluginSinkAdapter {
    fn new(name: &str, sink: PluginSink) -> Self {
        PluginSinkAdapter { name: name.into(), sink: Arc::new(Mutex::new(sink)), panicked: None }
    }

    async fn blocking<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut PluginSink) -> Result<T, PluginError> + Send + 'static,
    ) -> Result<T, SinkError> {
        let sink = self.sink.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut sink)
        })
        .await
        .map_err(|e| SinkError(format!("plugin sink task failed: {e}")))?;
        result.map_err(|e| {
            if matches!(e, PluginError::Panicked { .. }) && self.panicked.is_none() {
                self.panicked = Some(e.to_string());
            }
            SinkError(e.to_string())
        })
    }
}

impl connectors::Sink for PluginSinkAdapter {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a> {
        let batch: Vec<Json> = match message {
            Json::Array(rows) => rows.clone(),
            Json::Object(_) => vec![message.clone()],
            other => vec![serde_json::json!({ "data": other })],
        };
        Box::pin(async move {
            loop {
                let batch = batch.clone();
                let delivered = self
                    .blocking(move |sink| {
                        if !sink.is_ready()? {
                            return Ok(false);
                        }
                        match sink.collect(&batch)? {
                            CallOutcome::Ok => sink.flush().map(|()| true),
                            CallOutcome::Retry(_) => Ok(false),
                        }
                    })
                    .await?;
                if delivered {
                    return Ok(());
                }
                tokio::time::sleep(RETRY_POLL).await;
            }
        })
    }

    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async move {
            if self.panicked.is_some() {
                // The instance is never called again; dropping it releases it.
                return Ok(());
            }
            self.blocking(|sink| {
                sink.set_urgent(true)?;
                sink.close()
            })
            .await
        })
    }

    fn fatal(&self) -> Option<String> {
        self.panicked.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names_and_missing_files() {
        let dir = std::env::temp_dir().join(format!("oort-plugins-{}", std::process::id()));
        let m = PluginManager::new(&dir.join("data"), &dir.join("etc"));
        assert!(matches!(m.install(PluginKind::Sink, "../x", "x.so"), Err(PluginManagerError::BadName(_))));
        let e = m.install(PluginKind::Sink, "mysql", "/nonexistent/Mysql@v1.0.0.so").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/Mysql@v1.0.0.so"), "{e}");
        assert!(m.list(PluginKind::Sink).is_empty());
        assert!(m.get(PluginKind::Sink, "mysql").is_none());
        assert!(m.restore().is_empty());
        let e = m.delete(PluginKind::Sink, "mysql", &[]).unwrap_err().to_string();
        assert_eq!(e, "no sinks plugin named `mysql` is installed");
    }
}
