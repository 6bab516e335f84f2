//! The rule manager: the catalog of streams and tables, the rules with their
//! state, and the only sender of runtime commands.
//!
//! Creating a rule compiles its SQL against the catalog (errors say where),
//! builds its sinks from the actions, installs its dataflow on every worker
//! and starts one source task per input stream. Stopping it uninstalls the
//! dataflow (the workers close its inputs and drop it), ends its source tasks,
//! and lets its sink driver flush and close once the last emission is out.
//! Other rules never pause.

use crate::connectors::{self, ConnectorEnv, SinkDriver, SinkProps, SourceContext};
use crate::rule::options;
use crate::runtime::clock::Clock;
use crate::runtime::metrics::RuleMetrics;
use crate::runtime::{GroupMembership, Runtime, SourceFeed};
use oort_compiler::catalog::{CatalogWithFunctions, FunctionResolver};
use oort_compiler::catalog::{StreamDef, StreamKind};
use oort_compiler::plan::RulePlan;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A rule as users submit it (eKuiper's rule JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDef {
    /// Unique id.
    pub id: String,
    /// The query.
    pub sql: String,
    /// Sink actions: `[{"log": {}}, {"memory": {"topic": "out"}}]`.
    #[serde(default)]
    pub actions: Vec<Map<String, Json>>,
    /// Rule options.
    #[serde(default)]
    pub options: Map<String, Json>,
}

/// Where a rule stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleState {
    /// Installed and processing.
    Running,
    /// Defined but not running.
    Stopped,
    /// Stopped because of an error.
    StoppedByError(String),
}

impl RuleState {
    /// eKuiper's status text.
    pub fn text(&self) -> String {
        match self {
            RuleState::Running => "running".into(),
            RuleState::Stopped => "stopped".into(),
            RuleState::StoppedByError(e) => format!("stopped by error: {e}"),
        }
    }
}

