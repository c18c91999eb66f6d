//! Pagination detection: which pager a list operation needs, read from its query
//! parameters (page/per_page, offset/limit, cursor or token params), its answer's fields
//! (a next cursor, a next-page URL) and its documented `Link` header. The page size is
//! the size parameter's `maximum` (or a "max N" in its description).

use super::load::{Doc, Location, Operation, Parameter};
use super::names::snake;
use super::schema::{self, Kind};
use serde_json::Value;

/// Page sizes above this are asked as this: pages stay a few MB.
const MAX_PAGE_SIZE: u64 = 1000;

/// A detected pager.
#[derive(Debug, Clone, PartialEq)]
pub struct Pager {
    /// The strategy and its own keys.
    pub strategy: Strategy,
    /// The page-size parameter.
    pub count_param: Option<String>,
    /// The page size sent.
    pub page_size: Option<u64>,
    /// Stop only on an empty page (the size was guessed: the server may cap it lower).
    pub stop_on_empty: bool,
    /// Why: the `# guess:` comment.
    pub why: String,
}

/// The pagers unify has.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// `?page=N`.
    Page {
        /// The page parameter.
        param: String,
        /// The first page's number.
        first: u64,
    },
    /// `?offset=N`.
    Offset {
        /// The offset parameter.
        param: String,
    },
    /// A cursor from the body sent back as a parameter.
    Token {
        /// The cursor parameter.
        param: String,
        /// JSONPath to the next cursor.
        path: String,
    },
    /// A next-page URL in the body.
    NextLink {
        /// JSONPath to the URL.
        path: String,
    },
    /// `Link: <…>; rel="next"`.
    LinkHeader,
}

impl Pager {
    /// The query parameters this pager sets itself.
    pub fn params(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.count_param.iter().map(String::as_str).collect();
        match &self.strategy {
            Strategy::Page { param, .. }
            | Strategy::Offset { param }
            | Strategy::Token { param, .. } => out.push(param),
            Strategy::NextLink { .. } | Strategy::LinkHeader => {}
        }
        out
    }
}

const SIZE: &[&str] = &[
    "per_page",
    "page_size",
    "limit",
    "size",
    "count",
    "max_results",
    "top",
    "results_per_page",
    "page_limit",
    "max_items",
    "num_results",
    "pagesize",
    "perpage",
];
const PAGE: &[&str] = &[
    "page",
    "page_number",
    "page_num",
    "page_no",
    "page_index",
    "pagenumber",
];
const OFFSET: &[&str] = &["offset", "start", "skip", "start_at", "start_index", "from"];
const CURSOR: &[&str] = &[
    "cursor",
    "after",
    "starting_after",
    "page_token",
    "next_token",
    "next_page_token",
    "continuation_token",
    "continuation",
    "start_cursor",
    "marker",
    "page_after",
    "after_cursor",
    "page_cursor",
    "pagination_token",
    "starting_token",
    "next_cursor",
    "start_after",
];
/// Answer fields that hold the next cursor.
const CURSOR_FIELDS: &[&str] = &[
    "next_cursor",
    "next_page_token",
    "next_token",
    "next_page_cursor",
    "end_cursor",
    "continuation_token",
    "next_marker",
    "cursor",
    "after",
    "next_start_cursor",
    "pagination_token",
];
/// Answer fields that hold the next page's URL.
const LINK_FIELDS: &[&str] = &[
    "next",
    "next_url",
    "next_link",
    "next_page",
    "next_page_url",
    "next_page_uri",
    "next_href",
    "odata_next_link",
];

/// Detect the pager of a list operation whose records are at `record_path` in an answer
/// described by `answer` (None: undescribed).
pub fn detect(
    doc: &Doc,
    op: &Operation<'_>,
    answer: Option<&Value>,
    record_path: &[String],
    link_header: bool,
) -> Option<Pager> {
    let query: Vec<&Parameter<'_>> = op
        .params
        .iter()
        .filter(|p| p.location == Location::Query)
        .collect();
    let size = PageSize::of(find_param(&query, SIZE));
    if link_header {
        return Some(size.pager(
            Strategy::LinkHeader,
            "the answer documents a Link header: follow rel=\"next\"".to_string(),
        ));
    }
    let fields = answer.map(|a| scalar_fields(doc, a)).unwrap_or_default();
    let next_link = next_link_field(&fields);
    if let Some(cp) = cursor_param(&query) {
        if let Some(p) = cursor_pager(doc, answer, record_path, &fields, cp, &size) {
            return Some(p);
        }
        // Without a field for the cursor, only a next-page URL can page this.
        next_link?;
    }
    if let Some(link) = next_link {
        return Some(size.pager(
            Strategy::NextLink {
                path: jsonpath(&link.path),
            },
            format!(
                "the answer's `{}` is the next page's URL",
                link.path.join(".")
            ),
        ));
    }
    counted_pager(&query, &size)
}

