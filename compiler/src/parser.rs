//! The eKuiper SQL grammar: a recursive-descent parser over [`crate::lexer`] tokens.
//!
//! It owns every statement form (`SELECT`, `CREATE STREAM|TABLE`, `DROP`,
//! `DESCRIBE`, `EXPLAIN`, `SHOW`) and the expression grammar, and nothing else:
//! it does not know which streams or functions exist (that is [`crate::bind`]).
//! Precedence, lowest first: `OR`, `AND`, `NOT`, comparisons / `IN` / `BETWEEN` /
//! `LIKE`, `|`, `^`, `&`, `+ -`, `* / %`, unary `- +`, postfix `->`, `[…]`, `.name`.
//! Every error is a [`CompileError::Syntax`] naming the offending token, its
//! line/column, and what the grammar expected there; DDL that parses but is
//! invalid (unknown option, bad option value, duplicate field) is a
//! [`CompileError::InvalidDdl`] naming the option or field at fault.

use crate::ast::{CallExpr, Expr, ExprKind, JoinClause, OrderItem, SelectItem, SelectStmt, SourceRef, Statement};
use crate::catalog::{FieldDef, FieldType, Format, StreamDef, StreamKind, StreamOptions};
use crate::error::{CompileError, Pos, Result};
use crate::lexer::{Spanned, Tok, tokenize};
use crate::plan::{BinaryOp, JoinKind, Literal, UnaryOp};

/// Words that end an expression and can only be used as names when backquoted.
const RESERVED: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "ORDER",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "LIKE",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "CROSS",
    "ON",
    "ASC",
    "DESC",
    "OVER",
    "FILTER",
    "PARTITION",
    "INVISIBLE",
    "LIMIT",
];

/// Parse one statement of any kind.
pub fn parse_statement(sql: &str) -> Result<Statement> {
    let mut p = Parser::new(sql)?;
    let stmt = p.statement()?;
    p.finish()?;
    Ok(stmt)
}

/// Parse a `CREATE STREAM` / `CREATE TABLE` statement.
pub fn parse_stream_ddl(sql: &str) -> Result<StreamDef> {
    let mut p = Parser::new(sql)?;
    if !p.peek().is_kw("CREATE") {
        return Err(p.expected("CREATE STREAM or CREATE TABLE"));
    }
    let stmt = p.statement()?;
    p.finish()?;
    match stmt {
        Statement::CreateStream(def) => Ok(*def),
        _ => Err(CompileError::Plan("expected a CREATE STREAM or CREATE TABLE statement".into())),
    }
}

/// Parse a `SELECT` statement.
pub fn parse_select(sql: &str) -> Result<SelectStmt> {
    let mut p = Parser::new(sql)?;
    if !p.peek().is_kw("SELECT") {
        return Err(p.expected("SELECT"));
    }
    let stmt = p.select()?;
    p.finish()?;
    Ok(stmt)
}

struct Parser<'a> {
    sql: &'a str,
    toks: Vec<Spanned>,
    i: usize,
    sites: usize,
}

fn is_reserved(t: &Spanned) -> bool {
    RESERVED.iter().any(|k| t.is_kw(k))
}

impl<'a> Parser<'a> {
    fn new(sql: &'a str) -> Result<Self> {
        Ok(Self { sql, toks: tokenize(sql)?, i: 0, sites: 0 })
    }

