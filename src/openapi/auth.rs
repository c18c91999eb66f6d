//! Authentication: the description's `securitySchemes` (Swagger 2.0
//! `securityDefinitions`) → the spec's `auth` block and the options a connection gives.
//! basic → BASIC, bearer → BEARER, apiKey in a header → HEADERS, apiKey in the query →
//! PARAMS, OAuth2 client credentials → OAUTH2; other OAuth2 flows and OpenID Connect →
//! BEARER with an access token obtained elsewhere (unify runs no browser flow).

use super::load::{scalar_text, Dialect, Doc};
use serde_json::Value;

/// The spec's `auth` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthPlan {
    /// `NONE`, `BASIC`, `BEARER`, `HEADERS`, `PARAMS` or `OAUTH2`.
    pub kind: &'static str,
    /// Options a connection gives: (name, description).
    pub params: Vec<(String, String)>,
    /// `auth.defaults`.
    pub defaults: Vec<(String, String)>,
    /// `auth.headers` templates.
    pub headers: Vec<(String, String)>,
    /// Where this came from (a comment line).
    pub source: Option<String>,
    /// Heuristics taken (each a `# guess:` line).
    pub guesses: Vec<String>,
}

/// Choose and translate the scheme the API asks for.
pub fn plan(doc: &Doc, base_url: &str, op_security: Option<&Value>) -> AuthPlan {
    let schemes = doc.security_schemes();
    if schemes.is_empty() {
        return AuthPlan {
            kind: "NONE",
            source: Some("the description declares no security scheme".to_string()),
            ..Default::default()
        };
    }
    // The requirement that applies: the document's, else the first operation's.
    let requirement = doc
        .security()
        .or(op_security)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut candidates: Vec<(String, Vec<String>)> = Vec::new();
    for alternative in &requirement {
        if let Some(m) = alternative.as_object() {
            for (name, scopes) in m {
                let scopes = scopes
                    .as_array()
                    .map(|a| a.iter().filter_map(scalar_text).collect())
                    .unwrap_or_default();
                candidates.push((name.clone(), scopes));
            }
        }
    }
    let mut guesses = Vec::new();
    if candidates.is_empty() {
        // Schemes declared, none required: the first one is probably what the API wants.
        candidates = schemes
            .iter()
            .map(|(n, _)| (n.clone(), Vec::new()))
            .collect();
        guesses.push(
            "no `security` requirement is declared; using the first security scheme".to_string(),
        );
    }
    let mut unsupported = Vec::new();
    for (name, scopes) in &candidates {
        let Some((_, scheme)) = schemes.iter().find(|(n, _)| n == name) else {
            continue;
        };
        match translate(doc, name, scheme, scopes, base_url) {
            Ok(mut p) => {
                if candidates.len() > 1 {
                    let others: Vec<&str> = candidates
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .filter(|n| n != name)
                        .collect();
                    p.guesses.push(format!(
                        "the API also accepts {}; this spec uses `{name}`",
                        others.join(", ")
                    ));
                }
                p.guesses.splice(0..0, guesses);
                return p;
            }
            Err(why) => unsupported.push(format!("`{name}`: {why}")),
        }
    }
    AuthPlan {
        kind: "NONE",
        source: Some(format!(
            "no security scheme unify supports ({}); requests go without credentials",
            unsupported.join("; ")
        )),
        guesses,
        ..Default::default()
    }
}

/// Translate one security scheme `s` (named `name`) into an [`AuthPlan`], or say why
/// unify cannot use it.
fn translate(
    doc: &Doc,
    name: &str,
    s: &Value,
    scopes: &[String],
    base_url: &str,
) -> Result<AuthPlan, String> {
    let source = Some(format!("from the security scheme `{name}`"));
    match field(s, "type") {
        "http" => http_plan(s, &field(s, "scheme").to_ascii_lowercase(), source),
        "basic" => http_plan(s, "basic", source),
        "apiKey" => api_key_plan(s, source),
        "oauth2" => Ok(oauth2_plan(doc, s, scopes, base_url, source)),
        "openIdConnect" => Ok(AuthPlan {
            kind: "BEARER",
            params: vec![(
                "token".to_string(),
                "OpenID Connect access token".to_string(),
            )],
            source,
            guesses: vec!["OpenID Connect: give an access token obtained elsewhere".to_string()],
            ..Default::default()
        }),
        other => Err(format!("type '{other}'")),
    }
}

/// A string field of a security scheme, `""` when absent.
fn field<'a>(s: &'a Value, key: &str) -> &'a str {
    s.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The scheme's own description (first line), else `fallback`.
fn describe(s: &Value, fallback: &str) -> String {
    let d = one_line(field(s, "description"));
    if d.is_empty() {
        fallback.to_string()
    } else {
        d
    }
}

