//! One connection's HTTP client: auth, the shared rate limiter and concurrency cap,
//! timeouts, and retries with exponential backoff and jitter for 429, 5xx and
//! network failures, honouring `Retry-After`.
//!
//! Credentials (the connection's auth and the spec's headers, which may carry
//! `${option}` secrets) go only to the origin of `base_url`. Redirects are followed
//! here, not by reqwest (whose policy strips only `Authorization`): a hop to the same
//! origin is authenticated again; a hop to another origin is a bare request, without
//! credentials or spec headers, and a redirected request body is never sent to another
//! origin. No `Referer` is ever sent.
//!
//! Bodies are read with a size cap (`max_response_mb`, default 256 MB) applied to the
//! decompressed bytes as they arrive, so a small gzip body that inflates to gigabytes
//! fails early with one clear line and memory stays near the cap.
//!
//! Errors name the status and the URL with secrets redacted, and carry a short excerpt
//! of the body (also redacted).

use super::auth::{AuthError, Authenticator};
use super::paging::PagingError;
use super::params::ParamError;
use super::FetchStats;
use crate::adapters::connections::Connection;
use crate::adapters::spec::{RateLimit, RetryPolicy};
use crate::secret::redact;
use governor::{DefaultDirectRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Requests in flight per connection when the spec sets no `max_concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Redirects followed for one request before giving up.
pub const MAX_REDIRECTS: u32 = 10;

/// A completed HTTP exchange with a 2xx status.
#[derive(Debug)]
pub struct Response {
    /// The URL requested (may contain secrets: redact before showing).
    pub url: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Link` header.
    pub link: Option<String>,
    /// The body.
    pub body: bytes::Bytes,
    /// Hash of the body (loop detection).
    pub body_hash: u64,
}

/// Why a table could not be fetched. Every variant's message names the URL, redacted.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// 401 or 403.
    #[error("API call unauthorized: HTTP {status} from {method} {url}: {body}")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// Method.
        method: String,
        /// URL, redacted.
        url: String,
        /// Body excerpt, redacted.
        body: String,
    },
    /// Any other non-2xx status (after retries for 429/5xx).
    #[error("HTTP {status} from {method} {url}{attempts}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Method.
        method: String,
        /// URL, redacted.
        url: String,
        /// " (after N attempts)" when retried.
        attempts: String,
        /// Body excerpt, redacted.
        body: String,
    },
    /// No answer within the timeout, on every attempt.
    #[error("{method} {url} timed out after {secs}s ({attempts} attempts)")]
    Timeout {
        /// Method.
        method: String,
        /// URL, redacted.
        url: String,
        /// Per-request timeout.
        secs: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// Connection refused, DNS failure, TLS error… on every attempt.
    #[error("cannot reach {method} {url} ({attempts} attempts): {message}")]
    Network {
        /// Method.
        method: String,
        /// URL, redacted.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What failed.
        message: String,
    },
    /// The body is larger than the spec's `max_response_mb` once decompressed.
    #[error("{method} {url}: the response is larger than {limit} once decompressed; stopped reading it (raise max_response_mb in the spec if the API really sends pages this large)")]
    TooLarge {
        /// Method.
        method: String,
        /// URL, redacted.
        url: String,
        /// The limit, e.g. "256 MB".
        limit: String,
    },
    /// A redirect that is not followed.
    #[error("{method} {url}: {message}")]
    Redirect {
        /// Method.
        method: String,
        /// URL, redacted.
        url: String,
        /// Why it was not followed.
        message: String,
    },
    /// The body is not JSON.
    #[error("{url} returned a body that is not JSON ({content_type}): {message}; body starts: {excerpt}")]
    NotJson {
        /// URL, redacted.
        url: String,
        /// The Content-Type header.
        content_type: String,
        /// Parser message.
        message: String,
        /// Body excerpt, redacted.
        excerpt: String,
    },
    /// The first page lacks `result_body_path`.
    #[error("{url}: the response has no '{path}' (result_body_path); its keys are: {keys}")]
    MissingBodyPath {
        /// URL, redacted.
        url: String,
        /// The path.
        path: String,
        /// Keys the body does have.
        keys: String,
    },
    /// The pager stopped to avoid a loop or a truncation.
    #[error("{source} (last URL {url})", url = redact(url))]
    Paging {
        /// The URL of the page.
        url: String,
        /// What the pager saw.
        source: PagingError,
    },
    /// A param could not be expanded or placed.
    #[error(transparent)]
    Params(ParamError),
    /// The API reported an error in a 200 response (`error_path`).
    #[error("the API reported an error at {url}: {message}")]
    Api {
        /// URL, redacted.
        url: String,
        /// The API's message, redacted.
        message: String,
    },
    /// A URL could not be built.
    #[error("invalid URL {url}: {message}")]
    InvalidUrl {
        /// The URL text.
        url: String,
        /// Why.
        message: String,
    },
    /// Authentication failed before the request was sent.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The writer stopped taking pages (it failed; its error is the one to report).
    #[error("the table writer stopped")]
    WriterStopped,
}

