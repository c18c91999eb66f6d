//! The walk of a spec's top-level keys, and the small readers every level shares (`get`,
//! `check_keys`, seconds, rate limits, headers, error paths).
//!
//! Problems are pushed in the order the keys are read, so a spec's messages come out in
//! the order of the format's reference, whatever order the file has.

use super::super::jsonpath::Path as JsonPath;
use super::super::yaml::{self, join, Map, Problems};
use super::DEFAULT_MAX_RESPONSE_MB;
use super::{auth, paging, params, tables, views};
use super::{AuthSpec, Disabled, Paging, Parsed, RateLimit, RetryPolicy, Spec};
use regex::Regex;
use serde_yaml::Value;
use std::time::Duration;

/// The largest `max_response_mb` a spec may set (64 GB): more is a typo.
const MAX_RESPONSE_MB_LIMIT: f64 = 65_536.0;

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

/// The spec-level keys other than its name, tables and views.
struct Settings {
    base_url: Option<String>,
    help: Option<String>,
    auth: AuthSpec,
    throttle: Option<Duration>,
    query_date_format: Option<String>,
    rate_limit: Option<RateLimit>,
    polling_interval_secs: Option<u64>,
    retry: RetryPolicy,
    timeout: Duration,
    max_response_bytes: u64,
    headers: Vec<(String, String)>,
    error_path: Option<JsonPath>,
    paging: Option<Paging>,
}

/// Validate a whole spec document; `None` when it cannot become a spec (the problems
/// say why).
pub(super) fn validate(file: &str, root: &Value, p: &mut Problems) -> Option<Parsed> {
    let top = yaml::as_map(root, "", p)?;
    check_keys(&top, TOP_KEYS, "", "a spec", p);

    let name = spec_name(&top, p);
    if let Some(skipped) = skipped(&top, &name, p) {
        return skipped;
    }
    let settings = settings(&top, p);
    let (mut tables, mut disabled) = tables::parse_tables(
        file,
        get(&top, "tables"),
        settings.paging.as_ref(),
        settings.query_date_format.is_some(),
        p,
    );
    params::resolve_dependencies(&mut tables, p);
    let table_names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
    let views = views::parse_views(file, get(&top, "views"), &table_names, &mut disabled, p);
    let spec = Spec {
        name: name?,
        source: file.to_string(),
        base_url: settings.base_url?,
        help: settings.help,
        auth: settings.auth,
        throttle: settings.throttle,
        query_date_format: settings.query_date_format,
        rate_limit: settings.rate_limit,
        polling_interval_secs: settings.polling_interval_secs,
        retry: settings.retry,
        timeout: settings.timeout,
        max_response_bytes: settings.max_response_bytes,
        headers: settings.headers,
        error_path: settings.error_path,
        tables,
        views,
        disabled,
    };
    Some(Parsed::Spec(Box::new(spec)))
}

/// The spec's `name`, which must be an identifier.
fn spec_name(top: &Map, p: &mut Problems) -> Option<String> {
    let name = match get(top, "name") {
        Some(v) => yaml::get_string(v, "name", p),
        None => {
            p.push("name", "missing: every spec needs a name");
            None
        }
    };
    if let Some(n) = &name {
        if !super::is_identifier(n) {
            p.push(
                "name",
                format!("'{n}' is not a valid name (letters, digits and _ only)"),
            );
        }
    }
    name
}

/// `Some(outcome)` for a spec that is not loaded at all: `enabled: false`, or a class
/// this version does not implement.
fn skipped(top: &Map, name: &Option<String>, p: &mut Problems) -> Option<Option<Parsed>> {
    let enabled = get(top, "enabled")
        .and_then(|v| yaml::get_bool(v, "enabled", p))
        .unwrap_or(true);
    if !enabled {
        return Some(name.clone().map(|name| Parsed::Disabled { name }));
    }
    if let Some(class) = get(top, "class").and_then(|v| yaml::get_string(v, "class", p)) {
        if !class.eq_ignore_ascii_case("RESTAdapter")
            && !class.eq_ignore_ascii_case("RESTConnector")
        {
            return Some(name.clone().map(|name| Parsed::Unsupported {
                name,
                reason: format!("class '{class}' is not supported by this version of unify"),
            }));
        }
    }
    None
}

