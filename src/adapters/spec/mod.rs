//! Connector specs: YAML → validated [`Spec`].
//!
//! Two stages, as in ripgrep's LowArgs → HiArgs: [`parse_spec`] walks the raw YAML and
//! collects *every* problem with its file and key path; only a spec with no problems
//! becomes a [`Spec`], whose fields hold parsed values (`Url`, `Duration`, a [`Paging`]
//! enum, compiled regexes and JSONPaths) so no later code re-checks them.
//!
//! The format is the original tool's (`reference/original_unify.md` §2) plus the
//! additions of ARCHITECTURE §4 (`nextLink`, `linkHeader`, `rate_limit`,
//! `polling_interval_secs`, `retry`) and a few of our own (`paging.total_path`,
//! `paging.stop`, `paging.max_pages`, `timeout_secs`), all documented in
//! `docs/SPEC_REFERENCE.md`.
//!
//! * `mod.rs` — the validated types and [`parse_spec`];
//! * `validate.rs` — the walk of the top-level keys, and the helpers every level uses;
//! * `auth.rs`, `paging.rs`, `tables.rs`, `views.rs` — one block of the format each;
//! * `params.rs` — a table's `params:` and `refresh:`, and the load order its `sql@`
//!   parameters impose on the spec's tables.
//!
//! Nothing here does IO: the caller reads the file; the catalog decides where specs
//! come from.

mod auth;
mod paging;
mod params;
mod tables;
mod validate;
mod views;

use super::jsonpath::Path as JsonPath;
use super::yaml::{Problem, Problems};
use regex::Regex;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::time::Duration;

pub use tables::key_path;

/// Default refresh period for the scheduler when a spec says nothing (4 hours).
pub const DEFAULT_POLLING_INTERVAL_SECS: u64 = 14_400;

/// Default cap on one response body, after decompression (`max_response_mb`).
pub const DEFAULT_MAX_RESPONSE_MB: f64 = 256.0;

/// A validated connector spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The connector name connections refer to.
    pub name: String,
    /// Where the spec came from (file name or path), for messages.
    pub source: String,
    /// Prefix of every resource path. May contain `${option}` placeholders filled from the
    /// connection's options (e.g. `https://${domain}.atlassian.net`).
    pub base_url: String,
    /// Text printed by `<schema> help`.
    pub help: Option<String>,
    /// How requests authenticate.
    pub auth: AuthSpec,
    /// Sleep after every page (the original's `throttle: {sleep: s}`).
    pub throttle: Option<Duration>,
    /// strftime format for `${timestamp}` in `updates` refresh params.
    pub query_date_format: Option<String>,
    /// Spec-level rate limit, shared by every job of one connection.
    pub rate_limit: Option<RateLimit>,
    /// Spec-level scheduler period; `Some(0)` = never refresh automatically.
    pub polling_interval_secs: Option<u64>,
    /// Retry policy for 429, 5xx and timeouts.
    pub retry: RetryPolicy,
    /// Per-request timeout.
    pub timeout: Duration,
    /// The most bytes one response body may have once decompressed (`max_response_mb`).
    pub max_response_bytes: u64,
    /// Headers sent with every table's requests (a table's own headers win).
    pub headers: Vec<(String, String)>,
    /// JSONPath to an error message some APIs return with HTTP 200.
    pub error_path: Option<JsonPath>,
    /// The tables this connector offers.
    pub tables: Vec<TableSpec>,
    /// Views (re)created after their source tables load.
    pub views: Vec<ViewSpec>,
    /// Tables and views of the file that do not load, each with its problems: one bad
    /// table disables that table only, not the whole spec.
    pub disabled: Vec<Disabled>,
}

/// A table or view of a spec that does not load, and why.
#[derive(Debug, Clone)]
pub struct Disabled {
    /// Its name (or its key path when it has none).
    pub name: String,
    /// Every problem, with file and key path.
    pub problems: Vec<Problem>,
}

impl Disabled {
    /// The problems in one line.
    pub fn reason(&self) -> String {
        render_problems(&self.problems)
    }
}

