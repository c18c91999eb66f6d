//! Issue 11: servers (and processes) that misbehave. Each test stands up a local server
//! that does the bad thing — redirects credentials away, inflates a tiny gzip body to
//! gigabytes, announces a million rows and serves twenty, sends colliding field names,
//! pages with OData keys — or kills the daemon mid-load, and checks that nothing leaks,
//! nothing loops, memory stays bounded and nothing is lost.

use crate::support::*;
use serde_json::{json, Value};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use unify::protocol::Action;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request as WmRequest, ResponseTemplate};

/// Everything a request carried, as one text: method, URL (query included), headers.
fn request_text(r: &WmRequest) -> String {
    let mut text = format!("{} {}\n", r.method, r.url);
    for (name, value) in r.headers.iter() {
        text.push_str(&format!(
            "{name}: {}\n",
            value.to_str().unwrap_or("<binary>")
        ));
    }
    text
}

/// One auth setup: the spec's `auth:` block, the connection's options, the secret
/// values that must go nowhere but the API's origin (and its token endpoint), and
/// those the API's request shows literally.
struct AuthCase {
    name: &'static str,
    auth: String,
    options: String,
    secrets: Vec<&'static str>,
    at_api: Vec<&'static str>,
}

fn auth_cases(api: &str) -> Vec<AuthCase> {
    vec![
        AuthCase {
            name: "headers",
            auth: "{type: HEADERS, params: {X-Api-Key: key, Cookie: session cookie}}".into(),
            options: "{X-Api-Key: hdr-key-secret-1, Cookie: 'session=cookie-secret-2'}".into(),
            secrets: vec!["hdr-key-secret-1", "cookie-secret-2"],
            at_api: vec!["hdr-key-secret-1", "cookie-secret-2"],
        },
        AuthCase {
            name: "params",
            auth: "{type: PARAMS, params: {api_key: key}}".into(),
            options: "{api_key: param-secret-3}".into(),
            secrets: vec!["param-secret-3"],
            at_api: vec!["param-secret-3"],
        },
        AuthCase {
            name: "basic",
            auth: "{type: BASIC, params: {username: user, password: pass}}".into(),
            options: "{username: basic-user-4, password: basic-pass-5}".into(),
            secrets: vec!["basic-user-4", "basic-pass-5", "YmFzaWMtdXNlci00OmJhc2ljLXBhc3MtNQ"],
            at_api: vec!["YmFzaWMtdXNlci00OmJhc2ljLXBhc3MtNQ"],
        },
        AuthCase {
            name: "bearer",
            auth: "{type: BEARER, params: {bearer_token: token}}".into(),
            options: "{bearer_token: bearer-secret-6}".into(),
            secrets: vec!["bearer-secret-6"],
            at_api: vec!["bearer-secret-6"],
        },
        AuthCase {
            name: "aws4",
            auth: "{type: AWS4Auth, service: execute-api, params: {access_key_id: id, secret_key: key}}".into(),
            options: "{access_key_id: AKIDSECRET7, secret_key: aws-secret-8, session_token: aws-session-9}".into(),
            secrets: vec!["AKIDSECRET7", "aws-secret-8", "aws-session-9"],
            at_api: vec!["AKIDSECRET7", "aws-session-9", "x-amz-date"],
        },
        AuthCase {
            name: "oauth2",
            auth: "{type: OAUTH2, params: {client_id: id, client_secret: secret}}".into(),
            options: format!(
                "{{token_url: '{api}/oauth/token', client_id: oauth-client-10, client_secret: oauth-secret-11}}"
            ),
            secrets: vec!["oauth-client-10", "oauth-secret-11", "oauth-access-12"],
            at_api: vec!["oauth-access-12"],
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    for case in auth_cases("{api}") {
        let elsewhere = MockServer::start().await;
        Mock::given(path("/landing"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1}])))
            .mount(&elsewhere)
            .await;
        let api = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": "oauth-access-12", "expires_in": 3600})),
            )
            .mount(&api)
            .await;
        Mock::given(path("/items"))
            .respond_with(ResponseTemplate::new(302).insert_header(
                "Location",
                format!("{}/landing?from=api", elsewhere.uri()).as_str(),
            ))
            .mount(&api)
            .await;
        let t = TestHome::new();
        t.spec(
            "leaky",
            &format!(
                "name: leaky\nbase_url: {}\nauth: {}\nheaders: {{X-Extra: '${{extra}}'}}\ntables:\n  - name: items\n    resource_path: /items\n",
                api.uri(),
                case.auth
            ),
        );
        let options = case.options.replace("{api}", &api.uri());
        let options = format!(
            "{}, extra: extra-header-secret-13}}",
            options.trim_end_matches('}')
        );
        t.connections(&format!(
            "- leaky:\n    connector: leaky\n    options: {options}\n"
        ));
        let engine = t.engine();
        let summary = load(&engine, "leaky", "items", Action::Load)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(summary.rows, 1, "{}: followed to the data", case.name);

        let sent = requests_to(&api, "/items").await;
        assert_eq!(sent.len(), 1, "{}", case.name);
        let at_api = request_text(&sent[0]);
        let received = elsewhere.received_requests().await.unwrap();
        assert_eq!(received.len(), 1, "{}", case.name);
        let away = request_text(&received[0]);
        // The API's origin did get the credentials and the spec header…
        for shown in case.at_api.iter().chain(&["extra-header-secret-13"]) {
            assert!(
                at_api.contains(shown),
                "{}: {shown} reaches the API:\n{at_api}",
                case.name
            );
        }
        // …and the other origin none of them.
        for secret in case.secrets.iter().chain(&["extra-header-secret-13"]) {
            assert!(
                !away.contains(secret),
                "{}: {secret} leaked to the other origin:\n{away}",
                case.name
            );
        }
        for header in [
            "authorization",
            "cookie",
            "x-api-key",
            "x-extra",
            "referer",
            "x-amz-date",
            "x-amz-security-token",
        ] {
            assert!(
                !received[0].headers.contains_key(header),
                "{}: {header} sent to the other origin:\n{away}",
                case.name
            );
        }
        assert_eq!(received[0].url.query(), Some("from=api"), "{}", case.name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_within_the_api_keep_credentials_and_bodies_never_leave_it() {
    let elsewhere = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 9}])))
        .mount(&elsewhere)
        .await;
    let api = MockServer::start().await;
    // Same origin: followed, authenticated again, the key not repeated.
    Mock::given(path("/old"))
        .respond_with(
            ResponseTemplate::new(301).insert_header("Location", "/new?api_key=param-secret-14"),
        )
        .mount(&api)
        .await;
    Mock::given(path("/new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1}, {"id": 2}])))
        .mount(&api)
        .await;
    // A POST whose 307 would carry its body to another origin: refused.
    Mock::given(path("/search"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/search", elsewhere.uri()).as_str()),
        )
        .mount(&api)
        .await;
    // A token endpoint that redirects: the client secret is not sent on.
    Mock::given(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/steal", elsewhere.uri()).as_str()),
        )
        .mount(&api)
        .await;
    let t = TestHome::new();
    t.spec(
        "moved",
        &format!(
            "name: moved\nbase_url: {}\nauth: {{type: PARAMS, params: {{api_key: key}}}}\ntables:\n  - name: old\n    resource_path: /old\n  - name: search\n    resource_path: /search\n    method: POST\n    post: {{q: body-secret-15}}\n",
            api.uri()
        ),
    );
    t.spec(
        "tokens",
        &format!(
            "name: tokens\nbase_url: {}\nauth: {{type: OAUTH2, params: {{client_id: id, client_secret: secret}}}}\ntables:\n  - name: t\n    resource_path: /new\n",
            api.uri()
        ),
    );
    t.connections(&format!(
        "- moved:\n    connector: moved\n    options: {{api_key: param-secret-14}}\n- tokens:\n    connector: tokens\n    options: {{token_url: '{}/oauth/token', client_id: client-16, client_secret: oauth-secret-17}}\n",
        api.uri()
    ));
    let engine = t.engine();
    let summary = load(&engine, "moved", "old", Action::Load).await.unwrap();
    assert_eq!(summary.rows, 2);
    let hop = requests_to(&api, "/new").await;
    assert_eq!(hop.len(), 1);
    assert_eq!(
        hop[0].url.query(),
        Some("api_key=param-secret-14"),
        "re-applied once"
    );

    let err = load(&engine, "moved", "search", Action::Load)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 307 asks to send the request body to another origin"),
        "{err}"
    );
    let err = load(&engine, "tokens", "t", Action::Load)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not followed"), "{err}");
    assert!(!err.contains("oauth-secret-17"), "{err}");
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "nothing reached the other origin"
    );
}

