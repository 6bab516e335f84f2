//! Rules: their options, and the [`manager::RuleManager`] that owns streams,
//! rules and their lifecycle.

pub mod manager;
pub mod options;
pub mod store;
