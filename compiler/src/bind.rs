//! Binding: a parsed `SELECT` plus the catalog becomes a [`RulePlan`].
//!
//! The binder owns name resolution and plan shape:
//!
//! * **Sources** are registered in SQL order (FROM, then each JOIN). A schema
//!   stream decodes all its declared fields, in schema order; a schemaless
//!   stream decodes exactly the fields the query names (first reference order),
//!   plus a *rest slot* holding every other field when the query reads `*`.
//!   Slots are first numbered per source and made global (offset added) once
//!   every clause is bound, because a schemaless source's width is only known
//!   at the end.
//! * **Columns.** `s.col` resolves in source `s` (alias or stream name, any
//!   case); if `s` names no source, `s.col` is field access `s->col`, as in
//!   eKuiper. An unqualified name is first a SELECT alias (see below), then a
//!   column of the one schema source declaring it (two declaring it is an
//!   ambiguity error), else of the schemaless source; with several schemaless
//!   sources it reads the first of them whose row has the field
//!   (`coalesce(s1.col, s2.col, …)`), which is what eKuiper's joined-tuple
//!   lookup does at run time.
//! * **Aliases** are inlined: a SELECT alias may be used by any other item
//!   (earlier or later), WHERE, ON, GROUP BY, window FILTER/OVER, HAVING and
//!   ORDER BY. While an alias's own expression is bound, its name means the
//!   stream column (so `size + 1 AS size` reads the column). Inlined calls keep
//!   the `call_id` of their original parse site, so a stateful call inlined in
//!   several places is still one call per row.
//! * **Functions** are checked against [`Catalog::function`]; aggregate calls
//!   move into the [`LogicalPlan::Aggregate`] node (identical calls share one
//!   slot) and are referenced by [`ScalarExpr::Aggregate`].
//! * **Plan shape**: `Project(Sort?(Filter-HAVING?(Aggregate?(Filter-WHERE?(Window?(Join*(Scan)))))))`.
//!   An `Aggregate` node exists when there are GROUP BY keys or aggregate calls;
//!   without a window its group is the single current row (eKuiper's behaviour
//!   for `SELECT count(*) FROM s`).

use std::collections::BTreeMap;

use crate::ast::{CallExpr, Expr, ExprKind, SelectStmt};
use crate::catalog::{Catalog, StreamDef, StreamKind};
use crate::error::{CompileError, Pos, Result};
use crate::functions::FunctionKind;
use crate::parser::parse_select;
use crate::plan::{
    AggregateCall, ColumnRef, FunctionCall, Literal, LogicalPlan, ProjectItem, RuleOptions, RulePlan, ScalarExpr,
    SlotDef, SortKey, SourcePlan, TimeUnit, WindowKind, WindowSpec,
};

/// Window function names (lower case) recognised in GROUP BY.
pub const WINDOW_FUNCTIONS: &[&str] =
    &["tumblingwindow", "hoppingwindow", "slidingwindow", "sessionwindow", "countwindow", "statewindow"];

/// Prefix of eKuiper's automatic output names (`kuiper_field_0`, …).
pub const DEFAULT_FIELD_NAME_PREFIX: &str = "kuiper_field_";

/// Compile a rule's SQL into a plan.
pub fn compile_rule(sql: &str, catalog: &dyn Catalog, options: RuleOptions) -> Result<RulePlan> {
    let stmt = parse_select(sql)?;
    bind_select(sql, &stmt, catalog, options)
}