/// Every spec-level setting, read in the order of the format's reference.
fn settings(top: &Map, p: &mut Problems) -> Settings {
    let base_url = base_url(top, p);
    let help = get(top, "help").and_then(|v| yaml::get_string(v, "help", p));
    let auth = match get(top, "auth") {
        Some(v) => auth::parse_auth(v, "auth", p).unwrap_or_else(AuthSpec::none),
        None => AuthSpec::none(),
    };
    check_requires(top, p);
    let throttle = get(top, "throttle").and_then(|v| {
        let m = yaml::as_map(v, "throttle", p)?;
        check_keys(&m, &["sleep"], "throttle", "throttle", p);
        get(&m, "sleep").and_then(|s| get_seconds(s, "throttle.sleep", p))
    });
    let query_date_format =
        get(top, "queryDateFormat").and_then(|v| yaml::get_string(v, "queryDateFormat", p));
    if let Some(fmt) = &query_date_format {
        if let Err(e) = check_strftime(fmt) {
            p.push("queryDateFormat", e);
        }
    }
    let rate_limit = get(top, "rate_limit").and_then(|v| parse_rate_limit(v, "rate_limit", p));
    let polling_interval_secs = get(top, "polling_interval_secs")
        .and_then(|v| yaml::get_u64(v, "polling_interval_secs", p));
    let retry = match get(top, "retry") {
        Some(v) => parse_retry(v, "retry", p),
        None => RetryPolicy::default(),
    };
    let timeout = get(top, "timeout_secs")
        .and_then(|v| get_seconds(v, "timeout_secs", p))
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(60));
    let max_response_mb = max_response_mb(top, p);
    Settings {
        base_url,
        help,
        auth,
        throttle,
        query_date_format,
        rate_limit,
        polling_interval_secs,
        retry,
        timeout,
        max_response_bytes: (max_response_mb * 1024.0 * 1024.0) as u64,
        headers: headers(top, "", p),
        error_path: error_path(top, "", p),
        paging: match get(top, "paging") {
            Some(Value::Null) | None => None,
            Some(v) => paging::parse_paging(v, "paging", p),
        },
    }
}

/// `base_url`: an http(s) URL once its `${option}` placeholders are filled.
fn base_url(top: &Map, p: &mut Problems) -> Option<String> {
    match get(top, "base_url") {
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
    }
}

/// `requires`: only features this version has.
fn check_requires(top: &Map, p: &mut Problems) {
    if let Some(req) = get(top, "requires") {
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
}

/// `max_response_mb`, within bounds, or the default.
fn max_response_mb(top: &Map, p: &mut Problems) -> f64 {
    get(top, "max_response_mb")
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
        .unwrap_or(DEFAULT_MAX_RESPONSE_MB)
}

/// The `headers` mapping of the block at `path` (spec or table): name → value.
pub(super) fn headers(m: &Map, path: &str, p: &mut Problems) -> Vec<(String, String)> {
    match get(m, "headers") {
        Some(hv) => yaml::as_map(hv, &join(path, "headers"), p)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| {
                yaml::get_string(&v, &join(path, &format!("headers.{k}")), p).map(|v| (k, v))
            })
            .collect(),
        None => Vec::new(),
    }
}

/// The `error_path` JSONPath of the block at `path` (spec or table).
pub(super) fn error_path(m: &Map, path: &str, p: &mut Problems) -> Option<JsonPath> {
    get(m, "error_path").and_then(|v| {
        let text = yaml::get_string(v, &join(path, "error_path"), p)?;
        JsonPath::parse(&text)
            .map_err(|e| p.push(&join(path, "error_path"), e))
            .ok()
    })
}

/// The name of a table or view that does not load: its parsed name, else the `name` key
/// as written, else its key path.
fn disabled_name(parsed: Option<String>, item: &Value, path: String) -> String {
    parsed
        .or_else(|| {
            item.get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string)
        })
        .unwrap_or(path)
}

/// A table or view that does not load, with the problems that disabled it.
pub(super) fn disabled(
    parsed: Option<String>,
    item: &Value,
    path: String,
    p: Problems,
) -> Disabled {
    Disabled {
        name: disabled_name(parsed, item, path),
        problems: p.list,
    }
}

/// The value of `key` in a mapping.
pub(super) fn get<'a>(map: &'a Map, key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A problem for every key of `map` not in `allowed`.
pub(super) fn check_keys(map: &Map, allowed: &[&str], path: &str, what: &str, p: &mut Problems) {
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

/// The longest duration a spec may give (a day): longer ones are mistakes, and would
/// overflow timers.
const MAX_SECONDS: f64 = 86_400.0;

/// A number of seconds, at most [`MAX_SECONDS`].
pub(super) fn get_seconds(v: &Value, path: &str, p: &mut Problems) -> Option<Duration> {
    let secs = yaml::get_f64(v, path, p)?;
    if secs > MAX_SECONDS {
        p.push(path, format!("{secs} seconds is more than a day"));
        return None;
    }
    Some(Duration::from_secs_f64(secs))
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

/// `rate_limit: {requests_per_second, burst, max_concurrency}` (spec or table).
pub(super) fn parse_rate_limit(v: &Value, path: &str, p: &mut Problems) -> Option<RateLimit> {
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
