//! A spec's `auth:` block: the scheme, the options a connection supplies (`params`),
//! static `defaults`, header templates, and the scheme's other scalar keys
//! (`service: ce` for AWS4, `token_url` for OAuth2…). Credentials themselves are
//! resolved per connection, in `connections.rs`.

use super::super::yaml::{self, join, Map, Problems};
use super::validate::get;
use super::{AuthKind, AuthSpec};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// The `auth:` block at `path`.
pub(super) fn parse_auth(v: &Value, path: &str, p: &mut Problems) -> Option<AuthSpec> {
    let m = yaml::as_map(v, path, p)?;
    let kind = auth_kind(&m, path, p)?;
    let mut params = Vec::new();
    if let Some(pv) = get(&m, "params") {
        if let Some(pm) = yaml::as_map(pv, &join(path, "params"), p) {
            for (k, v) in pm {
                let desc = yaml::scalar_string(&v).unwrap_or_else(|| k.clone());
                params.push((k, desc));
            }
        }
    }
    let defaults = defaults(&m, path, p);
    let mut headers = Vec::new();
    if let Some(hv) = get(&m, "headers") {
        if let Some(hm) = yaml::as_map(hv, &join(path, "headers"), p) {
            for (k, v) in hm {
                let value = yaml::scalar_string(&v).unwrap_or_default();
                headers.push((k, value));
            }
        }
    }
    Some(AuthSpec {
        kind,
        params,
        defaults,
        headers,
        extra: extra(&m, path, p),
    })
}

/// The scheme named by `type`.
fn auth_kind(m: &Map, path: &str, p: &mut Problems) -> Option<AuthKind> {
    let kind_text = match get(m, "type") {
        Some(t) => yaml::get_string(t, &join(path, "type"), p)?,
        None => {
            p.push(&join(path, "type"), "missing: say which auth type (NONE, BASIC, BEARER, HEADERS, PARAMS, AWS4Auth, OAUTH2)");
            return None;
        }
    };
    Some(match kind_text.to_ascii_uppercase().as_str() {
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
    })
}

/// `defaults`: static values not asked per connection (a list joins with spaces).
fn defaults(m: &Map, path: &str, p: &mut Problems) -> BTreeMap<String, String> {
    let mut defaults = BTreeMap::new();
    if let Some(dv) = get(m, "defaults") {
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
    defaults
}

/// The block's other scalar (or list) keys, e.g. `service: ce` for AWS4.
fn extra(m: &Map, path: &str, p: &mut Problems) -> BTreeMap<String, String> {
    let mut extra = BTreeMap::new();
    for (k, v) in m {
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
    extra
}
