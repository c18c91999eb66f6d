//! A statement's text for DuckDB ([`rewrite`]): Postgres catalog relations, functions,
//! casts and operators DuckDB lacks replaced, token by token, by the session's views
//! and macros or DuckDB's own.

use super::super::types::quote;
use super::{default_setting, is_one_of, unquote, version_string, Tok, TokKind};

/// Catalog relations with a `unify_pg_*` view.
const CATALOG_VIEWS: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_am",
    "pg_attrdef",
    "pg_collation",
    "pg_description",
    "pg_index",
    "pg_constraint",
    "pg_inherits",
    "pg_roles",
    "pg_user",
    "pg_database",
    "pg_settings",
    "pg_tables",
    "pg_views",
    "pg_proc",
    "pg_enum",
    "pg_range",
    "pg_extension",
    "pg_tablespace",
    "pg_trigger",
    "pg_sequence",
    "pg_matviews",
    "pg_indexes",
    "pg_policy",
    "pg_rewrite",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_partitioned_table",
    "pg_foreign_table",
    "pg_foreign_server",
    "pg_foreign_data_wrapper",
    "pg_event_trigger",
    "pg_depend",
    "pg_shdescription",
    "pg_auth_members",
    "pg_stat_activity",
    "pg_locks",
    "pg_operator",
    "pg_opclass",
    "pg_aggregate",
    "pg_cast",
    "pg_language",
    "pg_conversion",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
];

/// Functions replaced by the session's `unify_*` macros.
const MACROS: &[&str] = &[
    "format_type",
    "pg_get_userbyid",
    "pg_get_expr",
    "obj_description",
    "col_description",
    "shobj_description",
    "pg_get_indexdef",
    "pg_get_constraintdef",
    "pg_get_statisticsobjdef_columns",
    "pg_relation_is_publishable",
    "pg_encoding_to_char",
    "array_upper",
    "array_lower",
    "pg_get_function_identity_arguments",
    "pg_get_function_arguments",
    "pg_get_function_result",
    "quote_ident",
    "pg_is_in_recovery",
    "has_table_privilege",
    "has_database_privilege",
    "has_column_privilege",
    "pg_total_relation_size",
    "pg_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "txid_current",
    "pg_tablespace_location",
    "to_regclass",
    "pg_get_partkeydef",
    "pg_get_serial_sequence",
    "pg_my_temp_schema",
    "pg_is_other_temp_schema",
    "pg_get_viewdef",
    "pg_get_triggerdef",
    "pg_get_ruledef",
    "pg_postmaster_start_time",
    "inet_server_addr",
    "inet_server_port",
    "pg_type_is_visible",
    "pg_function_is_visible",
    "pg_table_is_visible",
    "pg_collation_is_visible",
    "pg_opclass_is_visible",
];

/// Postgres functions DuckDB has under another name.
const RENAMES: &[(&str, &str)] = &[
    ("json_build_object", "json_object"),
    ("jsonb_build_object", "json_object"),
    ("json_agg", "json_group_array"),
    ("jsonb_agg", "json_group_array"),
];

/// Rewrite a statement for DuckDB: catalog relations → `unify_pg_*` views, missing
/// functions → `unify_*` macros, `OPERATOR(pg_catalog.x)` → `x`, `COLLATE
/// pg_catalog.default` dropped, `reg*` casts → BIGINT, `pg_catalog.` type and function
/// prefixes dropped, `version()` and Postgres `current_setting`s → literals. Returns
/// the text and whether it uses the session's catalog objects.
pub(crate) fn rewrite(toks: &[Tok]) -> (String, bool) {
    let mut r = Rewriter::new(toks);
    while r.k < r.code.len() {
        r.step();
    }
    r.emit_gap(toks.len());
    (r.out, r.catalog)
}

/// The `reg*` object-identifier types: casts to them become BIGINT.
fn is_reg_type(ty: &str) -> bool {
    matches!(
        ty,
        "regclass"
            | "regtype"
            | "regproc"
            | "regprocedure"
            | "regnamespace"
            | "regrole"
            | "regoper"
            | "regoperator"
            | "regconfig"
    )
}

/// The macro that looks a name up for a cast of a literal to `ty` (`'t'::regclass`).
fn lookup_macro(ty: &str) -> Option<&'static str> {
    match ty.trim_matches('"').to_ascii_lowercase().as_str() {
        "regclass" => Some("unify_to_regclass"),
        "regtype" => Some("unify_to_regtype"),
        "regnamespace" => Some("unify_to_regnamespace"),
        _ => None,
    }
}

/// [`rewrite`] in progress: it walks the non-space tokens, copying the spaces between
/// them, and each rule either rewrites the tokens at the cursor or leaves them.
struct Rewriter<'t, 'a> {
    toks: &'t [Tok<'a>],
    /// Indices of the non-space tokens, to look around.
    code: Vec<usize>,
    /// The text so far.
    out: String,
    /// The text uses the session's catalog objects.
    catalog: bool,
    /// The cursor: an index into `code`.
    k: usize,
    /// Tokens before this index are emitted (or replaced).
    last: usize,
    /// Postgres' `~` searches; DuckDB's matches the whole string: the pattern after a
    /// `~` is wrapped as `.*(?:pattern).*` (case-insensitive for `~*`). Set when the
    /// next token is such a pattern.
    regex_next: Option<bool>,
}

