//! `unify_bench`: holds the real `unify` against the fetch floor of the same pages.
//!
//! It starts its own local mock API (a small HTTP/1.1 server on 127.0.0.1 serving
//! pre-rendered, deterministic GitHub-issue-like records), writes a temporary unify home
//! whose spec points at it, runs the `unify` and `unifyd` binaries end to end, and
//! reports wall time, rows/s, peak RSS and requests next to the time it takes to fetch
//! the very same pages with curl and with reqwest (sequentially and over 8 connections)
//! in the same run. Every load is checked: row count, sum of ids and count of distinct
//! ids must match exactly, or the run fails.
//!
//! ```text
//! unify_bench --sizes 10000,100000,1000000 --latency-ms 20 --out BENCHMARKS-run.md
//! ```
//!
//! Scenarios (`--scenarios`, comma-separated; default all):
//! * `startup` — `unify --no-daemon -c "select 1"`: the fixed cost in every other row.
//! * `load`    — per size: page-number paging, no total, no latency (`--load-latency-ms`),
//!   one page at a time; against the sequential fetch floor.
//! * `paged`, `offset` — page-number / offset paging with a known total, `--latency-ms`
//!   per request; against the 8-connection floor.
//! * `cursor`  — cursor paging, `--latency-ms`; against the sequential floor.
//! * `fanout`  — a child table over 200 parent rows, `--latency-ms`, rate limit 50 req/s;
//!   against what the rate limit allows.
//! * `daemon`  — the `load` table through `unifyd`, then the round trip of a one-row
//!   query on the loaded table (median and p99 of many).
//! * `duckdb`  — a reference, no target: DuckDB's own `read_json_auto` over the same
//!   pages saved as files (`--daemon-records` of them), run through `unify --no-daemon`.
//!
//! Speed is reported, never asserted; correctness always is.

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use futures::StreamExt;
use std::fmt::Write as _;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Records per page, everywhere.
const PAGE_SIZE: u64 = 100;
/// Parent rows of the fan-out scenario.
const FANOUT_PARENTS: u64 = 200;
/// Child rows per parent in the fan-out scenario.
const FANOUT_CHILDREN: u64 = 5;
/// The fan-out child table's rate limit (requests per second).
const FANOUT_RPS: f64 = 50.0;
/// Connections of the concurrent fetch floor (and unify's default concurrency).
const FLOOR_CONNECTIONS: usize = 8;

/// Benchmark unify against the fetch floor of the same pages.
#[derive(Parser, Debug, Clone)]
#[command(name = "unify_bench")]
struct Args {
    /// Record counts of the `load` scenario (multiples of 100).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<u64>,
    /// Scenarios to run: startup, load, daemon, duckdb, paged, offset, cursor, fanout.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "startup,load,daemon,duckdb,paged,offset,cursor,fanout"
    )]
    scenarios: Vec<String>,
    /// Records of the latency scenarios (paged, offset, cursor).
    #[arg(long, default_value_t = 100_000)]
    latency_records: u64,
    /// Records of the `daemon` scenario.
    #[arg(long, default_value_t = 100_000)]
    daemon_records: u64,
    /// Latency added to every response of the paged, offset, cursor and fanout scenarios.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Latency added to every response of the load and daemon scenarios.
    #[arg(long, default_value_t = 0)]
    load_latency_ms: u64,
    /// Fraction of requests answered 429 with `Retry-After: 0` (deterministic: every
    /// 1/rate-th request the mock receives).
    #[arg(long, default_value_t = 0.0)]
    rate_429: f64,
    /// One-row queries timed in the daemon round-trip measurement.
    #[arg(long, default_value_t = 500)]
    round_trips: usize,
    /// The `unify` binary (default: next to this one).
    #[arg(long)]
    unify_bin: Option<PathBuf>,
    /// The `unifyd` binary (default: next to this one).
    #[arg(long)]
    unifyd_bin: Option<PathBuf>,
    /// Skip the fetch floors (correctness runs).
    #[arg(long)]
    no_floor: bool,
    /// Do not use curl for the floor even when it is installed.
    #[arg(long)]
    no_curl: bool,
    /// Also write the markdown report here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the results as JSON here (for tests and scripts).
    #[arg(long)]
    json: Option<PathBuf>,
    /// How the unify binaries were built, for the report (default: guessed from the path).
    #[arg(long)]
    build_note: Option<String>,
    /// Only serve the mock API with this many records until killed (prints the port).
    #[arg(long)]
    serve: Option<u64>,
}

fn main() {
    let args = Args::parse();
    match run(args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(2),
        Err(e) => {
            eprintln!("unify_bench: {e:#}");
            std::process::exit(1);
        }
    }
}

// ---------------------------------------------------------------------------------
// Deterministic records
// ---------------------------------------------------------------------------------

/// SplitMix64: a cheap, well-mixed hash of the record id.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const WORDS: &[&str] = &[
    "widget",
    "fails",
    "when",
    "the",
    "cache",
    "is",
    "cold",
    "and",
    "retry",
    "loop",
    "spins",
    "forever",
    "under",
    "load",
    "parser",
    "rejects",
    "valid",
    "input",
    "timeout",
    "after",
    "upgrade",
    "docs",
    "mention",
    "wrong",
    "flag",
    "crash",
    "on",
    "empty",
    "list",
    "memory",
    "grows",
    "without",
    "bound",
    "naïve",
    "Ünïcode",
    "path",
];

const LABELS: &[(&str, &str)] = &[
    ("bug", "d73a4a"),
    ("enhancement", "a2eeef"),
    ("question", "d876e3"),
    ("documentation", "0075ca"),
    ("good first issue", "7057ff"),
];

const ASSOCIATIONS: &[&str] = &["OWNER", "MEMBER", "CONTRIBUTOR", "NONE"];

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `secs` after the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn push_timestamp(out: &mut String, secs: i64) {
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    let _ = write!(out, "\"{}\"", t.format("%Y-%m-%dT%H:%M:%SZ"));
}

fn words(seed: u64, n: u64) -> String {
    let mut s = String::new();
    for i in 0..n {
        let w = WORDS[(mix(seed.wrapping_add(i)) % WORDS.len() as u64) as usize];
        if i > 0 {
            s.push(if i.is_multiple_of(17) { '\n' } else { ' ' });
        }
        if i % 23 == 5 {
            s.push('"');
            s.push_str(w);
            s.push('"');
        } else {
            s.push_str(w);
        }
    }
    s
}

