//! Request authentication for REST connections.
//!
//! This module owns everything between "resolved credentials" and "a request the API
//! accepts": the [`Credentials`] of one connection, the [`Authenticator`] that applies them
//! to fully built requests (Basic, Bearer, extra headers, extra query parameters, AWS
//! Signature Version 4 via [`sigv4_sign`], and OAuth2 client-credentials / refresh-token
//! grants with a cached, single-flight access token), and [`AuthError`].
//!
//! Secrets never leave this module in `Debug` output or error messages: credentials print
//! only their variant and non-secret fields, and token-endpoint error bodies are scrubbed
//! of the client secret, refresh tokens and access tokens before they are quoted.

use std::fmt;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// Refresh a cached OAuth2 access token this long before the server says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// At most this many characters of a token endpoint's error body are quoted in an error.
const BODY_EXCERPT_CHARS: usize = 300;

/// A token endpoint answer larger than this is not a token response.
const TOKEN_RESPONSE_CAP: u64 = 1024 * 1024;

/// Resolved credentials of one connection (built elsewhere from the spec's `auth:` block
/// and connection options).
#[derive(Clone)]
pub enum Credentials {
    /// No authentication.
    None,
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: Secret, password: Secret },
    /// `Authorization: Bearer <token>`.
    Bearer { token: Secret },
    /// Each `(name, value)` is set as a request header.
    Headers(Vec<(String, Secret)>),
    /// Each `(name, value)` is appended to the URL query string.
    Params(Vec<(String, Secret)>),
    /// AWS Signature Version 4.
    Aws4 {
        access_key_id: Secret,
        secret_key: Secret,
        session_token: Option<Secret>,
        region: String,
        service: String,
    },
    /// OAuth2 client-credentials or refresh-token grant.
    OAuth2(OAuth2Config),
}

/// Where and how to obtain OAuth2 access tokens.
#[derive(Clone)]
pub struct OAuth2Config {
    pub token_url: url::Url,
    pub client_id: Secret,
    pub client_secret: Secret,
    /// Some → refresh-token grant; None → client-credentials grant.
    pub refresh_token: Option<Secret>,
    /// Space-separated, sent as `scope`.
    pub scopes: Option<String>,
    /// Sent as `audience` when set (Auth0-style APIs).
    pub audience: Option<String>,
    /// How the client authenticates to the token endpoint.
    pub client_auth: ClientAuth,
}

/// How the client authenticates to the OAuth2 token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic header built from the form-urlencoded client id
    /// and secret.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` / `client_secret` form fields.
    Post,
}

/// Why a request could not be authenticated. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token endpoint could not be reached (connection, TLS, timeout, body read).
    #[error("OAuth2 token endpoint {url} unreachable: {message}")]
    TokenUnreachable { url: String, message: String },
    /// The token endpoint answered with a non-success status.
    #[error("OAuth2 token endpoint {url} returned {status}: {body}")]
    TokenStatus {
        url: String,
        status: reqwest::StatusCode,
        /// Redacted excerpt of the response body.
        body: String,
    },
    /// The token endpoint answered 2xx without a usable `access_token`.
    #[error("OAuth2 token endpoint {url} returned no access_token: {detail}")]
    MissingAccessToken { url: String, detail: String },
    /// A credential header name is not a valid HTTP header name.
    #[error("invalid auth header name {name:?}")]
    InvalidHeaderName { name: String },
    /// A credential value cannot be used as an HTTP header value (e.g. contains a newline).
    #[error("invalid value for auth header {name:?} (value not shown)")]
    InvalidHeaderValue { name: String },
    /// The request cannot be signed with AWS SigV4.
    #[error("cannot sign request with AWS SigV4: {0}")]
    Signing(String),
}

/// Applies credentials to requests; one per connection, shared (`Arc`) by concurrent jobs.
pub struct Authenticator {
    credentials: Credentials,
    /// OAuth2 token state; unused for other credentials.
    oauth: OAuthState,
}

#[derive(Default)]
struct OAuthState {
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

impl Authenticator {
    /// An authenticator for one connection's credentials.
    pub fn new(credentials: Credentials) -> Self {
        let oauth = OAuthState::default();
        if let Credentials::OAuth2(config) = &credentials {
            lock(&oauth.state).refresh_token = config.refresh_token.clone();
        }
        Authenticator { credentials, oauth }
    }

    /// Authenticate a fully built request (final URL incl. query, headers, body).
    ///
    /// For `Aws4` this signs the request (see [`sigv4_sign`]), so it must be the last change
    /// made to the request. For `OAuth2` it obtains (and caches until ~60 s before
    /// `expires_in`) an access token from the token endpoint using `http`, one fetch at a
    /// time, then sets `Authorization: Bearer <access>`.
    pub async fn apply(
        &self,
        http: &reqwest::Client,
        request: &mut reqwest::Request,
    ) -> Result<(), AuthError> {
        match &self.credentials {
            Credentials::None => Ok(()),
            Credentials::Basic { username, password } => {
                let value = basic_value(username.expose(), password.expose());
                set_header(request.headers_mut(), AUTHORIZATION, &value, true)
            }
            Credentials::Bearer { token } => {
                let value = format!("Bearer {}", token.expose());
                set_header(request.headers_mut(), AUTHORIZATION, &value, true)
            }
            Credentials::Headers(headers) => {
                for (name, value) in headers {
                    let header_name = HeaderName::from_bytes(name.trim().as_bytes())
                        .map_err(|_| AuthError::InvalidHeaderName { name: name.clone() })?;
                    set_header(request.headers_mut(), header_name, value.expose(), true)?;
                }
                Ok(())
            }
            Credentials::Params(params) => {
                if params.is_empty() {
                    return Ok(());
                }
                // A URL that already carries one of these params (a redirect or a next
                // link that echoes it) gets it replaced, not repeated.
                let ours = |k: &str| params.iter().any(|(name, _)| name == k);
                let url = request.url_mut();
                if url.query_pairs().any(|(k, _)| ours(&k)) {
                    let kept: Vec<(String, String)> = url
                        .query_pairs()
                        .filter(|(k, _)| !ours(k))
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    url.set_query(None);
                    url.query_pairs_mut().extend_pairs(kept);
                }
                let mut pairs = url.query_pairs_mut();
                for (name, value) in params {
                    pairs.append_pair(name, value.expose());
                }
                Ok(())
            }
            Credentials::Aws4 {
                access_key_id,
                secret_key,
                session_token,
                region,
                service,
            } => sigv4_sign(
                request,
                access_key_id.expose(),
                secret_key.expose(),
                session_token.as_ref().map(Secret::expose),
                region,
                service,
                chrono::Utc::now(),
            ),
            Credentials::OAuth2(config) => {
                let token = self.oauth_token(http, config).await?;
                let value = format!("Bearer {}", token.expose());
                set_header(request.headers_mut(), AUTHORIZATION, &value, true)
            }
        }
    }

