//! The protocol between the rule manager and the timely workers.
//!
//! Commands are plain data. The manager hands them to worker 0, which
//! sequences them through the control dataflow (a broadcast), so that every
//! worker — in this process or, in a cluster, in another — applies the same
//! commands in the same order and builds the same dataflows in the same order,
//! as timely requires. Process-local things a command needs (the channels that
//! feed a rule's inputs, the queue its emissions go to) cannot travel through
//! a dataflow; they wait in the [`Wiring`](super::worker::Wiring) registry
//! under the rule's `(id, generation)` and each worker takes its share when it
//! applies the command.

use oort_compiler::plan::RulePlan;
use std::sync::Arc;

/// The id under which a group's wiring is registered (with the group id as generation).
pub const GROUP_WIRING: &str = "\u{0}group";
use serde::{Deserialize, Serialize};

/// One instruction to every worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Build the dataflow of a rule.
    ///
    /// Contract: `(id, generation)` is not installed; on the sending process
    /// its wiring was registered before the command was sent (other processes
    /// of a cluster build theirs when the command arrives). Every worker builds the dataflow named
    /// `rule:<id>` and starts draining its feed channels.
    CreateRule {
        /// Rule id.
        id: String,
        /// Distinguishes successive installations of the same id.
        generation: u64,
        /// The rule's start time (ms): every worker of every process starts
        /// the rule's inputs there, so processing-time windows agree.
        anchor_ms: u64,
        /// The compiled plan.
        plan: Arc<RulePlan>,
    },
    /// Remove a rule's dataflow.
    ///
    /// Contract: every worker closes the rule's inputs (its sources stop being
    /// drained), removes the dataflow, and drops its sink sender; when the last
    /// worker has done so the rule's emission queue closes, which tells the
    /// sink driver to flush and close its sinks. Unknown ids are ignored.
    DropRule {
        /// Rule id.
        id: String,
        /// The installation to drop.
        generation: u64,
    },
    /// Open a stream group: one dataflow that decodes a stream's records
    /// once and runs every member rule on them (see
    /// `oort_operators::shared_scan`).
    ///
    /// Contract: its wiring (the group's feed channels) was registered under
    /// `(GROUP_WIRING, group)` before the command was sent; every worker
    /// builds the dataflow named `group:<group>` and drains its feeds. `plan`
    /// is the first member's: it gives the source layout and the feed options.
    CreateGroup {
        /// Group id (unique for the runtime's life).
        group: u64,
        /// The first member's plan.
        plan: Arc<RulePlan>,
    },
    /// Add a rule to an open group. Contract: as `CreateRule` (its wiring,
    /// without feeds, was registered); the rule leaves with `DropRule`.
    JoinGroup {
        /// Rule id.
        id: String,
        /// Installation generation.
        generation: u64,
        /// The group.
        group: u64,
        /// The compiled plan (`oort_operators::shared_scan::fusable`).
        plan: Arc<RulePlan>,
    },
    /// Close a group whose last member left: its dataflow and feeds go.
    DropGroup {
        /// The group.
        group: u64,
    },
    /// Drop every rule and stop the workers.
    Shutdown,
}
