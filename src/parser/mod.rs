//! The unify command language: text → [`Statement`].
//!
//! Owns the grammar (`unify.pest`, the only one) and turns pest pairs into [`ast`] types at
//! once, so nothing outside this module sees pest. Used by the interpreter (`parse`) and by
//! the REPL and `-c` scripts ([`split_statements`], [`completeness`],
//! [`command_keywords`]). It never executes anything and never looks at the database:
//! whether `github` in `describe github` is a schema is for the interpreter to decide.
//!
//! Anything that is not a unify command is [`Statement::Sql`] with its text untouched. A
//! [`ParseError`] is returned only when the text can only be a unify command (it starts
//! with `peek`, `show tables`, `$`, …) and is malformed.

pub mod ast;
mod split;

pub use ast::*;
pub use split::{completeness, split_statements, Completeness};

use pest::error::InputLocation;
use pest::iterators::Pair;
use pest::Parser as _;

use grammar::{Rule, UnifyParser};

/// The pest parser; private so pest types never leave `parser`.
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "parser/unify.pest"]
    pub(super) struct UnifyParser;
}

/// A unify command that is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// One line: what is wrong, where, and the command's usage.
    pub message: String,
    /// Byte offset in the parsed text where the problem is, when known.
    pub position: Option<usize>,
}

/// Parse one statement (no trailing `;` needed, one allowed).
///
/// A text ending with `!` (outside quotes and comments) sets [`Parsed::wide`]; a text
/// starting with `!` is [`Statement::RawSql`]. Anything that is not a unify command is
/// [`Statement::Sql`] with the text untouched (only surrounding whitespace and trailing `;`
/// removed).
pub fn parse(input: &str) -> Result<Parsed, ParseError> {
    let (start, end, wide) = split::statement_bounds(input);
    let body = &input[start..end];

    if let Some(raw) = body.strip_prefix('!') {
        let sql = raw.trim();
        if sql.is_empty() {
            return Err(ParseError {
                message: format!(
                    "nothing to run after `!` at byte {} (usage: !<sql>)",
                    start + 1
                ),
                position: Some(start + 1),
            });
        }
        return Ok(Parsed {
            statement: Statement::RawSql {
                sql: sql.to_string(),
            },
            wide,
        });
    }

    let statement = match UnifyParser::parse(Rule::statement, body) {
        Ok(mut pairs) => {
            let command = pairs
                .next()
                .and_then(|statement| {
                    // `show` and `peek` are silent, so their `sp` comes before the command.
                    statement
                        .into_inner()
                        .find(|pair| !matches!(pair.as_rule(), Rule::sp | Rule::EOI))
                })
                .ok_or_else(|| ParseError {
                    message: "empty parse tree".to_string(),
                    position: Some(start),
                })?;
            Builder {
                body,
                offset: start,
            }
            .statement(command)?
        }
        Err(error) if is_committed(body) => return Err(syntax_error(body, start, &error)),
        Err(_) => Statement::Sql {
            sql: body.to_string(),
        },
    };
    Ok(Parsed { statement, wide })
}

/// The words tab completion offers: commands and sub-commands, longest forms included.
pub fn command_keywords() -> &'static [&'static str] {
    COMMAND_KEYWORDS
}

/// Whether a statement whose first word is `first_word` is a unify meta-command, which ends
/// at the end of its line (no `;` needed): `show`, `peek`, `??`, `$var`, … (case-insensitive).
pub fn is_meta_command(first_word: &str) -> bool {
    if first_word == "??" {
        return true;
    }
    if let Some(name) = first_word.strip_prefix('$') {
        return !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    }
    META_COMMANDS
        .iter()
        .any(|keyword| keyword.eq_ignore_ascii_case(first_word))
}

/// First words of the meta-commands (`??` and `$var` are handled apart).
const META_COMMANDS: &[&str] = &[
    "show", "describe", "peek", "help", "count", "import", "export", "refresh", "reload", "clear",
    "system", "connect", "exit", "quit", "unset", "format", "timing",
];

