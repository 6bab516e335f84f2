//! Functions that are not built in (plugin functions), as the evaluator finds them.
//!
//! The server registers a [`FunctionProvider`] (its plugin manager) once at start-up; the
//! evaluator asks the providers for a call site's implementation only when no built-in has the
//! name, so built-ins never pay for this. Lookups happen when a rule's operators are built, so a
//! newly installed plugin is seen by the next rule started (or restarted), never by one already
//! running. The registry holds weak references: a dropped server's provider disappears.

use super::aggregate::Accumulator;
use crate::value::Value;
use std::sync::{Arc, RwLock, Weak};

/// A scalar function bound to one call site.
pub type ExternalScalar = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// Where functions beyond the built-ins come from.
pub trait FunctionProvider: Send + Sync {
    /// The scalar function `name` (lower-case) for rule `rule_id`, if this provider has one.
    fn scalar(&self, name: &str, rule_id: &str) -> Option<ExternalScalar>;
    /// A fresh accumulator of the aggregate function `name` (lower-case), if this provider has one.
    fn accumulator(&self, name: &str) -> Option<Box<dyn Accumulator>>;
}

static PROVIDERS: RwLock<Vec<Weak<dyn FunctionProvider>>> = RwLock::new(Vec::new());

/// Makes `provider`'s functions callable from rules built from now on (until it is dropped).
pub fn register(provider: Weak<dyn FunctionProvider>) {
    let mut providers = PROVIDERS.write().unwrap_or_else(|p| p.into_inner());
    providers.retain(|p| p.strong_count() > 0);
    providers.push(provider);
}

fn live() -> Vec<Arc<dyn FunctionProvider>> {
    PROVIDERS.read().unwrap_or_else(|p| p.into_inner()).iter().filter_map(Weak::upgrade).collect()
}

/// The external scalar function `name`, from the first provider that has it.
pub fn scalar(name: &str, rule_id: &str) -> Option<ExternalScalar> {
    live().iter().find_map(|p| p.scalar(name, rule_id))
}

/// A fresh accumulator of the external aggregate `name`, from the first provider that has it.
pub fn accumulator(name: &str) -> Option<Box<dyn Accumulator>> {
    live().iter().find_map(|p| p.accumulator(name))
}