/// A rate limit plus a cap on requests in flight. One belongs to each connection and
/// is shared by every job; a table with its own `rate_limit` gets a second one that
/// applies on top of the connection's.
pub struct Limiter {
    rate: Option<DefaultDirectRateLimiter>,
    permits: Semaphore,
    concurrency: usize,
}

impl Limiter {
    /// A limiter for `rate_limit`; a spec `throttle` (pause between pages) becomes one
    /// request at a time at most once per pause.
    pub fn new(rate_limit: Option<RateLimit>, throttle: Option<Duration>) -> Limiter {
        let mut period = rate_limit.map(|rl| Duration::from_secs_f64(1.0 / rl.requests_per_second));
        let mut burst = rate_limit.map(|rl| rl.burst.max(1)).unwrap_or(1);
        let mut concurrency = rate_limit
            .map(|r| r.max_concurrency)
            .unwrap_or(DEFAULT_CONCURRENCY)
            .max(1);
        if let Some(pause) = throttle.filter(|d| !d.is_zero()) {
            period = Some(period.map_or(pause, |p| p.max(pause)));
            burst = 1;
            concurrency = 1;
        }
        let rate = period.map(|period| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            governor::RateLimiter::direct(quota)
        });
        Limiter {
            rate,
            permits: Semaphore::new(concurrency),
            concurrency,
        }
    }

    /// Requests allowed in flight at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Wait for a slot and a token; the permit is held for the request's duration.
    async fn admit(
        &self,
        cancel: &CancellationToken,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, FetchError> {
        let permit = tokio::select! {
            p = self.permits.acquire() => p.map_err(|_| FetchError::Cancelled)?,
            _ = cancel.cancelled() => return Err(FetchError::Cancelled),
        };
        if let Some(rate) = &self.rate {
            tokio::select! {
                _ = rate.until_ready() => {}
                _ = cancel.cancelled() => return Err(FetchError::Cancelled),
            }
        }
        Ok(permit)
    }
}

/// The shared client of one connection.
pub struct RestClient {
    connection: Arc<Connection>,
    http: reqwest::Client,
    auth: Authenticator,
    limiter: Limiter,
    retry: RetryPolicy,
    timeout: Duration,
    /// The origin of `base_url`: the only one that receives credentials.
    origin: Option<url::Origin>,
    /// The most bytes a response body may have, decompressed.
    max_response: u64,
}

/// Why an exchange (a request and its redirects) produced no response.
enum HopError {
    /// Not worth retrying.
    Fatal(FetchError),
    /// A network failure (retried).
    Network(reqwest::Error),
}

/// A response as one attempt received it, body read.
struct Received {
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    quota_reset: Option<Duration>,
    content_type: Option<String>,
    link: Option<String>,
    url: String,
    bytes: bytes::Bytes,
}

impl Received {
    fn into_response(self) -> Response {
        Response {
            url: self.url,
            content_type: self.content_type,
            link: self.link,
            body_hash: super::body_hash(&self.bytes),
            body: self.bytes,
        }
    }
}

/// Why an attempt received no response.
enum Unreceived {
    /// Not worth retrying.
    Fatal(FetchError),
    /// Sending failed on the network (retried).
    Network(reqwest::Error),
    /// The connection failed mid-body (retried).
    Body(reqwest::Error),
}

