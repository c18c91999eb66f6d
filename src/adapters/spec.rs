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

use super::jsonpath::Path as JsonPath;
use super::yaml::{self, join, Map, Problem, Problems};
use regex::Regex;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Default refresh period for the scheduler when a spec says nothing (4 hours).
pub const DEFAULT_POLLING_INTERVAL_SECS: u64 = 14_400;

/// Default cap on one response body, after decompression (`max_response_mb`).
pub const DEFAULT_MAX_RESPONSE_MB: f64 = 256.0;

/// The largest `max_response_mb` a spec may set (64 GB): more is a typo.
const MAX_RESPONSE_MB_LIMIT: f64 = 65_536.0;

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

const TOP_KEYS: &[&str] = &[
    "name",
    "enabled",
    "class",
    "base_url",
    "help",
    "description",
    "auth",
    "paging",
    "throttle",
    "headers",
    "error_path",
    "queryDateFormat",
    "dateParser",
    "tables",
    "views",
    "requires",
    "version",
    "rate_limit",
    "polling_interval_secs",
    "retry",
    "timeout_secs",
    "max_response_mb",
    // Legacy keys the original accepted and ignored.
    "cacheTTLSecs",
    "next_page_token",
    "pageIndexArg",
    "pageMaxArg",
    "pageStartArg",
    "maxPerPage",
    "page_cursor_arg",
];

const TABLE_KEYS: &[&str] = &[
    "name",
    "description",
    "resource_path",
    "query_resource",
    "method",
    "supports_paging",
    "paging",
    "headers",
    "params",
    "post",
    "result_body_path",
    "result_meta_paths",
    "result_object_path",
    "select",
    "strip_prefixes",
    "copy_params_to_output",
    "key_column",
    "key_columns",
    "refresh",
    "columns",
    "rate_limit",
    "polling_interval_secs",
    "error_path",
    "ignore_status",
];

const PAGING_KEYS: &[&str] = &[
    "strategy",
    "page_param",
    "offset_param",
    "count_param",
    "page_size",
    "token_param",
    "pager_token_path",
    "pager_link_path",
    "first_page",
    "stop",
    "max_pages",
    "total_path",
];

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
    let spec = validate(file, &root, &mut p);
    match spec {
        Some(parsed) if p.is_empty() => Ok(parsed),
        _ => Err(SpecError { problems: p.list }),
    }
}