    /// After a 401: forget a cached OAuth2 access token so the next [`apply`](Self::apply)
    /// fetches a fresh one. Returns true when retrying could help (OAuth2 only).
    pub fn invalidate(&self) -> bool {
        match &self.credentials {
            Credentials::OAuth2(_) => {
                lock(&self.oauth.state).access = None;
                true
            }
            _ => false,
        }
    }

    /// Values to register for redaction: every secret of these credentials, including a
    /// rotated refresh token and the cached access token (OAuth2) and the encoded Basic
    /// header value. Empty values are left out.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |s: &str| {
            if !s.is_empty() && !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        };
        match &self.credentials {
            Credentials::None => {}
            Credentials::Basic { username, password } => {
                add(username.expose());
                add(password.expose());
                add(&BASE64.encode(format!("{}:{}", username.expose(), password.expose())));
            }
            Credentials::Bearer { token } => add(token.expose()),
            Credentials::Headers(pairs) | Credentials::Params(pairs) => {
                for (_, value) in pairs {
                    add(value.expose());
                }
            }
            Credentials::Aws4 {
                access_key_id,
                secret_key,
                session_token,
                ..
            } => {
                add(access_key_id.expose());
                add(secret_key.expose());
                if let Some(token) = session_token {
                    add(token.expose());
                }
            }
            Credentials::OAuth2(config) => {
                add(config.client_id.expose());
                add(config.client_secret.expose());
                if let Some(token) = &config.refresh_token {
                    add(token.expose());
                }
                let state = lock(&self.oauth.state);
                if let Some(token) = &state.refresh_token {
                    add(token.expose());
                }
                if let Some(cached) = &state.access {
                    add(cached.token.expose());
                }
            }
        }
        out
    }

    /// A valid access token: the cached one, or a freshly fetched one (single flight).
    async fn oauth_token(
        &self,
        http: &reqwest::Client,
        config: &OAuth2Config,
    ) -> Result<Secret, AuthError> {
        let seen_generation = {
            let state = lock(&self.oauth.state);
            if let Some(cached) = state.access.as_ref().filter(|c| c.fresh(Instant::now())) {
                return Ok(cached.token.clone());
            }
            state.generation
        };

        let _fetching = self.oauth.fetch.lock().await;

        let refresh_token = {
            let state = lock(&self.oauth.state);
            if let Some(cached) = &state.access {
                let now = Instant::now();
                // Someone fetched while we waited: use their token even when it is inside
                // the refresh margin, as long as it has not actually expired.
                if cached.fresh(now)
                    || (state.generation != seen_generation && cached.unexpired(now))
                {
                    return Ok(cached.token.clone());
                }
            }
            state.refresh_token.clone()
        };

        tracing::debug!(
            token_url = %config.token_url,
            grant = grant_name(refresh_token.is_some()),
            "fetching OAuth2 access token"
        );
        let grant = self
            .fetch_token(http, config, refresh_token.as_ref())
            .await?;

        crate::secret::register(grant.access_token.expose());
        let now = Instant::now();
        let configured_refresh = config.refresh_token.as_ref().map(Secret::expose);
        let cached = CachedToken {
            token: grant.access_token.clone(),
            // An expiry too far away to represent counts as none.
            refresh_at: grant.expires_in.and_then(|s| {
                now.checked_add(Duration::from_secs(s).saturating_sub(EXPIRY_MARGIN))
            }),
            expires_at: grant
                .expires_in
                .and_then(|s| now.checked_add(Duration::from_secs(s))),
        };
        let mut state = lock(&self.oauth.state);
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
        Ok(grant.access_token)
    }

    /// One request to the token endpoint.
    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        config: &OAuth2Config,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, AuthError> {
        let url_text = || redact(config.token_url.as_str(), &self.scrub_list(config));

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

        let unreachable = |e: reqwest::Error| AuthError::TokenUnreachable {
            url: url_text(),
            message: redact(&error_chain(&e), &self.scrub_list(config)),
        };
        let mut response = builder.form(&form).send().await.map_err(unreachable)?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = match super::client::read_capped(&mut response, TOKEN_RESPONSE_CAP).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(super::client::ReadError::Network(e)) => return Err(unreachable(e)),
            Err(super::client::ReadError::TooLarge) => {
                return Err(AuthError::TokenStatus {
                    url: url_text(),
                    status,
                    body: format!(
                        "the response is larger than {} (not a token response)",
                        super::client::size_text(TOKEN_RESPONSE_CAP)
                    ),
                })
            }
        };

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
                body: excerpt(&body, &self.scrub_list(config)),
            });
        }
        parse_token_response(&body).map_err(|detail| AuthError::MissingAccessToken {
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
        let state = lock(&self.oauth.state);
        if let Some(token) = &state.refresh_token {
            list.push(token.expose().to_string());
        }
        if let Some(cached) = &state.access {
            list.push(cached.token.expose().to_string());
        }
        list
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Authenticator");
        s.field("credentials", &self.credentials);
        if matches!(self.credentials, Credentials::OAuth2(_)) {
            let cached = lock(&self.oauth.state).access.is_some();
            s.field("token_cached", &cached);
        }
        s.finish()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |pairs: &[(String, Secret)]| -> Vec<String> {
            pairs.iter().map(|(name, _)| name.clone()).collect()
        };
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { .. } => f.debug_struct("Basic").finish_non_exhaustive(),
            Credentials::Bearer { .. } => f.debug_struct("Bearer").finish_non_exhaustive(),
            Credentials::Headers(pairs) => f.debug_tuple("Headers").field(&names(pairs)).finish(),
            Credentials::Params(pairs) => f.debug_tuple("Params").field(&names(pairs)).finish(),
            Credentials::Aws4 {
                session_token,
                region,
                service,
                ..
            } => f
                .debug_struct("Aws4")
                .field("region", region)
                .field("service", service)
                .field("session_token", &session_token.is_some())
                .finish_non_exhaustive(),
            Credentials::OAuth2(config) => f.debug_tuple("OAuth2").field(config).finish(),
        }
    }
}