/// What follows an unsuccessful status.
enum Next {
    /// Back off (at least the server's wait, if it gave one), then try again.
    Retry(Option<Duration>),
    /// Try again at once (credentials were refreshed).
    Again,
    /// Give up.
    Fail(FetchError),
}

/// Why a body could not be read.
pub(crate) enum ReadError {
    /// Over the cap.
    TooLarge,
    /// The connection failed mid-body.
    Network(reqwest::Error),
}

/// Read a response body, failing as soon as it exceeds `cap` bytes. The cap applies
/// to the bytes as decompressed (reqwest inflates gzip as the chunks arrive), so a
/// compression bomb is stopped after `cap` bytes, not after inflating.
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    cap: u64,
) -> Result<bytes::Bytes, ReadError> {
    let announced = response.content_length();
    if announced.is_some_and(|n| n > cap) {
        return Err(ReadError::TooLarge);
    }
    // Trust an announced length only up to the cap (and a modest first allocation).
    let initial = announced.unwrap_or(0).min(cap).min(16 << 20) as usize;
    let mut body = bytes::BytesMut::with_capacity(initial);
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Network)? {
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A byte count as a human size limit ("256 MB", "0.5 MB", "900 bytes").
pub fn size_text(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mb = bytes as f64 / MB as f64;
    if (mb - mb.round()).abs() < 1e-9 {
        format!("{} MB", mb.round() as u64)
    } else {
        format!("{mb:.2} MB")
    }
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("schema", &self.connection.schema)
            .field("concurrency", &self.limiter.concurrency)
            .finish()
    }
}