fn get<'a>(map: &'a Map, key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn check_keys(map: &Map, allowed: &[&str], path: &str, what: &str, p: &mut Problems) {
    for (k, _) in map {
        if !allowed.contains(&k.as_str()) {
            p.push(
                &join(path, k),
                format!(
                    "unknown key '{k}' for {what} (allowed: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
}

fn validate(file: &str, root: &Value, p: &mut Problems) -> Option<Parsed> {
    let top = yaml::as_map(root, "", p)?;
    check_keys(&top, TOP_KEYS, "", "a spec", p);

    let name = match get(&top, "name") {
        Some(v) => yaml::get_string(v, "name", p),
        None => {
            p.push("name", "missing: every spec needs a name");
            None
        }
    };
    if let Some(n) = &name {
        if !is_identifier(n) {
            p.push(
                "name",
                format!("'{n}' is not a valid name (letters, digits and _ only)"),
            );
        }
    }
    let enabled = get(&top, "enabled")
        .and_then(|v| yaml::get_bool(v, "enabled", p))
        .unwrap_or(true);
    if !enabled {
        return name.map(|name| Parsed::Disabled { name });
    }
    if let Some(class) = get(&top, "class").and_then(|v| yaml::get_string(v, "class", p)) {
        if !class.eq_ignore_ascii_case("RESTAdapter")
            && !class.eq_ignore_ascii_case("RESTConnector")
        {
            return name.map(|name| Parsed::Unsupported {
                name,
                reason: format!("class '{class}' is not supported by this version of unify"),
            });
        }
    }

    let base_url = match get(&top, "base_url") {
        Some(v) => yaml::get_string(v, "base_url", p).and_then(|u| {
            // Placeholders are filled per connection; check the rest is a URL.
            let probe = fill_placeholders_for_check(&u);
            match url::Url::parse(&probe) {
                Ok(parsed) if parsed.scheme() == "http" || parsed.scheme() == "https" => Some(u),
                Ok(_) => {
                    p.push("base_url", format!("'{u}' must be an http or https URL"));
                    None
                }
                Err(e) => {
                    p.push("base_url", format!("'{u}' is not a valid URL: {e}"));
                    None
                }
            }
        }),
        None => {
            p.push("base_url", "missing: REST specs need a base_url");
            None
        }
    };

    let help = get(&top, "help").and_then(|v| yaml::get_string(v, "help", p));
    let auth = match get(&top, "auth") {
        Some(v) => parse_auth(v, "auth", p).unwrap_or_else(AuthSpec::none),
        None => AuthSpec::none(),
    };
    if let Some(req) = get(&top, "requires") {
        for feature in yaml::get_string_list(req, "requires", p)
            .iter()
            .flat_map(|s| s.split([',', ' ']).map(str::to_string).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
        {
            if !matches!(feature.as_str(), "auth.defaults" | "connector.oauth") {
                p.push("requires", format!("unknown required feature '{feature}'"));
            }
        }
    }
    let throttle = get(&top, "throttle").and_then(|v| {
        let m = yaml::as_map(v, "throttle", p)?;
        check_keys(&m, &["sleep"], "throttle", "throttle", p);
        get(&m, "sleep").and_then(|s| get_seconds(s, "throttle.sleep", p))
    });
    let query_date_format =
        get(&top, "queryDateFormat").and_then(|v| yaml::get_string(v, "queryDateFormat", p));
    if let Some(fmt) = &query_date_format {
        if let Err(e) = check_strftime(fmt) {
            p.push("queryDateFormat", e);
        }
    }
    let rate_limit = get(&top, "rate_limit").and_then(|v| parse_rate_limit(v, "rate_limit", p));
    let polling_interval_secs = get(&top, "polling_interval_secs")
        .and_then(|v| yaml::get_u64(v, "polling_interval_secs", p));
    let retry = match get(&top, "retry") {
        Some(v) => parse_retry(v, "retry", p),
        None => RetryPolicy::default(),
    };
    let timeout = get(&top, "timeout_secs")
        .and_then(|v| get_seconds(v, "timeout_secs", p))
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(60));
    let max_response_mb = get(&top, "max_response_mb")
        .and_then(|v| yaml::get_f64(v, "max_response_mb", p))
        .and_then(|mb| {
            if mb > 0.0 && mb <= MAX_RESPONSE_MB_LIMIT {
                Some(mb)
            } else {
                p.push(
                    "max_response_mb",
                    format!(
                        "{mb} is not a size in MB between 0 (excluded) and {MAX_RESPONSE_MB_LIMIT}"
                    ),
                );
                None
            }
        })
        .unwrap_or(DEFAULT_MAX_RESPONSE_MB);

    let spec_headers: Vec<(String, String)> = match get(&top, "headers") {
        Some(hv) => yaml::as_map(hv, "headers", p)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| yaml::get_string(&v, &format!("headers.{k}"), p).map(|v| (k, v)))
            .collect(),
        None => Vec::new(),
    };
    let error_path = get(&top, "error_path").and_then(|v| {
        let text = yaml::get_string(v, "error_path", p)?;
        JsonPath::parse(&text)
            .map_err(|e| p.push("error_path", e))
            .ok()
    });
    let spec_paging = match get(&top, "paging") {
        Some(Value::Null) | None => None,
        Some(v) => parse_paging(v, "paging", p),
    };

    let mut tables = Vec::new();
    let mut disabled = Vec::new();
    match get(&top, "tables") {
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("tables[{i}]");
                // A table's own problems disable that table only.
                let mut tp = Problems::new(file);
                let parsed = parse_table(item, &path, spec_paging.as_ref(), &mut tp);
                if let Some(t) = &parsed {
                    check_updates(t, query_date_format.is_some(), &mut tp);
                }
                match parsed {
                    Some(t) if tp.is_empty() => tables.push(t),
                    parsed => disabled.push(Disabled {
                        name: parsed
                            .map(|t| t.name)
                            .or_else(|| {
                                item.get("name")
                                    .and_then(|n| n.as_str())
                                    .map(str::to_string)
                            })
                            .unwrap_or(path),
                        problems: tp.list,
                    }),
                }
            }
        }
        Some(other) => p.push(
            "tables",
            format!("expected a list of tables, found {}", yaml::kind(other)),
        ),
        None => p.push("tables", "missing: a spec needs at least one table"),
    }
    if tables.is_empty() {
        // Nothing usable: the spec does not load, with every table's problems.
        for d in disabled.drain(..) {
            p.list.extend(d.problems);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in tables.iter().enumerate() {
        if !seen.insert(t.name.clone()) {
            p.push(
                &format!("tables[{i}].name"),
                format!("duplicate table name '{}'", t.name),
            );
        }
    }
    let table_names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
    for t in &mut tables {
        t.depends_on = sql_dependencies(&t.params, &table_names, &t.name);
        if let Refresh::Updates { params, .. } = &t.refresh {
            for dep in sql_dependencies(params, &table_names, &t.name) {
                if !t.depends_on.contains(&dep) {
                    t.depends_on.push(dep);
                }
            }
        }
    }
    for (i, t) in tables.iter().enumerate() {
        if let Some(cycle) = dependency_cycle(&tables, &t.name) {
            p.push(
                &format!("tables[{i}].params"),
                format!("sql@ parameters form a cycle: {}", cycle.join(" → ")),
            );
            break;
        }
    }

    let mut views = Vec::new();
    if let Some(v) = get(&top, "views") {
        match v {
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("views[{i}]");
                    let mut vp = Problems::new(file);
                    match parse_view(item, &path, &table_names, &mut vp) {
                        Some(view) if vp.is_empty() => views.push(view),
                        parsed => disabled.push(Disabled {
                            name: parsed
                                .map(|v| v.name)
                                .or_else(|| {
                                    item.get("name")
                                        .and_then(|n| n.as_str())
                                        .map(str::to_string)
                                })
                                .unwrap_or(path),
                            problems: vp.list,
                        }),
                    }
                }
            }
            Value::Null => {}
            other => p.push(
                "views",
                format!("expected a list of views, found {}", yaml::kind(other)),
            ),
        }
    }
    for view in &views {
        if table_names.contains(&view.name) {
            p.push(
                "views",
                format!("view '{}' has the same name as a table", view.name),
            );
        }
    }
    let spec = Spec {
        name: name?,
        source: file.to_string(),
        base_url: base_url?,
        help,
        auth,
        throttle,
        query_date_format,
        rate_limit,
        polling_interval_secs,
        retry,
        timeout,
        max_response_bytes: (max_response_mb * 1024.0 * 1024.0) as u64,
        headers: spec_headers,
        error_path,
        tables,
        views,
        disabled,
    };
    Some(Parsed::Spec(Box::new(spec)))
}

/// The `updates` refresh strategy needs a key and a spec-level `queryDateFormat`.
fn check_updates(t: &TableSpec, has_date_format: bool, p: &mut Problems) {
    if matches!(t.refresh, Refresh::Updates { .. }) {
        if t.key_columns.is_empty() {
            p.push(
                &format!("tables.{}.refresh", t.name),
                format!(
                    "Table '{}' needs to define a key to use 'updates' refresh strategy",
                    t.name
                ),
            );
        }
        if !has_date_format {
            p.push(
                &format!("tables.{}.refresh", t.name),
                "the 'updates' strategy needs a spec-level queryDateFormat",
            );
        }
    }
}

/// The keys of a `result_body_path` / `result_meta_paths` string: dot-separated names,
/// where a segment may be written `['key.with.dots']` (or with double quotes) and a
/// leading `$` / `$.` is ignored, so `$['@odata.count']` names the one key
/// `@odata.count` and `data.items` names `data` then `items`.
pub fn key_path(text: &str) -> Vec<String> {
    let mut rest = text.trim();
    if let Some(r) = rest.strip_prefix('$') {
        rest = r.strip_prefix('.').unwrap_or(r);
    }
    let mut keys = Vec::new();
    let mut current = String::new();
    // True right after a bracketed key: the '.' that may follow separates nothing new.
    let mut closed = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' if closed => closed = false,
            '.' => keys.push(std::mem::take(&mut current)),
            '[' if matches!(chars.peek(), Some('\'' | '"')) => {
                if !current.is_empty() {
                    keys.push(std::mem::take(&mut current));
                }
                let quote = chars.next().unwrap_or('\'');
                let mut key = String::new();
                while let Some(k) = chars.next() {
                    match k {
                        '\\' => key.extend(chars.next()),
                        k if k == quote => break,
                        k => key.push(k),
                    }
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                }
                keys.push(key);
                closed = true;
            }
            c => {
                closed = false;
                current.push(c);
            }
        }
    }
    if !closed || !current.is_empty() {
        keys.push(current);
    }
    keys
}