/// Bind an already parsed `SELECT` (see the module doc for the rules).
pub fn bind_select(sql: &str, stmt: &SelectStmt, catalog: &dyn Catalog, options: RuleOptions) -> Result<RulePlan> {
    let mut b = Binder {
        cat: catalog,
        srcs: Vec::new(),
        aliases: Vec::new(),
        expanding: Vec::new(),
        call_ids: BTreeMap::new(),
        next_call_id: 0,
        aggs: Vec::new(),
        clause: Clause::Select,
        in_agg: None,
        call_depth: 0,
        srf_seen: false,
    };
    b.register(&stmt.from.name, stmt.from.alias.as_deref())?;
    for j in &stmt.joins {
        b.register(&j.source.name, j.source.alias.as_deref())?;
    }
    for (i, item) in stmt.items.iter().enumerate() {
        if let Some(a) = &item.alias {
            b.aliases.push(Alias { name: a.clone(), expr: &item.expr, item: i });
        }
    }

    // SELECT items.
    let mut items = Vec::new();
    let mut auto = 0usize;
    let mut srf = 0usize;
    for (i, item) in stmt.items.iter().enumerate() {
        b.clause = Clause::Select;
        if let ExprKind::Wildcard { qualifier } = &item.expr.kind {
            let source = b.wildcard_source(qualifier.as_deref(), item.expr.pos, true)?;
            items.push(ProjectItem::Wildcard { source });
            continue;
        }
        let alias_idx = b.aliases.iter().position(|a| a.item == i);
        if let Some(ai) = alias_idx {
            b.expanding.push(ai);
        }
        b.srf_seen_reset();
        let expr = b.expr(&item.expr);
        if alias_idx.is_some() {
            b.expanding.pop();
        }
        let expr = expr?;
        if b.srf_seen_reset() {
            srf += 1;
            if srf > 1 {
                return Err(CompileError::Plan(format!(
                    "select clause shouldn't has multi set-returning-functions (at {})",
                    item.expr.pos
                )));
            }
        }
        let name = match &item.alias {
            Some(a) => a.clone(),
            None => match auto_name(&item.expr, &expr) {
                Some(n) => n,
                None => {
                    let n = format!("{DEFAULT_FIELD_NAME_PREFIX}{auto}");
                    auto += 1;
                    n
                }
            },
        };
        items.push(ProjectItem::Expr { name, expr, invisible: item.invisible, aliased: item.alias.is_some() });
    }

    // JOIN ON.
    let mut joins = Vec::new();
    for (k, j) in stmt.joins.iter().enumerate() {
        b.clause = Clause::On;
        let on = match &j.on {
            Some(e) => Some(b.expr(e)?),
            None => None,
        };
        joins.push((k + 1, j.kind, on));
    }

    // WHERE.
    b.clause = Clause::Where;
    let where_ = match &stmt.where_ {
        Some(e) => Some(b.expr(e)?),
        None => None,
    };

    // GROUP BY: the window and the group keys.
    let mut window: Option<WindowSpec> = None;
    let mut keys = Vec::new();
    for g in &stmt.group_by {
        if let ExprKind::Call(c) = &g.kind {
            let lname = c.name.to_ascii_lowercase();
            if WINDOW_FUNCTIONS.contains(&lname.as_str()) {
                if window.is_some() {
                    return Err(CompileError::Plan(format!(
                        "only one window is allowed in GROUP BY, found a second one ({}) at {}",
                        lname, g.pos
                    )));
                }
                window = Some(b.window(c, &lname, g.pos)?);
                continue;
            }
        }
        b.clause = Clause::GroupBy;
        keys.push(b.expr(g)?);
    }

    if !stmt.joins.is_empty() && window.is_none() && b.srcs.iter().all(|s| s.def.kind == StreamKind::Stream) {
        return Err(CompileError::Plan("a time window or count window is required to join multiple streams".into()));
    }

    // HAVING.
    b.clause = Clause::Having;
    let having = match &stmt.having {
        Some(e) => Some(b.expr(e)?),
        None => None,
    };

    // ORDER BY.
    let mut sort = Vec::new();
    for o in &stmt.order_by {
        b.clause = Clause::OrderBy;
        sort.push(SortKey { expr: b.expr(&o.expr)?, descending: o.descending });
    }

    // Build the tree (slots still local to their source).
    let mut root = LogicalPlan::Scan { source: 0 };
    for (right, kind, on) in joins {
        root = LogicalPlan::Join { left: Box::new(root), right, kind, on };
    }
    if let Some(spec) = window {
        root = LogicalPlan::Window { input: Box::new(root), spec };
    }
    if let Some(predicate) = where_ {
        root = LogicalPlan::Filter { input: Box::new(root), predicate };
    }
    if !keys.is_empty() || !b.aggs.is_empty() {
        root =
            LogicalPlan::Aggregate { input: Box::new(root), group_by: keys, aggregates: std::mem::take(&mut b.aggs) };
    }
    let has_having = having.is_some();
    if let Some(predicate) = having {
        root = LogicalPlan::Filter { input: Box::new(root), predicate };
    }
    if !sort.is_empty() {
        root = LogicalPlan::Sort { input: Box::new(root), keys: sort };
    }
    root = LogicalPlan::Project { input: Box::new(root), items };

    // Event time reads each row's time from the TIMESTAMP field: a schemaless
    // stream must decode it even when the query does not name it.
    if options.is_event_time {
        for src in b.srcs.iter_mut().filter(|s| s.def.fields.is_none()) {
            if let Some(ts) = src.def.options.timestamp.clone()
                && !src.fields.iter().any(|f| f.name.eq_ignore_ascii_case(&ts))
            {
                src.fields.push(SlotDef { name: ts, ty: None });
            }
        }
    }

    // Lay out the slots and make column references global.
    let mut sources = Vec::new();
    let mut offsets = Vec::new();
    let mut offset = 0usize;
    for s in b.srcs {
        let rest_slot = (s.rest && s.def.fields.is_none()).then_some(offset + s.fields.len());
        let sp = SourcePlan { def: s.def, alias: s.alias, offset, slots: s.fields, rest_slot };
        offsets.push(offset);
        offset += sp.width();
        sources.push(sp);
    }
    visit_plan_exprs(&mut root, &mut |e| {
        visit_expr(e, &mut |x| {
            if let ScalarExpr::Column(c) = x {
                c.slot += offsets.get(c.source).copied().unwrap_or(0);
            }
        })
    });

    Ok(RulePlan {
        sql: sql.to_string(),
        sources,
        width: offset,
        root,
        call_sites: b.next_call_id,
        options,
        has_having,
        rule_id: String::new(),
    })
}

