//! The REST engine: one table definition + one connection → a stream of record pages.
//!
//! ```text
//! TableSpec.params ──expand──▶ ParamSet × N ──(concurrently, within the limiter)──▶
//!   Pager: first request ─▶ send (auth, rate limit, retries) ─▶ JSON ─▶ records ─▶ sink
//!          next request  ◀─ cursor / page / link from the page ◀┘
//! ```
//!
//! [`RestClient`] is one per connection and shared by every job of the process, so its
//! rate limiter and concurrency cap bound all traffic to that API together. Pages go
//! into a bounded channel; the receiver (the table writer) applies back-pressure, which
//! is what keeps memory bounded by a few pages whatever the table size.

pub mod auth;
pub mod client;
mod locate;
pub mod paging;
pub mod params;

use crate::adapters::connections::Connection;
use crate::adapters::spec::{Method, PagingStrategy, TableSpec};
use client::{FetchError, Response, RestClient};
use futures::{StreamExt, TryStreamExt};
use paging::{PageFacts, PageRequest, Pager};
use params::ParamSet;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Records of one fetched page, ready to flatten.
#[derive(Debug)]
pub struct FetchedPage {
    /// The records.
    pub records: Records,
    /// False for `result_object_path` tables, whose records are stored unflattened.
    pub flatten: bool,
}

/// One page of a parameter set, read.
struct Page {
    records: Records,
    rows: u64,
    /// The request for the page after it, if any.
    next: Option<PageRequest>,
    /// On the first page: the total the API announced, and the numbered pages
    /// (`(pages, page size)`) that remain to be fetched concurrently.
    total: Option<u64>,
    plan: Option<(u64, u64)>,
}

/// The records of a page, in one of two forms.
#[derive(Debug)]
pub enum Records {
    /// Parsed records (objects; scalars wrapped as `{"value": x}`), with meta paths and
    /// copied params already merged in.
    Values(Vec<Value>),
    /// The raw page and the byte range of each record in it: the writer flattens them
    /// straight from the text, so no JSON tree is ever built. Used when nothing but
    /// the records is read from the page (the common case).
    Raw {
        /// The response body.
        body: bytes::Bytes,
        /// Where each record is in `body`.
        ranges: Vec<std::ops::Range<usize>>,
        /// Copied params, added to every record.
        extra: Vec<(String, Value)>,
    },
}