/// The longest duration a spec may give (a day): longer ones are mistakes, and would
/// overflow timers.
const MAX_SECONDS: f64 = 86_400.0;

/// A number of seconds, at most [`MAX_SECONDS`].
fn get_seconds(v: &Value, path: &str, p: &mut Problems) -> Option<Duration> {
    let secs = yaml::get_f64(v, path, p)?;
    if secs > MAX_SECONDS {
        p.push(path, format!("{secs} seconds is more than a day"));
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// True for names usable unquoted as schema/table names.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn fill_placeholders_for_check(s: &str) -> String {
    let re = Regex::new(r"\$\{[^}]*\}").expect("static regex");
    re.replace_all(s, "placeholder").into_owned()
}

/// Check a strftime format renders (chrono panics on bad formats only when displayed).
fn check_strftime(fmt: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(fmt).any(|i| matches!(i, Item::Error)) {
        Err(format!("'{fmt}' is not a valid strftime format"))
    } else {
        Ok(())
    }
}

fn parse_auth(v: &Value, path: &str, p: &mut Problems) -> Option<AuthSpec> {
    let m = yaml::as_map(v, path, p)?;
    let kind_text = match get(&m, "type") {
        Some(t) => yaml::get_string(t, &join(path, "type"), p)?,
        None => {
            p.push(&join(path, "type"), "missing: say which auth type (NONE, BASIC, BEARER, HEADERS, PARAMS, AWS4Auth, OAUTH2)");
            return None;
        }
    };
    let kind = match kind_text.to_ascii_uppercase().as_str() {
        "NONE" => AuthKind::None,
        "BASIC" => AuthKind::Basic,
        "BEARER" => AuthKind::Bearer,
        "HEADERS" => AuthKind::Headers,
        "PARAMS" => AuthKind::Params,
        "AWS4AUTH" | "AWS4" | "AWS_SIGV4" => AuthKind::Aws4,
        "OAUTH" | "OAUTH2" => AuthKind::OAuth2,
        other => {
            p.push(
                &join(path, "type"),
                format!("unknown auth type '{other}' (known: NONE, BASIC, BEARER, HEADERS, PARAMS, AWS4Auth, OAUTH2)"),
            );
            return None;
        }
    };
    let mut params = Vec::new();
    if let Some(pv) = get(&m, "params") {
        if let Some(pm) = yaml::as_map(pv, &join(path, "params"), p) {
            for (k, v) in pm {
                let desc = yaml::scalar_string(&v).unwrap_or_else(|| k.clone());
                params.push((k, desc));
            }
        }
    }
    let mut defaults = BTreeMap::new();
    if let Some(dv) = get(&m, "defaults") {
        if let Some(dm) = yaml::as_map(dv, &join(path, "defaults"), p) {
            for (k, v) in dm {
                match &v {
                    Value::Sequence(_) => {
                        let list =
                            yaml::get_string_list(&v, &join(path, &format!("defaults.{k}")), p);
                        defaults.insert(k, list.join(" "));
                    }
                    _ => {
                        if let Some(s) =
                            yaml::get_string(&v, &join(path, &format!("defaults.{k}")), p)
                        {
                            defaults.insert(k, s);
                        }
                    }
                }
            }
        }
    }
    let mut headers = Vec::new();
    if let Some(hv) = get(&m, "headers") {
        if let Some(hm) = yaml::as_map(hv, &join(path, "headers"), p) {
            for (k, v) in hm {
                let value = yaml::scalar_string(&v).unwrap_or_default();
                headers.push((k, value));
            }
        }
    }
    let mut extra = BTreeMap::new();
    for (k, v) in &m {
        if matches!(
            k.as_str(),
            "type" | "params" | "defaults" | "headers" | "help"
        ) {
            continue;
        }
        match yaml::scalar_string(v) {
            Some(s) => {
                extra.insert(k.clone(), s);
            }
            None => {
                if let Value::Sequence(_) = v {
                    let list = yaml::get_string_list(v, &join(path, k), p);
                    extra.insert(k.clone(), list.join(" "));
                }
            }
        }
    }
    Some(AuthSpec {
        kind,
        params,
        defaults,
        headers,
        extra,
    })
}

fn parse_rate_limit(v: &Value, path: &str, p: &mut Problems) -> Option<RateLimit> {
    let m = yaml::as_map(v, path, p)?;
    check_keys(
        &m,
        &["requests_per_second", "burst", "max_concurrency"],
        path,
        "rate_limit",
        p,
    );
    let rps = match get(&m, "requests_per_second") {
        Some(v) => yaml::get_f64(v, &join(path, "requests_per_second"), p)?,
        None => {
            p.push(&join(path, "requests_per_second"), "missing");
            return None;
        }
    };
    if !(0.001..=1_000_000.0).contains(&rps) {
        p.push(
            &join(path, "requests_per_second"),
            "must be between 0.001 and 1000000",
        );
        return None;
    }
    let burst = get(&m, "burst")
        .and_then(|v| yaml::get_u64(v, &join(path, "burst"), p))
        .unwrap_or(1)
        .max(1) as u32;
    let max_concurrency = get(&m, "max_concurrency")
        .and_then(|v| yaml::get_u64(v, &join(path, "max_concurrency"), p))
        .unwrap_or(4)
        .max(1) as usize;
    Some(RateLimit {
        requests_per_second: rps,
        burst,
        max_concurrency,
    })
}

fn parse_retry(v: &Value, path: &str, p: &mut Problems) -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    if let Some(m) = yaml::as_map(v, path, p) {
        check_keys(&m, &["max_attempts", "max_backoff_secs"], path, "retry", p);
        if let Some(n) =
            get(&m, "max_attempts").and_then(|v| yaml::get_u64(v, &join(path, "max_attempts"), p))
        {
            policy.max_attempts = n.clamp(1, 100) as u32;
        }
        if let Some(d) = get(&m, "max_backoff_secs")
            .and_then(|v| get_seconds(v, &join(path, "max_backoff_secs"), p))
        {
            policy.max_backoff = d;
        }
    }
    policy
}