/// eKuiper's name for an unaliased item: a column's name, a call's function
/// name; `None` for anything else (it then gets `kuiper_field_N`).
fn auto_name(ast: &Expr, bound: &ScalarExpr) -> Option<String> {
    match &ast.kind {
        ExprKind::Ident { name, .. } => match bound {
            ScalarExpr::Column(c) if c.name.eq_ignore_ascii_case(name) => Some(c.name.clone()),
            _ => Some(name.clone()),
        },
        ExprKind::Call(c) => Some(c.name.to_ascii_lowercase()),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clause {
    Select,
    On,
    Where,
    GroupBy,
    Window,
    Having,
    OrderBy,
}

impl Clause {
    fn name(self) -> &'static str {
        match self {
            Clause::Select => "SELECT",
            Clause::On => "JOIN ON",
            Clause::Where => "WHERE",
            Clause::GroupBy => "GROUP BY",
            Clause::Window => "window FILTER/OVER",
            Clause::Having => "HAVING",
            Clause::OrderBy => "ORDER BY",
        }
    }
}

struct Src {
    def: StreamDef,
    alias: String,
    fields: Vec<SlotDef>,
    rest: bool,
}

struct Alias<'a> {
    name: String,
    expr: &'a Expr,
    item: usize,
}

struct Binder<'a> {
    cat: &'a dyn Catalog,
    srcs: Vec<Src>,
    aliases: Vec<Alias<'a>>,
    /// Aliases whose expression is being bound (their names mean columns there).
    expanding: Vec<usize>,
    /// Parse site → dense call id.
    call_ids: BTreeMap<usize, usize>,
    next_call_id: usize,
    aggs: Vec<AggregateCall>,
    clause: Clause,
    /// The aggregate whose arguments are being bound.
    in_agg: Option<String>,
    /// Depth of function-argument binding (for nested set-returning calls).
    call_depth: usize,
    /// A set-returning call was bound (reset per SELECT item).
    srf_seen: bool,
}

impl<'a> Binder<'a> {
    /// Whether a set-returning call was bound since the last reset; resets.
    fn srf_seen_reset(&mut self) -> bool {
        std::mem::replace(&mut self.srf_seen, false)
    }

    fn register(&mut self, name: &str, alias: Option<&str>) -> Result<()> {
        let def = self.cat.stream(name).ok_or_else(|| CompileError::UnknownStream { name: name.to_string() })?.clone();
        let alias = alias.unwrap_or(&def.name).to_string();
        if self.srcs.iter().any(|s| s.alias.eq_ignore_ascii_case(&alias)) {
            return Err(CompileError::Plan(format!(
                "source {alias} appears twice in FROM/JOIN; give one of them an alias"
            )));
        }
        let fields = match &def.fields {
            Some(fs) => fs.iter().map(|f| SlotDef { name: f.name.clone(), ty: Some(f.ty.clone()) }).collect(),
            None => Vec::new(),
        };
        self.srcs.push(Src { def, alias, fields, rest: false });
        Ok(())
    }

    /// The source named `q` (alias first, then stream name; case-insensitive).
    fn find_source(&self, q: &str) -> Option<usize> {
        self.srcs
            .iter()
            .position(|s| s.alias.eq_ignore_ascii_case(q))
            .or_else(|| self.srcs.iter().position(|s| s.def.name.eq_ignore_ascii_case(q)))
    }

    /// Resolve the source of `*` / `q.*` and mark schemaless sources as needing their rest slot.
    fn wildcard_source(&mut self, q: Option<&str>, pos: Pos, rest: bool) -> Result<Option<usize>> {
        match q {
            Some(q) => {
                let i = self
                    .find_source(q)
                    .ok_or_else(|| CompileError::Plan(format!("unknown stream {q} in {q}.* at {pos}")))?;
                if rest {
                    self.srcs[i].rest = true;
                }
                Ok(Some(i))
            }
            None => {
                if rest {
                    for s in &mut self.srcs {
                        s.rest = true;
                    }
                }
                Ok(None)
            }
        }
    }

    fn column(&mut self, i: usize, name: &str, written: &str, pos: Pos) -> Result<ScalarExpr> {
        let src = &mut self.srcs[i];
        let slot = if src.def.fields.is_some() {
            src.fields
                .iter()
                .position(|f| f.name == name)
                .or_else(|| src.fields.iter().position(|f| f.name.eq_ignore_ascii_case(name)))
                .ok_or_else(|| CompileError::UnknownField { name: written.to_string(), pos })?
        } else {
            match src.fields.iter().position(|f| f.name == name) {
                Some(k) => k,
                None => {
                    src.fields.push(SlotDef { name: name.to_string(), ty: None });
                    src.fields.len() - 1
                }
            }
        };
        Ok(ScalarExpr::Column(ColumnRef { source: i, slot, name: src.fields[slot].name.clone() }))
    }

    fn declares(src: &Src, name: &str) -> bool {
        src.def.fields.as_ref().is_some_and(|fs| fs.iter().any(|f| f.name.eq_ignore_ascii_case(name)))
    }

