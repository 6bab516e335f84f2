//! Text renderings of a [`RulePlan`]: the EXPLAIN tree and eKuiper-style
//! expression text.
//!
//! [`explain`] prints one plan node per line, indented by depth, root first,
//! followed by the source layout; expressions are SQL-like, with every column
//! as `source.name#slot`, calls as `name@call_id(…)`, and aggregate references
//! as `$aggN`. It is what the golden tests compare and what
//! `GET /rules/{id}/explain` shows, so keep it stable.
//!
//! [`ekuiper_expr_text`] prints an expression the way eKuiper's AST `String()`
//! does inside runtime error messages (`binaryExpr:{ ldemo.size * 5 }`), so the
//! engine can reproduce eKuiper's error texts.

use std::fmt::Write;

use crate::catalog::{FieldType, StreamKind};
use crate::plan::{
    AggregateCall, BinaryOp, FunctionCall, JoinKind, Literal, LogicalPlan, ProjectItem, RulePlan, ScalarExpr, TimeUnit,
    UnaryOp, WindowKind, WindowSpec,
};

/// The EXPLAIN text of a plan.
pub fn explain(plan: &RulePlan) -> String {
    let mut out = String::new();
    node(plan, &plan.root, 0, &mut out);
    out.push_str("Sources:\n");
    for (i, s) in plan.sources.iter().enumerate() {
        let kind = match s.def.kind {
            StreamKind::Stream => "stream",
            StreamKind::Table => "table",
        };
        let schema = if s.def.fields.is_some() { "schema" } else { "schemaless" };
        let name = if s.alias == s.def.name { s.def.name.clone() } else { format!("{} AS {}", s.def.name, s.alias) };
        let slots: Vec<String> = s
            .slots
            .iter()
            .enumerate()
            .map(|(k, d)| match &d.ty {
                Some(t) => format!("#{} {} {}", s.offset + k, d.name, type_text(t)),
                None => format!("#{} {}", s.offset + k, d.name),
            })
            .collect();
        let rest = match s.rest_slot {
            Some(r) => format!(" rest=#{r}"),
            None => String::new(),
        };
        let _ = writeln!(out, "  {i}: {name} ({kind}, {schema}) [{}]{rest}", slots.join(", "));
    }
    let _ = writeln!(out, "width={} call_sites={}", plan.width, plan.call_sites);
    out
}

fn type_text(t: &FieldType) -> String {
    match t {
        FieldType::Bigint => "BIGINT".into(),
        FieldType::Float => "FLOAT".into(),
        FieldType::String => "STRING".into(),
        FieldType::Datetime => "DATETIME".into(),
        FieldType::Boolean => "BOOLEAN".into(),
        FieldType::Bytea => "BYTEA".into(),
        FieldType::Array(inner) => format!("ARRAY({})", type_text(inner)),
        FieldType::Struct(fs) => {
            let parts: Vec<String> = fs.iter().map(|f| format!("{} {}", f.name, type_text(&f.ty))).collect();
            format!("STRUCT({})", parts.join(", "))
        }
    }
}

fn node(plan: &RulePlan, n: &LogicalPlan, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let x = |e: &ScalarExpr| expr_text(plan, e);
    match n {
        LogicalPlan::Scan { source } => {
            let name = plan.sources.get(*source).map(|s| s.alias.clone()).unwrap_or_else(|| format!("?{source}"));
            let _ = writeln!(out, "{pad}Scan: {name}");
        }
        LogicalPlan::Join { left, right, kind, on } => {
            let k = match kind {
                JoinKind::Inner => "INNER",
                JoinKind::Left => "LEFT",
                JoinKind::Right => "RIGHT",
                JoinKind::Full => "FULL",
                JoinKind::Cross => "CROSS",
            };
            let name = plan.sources.get(*right).map(|s| s.alias.clone()).unwrap_or_else(|| format!("?{right}"));
            let on = match on {
                Some(e) => format!(" ON {}", x(e)),
                None => String::new(),
            };
            let _ = writeln!(out, "{pad}Join: {k} {name}{on}");
            node(plan, left, depth + 1, out);
        }
        LogicalPlan::Window { input, spec } => {
            let _ = writeln!(out, "{pad}Window: {}", window_text(plan, spec));
            node(plan, input, depth + 1, out);
        }
        LogicalPlan::Filter { input, predicate } => {
            let _ = writeln!(out, "{pad}Filter: {}", x(predicate));
            node(plan, input, depth + 1, out);
        }
        LogicalPlan::Aggregate { input, group_by, aggregates } => {
            let keys: Vec<String> = group_by.iter().map(x).collect();
            let aggs: Vec<String> =
                aggregates.iter().enumerate().map(|(i, a)| format!("$agg{i} := {}", agg_text(plan, a))).collect();
            let _ = writeln!(out, "{pad}Aggregate: group_by=[{}] aggregates=[{}]", keys.join(", "), aggs.join(", "));
            node(plan, input, depth + 1, out);
        }
        LogicalPlan::Sort { input, keys } => {
            let ks: Vec<String> =
                keys.iter().map(|k| format!("{}{}", x(&k.expr), if k.descending { " DESC" } else { "" })).collect();
            let _ = writeln!(out, "{pad}Sort: {}", ks.join(", "));
            node(plan, input, depth + 1, out);
        }
        LogicalPlan::Project { input, items } => {
            let its: Vec<String> = items
                .iter()
                .map(|i| match i {
                    ProjectItem::Wildcard { source: None } => "*".to_string(),
                    ProjectItem::Wildcard { source: Some(s) } => format!("{}.*", src_name(plan, *s)),
                    ProjectItem::Expr { name, expr, invisible, .. } => {
                        format!("{name} := {}{}", x(expr), if *invisible { " INVISIBLE" } else { "" })
                    }
                })
                .collect();
            let _ = writeln!(out, "{pad}Project: {}", its.join(", "));
            node(plan, input, depth + 1, out);
        }
    }
}