fn parse_paging(v: &Value, path: &str, p: &mut Problems) -> Option<Paging> {
    let m = yaml::as_map(v, path, p)?;
    if m.is_empty() {
        return None;
    }
    check_keys(&m, PAGING_KEYS, path, "paging", p);
    let s = |key: &str, p: &mut Problems| -> Option<String> {
        get(&m, key).and_then(|v| yaml::get_string(v, &join(path, key), p))
    };
    let required = |key: &str, strategy: &str, p: &mut Problems| -> Option<String> {
        let v = get(&m, key).and_then(|v| yaml::get_string(v, &join(path, key), p));
        if v.is_none() && get(&m, key).is_none() {
            p.push(
                &join(path, key),
                format!("missing: the {strategy} pager needs {key}"),
            );
        }
        v
    };
    let strategy_name = match s("strategy", p) {
        Some(s) => s,
        None => {
            if get(&m, "strategy").is_none() {
                p.push(&join(path, "strategy"), "missing: say which pager (pageAndCount, offsetAndCount, pagerToken, nextLink, linkHeader)");
            }
            return None;
        }
    };
    let count_param = s("count_param", p);
    let page_size =
        get(&m, "page_size").and_then(|v| yaml::get_u64(v, &join(path, "page_size"), p));
    if page_size == Some(0) {
        p.push(&join(path, "page_size"), "must be at least 1");
    }
    let stop = match s("stop", p).as_deref() {
        None | Some("short_page") => StopRule::ShortPage,
        Some("empty_page") => StopRule::EmptyPage,
        Some(other) => {
            p.push(
                &join(path, "stop"),
                format!("unknown stop rule '{other}' (short_page or empty_page)"),
            );
            StopRule::ShortPage
        }
    };
    let max_pages = get(&m, "max_pages")
        .and_then(|v| yaml::get_u64(v, &join(path, "max_pages"), p))
        .unwrap_or(DEFAULT_MAX_PAGES)
        .max(1);
    let jsonpath = |key: &str, p: &mut Problems| -> Option<JsonPath> {
        let text = get(&m, key).and_then(|v| yaml::get_string(v, &join(path, key), p))?;
        match JsonPath::parse(&text) {
            Ok(jp) => Some(jp),
            Err(e) => {
                p.push(&join(path, key), e);
                None
            }
        }
    };
    let total_path = jsonpath("total_path", p);
    let strategy = match strategy_name.as_str() {
        "pageAndCount" => {
            let page_param = required("page_param", "pageAndCount", p)?;
            let first_page = get(&m, "first_page")
                .and_then(|v| yaml::get_u64(v, &join(path, "first_page"), p))
                .unwrap_or(1);
            PagingStrategy::PageAndCount {
                page_param,
                first_page,
            }
        }
        "offsetAndCount" => PagingStrategy::OffsetAndCount {
            offset_param: required("offset_param", "offsetAndCount", p)?,
        },
        "pagerToken" => {
            let token_param = required("token_param", "pagerToken", p);
            if get(&m, "pager_token_path").is_none() {
                p.push(
                    &join(path, "pager_token_path"),
                    "missing: the pagerToken pager needs pager_token_path",
                );
            }
            let token_path = jsonpath("pager_token_path", p);
            PagingStrategy::PagerToken {
                token_param: token_param?,
                pager_token_path: token_path?,
            }
        }
        "nextLink" => {
            if get(&m, "pager_link_path").is_none() {
                p.push(
                    &join(path, "pager_link_path"),
                    "missing: the nextLink pager needs pager_link_path",
                );
            }
            PagingStrategy::NextLink {
                pager_link_path: jsonpath("pager_link_path", p)?,
            }
        }
        "linkHeader" => PagingStrategy::LinkHeader,
        other => {
            p.push(
                &join(path, "strategy"),
                format!("Unknown paging strategy: '{other}' (known: pageAndCount, offsetAndCount, pagerToken, nextLink, linkHeader)"),
            );
            return None;
        }
    };
    if matches!(
        strategy,
        PagingStrategy::PageAndCount { .. } | PagingStrategy::OffsetAndCount { .. }
    ) && count_param.is_none()
        && get(&m, "count_param").is_none()
    {
        p.push(
            &join(path, "count_param"),
            format!("missing: the {strategy_name} pager needs count_param"),
        );
    }
    // A count param without a page size would ask for pages of an unknown size; the
    // original defaulted to 1 (a request per row). 100 is what most APIs accept.
    let page_size = match (page_size, &count_param) {
        (Some(n), _) => Some(n.max(1)),
        (None, Some(_)) => Some(100),
        (None, None) => None,
    };
    Some(Paging {
        strategy,
        page_size,
        count_param,
        stop,
        max_pages,
        total_path,
    })
}