    /// An unqualified name: alias, else column.
    fn ident(&mut self, name: &str, pos: Pos) -> Result<ScalarExpr> {
        let alias = self
            .aliases
            .iter()
            .position(|a| a.name == name)
            .or_else(|| self.aliases.iter().position(|a| a.name.eq_ignore_ascii_case(name)));
        if let Some(ai) = alias
            && !self.expanding.contains(&ai)
        {
            let e = self.aliases[ai].expr;
            self.expanding.push(ai);
            let r = self.expr(e);
            self.expanding.pop();
            return r;
        }
        let declaring: Vec<usize> = (0..self.srcs.len()).filter(|&i| Self::declares(&self.srcs[i], name)).collect();
        match declaring.as_slice() {
            [i] => return self.column(*i, name, name, pos),
            [a, b, ..] => {
                return Err(CompileError::Plan(format!(
                    "ambiguous field {name} at {pos}: both {} and {} declare it, write {}.{name} or {}.{name}",
                    self.srcs[*a].alias, self.srcs[*b].alias, self.srcs[*a].alias, self.srcs[*b].alias
                )));
            }
            [] => {}
        }
        let schemaless: Vec<usize> = (0..self.srcs.len()).filter(|&i| self.srcs[i].def.fields.is_none()).collect();
        match schemaless.as_slice() {
            [] => Err(CompileError::UnknownField { name: name.to_string(), pos }),
            [i] => self.column(*i, name, name, pos),
            many => {
                let mut args = Vec::new();
                for &i in many {
                    args.push(self.column(i, name, name, pos)?);
                }
                let call_id = self.fresh_call_id();
                Ok(ScalarExpr::Call(FunctionCall {
                    name: "coalesce".into(),
                    args,
                    call_id,
                    partition_by: Vec::new(),
                    when: None,
                }))
            }
        }
    }

    fn fresh_call_id(&mut self) -> usize {
        let id = self.next_call_id;
        self.next_call_id += 1;
        id
    }

    fn call_id(&mut self, site: usize) -> usize {
        if let Some(&id) = self.call_ids.get(&site) {
            return id;
        }
        let id = self.fresh_call_id();
        self.call_ids.insert(site, id);
        id
    }

    fn boxed(&mut self, e: &Expr) -> Result<Box<ScalarExpr>> {
        Ok(Box::new(self.expr(e)?))
    }

    fn opt(&mut self, e: &Option<Box<Expr>>) -> Result<Option<Box<ScalarExpr>>> {
        match e {
            Some(e) => Ok(Some(self.boxed(e)?)),
            None => Ok(None),
        }
    }

    /// Bind one expression.
    fn expr(&mut self, e: &Expr) -> Result<ScalarExpr> {
        Ok(match &e.kind {
            ExprKind::Literal(l) => ScalarExpr::Literal(l.clone()),
            ExprKind::Ident { qualifier: None, name } => self.ident(name, e.pos)?,
            ExprKind::Ident { qualifier: Some(q), name } => match self.find_source(q) {
                Some(i) => self.column(i, name, &format!("{q}.{name}"), e.pos)?,
                None => ScalarExpr::Field { expr: Box::new(self.ident(q, e.pos)?), name: name.clone() },
            },
            ExprKind::Wildcard { .. } => {
                return Err(CompileError::Syntax {
                    pos: e.pos,
                    message: "* is only allowed as a select item or a function argument".into(),
                });
            }
            ExprKind::Unary { op, expr } => ScalarExpr::Unary { op: *op, expr: self.boxed(expr)? },
            ExprKind::Binary { op, left, right } => {
                ScalarExpr::Binary { op: *op, left: self.boxed(left)?, right: self.boxed(right)? }
            }
            ExprKind::Paren(inner) => self.expr(inner)?,
            ExprKind::Case { operand, whens, else_ } => {
                let operand = self.opt(operand)?;
                let mut ws = Vec::new();
                for (w, t) in whens {
                    ws.push((self.expr(w)?, self.expr(t)?));
                }
                ScalarExpr::Case { operand, whens: ws, else_: self.opt(else_)? }
            }
            ExprKind::In { expr, list, negated } => {
                let expr = self.boxed(expr)?;
                let mut l = Vec::new();
                for x in list {
                    l.push(self.expr(x)?);
                }
                ScalarExpr::In { expr, list: l, negated: *negated }
            }
            ExprKind::Between { expr, low, high, negated } => ScalarExpr::Between {
                expr: self.boxed(expr)?,
                low: self.boxed(low)?,
                high: self.boxed(high)?,
                negated: *negated,
            },
            ExprKind::Like { expr, pattern, negated } => {
                ScalarExpr::Like { expr: self.boxed(expr)?, pattern: self.boxed(pattern)?, negated: *negated }
            }
            ExprKind::Index { expr, index } => ScalarExpr::Index { expr: self.boxed(expr)?, index: self.boxed(index)? },
            ExprKind::Slice { expr, start, end } => {
                ScalarExpr::Slice { expr: self.boxed(expr)?, start: self.opt(start)?, end: self.opt(end)? }
            }
            ExprKind::Field { expr, name } => ScalarExpr::Field { expr: self.boxed(expr)?, name: name.clone() },
            ExprKind::Call(c) => self.call(c, e.pos)?,
        })
    }