/// A server answering every request with a gzip body that inflates to `inflated`
/// bytes of `[0,0,0,…` (compressed on the fly, so the test holds little memory).
/// Returns its base URL.
async fn gzip_bomb(inflated: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let header = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n";
                if socket.write_all(header.as_bytes()).await.is_err() {
                    return;
                }
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let block = b"0,".repeat(32 * 1024);
                gz.write_all(b"[").unwrap();
                let mut written = 1;
                while written < inflated {
                    gz.write_all(&block).unwrap();
                    written += block.len();
                    let out = std::mem::take(gz.get_mut());
                    if !out.is_empty() && socket.write_all(&out).await.is_err() {
                        return; // The client hung up: as it should.
                    }
                }
                gz.write_all(b"0]").unwrap();
                let out = gz.finish().unwrap();
                let _ = socket.write_all(&out).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_fails_the_load_at_the_size_cap_with_one_clear_line() {
    // 256 MB once inflated (about 250 KB on the wire); the spec allows 1 MB.
    let bomb = gzip_bomb(256 << 20).await;
    let big = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(format!("[{}0]", "0,".repeat(600_000))),
        )
        .mount(&big)
        .await;
    let t = TestHome::new();
    t.spec(
        "bomb",
        &format!("name: bomb\nbase_url: {bomb}\nmax_response_mb: 1\ntables:\n  - name: t\n    resource_path: /t\n"),
    );
    t.spec(
        "big",
        &format!("name: big\nbase_url: {}\nmax_response_mb: 1\ntables:\n  - name: t\n    resource_path: /big\n", big.uri()),
    );
    t.connections("- bomb:\n    connector: bomb\n- big:\n    connector: big\n");
    let engine = t.engine();
    let err = load(&engine, "bomb", "t", Action::Load)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the response is larger than 1 MB once decompressed")
            && err.contains("max_response_mb"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!engine_has_table(&engine, "bomb", "t"));
    // An announced length over the cap fails the same way, before reading.
    let err = load(&engine, "big", "t", Action::Load)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("larger than 1 MB"), "{err}");
}

