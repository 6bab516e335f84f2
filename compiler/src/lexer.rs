//! Lexing: turns SQL text into eKuiper-dialect tokens with line/column positions.
//!
//! The character-level work is done by `sqlparser`'s tokenizer (MySQL dialect, so
//! that backquotes quote identifiers and `"…"` is a string, as in eKuiper); this
//! module maps its tokens onto the small set the eKuiper grammar needs, drops
//! whitespace and comments, classifies numbers as integer or float, and turns
//! every token the dialect has no use for into a positioned syntax error.

use crate::error::{CompileError, Pos, Result};
use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// One eKuiper token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier or keyword; `quoted` for `` `name` `` (never a keyword).
    Ident {
        /// The name without quotes.
        value: String,
        /// Written in backquotes.
        quoted: bool,
    },
    /// `'text'` or `"text"`.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A float literal (`3.0`, `1e3`).
    Float(f64),
    /// `,`
    Comma,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `:`
    Colon,
    /// `;`
    Semicolon,
    /// `.`
    Period,
    /// `->`
    Arrow,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `&`
    Amp,
    /// `|`
    Pipe,
    /// `^`
    Caret,
    /// `=`
    Eq,
    /// `!=` or `<>`
    Neq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// End of input.
    Eof,
}

/// A token with its position and its text as written (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// The token.
    pub tok: Tok,
    /// Where it starts.
    pub pos: Pos,
    /// How to show it in an error message.
    pub text: String,
}

impl Spanned {
    /// Whether this is the unquoted keyword `kw` (case-insensitive).
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Ident { value, quoted: false } if value.eq_ignore_ascii_case(kw))
    }

    /// The token for "found …" in messages: its text in quotes, or `EOF`.
    pub fn found(&self) -> String {
        if self.tok == Tok::Eof { "EOF".to_string() } else { format!("\"{}\"", self.text) }
    }
}

fn syntax(pos: Pos, message: impl Into<String>) -> CompileError {
    CompileError::Syntax { pos, message: message.into() }
}

/// Tokenize `sql`; the result always ends with one [`Tok::Eof`].
pub fn tokenize(sql: &str) -> Result<Vec<Spanned>> {
    let dialect = MySqlDialect {};
    let raw = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| syntax(Pos { line: e.location.line, column: e.location.column }, e.message))?;
    let mut out = Vec::with_capacity(raw.len() + 1);
    let mut end = Pos { line: 1, column: 1 };
    for t in raw {
        let pos = Pos { line: t.span.start.line, column: t.span.start.column };
        if t.span.end.line > 0 {
            end = Pos { line: t.span.end.line, column: t.span.end.column };
        }
        let text = t.token.to_string();
        let tok = match t.token {
            Token::Whitespace(_) => continue,
            Token::EOF => break,
            Token::Word(w) => match w.quote_style {
                None => Tok::Ident { value: w.value, quoted: false },
                Some('`') => Tok::Ident { value: w.value, quoted: true },
                // Not produced by the MySQL dialect, but "x" is a string in eKuiper.
                Some(_) => Tok::Str(w.value),
            },
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Tok::Str(s),
            Token::Number(n, _) => number(&n, pos)?,
            Token::Comma => Tok::Comma,
            Token::LParen => Tok::LParen,
            Token::RParen => Tok::RParen,
            Token::LBracket => Tok::LBracket,
            Token::RBracket => Tok::RBracket,
            Token::Colon => Tok::Colon,
            Token::SemiColon => Tok::Semicolon,
            Token::Period => Tok::Period,
            Token::Arrow => Tok::Arrow,
            Token::Plus => Tok::Plus,
            Token::Minus => Tok::Minus,
            Token::Mul => Tok::Star,
            Token::Div => Tok::Slash,
            Token::Mod => Tok::Percent,
            Token::Ampersand => Tok::Amp,
            Token::Pipe => Tok::Pipe,
            Token::Caret => Tok::Caret,
            Token::Eq => Tok::Eq,
            Token::Neq => Tok::Neq,
            Token::Lt => Tok::Lt,
            Token::LtEq => Tok::LtEq,
            Token::Gt => Tok::Gt,
            Token::GtEq => Tok::GtEq,
            Token::DoubleEq => {
                return Err(syntax(pos, "found \"==\", expected \"=\""));
            }
            _ => {
                return Err(syntax(pos, format!("unexpected token \"{text}\"")));
            }
        };
        out.push(Spanned { tok, pos, text });
    }
    out.push(Spanned { tok: Tok::Eof, pos: end, text: String::new() });
    Ok(out)
}

/// Classify a numeric literal: no `.`/exponent → integer, otherwise float.
fn number(text: &str, pos: Pos) -> Result<Tok> {
    if text.contains(['.', 'e', 'E']) {
        text.parse::<f64>().map(Tok::Float).map_err(|_| syntax(pos, format!("found \"{text}\", invalid number value")))
    } else {
        text.parse::<i64>()
            .map(Tok::Int)
            .map_err(|_| syntax(pos, format!("found \"{text}\", integer out of range (64-bit signed)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(sql: &str) -> Vec<Tok> {
        tokenize(sql).expect("tokenize").into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn quoting_and_arrows() {
        assert_eq!(
            toks(r#"a->b "red" 'x' `from`"#),
            vec![
                Tok::Ident { value: "a".into(), quoted: false },
                Tok::Arrow,
                Tok::Ident { value: "b".into(), quoted: false },
                Tok::Str("red".into()),
                Tok::Str("x".into()),
                Tok::Ident { value: "from".into(), quoted: true },
                Tok::Eof
            ]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            toks("3 3.0 1e3 arr[1:y]"),
            vec![
                Tok::Int(3),
                Tok::Float(3.0),
                Tok::Float(1000.0),
                Tok::Ident { value: "arr".into(), quoted: false },
                Tok::LBracket,
                Tok::Int(1),
                Tok::Colon,
                Tok::Ident { value: "y".into(), quoted: false },
                Tok::RBracket,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn positions() {
        let t = tokenize("SELECT a\n  FROM demo").expect("tokenize");
        assert_eq!(t[2].pos, Pos { line: 2, column: 3 });
        assert!(t[2].is_kw("from"));
    }
}