    fn args(&mut self, c: &CallExpr, lname: &str) -> Result<Vec<ScalarExpr>> {
        self.call_depth += 1;
        let mut out = Vec::new();
        for a in &c.args {
            let r = match &a.kind {
                // count(*) needs no payload: it does not force the rest slot.
                ExprKind::Wildcard { qualifier } => self
                    .wildcard_source(qualifier.as_deref(), a.pos, lname != "count")
                    .map(|source| ScalarExpr::Wildcard { source }),
                _ => self.expr(a),
            };
            match r {
                Ok(x) => out.push(x),
                Err(e) => {
                    self.call_depth -= 1;
                    return Err(e);
                }
            }
        }
        self.call_depth -= 1;
        Ok(out)
    }

    fn call(&mut self, c: &CallExpr, pos: Pos) -> Result<ScalarExpr> {
        let lname = c.name.to_ascii_lowercase();
        if WINDOW_FUNCTIONS.contains(&lname.as_str()) {
            return Err(CompileError::Plan(format!(
                "window function {} is only allowed in GROUP BY (at {pos})",
                c.name
            )));
        }
        if lname == "meta" || lname == "mqtt" {
            if c.over || c.filter.is_some() {
                return Err(CompileError::Plan(format!("OVER/FILTER is not allowed on {lname} (at {pos})")));
            }
            return match c.args.as_slice() {
                [a] => match &a.kind {
                    ExprKind::Ident { qualifier: None, name } => Ok(ScalarExpr::Meta { key: name.clone() }),
                    ExprKind::Wildcard { qualifier: None } => Ok(ScalarExpr::Meta { key: "*".into() }),
                    _ => Err(CompileError::BadArgument {
                        func: lname,
                        message: format!("expect a metadata key such as topic, or *, at {}", a.pos),
                    }),
                },
                _ => Err(CompileError::BadArgument {
                    func: lname,
                    message: format!("Expect 1 arguments but found {}.", c.args.len()),
                }),
            };
        }
        let sig =
            self.cat.function(&lname).ok_or_else(|| CompileError::UnknownFunction { name: c.name.clone(), pos })?;
        // Argument count and literal argument types, with eKuiper's messages.
        let literal_args: Vec<Option<&Literal>> = c
            .args
            .iter()
            .map(|a| match &a.kind {
                ExprKind::Literal(l) => Some(l),
                _ => None,
            })
            .collect();
        crate::functions::validate_literal_args(&sig, &literal_args)
            .map_err(|message| CompileError::BadArgument { func: lname.clone(), message })?;
        let arg_types: Vec<&str> = literal_args
            .iter()
            .map(|l| match l {
                Some(Literal::Int(_)) => "bigint",
                Some(Literal::Float(_)) => "float",
                Some(Literal::String(_)) => "string",
                Some(Literal::Bool(_)) => "boolean",
                Some(Literal::Null) => "null",
                _ => "any",
            })
            .collect();
        self.cat
            .validate_call(&lname, &arg_types)
            .map_err(|message| CompileError::BadArgument { func: lname.clone(), message })?;
        if c.over && !matches!(sig.kind, FunctionKind::Analytic | FunctionKind::Context) {
            return Err(CompileError::Plan(format!("Found OVER after non analytic function {lname} (at {pos})")));
        }
        if c.filter.is_some() && sig.kind != FunctionKind::Aggregate {
            return Err(CompileError::Plan(format!(
                "FILTER (WHERE …) is only allowed on aggregate functions, found after {lname} (at {pos})"
            )));
        }
        match sig.kind {
            FunctionKind::Aggregate => {
                if matches!(self.clause, Clause::Where | Clause::On | Clause::GroupBy | Clause::Window) {
                    return Err(CompileError::Plan(format!(
                        "Not allowed to call aggregate functions in {} clause (found {lname} at {pos}).",
                        self.clause.name()
                    )));
                }
                if let Some(outer) = &self.in_agg {
                    return Err(CompileError::Plan(format!(
                        "aggregate function {lname} cannot be nested in aggregate function {outer} (at {pos})"
                    )));
                }
                self.in_agg = Some(lname.clone());
                let r = self.agg_parts(c, &lname);
                self.in_agg = None;
                let (mut args, filter) = r?;
                if lname == "deduplicate" {
                    // eKuiper passes the whole row first: deduplicate(*, col, all).
                    self.wildcard_source(None, pos, true)?;
                    args.insert(0, ScalarExpr::Wildcard { source: None });
                }
                let call = AggregateCall { name: lname, args, filter };
                let index = match self.aggs.iter().position(|a| *a == call) {
                    Some(i) => i,
                    None => {
                        self.aggs.push(call);
                        self.aggs.len() - 1
                    }
                };
                Ok(ScalarExpr::Aggregate { index })
            }
            kind => {
                if kind == FunctionKind::SetReturning {
                    if self.clause != Clause::Select {
                        return Err(CompileError::Plan(format!(
                            "select statement shouldn't has srf except fields (found {lname} in {} at {pos})",
                            self.clause.name()
                        )));
                    }
                    if self.call_depth > 0 {
                        return Err(CompileError::Plan(format!(
                            "select clause shouldn't has nested set-returning-functions (found {lname} at {pos})"
                        )));
                    }
                    self.srf_seen = true;
                }
                // Ids in pre-order: the call before the calls in its arguments.
                let call_id = self.call_id(c.site);
                let args = self.args(c, &lname)?;
                let mut partition_by = Vec::new();
                for p in &c.partition_by {
                    partition_by.push(self.expr(p)?);
                }
                let when = self.opt(&c.when)?;
                Ok(ScalarExpr::Call(FunctionCall { name: lname, args, call_id, partition_by, when }))
            }
        }
    }