fn engine_has_table(engine: &unify::engine::Engine, schema: &str, table: &str) -> bool {
    let conn = engine.warehouse().connect().unwrap();
    unify::warehouse::relation_exists(&conn, schema, table).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_total_of_a_million_that_serves_twenty_rows_costs_a_handful_of_requests() {
    let server = MockServer::start().await;
    let t = TestHome::new();
    for (name, size) in [("capped", 100), ("full", 20)] {
        t.spec(
            name,
            &format!(
                "name: {name}\nbase_url: {}\ntables:\n  - name: items\n    resource_path: /items\n    result_body_path: items\n    supports_paging: true\n    paging: {{strategy: pageAndCount, page_param: page, count_param: per_page, page_size: {size}, total_path: total}}\n",
                server.uri()
            ),
        );
    }
    t.connections("- capped:\n    connector: capped\n- full:\n    connector: full\n");
    let engine = t.engine();
    for schema in ["capped", "full"] {
        server.reset().await;
        Mock::given(path("/items"))
            .respond_with(|r: &WmRequest| {
                let items: Vec<Value> = if page_param(r) == 1 {
                    (0..20).map(|i| json!({"id": i})).collect()
                } else {
                    Vec::new()
                };
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": 1_000_000, "items": items}))
            })
            .mount(&server)
            .await;
        let summary = load(&engine, schema, "items", Action::Load).await.unwrap();
        assert_eq!(summary.rows, 20, "{schema}");
        let sent = server.received_requests().await.unwrap().len();
        let window = unify::adapters::rest::client::DEFAULT_CONCURRENCY;
        assert!(
            sent <= 1 + window,
            "{schema}: {sent} requests for 20 rows (at most the first page and one window of {window})"
        );
        assert!(
            summary.requests as usize <= 1 + window,
            "{schema}: {summary:?}"
        );
    }
    let warned: i64 = scalar(
        &engine,
        "select count(*) from unify.loading_log where level = 'warning' and message like '%announced a total of 1000000 records (paging.total_path) but 20 arrived; paging stopped at the first empty page%'",
    );
    assert_eq!(warned, 2, "one warning per load, in the load's record");
}

#[tokio::test(flavor = "multi_thread")]
async fn colliding_flattened_names_keep_both_values_and_warn() {
    let server = MockServer::start().await;
    Mock::given(path("/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"user_id": 111, "user": {"id": 222}, "": "blank", "rates": {"101": 1.5, "202": 2.5}},
            {"user": {"id": 444}, "user_id": 333},
        ])))
        .mount(&server)
        .await;
    let t = TestHome::new();
    t.spec(
        "clash",
        &format!(
            "name: clash\nbase_url: {}\ntables:\n  - name: users\n    resource_path: /users\n",
            server.uri()
        ),
    );
    t.connections("- clash:\n    connector: clash\n");
    let engine = t.engine();
    load(&engine, "clash", "users", Action::Load).await.unwrap();
    assert_eq!(
        columns(&engine, "clash", "users"),
        ["user_id", "user_id_2", "empty_key", "rates"]
    );
    let conn = engine.warehouse().connect().unwrap();
    let rows: Vec<(i64, i64)> = conn
        .prepare("select user_id, user_id_2 from clash.users order by user_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, [(111, 222), (333, 444)]);
    let rate: f64 = scalar(
        &engine,
        "select (rates->>'$.202')::double from clash.users where user_id = 111",
    );
    assert_eq!(rate, 2.5);
    let warnings: Vec<String> = conn
        .prepare("select message from unify.loading_log where level = 'warning' order by ts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        warnings.iter().any(
            |w| w.contains("'user_id' and 'user.id' both flatten to the column name 'user_id'")
        ),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("'rates' has only id-like keys")),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_odata_api_pages_through_at_odata_next_link() {
    let server = MockServer::start().await;
    let base = server.uri();
    let second = format!("{base}/v1.0/users?$skiptoken=page2");
    Mock::given(path("/v1.0/users"))
        .respond_with(move |r: &WmRequest| {
            let auth_ok = r
                .headers
                .get("authorization")
                .is_some_and(|v| v == "Bearer graph-token-18");
            if !auth_ok {
                return ResponseTemplate::new(401);
            }
            let body = if r
                .url
                .query()
                .unwrap_or_default()
                .contains("skiptoken=page2")
            {
                json!({"@odata.context": "ctx", "value": [{"id": "c", "displayName": "Carol"}]})
            } else {
                json!({
                    "@odata.context": "ctx",
                    "@odata.count": 3,
                    "value": [{"id": "a", "displayName": "Ann"}, {"id": "b", "displayName": "Bob"}],
                    "@odata.nextLink": second,
                })
            };
            ResponseTemplate::new(200).set_body_json(body)
        })
        .mount(&server)
        .await;
    let t = TestHome::new();
    for (name, link) in [
        ("graph", "\"@odata.nextLink\""),
        ("graph2", "\"$['@odata.nextLink']\""),
    ] {
        t.spec(
            name,
            &format!(
                "name: {name}\nbase_url: {base}/v1.0\nauth: {{type: BEARER, params: {{bearer_token: token}}}}\ntables:\n  - name: users\n    resource_path: /users\n    result_body_path: value\n    result_meta_paths: [\"$['@odata.context']\"]\n    supports_paging: true\n    paging:\n      strategy: nextLink\n      pager_link_path: {link}\n"
            ),
        );
    }
    t.connections(
        "- graph:\n    connector: graph\n    options: {bearer_token: graph-token-18}\n- graph2:\n    connector: graph2\n    options: {bearer_token: graph-token-18}\n",
    );
    let engine = t.engine();
    for schema in ["graph", "graph2"] {
        let summary = load(&engine, schema, "users", Action::Load).await.unwrap();
        assert_eq!((summary.rows, summary.pages), (3, 2), "{schema}");
        let names: String = scalar(
            &engine,
            &format!("select string_agg(displayName, ',' order by id) from {schema}.users"),
        );
        assert_eq!(names, "Ann,Bob,Carol");
        let context: String = scalar(
            &engine,
            &format!("select min(\"@odata.context\") from {schema}.users"),
        );
        assert_eq!(context, "ctx");
    }
}