impl RestClient {
    /// The client of `connection`, limited by its spec's `rate_limit` and `throttle`.
    pub fn new(connection: Arc<Connection>) -> Self {
        let spec = &connection.spec;
        let http = reqwest::Client::builder()
            .user_agent(concat!("unify/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(32)
            // Redirects are followed by `exchange`, which decides what each hop may
            // carry; and no hop ever says where the previous one was.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .expect("a reqwest client with rustls and built-in roots always builds");
        let origin = url::Url::parse(&format!("{}/", connection.base_url))
            .ok()
            .map(|u| u.origin())
            .filter(url::Origin::is_tuple);
        let limiter = Limiter::new(spec.rate_limit, spec.throttle);
        let auth = Authenticator::new(connection.credentials.clone());
        for s in auth.secrets() {
            crate::secret::register(&s);
        }
        RestClient {
            retry: spec.retry,
            timeout: spec.timeout,
            origin,
            max_response: spec.max_response_bytes,
            http,
            auth,
            limiter,
            connection,
        }
    }

    /// The connection this client serves.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Requests allowed in flight at once.
    pub fn concurrency(&self) -> usize {
        self.limiter.concurrency
    }

    /// Send one request, retrying 429/5xx/network failures with backoff. `extra` is a
    /// table-level limiter applied on top of the connection's.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: url::Url,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
        extra: Option<&Limiter>,
        cancel: &CancellationToken,
        stats: &FetchStats,
    ) -> Result<Response, FetchError> {
        let shown = redact(url.as_str());
        let request = (&method, &url, headers.as_slice(), body.as_deref());
        let mut attempt = 0u32;
        let mut reauthed = false;
        loop {
            attempt += 1;
            let more = attempt < self.retry.max_attempts;
            let received = match self.receive(request, extra, cancel, stats).await {
                Ok(received) => received,
                Err(Unreceived::Fatal(e)) => return Err(e),
                Err(Unreceived::Body(_)) if more => {
                    self.backoff(attempt, None, cancel).await?;
                    continue;
                }
                Err(Unreceived::Body(e)) => {
                    return Err(network_error(&method, &shown, attempt, &e))
                }
                Err(Unreceived::Network(e)) if more => {
                    tracing::info!(url = %shown, attempt, error = %redact(&e.to_string()), "retrying");
                    self.backoff(attempt, None, cancel).await?;
                    continue;
                }
                Err(Unreceived::Network(e)) => {
                    return Err(self.network_failure(&method, &shown, attempt, &e))
                }
            };
            if received.status.is_success() {
                return Ok(received.into_response());
            }
            match self.after_status(&received, attempt, &mut reauthed, &method, &shown) {
                Next::Retry(wait) => self.backoff(attempt, wait, cancel).await?,
                Next::Again => {}
                Next::Fail(e) => return Err(e),
            }
        }
    }

    /// One attempt: wait for the limiters, send (following redirects), read the body
    /// within the size cap. The permits are held until the body is read.
    async fn receive(
        &self,
        (method, url, headers, body): (
            &reqwest::Method,
            &url::Url,
            &[(String, String)],
            Option<&[u8]>,
        ),
        extra: Option<&Limiter>,
        cancel: &CancellationToken,
        stats: &FetchStats,
    ) -> Result<Received, Unreceived> {
        let table_permit = match extra {
            Some(l) => Some(l.admit(cancel).await.map_err(Unreceived::Fatal)?),
            None => None,
        };
        let _permits = (
            self.limiter
                .admit(cancel)
                .await
                .map_err(Unreceived::Fatal)?,
            table_permit,
        );
        let (mut resp, final_url) = match self
            .exchange(method, url, headers, body, cancel, stats)
            .await
        {
            Ok(r) => r,
            Err(HopError::Fatal(e)) => return Err(Unreceived::Fatal(e)),
            Err(HopError::Network(e)) => return Err(Unreceived::Network(e)),
        };
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let quota_reset = quota_exhausted(resp.headers());
        let content_type = header(resp.headers(), reqwest::header::CONTENT_TYPE);
        let link = header(resp.headers(), reqwest::header::LINK);
        let bytes = tokio::select! {
            b = read_capped(&mut resp, self.max_response) => b,
            _ = cancel.cancelled() => return Err(Unreceived::Fatal(FetchError::Cancelled)),
        };
        let final_url = final_url.to_string();
        let bytes = match bytes {
            Ok(b) => b,
            Err(ReadError::TooLarge) => {
                return Err(Unreceived::Fatal(FetchError::TooLarge {
                    method: method.to_string(),
                    url: redact(&final_url),
                    limit: size_text(self.max_response),
                }))
            }
            Err(ReadError::Network(e)) => return Err(Unreceived::Body(e)),
        };
        Ok(Received {
            status,
            retry_after,
            quota_reset,
            content_type,
            link,
            url: final_url,
            bytes,
        })
    }

    /// What to do after an unsuccessful status: wait for an exhausted quota's reset,
    /// re-authenticate once on 401/403, retry 408/429/5xx with backoff, or fail.
    fn after_status(
        &self,
        r: &Received,
        attempt: u32,
        reauthed: &mut bool,
        method: &reqwest::Method,
        shown: &str,
    ) -> Next {
        let code = r.status.as_u16();
        let more = attempt < self.retry.max_attempts;
        let status_error = |attempts: String| FetchError::Status {
            status: code,
            method: method.to_string(),
            url: shown.to_string(),
            attempts,
            body: excerpt(&r.bytes),
        };
        // GitHub answers an exhausted quota with 403; others with 429 and only an
        // X-RateLimit-Reset. Wait for the reset, then retry.
        if let (403 | 429, Some(reset)) = (code, r.quota_reset) {
            if more && reset <= self.retry.max_backoff {
                tracing::info!(status = code, url = %shown, wait_s = reset.as_secs_f64(), "rate limit exhausted; waiting for the reset");
                return Next::Retry(Some(reset));
            }
            let resets = format!(" (rate limit exhausted; it resets in {}s)", reset.as_secs());
            return Next::Fail(status_error(resets));
        }
        if (code == 401 || code == 403) && !*reauthed && self.auth.invalidate() {
            *reauthed = true;
            return Next::Again;
        }
        if code == 401 || code == 403 {
            return Next::Fail(FetchError::Unauthorized {
                status: code,
                method: method.to_string(),
                url: shown.to_string(),
                body: excerpt(&r.bytes),
            });
        }
        let retryable = code == 429 || code == 408 || (500..600).contains(&code);
        if retryable && more {
            tracing::info!(status = code, url = %shown, attempt, "retrying");
            return Next::Retry(r.retry_after);
        }
        Next::Fail(status_error(if attempt > 1 {
            format!(" (after {attempt} attempts)")
        } else {
            String::new()
        }))
    }

    /// The error for a request whose last attempt failed on the network.
    fn network_failure(
        &self,
        method: &reqwest::Method,
        shown: &str,
        attempts: u32,
        failure: &reqwest::Error,
    ) -> FetchError {
        if failure.is_timeout() {
            return FetchError::Timeout {
                method: method.to_string(),
                url: shown.to_string(),
                secs: self.timeout.as_secs().max(1),
                attempts,
            };
        }
        network_error(method, shown, attempts, failure)
    }

    /// True when `url` is on the origin of `base_url`, the only one that gets credentials.
    pub fn trusts(&self, url: &url::Url) -> bool {
        self.origin.as_ref().is_some_and(|o| *o == url.origin())
    }

    /// One request and the redirects it leads to (at most [`MAX_REDIRECTS`]). Each hop
    /// to `base_url`'s origin carries the credentials and spec headers; a hop elsewhere
    /// carries neither. 303 (and 301/302 after a POST) turn into a GET without body;
    /// 307/308 keep the method and body, which never go to another origin.
    async fn exchange(
        &self,
        method: &reqwest::Method,
        url: &url::Url,
        headers: &[(String, String)],
        body: Option<&[u8]>,
        cancel: &CancellationToken,
        stats: &FetchStats,
    ) -> Result<(reqwest::Response, url::Url), HopError> {
        let mut method = method.clone();
        let mut url = url.clone();
        let mut body = body;
        let mut hops = 0u32;
        loop {
            let trusted = self.trusts(&url);
            let spec_headers = if trusted { headers } else { &[] };
            let mut request = self
                .build(&method, &url, spec_headers, body)
                .map_err(HopError::Fatal)?;
            if trusted {
                self.auth
                    .apply(&self.http, &mut request)
                    .await
                    .map_err(|e| HopError::Fatal(e.into()))?;
            }
            stats.requests.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(method = %method, url = %redact(request.url().as_str()), credentials = trusted, "request");
            let response = tokio::select! {
                r = self.http.execute(request) => r.map_err(HopError::Network)?,
                _ = cancel.cancelled() => return Err(HopError::Fatal(FetchError::Cancelled)),
            };
            let status = response.status().as_u16();
            let location = match status {
                301 | 302 | 303 | 307 | 308 => response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                _ => None,
            };
            let Some(location) = location else {
                return Ok((response, url));
            };
            hops += 1;
            let next = self.redirect(status, &location, hops, &mut method, &url, &mut body)?;
            // The response is dropped unread: its connection is not reused, which is
            // cheaper than reading an arbitrary redirect body.
            drop(response);
            url = next;
        }
    }

    /// The next hop of a redirect (`status` to `location`, the `hops`-th): refused when
    /// there are too many, when it is not http(s), or when it would carry the request
    /// body to another origin. 303 (and 301/302 after a POST) turn into a GET without
    /// body.
    fn redirect(
        &self,
        status: u16,
        location: &str,
        hops: u32,
        method: &mut reqwest::Method,
        url: &url::Url,
        body: &mut Option<&[u8]>,
    ) -> Result<url::Url, HopError> {
        let refuse = |method: &reqwest::Method, url: &url::Url, message: String| {
            HopError::Fatal(FetchError::Redirect {
                method: method.to_string(),
                url: redact(url.as_str()),
                message,
            })
        };
        if hops > MAX_REDIRECTS {
            return Err(refuse(
                method,
                url,
                format!("more than {MAX_REDIRECTS} redirects; stopping"),
            ));
        }
        let next = url.join(location).map_err(|e| {
            refuse(
                method,
                url,
                format!(
                    "HTTP {status} redirects to an invalid URL '{}': {e}",
                    redact(location)
                ),
            )
        })?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(refuse(
                method,
                url,
                format!(
                    "HTTP {status} redirects to '{}', which is not an http(s) URL",
                    redact(next.as_str())
                ),
            ));
        }
        let keeps_body = matches!(status, 307 | 308);
        if !keeps_body && (status == 303 || *method == reqwest::Method::POST) {
            *method = reqwest::Method::GET;
            *body = None;
        }
        let leaves = !self.trusts(&next);
        if leaves && body.is_some() {
            return Err(refuse(
            method,
            url,
            format!(
                "HTTP {status} asks to send the request body to another origin ({}); unify sends request bodies only to {}",
                next.origin().ascii_serialization(),
                self.origin_text()
            ),
        ));
        }
        if leaves {
            tracing::info!(from = %redact(url.as_str()), to = %redact(next.as_str()), "following a redirect to another origin, without credentials");
        }
        Ok(next)
    }