    fn agg_parts(&mut self, c: &CallExpr, lname: &str) -> Result<(Vec<ScalarExpr>, Option<ScalarExpr>)> {
        let args = self.args(c, lname)?;
        let filter = match &c.filter {
            Some(f) => Some(self.expr(f)?),
            None => None,
        };
        Ok((args, filter))
    }

    /// A window function call in GROUP BY.
    fn window(&mut self, c: &CallExpr, lname: &str, pos: Pos) -> Result<WindowSpec> {
        let bad = |message: String| CompileError::BadArgument { func: lname.to_string(), message };
        let n = c.args.len();
        let arity = |ok: bool, want: &str| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(bad(format!("The arguments for {lname} should be {want}, found {n} (at {pos}).")))
            }
        };
        let unit = |e: &Expr| -> Result<TimeUnit> {
            if let ExprKind::Ident { qualifier: None, name } = &e.kind {
                match name.to_ascii_lowercase().as_str() {
                    "dd" => return Ok(TimeUnit::Day),
                    "hh" => return Ok(TimeUnit::Hour),
                    "mi" => return Ok(TimeUnit::Minute),
                    "ss" => return Ok(TimeUnit::Second),
                    "ms" => return Ok(TimeUnit::Millisecond),
                    _ => {}
                }
            }
            Err(bad(format!(
                "The 1st argument for {lname} is expecting timer literal expression. One value of [dd|hh|mi|ss|ms] (at {}).",
                e.pos
            )))
        };
        let int = |k: usize, allow_zero: bool| -> Result<u64> {
            let e = &c.args[k];
            let ord = match k {
                0 => "1st",
                1 => "2nd",
                2 => "3rd",
                _ => "4th",
            };
            match &e.kind {
                ExprKind::Literal(Literal::Int(v)) if *v > 0 || (allow_zero && *v == 0) => Ok(*v as u64),
                _ => Err(bad(format!(
                    "The {ord} argument for {lname} is expecting a {} integer literal (at {}).",
                    if allow_zero { "non-negative" } else { "positive" },
                    e.pos
                ))),
            }
        };
        let ms = |v: u64, u: TimeUnit| -> Result<u64> {
            v.checked_mul(u.millis()).ok_or_else(|| bad(format!("window length {v} is too large (at {pos}).")))
        };
        let (kind, unit) = match lname {
            "tumblingwindow" => {
                arity(n == 2, "2")?;
                let u = unit(&c.args[0])?;
                (WindowKind::Tumbling { size_ms: ms(int(1, false)?, u)? }, u)
            }
            "hoppingwindow" => {
                arity(n == 3, "3")?;
                let u = unit(&c.args[0])?;
                (WindowKind::Hopping { size_ms: ms(int(1, false)?, u)?, hop_ms: ms(int(2, false)?, u)? }, u)
            }
            "slidingwindow" => {
                arity(n == 2 || n == 3, "2 or 3")?;
                let u = unit(&c.args[0])?;
                let delay = if n == 3 { ms(int(2, true)?, u)? } else { 0 };
                (WindowKind::Sliding { size_ms: ms(int(1, false)?, u)?, delay_ms: delay }, u)
            }
            "sessionwindow" => {
                arity(n == 3, "3")?;
                let u = unit(&c.args[0])?;
                (WindowKind::Session { max_ms: ms(int(1, false)?, u)?, timeout_ms: ms(int(2, false)?, u)? }, u)
            }
            "countwindow" => {
                arity(n == 1 || n == 2, "1 or 2")?;
                let count = int(0, false)?;
                let interval = if n == 2 { int(1, false)? } else { count };
                if interval > count {
                    return Err(bad(format!(
                        "The second parameter value {interval} should be less than the first parameter {count} (at {pos})."
                    )));
                }
                (WindowKind::Count { count, interval }, TimeUnit::Millisecond)
            }
            _ => {
                // statewindow(begin, end)
                arity(n == 2, "2")?;
                self.clause = Clause::Window;
                let begin = self.expr(&c.args[0])?;
                let end = self.expr(&c.args[1])?;
                (WindowKind::State { begin, end }, TimeUnit::Millisecond)
            }
        };
        if !c.partition_by.is_empty() {
            return Err(CompileError::Plan(format!(
                "PARTITION BY is not allowed on window {lname}, only OVER (WHEN …) (at {pos})"
            )));
        }
        self.clause = Clause::Window;
        let filter = match &c.filter {
            Some(f) => Some(self.expr(f)?),
            None => None,
        };
        let trigger = match &c.when {
            Some(w) => Some(self.expr(w)?),
            None => None,
        };
        Ok(WindowSpec { kind, unit, filter, trigger })
    }
}

