//! The OAuth2 token cache of one connection: client-credentials and refresh-token grants,
//! one fetch at a time (concurrent requests wait for it and share its token), expiry with
//! a margin, and refresh-token rotation (a rotated token replaces the old one, in use and
//! in the redaction list).
//!
//! Owned by the [`Authenticator`](super::Authenticator); it never quotes a token endpoint's
//! answer without [`super::redact`], and never follows the endpoint's redirects.

use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};

use super::redact::{error_chain, excerpt, redact};
use super::{basic_value, AuthError, ClientAuth, OAuth2Config};
use crate::adapters::rest::client;
use crate::secret::Secret;

/// Refresh a cached OAuth2 access token this long before the server says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// A token endpoint answer larger than this is not a token response.
const TOKEN_RESPONSE_CAP: u64 = 1024 * 1024;

/// The token state of one connection; unused for credentials other than OAuth2.
#[derive(Default)]
pub(super) struct OAuthState {
    /// Held while a token is fetched, so concurrent callers do not stampede the endpoint.
    fetch: tokio::sync::Mutex<()>,
    /// Cached token and current refresh token; never held across an `.await`.
    state: StdMutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    access: Option<CachedToken>,
    /// The refresh token in use: the configured one, or the latest rotated one.
    refresh_token: Option<Secret>,
    /// Incremented on every successful fetch.
    generation: u64,
}

struct CachedToken {
    token: Secret,
    /// When to fetch a new token (expiry minus [`EXPIRY_MARGIN`]); None = no expiry given.
    refresh_at: Option<Instant>,
    /// When the token actually expires; None = no expiry given.
    expires_at: Option<Instant>,
}

impl CachedToken {
    /// A token just granted, valid for `expires_in` seconds from `now` (if given).
    fn new(token: Secret, expires_in: Option<u64>, now: Instant) -> Self {
        CachedToken {
            token,
            // An expiry too far away to represent counts as none.
            refresh_at: expires_in.and_then(|s| {
                now.checked_add(Duration::from_secs(s).saturating_sub(EXPIRY_MARGIN))
            }),
            expires_at: expires_in.and_then(|s| now.checked_add(Duration::from_secs(s))),
        }
    }
    fn fresh(&self, now: Instant) -> bool {
        self.refresh_at.is_none_or(|t| now < t)
    }
    fn unexpired(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }
}

/// A token endpoint's successful answer.
struct TokenGrant {
    access_token: Secret,
    expires_in: Option<u64>,
    refresh_token: Option<Secret>,
}

/// What [`OAuthState::cached`] found.
enum Cached {
    /// A token to use.
    Token(Secret),
    /// None usable: fetch one with this refresh token (None: client credentials).
    Fetch(Option<Secret>),
}

impl OAuthState {
    /// State for a connection whose configured refresh token (if any) is `refresh_token`.
    pub(super) fn new(refresh_token: Option<Secret>) -> Self {
        let oauth = OAuthState::default();
        lock(&oauth.state).refresh_token = refresh_token;
        oauth
    }

    /// Forget the cached access token, so the next request fetches a fresh one.
    pub(super) fn forget_access(&self) {
        lock(&self.state).access = None;
    }

    /// Whether an access token is cached.
    pub(super) fn token_cached(&self) -> bool {
        lock(&self.state).access.is_some()
    }

    /// The refresh token in use and the cached access token, for redaction.
    pub(super) fn live_tokens(&self) -> Vec<Secret> {
        let state = lock(&self.state);
        let refresh = state.refresh_token.iter().cloned();
        refresh
            .chain(state.access.iter().map(|c| c.token.clone()))
            .collect()
    }

    /// A valid access token: the cached one, or a freshly fetched one (single flight).
    pub(super) async fn token(
        &self,
        http: &reqwest::Client,
        config: &OAuth2Config,
    ) -> Result<Secret, AuthError> {
        let seen_generation = {
            let state = lock(&self.state);
            if let Some(cached) = state.access.as_ref().filter(|c| c.fresh(Instant::now())) {
                return Ok(cached.token.clone());
            }
            state.generation
        };

        let _fetching = self.fetch.lock().await;

        let refresh_token = match self.cached(seen_generation) {
            Cached::Token(token) => return Ok(token),
            Cached::Fetch(refresh_token) => refresh_token,
        };
        tracing::debug!(
            token_url = %config.token_url,
            grant = grant_name(refresh_token.is_some()),
            "fetching OAuth2 access token"
        );
        let grant = self
            .fetch_token(http, config, refresh_token.as_ref())
            .await?;
        Ok(self.store(config, grant))
    }