impl Spec {
    /// The disabled table or view named `name`, if it is one.
    pub fn disabled(&self, name: &str) -> Option<&Disabled> {
        self.disabled.iter().find(|d| d.name == name)
    }
    /// Look up a table by name.
    pub fn table(&self, name: &str) -> Option<&TableSpec> {
        self.tables.iter().find(|t| t.name == name)
    }
    /// Look up a view by name.
    pub fn view(&self, name: &str) -> Option<&ViewSpec> {
        self.views.iter().find(|v| v.name == name)
    }
}

/// The auth types of the original format, plus OAuth2 grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// No authentication.
    None,
    /// HTTP basic auth from `username` / `password`.
    Basic,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// Arbitrary headers (`auth.headers`, or the `auth.params` keys as header names).
    Headers,
    /// Query parameters (every `auth.params` key).
    Params,
    /// AWS Signature Version 4.
    Aws4,
    /// OAuth2: client-credentials, or refresh-token when a `refresh_token` is supplied.
    OAuth2,
}

/// The `auth:` block of a spec.
#[derive(Debug, Clone)]
pub struct AuthSpec {
    /// Which scheme.
    pub kind: AuthKind,
    /// Option name → human description (drives `connect` prompts and validation).
    pub params: Vec<(String, String)>,
    /// Static values not asked per connection (`auth.defaults`).
    pub defaults: BTreeMap<String, String>,
    /// For `HEADERS`: header name → value template (`${option}` or literal).
    pub headers: Vec<(String, String)>,
    /// Other scalar keys of the block (e.g. `service: ce` for AWS4).
    pub extra: BTreeMap<String, String>,
}

impl AuthSpec {
    fn none() -> Self {
        AuthSpec {
            kind: AuthKind::None,
            params: Vec::new(),
            defaults: BTreeMap::new(),
            headers: Vec::new(),
            extra: BTreeMap::new(),
        }
    }
}

/// `rate_limit: {requests_per_second, burst, max_concurrency}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained request rate.
    pub requests_per_second: f64,
    /// Requests allowed at once after idling (default 1).
    pub burst: u32,
    /// Requests in flight at once (default 4).
    pub max_concurrency: usize,
}

/// `retry: {max_attempts, max_backoff_secs}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per request, including the first (default 5).
    pub max_attempts: u32,
    /// Cap on one backoff sleep, also on an honoured `Retry-After` (default 60 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// How a table pages through results.
#[derive(Debug, Clone)]
pub struct Paging {
    /// The pager and its parameters.
    pub strategy: PagingStrategy,
    /// Rows requested per page (`count_param` value) and the "short page" threshold.
    pub page_size: Option<u64>,
    /// Query parameter carrying the page size.
    pub count_param: Option<String>,
    /// When to stop for page/offset pagers.
    pub stop: StopRule,
    /// Safety cap; exceeding it is an error, never a silent truncation.
    pub max_pages: u64,
    /// JSONPath to the total record count, when the API reports it; lets numbered
    /// pages be fetched concurrently.
    pub total_path: Option<JsonPath>,
}

/// The pagers.
#[derive(Debug, Clone)]
pub enum PagingStrategy {
    /// `page=1,2,3…`.
    PageAndCount {
        /// Query parameter carrying the page number.
        page_param: String,
        /// Number of the first page (default 1).
        first_page: u64,
    },
    /// `offset=0,n,2n…`.
    OffsetAndCount {
        /// Query parameter carrying the offset.
        offset_param: String,
    },
    /// A cursor read from the body with JSONPath, sent back as `token_param`.
    PagerToken {
        /// Query parameter (or `${name}` in a POST body) carrying the cursor.
        token_param: String,
        /// Where the next cursor is in the body.
        pager_token_path: JsonPath,
    },
    /// An absolute next-URL read from the body.
    NextLink {
        /// Where the next URL is in the body.
        pager_link_path: JsonPath,
    },
    /// RFC 8288 `Link: <…>; rel="next"`.
    LinkHeader,
}

/// When a page/offset pager stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRule {
    /// Stop after a page with fewer rows than `page_size` (or an empty page).
    ShortPage,
    /// Stop only after an empty page (for APIs that cap page sizes below the request).
    EmptyPage,
}

/// Default safety cap on pages per parameter set.
pub const DEFAULT_MAX_PAGES: u64 = 50_000;

