//! Writing the spec: YAML text in the layout of the bundled specs, every heuristic on a
//! `# guess:` comment line just above the key it decided, and the operations that gave
//! no table listed at the end with the reason.

use super::auth::AuthPlan;
use super::paging::{Pager, Strategy};
use super::tables::{Plan, TablePlan};
use std::fmt::Write as _;

/// What goes into the spec besides the tables.
pub struct Header<'a> {
    /// First comment lines (provenance).
    pub provenance: Vec<String>,
    /// Connector name.
    pub name: &'a str,
    /// Base URL (with `${var}` placeholders).
    pub base_url: &'a str,
    /// Why that base URL, when guessed.
    pub base_url_guess: Option<String>,
    /// The help text.
    pub help: String,
    /// The auth block.
    pub auth: &'a AuthPlan,
    /// `auth.defaults` from server variables: (name, value).
    pub server_defaults: &'a [(String, String)],
}

/// Render the spec.
pub fn render(h: &Header<'_>, plan: &Plan) -> String {
    let mut y = String::with_capacity(256 + plan.tables.len() * 400);
    for line in &h.provenance {
        comment(&mut y, 0, "", line);
    }
    let _ = writeln!(y, "name: {}", scalar(h.name));
    if let Some(g) = &h.base_url_guess {
        comment(&mut y, 0, "guess: ", g);
    }
    let _ = writeln!(y, "base_url: {}", scalar(h.base_url));
    block(&mut y, 0, "help", &h.help);
    auth(&mut y, h.auth, h.server_defaults);

    let common = common_pager(plan);
    if let Some(p) = common {
        comment(
            &mut y,
            0,
            "guess: ",
            &format!("the pager of most tables: {}", p.why),
        );
        y.push_str("paging:\n");
        pager(&mut y, 2, p);
    }
    y.push_str("tables:\n");
    for t in &plan.tables {
        table(&mut y, plan, t, common);
    }
    if !plan.skipped.is_empty() {
        y.push_str("\n# GET operations that are not tables, and why:\n");
        for s in &plan.skipped {
            comment(&mut y, 0, "  ", &format!("{}: {}", s.origin, s.reason));
        }
    }
    y
}

/// One entry of `tables:`; its pager is written only when it differs from `common`.
fn table(y: &mut String, plan: &Plan, t: &TablePlan, common: Option<&Pager>) {
    let _ = writeln!(y, "  - name: {}", scalar(&t.name));
    if let Some(d) = &t.description {
        let _ = writeln!(y, "    description: {}", scalar(d));
    }
    comment(y, 4, "", &t.origin);
    let _ = writeln!(y, "    resource_path: {}", scalar(&t.path));
    if let Some(note) = &t.no_pager_note {
        comment(y, 4, "guess: ", note);
    }
    if let Some(p) = &t.pager {
        let shared = common.is_some_and(|c| same_pager(c, p));
        if !shared {
            comment(y, 4, "guess: ", &p.why);
        }
        y.push_str("    supports_paging: true\n");
        if !shared {
            y.push_str("    paging:\n");
            pager(y, 6, p);
        }
    }
    if !t.headers.is_empty() {
        y.push_str("    headers:\n");
        guessed_pairs(y, &t.headers);
    }
    table_params(y, plan, t);
    if !t.copy_params.is_empty() {
        let names: Vec<String> = t.copy_params.iter().map(|c| flow_scalar(c)).collect();
        let _ = writeln!(y, "    copy_params_to_output: [{}]", names.join(", "));
    }
    record_path(y, t);
    if let Some((k, guess)) = &t.key {
        if let Some(g) = guess {
            comment(y, 4, "guess: ", g);
        }
        let _ = writeln!(y, "    key_column: {}", scalar(k));
    }
}

/// `key: value` lines at indent 6, each after its `# guess:` line when it has one.
fn guessed_pairs(y: &mut String, pairs: &[(String, String, Option<String>)]) {
    for (k, v, guess) in pairs {
        if let Some(g) = guess {
            comment(y, 6, "guess: ", g);
        }
        let _ = writeln!(y, "      {}: {}", scalar(k), scalar(v));
    }
}

/// A table's `params:`: the `sql@` query over its parent first, then its constants.
fn table_params(y: &mut String, plan: &Plan, t: &TablePlan) {
    if t.params.is_empty() && t.from_parent.is_none() {
        return;
    }
    y.push_str("    params:\n");
    if let Some(link) = &t.from_parent {
        let parent = &plan.tables[link.parent];
        if let Some(g) = &link.guess {
            comment(y, 6, "guess: ", g);
        }
        let cols: Vec<String> = link.columns.iter().map(|c| quote_ident(c)).collect();
        let sql = format!(
            "sql@(select distinct {} from {})",
            cols.join(", "),
            quote_ident(&parent.name)
        );
        let _ = writeln!(
            y,
            "      {}: {}",
            scalar(&link.names.join(",")),
            scalar(&sql)
        );
    }
    guessed_pairs(y, &t.params);
}