impl fmt::Debug for OAuth2Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Config")
            .field("token_url", &self.token_url.as_str())
            .field("grant", &grant_name(self.refresh_token.is_some()))
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

fn grant_name(refresh: bool) -> &'static str {
    if refresh {
        "refresh_token"
    } else {
        "client_credentials"
    }
}

/// Lock a std mutex, ignoring poisoning (the guarded state stays consistent).
fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn basic_value(username: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{username}:{password}")))
}

/// Insert (replacing) a header; `sensitive` keeps it out of hyper's debug output.
fn set_header(
    headers: &mut HeaderMap,
    name: HeaderName,
    value: &str,
    sensitive: bool,
) -> Result<(), AuthError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| AuthError::InvalidHeaderValue {
        name: name.to_string(),
    })?;
    header.set_sensitive(sensitive);
    headers.insert(name, header);
    Ok(())
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

/// The crate's one redactor, also scrubbing `secrets` (see [`crate::secret`]).
fn redact(text: &str, secrets: &[String]) -> String {
    crate::secret::redact_with(text, secrets)
}

/// A short, redacted excerpt of a token endpoint response body. Token-looking JSON fields
/// are masked even when their values are unknown to us.
fn excerpt(body: &str, secrets: &[String]) -> String {
    let masked = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) => {
            for key in ["access_token", "refresh_token", "id_token", "client_secret"] {
                if let Some(v) = map.get_mut(key) {
                    *v = serde_json::Value::String("***".into());
                }
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => body.trim().to_string(),
    };
    let redacted = redact(&masked, secrets);
    let mut chars = redacted.chars();
    let mut out: String = chars.by_ref().take(BODY_EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

/// An error and its sources, joined with ": " (reqwest's Display omits the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

// ---------------------------------------------------------------------------------------
// AWS Signature Version 4
// ---------------------------------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// URI-encode per AWS rules: every byte except `A-Z a-z 0-9 - _ . ~` becomes `%XX`
/// (uppercase hex); `/` is encoded too, so callers encode one path segment at a time.
fn aws_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical URI of an (already percent-encoded) URL path.
///
/// S3: each segment is decoded and encoded once, with no normalisation. Every other
/// service: the path is normalised (empty, `.` and `..` segments removed) and each
/// segment of the encoded path is encoded again, as AWS's SDKs do.
fn canonical_uri(path: &str, service: &str) -> String {
    if service.eq_ignore_ascii_case("s3") {
        let encoded: Vec<String> = path
            .split('/')
            .map(|segment| aws_encode(&urlencoding::decode_binary(segment.as_bytes())))
            .collect();
        let joined = encoded.join("/");
        return if joined.starts_with('/') {
            joined
        } else {
            format!("/{joined}")
        };
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(
        &segments
            .iter()
            .map(|s| aws_encode(s.as_bytes()))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Query pairs, each decoded (`+` as space) and re-encoded per AWS rules, in URL order.
fn aws_query_pairs(query: &str) -> Vec<(String, String)> {
    let component =
        |s: &str| aws_encode(&urlencoding::decode_binary(s.replace('+', " ").as_bytes()));
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (component(key), component(value))
        })
        .collect()
}

/// Header value canonical form: trimmed, runs of spaces collapsed to one.
fn canonical_header_value(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Everything computed while signing, kept for tests.
#[cfg_attr(not(test), allow(dead_code))]
struct SigV4Parts {
    canonical_request: String,
    signed_headers: String,
    authorization: String,
}

/// Sign `request` with AWS Signature Version 4 at time `now`.
///
/// The request must be fully built: method, final URL, headers and a buffered body. The
/// query is rewritten to AWS's encoding (same parameter order; `+` is read as a space), and
/// for S3 so is the path, so what is sent is exactly what is signed. Signs `host`, `x-amz-date`, `x-amz-security-token` (when a session token
/// is given), `x-amz-content-sha256` (service `s3`), any other `x-amz-*` header present and
/// `content-type` when present. Sets `x-amz-date`, the session token and
/// `x-amz-content-sha256` headers as applicable, and `Authorization`.
pub fn sigv4_sign(
    request: &mut reqwest::Request,
    access_key: &str,
    secret_key: &str,
    session_token: Option<&str>,
    region: &str,
    service: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AuthError> {
    sigv4_parts(
        request,
        access_key,
        secret_key,
        session_token,
        region,
        service,
        now,
    )
    .map(|_| ())
}

fn sigv4_parts(
    request: &mut reqwest::Request,
    access_key: &str,
    secret_key: &str,
    session_token: Option<&str>,
    region: &str,
    service: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SigV4Parts, AuthError> {
    let is_s3 = service.eq_ignore_ascii_case("s3");
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date_stamp = now.format("%Y%m%d").to_string();

    // Payload hash.
    let payload_hash = match request.body() {
        None => sha256_hex(b""),
        Some(body) => match body.as_bytes() {
            Some(bytes) => sha256_hex(bytes),
            None if is_s3 => "UNSIGNED-PAYLOAD".to_string(),
            None => {
                return Err(AuthError::Signing(
                    "a streaming request body cannot be signed; buffer it first".into(),
                ))
            }
        },
    };

    // Host, as hyper will send it unless the request already carries one.
    let host = match request.headers().get(reqwest::header::HOST) {
        Some(value) => canonical_header_value(value.as_bytes()),
        None => {
            let url = request.url();
            let host = url
                .host_str()
                .ok_or_else(|| AuthError::Signing(format!("URL {url} has no host")))?;
            match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            }
        }
    };

    // Query: rewrite to AWS encoding (same order), sign the sorted form.
    let mut pairs = aws_query_pairs(request.url().query().unwrap_or(""));
    let wire_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    request
        .url_mut()
        .set_query((!wire_query.is_empty()).then_some(wire_query.as_str()));
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_path = canonical_uri(request.url().path(), service);
    if is_s3 {
        // S3 signs the path as encoded once; send exactly that form.
        request.url_mut().set_path(&canonical_path);
    }

    // Headers we set, then everything to sign.
    let headers = request.headers_mut();
    headers.remove(AUTHORIZATION);
    set_header(
        headers,
        HeaderName::from_static("x-amz-date"),
        &amz_date,
        false,
    )?;
    let security_token = HeaderName::from_static("x-amz-security-token");
    match session_token {
        Some(token) => set_header(headers, security_token, token, true)?,
        None => {
            headers.remove(security_token);
        }
    }
    if is_s3 {
        set_header(
            headers,
            HeaderName::from_static("x-amz-content-sha256"),
            &payload_hash,
            false,
        )?;
    }
    let mut canonical_headers: Vec<(String, String)> = vec![("host".to_string(), host)];
    for name in headers.keys() {
        let name_str = name.as_str();
        if name_str == "content-type" || name_str.starts_with("x-amz-") {
            let values: Vec<String> = headers
                .get_all(name)
                .iter()
                .map(|v| canonical_header_value(v.as_bytes()))
                .collect();
            canonical_headers.push((name_str.to_string(), values.join(",")));
        }
    }
    canonical_headers.sort();
    let signed_headers = canonical_headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let header_block: String = canonical_headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();

    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method().as_str(),
        canonical_path,
        canonical_query,
        header_block,
        signed_headers,
        payload_hash
    );
    let scope = format!("{date_stamp}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(
        format!("AWS4{secret_key}").as_bytes(),
        date_stamp.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    );
    set_header(request.headers_mut(), AUTHORIZATION, &authorization, true)?;
    Ok(SigV4Parts {
        canonical_request,
        signed_headers,
        authorization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const AKID: &str = "AKIDEXAMPLE";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const CLIENT_SECRET: &str = "s3cr3t-client-value";
    const REFRESH: &str = "refresh-token-one";

    fn get(url: &str) -> reqwest::Request {
        reqwest::Request::new(reqwest::Method::GET, url::Url::parse(url).unwrap())
    }

    fn auth_header(request: &reqwest::Request) -> String {
        request.headers()[AUTHORIZATION]
            .to_str()
            .unwrap()
            .to_string()
    }

    fn vector_time() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2015-08-30T12:36:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    fn sign_vector(request: &mut reqwest::Request) -> SigV4Parts {
        sigv4_parts(
            request,
            AKID,
            AWS_SECRET,
            None,
            "us-east-1",
            "service",
            vector_time(),
        )
        .unwrap()
    }

    async fn apply(auth: &Authenticator, url: &str) -> Result<reqwest::Request, AuthError> {
        let mut request = get(url);
        auth.apply(&reqwest::Client::new(), &mut request).await?;
        Ok(request)
    }

    // ----- simple credentials ----------------------------------------------------------

    #[tokio::test]
    async fn basic_header_exact_value() {
        let auth = Authenticator::new(Credentials::Basic {
            username: Secret::new("scott@example.com"),
            password: Secret::new("abc123"),
        });
        let request = apply(&auth, "https://api.example.com/x").await.unwrap();
        assert_eq!(
            auth_header(&request),
            "Basic c2NvdHRAZXhhbXBsZS5jb206YWJjMTIz"
        );
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
        assert!(auth
            .secrets()
            .contains(&"c2NvdHRAZXhhbXBsZS5jb206YWJjMTIz".to_string()));
    }

    #[tokio::test]
    async fn bearer_header() {
        let auth = Authenticator::new(Credentials::Bearer {
            token: Secret::new("tok-123"),
        });
        let request = apply(&auth, "https://api.example.com/x").await.unwrap();
        assert_eq!(auth_header(&request), "Bearer tok-123");
        assert!(
            !auth.invalidate(),
            "retrying a static bearer token cannot help"
        );
        assert_eq!(auth.secrets(), vec!["tok-123".to_string()]);
    }

    #[tokio::test]
    async fn custom_headers_are_set() {
        let auth = Authenticator::new(Credentials::Headers(vec![
            ("X-Api-Key".into(), Secret::new("key-1")),
            ("X-Tenant".into(), Secret::new("acme")),
        ]));
        let mut request = get("https://api.example.com/x");
        request
            .headers_mut()
            .insert("x-api-key", HeaderValue::from_static("old"));
        auth.apply(&reqwest::Client::new(), &mut request)
            .await
            .unwrap();
        assert_eq!(request.headers()["x-api-key"], "key-1");
        assert_eq!(request.headers().get_all("x-api-key").iter().count(), 1);
        assert_eq!(request.headers()["x-tenant"], "acme");
    }

    #[tokio::test]
    async fn invalid_headers_are_errors_without_values() {
        let auth = Authenticator::new(Credentials::Headers(vec![(
            "bad header".into(),
            Secret::new("v"),
        )]));
        let err = apply(&auth, "https://api.example.com/").await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidHeaderName { .. }), "{err}");

        let auth = Authenticator::new(Credentials::Bearer {
            token: Secret::new("line\nbreak-secret"),
        });
        let err = apply(&auth, "https://api.example.com/").await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidHeaderValue { .. }), "{err}");
        assert!(!err.to_string().contains("break-secret"));
    }

    #[tokio::test]
    async fn params_are_appended_to_existing_query() {
        let auth = Authenticator::new(Credentials::Params(vec![
            ("api_key".into(), Secret::new("a b&c=d/é")),
            ("tenant".into(), Secret::new("acme")),
        ]));
        let request = apply(&auth, "https://api.example.com/v1/items?page=2&sort=name")
            .await
            .unwrap();
        assert_eq!(
            request.url().query(),
            Some("page=2&sort=name&api_key=a+b%26c%3Dd%2F%C3%A9&tenant=acme")
        );
        let pairs: Vec<(String, String)> = request
            .url()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(pairs[2], ("api_key".into(), "a b&c=d/é".into()));
    }

    #[tokio::test]
    async fn none_changes_nothing() {
        let auth = Authenticator::new(Credentials::None);
        let request = apply(&auth, "https://api.example.com/?a=1").await.unwrap();
        assert!(request.headers().is_empty());
        assert_eq!(request.url().query(), Some("a=1"));
        assert!(auth.secrets().is_empty());
    }

    #[test]
    fn debug_output_contains_no_secrets() {
        let all = [
            Credentials::Basic {
                username: Secret::new("user-secret-1"),
                password: Secret::new("pass-secret-2"),
            },
            Credentials::Bearer {
                token: Secret::new("bearer-secret-3"),
            },
            Credentials::Headers(vec![("X-Api-Key".into(), Secret::new("header-secret-4"))]),
            Credentials::Params(vec![("api_key".into(), Secret::new("param-secret-5"))]),
            Credentials::Aws4 {
                access_key_id: Secret::new("AKID-secret-6"),
                secret_key: Secret::new("aws-secret-7"),
                session_token: Some(Secret::new("session-secret-8")),
                region: "eu-west-1".into(),
                service: "ce".into(),
            },
            Credentials::OAuth2(OAuth2Config {
                token_url: url::Url::parse("https://auth.example.com/token").unwrap(),
                client_id: Secret::new("client-id-secret-9"),
                client_secret: Secret::new("client-secret-10"),
                refresh_token: Some(Secret::new("refresh-secret-11")),
                scopes: Some("read write".into()),
                audience: None,
                client_auth: ClientAuth::Post,
            }),
        ];
        for credentials in all {
            let auth = Authenticator::new(credentials.clone());
            let secrets = auth.secrets();
            assert!(!secrets.is_empty());
            for text in [format!("{credentials:?}"), format!("{auth:?}")] {
                assert!(!text.contains("secret-"), "{text}");
                for secret in &secrets {
                    assert!(!text.contains(secret.as_str()), "{text}");
                }
            }
        }
        let text = format!(
            "{:?}",
            Credentials::Headers(vec![("X-Api-Key".into(), Secret::new("hidden"))])
        );
        assert_eq!(text, r#"Headers(["X-Api-Key"])"#);
    }

    // ----- SigV4 -----------------------------------------------------------------------

    #[test]
    fn sigv4_get_vanilla() {
        let mut request = get("https://example.amazonaws.com/");
        let parts = sign_vector(&mut request);
        assert_eq!(
            parts.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            auth_header(&request),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(parts.authorization, auth_header(&request));
        assert_eq!(request.headers()["x-amz-date"], "20150830T123600Z");
    }

    #[test]
    fn sigv4_get_vanilla_query_order_key_case() {
        let mut request = get("https://example.amazonaws.com/?Param2=value2&Param1=value1");
        let parts = sign_vector(&mut request);
        assert_eq!(
            parts.canonical_request.lines().nth(2),
            Some("Param1=value1&Param2=value2")
        );
        assert!(auth_header(&request).ends_with(
            "SignedHeaders=host;x-amz-date, \
             Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        ));
        // The request itself keeps its parameter order.
        assert_eq!(request.url().query(), Some("Param2=value2&Param1=value1"));
    }

    #[test]
    fn sigv4_post_vanilla() {
        let mut request = reqwest::Request::new(
            reqwest::Method::POST,
            url::Url::parse("https://example.amazonaws.com/").unwrap(),
        );
        sign_vector(&mut request);
        assert!(auth_header(&request).ends_with(
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        ));
    }

    #[test]
    fn sigv4_post_json_cost_explorer() {
        let body = r#"{"TimePeriod":{"Start":"2024-01-01","End":"2024-02-01"},"Granularity":"MONTHLY","Metrics":["UnblendedCost"]}"#;
        let mut request = reqwest::Client::new()
            .post("https://ce.us-east-1.amazonaws.com/")
            .header("x-amz-target", "AWSInsightsIndexService.GetCostAndUsage")
            .header("content-type", "application/x-amz-json-1.1")
            .body(body)
            .build()
            .unwrap();
        let parts = sigv4_parts(
            &mut request,
            AKID,
            AWS_SECRET,
            Some("session-token-value"),
            "us-east-1",
            "ce",
            vector_time(),
        )
        .unwrap();
        assert_eq!(
            parts.signed_headers,
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        );
        assert_eq!(
            parts.canonical_request,
            format!(
                "POST\n/\n\n\
                 content-type:application/x-amz-json-1.1\n\
                 host:ce.us-east-1.amazonaws.com\n\
                 x-amz-date:20150830T123600Z\n\
                 x-amz-security-token:session-token-value\n\
                 x-amz-target:AWSInsightsIndexService.GetCostAndUsage\n\n\
                 content-type;host;x-amz-date;x-amz-security-token;x-amz-target\n{}",
                sha256_hex(body.as_bytes())
            )
        );
        let authorization = auth_header(&request);
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ce/aws4_request, \
                      SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
                      Signature=";
        assert!(authorization.starts_with(prefix), "{authorization}");
        let signature = &authorization[prefix.len()..];
        assert_eq!(signature.len(), 64);
        assert!(signature
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // Computed independently (Python hashlib/hmac over the canonical request above).
        assert_eq!(
            signature,
            "391fdb260e234ffa6452fd5a361439a86451240257b759516acf419af5deb719"
        );
        assert_eq!(
            request.headers()["x-amz-security-token"],
            "session-token-value"
        );
        assert_eq!(request.headers()["x-amz-date"], "20150830T123600Z");
        assert!(request.headers().get("x-amz-content-sha256").is_none());
    }

    #[test]
    fn sigv4_s3_signs_payload_hash_header() {
        let mut request = get("https://bucket.s3.amazonaws.com/a%20key/x");
        let parts = sigv4_parts(
            &mut request,
            AKID,
            AWS_SECRET,
            None,
            "us-east-1",
            "s3",
            vector_time(),
        )
        .unwrap();
        assert_eq!(parts.signed_headers, "host;x-amz-content-sha256;x-amz-date");
        assert_eq!(
            request.headers()["x-amz-content-sha256"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(parts.canonical_request.lines().nth(1), Some("/a%20key/x"));

        // Characters the URL leaves bare are encoded on the wire, as signed.
        let mut request = get("https://bucket.s3.amazonaws.com/a:b(c)");
        let parts = sigv4_parts(
            &mut request,
            AKID,
            AWS_SECRET,
            None,
            "us-east-1",
            "s3",
            vector_time(),
        )
        .unwrap();
        assert_eq!(
            parts.canonical_request.lines().nth(1),
            Some("/a%3Ab%28c%29")
        );
        assert_eq!(request.url().path(), "/a%3Ab%28c%29");
    }

    #[test]
    fn sigv4_canonical_uri_and_query_rules() {
        // Non-S3: normalised, and each segment of the encoded path encoded again.
        assert_eq!(canonical_uri("/", "service"), "/");
        assert_eq!(canonical_uri("//example//", "service"), "/example/");
        assert_eq!(canonical_uri("/a/./b/../c", "service"), "/a/c");
        assert_eq!(canonical_uri("/a%20b/m:1", "bedrock"), "/a%2520b/m%3A1");
        // S3: decoded and encoded once, no normalisation.
        assert_eq!(canonical_uri("/a%20b//m:1", "s3"), "/a%20b//m%3A1");
        // Query: decoded ('+' is a space) and encoded per AWS rules.
        assert_eq!(
            aws_query_pairs("b=x+y&a=%7e/,&flag"),
            vec![
                ("b".to_string(), "x%20y".to_string()),
                ("a".to_string(), "~%2F%2C".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        let mut request = get("https://example.amazonaws.com/?q=a+b&z=1");
        sign_vector(&mut request);
        assert_eq!(request.url().query(), Some("q=a%20b&z=1"));
    }

    #[test]
    fn sigv4_host_includes_non_default_port_and_resigning_replaces_headers() {
        let mut request = get("http://localhost:4566/");
        let parts = sign_vector(&mut request);
        assert!(parts.canonical_request.contains("\nhost:localhost:4566\n"));
        let first = auth_header(&request);
        sign_vector(&mut request);
        assert_eq!(auth_header(&request), first);
        assert_eq!(request.headers().get_all(AUTHORIZATION).iter().count(), 1);
    }

    #[tokio::test]
    async fn aws4_credentials_sign_via_apply() {
        let auth = Authenticator::new(Credentials::Aws4 {
            access_key_id: Secret::new(AKID),
            secret_key: Secret::new(AWS_SECRET),
            session_token: None,
            region: "eu-west-1".into(),
            service: "ce".into(),
        });
        let request = apply(&auth, "https://ce.eu-west-1.amazonaws.com/")
            .await
            .unwrap();
        let authorization = auth_header(&request);
        assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
        assert!(authorization
            .contains("/eu-west-1/ce/aws4_request, SignedHeaders=host;x-amz-date, Signature="));
        assert!(!authorization.contains(AWS_SECRET));
    }

    // ----- OAuth2 ----------------------------------------------------------------------

    fn oauth(server: &MockServer, client_auth: ClientAuth, refresh: Option<&str>) -> OAuth2Config {
        OAuth2Config {
            token_url: url::Url::parse(&format!("{}/oauth/token", server.uri())).unwrap(),
            client_id: Secret::new("my-client"),
            client_secret: Secret::new(CLIENT_SECRET),
            refresh_token: refresh.map(Secret::new),
            scopes: Some("read write".into()),
            audience: None,
            client_auth,
        }
    }

    fn token(access: &str, expires_in: u64) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": expires_in,
        }))
    }

    #[tokio::test]
    async fn oauth2_client_credentials_with_client_secret_basic() {
        let server = MockServer::start().await;
        let basic = format!(
            "Basic {}",
            BASE64.encode(format!("my-client:{CLIENT_SECRET}"))
        );
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(header("authorization", basic.as_str()))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(header("accept", "application/json"))
            .and(body_string(
                "grant_type=client_credentials&scope=read+write",
            ))
            .respond_with(token("access-1", 3600))
            .expect(1)
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
        let request = apply(&auth, "https://api.example.com/x").await.unwrap();
        assert_eq!(auth_header(&request), "Bearer access-1");
        assert!(auth.secrets().contains(&"access-1".to_string()));
    }

    #[tokio::test]
    async fn oauth2_client_credentials_with_client_secret_post() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(body_string(format!(
                "grant_type=client_credentials&scope=read+write\
                 &audience=https%3A%2F%2Fapi.example.com\
                 &client_id=my-client&client_secret={CLIENT_SECRET}"
            )))
            .respond_with(token("access-post", 3600))
            .expect(1)
            .mount(&server)
            .await;
        let mut config = oauth(&server, ClientAuth::Post, None);
        config.audience = Some("https://api.example.com".into());
        let auth = Authenticator::new(Credentials::OAuth2(config));
        let request = apply(&auth, "https://api.example.com/x").await.unwrap();
        assert_eq!(auth_header(&request), "Bearer access-post");
        let received = server.received_requests().await.unwrap();
        assert!(received[0].headers.get("authorization").is_none());
    }

    #[tokio::test]
    async fn oauth2_refresh_grant_follows_rotation() {
        let server = MockServer::start().await;
        let rotate = |access: &str, next: &str| {
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": access,
                "refresh_token": next,
                "expires_in": 30,
            }))
        };
        Mock::given(method("POST"))
            .and(body_string(format!(
                "grant_type=refresh_token&refresh_token={REFRESH}&scope=read+write"
            )))
            .respond_with(rotate("access-1", "refresh-token-two"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_string(
                "grant_type=refresh_token&refresh_token=refresh-token-two&scope=read+write",
            ))
            .respond_with(rotate("access-2", "refresh-token-three"))
            .expect(1)
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(
            &server,
            ClientAuth::Basic,
            Some(REFRESH),
        )));
        // expires_in 30 is inside the 60 s margin, so every apply refreshes.
        let first = apply(&auth, "https://api.example.com/x").await.unwrap();
        assert_eq!(auth_header(&first), "Bearer access-1");
        let second = apply(&auth, "https://api.example.com/x").await.unwrap();
        assert_eq!(auth_header(&second), "Bearer access-2");
        let secrets = auth.secrets();
        assert!(secrets.contains(&"refresh-token-three".to_string()));
        assert!(secrets.contains(&REFRESH.to_string()));
    }

    #[tokio::test]
    async fn rotated_oauth2_tokens_leave_the_redaction_list() {
        let server = MockServer::start().await;
        let rotate = |access: &str, next: &str| {
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": access,
                "refresh_token": next,
                "expires_in": 30,
            }))
        };
        Mock::given(method("POST"))
            .and(body_string(format!(
                "grant_type=refresh_token&refresh_token={REFRESH}&scope=read+write"
            )))
            .respond_with(rotate("rot-access-one", "rot-refresh-two"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_string(
                "grant_type=refresh_token&refresh_token=rot-refresh-two&scope=read+write",
            ))
            .respond_with(rotate("rot-access-three", "rot-refresh-four"))
            .expect(1)
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(
            &server,
            ClientAuth::Basic,
            Some(REFRESH),
        )));
        apply(&auth, "https://api.example.com/x").await.unwrap();
        assert!(crate::secret::is_registered("rot-access-one"));
        assert!(crate::secret::is_registered("rot-refresh-two"));
        apply(&auth, "https://api.example.com/x").await.unwrap();
        // The replaced tokens are gone; the current ones and the configured one stay.
        assert!(!crate::secret::is_registered("rot-access-one"));
        assert!(!crate::secret::is_registered("rot-refresh-two"));
        assert!(crate::secret::is_registered("rot-access-three"));
        assert!(crate::secret::is_registered("rot-refresh-four"));
        assert_eq!(
            crate::secret::redact("rot-access-three rot-refresh-four"),
            "*** ***"
        );
    }

    #[tokio::test]
    async fn oauth2_token_is_cached() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(token("cached-access", 3600))
            .expect(1)
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
        for _ in 0..2 {
            let request = apply(&auth, "https://api.example.com/x").await.unwrap();
            assert_eq!(auth_header(&request), "Bearer cached-access");
        }
    }

    #[tokio::test]
    async fn oauth2_token_without_expiry_is_cached() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({ "access_token": "forever" })),
            )
            .expect(1)
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
        apply(&auth, "https://api.example.com/x").await.unwrap();
        let request = apply(&auth, "https://api.example.com/x").await.unwrap();
        assert_eq!(auth_header(&request), "Bearer forever");
    }

    #[tokio::test]
    async fn oauth2_huge_expires_in_does_not_overflow() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(token("long-lived", u64::MAX))
            .expect(1)
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
        apply(&auth, "https://api.example.com/x").await.unwrap();
        apply(&auth, "https://api.example.com/x").await.unwrap();
    }

    #[tokio::test]
    async fn oauth2_expiring_token_is_refetched() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(token("short-lived", 5))
            .expect(2)
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
        apply(&auth, "https://api.example.com/x").await.unwrap();
        apply(&auth, "https://api.example.com/x").await.unwrap();
    }

    #[tokio::test]
    async fn oauth2_invalidate_forces_refetch() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(token("access", 3600))
            .expect(2)
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
        apply(&auth, "https://api.example.com/x").await.unwrap();
        assert!(auth.invalidate());
        apply(&auth, "https://api.example.com/x").await.unwrap();
    }

    #[tokio::test]
    async fn oauth2_error_status_is_reported_without_secrets() {
        let server = MockServer::start().await;
        // The body echoes the secret back, as some badly behaved endpoints do.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("client secret {CLIENT_SECRET} is wrong"),
            })))
            .expect(1)
            .mount(&server)
            .await;
        let config = oauth(&server, ClientAuth::Post, None);
        let token_url = config.token_url.to_string();
        let auth = Authenticator::new(Credentials::OAuth2(config));
        let err = apply(&auth, "https://api.example.com/x").await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, AuthError::TokenStatus { .. }), "{text}");
        assert!(text.contains(&token_url), "{text}");
        assert!(text.contains("400"), "{text}");
        assert!(text.contains("invalid_client"), "{text}");
        assert!(!text.contains(CLIENT_SECRET), "{text}");
        assert!(!format!("{err:?}").contains(CLIENT_SECRET));
    }

    #[tokio::test]
    async fn oauth2_refresh_rejected_is_reported_without_secrets() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_string(format!(
                "invalid_grant: refresh_token={REFRESH} client_secret={CLIENT_SECRET} \
                 access_token=leaked-access"
            )))
            .expect(1)
            .mount(&server)
            .await;
        let config = oauth(&server, ClientAuth::Basic, Some(REFRESH));
        let token_url = config.token_url.to_string();
        let auth = Authenticator::new(Credentials::OAuth2(config));
        let err = apply(&auth, "https://api.example.com/x").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&token_url), "{text}");
        assert!(text.contains("401"), "{text}");
        assert!(!text.contains(REFRESH), "{text}");
        assert!(!text.contains(CLIENT_SECRET), "{text}");
    }

    #[tokio::test]
    async fn oauth2_error_json_masks_token_fields() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
                "access_token": "unknown-leaked-token",
                "error": "server_error",
            })))
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
        let text = apply(&auth, "https://api.example.com/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(text.contains("server_error"), "{text}");
        assert!(!text.contains("unknown-leaked-token"), "{text}");
    }

    #[tokio::test]
    async fn oauth2_response_without_access_token() {
        let server = MockServer::start().await;
        // GitHub-style: 200 with an error object.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "error": "bad_verification_code",
                "error_description": "The code passed is incorrect or expired.",
            })))
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
        let err = apply(&auth, "https://api.example.com/x").await.unwrap_err();
        assert!(matches!(err, AuthError::MissingAccessToken { .. }), "{err}");
        assert!(err.to_string().contains("bad_verification_code"), "{err}");
    }

    #[tokio::test]
    async fn oauth2_form_encoded_token_response() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string("access_token=form-token&token_type=bearer&expires_in=3600"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
        let request = apply(&auth, "https://api.example.com/x").await.unwrap();
        assert_eq!(auth_header(&request), "Bearer form-token");
        apply(&auth, "https://api.example.com/x").await.unwrap();
    }

    #[tokio::test]
    async fn oauth2_unreachable_endpoint() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let auth = Authenticator::new(Credentials::OAuth2(OAuth2Config {
            token_url: url::Url::parse(&format!("http://127.0.0.1:{port}/token")).unwrap(),
            client_id: Secret::new("my-client"),
            client_secret: Secret::new(CLIENT_SECRET),
            refresh_token: None,
            scopes: None,
            audience: None,
            client_auth: ClientAuth::Basic,
        }));
        let err = apply(&auth, "https://api.example.com/x").await.unwrap_err();
        assert!(matches!(err, AuthError::TokenUnreachable { .. }), "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}/token")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn oauth2_concurrent_applies_fetch_once() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(token("shared-access", 3600).set_delay(Duration::from_millis(200)))
            .expect(1)
            .mount(&server)
            .await;
        let auth = Arc::new(Authenticator::new(Credentials::OAuth2(oauth(
            &server,
            ClientAuth::Basic,
            None,
        ))));
        let http = reqwest::Client::new();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let auth = Arc::clone(&auth);
                let http = http.clone();
                tokio::spawn(async move {
                    let mut request = get("https://api.example.com/x");
                    auth.apply(&http, &mut request).await.unwrap();
                    auth_header(&request)
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), "Bearer shared-access");
        }
    }

    #[tokio::test]
    async fn oauth2_concurrent_applies_share_a_short_lived_token() {
        // Even a token inside the refresh margin is shared by callers that were waiting
        // for the fetch that produced it.
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(token("short-shared", 30).set_delay(Duration::from_millis(200)))
            .expect(1)
            .mount(&server)
            .await;
        let auth = Arc::new(Authenticator::new(Credentials::OAuth2(oauth(
            &server,
            ClientAuth::Basic,
            None,
        ))));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let auth = Arc::clone(&auth);
                tokio::spawn(async move {
                    let mut request = get("https://api.example.com/x");
                    auth.apply(&reqwest::Client::new(), &mut request)
                        .await
                        .unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }
}