const COMMAND_KEYWORDS: &[&str] = &[
    "help",
    "help schemas",
    "help import",
    "help export",
    "show schemas",
    "show tables",
    "show tables from",
    "show columns",
    "show columns from",
    "show connections",
    "show variables",
    "show files",
    "show files from",
    "describe",
    "peek",
    "peek at",
    "peek file",
    "count",
    "unset",
    "import",
    "export",
    "refresh table",
    "reload table",
    "clear table",
    "drop table",
    "drop table if exists",
    "drop schema",
    "drop schema if exists",
    "alter table",
    "system status",
    "system stop daemon",
    "system restart daemon",
    "system cancel",
    "system cancel all",
    "system reload",
    "connect",
    "delete connection",
    "exit",
    "quit",
    "format table",
    "format csv",
    "format json",
    "format jsonl",
    "format markdown",
    "format line",
    "timing on",
    "timing off",
];

/// Whether `body` can only be a unify command, so a failed parse is an error, not SQL.
fn is_committed(body: &str) -> bool {
    UnifyParser::parse(Rule::meta_prefix, body).is_ok()
}

/// Turn a pest failure into a one-line [`ParseError`] with the usage of the command.
fn syntax_error(body: &str, offset: usize, error: &pest::error::Error<Rule>) -> ParseError {
    let mut pos = match error.location {
        InputLocation::Pos(pos) => pos,
        InputLocation::Span((pos, _)) => pos,
    };
    let mut expected: Vec<String> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            if let Some(description) = describe_rule(*rule) {
                if !expected.contains(&description) {
                    expected.push(description);
                }
            }
        }
    }
    let found = found_at(body, pos);
    if found.is_some() {
        // Point at the offending word, not at the blank before it.
        let rest = &body[pos..];
        pos += rest.len() - rest.trim_start().len();
    }
    let problem = match expected.len() {
        0 if found.is_none() => "incomplete command".to_string(),
        0 => "unexpected input".to_string(),
        1 => format!("expected {}", expected[0]),
        _ => format!("expected one of {}", expected.join(", ")),
    };
    command_error(body, offset, pos, &problem, found.as_deref())
}

/// The one format of every command error:
/// ``invalid `peek` command: <problem>, found `x` at byte N (usage: …)``.
fn command_error(
    body: &str,
    offset: usize,
    pos: usize,
    problem: &str,
    found: Option<&str>,
) -> ParseError {
    let found = found.map_or_else(|| "end of input".to_string(), |f| format!("`{f}`"));
    let usage = usage_of(body);
    let usage = if usage.is_empty() {
        String::new()
    } else {
        format!(" (usage: {usage})")
    };
    ParseError {
        message: format!(
            "invalid {} command: {problem}, found {found} at byte {}{usage}",
            command_name(body),
            offset + pos
        ),
        position: Some(offset + pos),
    }
}

/// A human description of what a rule stands for; `None` for rules not worth naming.
fn describe_rule(rule: Rule) -> Option<String> {
    let text = match rule {
        Rule::ident | Rule::bare_ident | Rule::quoted_ident => "a name",
        Rule::table_ref | Rule::new_name => "a table name",
        Rule::string => "a quoted string",
        Rule::number => "a number",
        Rule::file_path | Rule::bare_path => "a path",
        Rule::file_ref => "a file name",
        Rule::quoted_file_ref => "a quoted file name or (expression)",
        Rule::paren_expr => "a (expression)",
        Rule::write_mode => "`overwrite` or `append`",
        Rule::var_name => "a variable name",
        Rule::var_ref => "a $variable",
        Rule::eq => "`=`",
        Rule::var_expr => "an expression",
        Rule::help_topic => "a topic",
        Rule::job_id => "a job id",
        Rule::connector => "a connector",
        Rule::EOI => "end of input",
        Rule::sys_status => "`status`",
        Rule::sys_stop => "`stop daemon`",
        Rule::sys_restart => "`restart daemon`",
        Rule::sys_cancel => "`cancel <job>`",
        Rule::sys_reload => "`reload`",
        Rule::cancel_all => "`all`",
        Rule::if_exists => "`if exists`",
        Rule::cascade => "`cascade`",
        Rule::format_name => "a format (table, csv, json, jsonl, markdown, line)",
        Rule::on_off => "`on` or `off`",
        Rule::like_clause => "`like`",
        Rule::into_clause => "`into`",
        Rule::skip_clause => "`skip`",
        Rule::header_clause => "`header`",
        Rule::peek_table => "a table name",
        Rule::peek_file => "`file`",
        Rule::show_schemas => "`schemas`",
        Rule::show_tables => "`tables`",
        Rule::show_columns => "`columns`",
        Rule::show_connections => "`connections`",
        Rule::show_variables => "`variables`",
        Rule::show_files => "`files`",
        Rule::from_schema | Rule::from_table => "`from`",
        rule => {
            // Keyword rules are named `k_<keyword>`.
            let name = format!("{rule:?}");
            return name.strip_prefix("k_").map(|k| format!("`{k}`"));
        }
    };
    Some(text.to_string())
}