    /// After waiting for the fetch lock: the token someone else fetched meanwhile, or
    /// the refresh token to fetch with.
    fn cached(&self, seen_generation: u64) -> Cached {
        let state = lock(&self.state);
        if let Some(cached) = &state.access {
            let now = Instant::now();
            // Someone fetched while we waited: use their token even when it is inside
            // the refresh margin, as long as it has not actually expired.
            if cached.fresh(now) || (state.generation != seen_generation && cached.unexpired(now)) {
                return Cached::Token(cached.token.clone());
            }
        }
        Cached::Fetch(state.refresh_token.clone())
    }

    /// Cache a granted token (and a rotated refresh token), keeping the redaction list
    /// to the tokens in use; returns the access token.
    fn store(&self, config: &OAuth2Config, grant: TokenGrant) -> Secret {
        crate::secret::register(grant.access_token.expose());
        let configured_refresh = config.refresh_token.as_ref().map(Secret::expose);
        let cached = CachedToken::new(grant.access_token.clone(), grant.expires_in, Instant::now());
        let mut state = lock(&self.state);
        if let Some(rotated) = grant.refresh_token {
            // Only the refresh-token grant keeps using refresh tokens; a client-credentials
            // client can always get a new token with its own credentials.
            if state.refresh_token.is_some() {
                crate::secret::register(rotated.expose());
                if state.refresh_token.as_ref() != Some(&rotated) {
                    tracing::debug!(token_url = %config.token_url, "OAuth2 refresh token rotated");
                    // The replaced one leaves the redaction list, unless it is the one
                    // written in connections.yaml (still a secret of the user's).
                    if let Some(old) = state.refresh_token.take() {
                        if Some(old.expose()) != configured_refresh {
                            crate::secret::unregister(old.expose());
                        }
                    }
                }
                state.refresh_token = Some(rotated);
            }
        }
        if let Some(old) = state.access.take() {
            if old.token != cached.token {
                crate::secret::unregister(old.token.expose());
            }
        }
        state.access = Some(cached);
        state.generation = state.generation.wrapping_add(1);
        grant.access_token
    }

    /// One request to the token endpoint.
    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        config: &OAuth2Config,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, AuthError> {
        let url_text = || redact(config.token_url.as_str(), &self.scrub_list(config));
        let unreachable = |e: reqwest::Error| AuthError::TokenUnreachable {
            url: url_text(),
            message: redact(&error_chain(&e), &self.scrub_list(config)),
        };
        let request = token_request(http, config, refresh_token)?;
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = match client::read_capped(&mut response, TOKEN_RESPONSE_CAP).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(client::ReadError::Network(e)) => return Err(unreachable(e)),
            Err(client::ReadError::TooLarge) => {
                return Err(AuthError::TokenStatus {
                    url: url_text(),
                    status,
                    body: format!(
                        "the response is larger than {} (not a token response)",
                        client::size_text(TOKEN_RESPONSE_CAP)
                    ),
                })
            }
        };
        self.read_answer(config, status, location, &body)
    }

    /// The grant in a token endpoint's answer, or why there is none (redacted).
    fn read_answer(
        &self,
        config: &OAuth2Config,
        status: reqwest::StatusCode,
        location: Option<String>,
        body: &str,
    ) -> Result<TokenGrant, AuthError> {
        let url_text = || redact(config.token_url.as_str(), &self.scrub_list(config));
        if status.is_redirection() {
            // Not followed: the client secret goes to the configured token_url only.
            return Err(AuthError::TokenStatus {
                url: url_text(),
                status,
                body: format!(
                    "a redirect to {}, not followed: unify sends the client credentials only to token_url; set token_url to the final address",
                    location
                        .map(|l| redact(&l, &self.scrub_list(config)))
                        .unwrap_or_else(|| "nowhere (no Location)".into())
                ),
            });
        }
        if !status.is_success() {
            return Err(AuthError::TokenStatus {
                url: url_text(),
                status,
                body: excerpt(body, &self.scrub_list(config)),
            });
        }
        parse_token_response(body).map_err(|detail| AuthError::MissingAccessToken {
            url: url_text(),
            detail: excerpt(&detail, &self.scrub_list(config)),
        })
    }

    /// Secrets to scrub from token-endpoint errors.
    fn scrub_list(&self, config: &OAuth2Config) -> Vec<String> {
        let mut list = vec![config.client_secret.expose().to_string()];
        if let Some(token) = &config.refresh_token {
            list.push(token.expose().to_string());
        }
        let state = lock(&self.state);
        if let Some(token) = &state.refresh_token {
            list.push(token.expose().to_string());
        }
        if let Some(cached) = &state.access {
            list.push(cached.token.expose().to_string());
        }
        list
    }
}