/// Apply `f` to every top-level expression of the plan tree (each is visited once).
pub fn visit_plan_exprs(plan: &mut LogicalPlan, f: &mut dyn FnMut(&mut ScalarExpr)) {
    match plan {
        LogicalPlan::Scan { .. } => {}
        LogicalPlan::Join { left, on, .. } => {
            visit_plan_exprs(left, f);
            if let Some(e) = on {
                f(e);
            }
        }
        LogicalPlan::Window { input, spec } => {
            visit_plan_exprs(input, f);
            if let WindowKind::State { begin, end } = &mut spec.kind {
                f(begin);
                f(end);
            }
            if let Some(e) = &mut spec.filter {
                f(e);
            }
            if let Some(e) = &mut spec.trigger {
                f(e);
            }
        }
        LogicalPlan::Filter { input, predicate } => {
            visit_plan_exprs(input, f);
            f(predicate);
        }
        LogicalPlan::Aggregate { input, group_by, aggregates } => {
            visit_plan_exprs(input, f);
            group_by.iter_mut().for_each(&mut *f);
            for a in aggregates {
                a.args.iter_mut().for_each(&mut *f);
                if let Some(e) = &mut a.filter {
                    f(e);
                }
            }
        }
        LogicalPlan::Sort { input, keys } => {
            visit_plan_exprs(input, f);
            for k in keys {
                f(&mut k.expr);
            }
        }
        LogicalPlan::Project { input, items } => {
            visit_plan_exprs(input, f);
            for it in items {
                if let ProjectItem::Expr { expr, .. } = it {
                    f(expr);
                }
            }
        }
    }
}

