//! Request authentication for REST connections.
//!
//! This module owns everything between "resolved credentials" and "a request the API
//! accepts": the [`Credentials`] of one connection, the [`Authenticator`] that applies them
//! to fully built requests (Basic, Bearer, extra headers, extra query parameters, AWS
//! Signature Version 4 via [`sigv4_sign`], and OAuth2 client-credentials / refresh-token
//! grants with a cached, single-flight access token), and [`AuthError`].
//!
//! * `mod.rs` — the public types and the [`Authenticator`]'s front door (`apply`,
//!   `invalidate`, `secrets`);
//! * `oauth.rs` — the OAuth2 token cache: single-flight fetches, expiry, refresh-token
//!   rotation, the token endpoint request and its answer;
//! * `sigv4.rs` — AWS Signature Version 4 signing;
//! * `redact.rs` — what of a token endpoint's answer may be quoted in an error.
//!
//! Secrets never leave this module in `Debug` output or error messages: credentials print
//! only their variant and non-secret fields, and token-endpoint error bodies are scrubbed
//! of the client secret, refresh tokens and access tokens before they are quoted. The
//! module never retries, logs a secret, or follows a token endpoint's redirect.

mod oauth;
mod redact;
mod sigv4;

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use crate::secret::Secret;
use oauth::{grant_name, OAuthState};
pub use sigv4::sigv4_sign;

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

impl Authenticator {
    /// An authenticator for one connection's credentials.
    pub fn new(credentials: Credentials) -> Self {
        let refresh_token = match &credentials {
            Credentials::OAuth2(config) => config.refresh_token.clone(),
            _ => None,
        };
        Authenticator {
            credentials,
            oauth: OAuthState::new(refresh_token),
        }
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
                append_params(request.url_mut(), params);
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
                let token = self.oauth.token(http, config).await?;
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
                self.oauth.forget_access();
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
                for token in self.oauth.live_tokens() {
                    add(token.expose());
                }
            }
        }
        out
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Authenticator");
        s.field("credentials", &self.credentials);
        if matches!(self.credentials, Credentials::OAuth2(_)) {
            s.field("token_cached", &self.oauth.token_cached());
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

/// Append the credential query parameters to `url`. A URL that already carries one of
/// them (a redirect or a next link that echoes it) gets it replaced, not repeated.
fn append_params(url: &mut url::Url, params: &[(String, Secret)]) {
    if params.is_empty() {
        return;
    }
    let ours = |k: &str| params.iter().any(|(name, _)| name == k);
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

#[cfg(test)]
mod tests;