/// The word found at `pos`, or `None` at the end of the text.
fn found_at(body: &str, pos: usize) -> Option<String> {
    let rest = body.get(pos..)?.trim_start();
    let word: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    if word.is_empty() {
        None
    } else if word.chars().count() > 30 {
        Some(format!("{}…", word.chars().take(30).collect::<String>()))
    } else {
        Some(word)
    }
}

/// How error messages name the command: its first word (`$` for variables).
fn command_name(body: &str) -> String {
    if body.starts_with('$') {
        return "`$variable`".to_string();
    }
    let word: String = body
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    format!("`{word}`")
}

/// The help syntaxes of the command `body` starts with, narrowed by its second word.
fn usage_of(body: &str) -> String {
    let mut words = body.split_whitespace().map(str::to_ascii_lowercase);
    let first = words.next().unwrap_or_default();
    let second = words.next().unwrap_or_default();
    let first_of = |syntax: &str| -> String {
        if syntax.starts_with('$') {
            return "$".to_string();
        }
        syntax
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let wanted_first = if first.starts_with('$') {
        "$".to_string()
    } else {
        first
    };
    let candidates: Vec<&str> = HELP_LINES
        .iter()
        .map(|(syntax, _)| *syntax)
        .filter(|syntax| first_of(syntax) == wanted_first)
        .collect();
    let narrowed: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|syntax| syntax.split_whitespace().nth(1) == Some(second.as_str()))
        .collect();
    if narrowed.is_empty() {
        candidates.join(" | ")
    } else {
        narrowed.join(" | ")
    }
}

/// Converts the pairs of one `statement` into a [`Statement`].
struct Builder<'a> {
    /// The text that was parsed (a slice of the input).
    body: &'a str,
    /// Where `body` starts in the input, to report positions in input bytes.
    offset: usize,
}