    fn origin_text(&self) -> String {
        self.origin
            .as_ref()
            .map(url::Origin::ascii_serialization)
            .unwrap_or_else(|| "base_url".into())
    }

    fn build(
        &self,
        method: &reqwest::Method,
        url: &url::Url,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<reqwest::Request, FetchError> {
        // Table headers replace the defaults (e.g. `Content-Type: application/x-amz-json-1.1`).
        let mut map = reqwest::header::HeaderMap::new();
        map.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        map.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        for (k, v) in headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| {
                FetchError::InvalidUrl {
                    url: redact(url.as_str()),
                    message: format!("invalid header name '{k}': {e}"),
                }
            })?;
            let value =
                reqwest::header::HeaderValue::from_str(v).map_err(|e| FetchError::InvalidUrl {
                    url: redact(url.as_str()),
                    message: format!("invalid value for header '{k}': {e}"),
                })?;
            map.insert(name, value);
        }
        let mut builder = self
            .http
            .request(method.clone(), url.clone())
            .timeout(self.timeout)
            .headers(map);
        if let Some(b) = body {
            builder = builder.body(b.to_vec());
        }
        builder.build().map_err(|e| FetchError::InvalidUrl {
            url: redact(url.as_str()),
            message: redact(&e.to_string()),
        })
    }

    /// Sleep before retry `attempt`: `Retry-After` when given (capped), else
    /// exponential backoff with jitter (50–100 % of the step).
    async fn backoff(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        cancel: &CancellationToken,
    ) -> Result<(), FetchError> {
        let cap = self.retry.max_backoff;
        let wait = match retry_after {
            Some(d) => d.min(cap),
            None => {
                let base = Duration::from_millis(250).saturating_mul(1u32 << attempt.min(16));
                let ceiling = base.min(cap);
                let jitter: f64 = rand::random::<f64>();
                Duration::from_secs_f64(ceiling.as_secs_f64() * (0.5 + jitter / 2.0))
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = cancel.cancelled() => Err(FetchError::Cancelled),
        }
    }
}