fn parse_params(v: &Value, path: &str, p: &mut Problems) -> Vec<Param> {
    let Some(m) = yaml::as_map(v, path, p) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in m {
        let names: Vec<String> = key.split(',').map(|s| s.trim().to_string()).collect();
        let kpath = join(path, &key);
        if names.iter().any(|n| n.is_empty()) {
            p.push(&kpath, "empty parameter name");
            continue;
        }
        let pv = match &value {
            Value::String(s) if s.trim_start().starts_with("sql@") => match parse_sql_param(s) {
                Some(sql) => ParamValue::Sql(sql),
                None => {
                    p.push(&kpath, format!("'{s}' is not of the form sql@(select …)"));
                    continue;
                }
            },
            Value::Sequence(items) => {
                let mut rows = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let ipath = format!("{kpath}[{i}]");
                    if names.len() == 1 {
                        match item {
                            Value::Sequence(_) | Value::Mapping(_) => {
                                p.push(&ipath, "expected a single value");
                            }
                            other => rows.push(vec![yaml::to_json(other)]),
                        }
                    } else {
                        match item {
                            Value::Sequence(tuple) if tuple.len() == names.len() => {
                                rows.push(tuple.iter().map(yaml::to_json).collect());
                            }
                            _ => p.push(
                                &ipath,
                                format!("expected a list of {} values for '{}'", names.len(), key),
                            ),
                        }
                    }
                }
                ParamValue::List(rows)
            }
            Value::Mapping(_) => {
                p.push(&kpath, "a parameter value cannot be a mapping");
                continue;
            }
            other => {
                if names.len() > 1 {
                    p.push(
                        &kpath,
                        "a multi-name parameter needs a list of tuples or sql@(…)",
                    );
                    continue;
                }
                ParamValue::Scalar(yaml::to_json(other))
            }
        };
        out.push(Param { names, value: pv });
    }
    out
}