impl Builder<'_> {
    fn statement(&self, pair: Pair<'_, Rule>) -> Result<Statement, ParseError> {
        let rule = pair.as_rule();
        let mut inner = Inner::new(pair.clone());
        let statement = if rule == Rule::import {
            Some(self.import(pair)?)
        } else if let Some(s) = session_statement(rule, &mut inner)? {
            Some(s)
        } else if let Some(s) = file_statement(rule, &mut inner)? {
            Some(s)
        } else if let Some(s) = self.show_statement(rule, &mut inner)? {
            Some(s)
        } else {
            self.table_statement(rule, &mut inner)?
        };
        statement.ok_or_else(|| ParseError {
            message: format!("unexpected grammar rule {rule:?} in `{}`", self.body),
            position: Some(self.offset),
        })
    }

    /// `show …`, `describe`, `peek` and `count`.
    fn show_statement(
        &self,
        rule: Rule,
        inner: &mut Inner<'_>,
    ) -> Result<Option<Statement>, ParseError> {
        Ok(Some(match rule {
            Rule::show_schemas => Statement::ShowSchemas,
            Rule::show_connections => Statement::ShowConnections,
            Rule::show_variables => Statement::ShowVariables,
            Rule::show_tables => Statement::ShowTables {
                schema: inner.take(Rule::from_schema).and_then(optional_ident),
                like: inner.take(Rule::like_clause).and_then(like_pattern),
            },
            Rule::show_files => Statement::ShowFiles {
                schema: inner.take(Rule::from_schema).and_then(optional_ident),
                like: inner.take(Rule::like_clause).and_then(like_pattern),
            },
            Rule::show_columns => Statement::ShowColumns {
                table: inner
                    .take(Rule::from_table)
                    .and_then(|from| Inner::new(from).take(Rule::table_ref))
                    .map(table_ref),
                like: inner.take(Rule::like_clause).and_then(like_pattern),
            },
            Rule::describe => Statement::Describe {
                target: inner.take(Rule::table_ref).map(table_ref),
            },
            Rule::peek_table => Statement::Peek {
                table: inner.table_ref()?,
                rows: inner
                    .take(Rule::number)
                    .map(|n| self.number(n))
                    .transpose()?,
            },
            Rule::peek_file => Statement::PeekFile {
                path: inner
                    .take(Rule::file_path)
                    .map(path_text)
                    .unwrap_or_default(),
                rows: inner
                    .take(Rule::number)
                    .map(|n| self.number(n))
                    .transpose()?,
            },
            Rule::count => Statement::Count {
                table: inner.table_ref()?,
            },
            _ => return Ok(None),
        }))
    }

    /// Statements about one table: refresh, reload, clear, drop, rename.
    fn table_statement(
        &self,
        rule: Rule,
        inner: &mut Inner<'_>,
    ) -> Result<Option<Statement>, ParseError> {
        Ok(Some(match rule {
            Rule::refresh_table => Statement::RefreshTable {
                table: inner.table_ref()?,
            },
            Rule::reload_table => Statement::ReloadTable {
                table: inner.table_ref()?,
            },
            Rule::clear_table => Statement::ClearTable {
                table: inner.table_ref()?,
            },
            Rule::drop_table => Statement::DropTable {
                if_exists: inner.take(Rule::if_exists).is_some(),
                table: inner.table_ref()?,
            },
            Rule::drop_schema => Statement::DropSchema {
                if_exists: inner.take(Rule::if_exists).is_some(),
                schema: inner.take(Rule::ident).map(ident).unwrap_or_default(),
                cascade: inner.take(Rule::cascade).is_some(),
            },
            Rule::rename_table => {
                let table = inner.table_ref()?;
                let new = inner.take(Rule::new_name).ok_or_else(missing)?;
                let span = new.as_span();
                let new = Inner::new(new).table_ref()?;
                if new.schema.is_some() {
                    return Err(self.error(span, "the new name must be unqualified"));
                }
                Statement::RenameTable {
                    table,
                    new_name: new.table,
                }
            }
            _ => return Ok(None),
        }))
    }

    /// `import` clauses may come in any order, each at most once.
    fn import(&self, pair: Pair<'_, Rule>) -> Result<Statement, ParseError> {
        let mut source = String::new();
        let mut target = None;
        let mut mode = None;
        let mut options = ImportOptions::default();
        for clause in pair.into_inner() {
            let span = clause.as_span();
            let duplicate = match clause.as_rule() {
                Rule::file_path => {
                    source = path_text(clause);
                    false
                }
                Rule::into_clause => target.replace(Inner::new(clause).table_ref()?).is_some(),
                Rule::write_mode => mode.replace(write_mode(clause)).is_some(),
                Rule::skip_clause => {
                    let n = Inner::new(clause).take(Rule::number).ok_or_else(missing)?;
                    options.skip.replace(self.number(n)?).is_some()
                }
                Rule::header_clause => {
                    let n = Inner::new(clause).take(Rule::number).ok_or_else(missing)?;
                    options.header.replace(self.number(n)?).is_some()
                }
                _ => false,
            };
            if duplicate {
                return Err(self.error(span, "clause given twice"));
            }
        }
        Ok(Statement::Import {
            source,
            target,
            mode,
            options,
        })
    }

    fn number(&self, pair: Pair<'_, Rule>) -> Result<u64, ParseError> {
        pair.as_str()
            .parse()
            .map_err(|_| self.error(pair.as_span(), "number too large"))
    }

    /// An error about the text of `span`, found by the builder rather than the grammar.
    fn error(&self, span: pest::Span<'_>, problem: &str) -> ParseError {
        command_error(
            self.body,
            self.offset,
            span.start(),
            problem,
            Some(span.as_str()),
        )
    }
}