/// An HTTP scheme (`basic` or `bearer`; anything else is unsupported).
fn http_plan(s: &Value, scheme: &str, source: Option<String>) -> Result<AuthPlan, String> {
    match scheme {
        "basic" => Ok(AuthPlan {
            kind: "BASIC",
            params: vec![
                (
                    "username".to_string(),
                    "User name for HTTP basic auth".to_string(),
                ),
                (
                    "password".to_string(),
                    describe(s, "Password for HTTP basic auth"),
                ),
            ],
            source,
            ..Default::default()
        }),
        "bearer" => {
            let format = field(s, "bearerFormat");
            let mut desc = describe(s, "Bearer token");
            if !format.is_empty() {
                desc = format!("{desc} ({format})");
            }
            Ok(AuthPlan {
                kind: "BEARER",
                params: vec![("token".to_string(), desc)],
                source,
                ..Default::default()
            })
        }
        other => Err(format!("HTTP {other} authentication")),
    }
}

/// An API key sent in a header (HEADERS) or in the query (PARAMS).
fn api_key_plan(s: &Value, source: Option<String>) -> Result<AuthPlan, String> {
    let key = field(s, "name");
    if key.is_empty() {
        return Err("an apiKey scheme without a name".to_string());
    }
    let desc = describe(s, &format!("API key sent as {key}"));
    match field(s, "in") {
        "header" => {
            let mut p = AuthPlan {
                kind: "HEADERS",
                params: vec![("api_key".to_string(), desc)],
                headers: vec![(key.to_string(), "${api_key}".to_string())],
                source,
                ..Default::default()
            };
            if key.eq_ignore_ascii_case("authorization") {
                p.guesses.push(
                    "the key is the whole Authorization header: include any prefix the API wants (e.g. `Token abc`)".to_string(),
                );
            }
            Ok(p)
        }
        "query" => Ok(AuthPlan {
            kind: "PARAMS",
            params: vec![(key.to_string(), desc)],
            source,
            ..Default::default()
        }),
        other => Err(format!("an API key in a {other}")),
    }
}

/// OAuth2: client credentials → OAUTH2; any other flow → BEARER with a token obtained
/// elsewhere.
fn oauth2_plan(
    doc: &Doc,
    s: &Value,
    scopes: &[String],
    base_url: &str,
    source: Option<String>,
) -> AuthPlan {
    let (token_url, all_scopes, other_flow) = oauth_flows(doc, s);
    let Some(token_url) = token_url else {
        return AuthPlan {
            kind: "BEARER",
            params: vec![(
                "token".to_string(),
                format!(
                    "OAuth2 access token{}",
                    other_flow
                        .map(|u| format!(" (authorize at {u})"))
                        .unwrap_or_default()
                ),
            )],
            source,
            guesses: vec![
                "OAuth2 without client credentials: give an access token obtained elsewhere (unify runs no browser flow)".to_string(),
            ],
            ..Default::default()
        };
    };
    let mut defaults = vec![("token_url".to_string(), absolute(&token_url, base_url))];
    if !scopes.is_empty() {
        defaults.push(("scopes".to_string(), scopes.join(" ")));
    }
    let mut p = AuthPlan {
        kind: "OAUTH2",
        params: vec![
            ("client_id".to_string(), "OAuth2 client id".to_string()),
            (
                "client_secret".to_string(),
                "OAuth2 client secret".to_string(),
            ),
        ],
        defaults,
        source,
        ..Default::default()
    };
    if scopes.is_empty() && !all_scopes.is_empty() {
        p.guesses.push(format!(
            "no scope is required; the API defines {} (add `scopes` under auth.defaults if it needs some)",
            all_scopes.join(", ")
        ));
    }
    p
}

/// (client-credentials token URL, every scope, another flow's authorization URL).
fn oauth_flows(doc: &Doc, s: &Value) -> (Option<String>, Vec<String>, Option<String>) {
    let scopes_of = |v: &Value| -> Vec<String> {
        v.get("scopes")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    if doc.dialect == Dialect::Swagger2 {
        let flow = s.get("flow").and_then(Value::as_str).unwrap_or("");
        let token = (flow == "application")
            .then(|| {
                s.get("tokenUrl")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .flatten();
        let auth = s
            .get("authorizationUrl")
            .and_then(Value::as_str)
            .map(str::to_string);
        return (token, scopes_of(s), auth);
    }
    let flows = s.get("flows");
    let cc = flows.and_then(|f| f.get("clientCredentials"));
    let token = cc
        .and_then(|c| c.get("tokenUrl"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let scopes = cc.map(scopes_of).unwrap_or_default();
    let auth = flows
        .and_then(Value::as_object)
        .and_then(|f| {
            f.values()
                .find_map(|v| v.get("authorizationUrl").and_then(Value::as_str))
        })
        .map(str::to_string);
    (token, scopes, auth)
}

fn absolute(url: &str, base: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        return url.to_string();
    }
    // String surgery rather than Url::join: the base may hold `${option}` placeholders.
    let base = base.trim_end_matches('/');
    if url.starts_with('/') {
        let origin_end = base
            .find("://")
            .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
            .unwrap_or(base.len());
        format!("{}{url}", &base[..origin_end])
    } else {
        format!("{base}/{url}")
    }
}

/// The first line of a text, trimmed, at most 200 characters.
pub fn one_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut s: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        s.push('…');
    }
    s
}