/// `sql@(select …)` → `select …`.
fn parse_sql_param(s: &str) -> Option<String> {
    let rest = s.trim().strip_prefix("sql@")?.trim();
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    let inner = inner.trim();
    (!inner.is_empty()).then(|| inner.to_string())
}

/// Tables of this spec that appear as words in the `sql@` queries of `params`.
fn sql_dependencies(params: &[Param], tables: &[String], own: &str) -> Vec<String> {
    let mut deps = Vec::new();
    for param in params {
        if let ParamValue::Sql(sql) = &param.value {
            for word in sql_words(sql) {
                if word != own && tables.contains(&word) && !deps.contains(&word) {
                    deps.push(word);
                }
            }
        }
    }
    deps
}

/// Identifier-like words of a SQL text outside string literals.
pub fn sql_words(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = sql.chars().peekable();
    let mut current = String::new();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            for d in chars.by_ref() {
                if d == '\'' {
                    break;
                }
            }
        } else if c.is_ascii_alphanumeric() || c == '_' {
            current.push(c);
        } else if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn dependency_cycle(tables: &[TableSpec], start: &str) -> Option<Vec<String>> {
    fn visit(tables: &[TableSpec], name: &str, stack: &mut Vec<String>) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|n| n == name) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        let t = tables.iter().find(|t| t.name == name)?;
        stack.push(name.to_string());
        for dep in &t.depends_on {
            if let Some(c) = visit(tables, dep, stack) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    visit(tables, start, &mut Vec::new())
}