/// A table's `result_body_path` (a flow list when a key has a dot), after its guess.
fn record_path(y: &mut String, t: &TablePlan) {
    if let Some(g) = &t.record_guess {
        comment(y, 4, "guess: ", g);
    }
    if t.record_path.is_empty() {
        return;
    }
    if t.record_path.iter().any(|k| k.contains('.')) {
        let keys: Vec<String> = t.record_path.iter().map(|k| flow_scalar(k)).collect();
        let _ = writeln!(y, "    result_body_path: [{}]", keys.join(", "));
    } else {
        let _ = writeln!(
            y,
            "    result_body_path: {}",
            scalar(&t.record_path.join("."))
        );
    }
}

fn auth(y: &mut String, a: &AuthPlan, server_defaults: &[(String, String)]) {
    y.push_str("auth:\n");
    if let Some(s) = &a.source {
        comment(y, 2, "", s);
    }
    for g in &a.guesses {
        comment(y, 2, "guess: ", g);
    }
    let _ = writeln!(y, "  type: {}", a.kind);
    if !a.params.is_empty() {
        y.push_str("  params:\n");
        for (k, d) in &a.params {
            let _ = writeln!(y, "    {}: {}", scalar(k), scalar(d));
        }
    }
    let defaults: Vec<&(String, String)> = a.defaults.iter().chain(server_defaults).collect();
    if !defaults.is_empty() {
        y.push_str("  defaults:\n");
        for (k, v) in defaults {
            let _ = writeln!(y, "    {}: {}", scalar(k), scalar(v));
        }
    }
    if !a.headers.is_empty() {
        y.push_str("  headers:\n");
        for (k, v) in &a.headers {
            let _ = writeln!(y, "    {}: {}", scalar(k), scalar(v));
        }
    }
}

fn pager(y: &mut String, indent: usize, p: &Pager) {
    let pad = " ".repeat(indent);
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(y, "{pad}{k}: {v}");
    };
    match &p.strategy {
        Strategy::Page { param, first } => {
            line("strategy", "pageAndCount");
            line("page_param", &scalar(param));
            if *first != 1 {
                line("first_page", &first.to_string());
            }
        }
        Strategy::Offset { param } => {
            line("strategy", "offsetAndCount");
            line("offset_param", &scalar(param));
        }
        Strategy::Token { param, path } => {
            line("strategy", "pagerToken");
            line("token_param", &scalar(param));
            line("pager_token_path", &scalar(path));
        }
        Strategy::NextLink { path } => {
            line("strategy", "nextLink");
            line("pager_link_path", &scalar(path));
        }
        Strategy::LinkHeader => line("strategy", "linkHeader"),
    }
    if let Some(c) = &p.count_param {
        line("count_param", &scalar(c));
    }
    if let Some(n) = p.page_size {
        line("page_size", &n.to_string());
    }
    if p.stop_on_empty {
        line("stop", "empty_page");
    }
}

fn same_pager(a: &Pager, b: &Pager) -> bool {
    a.strategy == b.strategy
        && a.count_param == b.count_param
        && a.page_size == b.page_size
        && a.stop_on_empty == b.stop_on_empty
}

/// The pager shared by the most tables, when at least two share it.
fn common_pager(plan: &Plan) -> Option<&Pager> {
    let pagers: Vec<&Pager> = plan
        .tables
        .iter()
        .filter_map(|t| t.pager.as_ref())
        .collect();
    let mut best: Option<(&Pager, usize)> = None;
    for p in &pagers {
        let n = pagers.iter().filter(|q| same_pager(p, q)).count();
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((p, n));
        }
    }
    best.filter(|(_, n)| *n >= 2).map(|(p, _)| p)
}

/// A comment line (newlines and control characters folded into spaces).
fn comment(y: &mut String, indent: usize, prefix: &str, text: &str) {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let _ = writeln!(y, "{}# {prefix}{}", " ".repeat(indent), clean.trim());
}

/// A literal block scalar (`key: |-`).
fn block(y: &mut String, indent: usize, key: &str, text: &str) {
    let pad = " ".repeat(indent + 2);
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    let first_indented = lines
        .iter()
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with([' ', '\t']));
    let indicator = if first_indented { "|2-" } else { "|-" };
    let _ = writeln!(y, "{}{key}: {indicator}", " ".repeat(indent));
    for l in lines {
        if l.is_empty() {
            y.push('\n');
        } else {
            let _ = writeln!(y, "{pad}{l}");
        }
    }
}

/// A YAML scalar in block context: plain when unambiguous, else single-quoted
/// (double-quoted JSON when it has line breaks or control characters).
pub fn scalar(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '/' || c == '_')
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s
            .chars()
            .any(|c| c.is_control() || c == '\'' || c == '"' || c == '`')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        return s.to_string();
    }
    quoted(s)
}

/// A scalar inside a flow sequence (`[a, b]`): plain only for simple names.
pub fn flow_scalar(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && scalar(s) == s;
    if plain {
        s.to_string()
    } else {
        quoted(s)
    }
}

fn quoted(s: &str) -> String {
    if s.chars().any(char::is_control) {
        return serde_json::Value::String(s.to_string()).to_string();
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL identifier in double quotes.
fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