/// `export` and `select … into`: a source and a file target.
fn file_statement(rule: Rule, inner: &mut Inner<'_>) -> Result<Option<Statement>, ParseError> {
    Ok(Some(match rule {
        Rule::export => Statement::Export {
            source: inner.table_ref()?,
            target: file_target(inner)?,
            mode: inner.take(Rule::write_mode).map(write_mode),
        },
        Rule::select_into => Statement::SelectInto {
            query: inner
                .text(Rule::query_text)
                .map(|q| q.trim().to_string())
                .unwrap_or_default(),
            target: file_target(inner)?,
            mode: inner.take(Rule::write_mode).map(write_mode),
        },
        _ => return Ok(None),
    }))
}

/// Session statements: variables, help, the shell's settings, system, connections, exit.
fn session_statement(rule: Rule, inner: &mut Inner<'_>) -> Result<Option<Statement>, ParseError> {
    Ok(Some(match rule {
        Rule::help_last => Statement::HelpLast,
        Rule::set_variable => Statement::SetVariable {
            name: inner.text(Rule::var_name).unwrap_or_default(),
            expr: inner
                .text(Rule::var_expr)
                .map(|e| e.trim().to_string())
                .unwrap_or_default(),
        },
        Rule::show_variable => Statement::ShowVariable {
            name: inner.text(Rule::var_name).unwrap_or_default(),
        },
        Rule::unset_variable => Statement::UnsetVariable {
            name: inner
                .take(Rule::var_ref)
                .map(|var| var.as_str().trim_start_matches('$').to_string())
                .unwrap_or_default(),
        },
        Rule::help => Statement::Help {
            topic: inner.text(Rule::help_topic),
        },
        Rule::system => Statement::System(system_command(inner)?),
        Rule::connect => Statement::Connect,
        Rule::delete_connection => Statement::DeleteConnection {
            schema: inner.take(Rule::ident).map(ident),
        },
        Rule::exit => Statement::Exit,
        Rule::set_format => Statement::SetFormat {
            format: inner
                .text(Rule::format_name)
                .unwrap_or_default()
                .to_ascii_lowercase(),
        },
        Rule::timing => Statement::Timing {
            on: inner
                .text(Rule::on_off)
                .is_some_and(|v| v.eq_ignore_ascii_case("on")),
        },
        Rule::connector_command => Statement::ConnectorCommand {
            schema: inner.take(Rule::ident).map(ident).unwrap_or_default(),
            command: "help".to_string(),
        },
        _ => return Ok(None),
    }))
}

/// The children of a pair, taken in order by rule (skipping `sp`, keywords, …).
struct Inner<'i> {
    pairs: Vec<Pair<'i, Rule>>,
}

impl<'i> Inner<'i> {
    fn new(pair: Pair<'i, Rule>) -> Self {
        Self {
            pairs: pair.into_inner().collect(),
        }
    }

    /// Remove and return the first child with this rule.
    fn take(&mut self, rule: Rule) -> Option<Pair<'i, Rule>> {
        let index = self.pairs.iter().position(|p| p.as_rule() == rule)?;
        Some(self.pairs.remove(index))
    }

    fn text(&mut self, rule: Rule) -> Option<String> {
        self.take(rule).map(|p| p.as_str().to_string())
    }

    fn table_ref(&mut self) -> Result<TableRef, ParseError> {
        self.take(Rule::table_ref)
            .map(table_ref)
            .ok_or_else(missing)
    }
}