/// One GitHub-issue-like record (about 1.3 KB): nested objects, a list of objects,
/// timestamps, nulls, an optional object, ints and floats.
fn render_issue(id: u64, out: &mut String) {
    let h = mix(id);
    let closed = h.is_multiple_of(3);
    let user = 1000 + (h >> 8) % 5000;
    let created = 1_577_836_800 + (id as i64) * 97;
    let updated = created + ((h >> 16) % 1_000_000) as i64;
    let repo = "https://api.example.com/repos/acme/widgets";
    let _ = write!(
        out,
        "{{\"id\":{id},\"node_id\":\"I_kwDOAbc{id:08}\",\"number\":{id},\"url\":\"{repo}/issues/{id}\",\
         \"repository_url\":\"{repo}\",\"html_url\":\"https://example.com/acme/widgets/issues/{id}\",\"title\":"
    );
    push_json_str(out, &format!("Issue {id}: {}", words(h, 6 + h % 6)));
    let _ = write!(
        out,
        ",\"user\":{{\"login\":\"user{user}\",\"id\":{user},\"node_id\":\"U_{user}\",\
         \"avatar_url\":\"https://avatars.example.com/u/{user}?v=4\",\"type\":\"User\",\"site_admin\":{}}},\"labels\":[",
        user.is_multiple_of(50)
    );
    for k in 0..(h >> 24) % 4 {
        let (name, color) = LABELS[((h >> (28 + k)) as usize + k as usize) % LABELS.len()];
        if k > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"id\":{},\"node_id\":\"LA_{k}\",\"name\":\"{name}\",\"color\":\"{color}\",\"default\":{}}}",
            100 + k,
            k == 0
        );
    }
    let _ = write!(
        out,
        "],\"state\":\"{}\",\"locked\":false,\"assignee\":",
        if closed { "closed" } else { "open" }
    );
    if id.is_multiple_of(5) {
        let _ = write!(
            out,
            "{{\"login\":\"user{}\",\"id\":{}}}",
            user + 1,
            user + 1
        );
    } else {
        out.push_str("null");
    }
    let _ = write!(
        out,
        ",\"milestone\":null,\"comments\":{},\"created_at\":",
        (h >> 32) % 40
    );
    push_timestamp(out, created);
    out.push_str(",\"updated_at\":");
    push_timestamp(out, updated);
    out.push_str(",\"closed_at\":");
    if closed {
        push_timestamp(out, updated);
    } else {
        out.push_str("null");
    }
    let _ = write!(
        out,
        ",\"author_association\":\"{}\",\"body\":",
        ASSOCIATIONS[((h >> 40) % 4) as usize]
    );
    if id.is_multiple_of(11) {
        out.push_str("null");
    } else {
        push_json_str(out, &words(h >> 3, 40 + (h >> 44) % 60));
    }
    let r = |shift: u32| (h >> shift) % 5;
    let (up, down, laugh, heart, rocket) = (r(2), r(5), r(9), r(13), r(17));
    let _ = write!(
        out,
        ",\"reactions\":{{\"url\":\"{repo}/issues/{id}/reactions\",\"total_count\":{},\
         \"+1\":{up},\"-1\":{down},\"laugh\":{laugh},\"hooray\":0,\"confused\":0,\"heart\":{heart},\
         \"rocket\":{rocket},\"eyes\":0}}",
        up + down + laugh + heart + rocket
    );
    if id.is_multiple_of(7) {
        let _ = write!(
            out,
            ",\"pull_request\":{{\"url\":\"{repo}/pulls/{id}\",\"html_url\":\"https://example.com/acme/widgets/pull/{id}\",\"merged_at\":"
        );
        if closed {
            push_timestamp(out, updated);
        } else {
            out.push_str("null");
        }
        out.push('}');
    }
    let _ = write!(out, ",\"score\":{}.{}}}", id % 100, id % 10);
}

/// The JSON array of records `first..first + n`.
fn render_page(first: u64, n: u64) -> Vec<u8> {
    let mut s = String::with_capacity(n as usize * 1500);
    s.push('[');
    for id in first..first + n {
        if id > first {
            s.push(',');
        }
        render_issue(id, &mut s);
    }
    s.push(']');
    s.into_bytes()
}

/// Pre-rendered pages of records 1..=records, rendered on all cores.
fn render_pages(records: u64) -> Vec<bytes::Bytes> {
    let pages = records / PAGE_SIZE;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(2)
        .min(pages.max(1));
    let per = pages.div_ceil(threads.max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t * per..((t + 1) * per).min(pages))
                        .map(|p| bytes::Bytes::from(render_page(p * PAGE_SIZE + 1, PAGE_SIZE)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("rendering thread"))
            .collect()
    })
}

/// Id of child `k` (1-based) of parent `p`.
fn child_id(p: u64, k: u64) -> u64 {
    p * 1000 + k
}

fn render_parents() -> bytes::Bytes {
    let mut s = String::from("[");
    for p in 1..=FANOUT_PARENTS {
        if p > 1 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"id\":{p},\"name\":\"repo{p}\",\"private\":{}}}",
            p.is_multiple_of(2)
        );
    }
    s.push(']');
    bytes::Bytes::from(s)
}

fn render_children(p: u64) -> bytes::Bytes {
    let mut s = String::from("[");
    for k in 1..=FANOUT_CHILDREN {
        if k > 1 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"id\":{},\"parent_id\":{p},\"user\":{{\"login\":\"user{k}\"}},\"created_at\":",
            child_id(p, k)
        );
        push_timestamp(&mut s, 1_600_000_000 + (p * 10 + k) as i64);
        s.push_str(",\"body\":");
        push_json_str(&mut s, &words(p * 31 + k, 12));
        s.push('}');
    }
    s.push(']');
    bytes::Bytes::from(s)
}

// ---------------------------------------------------------------------------------
// The mock API
// ---------------------------------------------------------------------------------

/// What the mock serves; switched between scenarios.
struct Mock {
    /// Pre-rendered pages of the largest dataset; smaller ones are prefixes of it.
    pages: Vec<bytes::Bytes>,
    parents: bytes::Bytes,
    children: Vec<bytes::Bytes>,
    /// Records currently served.
    records: AtomicU64,
    /// Milliseconds added to every response.
    latency_ms: AtomicU64,
    /// Fraction of requests answered 429.
    rate_429: RwLock<f64>,
    /// Requests received (429s included).
    requests: AtomicU64,
    /// Requests answered 429.
    throttled: AtomicU64,
}

struct Reply {
    status: u16,
    /// Body pieces, written one after the other.
    body: Vec<bytes::Bytes>,
}

impl Reply {
    fn json(body: Vec<bytes::Bytes>) -> Reply {
        Reply { status: 200, body }
    }
    fn status(status: u16, message: &str) -> Reply {
        Reply {
            status,
            body: vec![bytes::Bytes::from(format!("{{\"message\":\"{message}\"}}"))],
        }
    }
}