/// Apply `f` to `e` and every sub-expression (pre-order).
pub fn visit_expr(e: &mut ScalarExpr, f: &mut dyn FnMut(&mut ScalarExpr)) {
    f(e);
    match e {
        ScalarExpr::Literal(_)
        | ScalarExpr::Column(_)
        | ScalarExpr::Wildcard { .. }
        | ScalarExpr::Meta { .. }
        | ScalarExpr::Aggregate { .. } => {}
        ScalarExpr::Unary { expr, .. } => visit_expr(expr, f),
        ScalarExpr::Binary { left, right, .. } => {
            visit_expr(left, f);
            visit_expr(right, f);
        }
        ScalarExpr::Case { operand, whens, else_ } => {
            if let Some(o) = operand {
                visit_expr(o, f);
            }
            for (w, t) in whens {
                visit_expr(w, f);
                visit_expr(t, f);
            }
            if let Some(x) = else_ {
                visit_expr(x, f);
            }
        }
        ScalarExpr::In { expr, list, .. } => {
            visit_expr(expr, f);
            for x in list {
                visit_expr(x, f);
            }
        }
        ScalarExpr::Between { expr, low, high, .. } => {
            visit_expr(expr, f);
            visit_expr(low, f);
            visit_expr(high, f);
        }
        ScalarExpr::Like { expr, pattern, .. } => {
            visit_expr(expr, f);
            visit_expr(pattern, f);
        }
        ScalarExpr::Index { expr, index } => {
            visit_expr(expr, f);
            visit_expr(index, f);
        }
        ScalarExpr::Slice { expr, start, end } => {
            visit_expr(expr, f);
            if let Some(s) = start {
                visit_expr(s, f);
            }
            if let Some(x) = end {
                visit_expr(x, f);
            }
        }
        ScalarExpr::Field { expr, .. } => visit_expr(expr, f),
        ScalarExpr::Call(c) => {
            for a in &mut c.args {
                visit_expr(a, f);
            }
            for p in &mut c.partition_by {
                visit_expr(p, f);
            }
            if let Some(w) = &mut c.when {
                visit_expr(w, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::ekuiper_expr_text;
    use crate::functions::{Category, FunctionSig};
    use crate::parser::parse_stream_ddl;

    struct Cat(BTreeMap<String, StreamDef>);

    impl Catalog for Cat {
        fn stream(&self, name: &str) -> Option<&StreamDef> {
            self.0.stream(name)
        }
        fn function(&self, name: &str) -> Option<FunctionSig> {
            let (kind, min, max) = match name {
                "count" | "collect" | "sum" => (FunctionKind::Aggregate, 1, Some(1)),
                "lag" => (FunctionKind::Analytic, 1, Some(4)),
                "upper" => (FunctionKind::Scalar, 1, Some(1)),
                "event_time" => (FunctionKind::Context, 0, Some(0)),
                _ => return None,
            };
            Some(FunctionSig {
                name: name.into(),
                category: Category::Other,
                kind,
                min_args: min,
                max_args: max,
                implemented: true,
            })
        }
    }

    fn cat() -> Cat {
        let mut m = BTreeMap::new();
        for d in [
            r#"CREATE STREAM demo (color STRING, size BIGINT, ts BIGINT) WITH (DATASOURCE="demo")"#,
            r#"CREATE STREAM ldemo () WITH (DATASOURCE="ldemo")"#,
            r#"CREATE STREAM ldemo1 () WITH (DATASOURCE="ldemo1")"#,
        ] {
            let def = parse_stream_ddl(d).expect("ddl");
            m.insert(def.name.clone(), def);
        }
        Cat(m)
    }

    fn plan(sql: &str) -> RulePlan {
        compile_rule(sql, &cat(), RuleOptions::default()).expect("compile")
    }

    fn items(p: &RulePlan) -> &[ProjectItem] {
        match &p.root {
            LogicalPlan::Project { items, .. } => items,
            _ => panic!("root is not Project"),
        }
    }

    fn item(p: &RulePlan, i: usize) -> (&str, &ScalarExpr) {
        match &items(p)[i] {
            ProjectItem::Expr { name, expr, .. } => (name, expr),
            ProjectItem::Wildcard { .. } => panic!("wildcard"),
        }
    }

    #[test]
    fn schemaless_slots_offsets_and_rest() {
        let p =
            plan("SELECT b, ldemo1.x, a FROM ldemo INNER JOIN ldemo1 ON ldemo.a = ldemo1.y GROUP BY COUNTWINDOW(2)");
        let names: Vec<&str> = p.sources[0].slots.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        let names: Vec<&str> = p.sources[1].slots.iter().map(|s| s.name.as_str()).collect();
        // unqualified names in a join of schemaless streams read whichever row has them
        assert_eq!(names, ["b", "x", "a", "y"]);
        assert_eq!(p.sources[1].offset, 2);
        assert_eq!(p.width, 6);
        assert!(p.sources.iter().all(|s| s.rest_slot.is_none()));
        let (_, e) = item(&p, 1);
        assert!(matches!(e, ScalarExpr::Column(c) if c.slot == 3 && c.source == 1));
        let (_, e) = item(&p, 0);
        assert!(matches!(e, ScalarExpr::Call(c) if c.name == "coalesce" && c.args.len() == 2));

        let p = plan("SELECT a, * FROM ldemo");
        assert_eq!(p.sources[0].rest_slot, Some(1));
        assert_eq!(p.width, 2);
        // count(*) needs no rest slot
        let p = plan("SELECT count(*) FROM ldemo GROUP BY COUNTWINDOW(2)");
        assert_eq!(p.sources[0].rest_slot, None);
        assert_eq!(p.width, 0);
    }

    #[test]
    fn alias_semantics_and_call_ids() {
        // The alias's own expression reads the column; other items read the alias.
        let p = plan("select size + 1 as size, size + 1 as b from demo");
        assert_eq!(item(&p, 0).1.clone(), item(&p, 1).1.clone().left_operand());
        // Inlined calls keep their call id.
        let p = plan("SELECT lag(size,1,0) as temp INVISIBLE, temp + 1 as b, lag(b,1,0), size FROM demo");
        assert_eq!(p.call_sites, 2);
        let ScalarExpr::Call(outer) = item(&p, 2).1 else { panic!("lag call") };
        assert_eq!(outer.call_id, 1);
        let ScalarExpr::Binary { left, .. } = &outer.args[0] else { panic!("b + 1") };
        assert!(matches!(&**left, ScalarExpr::Call(c) if c.call_id == 0));
        assert!(matches!(&items(&p)[0], ProjectItem::Expr { invisible: true, .. }));
        // An alias declared later can be used earlier.
        let p = plan("select a + 1 as b, size as a from demo");
        assert!(
            matches!(item(&p, 0).1, ScalarExpr::Binary { left, .. } if matches!(&**left, ScalarExpr::Column(c) if c.name == "size"))
        );
    }

    #[test]
    fn auto_names() {
        let p = plan("SELECT size * 5, upper(color), event_time(), demo.ts, size + 1 AS x, 7 FROM demo");
        let names: Vec<&str> = (0..6).map(|i| item(&p, i).0).collect();
        assert_eq!(names, ["kuiper_field_0", "upper", "event_time", "ts", "x", "kuiper_field_1"]);
    }

    #[test]
    fn aggregates_are_shared() {
        let p = plan(
            "SELECT count(*) AS c, count(*) + 1, collect(size) FROM demo GROUP BY COUNTWINDOW(3) HAVING count(*) > 1 ORDER BY c",
        );
        let LogicalPlan::Project { input, .. } = &p.root else { panic!() };
        let LogicalPlan::Sort { input, .. } = &**input else { panic!("sort") };
        let LogicalPlan::Filter { input, .. } = &**input else { panic!("having") };
        let LogicalPlan::Aggregate { aggregates, .. } = &**input else { panic!("aggregate") };
        assert_eq!(aggregates.len(), 2);
    }

    #[test]
    fn ekuiper_text() {
        let p = plan("SELECT size * 5 FROM ldemo");
        assert_eq!(ekuiper_expr_text(item(&p, 0).1, &p), "binaryExpr:{ ldemo.size * 5 }");
        let p = plan("SELECT upper(color) = \"RED\" FROM demo");
        assert_eq!(
            ekuiper_expr_text(item(&p, 0).1, &p),
            "binaryExpr:{ Call:{ name:upper, args:[demo.color] } = \"RED\" }"
        );
        let p = plan("SELECT count(*) FROM demo GROUP BY COUNTWINDOW(2)");
        assert_eq!(ekuiper_expr_text(item(&p, 0).1, &p), "Call:{ name:count, args:[*] }");
    }

    trait LeftOperand {
        fn left_operand(self) -> ScalarExpr;
    }

    impl LeftOperand for ScalarExpr {
        fn left_operand(self) -> ScalarExpr {
            match self {
                ScalarExpr::Binary { left, .. } => *left,
                other => other,
            }
        }
    }
}