/// The token request: the grant's form, and the client's credentials as RFC 6749 §2.3.1
/// says (`client_secret_basic` or `client_secret_post`).
fn token_request(
    http: &reqwest::Client,
    config: &OAuth2Config,
    refresh_token: Option<&Secret>,
) -> Result<reqwest::RequestBuilder, AuthError> {
    let mut form: Vec<(&str, &str)> = Vec::new();
    match refresh_token {
        Some(token) => {
            form.push(("grant_type", "refresh_token"));
            form.push(("refresh_token", token.expose()));
        }
        None => form.push(("grant_type", "client_credentials")),
    }
    if let Some(scopes) = config.scopes.as_deref().map(str::trim) {
        if !scopes.is_empty() {
            form.push(("scope", scopes));
        }
    }
    if let Some(audience) = config.audience.as_deref().map(str::trim) {
        if !audience.is_empty() {
            form.push(("audience", audience));
        }
    }
    let mut builder = http
        .post(config.token_url.clone())
        .header(ACCEPT, "application/json");
    match config.client_auth {
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
            let value = basic_value(
                &urlencoding::encode(config.client_id.expose()),
                &urlencoding::encode(config.client_secret.expose()),
            );
            let mut header =
                HeaderValue::from_str(&value).map_err(|_| AuthError::InvalidHeaderValue {
                    name: AUTHORIZATION.to_string(),
                })?;
            header.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, header);
        }
        ClientAuth::Post => {
            form.push(("client_id", config.client_id.expose()));
            if !config.client_secret.expose().is_empty() {
                form.push(("client_secret", config.client_secret.expose()));
            }
        }
    }
    Ok(builder.form(&form))
}

/// The grant's name, for logs and `Debug`.
pub(super) fn grant_name(refresh: bool) -> &'static str {
    if refresh {
        "refresh_token"
    } else {
        "client_credentials"
    }
}

/// Parse a token endpoint's 2xx body (JSON, or form-encoded as some old endpoints answer).
/// The error is a description safe to show after redaction.
fn parse_token_response(body: &str) -> Result<TokenGrant, String> {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(body) {
        let text = |key: &str| {
            map.get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let Some(access) = text("access_token") else {
            return Err(match text("error") {
                Some(error) => match text("error_description") {
                    Some(description) => format!("error {error}: {description}"),
                    None => format!("error {error}"),
                },
                None => {
                    let fields: Vec<&str> = map.keys().map(String::as_str).collect();
                    format!("response fields are [{}]", fields.join(", "))
                }
            });
        };
        let expires_in = map.get("expires_in").and_then(|v| match v {
            serde_json::Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        return Ok(TokenGrant {
            access_token: Secret::new(access),
            expires_in,
            refresh_token: text("refresh_token").map(Secret::new),
        });
    }
    if body.contains("access_token=") {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.trim().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, v)| k == key && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        if let Some(access) = get("access_token") {
            return Ok(TokenGrant {
                access_token: Secret::new(access),
                expires_in: get("expires_in").and_then(|s| s.trim().parse().ok()),
                refresh_token: get("refresh_token").map(Secret::new),
            });
        }
    }
    Err("response is not a JSON object with an access_token".to_string())
}

/// Lock a std mutex, ignoring poisoning (the guarded state stays consistent).
fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