fn src_name(plan: &RulePlan, i: usize) -> String {
    plan.sources.get(i).map(|s| s.alias.clone()).unwrap_or_else(|| format!("?{i}"))
}

fn unit_text(u: TimeUnit) -> &'static str {
    match u {
        TimeUnit::Day => "dd",
        TimeUnit::Hour => "hh",
        TimeUnit::Minute => "mi",
        TimeUnit::Second => "ss",
        TimeUnit::Millisecond => "ms",
    }
}

fn window_text(plan: &RulePlan, w: &WindowSpec) -> String {
    let u = unit_text(w.unit);
    let mut s = match &w.kind {
        WindowKind::Tumbling { size_ms } => format!("TUMBLINGWINDOW({u}, size={size_ms}ms)"),
        WindowKind::Hopping { size_ms, hop_ms } => {
            format!("HOPPINGWINDOW({u}, size={size_ms}ms, hop={hop_ms}ms)")
        }
        WindowKind::Sliding { size_ms, delay_ms } => {
            format!("SLIDINGWINDOW({u}, size={size_ms}ms, delay={delay_ms}ms)")
        }
        WindowKind::Session { max_ms, timeout_ms } => {
            format!("SESSIONWINDOW({u}, max={max_ms}ms, timeout={timeout_ms}ms)")
        }
        WindowKind::Count { count, interval } => {
            format!("COUNTWINDOW(count={count}, interval={interval})")
        }
        WindowKind::State { begin, end } => {
            format!("STATEWINDOW(begin={}, end={})", expr_text(plan, begin), expr_text(plan, end))
        }
    };
    if let Some(f) = &w.filter {
        let _ = write!(s, " FILTER (WHERE {})", expr_text(plan, f));
    }
    if let Some(t) = &w.trigger {
        let _ = write!(s, " OVER (WHEN {})", expr_text(plan, t));
    }
    s
}

fn agg_text(plan: &RulePlan, a: &AggregateCall) -> String {
    let args: Vec<String> = a.args.iter().map(|e| expr_text(plan, e)).collect();
    let mut s = format!("{}({})", a.name, args.join(", "));
    if let Some(f) = &a.filter {
        let _ = write!(s, " FILTER (WHERE {})", expr_text(plan, f));
    }
    s
}