impl Mock {
    fn new(max_records: u64) -> Mock {
        Mock {
            pages: render_pages(max_records),
            parents: render_parents(),
            children: (1..=FANOUT_PARENTS).map(render_children).collect(),
            records: AtomicU64::new(0),
            latency_ms: AtomicU64::new(0),
            rate_429: RwLock::new(0.0),
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    fn set(&self, records: u64, latency_ms: u64, rate_429: f64) {
        self.records.store(records, Ordering::SeqCst);
        self.latency_ms.store(latency_ms, Ordering::SeqCst);
        *self.rate_429.write().expect("rate lock") = rate_429;
        self.requests.store(0, Ordering::SeqCst);
        self.throttled.store(0, Ordering::SeqCst);
    }

    /// Page `index` (0-based) of the current dataset, or an empty list.
    fn page(&self, index: u64) -> bytes::Bytes {
        let pages = self.records.load(Ordering::Relaxed) / PAGE_SIZE;
        if index < pages {
            self.pages[index as usize].clone()
        } else {
            bytes::Bytes::from_static(b"[]")
        }
    }

    fn total(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Answer one request target (`/path?query`).
    async fn respond(&self, target: &str) -> Reply {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let latency = self.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let rate = *self.rate_429.read().expect("rate lock");
        if rate > 0.0 && (n as f64 * rate).floor() > ((n - 1) as f64 * rate).floor() {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Reply::status(429, "rate limited");
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let q = |name: &str| -> Option<String> {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let num = |name: &str, default: u64| -> Result<u64, Reply> {
            match q(name) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| Reply::status(400, &format!("bad {name}"))),
            }
        };
        let result = (|| -> Result<Reply, Reply> {
            let size_ok = |size: u64| {
                if size == PAGE_SIZE {
                    Ok(())
                } else {
                    Err(Reply::status(400, "this mock only serves pages of 100"))
                }
            };
            let wrap = |prefix: String, page: bytes::Bytes, suffix: String| {
                Reply::json(vec![prefix.into(), page, suffix.into()])
            };
            match path {
                "/issues" => {
                    size_ok(num("per_page", PAGE_SIZE)?)?;
                    let page = num("page", 1)?.max(1);
                    Ok(Reply::json(vec![self.page(page - 1)]))
                }
                "/issues_total" => {
                    size_ok(num("per_page", PAGE_SIZE)?)?;
                    let page = num("page", 1)?.max(1);
                    Ok(wrap(
                        format!("{{\"total_count\":{},\"items\":", self.total()),
                        self.page(page - 1),
                        "}".into(),
                    ))
                }
                "/issues_offset" => {
                    size_ok(num("limit", PAGE_SIZE)?)?;
                    let offset = num("offset", 0)?;
                    if !offset.is_multiple_of(PAGE_SIZE) {
                        return Err(Reply::status(400, "offset must be a multiple of 100"));
                    }
                    Ok(wrap(
                        format!("{{\"total_count\":{},\"items\":", self.total()),
                        self.page(offset / PAGE_SIZE),
                        "}".into(),
                    ))
                }
                "/issues_cursor" => {
                    size_ok(num("limit", PAGE_SIZE)?)?;
                    let offset = match q("cursor") {
                        None => 0,
                        Some(c) => c
                            .strip_prefix('c')
                            .and_then(|n| n.parse::<u64>().ok())
                            .ok_or_else(|| Reply::status(400, "bad cursor"))?,
                    };
                    let next = offset + PAGE_SIZE;
                    let cursor = if next < self.total() {
                        format!("\"c{next}\"")
                    } else {
                        "null".into()
                    };
                    Ok(wrap(
                        "{\"items\":".into(),
                        self.page(offset / PAGE_SIZE),
                        format!(",\"next_cursor\":{cursor}}}"),
                    ))
                }
                "/parents" => Ok(Reply::json(vec![self.parents.clone()])),
                "/comments" => {
                    let p = num("parent_id", 0)?;
                    match self.children.get((p as usize).wrapping_sub(1)) {
                        Some(body) => Ok(Reply::json(vec![body.clone()])),
                        None => Err(Reply::status(404, "no such parent")),
                    }
                }
                _ => Err(Reply::status(404, "not found")),
            }
        })();
        result.unwrap_or_else(|e| e)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One keep-alive HTTP/1.1 connection: GET requests without bodies, answered in order.
async fn serve_connection(mut stream: tokio::net::TcpStream, mock: Arc<Mock>) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let end = loop {
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                break pos + 4;
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let mut lines = head.split("\r\n");
        let target = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("/")
            .to_string();
        let mut close = false;
        let mut content_length = 0usize;
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                close = true;
            } else if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse().unwrap_or(0);
            }
        }
        // Request bodies are not used: skip them.
        while buf.len() < content_length {
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        buf.drain(..content_length);
        let reply = mock.respond(&target).await;
        let len: usize = reply.body.iter().map(|b| b.len()).sum();
        let reason = match reply.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            429 => "Too Many Requests",
            _ => "Error",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n",
            reply.status
        );
        if reply.status == 429 {
            out.push_str("Retry-After: 0\r\n");
        }
        if close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        // Small bodies go out in the same write as the head.
        for piece in &reply.body {
            if piece.len() < 4096 {
                bytes.extend_from_slice(piece);
            } else {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
                bytes.clear();
                if stream.write_all(piece).await.is_err() {
                    return;
                }
            }
        }
        if !bytes.is_empty() && stream.write_all(&bytes).await.is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

/// Start the mock on an ephemeral loopback port, on `rt`.
fn start_mock(rt: &tokio::runtime::Runtime, mock: Arc<Mock>) -> anyhow::Result<SocketAddr> {
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_connection(stream, mock.clone()));
        }
    });
    Ok(addr)
}

// ---------------------------------------------------------------------------------
// Homes and processes
// ---------------------------------------------------------------------------------

fn spec_yaml(base_url: &str) -> String {
    format!(
        r#"name: bench
base_url: {base_url}
retry:
  max_attempts: 10
tables:
  - name: issues
    description: page-number paging, no total (one page at a time)
    resource_path: /issues
    supports_paging: true
    paging: {{strategy: pageAndCount, page_param: page, count_param: per_page, page_size: 100}}
  - name: issues_total
    description: page-number paging with a known total (pages fetched concurrently)
    resource_path: /issues_total
    result_body_path: items
    supports_paging: true
    paging: {{strategy: pageAndCount, page_param: page, count_param: per_page, page_size: 100, total_path: "$.total_count"}}
  - name: issues_offset
    description: offset paging with a known total
    resource_path: /issues_offset
    result_body_path: items
    supports_paging: true
    paging: {{strategy: offsetAndCount, offset_param: offset, count_param: limit, page_size: 100, total_path: "$.total_count"}}
  - name: issues_cursor
    description: cursor paging
    resource_path: /issues_cursor
    result_body_path: items
    supports_paging: true
    paging: {{strategy: pagerToken, token_param: cursor, pager_token_path: "$.next_cursor", count_param: limit, page_size: 100}}
  - name: parents
    resource_path: /parents
  - name: comments
    description: one request per parent row, rate limited
    resource_path: /comments
    params:
      parent_id: sql@(select id from parents)
    rate_limit: {{requests_per_second: {FANOUT_RPS}, burst: 1, max_concurrency: 8}}
"#
    )
}

