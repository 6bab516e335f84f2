//! Walks a plan tree to visit every function call site (used to resolve
//! implementations once, when a rule's dataflow is built).

use oort_compiler::plan::{FunctionCall, LogicalPlan, ProjectItem, ScalarExpr, WindowKind};

/// Calls `f` for every `FunctionCall` in the plan, in tree order.
pub fn for_each_call(plan: &LogicalPlan, f: &mut dyn FnMut(&FunctionCall)) {
    match plan {
        LogicalPlan::Scan { .. } => {}
        LogicalPlan::Join { left, on, .. } => {
            for_each_call(left, f);
            if let Some(e) = on {
                expr_calls(e, f);
            }
        }
        LogicalPlan::Window { input, spec } => {
            for_each_call(input, f);
            for e in spec.filter.iter().chain(spec.trigger.iter()) {
                expr_calls(e, f);
            }
            if let WindowKind::State { begin, end } = &spec.kind {
                expr_calls(begin, f);
                expr_calls(end, f);
            }
        }
        LogicalPlan::Filter { input, predicate } => {
            for_each_call(input, f);
            expr_calls(predicate, f);
        }
        LogicalPlan::Aggregate { input, group_by, aggregates } => {
            for_each_call(input, f);
            for e in group_by {
                expr_calls(e, f);
            }
            for a in aggregates {
                for e in a.args.iter().chain(a.filter.iter()) {
                    expr_calls(e, f);
                }
            }
        }
        LogicalPlan::Sort { input, keys } => {
            for_each_call(input, f);
            for k in keys {
                expr_calls(&k.expr, f);
            }
        }
        LogicalPlan::Project { input, items } => {
            for_each_call(input, f);
            for i in items {
                if let ProjectItem::Expr { expr, .. } = i {
                    expr_calls(expr, f);
                }
            }
        }
    }
}

/// Calls `f` for every `FunctionCall` inside an expression.
pub fn expr_calls(e: &ScalarExpr, f: &mut dyn FnMut(&FunctionCall)) {
    match e {
        ScalarExpr::Literal(_)
        | ScalarExpr::Column(_)
        | ScalarExpr::Wildcard { .. }
        | ScalarExpr::Meta { .. }
        | ScalarExpr::Aggregate { .. } => {}
        ScalarExpr::Unary { expr, .. } | ScalarExpr::Field { expr, .. } => expr_calls(expr, f),
        ScalarExpr::Binary { left, right, .. } => {
            expr_calls(left, f);
            expr_calls(right, f);
        }
        ScalarExpr::Case { operand, whens, else_ } => {
            if let Some(o) = operand {
                expr_calls(o, f);
            }
            for (w, t) in whens {
                expr_calls(w, f);
                expr_calls(t, f);
            }
            if let Some(e) = else_ {
                expr_calls(e, f);
            }
        }
        ScalarExpr::In { expr, list, .. } => {
            expr_calls(expr, f);
            for i in list {
                expr_calls(i, f);
            }
        }
        ScalarExpr::Between { expr, low, high, .. } => {
            expr_calls(expr, f);
            expr_calls(low, f);
            expr_calls(high, f);
        }
        ScalarExpr::Like { expr, pattern, .. } => {
            expr_calls(expr, f);
            expr_calls(pattern, f);
        }
        ScalarExpr::Index { expr, index } => {
            expr_calls(expr, f);
            expr_calls(index, f);
        }
        ScalarExpr::Slice { expr, start, end } => {
            expr_calls(expr, f);
            for b in start.iter().chain(end.iter()) {
                expr_calls(b, f);
            }
        }
        ScalarExpr::Call(c) => {
            for a in c.args.iter().chain(c.partition_by.iter()) {
                expr_calls(a, f);
            }
            if let Some(w) = &c.when {
                expr_calls(w, f);
            }
            f(c);
        }
    }
}
