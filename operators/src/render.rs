//! Rendering: a [`RulePlan`] becomes one timely dataflow.
//!
//! ```text
//!  input(s) ──► [exchange to worker 0 if stateful] ──► RowQuery ──► sink closure
//!  Item           (analytic functions, last_hit_*)      Emission     (+ probe)
//! ```
//!
//! Each rule input is a timely `InputHandle` of decoded [`Item`]s. The caller
//! (the runtime's worker loop, or `oort check`) decodes records with the
//! rule's [`SourceDecoder`]s on the worker they arrived at — so decoding
//! parallelises across workers and the caller sees event times to keep the
//! watermark — then sends and advances the input (see [`crate::time`]).
//! Nothing is exchanged unless the query needs one ordered stream. Windowed and joined plans are rendered by
//! [`crate::window`] (keyed windowed aggregations in parallel by [`crate::keyed`]). Emissions leave through a sink closure on each worker; a
//! probe after it tells the caller when a time has been fully processed.

use crate::key_placement::KeyPlacement;
use crate::query::{Emission, RenderError, RowQuery};
use crate::source::{Item, SourceDecoder};
use crate::time::Time;
use oort_compiler::plan::{LogicalPlan, RulePlan};
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange as ExchangePact, ParallelizationContract, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandle, ProbeHandle, Scope};

/// The input handle type of a rule input.
pub type RuleInput = InputHandle<Time, CapacityContainerBuilder<Vec<Item>>>;

/// A stream of decoded items.
pub type ItemStream<'s> = Stream<'s, Time, Vec<Item>>;

/// Timely's stream type, re-exported for the operator modules.
pub use timely::dataflow::Stream;

/// A stream of emissions.
pub type EmissionStream<'s> = Stream<'s, Time, Vec<Emission>>;

/// What the caller keeps of a built rule dataflow.
pub struct RuleHandles {
    /// One input per plan source, in plan order.
    pub inputs: Vec<RuleInput>,
    /// The decoder of each input.
    pub decoders: Vec<SourceDecoder>,
    /// Passes a time once every emission up to it has reached the sink closure.
    pub probe: ProbeHandle<Time>,
}

/// Receives emissions on the worker thread: `(time, batch)`.
pub type SinkFn = Box<dyn FnMut(Time, &mut Vec<Emission>)>;

/// How a rule's dataflow is built beyond its plan.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Move every emission to worker 0 before the sink closure (a cluster's
    /// sinks run on process 0 only).
    pub gather_emissions: bool,
    /// Where the GROUP BY keys of a keyed window are folded: one placement
    /// shared by every worker (by the key hash alone when `None`).
    pub keys: Option<Arc<KeyPlacement>>,
}

/// Builds the dataflow of `plan` in `scope`.
pub fn build<'s>(scope: Scope<'s, Time>, plan: Arc<RulePlan>, sink: SinkFn) -> Result<RuleHandles, RenderError> {
    build_with(scope, plan, sink, BuildOptions::default())
}

/// Builds the dataflow of `plan` in `scope` with `options`.
pub fn build_with<'s>(
    scope: Scope<'s, Time>,
    plan: Arc<RulePlan>,
    sink: SinkFn,
    options: BuildOptions,
) -> Result<RuleHandles, RenderError> {
    let mut inputs = Vec::with_capacity(plan.sources.len());
    let mut decoded = Vec::with_capacity(plan.sources.len());
    let mut decoders = Vec::with_capacity(plan.sources.len());
    let used = crate::plan_exprs::referenced_slots(&plan);
    for source in &plan.sources {
        let (input, stream) = scope.new_input::<Vec<Item>>();
        let mut decoder = SourceDecoder::new(source, plan.width, plan.options.is_event_time);
        decoder.restrict_to(&used);
        decoders.push(decoder);
        decoded.push(stream);
        inputs.push(input);
    }
    let emissions = if is_row_query(&plan.root) {
        let Some(items) = decoded.into_iter().next() else {
            return Err(RenderError::Unsupported("a rule without input".into()));
        };
        let ordered = if plan.options.is_event_time { crate::window::event_time_order(items) } else { items };
        row_query(ordered, plan.clone())?
    } else {
        crate::window::render(scope, &plan, decoded, options.keys.clone())?
    };
    let probe = if options.gather_emissions {
        sink_into_with(emissions, ExchangePact::new(|_: &Emission| 0u64), sink)
    } else {
        sink_into_with(emissions, Pipeline, sink)
    };
    Ok(RuleHandles { inputs, decoders, probe })
}

/// Whether a plan is row-at-a-time: `Project(Filter?(Scan))`.
pub fn is_row_query(root: &LogicalPlan) -> bool {
    match root {
        LogicalPlan::Project { input, .. } => match &**input {
            LogicalPlan::Scan { .. } => true,
            LogicalPlan::Filter { input, .. } => matches!(**input, LogicalPlan::Scan { .. }),
            _ => false,
        },
        _ => false,
    }
}

/// Runs a row-at-a-time query. Stateful queries first move every item to worker 0.
fn row_query<'s>(items: ItemStream<'s>, plan: Arc<RulePlan>) -> Result<EmissionStream<'s>, RenderError> {
    let query = RowQuery::new(plan)?;
    Ok(if query.is_stateful() {
        row_query_with(items, ExchangePact::new(|_: &Item| 0u64), query)
    } else {
        row_query_with(items, Pipeline, query)
    })
}

fn row_query_with<'s, P>(items: ItemStream<'s>, pact: P, mut query: RowQuery) -> EmissionStream<'s>
where
    P: ParallelizationContract<Time, Vec<Item>>,
{
    items.unary::<CapacityContainerBuilder<Vec<Emission>>, _, _, _>(pact, "RowQuery", move |_cap, _info| {
        let mut out = Vec::new();
        move |input, output| {
            input.for_each_time(|cap, data| {
                let mut session = output.session(&cap);
                for batch in data {
                    for item in batch.iter() {
                        query.process(item, &mut out);
                        session.give_iterator(out.drain(..));
                    }
                    crate::source::recycle_batch(batch);
                }
            });
        }
    })
}

/// Hands emissions to the sink closure (on the workers `pact` moves them to)
/// and returns the rule's probe.
fn sink_into_with<P>(emissions: EmissionStream<'_>, pact: P, mut sink: SinkFn) -> ProbeHandle<Time>
where
    P: ParallelizationContract<Time, Vec<Emission>>,
{
    let mut buf = Vec::new();
    let probed =
        emissions.unary::<CapacityContainerBuilder<Vec<Emission>>, _, _, _>(pact, "Sink", move |_cap, _info| {
            move |input, _output| {
                input.for_each(|cap, data| {
                    buf.append(data);
                    if !buf.is_empty() {
                        sink(*cap.time(), &mut buf);
                        buf.clear();
                    }
                });
            }
        });
    let (probe, _) = probed.probe();
    probe
}