/// The grammar guarantees the children the builder asks for; this reports a violation.
fn missing() -> ParseError {
    ParseError {
        message: "internal parser error: the grammar and the builder disagree".to_string(),
        position: None,
    }
}

fn ident(pair: Pair<'_, Rule>) -> String {
    let text = pair.as_str();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => text.to_string(),
    }
}

fn table_ref(pair: Pair<'_, Rule>) -> TableRef {
    let mut idents = pair.into_inner().filter(|p| p.as_rule() == Rule::ident);
    let first = idents.next().map(ident).unwrap_or_default();
    match idents.next() {
        Some(second) => TableRef {
            schema: Some(first),
            table: ident(second),
        },
        None => TableRef {
            schema: None,
            table: first,
        },
    }
}

fn optional_ident(pair: Pair<'_, Rule>) -> Option<String> {
    Inner::new(pair).take(Rule::ident).map(ident)
}

fn string(pair: Pair<'_, Rule>) -> String {
    let text = pair.as_str();
    let inner = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .unwrap_or(text);
    inner.replace("''", "'")
}

fn like_pattern(pair: Pair<'_, Rule>) -> Option<String> {
    Inner::new(pair).take(Rule::string).map(string)
}

/// A `file_path`, `file_ref` or `quoted_file_ref`'s literal text, quotes removed.
fn path_text(pair: Pair<'_, Rule>) -> String {
    match pair.clone().into_inner().next() {
        Some(child) if child.as_rule() == Rule::string => string(child),
        Some(child) if child.as_rule() == Rule::quoted_ident => ident(child),
        Some(child) => child.as_str().to_string(),
        None => pair.as_str().to_string(),
    }
}

fn write_mode(pair: Pair<'_, Rule>) -> WriteMode {
    if pair.as_str().eq_ignore_ascii_case("append") {
        WriteMode::Append
    } else {
        WriteMode::Overwrite
    }
}

fn file_target(inner: &mut Inner<'_>) -> Result<FileTarget, ParseError> {
    let connector = inner.take(Rule::connector).and_then(optional_ident);
    let file = inner
        .take(Rule::file_ref)
        .or_else(|| inner.take(Rule::quoted_file_ref))
        .ok_or_else(missing)?;
    let child = file.into_inner().next().ok_or_else(missing)?;
    let file = match child.as_rule() {
        Rule::string => FileRef::Path(string(child)),
        Rule::quoted_ident => FileRef::Path(ident(child)),
        Rule::paren_expr => FileRef::Expr(
            child
                .into_inner()
                .next()
                .map(|body| body.as_str().trim().to_string())
                .unwrap_or_default(),
        ),
        _ => FileRef::Path(child.as_str().to_string()),
    };
    Ok(FileTarget { connector, file })
}

fn system_command(inner: &mut Inner<'_>) -> Result<SystemCommand, ParseError> {
    let pair = inner
        .pairs
        .iter()
        .position(|p| !matches!(p.as_rule(), Rule::sp | Rule::EOI))
        .map(|index| inner.pairs.remove(index))
        .ok_or_else(missing)?;
    Ok(match pair.as_rule() {
        Rule::sys_status => SystemCommand::Status,
        Rule::sys_stop => SystemCommand::StopDaemon,
        Rule::sys_restart => SystemCommand::RestartDaemon,
        Rule::sys_reload => SystemCommand::Reload,
        Rule::sys_cancel => {
            let target = Inner::new(pair)
                .pairs
                .into_iter()
                .find(|p| p.as_rule() != Rule::sp)
                .ok_or_else(missing)?;
            SystemCommand::Cancel(match target.as_rule() {
                Rule::cancel_all => CancelTarget::All,
                Rule::string => CancelTarget::Job(string(target)),
                _ => CancelTarget::Job(target.as_str().to_string()),
            })
        }
        _ => return Err(missing()),
    })
}

#[cfg(test)]
mod tests;