/// What can go wrong managing streams and rules.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// No such stream, table or rule.
    #[error("{kind} {name} is not found")]
    NotFound {
        /// `stream`, `table` or `rule`.
        kind: &'static str,
        /// Name or id.
        name: String,
    },
    /// The name or id is taken.
    #[error("{kind} {name} already exists")]
    Duplicate {
        /// `stream`, `table` or `rule`.
        kind: &'static str,
        /// Name or id.
        name: String,
    },
    /// The SQL does not compile.
    #[error("{0}")]
    Compile(#[from] oort_compiler::CompileError),
    /// Something in the request is invalid (names the field).
    #[error("{0}")]
    Invalid(String),
    /// A stream is still used by rules.
    #[error("stream {stream} is referenced by rules: {}", rules.join(", "))]
    InUse {
        /// The stream.
        stream: String,
        /// The rules using it.
        rules: Vec<String>,
    },
    /// A connector could not be set up.
    #[error("{0}")]
    Connector(#[from] connectors::ConnectorError),
    /// The worker pool is gone.
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
}

struct RunningRule {
    generation: u64,
    /// The plan, shared with the workers.
    plan: Arc<RulePlan>,
    feeds: Vec<SourceFeed>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    sink_task: tokio::task::JoinHandle<()>,
    /// Set when the rule runs in a stream group (whose sources it does not own).
    group: Option<GroupMembership>,
}

/// The sources of one stream group, started by the rule that opened it and
/// stopped when its last member stops.
struct GroupSources {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The rule id the sources run under (connection names and states): the
    /// rule that opened the group, so a rule alone in its group connects
    /// exactly as it would on its own.
    source_id: String,
}

struct RuleEntry {
    def: RuleDef,
    state: RuleState,
    metrics: Arc<RuleMetrics>,
    running: Option<RunningRule>,
}

#[derive(Default)]
struct State {
    streams: BTreeMap<String, StreamDef>,
    rules: BTreeMap<String, RuleEntry>,
}

/// Streams, tables and rules.
pub struct RuleManager {
    runtime: Arc<Runtime>,
    env: Arc<ConnectorEnv>,
    clock: Arc<dyn Clock>,
    handle: tokio::runtime::Handle,
    state: Mutex<State>,
    groups: Mutex<std::collections::HashMap<u64, GroupSources>>,
}

impl RuleManager {
    /// A manager over a started runtime. Must be called inside a tokio runtime.
    pub fn new(runtime: Arc<Runtime>, env: Arc<ConnectorEnv>, clock: Arc<dyn Clock>) -> Self {
        Self {
            runtime,
            env,
            clock,
            handle: tokio::runtime::Handle::current(),
            state: Mutex::new(State::default()),
            groups: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The streams plus the installed plugin functions, for compiling rules.
    fn catalog<'a>(&'a self, streams: &'a BTreeMap<String, StreamDef>) -> CatalogWithFunctions<'a> {
        let functions = self.env.plugins.as_deref().map(|p| p as &dyn FunctionResolver);
        CatalogWithFunctions { streams, functions }
    }

    /// Shared connector state.
    pub fn env(&self) -> &Arc<ConnectorEnv> {
        &self.env
    }

    /// Creates a stream or table from its DDL.
    pub fn create_stream(&self, sql: &str) -> Result<StreamDef, ManagerError> {
        let def = oort_compiler::parse_stream_ddl(sql)?;
        let mut st = self.state();
        if st.streams.keys().any(|k| k.eq_ignore_ascii_case(&def.name)) {
            return Err(ManagerError::Duplicate { kind: kind_name(def.kind), name: def.name });
        }
        st.streams.insert(def.name.clone(), def.clone());
        Ok(def)
    }

    /// Every stream and table.
    pub fn streams(&self) -> Vec<StreamDef> {
        self.state().streams.values().cloned().collect()
    }

    /// One stream or table.
    pub fn stream(&self, name: &str) -> Option<StreamDef> {
        use oort_compiler::catalog::Catalog;
        self.state().streams.stream(name).cloned()
    }

    /// Drops a stream or table, unless a rule uses it.
    pub fn drop_stream(&self, name: &str) -> Result<StreamDef, ManagerError> {
        let mut st = self.state();
        let Some(key) = st.streams.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned() else {
            return Err(ManagerError::NotFound { kind: "stream", name: name.to_string() });
        };
        let users: Vec<String> = st
            .rules
            .values()
            .filter(|r| {
                oort_compiler::compile_rule(&r.def.sql, &self.catalog(&st.streams), Default::default())
                    .map(|p| p.sources.iter().any(|s| s.def.name == key))
                    .unwrap_or(false)
            })
            .map(|r| r.def.id.clone())
            .collect();
        if !users.is_empty() {
            return Err(ManagerError::InUse { stream: key, rules: users });
        }
        st.streams.remove(&key).ok_or(ManagerError::NotFound { kind: "stream", name: name.to_string() })
    }

    /// Compiles a rule without creating it.
    pub fn validate_rule(&self, def: &RuleDef) -> Result<RulePlan, ManagerError> {
        if def.id.trim().is_empty() {
            return Err(ManagerError::Invalid("rule id is required".into()));
        }
        if def.sql.trim().is_empty() {
            return Err(ManagerError::Invalid(format!("rule {}: sql is required", def.id)));
        }
        if def.actions.is_empty() {
            return Err(ManagerError::Invalid(format!("rule {}: at least one action is required", def.id)));
        }
        for a in &def.actions {
            for (name, props) in a {
                let Json::Object(props) = props else {
                    return Err(ManagerError::Invalid(format!("rule {}: action {name} must be an object", def.id)));
                };
                connectors::build_sink(name, props, &self.env)?;
            }
        }
        let opts = options::parse(&def.options).map_err(ManagerError::Invalid)?;
        let st = self.state();
        let mut plan = oort_compiler::compile_rule(&def.sql, &self.catalog(&st.streams), opts)?;
        plan.rule_id = def.id.clone();
        Ok(plan)
    }

    /// Creates a rule and starts it.
    pub fn create_rule(&self, def: RuleDef) -> Result<(), ManagerError> {
        if self.state().rules.contains_key(&def.id) {
            return Err(ManagerError::Duplicate { kind: "rule", name: def.id });
        }
        let plan = self.validate_rule(&def)?;
        let metrics = Arc::new(RuleMetrics::default());
        let id = def.id.clone();
        self.state().rules.insert(id.clone(), RuleEntry { def, state: RuleState::Stopped, metrics, running: None });
        self.start_with(&id, plan)
    }

    /// Starts a stopped rule (recompiling it against the current catalog).
    pub fn start_rule(&self, id: &str) -> Result<(), ManagerError> {
        let def = self.rule(id).ok_or_else(|| ManagerError::NotFound { kind: "rule", name: id.to_string() })?;
        if self.state().rules.get(id).is_some_and(|r| r.running.is_some()) {
            return Ok(());
        }
        let plan = self.validate_rule(&def)?;
        self.start_with(id, plan)
    }

    fn start_with(&self, id: &str, plan: RulePlan) -> Result<(), ManagerError> {
        let def = self.rule(id).ok_or_else(|| ManagerError::NotFound { kind: "rule", name: id.to_string() })?;
        let plan = Arc::new(plan);
        let installed = install(&self.runtime, id, plan.clone())?;
        let mut sinks = Vec::new();
        let mut tasks = Vec::new();
        let result = (|| -> Result<(), ManagerError> {
            for a in &def.actions {
                for (name, props) in a {
                    let mut props = props.as_object().cloned().unwrap_or_default();
                    props.entry("ruleId").or_insert_with(|| Json::from(id));
                    let common =
                        SinkProps::from_props(&props).with_cache_location(&self.env.data_dir, sinks.len(), name);
                    sinks.push((connectors::build_sink(name, &props, &self.env)?, common));
                }
            }
            let _guard = self.handle.enter();
            // A member of a stream group that another rule opened reads through
            // the group's sources; the rule that opens a group starts them.
            let (source_id, source_metrics) = match &installed.group {
                None => (id.to_string(), installed.metrics.clone()),
                Some(g) if g.opened => (id.to_string(), g.source_metrics.clone()),
                Some(_) => return Ok(()),
            };
            for (i, s) in plan.sources.iter().enumerate() {
                let ctx = SourceContext {
                    rule_id: source_id.clone(),
                    stream: s.def.clone(),
                    feed: installed.feeds[i].clone(),
                    metrics: source_metrics.clone(),
                    clock: self.clock.clone(),
                    env: self.env.clone(),
                };
                if let Some(t) = connectors::spawn_source(ctx)? {
                    tasks.push(t);
                }
            }
            Ok(())
        })();
        if let Some(g) = installed.group.as_ref().filter(|g| g.opened) {
            let tasks = std::mem::take(&mut tasks);
            self.lock_groups().insert(g.group, GroupSources { tasks, source_id: id.to_string() });
        }
        if let Err(e) = result {
            for t in &tasks {
                t.abort();
            }
            self.uninstall(id, installed.generation);
            if let Some(r) = self.state().rules.get_mut(id) {
                r.state = RuleState::StoppedByError(e.to_string());
            }
            return Err(e);
        }
        let driver = SinkDriver { sinks, metrics: installed.metrics.clone(), clock: self.clock.clone() };
        let sink_task = self.handle.spawn(driver.run(installed.emissions));
        let mut st = self.state();
        if let Some(r) = st.rules.get_mut(id) {
            r.metrics = installed.metrics.clone();
            r.state = RuleState::Running;
            r.running = Some(RunningRule {
                generation: installed.generation,
                plan,
                feeds: installed.feeds,
                tasks,
                sink_task,
                group: installed.group,
            });
        }
        Ok(())
    }

    /// Stops a rule; its definition stays.
    pub fn stop_rule(&self, id: &str) -> Result<(), ManagerError> {
        let running = {
            let mut st = self.state();
            let r =
                st.rules.get_mut(id).ok_or_else(|| ManagerError::NotFound { kind: "rule", name: id.to_string() })?;
            r.state = RuleState::Stopped;
            r.running.take()
        };
        if let Some(run) = running {
            for t in &run.tasks {
                t.abort();
            }
            if let Some(group) = self.runtime.uninstall(id, run.generation)? {
                self.stop_group_sources(group);
            }
            drop(run.sink_task);
        }
        Ok(())
    }

    fn lock_groups(&self) -> MutexGuard<'_, std::collections::HashMap<u64, GroupSources>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Uninstalls a rule, stopping its group's sources when it was the group's last member.
    fn uninstall(&self, id: &str, generation: u64) {
        match self.runtime.uninstall(id, generation) {
            Ok(Some(group)) => self.stop_group_sources(group),
            Ok(None) => {}
            Err(e) => tracing::warn!(rule = %id, error = %e, "uninstalling"),
        }
    }

    fn stop_group_sources(&self, group: u64) {
        if let Some(g) = self.lock_groups().remove(&group) {
            for t in &g.tasks {
                t.abort();
            }
        }
    }

    /// Stops, then starts a rule.
    pub fn restart_rule(&self, id: &str) -> Result<(), ManagerError> {
        self.stop_rule(id)?;
        self.start_rule(id)
    }

    /// Stops and forgets a rule.
    pub fn delete_rule(&self, id: &str) -> Result<(), ManagerError> {
        self.stop_rule(id)?;
        self.state().rules.remove(id);
        connectors::sink::remove_cached(&self.env.data_dir, id);
        Ok(())
    }

    /// A rule's definition.
    pub fn rule(&self, id: &str) -> Option<RuleDef> {
        self.state().rules.get(id).map(|r| r.def.clone())
    }

    /// Stops every running rule that failed fatally (a panic in one of its
    /// operators or connectors), marking it `stopped by error: …`. Other rules
    /// are untouched. Called before reporting states; the server also calls it
    /// periodically.
    pub fn reap_failed(&self) {
        let failed: Vec<(String, String)> = self
            .state()
            .rules
            .values()
            .filter(|r| r.running.is_some())
            .filter_map(|r| r.metrics.fatal().map(|m| (r.def.id.clone(), m)))
            .collect();
        for (id, msg) in failed {
            tracing::error!(rule = %id, error = %msg, "rule stopped by error");
            let _ = self.stop_rule(&id);
            if let Some(r) = self.state().rules.get_mut(&id) {
                r.state = RuleState::StoppedByError(msg);
            }
        }
    }

    /// Every rule with its status text.
    pub fn rules(&self) -> Vec<(RuleDef, String)> {
        self.reap_failed();
        self.state().rules.values().map(|r| (r.def.clone(), r.state.text())).collect()
    }

    /// A rule's state.
    pub fn rule_state(&self, id: &str) -> Option<RuleState> {
        self.reap_failed();
        self.state().rules.get(id).map(|r| r.state.clone())
    }

    /// eKuiper-style status: `status` plus the rule's metrics.
    pub fn status(&self, id: &str) -> Result<Map<String, Json>, ManagerError> {
        self.reap_failed();
        let st = self.state();
        let r = st.rules.get(id).ok_or_else(|| ManagerError::NotFound { kind: "rule", name: id.to_string() })?;
        let mut m = Map::new();
        m.insert("status".into(), Json::from(r.state.text()));
        m.extend(r.metrics.snapshot());
        let group = r.running.as_ref().and_then(|run| run.group.as_ref());
        if let Some(g) = group.filter(|g| !Arc::ptr_eq(&g.source_metrics, &r.metrics)) {
            // The group's sources report to the rule that opened the group:
            // the other members show their last error too.
            let source = g.source_metrics.snapshot();
            if source["last_exception_time"].as_u64() > m["last_exception_time"].as_u64() {
                m.insert("last_exception".into(), source["last_exception"].clone());
                m.insert("last_exception_time".into(), source["last_exception_time"].clone());
            }
            m.insert("source_exceptions_total".into(), source["exceptions_total"].clone());
        }
        let mut conns = self.env.mqtt.rule_states(id);
        let source_id = group.and_then(|g| self.lock_groups().get(&g.group).map(|s| s.source_id.clone()));
        if let Some(source_id) = source_id.filter(|s| s != id) {
            conns.extend(self.env.mqtt.rule_states(&source_id));
        }
        if !conns.is_empty() {
            m.insert("connections".into(), Json::Object(conns.into_iter().map(|(k, v)| (k, Json::from(v))).collect()));
        }
        Ok(m)
    }

    /// The rule's plan as text.
    pub fn explain(&self, id: &str) -> Result<String, ManagerError> {
        if let Some(run) = self.state().rules.get(id).and_then(|r| r.running.as_ref()) {
            return Ok(oort_compiler::explain(&run.plan));
        }
        let def = self.rule(id).ok_or_else(|| ManagerError::NotFound { kind: "rule", name: id.to_string() })?;
        Ok(oort_compiler::explain(&self.validate_rule(&def)?))
    }

    /// The feed of a running rule's input stream (for `TYPE="mock"` streams,
    /// which tests and embedders feed themselves). Rules of one stream group
    /// share one feed ([`SourceFeed::same_as`]): a batch sent to it reaches
    /// every rule of the group.
    pub fn feed(&self, id: &str, stream: &str) -> Option<SourceFeed> {
        let st = self.state();
        let run = st.rules.get(id)?.running.as_ref()?;
        let i = run.plan.sources.iter().position(|s| s.def.name.eq_ignore_ascii_case(stream))?;
        run.feeds.get(i).cloned()
    }

    /// The counters of a rule.
    pub fn metrics(&self, id: &str) -> Option<Arc<RuleMetrics>> {
        self.state().rules.get(id).map(|r| r.metrics.clone())
    }

    /// Replaces a stream or table with a new definition of the same name
    /// (`PUT /streams/{name}`). Running rules keep the definition they were
    /// started with until they are restarted.
    pub fn replace_stream(&self, sql: &str) -> Result<StreamDef, ManagerError> {
        let def = oort_compiler::parse_stream_ddl(sql)?;
        let mut st = self.state();
        let Some(key) = st.streams.keys().find(|k| k.eq_ignore_ascii_case(&def.name)).cloned() else {
            return Err(ManagerError::NotFound { kind: kind_name(def.kind), name: def.name });
        };
        st.streams.remove(&key);
        st.streams.insert(def.name.clone(), def.clone());
        Ok(def)
    }

    /// Adds a rule in the stopped state without compiling it: restoring a
    /// stored rule at boot, or creating one with `"triggered": false`.
    pub fn load_rule(&self, def: RuleDef) -> Result<(), ManagerError> {
        let mut st = self.state();
        if st.rules.contains_key(&def.id) {
            return Err(ManagerError::Duplicate { kind: "rule", name: def.id });
        }
        let id = def.id.clone();
        st.rules.insert(id, RuleEntry { def, state: RuleState::Stopped, metrics: Arc::default(), running: None });
        Ok(())
    }

    /// Replaces a rule's definition (`PUT /rules/{id}`). The new definition is
    /// compiled first, so a bad one leaves the old rule untouched; a rule that
    /// was running is restarted with the new definition. Returns whether the
    /// rule runs afterwards.
    pub fn replace_rule(&self, def: RuleDef) -> Result<bool, ManagerError> {
        let was_running = match self.rule_state(&def.id) {
            None => return Err(ManagerError::NotFound { kind: "rule", name: def.id }),
            Some(s) => s == RuleState::Running,
        };
        let plan = self.validate_rule(&def)?;
        self.stop_rule(&def.id)?;
        let id = def.id.clone();
        if let Some(r) = self.state().rules.get_mut(&id) {
            r.def = def;
        }
        if was_running {
            self.start_with(&id, plan)?;
        }
        Ok(was_running)
    }

    /// Marks a stopped rule as stopped by an error (a rule that could not be
    /// started again at boot). Does nothing to a running rule.
    pub fn mark_stopped_by_error(&self, id: &str, message: &str) {
        if let Some(r) = self.state().rules.get_mut(id)
            && r.running.is_none()
        {
            r.state = RuleState::StoppedByError(message.to_string());
        }
    }

    /// The compiled plan of a rule: the running one, or a fresh compilation.
    pub fn plan(&self, id: &str) -> Result<RulePlan, ManagerError> {
        if let Some(run) = self.state().rules.get(id).and_then(|r| r.running.as_ref()) {
            return Ok(RulePlan::clone(&run.plan));
        }
        let def = self.rule(id).ok_or_else(|| ManagerError::NotFound { kind: "rule", name: id.to_string() })?;
        self.validate_rule(&def)
    }

    /// Stops every rule for server shutdown and hands back their sink tasks,
    /// each of which ends once its rule's last emission is delivered and its
    /// sinks are flushed and closed. Awaiting them is the drain.
    pub fn stop_all_draining(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let runs: Vec<(String, RunningRule)> = {
            let mut st = self.state();
            st.rules
                .iter_mut()
                .filter_map(|(id, r)| {
                    r.state = RuleState::Stopped;
                    r.running.take().map(|run| (id.clone(), run))
                })
                .collect()
        };
        let mut sinks = Vec::with_capacity(runs.len());
        for (id, run) in runs {
            for t in &run.tasks {
                t.abort();
            }
            self.uninstall(&id, run.generation);
            sinks.push(run.sink_task);
        }
        sinks
    }

    /// Stops every rule (server shutdown).
    pub fn stop_all(&self) {
        let ids: Vec<String> = self.state().rules.keys().cloned().collect();
        for id in ids {
            let _ = self.stop_rule(&id);
        }
    }
}

/// Installs a rule on the runtime as the rule manager does: in a stream
/// group when every source is live ([`connectors::is_live_source`]) and the
/// runtime finds the plan fusable, else in a dataflow of its own.
pub fn install(
    runtime: &Runtime,
    id: &str,
    plan: Arc<RulePlan>,
) -> Result<crate::runtime::InstalledRule, crate::runtime::RuntimeError> {
    if plan.sources.iter().all(|s| connectors::is_live_source(&s.def.options.source_type)) {
        runtime.install_shared(id, plan)
    } else {
        runtime.install(id, plan)
    }
}

fn kind_name(k: StreamKind) -> &'static str {
    match k {
        StreamKind::Stream => "stream",
        StreamKind::Table => "table",
    }
}