    fn peek(&self) -> &Spanned {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.i.min(last)]
    }

    fn peek_at(&self, n: usize) -> &Spanned {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[(self.i + n).min(last)]
    }

    fn next(&mut self) -> Spanned {
        let t = self.peek().clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn expected(&self, what: &str) -> CompileError {
        let t = self.peek();
        CompileError::Syntax { pos: t.pos, message: format!("found {}, expected {what}", t.found()) }
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<Pos> {
        if &self.peek().tok == tok { Ok(self.next().pos) } else { Err(self.expected(what)) }
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<Pos> {
        if self.peek().is_kw(kw) { Ok(self.next().pos) } else { Err(self.expected(kw)) }
    }

    /// A name: a backquoted identifier, or an unquoted one that is not reserved.
    fn name(&mut self, what: &str) -> Result<(String, Pos)> {
        let t = self.peek();
        match &t.tok {
            Tok::Ident { value, quoted } if *quoted || !is_reserved(t) => {
                let v = value.clone();
                let pos = t.pos;
                self.i += 1;
                Ok((v, pos))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// Optional `;`, then the end of input.
    fn finish(&mut self) -> Result<()> {
        self.eat(&Tok::Semicolon);
        if self.peek().tok == Tok::Eof { Ok(()) } else { Err(self.expected("EOF")) }
    }

    fn statement(&mut self) -> Result<Statement> {
        let t = self.peek().clone();
        if t.is_kw("SELECT") {
            return Ok(Statement::Select(Box::new(self.select()?)));
        }
        if t.is_kw("CREATE") {
            self.i += 1;
            let kind = self.stream_kind("STREAM or TABLE")?;
            return Ok(Statement::CreateStream(Box::new(self.create(kind)?)));
        }
        if t.is_kw("SHOW") {
            self.i += 1;
            let kind = if self.eat_kw("STREAMS") {
                StreamKind::Stream
            } else if self.eat_kw("TABLES") {
                StreamKind::Table
            } else {
                return Err(self.expected("STREAMS or TABLES"));
            };
            return Ok(Statement::Show { kind });
        }
        for verb in ["DROP", "DESCRIBE", "EXPLAIN"] {
            if t.is_kw(verb) {
                self.i += 1;
                let kind = self.stream_kind("STREAM or TABLE")?;
                let what = match kind {
                    StreamKind::Stream => "stream name",
                    StreamKind::Table => "table name",
                };
                let (name, _) = self.name(what)?;
                return Ok(match verb {
                    "DROP" => Statement::Drop { kind, name },
                    "DESCRIBE" => Statement::Describe { kind, name },
                    _ => Statement::Explain { kind, name },
                });
            }
        }
        Err(self.expected("SELECT, CREATE, DROP, DESCRIBE, EXPLAIN or SHOW"))
    }

    fn stream_kind(&mut self, what: &str) -> Result<StreamKind> {
        if self.eat_kw("STREAM") {
            Ok(StreamKind::Stream)
        } else if self.eat_kw("TABLE") {
            Ok(StreamKind::Table)
        } else {
            Err(self.expected(what))
        }
    }

    // ---------------------------------------------------------------- DDL

    fn create(&mut self, kind: StreamKind) -> Result<StreamDef> {
        let what = match kind {
            StreamKind::Stream => "stream name",
            StreamKind::Table => "table name",
        };
        let (name, _) = self.name(what)?;
        self.expect(&Tok::LParen, "\"(\" after the name")?;
        let fields = self.field_list()?;
        self.expect_kw("WITH")?;
        let options = self.options(&name, kind, fields.as_deref())?;
        Ok(StreamDef { name, kind, fields, options, sql: self.sql.trim().to_string() })
    }

    /// Fields after `(` up to and including `)`; `None` for `()`.
    fn field_list(&mut self) -> Result<Option<Vec<FieldDef>>> {
        if self.eat(&Tok::RParen) {
            return Ok(None);
        }
        let mut fields: Vec<FieldDef> = Vec::new();
        loop {
            let (fname, _) = self.field_name()?;
            let ty = self.field_type(&fname)?;
            if fields.iter().any(|f| f.name.eq_ignore_ascii_case(&fname)) {
                return Err(CompileError::InvalidDdl { object: fname, message: "duplicate field name".into() });
            }
            fields.push(FieldDef { name: fname, ty });
            if self.eat(&Tok::Comma) {
                if self.eat(&Tok::RParen) {
                    break; // trailing comma, as eKuiper allows
                }
                continue;
            }
            if self.eat(&Tok::RParen) {
                break;
            }
            return Err(self.expected("\",\" or \")\" after a field definition"));
        }
        Ok(Some(fields))
    }

    fn field_name(&mut self) -> Result<(String, Pos)> {
        let t = self.peek();
        match &t.tok {
            Tok::Ident { value, .. } => {
                let v = value.clone();
                let pos = t.pos;
                self.i += 1;
                Ok((v, pos))
            }
            _ => Err(self.expected("a field name")),
        }
    }

    fn field_type(&mut self, field: &str) -> Result<FieldType> {
        const TYPES: &str = "a field type (BIGINT | FLOAT | STRING | DATETIME | BOOLEAN | BYTEA | ARRAY | STRUCT)";
        let t = self.peek().clone();
        let word = match &t.tok {
            Tok::Ident { value, quoted: false } => value.to_ascii_uppercase(),
            _ => return Err(self.expected(&format!("{TYPES} for field {field}"))),
        };
        let ty = match word.as_str() {
            "BIGINT" => FieldType::Bigint,
            "FLOAT" => FieldType::Float,
            "STRING" => FieldType::String,
            "DATETIME" => FieldType::Datetime,
            "BOOLEAN" => FieldType::Boolean,
            "BYTEA" => FieldType::Bytea,
            "ARRAY" => {
                self.i += 1;
                self.expect(&Tok::LParen, "\"(\" after ARRAY")?;
                let inner = self.field_type(field)?;
                self.expect(&Tok::RParen, "\")\" to close ARRAY(")?;
                return Ok(FieldType::Array(Box::new(inner)));
            }
            "STRUCT" => {
                self.i += 1;
                self.expect(&Tok::LParen, "\"(\" after STRUCT")?;
                return match self.field_list()? {
                    Some(fs) => Ok(FieldType::Struct(fs)),
                    None => Err(CompileError::InvalidDdl {
                        object: field.to_string(),
                        message: "STRUCT must declare at least one field".into(),
                    }),
                };
            }
            _ => return Err(self.expected(&format!("{TYPES} for field {field}"))),
        };
        self.i += 1;
        Ok(ty)
    }

    fn options(&mut self, stream: &str, kind: StreamKind, fields: Option<&[FieldDef]>) -> Result<StreamOptions> {
        const KEYS: &str = "DATASOURCE|FORMAT|KEY|TYPE|CONF_KEY|TIMESTAMP|TIMESTAMP_FORMAT|STRICT_VALIDATION|SHARED|RETAIN_SIZE|KIND|DELIMITER|SCHEMAID";
        self.expect(&Tok::LParen, "\"(\" after WITH")?;
        let mut o = StreamOptions::default();
        let mut seen: Vec<String> = Vec::new();
        loop {
            if self.eat(&Tok::RParen) {
                break;
            }
            if self.eat(&Tok::Comma) {
                continue;
            }
            let t = self.peek().clone();
            let key = match &t.tok {
                Tok::Ident { value, .. } => value.to_ascii_uppercase(),
                _ => return Err(self.expected("an option name or \")\"")),
            };
            self.i += 1;
            if !KEYS.split('|').any(|k| k == key) {
                return Err(CompileError::InvalidDdl {
                    object: key,
                    message: format!("unknown option at {}, expected one of {KEYS}", t.pos),
                });
            }
            if seen.contains(&key) {
                return Err(CompileError::InvalidDdl {
                    object: key,
                    message: format!("option given twice (at {})", t.pos),
                });
            }
            seen.push(key.clone());
            self.expect(&Tok::Eq, &format!("\"=\" after option {key}"))?;
            let vt = self.peek().clone();
            let value = match &vt.tok {
                Tok::Str(s) => s.clone(),
                _ => {
                    return Err(self.expected(&format!("a quoted string value for option {key}")));
                }
            };
            self.i += 1;
            let bad = |msg: String| CompileError::InvalidDdl {
                object: key.clone(),
                message: format!("{msg} (at {})", vt.pos),
            };
            let boolean = |v: &str| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(bad(format!("found \"{v}\", expected \"true\" or \"false\""))),
            };
            match key.as_str() {
                "DATASOURCE" => o.datasource = value,
                "FORMAT" => {
                    o.format = match value.to_ascii_lowercase().as_str() {
                        "json" => Format::Json,
                        "binary" => Format::Binary,
                        "delimited" => Format::Delimited,
                        _ => {
                            return Err(bad(format!(
                                "option 'format={value}' is invalid, expected json, binary or delimited"
                            )));
                        }
                    }
                }
                "KEY" => o.key = Some(value),
                "TYPE" => {
                    if value.is_empty() {
                        return Err(bad("empty source type".into()));
                    }
                    o.source_type = value
                }
                "CONF_KEY" => o.conf_key = Some(value),
                "TIMESTAMP" => o.timestamp = Some(value),
                "TIMESTAMP_FORMAT" => o.timestamp_format = Some(value),
                "STRICT_VALIDATION" => o.strict_validation = boolean(&value)?,
                "SHARED" => o.shared = boolean(&value)?,
                "RETAIN_SIZE" => {
                    o.retain_size = Some(
                        value
                            .trim()
                            .parse::<usize>()
                            .map_err(|_| bad(format!("found \"{value}\", expected a non-negative integer")))?,
                    )
                }
                "KIND" => {
                    let k = value.to_ascii_lowercase();
                    if k != "scan" && k != "lookup" {
                        return Err(bad(format!("found \"{value}\", expected \"scan\" or \"lookup\"")));
                    }
                    o.kind = Some(k)
                }
                "DELIMITER" => o.delimiter = Some(value),
                _ => {
                    o.extra.insert(key.clone(), value);
                }
            }
        }
        // Semantic checks, eKuiper's rules.
        if o.format == Format::Binary {
            if kind == StreamKind::Table {
                return Err(CompileError::InvalidDdl {
                    object: "FORMAT".into(),
                    message: format!("'binary' format is not supported for table {stream}"),
                });
            }
            if let Some(fs) = fields
                && (fs.len() != 1 || fs[0].ty != FieldType::Bytea)
            {
                return Err(CompileError::InvalidDdl {
                    object: stream.to_string(),
                    message: "'binary' format stream can have only one field, of type BYTEA".into(),
                });
            }
        }
        if kind == StreamKind::Stream {
            for k in ["RETAIN_SIZE", "KIND"] {
                if seen.iter().any(|s| s == k) {
                    return Err(CompileError::InvalidDdl {
                        object: k.into(),
                        message: format!("option {k} is only valid for tables"),
                    });
                }
            }
        }
        if o.kind.as_deref() == Some("lookup") && o.source_type == "memory" && o.key.is_none() {
            return Err(CompileError::InvalidDdl {
                object: "KEY".into(),
                message: "option KEY is required for a memory lookup table".into(),
            });
        }
        if let (Some(fs), Some(ts)) = (fields, &o.timestamp)
            && !fs.iter().any(|f| f.name.eq_ignore_ascii_case(ts))
        {
            return Err(CompileError::InvalidDdl {
                object: "TIMESTAMP".into(),
                message: format!("field {ts} is not declared in stream {stream}"),
            });
        }
        Ok(o)
    }

    // ---------------------------------------------------------------- SELECT

    fn select(&mut self) -> Result<SelectStmt> {
        self.expect_kw("SELECT")?;
        let mut items = Vec::new();
        loop {
            items.push(self.select_item()?);
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        if !self.peek().is_kw("FROM") {
            return Err(self.expected("FROM"));
        }
        self.i += 1;
        let from = self.source_ref()?;
        let mut joins = Vec::new();
        while let Some(kind) = self.join_kind()? {
            let source = self.source_ref()?;
            let on = if self.eat_kw("ON") {
                if kind == JoinKind::Cross {
                    return Err(CompileError::Syntax {
                        pos: self.toks[self.i - 1].pos,
                        message: "ON is not allowed for CROSS JOIN".into(),
                    });
                }
                Some(self.expr()?)
            } else {
                None
            };
            joins.push(JoinClause { kind, source, on });
        }
        let where_ = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        let mut group_by = Vec::new();
        if self.eat_kw("GROUP") {
            self.expect_kw("BY")?;
            loop {
                group_by.push(self.expr()?);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        let having = if self.eat_kw("HAVING") { Some(self.expr()?) } else { None };
        let mut order_by = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let expr = self.expr()?;
                let descending = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                order_by.push(OrderItem { expr, descending });
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        let t = self.peek();
        if !(t.tok == Tok::Eof || t.tok == Tok::Semicolon) {
            let mut exp = Vec::new();
            if joins.is_empty() && where_.is_none() && group_by.is_empty() {
                exp.push("JOIN");
            }
            if where_.is_none() && group_by.is_empty() && having.is_none() {
                exp.push("WHERE");
            }
            if group_by.is_empty() && having.is_none() && order_by.is_empty() {
                exp.push("GROUP BY");
            }
            if having.is_none() && order_by.is_empty() {
                exp.push("HAVING");
            }
            if order_by.is_empty() {
                exp.push("ORDER BY");
            }
            exp.push("EOF");
            let list = match exp.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                _ => "EOF".to_string(),
            };
            return Err(self.expected(&list));
        }
        Ok(SelectStmt { items, from, joins, where_, group_by, having, order_by, call_sites: self.sites })
    }

    fn select_item(&mut self) -> Result<SelectItem> {
        let expr = self.expr()?;
        let alias = if self.eat_kw("AS") {
            if matches!(expr.kind, ExprKind::Wildcard { .. }) {
                return Err(CompileError::Syntax {
                    pos: self.toks[self.i - 1].pos,
                    message: "alias is not supported for *".into(),
                });
            }
            Some(self.name("an alias name after AS")?.0)
        } else {
            None
        };
        let invisible = self.eat_kw("INVISIBLE");
        Ok(SelectItem { expr, alias, invisible })
    }

    fn source_ref(&mut self) -> Result<SourceRef> {
        let (name, pos) = self.name("a stream or table name")?;
        let alias = if self.eat_kw("AS") { Some(self.name("an alias name after AS")?.0) } else { None };
        Ok(SourceRef { name, alias, pos })
    }

    fn join_kind(&mut self) -> Result<Option<JoinKind>> {
        let kind = if self.peek().is_kw("JOIN") || self.eat_kw("INNER") {
            JoinKind::Inner
        } else if self.eat_kw("LEFT") {
            self.eat_kw("OUTER");
            JoinKind::Left
        } else if self.eat_kw("RIGHT") {
            self.eat_kw("OUTER");
            JoinKind::Right
        } else if self.eat_kw("FULL") {
            self.eat_kw("OUTER");
            JoinKind::Full
        } else if self.eat_kw("CROSS") {
            JoinKind::Cross
        } else {
            return Ok(None);
        };
        self.expect_kw("JOIN")?;
        Ok(Some(kind))
    }

    // ---------------------------------------------------------------- expressions

    /// Parse one expression.
    fn expr(&mut self) -> Result<Expr> {
        self.or()
    }

    fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        let pos = left.pos;
        Expr { kind: ExprKind::Binary { op, left: Box::new(left), right: Box::new(right) }, pos }
    }

    fn or(&mut self) -> Result<Expr> {
        let mut l = self.and()?;
        while self.eat_kw("OR") {
            let r = self.and()?;
            l = Self::binary(BinaryOp::Or, l, r);
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut l = self.not()?;
        while self.eat_kw("AND") {
            let r = self.not()?;
            l = Self::binary(BinaryOp::And, l, r);
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr> {
        if self.peek().is_kw("NOT") {
            let pos = self.next().pos;
            let e = self.not()?;
            return Ok(Expr { kind: ExprKind::Unary { op: UnaryOp::Not, expr: Box::new(e) }, pos });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr> {
        let mut l = self.bitor()?;
        loop {
            let op = match self.peek().tok {
                Tok::Eq => Some(BinaryOp::Eq),
                Tok::Neq => Some(BinaryOp::NotEq),
                Tok::Lt => Some(BinaryOp::Lt),
                Tok::LtEq => Some(BinaryOp::LtEq),
                Tok::Gt => Some(BinaryOp::Gt),
                Tok::GtEq => Some(BinaryOp::GtEq),
                _ => None,
            };
            if let Some(op) = op {
                self.i += 1;
                let r = self.bitor()?;
                l = Self::binary(op, l, r);
                continue;
            }
            let negated = self.peek().is_kw("NOT")
                && (self.peek_at(1).is_kw("IN") || self.peek_at(1).is_kw("BETWEEN") || self.peek_at(1).is_kw("LIKE"));
            if negated {
                self.i += 1;
            }
            let pos = l.pos;
            if self.eat_kw("IN") {
                self.expect(&Tok::LParen, "\"(\" after IN")?;
                let mut list = Vec::new();
                if !self.eat(&Tok::RParen) {
                    loop {
                        list.push(self.expr()?);
                        if self.eat(&Tok::Comma) {
                            continue;
                        }
                        self.expect(&Tok::RParen, "\",\" or \")\" in the IN list")?;
                        break;
                    }
                }
                l = Expr { kind: ExprKind::In { expr: Box::new(l), list, negated }, pos };
            } else if self.eat_kw("BETWEEN") {
                let low = self.bitor()?;
                if !self.eat_kw("AND") {
                    return Err(self.expected("AND after BETWEEN's lower bound"));
                }
                let high = self.bitor()?;
                l = Expr {
                    kind: ExprKind::Between { expr: Box::new(l), low: Box::new(low), high: Box::new(high), negated },
                    pos,
                };
            } else if self.eat_kw("LIKE") {
                let pattern = self.bitor()?;
                l = Expr { kind: ExprKind::Like { expr: Box::new(l), pattern: Box::new(pattern), negated }, pos };
            } else {
                return Ok(l);
            }
        }
    }

    fn bitor(&mut self) -> Result<Expr> {
        let mut l = self.bitxor()?;
        while self.eat(&Tok::Pipe) {
            let r = self.bitxor()?;
            l = Self::binary(BinaryOp::BitOr, l, r);
        }
        Ok(l)
    }

    fn bitxor(&mut self) -> Result<Expr> {
        let mut l = self.bitand()?;
        while self.eat(&Tok::Caret) {
            let r = self.bitand()?;
            l = Self::binary(BinaryOp::BitXor, l, r);
        }
        Ok(l)
    }

    fn bitand(&mut self) -> Result<Expr> {
        let mut l = self.additive()?;
        while self.eat(&Tok::Amp) {
            let r = self.additive()?;
            l = Self::binary(BinaryOp::BitAnd, l, r);
        }
        Ok(l)
    }

    fn additive(&mut self) -> Result<Expr> {
        let mut l = self.multiplicative()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => BinaryOp::Add,
                Tok::Minus => BinaryOp::Sub,
                _ => return Ok(l),
            };
            self.i += 1;
            let r = self.multiplicative()?;
            l = Self::binary(op, l, r);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Star => BinaryOp::Mul,
                Tok::Slash => BinaryOp::Div,
                Tok::Percent => BinaryOp::Mod,
                _ => return Ok(l),
            };
            self.i += 1;
            let r = self.unary()?;
            l = Self::binary(op, l, r);
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        let op = match self.peek().tok {
            Tok::Minus => UnaryOp::Neg,
            Tok::Plus => UnaryOp::Plus,
            _ => return self.postfix(),
        };
        let pos = self.next().pos;
        // A negative number literal is a literal, as in eKuiper's scanner.
        if op == UnaryOp::Neg {
            match self.peek().tok {
                Tok::Int(v) if !matches!(self.peek_at(1).tok, Tok::LBracket | Tok::Arrow) => {
                    self.i += 1;
                    return Ok(Expr { kind: ExprKind::Literal(Literal::Int(-v)), pos });
                }
                Tok::Float(v) if !matches!(self.peek_at(1).tok, Tok::LBracket | Tok::Arrow) => {
                    self.i += 1;
                    return Ok(Expr { kind: ExprKind::Literal(Literal::Float(-v)), pos });
                }
                _ => {}
            }
        }
        let e = self.unary()?;
        Ok(Expr { kind: ExprKind::Unary { op, expr: Box::new(e) }, pos })
    }

    fn postfix(&mut self) -> Result<Expr> {
        let mut e = self.primary()?;
        loop {
            match self.peek().tok {
                Tok::Arrow | Tok::Period => {
                    let op = self.next();
                    let (name, _) = self.name(&format!("a field name after \"{}\"", op.text))?;
                    let pos = e.pos;
                    e = Expr { kind: ExprKind::Field { expr: Box::new(e), name }, pos };
                }
                Tok::LBracket => {
                    self.i += 1;
                    let pos = e.pos;
                    let start = if self.peek().tok == Tok::Colon { None } else { Some(Box::new(self.expr()?)) };
                    if self.eat(&Tok::Colon) {
                        let end = if self.peek().tok == Tok::RBracket { None } else { Some(Box::new(self.expr()?)) };
                        self.expect(&Tok::RBracket, "\"]\"")?;
                        e = Expr { kind: ExprKind::Slice { expr: Box::new(e), start, end }, pos };
                    } else {
                        self.expect(&Tok::RBracket, "\"]\" or \":\"")?;
                        let index = match start {
                            Some(s) => s,
                            None => return Err(self.expected("an index")),
                        };
                        e = Expr { kind: ExprKind::Index { expr: Box::new(e), index }, pos };
                    }
                }
                _ => return Ok(e),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr> {
        let t = self.peek().clone();
        let pos = t.pos;
        let lit = |l: Literal| Expr { kind: ExprKind::Literal(l), pos };
        match &t.tok {
            Tok::LParen => {
                self.i += 1;
                let e = self.expr()?;
                self.expect(&Tok::RParen, "\")\"")?;
                Ok(Expr { kind: ExprKind::Paren(Box::new(e)), pos })
            }
            Tok::Int(v) => {
                self.i += 1;
                Ok(lit(Literal::Int(*v)))
            }
            Tok::Float(v) => {
                self.i += 1;
                Ok(lit(Literal::Float(*v)))
            }
            Tok::Str(s) => {
                self.i += 1;
                Ok(lit(Literal::String(s.clone())))
            }
            Tok::Star => {
                self.i += 1;
                Ok(Expr { kind: ExprKind::Wildcard { qualifier: None }, pos })
            }
            Tok::Ident { value, quoted } => {
                if !quoted {
                    if t.is_kw("TRUE") || t.is_kw("FALSE") {
                        self.i += 1;
                        return Ok(lit(Literal::Bool(t.is_kw("TRUE"))));
                    }
                    if t.is_kw("NULL") || t.is_kw("NIL") {
                        self.i += 1;
                        return Ok(lit(Literal::Null));
                    }
                    if t.is_kw("CASE") {
                        self.i += 1;
                        return self.case(pos);
                    }
                    if is_reserved(&t) {
                        return Err(self.expected("an expression"));
                    }
                }
                let value = value.clone();
                self.i += 1;
                if self.peek().tok == Tok::LParen {
                    self.i += 1;
                    return self.call(value, pos);
                }
                if self.peek().tok == Tok::Period {
                    match &self.peek_at(1).tok {
                        Tok::Star => {
                            self.i += 2;
                            return Ok(Expr { kind: ExprKind::Wildcard { qualifier: Some(value) }, pos });
                        }
                        Tok::Ident { value: col, quoted } if *quoted || !is_reserved(self.peek_at(1)) => {
                            let col = col.clone();
                            self.i += 2;
                            return Ok(Expr { kind: ExprKind::Ident { qualifier: Some(value), name: col }, pos });
                        }
                        _ => {}
                    }
                }
                Ok(Expr { kind: ExprKind::Ident { qualifier: None, name: value }, pos })
            }
            _ => Err(self.expected("an expression")),
        }
    }

    fn case(&mut self, pos: Pos) -> Result<Expr> {
        let operand = if self.peek().is_kw("WHEN") { None } else { Some(Box::new(self.expr()?)) };
        let mut whens = Vec::new();
        while self.eat_kw("WHEN") {
            let w = self.expr()?;
            if !self.eat_kw("THEN") {
                return Err(self.expected("THEN after WHEN condition"));
            }
            let t = self.expr()?;
            whens.push((w, t));
        }
        if whens.is_empty() {
            return Err(self.expected("WHEN in CASE expression"));
        }
        let else_ = if self.eat_kw("ELSE") { Some(Box::new(self.expr()?)) } else { None };
        if !self.eat_kw("END") {
            return Err(self.expected("WHEN, ELSE or END in CASE expression"));
        }
        Ok(Expr { kind: ExprKind::Case { operand, whens, else_ }, pos })
    }

    /// A call after `name(`.
    fn call(&mut self, name: String, pos: Pos) -> Result<Expr> {
        let site = self.sites;
        self.sites += 1;
        let mut args = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                args.push(self.expr()?);
                if self.eat(&Tok::Comma) {
                    continue;
                }
                if self.eat(&Tok::RParen) {
                    break;
                }
                return Err(self.expected(&format!("\",\" or \")\" in the arguments of {name}")));
            }
        }
        let mut c = CallExpr { name, args, site, partition_by: Vec::new(), when: None, over: false, filter: None };
        loop {
            if self.peek().is_kw("OVER") {
                if c.over {
                    return Err(self.expected("a single OVER clause"));
                }
                self.i += 1;
                c.over = true;
                self.expect(&Tok::LParen, "\"(\" after OVER")?;
                if self.eat_kw("PARTITION") {
                    self.expect_kw("BY")?;
                    loop {
                        c.partition_by.push(self.expr()?);
                        if !self.eat(&Tok::Comma) {
                            break;
                        }
                    }
                }
                if self.eat_kw("WHEN") {
                    c.when = Some(Box::new(self.expr()?));
                }
                if c.partition_by.is_empty() && c.when.is_none() {
                    return Err(self.expected("PARTITION BY or WHEN after OVER ("));
                }
                self.expect(&Tok::RParen, "\")\" to close OVER (")?;
            } else if self.peek().is_kw("FILTER") {
                if c.filter.is_some() {
                    return Err(self.expected("a single FILTER clause"));
                }
                self.i += 1;
                self.expect(&Tok::LParen, "\"(\" after FILTER")?;
                self.expect_kw("WHERE")?;
                c.filter = Some(Box::new(self.expr()?));
                self.expect(&Tok::RParen, "\")\" to close FILTER (")?;
            } else {
                break;
            }
        }
        Ok(Expr { kind: ExprKind::Call(c), pos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(sql: &str) -> String {
        match parse_statement(sql) {
            Ok(s) => panic!("expected an error for {sql}, got {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn brief_example_error() {
        assert_eq!(
            err("SELECT a, b, c, d, e FORM demo"),
            "syntax error at line 1, column 22: found \"FORM\", expected FROM"
        );
    }

    #[test]
    fn precedence() {
        let s = parse_select("SELECT a + b * c = d OR NOT e AND f FROM s").expect("parse");
        let ExprKind::Binary { op, left, .. } = &s.items[0].expr.kind else { panic!("not binary") };
        assert_eq!(*op, BinaryOp::Or);
        let ExprKind::Binary { op, left, .. } = &left.kind else { panic!("not binary") };
        assert_eq!(*op, BinaryOp::Eq);
        let ExprKind::Binary { op, .. } = &left.kind else { panic!("not binary") };
        assert_eq!(*op, BinaryOp::Add);
    }

    #[test]
    fn ddl() {
        let d = parse_stream_ddl(
            "CREATE STREAM demo1 ( temp FLOAT, hum BIGINT,`from` STRING, ts BIGINT, a ARRAY(STRUCT(x BIGINT, y ARRAY(STRING))) ) WITH (DATASOURCE=\"demo1\", TYPE=\"mock\", FORMAT=\"json\", KEY=\"ts\");",
        )
        .expect("ddl");
        assert_eq!(d.name, "demo1");
        assert_eq!(d.options.source_type, "mock");
        let fs = d.fields.expect("fields");
        assert_eq!(fs[2].name, "from");
        assert!(matches!(fs[4].ty, FieldType::Array(_)));
    }
}