fn literal_text(l: &Literal) -> String {
    match l {
        Literal::Null => "null".into(),
        Literal::Bool(b) => b.to_string(),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => {
            let s = f.to_string();
            if s.contains(['.', 'e', 'E', 'i', 'N']) { s } else { format!("{s}.0") }
        }
        Literal::String(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

/// Binding strength for parenthesisation (higher binds tighter).
fn prec(e: &ScalarExpr) -> u8 {
    match e {
        ScalarExpr::Binary { op, .. } => match op {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::NotEq | BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => 4,
            BinaryOp::BitOr => 5,
            BinaryOp::BitXor => 6,
            BinaryOp::BitAnd => 7,
            BinaryOp::Add | BinaryOp::Sub => 8,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 9,
        },
        ScalarExpr::Unary { op: UnaryOp::Not, .. } => 3,
        ScalarExpr::In { .. } | ScalarExpr::Between { .. } | ScalarExpr::Like { .. } => 4,
        ScalarExpr::Unary { .. } => 10,
        _ => 11,
    }
}

fn sub(plan: &RulePlan, e: &ScalarExpr, min: u8) -> String {
    let s = expr_text(plan, e);
    if prec(e) < min { format!("({s})") } else { s }
}

fn call_text(plan: &RulePlan, c: &FunctionCall) -> String {
    let args: Vec<String> = c.args.iter().map(|e| expr_text(plan, e)).collect();
    let mut s = format!("{}@{}({})", c.name, c.call_id, args.join(", "));
    if !c.partition_by.is_empty() || c.when.is_some() {
        s.push_str(" OVER (");
        if !c.partition_by.is_empty() {
            let ps: Vec<String> = c.partition_by.iter().map(|e| expr_text(plan, e)).collect();
            let _ = write!(s, "PARTITION BY {}", ps.join(", "));
            if c.when.is_some() {
                s.push(' ');
            }
        }
        if let Some(w) = &c.when {
            let _ = write!(s, "WHEN {}", expr_text(plan, w));
        }
        s.push(')');
    }
    s
}

/// An expression as SQL-like text (the EXPLAIN notation).
pub fn expr_text(plan: &RulePlan, e: &ScalarExpr) -> String {
    let p = prec(e);
    match e {
        ScalarExpr::Literal(l) => literal_text(l),
        ScalarExpr::Column(c) => format!("{}.{}#{}", src_name(plan, c.source), c.name, c.slot),
        ScalarExpr::Wildcard { source: None } => "*".into(),
        ScalarExpr::Wildcard { source: Some(s) } => format!("{}.*", src_name(plan, *s)),
        ScalarExpr::Meta { key } => format!("meta({key})"),
        ScalarExpr::Unary { op, expr } => match op {
            UnaryOp::Not => format!("NOT {}", sub(plan, expr, p)),
            UnaryOp::Neg => format!("-{}", sub(plan, expr, p)),
            UnaryOp::Plus => format!("+{}", sub(plan, expr, p)),
        },
        ScalarExpr::Binary { op, left, right } => {
            format!("{} {} {}", sub(plan, left, p), op.symbol(), sub(plan, right, p + 1))
        }
        ScalarExpr::Case { operand, whens, else_ } => {
            let mut s = "CASE".to_string();
            if let Some(o) = operand {
                let _ = write!(s, " {}", expr_text(plan, o));
            }
            for (w, t) in whens {
                let _ = write!(s, " WHEN {} THEN {}", expr_text(plan, w), expr_text(plan, t));
            }
            if let Some(x) = else_ {
                let _ = write!(s, " ELSE {}", expr_text(plan, x));
            }
            s.push_str(" END");
            s
        }
        ScalarExpr::In { expr, list, negated } => {
            let l: Vec<String> = list.iter().map(|x| expr_text(plan, x)).collect();
            format!("{} {}IN ({})", sub(plan, expr, p + 1), if *negated { "NOT " } else { "" }, l.join(", "))
        }
        ScalarExpr::Between { expr, low, high, negated } => format!(
            "{} {}BETWEEN {} AND {}",
            sub(plan, expr, p + 1),
            if *negated { "NOT " } else { "" },
            sub(plan, low, p + 1),
            sub(plan, high, p + 1)
        ),
        ScalarExpr::Like { expr, pattern, negated } => format!(
            "{} {}LIKE {}",
            sub(plan, expr, p + 1),
            if *negated { "NOT " } else { "" },
            sub(plan, pattern, p + 1)
        ),
        ScalarExpr::Index { expr, index } => {
            format!("{}[{}]", sub(plan, expr, 11), expr_text(plan, index))
        }
        ScalarExpr::Slice { expr, start, end } => format!(
            "{}[{}:{}]",
            sub(plan, expr, 11),
            start.as_ref().map(|s| expr_text(plan, s)).unwrap_or_default(),
            end.as_ref().map(|s| expr_text(plan, s)).unwrap_or_default()
        ),
        ScalarExpr::Field { expr, name } => format!("{}->{name}", sub(plan, expr, 11)),
        ScalarExpr::Call(c) => call_text(plan, c),
        ScalarExpr::Aggregate { index } => format!("$agg{index}"),
    }
}

/// The aggregate calls of the plan's `Aggregate` node, if any.
fn plan_aggregates(plan: &RulePlan) -> &[AggregateCall] {
    let mut n = &plan.root;
    loop {
        match n {
            LogicalPlan::Aggregate { aggregates, .. } => return aggregates,
            LogicalPlan::Scan { .. } => return &[],
            LogicalPlan::Join { left: input, .. }
            | LogicalPlan::Window { input, .. }
            | LogicalPlan::Filter { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Project { input, .. } => n = input,
        }
    }
}

/// eKuiper's Go token text of a binary operator.
fn ekuiper_op(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Eq => "=",
        BinaryOp::NotEq => "!=",
        op => op.symbol(),
    }
}

fn ek_call(plan: &RulePlan, name: &str, args: &[ScalarExpr]) -> String {
    if args.is_empty() {
        format!("Call:{{ name:{name} }}")
    } else {
        let a: Vec<String> = args.iter().map(|x| ekuiper_expr_text(x, plan)).collect();
        format!("Call:{{ name:{name}, args:[{}] }}", a.join(", "))
    }
}

/// An expression as eKuiper's AST `String()` prints it in error messages:
/// `binaryExpr:{ ldemo.size * 5 }`, `Call:{ name:avg, args:[demo.a] }`, columns
/// qualified with their stream name.
pub fn ekuiper_expr_text(expr: &ScalarExpr, plan: &RulePlan) -> String {
    let t = |e: &ScalarExpr| ekuiper_expr_text(e, plan);
    match expr {
        ScalarExpr::Literal(l) => match l {
            Literal::Null => "nil".into(),
            Literal::Bool(b) => b.to_string(),
            Literal::Int(i) => i.to_string(),
            Literal::Float(f) => f.to_string(),
            Literal::String(s) => format!("\"{s}\""),
        },
        ScalarExpr::Column(c) => {
            let stream = plan.sources.get(c.source).map(|s| s.def.name.as_str()).unwrap_or("$$default");
            format!("{stream}.{}", c.name)
        }
        ScalarExpr::Wildcard { .. } => "*".into(),
        ScalarExpr::Meta { key } => format!("$$default.{key}"),
        ScalarExpr::Unary { op, expr } => match op {
            UnaryOp::Not => format!("NOT {}", t(expr)),
            UnaryOp::Neg => format!("-{}", t(expr)),
            UnaryOp::Plus => format!("+{}", t(expr)),
        },
        ScalarExpr::Binary { op, left, right } => {
            format!("binaryExpr:{{ {} {} {} }}", t(left), ekuiper_op(*op), t(right))
        }
        ScalarExpr::Case { operand, whens, else_ } => {
            let mut s = "caseExpr:{ ".to_string();
            if let Some(o) = operand {
                let _ = write!(s, "value:{{ {} }}, ", t(o));
            }
            let ws: Vec<String> =
                whens.iter().map(|(w, r)| format!("{{ whenClause:{{ {} }} then:{{ {} }} }}", t(w), t(r))).collect();
            let _ = write!(s, "whenClauses:[ {} ]", ws.join(", "));
            if let Some(x) = else_ {
                let _ = write!(s, ", elseClause:{{ {} }}", t(x));
            }
            s.push_str(" }");
            s
        }
        ScalarExpr::In { expr, list, negated } => {
            let l: Vec<String> = list.iter().map(&t).collect();
            format!(
                "binaryExpr:{{ {} {} valueSetExpr:{{ {} }} }}",
                t(expr),
                if *negated { "NOT IN" } else { "IN" },
                l.join(", ")
            )
        }
        ScalarExpr::Between { expr, low, high, negated } => format!(
            "binaryExpr:{{ {} {} betweenExpr:{{ {}, {} }} }}",
            t(expr),
            if *negated { "NOT BETWEEN" } else { "BETWEEN" },
            t(low),
            t(high)
        ),
        ScalarExpr::Like { expr, pattern, negated } => format!(
            "binaryExpr:{{ {} {} likePattern:{{ {} }} }}",
            t(expr),
            if *negated { "NOT LIKE" } else { "LIKE" },
            t(pattern)
        ),
        ScalarExpr::Index { expr, index } => {
            format!("binaryExpr:{{ {}[] indexExpr:{{ {} }} }}", t(expr), t(index))
        }
        ScalarExpr::Slice { expr, start, end } => format!(
            "binaryExpr:{{ {}[] colonExpr:{{ {}:{} }} }}",
            t(expr),
            start.as_ref().map(|s| t(s)).unwrap_or_default(),
            end.as_ref().map(|s| t(s)).unwrap_or_default()
        ),
        ScalarExpr::Field { expr, name } => {
            format!("binaryExpr:{{ {} -> jsonFieldName:{name} }}", t(expr))
        }
        ScalarExpr::Call(c) => ek_call(plan, &c.name, &c.args),
        ScalarExpr::Aggregate { index } => match plan_aggregates(plan).get(*index) {
            Some(a) => ek_call(plan, &a.name, &a.args),
            None => format!("$agg{index}"),
        },
    }
}