fn parse_table(
    v: &Value,
    path: &str,
    spec_paging: Option<&Paging>,
    p: &mut Problems,
) -> Option<TableSpec> {
    let m = yaml::as_map(v, path, p)?;
    let s = |key: &str, p: &mut Problems| -> Option<String> {
        get(&m, key).and_then(|v| yaml::get_string(v, &join(path, key), p))
    };
    let before = p.list.len();
    let name = match s("name", p) {
        Some(n) => n,
        None => {
            p.push(&join(path, "name"), "missing: every table needs a name");
            return None;
        }
    };
    // From here on, paths name the table for readability.
    let path = &format!("tables.{name}");
    for (k, _) in &m {
        if !TABLE_KEYS.contains(&k.as_str()) {
            p.push(
                &join(path, k),
                format!(
                    "Invalid key '{k}' for Table definition (allowed: {})",
                    TABLE_KEYS.join(", ")
                ),
            );
        }
    }
    if !is_identifier(&name) {
        p.push(
            &join(path, "name"),
            format!("'{name}' is not a valid table name (letters, digits and _ only)"),
        );
    }
    let description = s("description", p);
    let post = get(&m, "post").map(yaml::to_json);
    let mut method = if post.is_some() {
        Method::Post
    } else {
        Method::Get
    };
    let resource_path = s("resource_path", p);
    let query_resource = s("query_resource", p);
    let res_path = match (resource_path, query_resource) {
        (Some(rp), _) => rp,
        (None, Some(qr)) => {
            let mut parts = qr.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(m), Some(path_part))
                    if matches!(
                        m.to_ascii_uppercase().as_str(),
                        "GET" | "POST" | "PATCH" | "PUT" | "DELETE"
                    ) =>
                {
                    path_part.to_string()
                }
                (Some(only), None) => only.to_string(),
                _ => {
                    p.push(
                        &join(path, "query_resource"),
                        format!("'{qr}' is not of the form 'GET /path'"),
                    );
                    String::new()
                }
            }
        }
        (None, None) => {
            p.push(
                &join(path, "resource_path"),
                "missing: a table needs resource_path",
            );
            String::new()
        }
    };
    if let Some(m_text) = s("method", p) {
        match m_text.to_ascii_uppercase().as_str() {
            "GET" if post.is_some() => p.push(
                &join(path, "method"),
                "a table with a `post` body is requested with POST; remove `method: GET` or the body",
            ),
            "GET" => method = Method::Get,
            "POST" => method = Method::Post,
            other => p.push(
                &join(path, "method"),
                format!("unsupported method '{other}' (GET or POST)"),
            ),
        }
    }
    let supports_paging = get(&m, "supports_paging")
        .and_then(|v| yaml::get_bool(v, &join(path, "supports_paging"), p))
        .unwrap_or(false);
    let table_paging = match get(&m, "paging") {
        Some(Value::Null) | None => None,
        Some(v) => parse_paging(v, &join(path, "paging"), p),
    };
    let paging = if supports_paging {
        table_paging.or_else(|| spec_paging.cloned())
    } else {
        None
    };
    if supports_paging && paging.is_none() && get(&m, "paging").is_none() {
        p.push(
            &join(path, "supports_paging"),
            "supports_paging is true but neither the table nor the spec defines paging",
        );
    }
    let headers = match get(&m, "headers") {
        Some(hv) => yaml::as_map(hv, &join(path, "headers"), p)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| {
                yaml::get_string(&v, &join(path, &format!("headers.{k}")), p).map(|v| (k, v))
            })
            .collect(),
        None => Vec::new(),
    };
    let params = get(&m, "params")
        .map(|v| parse_params(v, &join(path, "params"), p))
        .unwrap_or_default();
    let dotted = |s: &str| -> Vec<String> { key_path(s) };
    let result_body_path = match get(&m, "result_body_path") {
        Some(Value::Sequence(items)) => Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    yaml::get_string(v, &format!("{path}.result_body_path[{i}]"), p)
                })
                .collect(),
        ),
        Some(v) => yaml::get_string(v, &join(path, "result_body_path"), p).map(|s| dotted(&s)),
        None => None,
    };
    let result_meta_paths = match get(&m, "result_meta_paths") {
        Some(Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                Value::Sequence(_) => Some(yaml::get_string_list(
                    v,
                    &format!("{path}.result_meta_paths[{i}]"),
                    p,
                )),
                other => yaml::get_string(other, &format!("{path}.result_meta_paths[{i}]"), p)
                    .map(|s| dotted(&s)),
            })
            .collect(),
        Some(v) => yaml::get_string(v, &join(path, "result_meta_paths"), p)
            .map(|s| vec![dotted(&s)])
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let result_object_path = s("result_object_path", p);
    if result_object_path.is_some() && result_body_path.is_some() {
        p.push(
            &join(path, "result_object_path"),
            "result_object_path and result_body_path cannot be used together",
        );
    }
    let select = s("select", p).map(|text| {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|item| match Regex::new(&format!("^(?:{item})")) {
                Ok(re) => Some(re),
                Err(e) => {
                    p.push(
                        &join(path, "select"),
                        format!("'{item}' is not a valid pattern: {e}"),
                    );
                    None
                }
            })
            .collect()
    });
    let strip_prefixes = get(&m, "strip_prefixes")
        .map(|v| yaml::get_string_list(v, &join(path, "strip_prefixes"), p))
        .unwrap_or_default();
    let copy_params_to_output = get(&m, "copy_params_to_output")
        .map(|v| yaml::get_string_list(v, &join(path, "copy_params_to_output"), p))
        .unwrap_or_default();
    for c in &copy_params_to_output {
        if !params.iter().any(|prm| prm.names.contains(c)) {
            p.push(
                &join(path, "copy_params_to_output"),
                format!("'{c}' is not one of the table's params"),
            );
        }
    }
    let mut key_columns = Vec::new();
    if let Some(v) = get(&m, "key_column") {
        key_columns.extend(yaml::get_string_list(v, &join(path, "key_column"), p));
    }
    if let Some(v) = get(&m, "key_columns") {
        for k in yaml::get_string_list(v, &join(path, "key_columns"), p) {
            for part in k.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !key_columns.iter().any(|c| c == part) {
                    key_columns.push(part.to_string());
                }
            }
        }
    }
    let refresh = match get(&m, "refresh") {
        None | Some(Value::Null) => Refresh::Reload,
        Some(v) => parse_refresh(v, &join(path, "refresh"), &name, p),
    };
    let rate_limit =
        get(&m, "rate_limit").and_then(|v| parse_rate_limit(v, &join(path, "rate_limit"), p));
    let polling_interval_secs = get(&m, "polling_interval_secs")
        .and_then(|v| yaml::get_u64(v, &join(path, "polling_interval_secs"), p));
    let error_path = get(&m, "error_path").and_then(|v| {
        let text = yaml::get_string(v, &join(path, "error_path"), p)?;
        JsonPath::parse(&text)
            .map_err(|e| p.push(&join(path, "error_path"), e))
            .ok()
    });
    let ignore_status: Vec<u16> = match get(&m, "ignore_status") {
        Some(v) => yaml::get_string_list(v, &join(path, "ignore_status"), p)
            .into_iter()
            .filter_map(|code| match code.trim().parse::<u16>() {
                Ok(n) if (400..600).contains(&n) => Some(n),
                _ => {
                    p.push(
                        &join(path, "ignore_status"),
                        format!("'{code}' is not an HTTP error status (400–599)"),
                    );
                    None
                }
            })
            .collect(),
        None => Vec::new(),
    };
    if p.list.len() > before {
        return None;
    }
    Some(TableSpec {
        name,
        description,
        method,
        path: res_path.replace("{*", "{"),
        paging,
        headers,
        params,
        post,
        result_body_path,
        result_meta_paths,
        result_object_path,
        select,
        strip_prefixes,
        copy_params_to_output,
        key_columns,
        refresh,
        rate_limit,
        polling_interval_secs,
        depends_on: Vec::new(),
        error_path,
        ignore_status,
    })
}

