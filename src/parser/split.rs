//! Statement boundaries: splitting scripts, REPL completeness and the trailing wide `!`.
//!
//! All three work on the tokens of [`crate::sqltext::tokenize`], so `;`, `!`
//! and parens inside quotes, comments and dollar-quoted strings are never mistaken for
//! syntax.

use super::{is_meta_command, Statement};

/// Whether the REPL buffer is ready to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Run it.
    Complete,
    /// Keep editing: a SQL statement without its `;`, or an open quote, comment or paren.
    Incomplete,
}

/// Split a script into statements, in order, without their `;` and surrounding blanks.
///
/// Statements end at `;` outside quotes, comments and `$$` strings. A statement that starts
/// with a unify meta-command (`show`, `peek`, `$var`, `??`, …) also ends at the end of its
/// line (when its parens are balanced), so scripts can hold one meta-command per line;
/// a `--` comment ends such a line too. Comments before a statement are dropped, and so
/// are empty statements.
pub fn split_statements(script: &str) -> Vec<String> {
    let mut walk = Walk::new(script);
    walk.run();
    walk.statements
}

/// Whether the REPL buffer is ready to run, following the DuckDB CLI.
///
/// An empty buffer is complete; a statement starting with a meta-command is complete at the
/// end of the line unless a quote, comment or paren is open; SQL (including `!` raw SQL) is
/// complete only once it ends with `;` outside quotes and comments.
pub fn completeness(buffer: &str) -> Completeness {
    let mut walk = Walk::new(buffer);
    walk.run();
    let open = walk.unterminated
        || match walk.current {
            None => false,
            Some(_) => !walk.meta || walk.depth > 0,
        };
    if open {
        Completeness::Incomplete
    } else {
        Completeness::Complete
    }
}

/// The byte range of the statement proper in `input`, and whether it ends with the wide
/// `!`: surrounding whitespace, trailing `;` and the wide `!` are outside the range.
pub(crate) fn statement_bounds(input: &str) -> (usize, usize, bool) {
    let start = input.len() - input.trim_start().len();
    let tokens = tokens(input);
    if tokens.last().is_some_and(|t| t.kind == Kind::Unterminated) {
        // The text ends inside a quote: its tail belongs to it.
        return (start, input.len().max(start), false);
    }
    let strip = |end: usize| -> usize {
        let trimmed = input[..end].trim_end_matches(|c: char| c.is_whitespace() || c == ';');
        trimmed.len().max(start)
    };
    let mut end = strip(input.len());
    let mut wide = false;
    if end > start + 1 && input[..end].ends_with('!') {
        let bang = end - 1;
        let in_text = tokens
            .iter()
            .find(|t| t.start <= bang && bang < t.end)
            .is_some_and(|t| t.kind == Kind::Text);
        if in_text {
            wide = true;
            end = strip(bang);
        }
    }
    (start, end, wide)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Blank,
    Newline,
    Comment,
    Quoted,
    Unterminated,
    Semicolon,
    LParen,
    RParen,
    Text,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// The lexical tokens of `text` ([`crate::sqltext::tokenize`]), as the splitter sees
/// them; every byte belongs to exactly one token.
fn tokens(text: &str) -> Vec<Token> {
    use crate::sqltext::Kind as K;
    crate::sqltext::tokenize(text)
        .into_iter()
        .map(|token| Token {
            kind: match token.kind {
                K::Blank => Kind::Blank,
                K::Newline => Kind::Newline,
                K::LineComment | K::BlockComment => Kind::Comment,
                K::String | K::QuotedIdent | K::DollarString => Kind::Quoted,
                K::Unterminated => Kind::Unterminated,
                K::Semicolon => Kind::Semicolon,
                K::LParen => Kind::LParen,
                K::RParen => Kind::RParen,
                K::Word | K::Number | K::Variable | K::Parameter | K::Dot | K::Comma | K::Other => {
                    Kind::Text
                }
            },
            start: token.start,
            end: token.end(),
        })
        .collect()
}

/// One pass over the tokens, collecting finished statements.
struct Walk<'a> {
    text: &'a str,
    statements: Vec<String>,
    /// Start of the statement in progress.
    current: Option<usize>,
    /// The statement in progress is a meta-command (ends at end of line).
    meta: bool,
    /// Paren depth of the statement in progress.
    depth: i64,
    /// A quote, comment or dollar string never closes.
    unterminated: bool,
}

impl<'a> Walk<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            statements: Vec::new(),
            current: None,
            meta: false,
            depth: 0,
            unterminated: false,
        }
    }

    fn run(&mut self) {
        for token in tokens(self.text) {
            if token.kind == Kind::Unterminated {
                self.unterminated = true;
            }
            let Some(start) = self.current else {
                match token.kind {
                    Kind::Blank | Kind::Newline | Kind::Comment | Kind::Semicolon => continue,
                    _ => {
                        self.current = Some(token.start);
                        self.meta = starts_meta_command(&self.text[token.start..]);
                        self.depth = 0;
                        self.count_parens(token.kind);
                        continue;
                    }
                }
            };
            let line_end = self.meta
                && self.depth <= 0
                && (token.kind == Kind::Newline
                    || (token.kind == Kind::Comment && self.text[token.start..].starts_with("--")));
            if token.kind == Kind::Semicolon || line_end {
                self.finish(start, token.start);
            } else {
                self.count_parens(token.kind);
            }
        }
        if let Some(start) = self.current {
            let text = &self.text[start..];
            let trimmed = text.trim();
            if !trimmed.is_empty() {
                self.statements.push(trimmed.to_string());
            }
        }
    }

    fn count_parens(&mut self, kind: Kind) {
        match kind {
            Kind::LParen => self.depth += 1,
            Kind::RParen => self.depth -= 1,
            _ => {}
        }
    }

    fn finish(&mut self, start: usize, end: usize) {
        let statement = self.text[start..end].trim();
        if !statement.is_empty() {
            self.statements.push(statement.to_string());
        }
        self.current = None;
        self.meta = false;
        self.depth = 0;
    }
}

/// Whether a statement starting at the beginning of `rest` is a meta-command.
fn starts_meta_command(rest: &str) -> bool {
    let first = first_word(rest);
    if is_meta_command(first) {
        return true;
    }
    let second = rest[first.len()..]
        .split_whitespace()
        .next()
        .map(|w| {
            let end = w
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(w.len());
            &w[..end]
        })
        .unwrap_or_default();
    if first.eq_ignore_ascii_case("delete") && second.eq_ignore_ascii_case("connection") {
        return true;
    }
    if second.eq_ignore_ascii_case("help") {
        // `<schema> help` on its own line.
        let line = rest.lines().next().unwrap_or_default();
        return matches!(
            super::parse(line),
            Ok(parsed) if matches!(parsed.statement, Statement::ConnectorCommand { .. })
        );
    }
    false
}

/// The first word of a statement: `??`, `$name`, or a run of word characters.
fn first_word(rest: &str) -> &str {
    if rest.starts_with("??") {
        return &rest[..2];
    }
    let skip = usize::from(rest.starts_with('$'));
    let end = rest[skip..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(rest.len(), |i| i + skip);
    &rest[..end]
}
