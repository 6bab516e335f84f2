//! Walking every expression of a plan: which slots a rule reads (so the
//! decoder validates only those, as eKuiper's column pruning does) and
//! whether an expression needs aggregates (so it cannot run before a window).

use oort_compiler::plan::{LogicalPlan, ProjectItem, RulePlan, ScalarExpr, WindowKind};

/// Calls `f` on `e` and every expression inside it, parents first.
pub fn visit_expr(e: &ScalarExpr, f: &mut dyn FnMut(&ScalarExpr)) {
    walk(e, f, false);
}

/// Calls `f` on `e` and every expression inside it, children first (the
/// arguments of a call are visited before the call).
pub fn visit_expr_post(e: &ScalarExpr, f: &mut dyn FnMut(&ScalarExpr)) {
    walk(e, f, true);
}

fn walk(e: &ScalarExpr, f: &mut dyn FnMut(&ScalarExpr), post: bool) {
    if !post {
        f(e);
    }
    let mut visit_expr = |x: &ScalarExpr| walk(x, f, post);
    match e {
        ScalarExpr::Literal(_)
        | ScalarExpr::Column(_)
        | ScalarExpr::Wildcard { .. }
        | ScalarExpr::Meta { .. }
        | ScalarExpr::Aggregate { .. } => {}
        ScalarExpr::Unary { expr, .. } | ScalarExpr::Field { expr, .. } => visit_expr(expr),
        ScalarExpr::Binary { left, right, .. } => {
            visit_expr(left);
            visit_expr(right);
        }
        ScalarExpr::Case { operand, whens, else_ } => {
            for o in operand.iter().chain(else_.iter()) {
                visit_expr(o);
            }
            for (w, t) in whens {
                visit_expr(w);
                visit_expr(t);
            }
        }
        ScalarExpr::In { expr, list, .. } => {
            visit_expr(expr);
            for i in list {
                visit_expr(i);
            }
        }
        ScalarExpr::Between { expr, low, high, .. } => {
            for x in [expr, low, high] {
                visit_expr(x);
            }
        }
        ScalarExpr::Like { expr, pattern, .. } => {
            visit_expr(expr);
            visit_expr(pattern);
        }
        ScalarExpr::Index { expr, index } => {
            visit_expr(expr);
            visit_expr(index);
        }
        ScalarExpr::Slice { expr, start, end } => {
            visit_expr(expr);
            for b in start.iter().chain(end.iter()) {
                visit_expr(b);
            }
        }
        ScalarExpr::Call(c) => {
            for a in c.args.iter().chain(c.partition_by.iter()) {
                visit_expr(a);
            }
            if let Some(w) = &c.when {
                visit_expr(w);
            }
        }
    }
    if post {
        f(e);
    }
}

/// Calls `f` on every top-level expression of a plan (and `wildcards` on each `*` item).
pub fn visit_plan(plan: &LogicalPlan, f: &mut dyn FnMut(&ScalarExpr), wildcards: &mut dyn FnMut(Option<usize>)) {
    match plan {
        LogicalPlan::Scan { .. } => {}
        LogicalPlan::Join { left, on, .. } => {
            on.iter().for_each(&mut *f);
            visit_plan(left, f, wildcards);
        }
        LogicalPlan::Window { input, spec } => {
            spec.filter.iter().chain(spec.trigger.iter()).for_each(&mut *f);
            if let WindowKind::State { begin, end } = &spec.kind {
                f(begin);
                f(end);
            }
            visit_plan(input, f, wildcards);
        }
        LogicalPlan::Filter { input, predicate } => {
            f(predicate);
            visit_plan(input, f, wildcards);
        }
        LogicalPlan::Aggregate { input, group_by, aggregates } => {
            group_by.iter().for_each(&mut *f);
            for a in aggregates {
                a.args.iter().chain(a.filter.iter()).for_each(&mut *f);
            }
            visit_plan(input, f, wildcards);
        }
        LogicalPlan::Sort { input, keys } => {
            keys.iter().for_each(|k| f(&k.expr));
            visit_plan(input, f, wildcards);
        }
        LogicalPlan::Project { input, items } => {
            for item in items {
                match item {
                    ProjectItem::Expr { expr, .. } => f(expr),
                    ProjectItem::Wildcard { source } => wildcards(*source),
                }
            }
            visit_plan(input, f, wildcards);
        }
    }
}

/// Whether an expression refers to an aggregate (it can only run after the window).
pub fn has_aggregate(e: &ScalarExpr) -> bool {
    let mut found = false;
    visit_expr(e, &mut |x| found |= matches!(x, ScalarExpr::Aggregate { .. }));
    found
}

/// The global slots a rule reads: referenced columns, and every slot of a
/// source read through `*`.
pub fn referenced_slots(plan: &RulePlan) -> Vec<bool> {
    let mut used = vec![false; plan.width];
    let mut whole: Vec<Option<usize>> = Vec::new();
    let mut mark = |e: &ScalarExpr| {
        visit_expr(e, &mut |x| match x {
            ScalarExpr::Column(c) => {
                if let Some(u) = used.get_mut(c.slot) {
                    *u = true;
                }
            }
            ScalarExpr::Wildcard { source } => whole.push(*source),
            _ => {}
        })
    };
    let mut stars: Vec<Option<usize>> = Vec::new();
    visit_plan(&plan.root, &mut mark, &mut |s| stars.push(s));
    for source in whole.into_iter().chain(stars) {
        for (i, s) in plan.sources.iter().enumerate() {
            if source.is_none_or(|x| x == i) {
                for slot in s.offset..s.offset + s.width() {
                    if let Some(u) = used.get_mut(slot) {
                        *u = true;
                    }
                }
            }
        }
    }
    used
}