fn parse_refresh(v: &Value, path: &str, table: &str, p: &mut Problems) -> Refresh {
    let Some(m) = yaml::as_map(v, path, p) else {
        return Refresh::Reload;
    };
    check_keys(
        &m,
        &["strategy", "params", "resource_path", "post"],
        path,
        "refresh",
        p,
    );
    let resource_path =
        get(&m, "resource_path").and_then(|v| yaml::get_string(v, &join(path, "resource_path"), p));
    let post = get(&m, "post").map(yaml::to_json);
    let strategy = get(&m, "strategy")
        .and_then(|v| yaml::get_string(v, &join(path, "strategy"), p))
        .unwrap_or_else(|| "reload".to_string());
    match strategy.as_str() {
        "reload" => Refresh::Reload,
        "updates" => match get(&m, "params") {
            Some(pv) => Refresh::Updates {
                params: parse_params(pv, &join(path, "params"), p),
                resource_path,
                post,
            },
            None => {
                p.push(
                    &join(path, "params"),
                    format!("table {table} is missing 'params' for 'updates' refresh strategy"),
                );
                Refresh::Reload
            }
        },
        other => {
            p.push(
                &join(path, "strategy"),
                format!("Invalid refresh strategy '{other}' for table {table} (reload or updates)"),
            );
            Refresh::Reload
        }
    }
}

fn parse_view(v: &Value, path: &str, tables: &[String], p: &mut Problems) -> Option<ViewSpec> {
    let m = yaml::as_map(v, path, p)?;
    check_keys(
        &m,
        &["name", "from", "query", "help", "description"],
        path,
        "a view",
        p,
    );
    let name = get(&m, "name").and_then(|v| yaml::get_string(v, &join(path, "name"), p));
    let from = get(&m, "from").map(|v| yaml::get_string_list(v, &join(path, "from"), p));
    let query = match get(&m, "query") {
        Some(Value::Mapping(variants)) => {
            let q = variants
                .iter()
                .find(|(k, _)| yaml::scalar_string(k).as_deref() == Some("duckdb"))
                .and_then(|(_, v)| yaml::get_string(v, &join(path, "query.duckdb"), p));
            if q.is_none() {
                p.push(&join(path, "query"), "no 'duckdb' variant of the query");
            }
            q
        }
        Some(v) => yaml::get_string(v, &join(path, "query"), p),
        None => None,
    };
    let (Some(name), Some(from), Some(query)) = (name, from, query) else {
        p.push(path, "a view needs name, from and query");
        return None;
    };
    for f in &from {
        if !tables.contains(f) {
            p.push(
                &join(path, "from"),
                format!("'{f}' is not a table of this spec"),
            );
        }
    }
    let help = get(&m, "help")
        .or_else(|| get(&m, "description"))
        .and_then(|v| yaml::get_string(v, &join(path, "help"), p));
    Some(ViewSpec {
        name,
        from,
        query,
        help,
    })
}

#[cfg(test)]
mod tests;