/// One table of a connector.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Table name inside the connection's schema.
    pub name: String,
    /// Shown by `show tables`.
    pub description: Option<String>,
    /// GET unless the table has a `post` body.
    pub method: Method,
    /// Resource path with `{param}` placeholders.
    pub path: String,
    /// The pager, already resolved from `supports_paging` and spec-level paging.
    pub paging: Option<Paging>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Query parameters (static, multi-valued, tuples, `sql@(…)`).
    pub params: Vec<Param>,
    /// JSON body template (makes the request a POST).
    pub post: Option<serde_json::Value>,
    /// Dotted path to the record list.
    pub result_body_path: Option<Vec<String>>,
    /// Dotted paths outside the records copied onto every row.
    pub result_meta_paths: Vec<Vec<String>>,
    /// A single key whose value becomes the table without flattening.
    pub result_object_path: Option<String>,
    /// Column keep-list (regex prefixes).
    pub select: Option<Vec<Regex>>,
    /// Prefixes removed from column names.
    pub strip_prefixes: Vec<String>,
    /// Params copied as constant columns onto every row.
    pub copy_params_to_output: Vec<String>,
    /// Unique key columns (`key_column` / `key_columns`).
    pub key_columns: Vec<String>,
    /// How `refresh table` works.
    pub refresh: Refresh,
    /// Table-level rate limit (overrides the spec's for this table's requests).
    pub rate_limit: Option<RateLimit>,
    /// Table-level scheduler period.
    pub polling_interval_secs: Option<u64>,
    /// Other tables of this spec read by `sql@(…)` params: loaded first.
    pub depends_on: Vec<String>,
    /// JSONPath to an error message returned with HTTP 200 (overrides the spec's).
    pub error_path: Option<JsonPath>,
    /// HTTP statuses that mean "no rows for this parameter set" (e.g. 404, 409).
    pub ignore_status: Vec<u16>,
}

/// HTTP method of a table's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST with the `post` body.
    Post,
}

/// One entry of `params:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// One name, or several for a tuple param (`owner,repo`).
    pub names: Vec<String>,
    /// Where the values come from.
    pub value: ParamValue,
}

/// The value forms of a param.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A single value sent as is.
    Scalar(serde_json::Value),
    /// One request sequence per value (per tuple for multi-name params).
    List(Vec<Vec<serde_json::Value>>),
    /// `sql@(select …)` run against the connection's own schema.
    Sql(String),
}

/// The refresh strategy.
#[derive(Debug, Clone, PartialEq)]
pub enum Refresh {
    /// Re-download everything and swap it in.
    Reload,
    /// Fetch with these params (`${timestamp}` filled) and merge by key.
    Updates {
        /// Params merged over the table's params during the refresh.
        params: Vec<Param>,
        /// Another resource path for refreshes (e.g. a "search" or "changes" endpoint).
        resource_path: Option<String>,
        /// Another POST body for refreshes.
        post: Option<serde_json::Value>,
    },
}

/// A view defined by a spec.
#[derive(Debug, Clone)]
pub struct ViewSpec {
    /// View name inside the connection's schema.
    pub name: String,
    /// Tables it reads; it is (re)created after any of them loads.
    pub from: Vec<String>,
    /// The DuckDB query with unqualified table names.
    pub query: String,
    /// Description.
    pub help: Option<String>,
}

/// Why a spec file could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_problems(.problems))]
pub struct SpecError {
    /// Every problem found, with file and key path.
    pub problems: Vec<Problem>,
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Outcome of reading one file that is not an error: the spec may be disabled.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// A usable spec.
    Spec(Box<Spec>),
    /// `enabled: false`.
    Disabled {
        /// The spec's name.
        name: String,
    },
    /// A spec for a class this version does not implement (gsheets, postgres).
    Unsupported {
        /// The spec's name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Parse and validate one spec file's text. `file` labels messages.
pub fn parse_spec(file: &str, text: &str) -> Result<Parsed, SpecError> {
    let mut p = Problems::new(file);
    let root: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            p.push("", format!("not valid YAML: {e}"));
            return Err(SpecError { problems: p.list });
        }
    };
    let spec = validate::validate(file, &root, &mut p);
    match spec {
        Some(parsed) if p.is_empty() => Ok(parsed),
        _ => Err(SpecError { problems: p.list }),
    }
}

/// True for names usable unquoted as schema/table names.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
