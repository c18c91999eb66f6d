//! A `paging:` block (spec-level, or a table's own): the pager, its parameters, the page
//! size, when to stop, the page cap and where a total is announced.

use super::super::jsonpath::Path as JsonPath;
use super::super::yaml::{self, join, Map, Problems};
use super::validate::{check_keys, get};
use super::{Paging, PagingStrategy, StopRule, DEFAULT_MAX_PAGES};
use serde_yaml::Value;

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

/// The `paging:` block at `path`; `None` for an empty one, or one without a pager.
pub(super) fn parse_paging(v: &Value, path: &str, p: &mut Problems) -> Option<Paging> {
    let m = yaml::as_map(v, path, p)?;
    if m.is_empty() {
        return None;
    }
    check_keys(&m, PAGING_KEYS, path, "paging", p);
    let strategy_name = match string(&m, path, "strategy", p) {
        Some(s) => s,
        None => {
            if get(&m, "strategy").is_none() {
                p.push(&join(path, "strategy"), "missing: say which pager (pageAndCount, offsetAndCount, pagerToken, nextLink, linkHeader)");
            }
            return None;
        }
    };
    let count_param = string(&m, path, "count_param", p);
    let page_size =
        get(&m, "page_size").and_then(|v| yaml::get_u64(v, &join(path, "page_size"), p));
    if page_size == Some(0) {
        p.push(&join(path, "page_size"), "must be at least 1");
    }
    let stop = stop_rule(&m, path, p);
    let max_pages = get(&m, "max_pages")
        .and_then(|v| yaml::get_u64(v, &join(path, "max_pages"), p))
        .unwrap_or(DEFAULT_MAX_PAGES)
        .max(1);
    let total_path = jsonpath(&m, path, "total_path", p);
    let strategy = strategy(&m, path, &strategy_name, p)?;
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

/// The pager named `name`, with the keys it needs.
fn strategy(m: &Map, path: &str, name: &str, p: &mut Problems) -> Option<PagingStrategy> {
    Some(match name {
        "pageAndCount" => {
            let page_param = required(m, path, "page_param", "pageAndCount", p)?;
            let first_page = get(m, "first_page")
                .and_then(|v| yaml::get_u64(v, &join(path, "first_page"), p))
                .unwrap_or(1);
            PagingStrategy::PageAndCount {
                page_param,
                first_page,
            }
        }
        "offsetAndCount" => PagingStrategy::OffsetAndCount {
            offset_param: required(m, path, "offset_param", "offsetAndCount", p)?,
        },
        "pagerToken" => {
            let token_param = required(m, path, "token_param", "pagerToken", p);
            if get(m, "pager_token_path").is_none() {
                p.push(
                    &join(path, "pager_token_path"),
                    "missing: the pagerToken pager needs pager_token_path",
                );
            }
            let token_path = jsonpath(m, path, "pager_token_path", p);
            PagingStrategy::PagerToken {
                token_param: token_param?,
                pager_token_path: token_path?,
            }
        }
        "nextLink" => {
            if get(m, "pager_link_path").is_none() {
                p.push(
                    &join(path, "pager_link_path"),
                    "missing: the nextLink pager needs pager_link_path",
                );
            }
            PagingStrategy::NextLink {
                pager_link_path: jsonpath(m, path, "pager_link_path", p)?,
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
    })
}

/// `stop`: `short_page` (the default) or `empty_page`.
fn stop_rule(m: &Map, path: &str, p: &mut Problems) -> StopRule {
    match string(m, path, "stop", p).as_deref() {
        None | Some("short_page") => StopRule::ShortPage,
        Some("empty_page") => StopRule::EmptyPage,
        Some(other) => {
            p.push(
                &join(path, "stop"),
                format!("unknown stop rule '{other}' (short_page or empty_page)"),
            );
            StopRule::ShortPage
        }
    }
}

/// The string at `key`, if any.
fn string(m: &Map, path: &str, key: &str, p: &mut Problems) -> Option<String> {
    get(m, key).and_then(|v| yaml::get_string(v, &join(path, key), p))
}

/// The string at `key`, which the `strategy` pager needs.
fn required(m: &Map, path: &str, key: &str, strategy: &str, p: &mut Problems) -> Option<String> {
    let v = string(m, path, key, p);
    if v.is_none() && get(m, key).is_none() {
        p.push(
            &join(path, key),
            format!("missing: the {strategy} pager needs {key}"),
        );
    }
    v
}

/// The JSONPath at `key`, if any.
fn jsonpath(m: &Map, path: &str, key: &str, p: &mut Problems) -> Option<JsonPath> {
    let text = string(m, path, key, p)?;
    match JsonPath::parse(&text) {
        Ok(jp) => Some(jp),
        Err(e) => {
            p.push(&join(path, key), e);
            None
        }
    }
}