impl<'t, 'a> Rewriter<'t, 'a> {
    /// A rewriter at the start of `toks`.
    fn new(toks: &'t [Tok<'a>]) -> Self {
        Rewriter {
            toks,
            code: (0..toks.len())
                .filter(|&i| toks[i].kind != TokKind::Space)
                .collect(),
            out: String::new(),
            catalog: false,
            k: 0,
            last: 0,
            regex_next: None,
        }
    }

    /// The text of the `k`-th non-space token ("" past the end).
    fn text(&self, k: usize) -> &'a str {
        self.code.get(k).map_or("", |&i| self.toks[i].text)
    }

    /// Emit the spaces between the last emitted token and token index `upto`.
    fn emit_gap(&mut self, upto: usize) {
        let toks = self.toks;
        for t in &toks[self.last..upto] {
            if t.kind == TokKind::Space {
                self.out.push_str(t.text);
            }
        }
        self.last = upto;
    }

    /// Move the cursor to `k`: the tokens before it are emitted or replaced.
    fn skip_to(&mut self, k: usize) {
        self.k = k;
        self.last = self.code.get(k - 1).map_or(self.toks.len(), |&x| x + 1);
    }

    /// `j`, or past a `pg_catalog.` prefix starting at `j`.
    fn skip_pg_catalog(&self, j: usize) -> usize {
        if self.text(j).eq_ignore_ascii_case("pg_catalog") && self.text(j + 1) == "." {
            j + 2
        } else {
            j
        }
    }

    /// Rewrite or copy the token at the cursor, and move on.
    fn step(&mut self) {
        let i = self.code[self.k];
        let t = self.toks[i];
        self.emit_gap(i);
        let lower = t.text.to_ascii_lowercase();
        let pattern = self.regex_next.take();
        let rewritten = pattern.is_some_and(|insensitive| self.regex_pattern(t, insensitive))
            || (t.text == "~" && self.tilde())
            || (lower == "operator" && self.operator())
            || (lower == "collate" && self.collate())
            || (lower == "cast" && self.cast_lookup())
            || (lower == "as" && self.as_reg_type())
            || (t.text == "::" && self.cast_suffix())
            || (t.kind == TokKind::Word && self.word(&lower));
        if !rewritten {
            self.out.push_str(t.text);
            self.skip_to(self.k + 1);
        }
    }

    /// The pattern after `~`: `'p'` → `'(?s).*(?:p).*'`.
    fn regex_pattern(&mut self, t: Tok, insensitive: bool) -> bool {
        if t.kind != TokKind::Str || !t.text.ends_with('\'') {
            return false;
        }
        // The token ends with a quote, so it has one; a lone quote (an unterminated
        // string) is no pattern.
        let q = t.text.find('\'').unwrap_or(0);
        if q + 1 >= t.text.len() {
            return false;
        }
        let (prefix, body) = (&t.text[..q], &t.text[q + 1..t.text.len() - 1]);
        let flags = if insensitive { "(?is)" } else { "(?s)" };
        self.out
            .push_str(&format!("{prefix}'{flags}.*(?:{body}).*'"));
        self.skip_to(self.k + 1);
        true
    }

    /// `~~` (LIKE) is kept; `~` and `~*` mark the next token as a pattern.
    fn tilde(&mut self) -> bool {
        if self.text(self.k + 1) == "~" {
            self.out.push_str("~~");
            self.skip_to(self.k + 2);
            return true;
        }
        let insensitive = self.text(self.k + 1) == "*";
        self.out.push('~');
        self.skip_to(self.k + if insensitive { 2 } else { 1 });
        self.regex_next = Some(insensitive);
        true
    }

    /// `OPERATOR(pg_catalog.~)` → `~`.
    fn operator(&mut self) -> bool {
        if self.text(self.k + 1) != "(" {
            return false;
        }
        let mut j = self.skip_pg_catalog(self.k + 2);
        let mut op = String::new();
        while j < self.code.len() && self.text(j) != ")" {
            op.push_str(self.text(j));
            j += 1;
        }
        if let Some(rest) = op.strip_suffix("~*") {
            self.out.push_str(rest);
            self.out.push('~');
            self.regex_next = Some(true);
        } else {
            self.out.push_str(&op);
            if op.ends_with('~') {
                self.regex_next = Some(false);
            }
        }
        self.skip_to(j + 1);
        true
    }

    /// `COLLATE pg_catalog.default` / `COLLATE "C"` → nothing.
    fn collate(&mut self) -> bool {
        let j = self.skip_pg_catalog(self.k + 1);
        self.skip_to(j + 1);
        true
    }

    /// `CAST('name' AS regclass)` → the lookup.
    fn cast_lookup(&mut self) -> bool {
        let k = self.k;
        if self.text(k + 1) != "(" {
            return false;
        }
        let lit = self
            .code
            .get(k + 2)
            .map(|&x| self.toks[x])
            .filter(|t| t.kind == TokKind::Str);
        let j = self.skip_pg_catalog(k + 4);
        match (lit, lookup_macro(self.text(j))) {
            (Some(lit), Some(lookup))
                if self.text(k + 3).eq_ignore_ascii_case("as") && self.text(j + 1) == ")" =>
            {
                self.out.push_str(&format!("{lookup}({})", lit.text));
                self.catalog = true;
                self.skip_to(j + 2);
                true
            }
            _ => false,
        }
    }

    /// `AS regclass)` (the end of `CAST(x AS regclass)`) → `AS BIGINT`.
    fn as_reg_type(&mut self) -> bool {
        let j = self.skip_pg_catalog(self.k + 1);
        let ty = self.text(j).trim_matches('"').to_ascii_lowercase();
        if !(is_reg_type(&ty) && self.text(j + 1) == ")") {
            return false;
        }
        self.out.push_str("AS BIGINT");
        self.skip_to(j + 1);
        true
    }

    /// Casts: `'name'::regclass` and `'int4'::regtype` look the name up; `::regclass`,
    /// `::oid` → `::BIGINT`, `::"char"`, `::name` → `::VARCHAR`, `pg_catalog.` dropped.
    fn cast_suffix(&mut self) -> bool {
        let k = self.k;
        let j = self.skip_pg_catalog(k + 1);
        let ty = self.text(j).trim_matches('"').to_ascii_lowercase();
        let literal = k
            .checked_sub(1)
            .map(|p| self.toks[self.code[p]])
            .filter(|p| p.kind == TokKind::Str && self.out.ends_with(p.text));
        if let (Some(lit), Some(lookup)) = (literal, lookup_macro(&ty)) {
            self.out.truncate(self.out.len() - lit.text.len());
            self.out.push_str(&format!("{lookup}({})", lit.text));
            self.catalog = true;
            self.skip_to(j + 1);
            return true;
        }
        let mapped = match ty.as_str() {
            t if is_reg_type(t) => "BIGINT",
            "oid" | "xid" | "cid" | "tid" => "BIGINT",
            "char" | "name" | "bpchar" | "character" => "VARCHAR",
            "int2vector" | "oidvector" => "VARCHAR",
            _ => self.text(j),
        };
        self.out.push_str("::");
        self.out.push_str(mapped);
        self.skip_to(j + 1);
        true
    }

    /// A name, `pg_catalog.`-qualified or not (and not after another `.`): `version()`
    /// and `current_setting('x')` → literals, renamed functions, macros, catalog views,
    /// and the prefix of other qualified calls dropped.
    fn word(&mut self, lower: &str) -> bool {
        let k = self.k;
        let (name_k, qualified) =
            if lower == "pg_catalog" && self.text(k + 1) == "." && k + 2 < self.code.len() {
                (k + 2, true)
            } else {
                (k, false)
            };
        if !qualified && k > 0 && self.text(k - 1) == "." {
            return false;
        }
        let name = self.text(name_k);
        let is_call = self.text(name_k + 1) == "(";
        if is_call && self.constant_call(name_k) {
            return true;
        }
        let name_lower = name.to_ascii_lowercase();
        let (text, catalog) = if let Some((_, to)) = RENAMES
            .iter()
            .find(|(from, _)| is_call && from.eq_ignore_ascii_case(name))
        {
            (to.to_string(), false)
        } else if (is_call && is_one_of(name, MACROS))
            || (!is_call && is_one_of(name, CATALOG_VIEWS))
        {
            (format!("unify_{name_lower}"), true)
        } else if qualified && is_call {
            (name.to_string(), false)
        } else {
            return false;
        };
        self.out.push_str(&text);
        self.catalog |= catalog;
        self.skip_to(name_k + 1);
        true
    }

    /// `version()` and `current_setting('name')` of a Postgres setting, called at
    /// `name_k`: their value as a literal.
    fn constant_call(&mut self, name_k: usize) -> bool {
        let name = self.text(name_k).to_ascii_lowercase();
        let value = if name == "version" && self.text(name_k + 2) == ")" {
            Some((version_string(), name_k + 3))
        } else if name == "current_setting"
            && self
                .code
                .get(name_k + 2)
                .is_some_and(|&x| self.toks[x].kind == TokKind::Str)
            && self.text(name_k + 3) == ")"
        {
            default_setting(&unquote(self.text(name_k + 2)).to_ascii_lowercase())
                .map(|v| (v, name_k + 4))
        } else {
            None
        };
        let Some((value, end)) = value else {
            return false;
        };
        self.out.push_str(&quote(&value));
        self.skip_to(end);
        true
    }
}