impl Records {
    /// How many records.
    pub fn len(&self) -> usize {
        match self {
            Records::Values(v) => v.len(),
            Records::Raw { ranges, .. } => ranges.len(),
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Totals of one table fetch.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Pages received.
    pub pages: AtomicU64,
    /// Records received.
    pub records: AtomicU64,
    /// HTTP requests sent, retries included.
    pub requests: AtomicU64,
    /// Things worth a line in the load's log (an announced total that disagrees with
    /// what arrived); the engine records them, whatever the load's outcome.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

impl FetchStats {
    /// Record a warning for the load's log.
    pub fn warn(&self, message: String) {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }

    /// The warnings recorded so far (drained).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Everything one table fetch needs.
pub struct Fetch<'a> {
    /// The connection's client (auth, limiter, retries).
    pub client: &'a RestClient,
    /// The table.
    pub table: &'a TableSpec,
    /// Cancellation, checked at page boundaries and during waits.
    pub cancel: &'a CancellationToken,
    /// Counters, updated as pages arrive.
    pub stats: &'a FetchStats,
    /// The table's own rate limit, applied on top of the connection's.
    pub table_limit: Option<&'a client::Limiter>,
}

impl Fetch<'_> {
    /// Fetch every page of every parameter set into `sink`. Param sets run
    /// concurrently (bounded by the connection's concurrency cap).
    pub async fn run(
        &self,
        sets: Vec<ParamSet>,
        sink: &mpsc::Sender<FetchedPage>,
    ) -> Result<(), FetchError> {
        let concurrency = self.client.concurrency();
        futures::stream::iter(sets.into_iter().map(Ok))
            .try_for_each_concurrent(
                concurrency,
                |set| async move { self.fetch_set(set, sink).await },
            )
            .await
    }

    /// Fetch only the first page of one parameter set (for `connect`'s test request
    /// and `spec check --live`).
    pub async fn first_page(&self, set: &ParamSet) -> Result<Vec<Value>, FetchError> {
        let pager = Pager::new(self.table.paging.clone());
        let response = self.send(set, &pager.first()).await?;
        let body = self.parse(&response)?;
        self.count_records(&body, &response, true)?;
        Ok(extract_records(self.table, body, set))
    }

    /// True when nothing but the records is read from a page, so pages can go to the
    /// writer raw: no meta paths, no object path, no error path, and a pager that does
    /// not look inside the body (a total is read from the first page only).
    fn raw_mode(&self, first: bool) -> bool {
        let t = self.table;
        let pager_reads_body = match &t.paging {
            None => false,
            Some(p) => {
                (first && p.total_path.is_some())
                    || matches!(
                        p.strategy,
                        PagingStrategy::PagerToken { .. } | PagingStrategy::NextLink { .. }
                    )
            }
        };
        t.result_object_path.is_none()
            && t.result_meta_paths.is_empty()
            && t.error_path.is_none()
            && self.client.connection().spec.error_path.is_none()
            && !pager_reads_body
    }

    /// Find the records of a page without building a tree.
    fn locate(
        &self,
        response: &Response,
        set: &ParamSet,
        first: bool,
    ) -> Result<Records, FetchError> {
        let path: &[String] = self.table.result_body_path.as_deref().unwrap_or(&[]);
        let bytes = &response.body;
        let not_json = |e: serde_json::Error| FetchError::NotJson {
            url: crate::secret::redact(&response.url),
            content_type: response
                .content_type
                .clone()
                .unwrap_or_else(|| "no content type".into()),
            excerpt: client::excerpt(bytes),
            message: e.to_string(),
        };
        let extra: Vec<(String, Value)> = self
            .table
            .copy_params_to_output
            .iter()
            .filter_map(|name| set.get(name).map(|v| (name.clone(), v.clone())))
            .collect();
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Records::Raw {
                body: bytes.clone(),
                ranges: Vec::new(),
                extra,
            });
        }
        match locate::records(bytes, path).map_err(not_json)? {
            Some(ranges) => Ok(Records::Raw {
                body: bytes.clone(),
                ranges,
                extra,
            }),
            None if first => {
                let body: Value = serde_json::from_slice(bytes).map_err(not_json)?;
                Err(FetchError::MissingBodyPath {
                    url: crate::secret::redact(&response.url),
                    path: path.join("."),
                    keys: top_keys(&body),
                })
            }
            None => Ok(Records::Raw {
                body: bytes.clone(),
                ranges: Vec::new(),
                extra,
            }),
        }
    }

    async fn fetch_set(
        &self,
        set: ParamSet,
        sink: &mpsc::Sender<FetchedPage>,
    ) -> Result<(), FetchError> {
        let mut pager = Pager::new(self.table.paging.clone());
        let mut request = pager.first();
        let mut first = true;
        // The total the first page announced, and the records that actually came.
        let mut promised: Option<u64> = None;
        let mut arrived: u64 = 0;
        loop {
            if self.cancel.is_cancelled() {
                return Err(FetchError::Cancelled);
            }
            let Some(page) = self.fetch_page(&set, &request, &mut pager, first).await? else {
                return Ok(());
            };
            if first {
                promised = page.total;
            }
            first = false;
            arrived += page.rows;
            self.deliver(page.records, sink).await?;
            let next = match page.plan {
                Some((total, size)) => {
                    let (last_full, fetched) = self
                        .fetch_numbered(&pager, &set, 1, total, size, sink)
                        .await?;
                    arrived += fetched;
                    if !last_full || arrived >= promised.unwrap_or(u64::MAX) {
                        None
                    } else {
                        // More rows than the total promised: continue one page at a time.
                        let r = pager.numbered(total, size);
                        if r.is_some() {
                            pager.resume_at(total, size);
                        }
                        r
                    }
                }
                None => page.next,
            };
            match next {
                Some(r) => request = r,
                None => {
                    self.check_total(promised, arrived);
                    return Ok(());
                }
            }
        }
    }

