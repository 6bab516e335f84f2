//! Finds every function call site of a plan (used to resolve implementations
//! once, when a rule's dataflow is built). A call's arguments are visited
//! before the call, so nested analytic calls are stepped first.

use crate::plan_exprs::{visit_expr_post, visit_plan};
use oort_compiler::plan::{FunctionCall, LogicalPlan, ScalarExpr};

/// Calls `f` for every `FunctionCall` in the plan.
pub fn for_each_call(plan: &LogicalPlan, f: &mut dyn FnMut(&FunctionCall)) {
    visit_plan(plan, &mut |e| expr_calls(e, f), &mut |_| {});
}

/// Calls `f` for every `FunctionCall` inside an expression, arguments first.
pub fn expr_calls(e: &ScalarExpr, f: &mut dyn FnMut(&FunctionCall)) {
    visit_expr_post(e, &mut |x| {
        if let ScalarExpr::Call(c) = x {
            f(c);
        }
    });
}