/// A temporary unify home with the bench spec and a `bench` connection.
fn make_home(base_url: &str) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("unify-bench-").tempdir()?;
    let specs = dir.path().join("rest_specs");
    std::fs::create_dir_all(&specs)?;
    std::fs::write(specs.join("bench_spec.yaml"), spec_yaml(base_url))?;
    std::fs::write(
        dir.path().join("connections.yaml"),
        "- bench:\n    connector: bench\n",
    )?;
    Ok(dir)
}

/// A finished child process, measured.
struct Measured {
    wall: Duration,
    /// Peak resident set of the process, KiB (its `VmHWM`, sampled until it exits).
    max_rss_kb: u64,
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `cmd` to completion; wall time from spawn to exit.
///
/// Peak RSS is the child's `VmHWM`, read every few milliseconds until it exits (a
/// high-water mark, so a sample only misses growth in its last interval). `ru_maxrss`
/// from `wait4` would be wrong here: Linux charges a child with the RSS of the parent it
/// was forked from, and this process holds every pre-rendered page.
fn run_measured(cmd: &mut Command) -> anyhow::Result<Measured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as _));
    let pid = child.id();
    let exited = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let exited = exited.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !exited.load(Ordering::SeqCst) {
                match vm_hwm_kb(pid) {
                    Some(kb) => peak = peak.max(kb),
                    None => break,
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    // Wait for the exit without reaping, so the pid cannot be reused under the sampler.
    // SAFETY: siginfo is plain data; waitid fills it for our own child.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    let wall = start.elapsed();
    exited.store(true, Ordering::SeqCst);
    let peak = sampler.join().unwrap_or(0);
    if r != 0 {
        bail!("waitid: {}", std::io::Error::last_os_error());
    }
    let status = child.wait()?;
    Ok(Measured {
        wall,
        max_rss_kb: peak,
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// `VmHWM` (peak RSS, KiB) of a running process.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The checked query: count, sum of ids, distinct ids.
fn check_sql(table: &str) -> String {
    format!("select count(*) as n, sum(id) as s, count(distinct id) as d from bench.{table}")
}

/// (count, sum, distinct) from the CSV output of [`check_sql`].
fn parse_check(stdout: &str) -> Option<(u64, u128, u64)> {
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty())?;
    let cells: Vec<&str> = line
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    match cells.as_slice() {
        [n, s, d] => Some((n.parse().ok()?, s.parse().ok()?, d.parse().ok()?)),
        _ => None,
    }
}

/// Expected (count, sum of ids) of `n` issues with ids 1..=n.
fn expected_issues(n: u64) -> (u64, u128) {
    (n, n as u128 * (n as u128 + 1) / 2)
}

fn expected_children() -> (u64, u128) {
    let mut sum = 0u128;
    for p in 1..=FANOUT_PARENTS {
        for k in 1..=FANOUT_CHILDREN {
            sum += child_id(p, k) as u128;
        }
    }
    (FANOUT_PARENTS * FANOUT_CHILDREN, sum)
}

/// A running `unifyd`, stopped with SIGTERM on drop.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(bin: &Path, home: &Path, rt: &tokio::runtime::Runtime) -> anyhow::Result<Daemon> {
        let child = Command::new(bin)
            .arg("--home")
            .arg(home)
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let d = Daemon { child };
        let h = unify::home::Home::new(home);
        let start = Instant::now();
        rt.block_on(async {
            while start.elapsed() < Duration::from_secs(60) {
                if let Some(ep) = unify::daemon::Endpoints::read(&h) {
                    if unify::client::transport::ping(&ep, &h, Duration::from_secs(2)).await {
                        return Ok(());
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(anyhow!("unifyd did not become ready within 60 s"))
        })?;
        Ok(d)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------
// Fetch floors
// ---------------------------------------------------------------------------------

/// The exact requests a loader needs for a paged table of `records` (no 429s).
fn page_urls(base: &str, table: &str, records: u64) -> Vec<String> {
    let pages = records / PAGE_SIZE;
    match table {
        // Without a total the pager stops on a short page: a last full page costs one
        // more (empty) request.
        "issues" => (1..=pages + 1)
            .map(|p| format!("{base}/issues?page={p}&per_page=100"))
            .collect(),
        "issues_total" => (1..=pages.max(1))
            .map(|p| format!("{base}/issues_total?page={p}&per_page=100"))
            .collect(),
        "issues_offset" => (0..pages.max(1))
            .map(|p| format!("{base}/issues_offset?offset={}&limit=100", p * PAGE_SIZE))
            .collect(),
        "issues_cursor" => (0..pages.max(1))
            .map(|p| match p {
                0 => format!("{base}/issues_cursor?limit=100"),
                p => format!("{base}/issues_cursor?limit=100&cursor=c{}", p * PAGE_SIZE),
            })
            .collect(),
        other => panic!("no page list for {other}"),
    }
}

/// One floor measurement.
#[derive(Debug, Clone, serde::Serialize)]
struct Floor {
    /// `curl`, `reqwest`.
    tool: String,
    connections: usize,
    secs: f64,
    requests: u64,
    bytes: u64,
}

/// Fetch `urls` with curl (`-K` config, bodies to /dev/null).
fn curl_floor(
    urls: &[String],
    connections: usize,
    mock: &Mock,
    tmp: &Path,
) -> anyhow::Result<Floor> {
    let cfg = tmp.join("curl-urls.cfg");
    let mut text = String::new();
    for u in urls {
        let _ = writeln!(text, "url = \"{u}\"\noutput = \"/dev/null\"");
    }
    std::fs::write(&cfg, text)?;
    let mut cmd = Command::new("curl");
    // Bodies go to /dev/null; stdout only carries each transfer's size.
    cmd.args(["-s", "-S", "-f", "-w", "%{size_download}\\n", "-K"])
        .arg(&cfg);
    if connections > 1 {
        cmd.args(["-Z", "--parallel-max", &connections.to_string()]);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    mock.requests.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let out = cmd.output().context("running curl")?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("curl failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let bytes = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    Ok(Floor {
        tool: "curl".into(),
        connections,
        secs,
        requests: mock.requests.load(Ordering::SeqCst),
        bytes,
    })
}

/// Fetch `urls` with reqwest over `connections` connections, retrying 429s at once.
fn reqwest_floor(
    rt: &tokio::runtime::Runtime,
    urls: &[String],
    connections: usize,
    mock: &Mock,
) -> anyhow::Result<Floor> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()?;
    mock.requests.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let bytes = rt.block_on(async {
        let fetch = |url: String| {
            let client = client.clone();
            async move {
                loop {
                    let resp = client.get(&url).send().await?;
                    let status = resp.status();
                    let body = resp.bytes().await?;
                    if status.as_u16() == 429 {
                        continue;
                    }
                    if !status.is_success() {
                        bail!("{url}: HTTP {status}");
                    }
                    return Ok::<u64, anyhow::Error>(body.len() as u64);
                }
            }
        };
        let mut total = 0u64;
        let mut results =
            futures::stream::iter(urls.iter().cloned().map(fetch)).buffer_unordered(connections);
        while let Some(r) = results.next().await {
            total += r?;
        }
        Ok::<u64, anyhow::Error>(total)
    })?;
    Ok(Floor {
        tool: "reqwest".into(),
        connections,
        secs: start.elapsed().as_secs_f64(),
        requests: mock.requests.load(Ordering::SeqCst),
        bytes,
    })
}

// ---------------------------------------------------------------------------------
// Scenarios and the report
// ---------------------------------------------------------------------------------

/// One row of the report.
#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    scenario: String,
    /// How the table pages.
    paging: String,
    /// `--no-daemon` or `unifyd`.
    mode: String,
    records: u64,
    latency_ms: u64,
    /// Requests the mock received during the timed run (429s included).
    requests: u64,
    /// Requests answered 429.
    throttled: u64,
    wall_secs: f64,
    rows_per_sec: f64,
    /// Peak RSS of the process doing the work (the unify process, or unifyd), KiB.
    peak_rss_kb: u64,
    /// Expected and observed (count, sum of ids, distinct ids); `None` when not checked.
    expected: Option<(u64, u128, u64)>,
    observed: Option<(u64, u128, u64)>,
    correct: bool,
    /// Floors measured for this row (all tools).
    floors: Vec<Floor>,
    /// The floor the ratio is taken against (the fastest of the relevant kind), seconds.
    floor_secs: Option<f64>,
    floor_kind: String,
    ratio: Option<f64>,
    target: String,
    /// Whether the target was met (`None`: no target or not measured).
    met: Option<bool>,
    note: String,
    error: Option<String>,
}

impl Row {
    /// The scenario could not run: why, and no claim of correctness.
    fn fail(&mut self, e: &anyhow::Error) {
        self.error = Some(format!("{e:#}"));
        self.correct = false;
    }

    fn new(scenario: &str, paging: &str, mode: &str, records: u64, latency_ms: u64) -> Row {
        Row {
            scenario: scenario.into(),
            paging: paging.into(),
            mode: mode.into(),
            records,
            latency_ms,
            requests: 0,
            throttled: 0,
            wall_secs: 0.0,
            rows_per_sec: 0.0,
            peak_rss_kb: 0,
            expected: None,
            observed: None,
            correct: true,
            floors: Vec::new(),
            floor_secs: None,
            floor_kind: String::new(),
            ratio: None,
            target: String::new(),
            met: None,
            note: String::new(),
            error: None,
        }
    }
}

struct Bench {
    args: Args,
    unify: PathBuf,
    unifyd: PathBuf,
    mock: Arc<Mock>,
    base: String,
    client_rt: tokio::runtime::Runtime,
    curl: bool,
    tmp: tempfile::TempDir,
}

impl Bench {
    fn unify_cmd(&self, home: &Path, daemon: bool, sql: &str) -> Command {
        let mut cmd = Command::new(&self.unify);
        if !daemon {
            cmd.arg("--no-daemon");
        }
        cmd.arg("--home")
            .arg(home)
            .args(["--format", "csv", "-c", sql])
            .env("UNIFY_HOME", home)
            // As a user runs it: no log filter, no backtrace symbolisation on a panic.
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "0");
        cmd
    }

    /// Measure the fetch floors of `urls` with the mock serving `records` at `latency`.
    fn floors(&self, urls: &[String], records: u64, latency: u64, kinds: &[usize]) -> Vec<Floor> {
        if self.args.no_floor {
            return Vec::new();
        }
        let mut out = Vec::new();
        for &connections in kinds {
            self.mock.set(records, latency, self.args.rate_429);
            // curl cannot retry a 429 at once, so with 429s only reqwest measures.
            if self.curl && self.args.rate_429 == 0.0 {
                match curl_floor(urls, connections, &self.mock, self.tmp.path()) {
                    Ok(f) => out.push(f),
                    Err(e) => eprintln!("curl floor: {e:#}"),
                }
            }
            self.mock.set(records, latency, self.args.rate_429);
            match reqwest_floor(&self.client_rt, urls, connections, &self.mock) {
                Ok(f) => out.push(f),
                Err(e) => eprintln!("reqwest floor: {e:#}"),
            }
        }
        out
    }

    /// Run `sql` (a checked query that auto-loads `table`) in a fresh process and fill
    /// `row` with what was measured.
    fn timed_load(&self, row: &mut Row, home: &Path, sql: &str, expected: (u64, u128)) {
        let mut cmd = self.unify_cmd(home, false, sql);
        self.finish_run(row, run_measured(&mut cmd), expected);
    }

    fn finish_run(&self, row: &mut Row, run: anyhow::Result<Measured>, expected: (u64, u128)) {
        row.requests = self.mock.requests.load(Ordering::SeqCst);
        row.throttled = self.mock.throttled.load(Ordering::SeqCst);
        row.expected = Some((expected.0, expected.1, expected.0));
        match run {
            Ok(m) => {
                row.wall_secs = m.wall.as_secs_f64();
                row.rows_per_sec = row.records as f64 / row.wall_secs.max(1e-9);
                row.peak_rss_kb = m.max_rss_kb;
                row.observed = parse_check(&m.stdout);
                note_panic(row, &m.stderr);
                if m.code != 0 || row.observed != row.expected {
                    row.correct = false;
                    row.error = Some(format!(
                        "exit {}; stdout: {}; stderr: {}",
                        m.code,
                        m.stdout.trim(),
                        m.stderr.trim()
                    ));
                }
            }
            Err(e) => row.fail(&e),
        }
    }

    /// Take the ratio against the fastest floor with `connections`.
    fn judge(&self, row: &mut Row, connections: usize, limit: f64) {
        let best = row
            .floors
            .iter()
            .filter(|f| f.connections == connections)
            .min_by(|a, b| a.secs.total_cmp(&b.secs))
            .cloned();
        if let Some(f) = best {
            row.floor_secs = Some(f.secs);
            row.floor_kind = format!(
                "{} × {}",
                f.tool,
                if connections == 1 {
                    "1 conn".to_string()
                } else {
                    format!("{connections} conns")
                }
            );
            self.ratio(row, f.secs, limit);
        }
    }

    fn ratio(&self, row: &mut Row, floor: f64, limit: f64) {
        if row.wall_secs > 0.0 && floor > 0.0 {
            let ratio = row.wall_secs / floor;
            row.ratio = Some(ratio);
            row.met = Some(row.correct && ratio <= limit);
        }
    }

    fn startup(&self) -> Row {
        let mut row = Row::new("startup", "-", "--no-daemon", 0, 0);
        let home = match make_home(&self.base) {
            Ok(h) => h,
            Err(e) => {
                row.fail(&e);
                return row;
            }
        };
        self.mock.set(0, 0, 0.0);
        // The first run creates the warehouse; time the second.
        let _ = run_measured(&mut self.unify_cmd(home.path(), false, "select 1"));
        match run_measured(&mut self.unify_cmd(home.path(), false, "select 1")) {
            Ok(m) => {
                row.wall_secs = m.wall.as_secs_f64();
                row.peak_rss_kb = m.max_rss_kb;
                note_panic(&mut row, &m.stderr);
                if m.code != 0 {
                    row.correct = false;
                    row.error = Some(m.stderr);
                }
            }
            Err(e) => row.fail(&e),
        }
        let what = "process start, open the warehouse, one query, shut down: included in every --no-daemon wall time";
        row.note = if row.note.is_empty() {
            what.into()
        } else {
            format!("{what}; {}", row.note)
        };
        row
    }

    fn load(&self, records: u64) -> Row {
        let latency = self.args.load_latency_ms;
        let mut row = Row::new(
            "load",
            "page number, no total",
            "--no-daemon",
            records,
            latency,
        );
        let urls = page_urls(&self.base, "issues", records);
        row.floors = self.floors(&urls, records, latency, &[1, FLOOR_CONNECTIONS]);
        let home = match make_home(&self.base) {
            Ok(h) => h,
            Err(e) => {
                row.fail(&e);
                return row;
            }
        };
        self.mock.set(records, latency, self.args.rate_429);
        self.timed_load(
            &mut row,
            home.path(),
            &check_sql("issues"),
            expected_issues(records),
        );
        row.target = if records >= 1_000_000 {
            "peak RSS < 150 MB, flat; ≤ 2× floor".into()
        } else {
            "≤ 2× sequential floor".into()
        };
        self.judge(&mut row, 1, 2.0);
        if records >= 1_000_000 {
            let rss_ok = row.peak_rss_kb < 150 * 1024;
            row.met = Some(row.met.unwrap_or(true) && rss_ok);
        }
        row
    }

    fn latency(&self, scenario: &str, table: &str, paging: &str) -> Row {
        let records = self.args.latency_records;
        let latency = self.args.latency_ms;
        let mut row = Row::new(scenario, paging, "--no-daemon", records, latency);
        let urls = page_urls(&self.base, table, records);
        let sequential = table == "issues_cursor";
        let kinds: &[usize] = if sequential {
            &[1]
        } else {
            &[FLOOR_CONNECTIONS]
        };
        row.floors = self.floors(&urls, records, latency, kinds);
        let home = match make_home(&self.base) {
            Ok(h) => h,
            Err(e) => {
                row.fail(&e);
                return row;
            }
        };
        self.mock.set(records, latency, self.args.rate_429);
        self.timed_load(
            &mut row,
            home.path(),
            &check_sql(table),
            expected_issues(records),
        );
        if sequential {
            row.target = "≤ 1.2× sequential floor".into();
            self.judge(&mut row, 1, 1.2);
        } else {
            row.target = "≤ 1.5× floor over 8 connections".into();
            self.judge(&mut row, FLOOR_CONNECTIONS, 1.5);
        }
        row
    }

    /// DuckDB's own JSON reader over the same pages saved as files: what ingestion
    /// alone costs in this build, for reference.
    fn duckdb_alone(&self) -> Row {
        let records = self.args.daemon_records;
        let mut row = Row::new("duckdb alone", "-", "--no-daemon", records, 0);
        let dir = self.tmp.path().join(format!("pages-{records}"));
        self.mock.set(records, 0, 0.0);
        let written = std::fs::create_dir_all(&dir).and_then(|_| {
            (0..records / PAGE_SIZE).try_for_each(|i| {
                std::fs::write(dir.join(format!("p{i:06}.json")), self.mock.page(i))
            })
        });
        let home = match written
            .map_err(anyhow::Error::from)
            .and_then(|_| make_home(&self.base))
        {
            Ok(h) => h,
            Err(e) => {
                row.fail(&e);
                return row;
            }
        };
        let sql = format!(
            "create table t as select * from read_json_auto('{}/*.json', format = 'array'); \
             select count(*) as n, sum(id) as s, count(distinct id) as d from t",
            dir.display()
        );
        let mut cmd = self.unify_cmd(home.path(), false, &sql);
        // A statement runs under UNIFY_QUERY_MEMORY_LIMIT (default DuckDB's); fixed
        // here so the reference does not depend on the machine's RAM.
        cmd.env("UNIFY_QUERY_MEMORY_LIMIT", "4GB");
        self.finish_run(&mut row, run_measured(&mut cmd), expected_issues(records));
        let _ = std::fs::remove_dir_all(&dir);
        row.note = "DuckDB's read_json_auto over the same pages saved as files (nested objects \
            kept as STRUCTs and lists, not flattened), through unify --no-daemon with \
            UNIFY_QUERY_MEMORY_LIMIT=4GB: a reference for ingestion alone, no target"
            .into();
        row
    }

    fn fanout(&self) -> Row {
        let latency = self.args.latency_ms;
        let (n, sum) = expected_children();
        let mut row = Row::new(
            "fanout",
            "1 request per parent row (200), 50 req/s",
            "--no-daemon",
            n,
            latency,
        );
        let home = match make_home(&self.base) {
            Ok(h) => h,
            Err(e) => {
                row.fail(&e);
                return row;
            }
        };
        // Load the parents first, so the timed run is the fan-out alone.
        self.mock.set(0, latency, 0.0);
        let parents = run_measured(&mut self.unify_cmd(
            home.path(),
            false,
            "select count(*) from bench.parents",
        ));
        if let Err(e) = parents
            .as_ref()
            .map_err(|e| format!("{e:#}"))
            .and_then(|m| {
                if m.code == 0 {
                    Ok(())
                } else {
                    Err(m.stderr.clone())
                }
            })
        {
            row.correct = false;
            row.error = Some(format!("loading parents: {e}"));
            return row;
        }
        self.mock.set(0, latency, self.args.rate_429);
        let sql = "select count(*) as n, sum(id) as s, count(distinct id) as d from bench.comments";
        let mut cmd = self.unify_cmd(home.path(), false, sql);
        self.finish_run(&mut row, run_measured(&mut cmd), (n, sum));
        // The limiter lets the first request through at once, then one per 1/rate.
        let floor = (FANOUT_PARENTS - 1) as f64 / FANOUT_RPS + latency as f64 / 1000.0;
        row.floor_secs = Some(floor);
        row.floor_kind = format!("(200 − 1) / {FANOUT_RPS} req/s + latency (computed)");
        row.target = "≤ 1.1× what the rate limit allows".into();
        self.ratio(&mut row, floor, 1.1);
        row
    }

    /// The `load` table through `unifyd`, then one-row query round trips.
    fn daemon(&self) -> Vec<Row> {
        let records = self.args.daemon_records;
        let latency = self.args.load_latency_ms;
        let mut load = Row::new(
            "daemon load",
            "page number, no total",
            "unifyd",
            records,
            latency,
        );
        let mut rt_row = Row::new("daemon query", "-", "unifyd", 1, 0);
        let fail = |mut a: Row, mut b: Row, e: String| {
            a.correct = false;
            a.error = Some(e.clone());
            b.correct = false;
            b.error = Some(e);
            vec![a, b]
        };
        let home = match make_home(&self.base) {
            Ok(h) => h,
            Err(e) => return fail(load, rt_row, format!("{e:#}")),
        };
        let daemon = match Daemon::start(&self.unifyd, home.path(), &self.client_rt) {
            Ok(d) => d,
            Err(e) => return fail(load, rt_row, format!("{e:#}")),
        };
        let idle_kb = vm_hwm_kb(daemon.pid()).unwrap_or(0);
        let urls = page_urls(&self.base, "issues", records);
        load.floors = self.floors(&urls, records, latency, &[1]);
        self.mock.set(records, latency, self.args.rate_429);
        let mut cmd = self.unify_cmd(home.path(), true, &check_sql("issues"));
        let run = run_measured(&mut cmd);
        let client_kb = run.as_ref().map(|m| m.max_rss_kb).unwrap_or(0);
        self.finish_run(&mut load, run, expected_issues(records));
        load.peak_rss_kb = vm_hwm_kb(daemon.pid()).unwrap_or(0);
        load.note = format!(
            "peak RSS is unifyd's VmHWM ({} MB idle before the load); the client process peaked at {} MB",
            idle_kb / 1024,
            client_kb / 1024
        );
        load.target = "≤ 2× sequential floor".into();
        self.judge(&mut load, 1, 2.0);

        // Round trips of a one-row query on the loaded table.
        let h = unify::home::Home::new(home.path());
        let n = self.args.round_trips.max(1);
        let timings = self.client_rt.block_on(async {
            let ep = unify::daemon::Endpoints::read(&h).ok_or_else(|| anyhow!("no endpoints"))?;
            let z = unify::client::Zmq::connect(&ep).await?;
            let mut times = Vec::with_capacity(n);
            for i in 0..n + 20 {
                let id = 1 + (i as u64 * 7919) % records.max(1);
                let text = format!("select id, title from bench.issues where id = {id}");
                let start = Instant::now();
                let response = unify::client::Transport::request(
                    &z,
                    unify::protocol::Request::Execute {
                        session: "bench".into(),
                        text,
                    },
                )
                .await?;
                let elapsed = start.elapsed();
                let rows = match &response {
                    unify::protocol::Response::Reply(r) if r.error.is_none() => r
                        .outputs
                        .iter()
                        .map(|o| match o {
                            unify::protocol::Output::Table(t) => t.rows.len(),
                            _ => 0,
                        })
                        .sum::<usize>(),
                    other => bail!("unexpected reply: {other:?}"),
                };
                if rows != 1 {
                    bail!("expected one row for id {id}, got {rows}");
                }
                // The first queries warm up the session and the connection.
                if i >= 20 {
                    times.push(elapsed.as_secs_f64());
                }
            }
            Ok::<_, anyhow::Error>(times)
        });
        drop(daemon);
        match timings {
            Ok(mut t) => {
                t.sort_by(f64::total_cmp);
                let median = t[t.len() / 2];
                let p99 = t[((t.len() as f64 * 0.99) as usize).min(t.len() - 1)];
                rt_row.wall_secs = median;
                rt_row.requests = t.len() as u64;
                rt_row.note = format!(
                    "median of {} one-row queries over ZeroMQ (library client); p99 {:.2} ms, max {:.2} ms",
                    t.len(),
                    p99 * 1e3,
                    t[t.len() - 1] * 1e3
                );
                rt_row.target = "< 5 ms round trip".into();
                rt_row.met = Some(median < 0.005);
                rt_row.floor_kind = "5 ms (target)".into();
            }
            Err(e) => {
                rt_row.correct = false;
                rt_row.error = Some(format!("{e:#}"));
            }
        }
        vec![load, rt_row]
    }
}

/// unify can print a panic and still exit 0 (a task's panic caught by tokio): note it.
fn note_panic(row: &mut Row, stderr: &str) {
    if let Some(line) = stderr.lines().find(|l| l.contains("panicked at")) {
        let next = stderr
            .lines()
            .skip_while(|l| !l.contains("panicked at"))
            .nth(1)
            .unwrap_or("");
        if !row.note.is_empty() {
            row.note.push_str("; ");
        }
        let _ = write!(
            row.note,
            "unify printed a panic (exit code unaffected): {} {}",
            line.trim(),
            next.trim()
        );
    }
}

fn mb(kb: u64) -> String {
    if kb == 0 {
        "-".into()
    } else {
        format!("{:.0}", kb as f64 / 1024.0)
    }
}

fn floor_cell(row: &Row, connections: usize) -> String {
    let best = row
        .floors
        .iter()
        .filter(|f| f.connections == connections)
        .map(|f| format!("{} {:.2}", f.tool, f.secs))
        .collect::<Vec<_>>();
    if best.is_empty() {
        "-".into()
    } else {
        best.join(", ")
    }
}

/// The machine, the binaries and the command line, for the report's header.
fn describe(args: &Args, unify: &Path, curl: bool) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|s| s.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let profile = unify
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let profile_note = match (&args.build_note, profile.as_str()) {
        (Some(note), _) => note.as_str(),
        (None, "debug") => {
            "dev profile: DuckDB at opt-level 3, unify and its Rust dependencies unoptimised"
        }
        (None, "release") => "release profile",
        (None, _) => "build not given (--build-note)",
    };
    let cmdline: Vec<String> = std::env::args()
        .map(|a| {
            if a.contains([' ', ',']) {
                format!("'{a}'")
            } else {
                a
            }
        })
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "* Machine: {model}, {cores} cores, {mem_gib:.0} GiB, Linux {}",
        kernel.trim()
    );
    let _ = writeln!(
        s,
        "* Load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(s, "* unify binary: `{}` ({profile_note})", unify.display());
    let _ = writeln!(
        s,
        "* Mock API: in-process HTTP/1.1 on 127.0.0.1, pre-rendered pages of {PAGE_SIZE} records (~{:.1} KB/record), 429 rate {}",
        render_page(1, 100).len() as f64 / 100.0 / 1000.0,
        args.rate_429
    );
    let _ = writeln!(
        s,
        "* Floors: the same URLs fetched in the same run by {}reqwest (in-process, same build profile as this binary), bodies discarded",
        if curl { "curl -K (1 connection, or -Z --parallel-max 8) and " } else { "" }
    );
    let _ = writeln!(s, "* Command: `{}`", cmdline.join(" "));
    s
}

fn report(rows: &[Row], header: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{header}");
    let _ = writeln!(s, "| scenario | paging | mode | records | latency | requests (429) | wall s | rows/s | peak RSS MB | floor 1 conn s | floor 8 conns s | ratio (vs) | target | met |");
    let _ = writeln!(
        s,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---|---|"
    );
    for r in rows {
        let ratio = match (r.ratio, r.floor_secs) {
            (Some(x), Some(_)) => format!("{x:.3}× ({})", r.floor_kind),
            _ if r.scenario == "daemon query" => format!("{:.2} ms", r.wall_secs * 1e3),
            _ => "-".into(),
        };
        let met = match (r.correct, r.met) {
            (false, _) => "**WRONG**".to_string(),
            (true, Some(true)) => "yes".into(),
            (true, Some(false)) => "**no**".into(),
            (true, None) => "-".into(),
        };
        let wall = if r.scenario == "daemon query" {
            format!("{:.4}", r.wall_secs)
        } else {
            format!("{:.2}", r.wall_secs)
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} ms | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.paging,
            r.mode,
            r.records,
            r.latency_ms,
            r.requests,
            r.throttled,
            wall,
            if r.rows_per_sec > 0.0 {
                format!("{:.0}", r.rows_per_sec)
            } else {
                "-".into()
            },
            mb(r.peak_rss_kb),
            floor_cell(r, 1),
            floor_cell(r, FLOOR_CONNECTIONS),
            ratio,
            r.target,
            met
        );
    }
    let notes: Vec<String> = rows
        .iter()
        .filter(|r| !r.note.is_empty() || r.error.is_some())
        .map(|r| {
            let mut n = format!("* **{}** ({} records): {}", r.scenario, r.records, r.note);
            if let Some(e) = &r.error {
                let e: String = e.chars().take(600).collect();
                let _ = write!(n, " ERROR: {}", e.replace('\n', " "));
            }
            n
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(s, "\n{}", notes.join("\n"));
    }
    s
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me.with_file_name(name))
}

fn run(args: Args) -> anyhow::Result<bool> {
    for &s in &args.sizes {
        if s == 0 || !s.is_multiple_of(PAGE_SIZE) {
            bail!("sizes must be positive multiples of {PAGE_SIZE}, not {s}");
        }
    }
    let wants = |s: &str| args.scenarios.iter().any(|x| x == s);
    for s in &args.scenarios {
        if ![
            "startup", "load", "paged", "offset", "cursor", "fanout", "daemon", "duckdb",
        ]
        .contains(&s.as_str())
        {
            bail!("unknown scenario '{s}'");
        }
    }
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mock")
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    if let Some(records) = args.serve {
        let mock = Arc::new(Mock::new(records - records % PAGE_SIZE));
        mock.set(records, args.latency_ms, args.rate_429);
        let addr = start_mock(&server_rt, mock)?;
        println!("http://{addr}");
        server_rt.block_on(std::future::pending::<()>());
    }

    let mut max = 0;
    if wants("load") {
        max = args.sizes.iter().copied().max().unwrap_or(0);
    }
    if wants("paged") || wants("offset") || wants("cursor") {
        max = max.max(args.latency_records);
    }
    if wants("daemon") || wants("duckdb") {
        max = max.max(args.daemon_records);
    }
    let max = max - max % PAGE_SIZE;
    let t = Instant::now();
    let mock = Arc::new(Mock::new(max));
    eprintln!(
        "rendered {} pages ({} MB) in {:.1} s",
        mock.pages.len(),
        mock.pages.iter().map(|p| p.len()).sum::<usize>() / 1_000_000,
        t.elapsed().as_secs_f64()
    );
    let addr = start_mock(&server_rt, mock.clone())?;
    let unify = match &args.unify_bin {
        Some(p) => p.clone(),
        None => sibling("unify")?,
    };
    let unifyd = match &args.unifyd_bin {
        Some(p) => p.clone(),
        None => sibling("unifyd")?,
    };
    let curl = !args.no_curl
        && Command::new("curl")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    let header = describe(&args, &unify, curl);
    let bench = Bench {
        args: args.clone(),
        unify,
        unifyd,
        mock,
        base: format!("http://{addr}"),
        client_rt,
        curl,
        tmp: tempfile::tempdir()?,
    };

    let mut rows = Vec::new();
    let done = |row: Row, rows: &mut Vec<Row>| {
        eprintln!(
            "{:<13} {:>8} records  {:>8.2} s  {:>6} MB  ratio {}  {}",
            row.scenario,
            row.records,
            row.wall_secs,
            mb(row.peak_rss_kb),
            row.ratio.map(|r| format!("{r:.2}")).unwrap_or("-".into()),
            row.error
                .as_deref()
                .unwrap_or(if row.correct { "ok" } else { "WRONG" })
        );
        rows.push(row);
    };
    if wants("startup") {
        done(bench.startup(), &mut rows);
    }
    if wants("load") {
        for &size in &args.sizes {
            done(bench.load(size), &mut rows);
        }
    }
    if wants("daemon") {
        for row in bench.daemon() {
            done(row, &mut rows);
        }
    }
    if wants("duckdb") {
        done(bench.duckdb_alone(), &mut rows);
    }
    if wants("paged") {
        done(
            bench.latency("paged", "issues_total", "page number, known total"),
            &mut rows,
        );
    }
    if wants("offset") {
        done(
            bench.latency("offset", "issues_offset", "offset, known total"),
            &mut rows,
        );
    }
    if wants("cursor") {
        done(
            bench.latency("cursor", "issues_cursor", "cursor"),
            &mut rows,
        );
    }
    if wants("fanout") {
        done(bench.fanout(), &mut rows);
    }

    let text = report(&rows, &header);
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    }
    if let Some(json) = &args.json {
        std::fs::write(json, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("writing {}", json.display()))?;
    }
    Ok(rows.iter().all(|r| r.correct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_valid_json_with_the_expected_ids() {
        let page: serde_json::Value = serde_json::from_slice(&render_page(201, 100)).unwrap();
        let records = page.as_array().unwrap();
        assert_eq!(records.len(), 100);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r["id"], serde_json::json!(201 + i as u64));
            assert!(r["user"]["login"].is_string());
            assert!(r["labels"].is_array());
        }
        assert!(records.iter().any(|r| r["body"].is_null()));
        assert!(records.iter().any(|r| r["pull_request"].is_object()));
        assert!(records.iter().any(|r| r["closed_at"].is_null()));
        assert_eq!(
            render_page(201, 100),
            render_page(201, 100),
            "deterministic"
        );
    }

    #[test]
    fn check_output_parses() {
        assert_eq!(
            parse_check("n,s,d\n20000,200010000,20000\n"),
            Some((20000, 200_010_000, 20000))
        );
        assert_eq!(expected_issues(20000), (20000, 200_010_000));
    }
}