    /// Fetch one page of a parameter set and show it to the pager; `None` when the API
    /// answered with a status the spec lists in `ignore_status` (no rows for this set).
    async fn fetch_page(
        &self,
        set: &ParamSet,
        request: &PageRequest,
        pager: &mut Pager,
        first: bool,
    ) -> Result<Option<Page>, FetchError> {
        let response = match self.send(set, request).await {
            Ok(r) => r,
            Err(FetchError::Status { status, .. })
                if self.table.ignore_status.contains(&status) =>
            {
                tracing::info!(table = %self.table.name, status, "status listed in ignore_status: no rows for this parameter set");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if let PageRequest::Url(url) = request {
            pager.saw_url(url);
        } else {
            pager.saw_url(&response.url);
        }
        let (body, raw) = if self.raw_mode(first) {
            (Value::Null, Some(self.locate(&response, set, first)?))
        } else {
            (self.parse(&response)?, None)
        };
        let rows = match &raw {
            Some(records) => records.len(),
            None => self.count_records(&body, &response, first)?,
        };
        let facts = PageFacts {
            rows,
            body: &body,
            link_header: response.link.as_deref(),
            body_hash: response.body_hash,
        };
        let next = pager.next(facts).map_err(|e| FetchError::Paging {
            url: response.url.clone(),
            source: e,
        })?;
        // A total on the first page: the remaining numbered pages are fetched
        // concurrently. Checked even after a short first page, since an API may
        // cap page sizes below the one asked for.
        let (total, plan) = if first {
            let plan = pager
                .plan(&body, rows as u64)
                .filter(|(pages, _)| *pages > 1);
            (pager.total(&body), plan)
        } else {
            (None, None)
        };
        // The pager has read what it needs: the records can move out of the body.
        let records = match raw {
            Some(records) => records,
            None => Records::Values(extract_records(self.table, body, set)),
        };
        Ok(Some(Page {
            records,
            rows: rows as u64,
            next,
            total,
            plan,
        }))
    }

    /// An announced total (`paging.total_path`) that disagrees with the records that
    /// arrived is worth a warning, never more requests.
    fn check_total(&self, promised: Option<u64>, arrived: u64) {
        let Some(promised) = promised.filter(|p| *p != arrived) else {
            return;
        };
        let how = if arrived < promised {
            "; paging stopped at the first empty page"
        } else {
            ""
        };
        self.stats.warn(format!(
            "{}: the API announced a total of {promised} records (paging.total_path) but {arrived} arrived{how}",
            self.table.name
        ));
    }

    /// Fetch numbered pages `from..to` of `page_size` rows, a few at a time (the
    /// connection's concurrency), in order; stops at the first empty page (or short
    /// page, with `stop: short_page`) whatever the total promised, so an API that
    /// announces more than it has costs at most one window of requests. Returns
    /// whether the last page was full, and the records fetched.
    async fn fetch_numbered(
        &self,
        pager: &Pager,
        set: &ParamSet,
        from: u64,
        to: u64,
        page_size: u64,
        sink: &mpsc::Sender<FetchedPage>,
    ) -> Result<(bool, u64), FetchError> {
        // Lazy: a total of a billion plans pages, it does not allocate them.
        let requests = (from..to).filter_map(|i| pager.numbered(i, page_size));
        let mut pages = futures::stream::iter(requests)
            .map(|req| async move {
                let response = self.send(set, &req).await?;
                if self.raw_mode(false) {
                    return self.locate(&response, set, false);
                }
                let body = self.parse(&response)?;
                Ok::<_, FetchError>(Records::Values(extract_records(self.table, body, set)))
            })
            .buffered(self.client.concurrency());
        let short_page_stops = matches!(
            self.table.paging.as_ref().map(|p| p.stop),
            Some(crate::adapters::spec::StopRule::ShortPage)
        );
        let mut last_full = false;
        let mut fetched = 0;
        while let Some(records) = pages.next().await {
            let records = records?;
            let rows = records.len() as u64;
            fetched += rows;
            last_full = rows >= page_size && rows > 0;
            self.deliver(records, sink).await?;
            if rows == 0 || (short_page_stops && !last_full) {
                // Pages still in flight are dropped unread: the data ended here.
                break;
            }
        }
        Ok((last_full, fetched))
    }

    async fn deliver(
        &self,
        records: Records,
        sink: &mpsc::Sender<FetchedPage>,
    ) -> Result<(), FetchError> {
        self.stats.pages.fetch_add(1, Ordering::Relaxed);
        self.stats
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        if records.is_empty() {
            return Ok(());
        }
        let page = FetchedPage {
            records,
            flatten: self.table.result_object_path.is_none(),
        };
        tokio::select! {
            sent = sink.send(page) => sent.map_err(|_| FetchError::WriterStopped),
            _ = self.cancel.cancelled() => Err(FetchError::Cancelled),
        }
    }

    async fn send(&self, set: &ParamSet, request: &PageRequest) -> Result<Response, FetchError> {
        let (url, body) = self.build(set, request)?;
        // A next-page URL (nextLink, linkHeader) is a resource to GET.
        let method = match (request, self.table.method) {
            (PageRequest::Url(_), _) | (_, Method::Get) => reqwest::Method::GET,
            (PageRequest::Params(_), Method::Post) => reqwest::Method::POST,
        };
        let headers = self.headers();
        self.client
            .send(
                method,
                url,
                headers,
                body,
                self.table_limit,
                self.cancel,
                self.stats,
            )
            .await
    }

    /// The URL and body for one request.
    fn build(
        &self,
        set: &ParamSet,
        request: &PageRequest,
    ) -> Result<(url::Url, Option<Vec<u8>>), FetchError> {
        let conn = self.client.connection();
        match request {
            PageRequest::Url(next) => {
                let base = url::Url::parse(&format!("{}/", conn.base_url)).map_err(|e| {
                    FetchError::InvalidUrl {
                        url: conn.base_url.clone(),
                        message: e.to_string(),
                    }
                })?;
                let url = base.join(next).map_err(|e| FetchError::InvalidUrl {
                    url: next.clone(),
                    message: e.to_string(),
                })?;
                // Credentials go only where the spec said: a next-page link to another
                // origin (or from https to http) is refused rather than followed.
                let authenticated = !matches!(conn.credentials, auth::Credentials::None);
                if authenticated && url.origin() != base.origin() {
                    return Err(FetchError::InvalidUrl {
                        url: crate::secret::redact(url.as_str()),
                        message: format!(
                            "the next-page link leaves {}; unify sends this connection's credentials only there",
                            base.origin().ascii_serialization()
                        ),
                    });
                }
                Ok((url, None))
            }
            PageRequest::Params(extra) => {
                let mut all = set.clone();
                for (k, v) in extra {
                    all.set(k, v.clone());
                }
                let lookup = |name: &str| option_value(conn, name);
                let table_path = crate::adapters::connections::fill(&self.table.path, &lookup)
                    .map_err(|missing| FetchError::InvalidUrl {
                        url: self.table.path.clone(),
                        message: format!("no connection option '{missing}' for ${{{missing}}}"),
                    })?;
                let (path, mut used) =
                    params::fill_path(&table_path, &all).map_err(FetchError::Params)?;
                let body = match (&self.table.post, self.table.method) {
                    (Some(template), _) => {
                        let (body, consumed) = params::fill_body(template, &all);
                        used.extend(consumed);
                        Some(serde_json::to_vec(&body).unwrap_or_default())
                    }
                    (None, Method::Post) => Some(b"{}".to_vec()),
                    (None, Method::Get) => None,
                };
                let joined = join_url(&conn.base_url, &path);
                let mut url = url::Url::parse(&joined).map_err(|e| FetchError::InvalidUrl {
                    url: joined.clone(),
                    message: e.to_string(),
                })?;
                {
                    let mut q = url.query_pairs_mut();
                    for (k, v) in &all.values {
                        if used.iter().any(|u| u == k) || v.is_null() {
                            continue;
                        }
                        q.append_pair(k, &params::value_text(v));
                    }
                }
                if url.query() == Some("") {
                    url.set_query(None);
                }
                Ok((url, body))
            }
        }
    }

    /// Spec-level headers, then the table's (which win), with `${option}` filled.
    fn headers(&self) -> Vec<(String, String)> {
        let conn = self.client.connection();
        let lookup = |name: &str| option_value(conn, name);
        conn.spec
            .headers
            .iter()
            .chain(&self.table.headers)
            .map(|(k, v)| {
                let filled =
                    crate::adapters::connections::fill(v, &lookup).unwrap_or_else(|_| v.clone());
                (k.clone(), filled)
            })
            .collect()
    }

    /// Parse a response body, failing on an error the API reports with HTTP 200.
    fn parse(&self, response: &Response) -> Result<Value, FetchError> {
        let body: Value = if response.body.iter().all(|b| b.is_ascii_whitespace()) {
            Value::Null
        } else {
            serde_json::from_slice(&response.body).map_err(|e| FetchError::NotJson {
                url: crate::secret::redact(&response.url),
                content_type: response
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "no content type".into()),
                excerpt: client::excerpt(&response.body),
                message: e.to_string(),
            })?
        };
        let error_path =
            self.table
                .error_path
                .as_ref()
                .or(self.client.connection().spec.error_path.as_ref());
        if let Some(message) = error_path
            .and_then(|p| p.first(&body))
            .filter(|v| is_error_value(v))
        {
            return Err(FetchError::Api {
                url: crate::secret::redact(&response.url),
                message: crate::secret::redact(&match message {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            });
        }
        Ok(body)
    }

    /// How many records a page holds. The first page of a parameter set must have the
    /// `result_body_path`; a later one may omit an empty list.
    fn count_records(
        &self,
        body: &Value,
        response: &Response,
        first: bool,
    ) -> Result<usize, FetchError> {
        match count_records(self.table, body) {
            Some(n) => Ok(n),
            None if first => Err(FetchError::MissingBodyPath {
                url: crate::secret::redact(&response.url),
                path: self
                    .table
                    .result_object_path
                    .clone()
                    .or_else(|| self.table.result_body_path.as_ref().map(|p| p.join(".")))
                    .unwrap_or_default(),
                keys: top_keys(body),
            }),
            None => Ok(0),
        }
    }
}

/// True for an `error_path` value that reports an error (not null/false/empty).
fn is_error_value(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Connection option or auth default named `name`, for `${name}` placeholders.
pub fn option_value(conn: &Connection, name: &str) -> Option<String> {
    conn.options
        .get(name)
        .map(|s| s.expose().to_string())
        .or_else(|| conn.spec.auth.defaults.get(name).cloned())
}

fn join_url(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_string();
    }
    if path.is_empty() || path == "/" {
        return format!("{base}/");
    }
    if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

fn top_keys(body: &Value) -> String {
    match body {
        Value::Object(m) => m.keys().cloned().collect::<Vec<_>>().join(", "),
        Value::Array(_) => "(the body is a list)".into(),
        _ => "(none)".into(),
    }
}

/// A hash of a response body, to spot an API returning the same page forever.
pub fn body_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// The number of records a page holds, or `None` when the body lacks the path.
pub fn count_records(table: &TableSpec, body: &Value) -> Option<usize> {
    if body.is_null() {
        return Some(0);
    }
    if let Some(key) = &table.result_object_path {
        return body.get(key).map(record_count);
    }
    let path: &[String] = table.result_body_path.as_deref().unwrap_or(&[]);
    if path.is_empty() {
        return Some(record_count(body));
    }
    let mut found = false;
    let mut n = 0;
    walk(body, path, 0, &mut vec![body], &mut |records, _| {
        found = true;
        n += record_count(records);
    });
    found.then_some(n)
}

fn record_count(records: &Value) -> usize {
    match records {
        Value::Array(items) => items.iter().filter(|v| !v.is_null()).count(),
        Value::Null => 0,
        _ => 1,
    }
}

/// Take the records out of a page (the body is consumed: records move, they are not
/// copied): follow `result_body_path` (traversing intermediate lists), copy
/// `result_meta_paths` values from the matching ancestor, add `copy_params_to_output`.
/// A body without the path has no records (see [`count_records`]).
pub fn extract_records(table: &TableSpec, mut body: Value, set: &ParamSet) -> Vec<Value> {
    let mut out = Vec::new();
    if body.is_null() {
        return out;
    }
    let copies: Vec<(String, Value)> = table
        .copy_params_to_output
        .iter()
        .filter_map(|name| set.get(name).map(|v| (name.clone(), v.clone())))
        .collect();
    if let Some(key) = &table.result_object_path {
        if let Some(v) = body.get_mut(key) {
            push_records(v.take(), &[], &copies, &mut out);
        }
        return out;
    }
    let path: &[String] = table.result_body_path.as_deref().unwrap_or(&[]);
    if path.is_empty() {
        let meta = meta_values(&table.result_meta_paths, &[&body], path);
        push_records(body, &meta, &copies, &mut out);
        return out;
    }
    // Meta values are read (shared) first, then the record lists are moved out (in the
    // same traversal order).
    let mut metas: Vec<Vec<(String, Value)>> = Vec::new();
    if !table.result_meta_paths.is_empty() {
        walk(&body, path, 0, &mut vec![&body], &mut |_, ancestors| {
            metas.push(meta_values(&table.result_meta_paths, ancestors, path));
        });
    }
    let mut group = 0;
    walk_mut(&mut body, path, 0, &mut |records| {
        let meta = metas.get(group).map(Vec::as_slice).unwrap_or(&[]);
        push_records(records, meta, &copies, &mut out);
        group += 1;
    });
    out
}

/// Walk `path` from `node`; intermediate lists are traversed element by element.
/// `ancestors[i]` is the object at depth `i` of the path.
fn walk<'a>(
    node: &'a Value,
    path: &[String],
    depth: usize,
    ancestors: &mut Vec<&'a Value>,
    on_records: &mut dyn FnMut(&'a Value, &[&'a Value]),
) {
    if depth == path.len() {
        on_records(node, ancestors);
        return;
    }
    match node {
        Value::Object(m) => {
            if let Some(child) = m.get(&path[depth]) {
                if depth + 1 == path.len() {
                    on_records(child, ancestors);
                } else {
                    match child {
                        Value::Array(items) => {
                            for item in items {
                                ancestors.push(item);
                                walk(item, path, depth + 1, ancestors, on_records);
                                ancestors.pop();
                            }
                        }
                        other => {
                            ancestors.push(other);
                            walk(other, path, depth + 1, ancestors, on_records);
                            ancestors.pop();
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, path, depth, ancestors, on_records);
            }
        }
        _ => {}
    }
}

/// [`walk`], taking each record list out of the tree.
fn walk_mut(node: &mut Value, path: &[String], depth: usize, on_records: &mut dyn FnMut(Value)) {
    if depth == path.len() {
        on_records(node.take());
        return;
    }
    match node {
        Value::Object(m) => {
            if let Some(child) = m.get_mut(&path[depth]) {
                if depth + 1 == path.len() {
                    on_records(child.take());
                } else {
                    match child {
                        Value::Array(items) => {
                            for item in items {
                                walk_mut(item, path, depth + 1, on_records);
                            }
                        }
                        other => walk_mut(other, path, depth + 1, on_records),
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk_mut(item, path, depth, on_records);
            }
        }
        _ => {}
    }
}

/// Values of the meta paths, each read from the deepest ancestor sharing its prefix.
fn meta_values(
    meta: &[Vec<String>],
    ancestors: &[&Value],
    record_path: &[String],
) -> Vec<(String, Value)> {
    meta.iter()
        .map(|m| {
            let shared = m
                .iter()
                .zip(record_path)
                .take_while(|(a, b)| a == b)
                .count()
                .min(ancestors.len().saturating_sub(1))
                .min(m.len().saturating_sub(1));
            let mut node = Some(ancestors[shared]);
            for key in &m[shared..] {
                node = node.and_then(|n| n.get(key));
            }
            (m.join("_"), node.cloned().unwrap_or(Value::Null))
        })
        .collect()
}

fn push_records(
    records: Value,
    meta: &[(String, Value)],
    copies: &[(String, Value)],
    out: &mut Vec<Value>,
) {
    if let Value::Array(items) = &records {
        out.reserve(items.len());
    }
    let mut push = |record: Value| {
        let mut obj = match record {
            Value::Object(m) => m,
            Value::Null => return,
            other => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), other);
                m
            }
        };
        for (k, v) in meta.iter().chain(copies) {
            obj.insert(k.clone(), v.clone());
        }
        out.push(Value::Object(obj));
    };
    match records {
        Value::Array(items) => items.into_iter().for_each(&mut push),
        other => push(other),
    }
}

#[cfg(test)]
mod tests;