/// The page-size parameter of an operation and what it implies for every pager.
struct PageSize {
    /// The page-size parameter.
    count_param: Option<String>,
    /// The page size sent.
    page_size: Option<u64>,
    /// Whether the schema documents the size (else only an empty page stops paging).
    documented: bool,
    /// Why this size (empty without a size parameter).
    why: String,
}

impl PageSize {
    /// The page size read from the size parameter `size`, if there is one.
    fn of(size: Option<&Parameter<'_>>) -> PageSize {
        match size {
            Some(p) => {
                let (n, documented, why) = page_size_of(p);
                PageSize {
                    count_param: Some(p.name.clone()),
                    page_size: Some(n),
                    documented,
                    why,
                }
            }
            None => PageSize {
                count_param: None,
                page_size: None,
                documented: false,
                why: String::new(),
            },
        }
    }

    /// A pager with this page size, explained by `why`.
    fn pager(&self, strategy: Strategy, why: String) -> Pager {
        Pager {
            stop_on_empty: matches!(strategy, Strategy::Page { .. } | Strategy::Offset { .. })
                && !self.documented,
            strategy,
            count_param: self.count_param.clone(),
            page_size: self.page_size,
            why: if self.why.is_empty() {
                why
            } else {
                format!("{why}; {}", self.why)
            },
        }
    }
}

/// The first query parameter whose snake_case name is one of `names`.
fn find_param<'p, 'a>(query: &[&'p Parameter<'a>], names: &[&str]) -> Option<&'p Parameter<'a>> {
    query
        .iter()
        .copied()
        .find(|p| names.contains(&snake(&p.name).as_str()))
}

/// The cursor parameter: a known cursor name, else a non-numeric parameter whose
/// description speaks of a cursor or pagination token.
fn cursor_param<'p, 'a>(query: &[&'p Parameter<'a>]) -> Option<&'p Parameter<'a>> {
    find_param(query, CURSOR).or_else(|| {
        query.iter().copied().find(|p| {
            let d = p.description.to_ascii_lowercase();
            !p.is_numeric() && (d.contains("cursor") || d.contains("pagination token"))
        })
    })
}

/// The answer's field holding the next page's URL (the shallowest one).
fn next_link_field<'f, 'a>(fields: &'f [Field<'a>]) -> Option<&'f Field<'a>> {
    fields
        .iter()
        .filter(|f| LINK_FIELDS.contains(&snake(f.name).as_str()) || f.is_next_href())
        .filter(|f| f.is_string && (f.url_like() || snake(f.name).starts_with("next")))
        .min_by_key(|f| f.path.len())
}

/// A token pager for the cursor parameter `cp`: a cursor field of the answer sent back,
/// else (for `starting_after`-style names) the id of the last record.
fn cursor_pager(
    doc: &Doc,
    answer: Option<&Value>,
    record_path: &[String],
    fields: &[Field<'_>],
    cp: &Parameter<'_>,
    size: &PageSize,
) -> Option<Pager> {
    let token = fields
        .iter()
        .filter(|f| f.is_string || f.is_untyped)
        .filter(|f| CURSOR_FIELDS.contains(&snake(f.name).as_str()) && !f.url_like())
        .min_by_key(|f| (!snake(f.name).contains("next"), f.path.len()));
    if let Some(t) = token {
        return Some(size.pager(
            Strategy::Token {
                param: cp.name.clone(),
                path: jsonpath(&t.path),
            },
            format!(
                "a cursor: `{}` is sent back as `{}`",
                t.path.join("."),
                cp.name
            ),
        ));
    }
    let name = snake(&cp.name);
    if !matches!(
        name.as_str(),
        "starting_after" | "after" | "start_after" | "after_id"
    ) {
        return None;
    }
    let path = last_id_path(doc, answer, record_path, fields)?;
    Some(size.pager(
        Strategy::Token {
            param: cp.name.clone(),
            path,
        },
        format!(
            "`{}` is the id of the last record of the previous page",
            cp.name
        ),
    ))
}

/// Numbered pages, else offsets: both need a page-size parameter.
fn counted_pager(query: &[&Parameter<'_>], size: &PageSize) -> Option<Pager> {
    size.count_param.as_ref()?;
    if let Some(page) = find_param(query, PAGE) {
        let first = page.minimum().or(page.default_number()).unwrap_or(1).min(1);
        return Some(size.pager(
            Strategy::Page {
                param: page.name.clone(),
                first,
            },
            format!("numbered pages: `{}` counts from {first}", page.name),
        ));
    }
    let offset = find_param(query, OFFSET)?;
    Some(size.pager(
        Strategy::Offset {
            param: offset.name.clone(),
        },
        format!("`{}` skips the records already read", offset.name),
    ))
}

/// The page size of a size parameter: its maximum (documented), else a "max N" of its
/// description, else 100. Returns (size, documented by the schema, why).
fn page_size_of(p: &Parameter<'_>) -> (u64, bool, String) {
    if let Some(max) = p.maximum().filter(|m| *m > 0) {
        let n = max.min(MAX_PAGE_SIZE);
        return (
            n,
            true,
            format!("page size {n}: the maximum of `{}`", p.name),
        );
    }
    if let Some(n) = max_in_text(&p.description) {
        let n = n.min(MAX_PAGE_SIZE);
        return (
            n,
            false,
            format!("page size {n}: read in the description of `{}`", p.name),
        );
    }
    (
        100,
        false,
        format!("page size 100: `{}` documents no maximum", p.name),
    )
}

/// "(max 100)", "maximum of 500", "no larger than 1000", "up to 50", "between 1 and 200".
fn max_in_text(text: &str) -> Option<u64> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\b(?:max(?:imum)?|at most|up to|no (?:larger|more|greater) than|cannot exceed|between \d+ and|limit(?:ed)? (?:is|of|to))\b[^0-9.;]{0,24}?(\d{1,6})\b",
        )
        .expect("static regex")
    });
    re.captures(text)
        .and_then(|c| c.get(1))
        .and_then(|m| m.as_str().parse().ok())
        .filter(|n| *n > 0)
}