/// Run `unify` (daemon mode unless `no_daemon`) for `home`, from `cwd`.
fn run_unify(
    home: &std::path::Path,
    cwd: &std::path::Path,
    no_daemon: bool,
    script: &str,
) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_unify"));
    if no_daemon {
        cmd.arg("--no-daemon");
    }
    let out = cmd
        .arg("--home")
        .arg(home)
        .args(["--format", "csv", "-c", script])
        .current_dir(cwd)
        .env("UNIFY_QUERY_MEMORY_LIMIT", "80MB")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stop_daemon(home: &std::path::Path) {
    let _ = Command::new(env!("CARGO_BIN_EXE_unifyd"))
        .arg("--home")
        .arg(home)
        .arg("stop")
        .output();
}

/// Modes of every regular file and directory under `dir`, `files/` and `rest_specs/`
/// (the user's own) left out.
fn modes(dir: &std::path::Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        let name = entry.path().display().to_string();
        if meta.is_dir() {
            let base = entry.file_name();
            if base == "files" || base == "rest_specs" {
                continue;
            }
            out.push((name, meta.permissions().mode() & 0o777));
            out.extend(modes(&entry.path()));
        } else if meta.is_file() {
            out.push((name, meta.permissions().mode() & 0o777));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_home_becomes_private_and_duckdb_spills_inside_it() {
    use std::os::unix::fs::PermissionsExt;
    for no_daemon in [false, true] {
        let parent = tempfile::tempdir().unwrap();
        let home = parent.path().join("home");
        let cwd = parent.path().join("elsewhere");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
        for file in ["connections.yaml", "history"] {
            std::fs::write(home.join(file), "").unwrap();
            std::fs::set_permissions(home.join(file), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        // A sort of ~200 MB cannot finish in 80 MB without spilling to DuckDB's temp
        // directory.
        let (code, stdout, stderr) = run_unify(
            &home,
            &cwd,
            no_daemon,
            "select current_setting('temp_directory') as tmp; select count(*) as n from (select i, md5(i::varchar) as h from range(4000000) t(i) order by h)",
        );
        if !no_daemon {
            stop_daemon(&home);
        }
        assert_eq!(code, 0, "{stderr}");
        let tmp_dir = home.join("tmp");
        assert!(
            stdout.starts_with(&format!("tmp\n{}\n", tmp_dir.display())),
            "{stdout}"
        );
        assert!(stdout.ends_with("n\n4000000\n"), "{stdout}");
        assert!(
            !cwd.join(".tmp").exists(),
            "nothing written where the client ran"
        );
        assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
        let mode = std::fs::metadata(&home).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "daemon mode: {}", !no_daemon);
        let listed = modes(&home);
        assert!(
            listed.iter().any(|(n, _)| n.ends_with("unify.duckdb")),
            "{listed:?}"
        );
        assert!(
            listed.iter().any(|(n, _)| n.ends_with("queue.db")),
            "{listed:?}"
        );
        for (name, mode) in listed {
            let is_dir = std::path::Path::new(&name).is_dir();
            let want = if is_dir { 0o700 } else { 0o600 };
            assert_eq!(
                mode, want,
                "{name} is {mode:o} (daemon mode: {})",
                !no_daemon
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_import_url_is_stored_without_its_query() {
    let server = MockServer::start().await;
    Mock::given(path("/exports/people.csv"))
        .respond_with(ResponseTemplate::new(200).set_body_string("id,name\n1,Ann\n2,Bob\n"))
        .mount(&server)
        .await;
    for no_daemon in [false, true] {
        let parent = tempfile::tempdir().unwrap();
        let home = parent.path().join("home");
        let url = format!(
            "{}/exports/people.csv?X-Amz-Signature=sig-secret-19&X-Amz-Credential=cred",
            server.uri()
        );
        let (code, stdout, stderr) = run_unify(
            &home,
            parent.path(),
            no_daemon,
            &format!("import '{url}' into files.people; select source, options from unify.file_imports; reload table files.people"),
        );
        if !no_daemon {
            stop_daemon(&home);
        }
        assert_eq!(
            code, 1,
            "the reload cannot work without the signature: {stderr}"
        );
        assert!(
            stdout.contains(&format!("{}/exports/people.csv,", server.uri())),
            "{stdout}"
        );
        assert!(!stdout.contains("sig-secret-19"), "{stdout}");
        assert!(!stderr.contains("sig-secret-19"), "{stderr}");
        assert!(
            stderr.contains("which unify does not store; import it again with the full URL"),
            "{stderr}"
        );
        for file in ["unify.duckdb", "unify.duckdb.wal"] {
            let bytes = std::fs::read(home.join(file)).unwrap_or_default();
            assert!(
                !bytes.windows(13).any(|w| w == b"sig-secret-19"),
                "the signature is nowhere in {file}"
            );
        }
    }
}

/// A home whose table `slow.t` has `pages` pages of 10 rows, each answered after
/// `delay`; the server counts the requests.
async fn slow_api(pages: u64, delay: Duration) -> (TestHome, MockServer) {
    let slow = MockServer::start().await;
    Mock::given(path("/t"))
        .respond_with(move |r: &WmRequest| {
            let page = page_param(r);
            let rows: Vec<Value> = if page <= pages {
                (0..10).map(|i| json!({"id": page * 100 + i})).collect()
            } else {
                Vec::new()
            };
            ResponseTemplate::new(200)
                .set_body_json(rows)
                .set_delay(delay)
        })
        .mount(&slow)
        .await;
    let t = TestHome::new();
    t.spec(
        "slow",
        &format!(
            "name: slow\nbase_url: {}\npolling_interval_secs: 0\ntables:\n  - name: t\n    resource_path: /t\n    supports_paging: true\n    paging: {{strategy: pageAndCount, page_param: page, count_param: n, page_size: 10}}\n",
            slow.uri()
        ),
    );
    t.connections("- slow:\n    connector: slow\n");
    (t, slow)
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

/// The rows of the first table of a reply.
fn table_rows(reply: &unify::protocol::Reply) -> Vec<Vec<Value>> {
    reply
        .outputs
        .iter()
        .find_map(|o| match o {
            unify::protocol::Output::Table(t) => Some(t.rows.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no table in {reply:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_whose_load_kills_the_daemon_fails_after_the_attempt_limit() {
    use crate::daemon::{exec, wait_job, TestDaemon};
    let (t, slow) = slow_api(1000, Duration::from_millis(500)).await;
    let queue = unify::queue::Queue::open(&t.home.queue_file())
        .await
        .unwrap();
    let job = queue
        .enqueue(
            "test",
            "slow",
            "t",
            Action::Load,
            unify::protocol::Requester::User,
        )
        .await
        .unwrap()
        .into_record();
    queue.close().await;
    let id = job.job.id.clone();
    let limit = unify::actors::MAX_ATTEMPTS;
    for run in 1..=limit {
        let before = requests(&slow).await;
        let mut d = TestDaemon::start(&t.home, &[]).await;
        // The job runs again (its load reaches the API), then the daemon dies.
        let started = Instant::now();
        while requests(&slow).await <= before {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "run {run} never started\n{}",
                d.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        d.kill9();
    }
    let after_last = requests(&slow).await;
    let d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let status = wait_job(&z, &id, Duration::from_secs(30)).await;
    assert_eq!(
        status.state,
        unify::protocol::JobState::Failed,
        "{status:?}"
    );
    let error = status.error.clone().unwrap_or_default();
    assert!(
        error.contains(&format!("job interrupted {limit} times")),
        "{error}"
    );
    let r = exec(
        &z,
        &format!("select state, error from unify.loading_jobs where job_id = '{id}'"),
    )
    .await;
    let rows = table_rows(&r);
    assert_eq!(rows.len(), 1, "{r:?}");
    assert_eq!(rows[0][0], json!("failed"));
    assert_eq!(
        rows[0][1],
        json!(error),
        "one writer: both stores say the same"
    );
    // Not run again: the API heard nothing more.
    let r = exec(&z, "select 1").await;
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(requests(&slow).await, after_last);
    let queue = unify::queue::Queue::open(&t.home.queue_file())
        .await
        .unwrap();
    let stored = queue.get(&id).await.unwrap().expect("job");
    assert_eq!(stored.attempts, limit);
    queue.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_that_looks_expired_to_the_wall_clock_does_not_rerun_a_healthy_job() {
    use crate::daemon::{exec, wait_job, TestDaemon};
    let (t, slow) = slow_api(12, Duration::from_secs(1)).await;
    let d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let r = exec(&z, "select count(*) from slow.t").await;
    let id = r.wait[0].id.clone();
    let started = Instant::now();
    while requests(&slow).await == 0 {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The laptop slept for an hour: by the wall clock, the job's lease ran out long
    // ago, every time the worker renews it (each renewal is still a heartbeat).
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", t.home.queue_file().display()))
        .await
        .unwrap();
    let skewer = {
        let (pool, id) = (pool.clone(), id.clone());
        tokio::spawn(async move {
            let mut n = 0i64;
            loop {
                n += 1;
                let past = unify::queue::now_ms() - 3_600_000;
                let _ = sqlx::query(
                    "UPDATE jobs SET lease_until_ms = ? WHERE id = ? AND state = 'running' AND lease_until_ms > ?",
                )
                .bind(past - n)
                .bind(&id)
                .bind(past + 1_800_000)
                .execute(&pool)
                .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let status = wait_job(&z, &id, Duration::from_secs(60)).await;
    skewer.abort();
    pool.close().await;
    assert_eq!(
        status.state,
        unify::protocol::JobState::Done,
        "{status:?}\n{}",
        d.log()
    );
    assert_eq!(status.rows, 120);
    let queue = unify::queue::Queue::open(&t.home.queue_file())
        .await
        .unwrap();
    let stored = queue.get(&id).await.unwrap().expect("job");
    assert_eq!(stored.attempts, 1, "run once, never re-queued");
    queue.close().await;
    // Page 1..=12 and the empty page 13, each once.
    assert_eq!(requests(&slow).await, 13);
}
