//! Finds every function call site of a plan (used to resolve implementations
//! once, when a rule's dataflow is built). A call's arguments are visited
//! before the call, so nested analytic calls are stepped first.

use crate::plan_exprs::{visit_expr_post, visit_plan};
use oort_compiler::plan::{FunctionCall, LogicalPlan, ScalarExpr};

/// Calls `f` for every `FunctionCall` in the plan.
pub fn for_each_call(plan: &LogicalPlan, f: &mut dyn FnMut(&FunctionCall)) {
    visit_plan(plan, &mut |e| expr_calls(e, f), &mut |_| {});
}

/// Whether some call of the plan has a name `accepts` takes (plan call
/// names are lower case).
pub fn calls_any(plan: &LogicalPlan, accepts: impl Fn(&str) -> bool) -> bool {
    let mut found = false;
    for_each_call(plan, &mut |c| found |= accepts(&c.name));
    found
}

/// Whether `name` is one of the counters a rule keeps across its emissions
/// (`last_hit_count`, `last_hit_time`, `last_agg_hit_count`, `last_agg_hit_time`).
pub fn is_hit_counter(name: &str) -> bool {
    name.starts_with("last_hit") || name.starts_with("last_agg_hit")
}

/// Calls `f` for every `FunctionCall` inside an expression, arguments first.
pub fn expr_calls(e: &ScalarExpr, f: &mut dyn FnMut(&FunctionCall)) {
    visit_expr_post(e, &mut |x| {
        if let ScalarExpr::Call(c) = x {
            f(c);
        }
    });
}