fn network_error(
    method: &reqwest::Method,
    url: &str,
    attempts: u32,
    e: &reqwest::Error,
) -> FetchError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    FetchError::Network {
        method: method.to_string(),
        url: url.to_string(),
        attempts,
        message: redact(&message),
    }
}

fn header(
    headers: &reqwest::header::HeaderMap,
    name: reqwest::header::HeaderName,
) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite())
            .then(|| Duration::from_secs_f64(secs.min(24.0 * 3600.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let delta = when.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// When a response says the rate-limit quota is used up (`X-RateLimit-Remaining: 0`
/// or `RateLimit-Remaining: 0`), how long until it resets. The reset header may be an
/// epoch time (GitHub) or a number of seconds (Datadog, the IETF draft).
pub fn quota_exhausted(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| headers.get(*n))
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
    };
    let remaining = get(&["x-ratelimit-remaining", "ratelimit-remaining"])?;
    if remaining.parse::<f64>().ok()? > 0.0 {
        return None;
    }
    let reset = get(&["x-ratelimit-reset", "ratelimit-reset"])
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or(1.0);
    let now = chrono::Utc::now().timestamp() as f64;
    let secs = if reset > 1_000_000_000.0 {
        reset - now
    } else {
        reset
    };
    Some(Duration::from_secs_f64(secs.clamp(0.0, 24.0 * 3600.0)))
}

/// The first 200 characters of a body, on one line, secrets redacted.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one_line.chars().take(200).collect();
    if one_line.chars().count() > 200 {
        cut.push('…');
    }
    if cut.is_empty() {
        cut = "(empty body)".into();
    }
    redact(&cut)
}