/// A scalar field of the answer, up to three levels deep.
struct Field<'a> {
    path: Vec<String>,
    name: &'a str,
    is_string: bool,
    is_untyped: bool,
    format: Option<&'a str>,
}

impl Field<'_> {
    fn url_like(&self) -> bool {
        let n = snake(self.name);
        matches!(self.format, Some("uri" | "url" | "uri-reference" | "iri"))
            || n.ends_with("url")
            || n.ends_with("uri")
            || n.ends_with("link")
            || n.ends_with("href")
    }
    /// `links.next.href`, `_links.next.href`.
    fn is_next_href(&self) -> bool {
        self.name == "href"
            && self.path.len() >= 2
            && snake(&self.path[self.path.len() - 2]) == "next"
    }
}

fn scalar_fields<'a>(doc: &'a Doc, answer: &'a Value) -> Vec<Field<'a>> {
    let mut out = Vec::new();
    walk(doc, answer, &mut Vec::new(), 0, &mut out);
    out
}

fn walk<'a>(
    doc: &'a Doc,
    schema: &'a Value,
    at: &mut Vec<String>,
    depth: usize,
    out: &mut Vec<Field<'a>>,
) {
    if depth > 3 || !matches!(schema::kind(doc, schema), Kind::Object) {
        return;
    }
    for (name, prop) in schema::properties(doc, schema) {
        at.push(name.to_string());
        match schema::kind(doc, prop) {
            Kind::Object => walk(doc, prop, at, depth + 1, out),
            Kind::Array(_) => {}
            Kind::Scalar => {
                let ty = schema::type_of(doc, prop);
                out.push(Field {
                    path: at.clone(),
                    name,
                    is_string: ty == Some("string"),
                    is_untyped: ty.is_none(),
                    format: prop.get("format").and_then(Value::as_str),
                });
            }
        }
        at.pop();
    }
}

/// For `starting_after`-style cursors: the id of the last record, only while the
/// answer's `has_more` is true when it has one (Stripe), else always (one extra request
/// that returns an empty page).
fn last_id_path(
    doc: &Doc,
    answer: Option<&Value>,
    record_path: &[String],
    fields: &[Field<'_>],
) -> Option<String> {
    let answer = answer?;
    let items = match record_path
        .iter()
        .try_fold(answer, |s, key| schema::property(doc, s, key))
    {
        Some(list) => match schema::kind(doc, list) {
            Kind::Array(items) => items,
            _ => None,
        },
        None => None,
    };
    let has_id = items.is_some_and(|i| schema::property(doc, i, "id").is_some());
    if !has_id {
        return None;
    }
    let top_lists = schema::properties(doc, answer)
        .into_iter()
        .filter(|(_, p)| matches!(schema::kind(doc, p), Kind::Array(_)))
        .count();
    let has_more = fields
        .iter()
        .any(|f| f.path.len() == 1 && f.name == "has_more");
    if has_more && top_lists == 1 && record_path.len() == 1 {
        // Children of the root while has_more is true; the last element of the one
        // list among them; its id.
        return Some("$[?$.has_more == true][-1:].id".to_string());
    }
    Some(format!("{}[-1:].id", jsonpath(record_path)))
}

/// A JSONPath for a key path (`['@odata.nextLink']` when a key is not a plain name).
pub fn jsonpath(path: &[String]) -> String {
    let mut out = String::from("$");
    for key in path {
        let plain = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if plain {
            out.push('.');
            out.push_str(key);
        } else {
            out.push_str(&format!(
                "['{}']",
                key.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    out
}
