//! Loading REST APIs into DuckDB: the original tool's mocksvc spec, every pager, every
//! auth type and every error path, against local mock servers.

use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};
use unify::protocol::Action;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[tokio::test]
async fn mocksvc_repos27_has_27_rows_and_105_flattened_columns() {
    let server = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&server);
    let engine = t.engine();
    let summary = load(&engine, "mocksvc", "repos27", Action::Load)
        .await
        .unwrap();
    assert_eq!(summary.rows, 27);
    assert_eq!(requests_to(&server, "/api/repos_27").await.len(), 1);
    let req = &requests_to(&server, "/api/repos_27").await[0];
    assert_eq!(req.headers["accept"], "application/json");
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(
        req.url.query(),
        None,
        "no paging params for a non-paging table"
    );

    let cols = columns(&engine, "mocksvc", "repos27");
    assert_eq!(cols.len(), 105, "{cols:?}");
    for c in [
        "owner_login",
        "owner_id",
        "owner_site_admin",
        "permissions_admin",
        "permissions_push",
        "license_key",
        "license_name",
        "license_spdx_id",
        "license_url",
        "license_node_id",
        "license",
        "mirror_url",
        "topics",
    ] {
        assert!(cols.iter().any(|x| x == c), "missing {c}");
    }
    assert_eq!(
        scalar::<i64>(
            &engine,
            "select count(*) from mocksvc.repos27 where private"
        ),
        22
    );
    assert_eq!(
        scalar::<i64>(
            &engine,
            "select count(*) from mocksvc.repos27 where language = 'Python'"
        ),
        13
    );
    assert_eq!(
        scalar::<i64>(
            &engine,
            "select count(*) from mocksvc.repos27 where license_key is not null"
        ),
        6
    );
    assert_eq!(
        scalar::<i64>(
            &engine,
            "select sum(open_issues_count) from mocksvc.repos27"
        ),
        11
    );
    assert_eq!(
        scalar::<i64>(
            &engine,
            "select count(*) from mocksvc.repos27 where description is null"
        ),
        8
    );
    assert_eq!(
        scalar::<String>(&engine, "select data_type from information_schema.columns where table_name = 'repos27' and column_name = 'created_at'"),
        "TIMESTAMP"
    );
    assert_eq!(
        scalar::<String>(
            &engine,
            "select strftime(min(created_at), '%Y-%m-%d %H:%M:%S') from mocksvc.repos27"
        ),
        "2021-11-15 14:44:06"
    );
    // Lists are JSON, never a language repr.
    assert_eq!(
        scalar::<String>(&engine, "select data_type from information_schema.columns where table_name = 'repos27' and column_name = 'topics'"),
        "JSON"
    );
    assert_eq!(
        scalar::<String>(
            &engine,
            "select topics::varchar from mocksvc.repos27 limit 1"
        ),
        "[]"
    );

    // The spec's view over repos27 was created with the table.
    assert_eq!(
        scalar::<i64>(&engine, "select count(*) from mocksvc.repos_view"),
        27
    );
    assert_eq!(
        scalar::<String>(
            &engine,
            "select bigname from mocksvc.repos_view order by idkey limit 1"
        ),
        "tatari-tv/application-infra"
    );
}

#[tokio::test]
async fn mocksvc_repos1100_pages_eleven_times_and_the_grouped_view_has_127_rows() {
    let server = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&server);
    let engine = t.engine();
    let summary = load(&engine, "mocksvc", "repos1100", Action::Load)
        .await
        .unwrap();
    assert_eq!(summary.rows, 1027);
    let reqs = requests_to(&server, "/api/repos_1100").await;
    assert_eq!(reqs.len(), 11, "exactly 11 requests");
    for (i, r) in reqs.iter().enumerate() {
        let q: Vec<(String, String)> = r
            .url
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert_eq!(
            q,
            vec![
                ("page".into(), (i + 1).to_string()),
                ("count".into(), "100".into())
            ]
        );
    }
    assert_eq!(
        scalar::<i64>(&engine, "select count(distinct id) from mocksvc.repos1100"),
        1027
    );
    assert_eq!(
        scalar::<i64>(&engine, "select count(*) from mocksvc.repos11_short"),
        127
    );
    assert_eq!(
        scalar::<i64>(&engine, "select max(count) from mocksvc.repos11_short"),
        10
    );
    assert_eq!(
        scalar::<i64>(&engine, "select min(count) from mocksvc.repos11_short"),
        1
    );

    // Refresh with the `updates` strategy: later_than = last scan start - 24h.
    let before = chrono::Utc::now() - chrono::Duration::hours(24);
    let summary = load(&engine, "mocksvc", "repos1100", Action::Refresh)
        .await
        .unwrap();
    assert_eq!(summary.pages, 11);
    let reqs = requests_to(&server, "/api/repos_1100").await;
    assert_eq!(reqs.len(), 22);
    let later: Vec<String> = reqs[11..]
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "later_than")
                .map(|(_, v)| v.to_string())
                .expect("later_than sent")
        })
        .collect();
    let stamp = chrono::NaiveDateTime::parse_from_str(&later[0], "%Y/%m/%d %H:%M")
        .expect("queryDateFormat");
    let diff = (stamp.and_utc() - before).num_seconds().abs();
    assert!(
        diff < 120,
        "later_than {} is not scan start - 24h",
        later[0]
    );
    assert_eq!(
        scalar::<i64>(&engine, "select count(*) from mocksvc.repos1100"),
        1027
    );
    assert_eq!(
        scalar::<i64>(&engine, "select count(distinct id) from mocksvc.repos1100"),
        1027
    );
    assert_eq!(
        scalar::<i64>(&engine, "select count(*) from unify.loading_jobs where table_name = 'repos1100' and state = 'done'"),
        2
    );
}

#[tokio::test]
async fn a_failed_reload_leaves_the_previous_table_intact() {
    let server = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&server);
    let engine = t.engine();
    load(&engine, "mocksvc", "repos100", Action::Load)
        .await
        .unwrap();
    server.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "token revoked"})))
        .mount(&server)
        .await;
    let err = load(&engine, "mocksvc", "repos100", Action::Reload)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("API call unauthorized: HTTP 401"), "{err}");
    assert!(err.contains("/api/repos_100"), "{err}");
    assert!(!err.contains("abc123"), "no secrets in errors: {err}");
    assert_eq!(
        scalar::<i64>(&engine, "select count(*) from mocksvc.repos100"),
        100
    );
    assert_eq!(
        scalar::<i64>(&engine, "select count(*) from information_schema.tables where table_name like '_unify_staging%'"),
        0
    );
    assert_eq!(
        scalar::<String>(
            &engine,
            "select state from unify.loading_jobs order by started_at desc limit 1"
        ),
        "failed"
    );
}

/// A spec with one table `t` at `/t` using `paging` (YAML flow map) and `extra` keys.
fn one_table_spec(base: &str, auth: &str, table_extra: &str) -> String {
    format!(
        "name: api\nbase_url: {base}\nauth: {auth}\nretry: {{max_attempts: 3, max_backoff_secs: 2}}\ntables:\n  - name: t\n    resource_path: /t\n{table_extra}"
    )
}

fn api_home(server: &MockServer, auth: &str, table_extra: &str, options: &str) -> TestHome {
    let t = TestHome::new();
    t.spec("api", &one_table_spec(&server.uri(), auth, table_extra));
    t.connections(&format!(
        "- api:\n    connector: api\n    options: {{{options}}}\n"
    ));
    t
}

fn rows(n: usize, start: usize) -> serde_json::Value {
    json!((start..start + n)
        .map(|i| json!({"id": i, "name": format!("n{i}")}))
        .collect::<Vec<_>>())
}

#[tokio::test]
async fn pager_page_and_count_stops_on_a_short_page() {
    let server = MockServer::start().await;
    for (page, n) in [(1, 25), (2, 25), (3, 7)] {
        Mock::given(path("/t"))
            .and(query_param("p", page.to_string()))
            .and(query_param("size", "25"))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows(n, page * 100)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let t = api_home(&server, "{type: NONE}", "    supports_paging: true\n    paging: {strategy: pageAndCount, page_param: p, count_param: size, page_size: 25}\n", "");
    let engine = t.engine();
    assert_eq!(
        load(&engine, "api", "t", Action::Load).await.unwrap().rows,
        57
    );
}

#[tokio::test]
async fn pager_offset_and_count_advances_by_rows_and_uses_a_known_total_concurrently() {
    let server = MockServer::start().await;
    for (start, n) in [(0, 10), (10, 10), (20, 10), (30, 3)] {
        Mock::given(path("/t"))
            .and(query_param("startAt", start.to_string()))
            .and(query_param("maxResults", "10"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": 33, "issues": rows(n, start)})),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let t = api_home(
        &server,
        "{type: NONE}",
        "    supports_paging: true\n    result_body_path: issues\n    paging: {strategy: offsetAndCount, offset_param: startAt, count_param: maxResults, page_size: 10, total_path: total}\n",
        "",
    );
    let engine = t.engine();
    assert_eq!(
        load(&engine, "api", "t", Action::Load).await.unwrap().rows,
        33
    );
    assert_eq!(
        scalar::<i64>(&engine, "select count(distinct id) from api.t"),
        33
    );
}

#[tokio::test]
async fn pager_token_follows_the_cursor_even_on_short_pages() {
    let server = MockServer::start().await;
    Mock::given(path("/t"))
        .and(query_param_is_missing("after"))
        .and(query_param("limit", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"results": rows(1, 0), "paging": {"next": {"after": "c1"}}})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/t"))
        .and(query_param("after", "c1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": rows(2, 1)})))
        .mount(&server)
        .await;
    let t = api_home(
        &server,
        "{type: NONE}",
        "    supports_paging: true\n    result_body_path: results\n    paging: {strategy: pagerToken, token_param: after, count_param: limit, page_size: 2, pager_token_path: paging.next.after}\n",
        "",
    );
    assert_eq!(
        load(&t.engine(), "api", "t", Action::Load)
            .await
            .unwrap()
            .rows,
        3
    );
}

#[tokio::test]
async fn pager_token_that_repeats_is_an_error_not_an_endless_loop() {
    let server = MockServer::start().await;
    Mock::given(path("/t"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": rows(2, 0), "next": "same"})),
        )
        .mount(&server)
        .await;
    let t = api_home(
        &server,
        "{type: NONE}",
        "    supports_paging: true\n    result_body_path: data\n    paging: {strategy: pagerToken, token_param: cursor, pager_token_path: next}\n",
        "",
    );
    let engine = t.engine();
    let err = load(&engine, "api", "t", Action::Load)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("returned the cursor 'same' again after page 2"),
        "{err}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert!(
        !engine.exists("api", "t").await.unwrap(),
        "no partial table"
    );
}

#[tokio::test]
async fn pager_next_link_follows_absolute_urls() {
    let server = MockServer::start().await;
    let next = format!("{}/t/page2?opaque=1", server.uri());
    Mock::given(path("/t"))
        .and(query_param("per", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": rows(2, 0), "links": {"next": next}})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/t/page2"))
        .and(query_param("opaque", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": rows(1, 2), "links": {"next": null}})),
        )
        .mount(&server)
        .await;
    let t = api_home(
        &server,
        "{type: NONE}",
        "    supports_paging: true\n    result_body_path: items\n    paging: {strategy: nextLink, pager_link_path: links.next, count_param: per, page_size: 2}\n",
        "",
    );
    assert_eq!(
        load(&t.engine(), "api", "t", Action::Load)
            .await
            .unwrap()
            .rows,
        3
    );
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_when_credentials_are_set() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&elsewhere)
        .await;
    let next = format!("{}/collect?page=2", elsewhere.uri());
    Mock::given(path("/t"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": rows(2, 0), "links": {"next": next}})),
        )
        .mount(&server)
        .await;
    let t = api_home(
        &server,
        "{type: BEARER, params: {bearer_token: a token}}",
        "    supports_paging: true\n    result_body_path: items\n    paging: {strategy: nextLink, pager_link_path: links.next, count_param: per, page_size: 2}\n",
        "bearer_token: s3cret-token",
    );
    let engine = t.engine();
    let err = load(&engine, "api", "t", Action::Load)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the next-page link leaves"), "{err}");
    assert!(
        err.contains(&elsewhere.uri()),
        "names the foreign link: {err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(
        elsewhere.received_requests().await.unwrap().len(),
        0,
        "the token never went to the other origin"
    );
    assert!(!engine.exists("api", "t").await.unwrap());
}

#[tokio::test]
async fn pager_link_header_follows_rel_next() {
    let server = MockServer::start().await;
    let next = format!("{}/t?page=2&per_page=2", server.uri());
    Mock::given(path("/t"))
        .and(query_param("per_page", "2"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(rows(2, 0))
                .insert_header(
                    "Link",
                    format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\"").as_str(),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(path("/t"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(2, 2)))
        .mount(&server)
        .await;
    let t = api_home(
        &server,
        "{type: NONE}",
        "    supports_paging: true\n    paging: {strategy: linkHeader, count_param: per_page, page_size: 2}\n",
        "",
    );
    assert_eq!(
        load(&t.engine(), "api", "t", Action::Load)
            .await
            .unwrap()
            .rows,
        4
    );
}

async fn auth_case(
    auth: &str,
    options: &str,
    matcher: impl wiremock::Match + 'static,
) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/t"))
        .and(matcher)
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(3, 0)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401).set_body_string("unauthorized"))
        .with_priority(10)
        .mount(&server)
        .await;
    let t = api_home(&server, auth, "", options);
    let engine = t.engine();
    let result = load(&engine, "api", "t", Action::Load).await;
    assert_eq!(result.expect("authenticated load").rows, 3);
    server
}

#[tokio::test]
async fn auth_none_basic_bearer_headers_params() {
    auth_case("{type: NONE}", "", method("GET")).await;
    auth_case(
        "{type: BASIC, params: {username: user, password: token}}",
        "username: scott@example.com, password: abc123",
        header("authorization", "Basic c2NvdHRAZXhhbXBsZS5jb206YWJjMTIz"),
    )
    .await;
    auth_case(
        "{type: BEARER, params: {bearer_token: a token}}",
        "bearer_token: hubspot123",
        header("authorization", "Bearer hubspot123"),
    )
    .await;
    auth_case(
        "{type: HEADERS, params: {X-Papertrail-Token: the token}}",
        "X-Papertrail-Token: pt-secret",
        header("x-papertrail-token", "pt-secret"),
    )
    .await;
    auth_case(
        "{type: PARAMS, params: {apiKey: the key}}",
        "apiKey: k-123",
        query_param("apiKey", "k-123"),
    )
    .await;
}

#[tokio::test]
async fn auth_aws_sigv4_signs_the_request() {
    let server = auth_case(
        "{type: AWS4Auth, service: ce, params: {access_key_id: key, secret_key: secret, region: region}}",
        "access_key_id: AKIDEXAMPLE, secret_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region: us-east-1",
        wiremock::matchers::header_regex(
            "authorization",
            r"^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/ce/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$",
        ),
    )
    .await;
    let req = &server.received_requests().await.unwrap()[0];
    assert!(req.headers.contains_key("x-amz-date"));
}

#[tokio::test]
async fn auth_oauth2_client_credentials_fetches_and_reuses_a_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=client_credentials",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/t"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(2, 0)))
        .expect(2)
        .mount(&server)
        .await;
    let auth = format!(
        "{{type: OAUTH2, params: {{client_id: id, client_secret: secret}}, defaults: {{token_url: '{}/oauth/token'}}}}",
        server.uri()
    );
    let t = api_home(&server, &auth, "", "client_id: cid, client_secret: csecret");
    let engine = t.engine();
    load(&engine, "api", "t", Action::Load).await.unwrap();
    load(&engine, "api", "t", Action::Reload).await.unwrap();
}

#[tokio::test]
async fn auth_oauth2_refresh_token_grant() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=refresh_token",
        ))
        .and(wiremock::matchers::body_string_contains(
            "refresh_token=r-1",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "fresh", "expires_in": 3600})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/t"))
        .and(header("authorization", "Bearer fresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(1, 0)))
        .mount(&server)
        .await;
    let auth = format!(
        "{{type: OAUTH2, params: {{client_id: id, client_secret: secret, refresh_token: refresh}}, defaults: {{token_url: '{}/token', client_auth: post}}}}",
        server.uri()
    );
    let t = api_home(
        &server,
        &auth,
        "",
        "client_id: cid, client_secret: cs, refresh_token: r-1",
    );
    load(&t.engine(), "api", "t", Action::Load).await.unwrap();
}

/// 429 with Retry-After: 1, then success.
struct ThrottledOnce(std::sync::atomic::AtomicUsize);

impl Respond for ThrottledOnce {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_string("slow down")
        } else {
            ResponseTemplate::new(200).set_body_json(rows(2, 0))
        }
    }
}

#[tokio::test]
async fn error_429_is_retried_after_the_retry_after_delay() {
    let server = MockServer::start().await;
    Mock::given(path("/t"))
        .respond_with(ThrottledOnce(Default::default()))
        .expect(2)
        .mount(&server)
        .await;
    let t = api_home(&server, "{type: NONE}", "", "");
    let started = Instant::now();
    assert_eq!(
        load(&t.engine(), "api", "t", Action::Load)
            .await
            .unwrap()
            .rows,
        2
    );
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After was honoured"
    );
}

async fn failing(template: ResponseTemplate, extra_top: &str) -> (String, usize) {
    let server = MockServer::start().await;
    Mock::given(path("/t"))
        .respond_with(template)
        .mount(&server)
        .await;
    let t = TestHome::new();
    let spec = one_table_spec(&server.uri(), "{type: NONE}", "")
        .replace("retry: {max_attempts: 3, max_backoff_secs: 2}", extra_top);
    t.spec("api", &spec);
    t.connections("- api:\n    connector: api\n");
    let engine = t.engine();
    let err = load(&engine, "api", "t", Action::Load)
        .await
        .unwrap_err()
        .to_string();
    assert!(!engine.exists("api", "t").await.unwrap());
    (err, server.received_requests().await.unwrap().len())
}

#[tokio::test]
async fn error_404_fails_the_load_naming_status_and_url() {
    let (err, n) = failing(
        ResponseTemplate::new(404).set_body_string("Not Found"),
        "retry: {max_attempts: 3}",
    )
    .await;
    assert!(
        err.starts_with("loading api.t: HTTP 404 from GET http://127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("/t: Not Found"), "{err}");
    assert_eq!(n, 1, "404 is not retried");
}

#[tokio::test]
async fn error_500_is_retried_then_reported() {
    let (err, n) = failing(
        ResponseTemplate::new(500).set_body_string("boom"),
        "retry: {max_attempts: 3, max_backoff_secs: 0.05}",
    )
    .await;
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(err.contains("(after 3 attempts)"), "{err}");
    assert_eq!(n, 3);
}

#[tokio::test]
async fn error_non_json_body_is_reported_with_an_excerpt() {
    let (err, _) = failing(
        ResponseTemplate::new(200)
            .set_body_raw("<html><body>Login page</body></html>", "text/html"),
        "retry: {max_attempts: 1}",
    )
    .await;
    assert!(
        err.contains("returned a body that is not JSON (text/html)"),
        "{err}"
    );
    assert!(err.contains("<html><body>Login page"), "{err}");
}

#[tokio::test]
async fn error_timeout_is_reported_after_retries() {
    let (err, n) = failing(
        ResponseTemplate::new(200)
            .set_body_json(rows(1, 0))
            .set_delay(Duration::from_secs(3)),
        "timeout_secs: 0.3\nretry: {max_attempts: 2, max_backoff_secs: 0.05}",
    )
    .await;
    assert!(err.contains("timed out"), "{err}");
    assert_eq!(n, 2);
}

/// Page 1: ints; page 2: a new column; page 3: `n` becomes a string.
struct Drift;

impl Respond for Drift {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let page = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "page")
            .map(|(_, v)| v.to_string());
        let body = match page.as_deref() {
            Some("1") => json!([{"id": 1, "n": 10}, {"id": 2, "n": 20}]),
            Some("2") => json!([{"id": 3, "n": 30, "added": {"deep": true}}, {"id": 4, "n": 40.5}]),
            Some("3") => {
                json!([{"id": 5, "n": "fifty", "when": "2024-05-01T10:00:00Z"}, {"id": 6}])
            }
            _ => json!([]),
        };
        ResponseTemplate::new(200).set_body_json(body)
    }
}

#[tokio::test]
async fn schema_drift_keeps_every_row_and_widens_types() {
    let server = MockServer::start().await;
    Mock::given(path("/t"))
        .respond_with(Drift)
        .mount(&server)
        .await;
    let t = api_home(
        &server,
        "{type: NONE}",
        "    supports_paging: true\n    paging: {strategy: pageAndCount, page_param: page, count_param: n, page_size: 2}\n",
        "",
    );
    let engine = t.engine();
    assert_eq!(
        load(&engine, "api", "t", Action::Load).await.unwrap().rows,
        6
    );
    assert_eq!(
        columns(&engine, "api", "t"),
        ["id", "n", "added_deep", "when"]
    );
    let types: Vec<String> = ["id", "n", "added_deep", "when"]
        .iter()
        .map(|c| scalar::<String>(&engine, &format!("select data_type from information_schema.columns where table_name = 't' and column_name = '{c}'")))
        .collect();
    assert_eq!(types, ["BIGINT", "VARCHAR", "BOOLEAN", "TIMESTAMP"]);
    assert_eq!(
        scalar::<String>(
            &engine,
            "select string_agg(coalesce(n, 'null'), ',' order by id) from api.t"
        ),
        "10.0,20.0,30.0,40.5,fifty,null",
        "n went int → double → varchar"
    );
}

/// `/orgs` → 3 orgs; `/orgs/{org}/repos` → 2 repos each; `/repos/{owner}/{repo}/pulls` → 1 pull each.
struct GitHubish;

impl Respond for GitHubish {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let parts: Vec<&str> = request.url.path().trim_matches('/').split('/').collect();
        let body = match parts.as_slice() {
            ["orgs"] => json!([{"login": "acme"}, {"login": "globex"}, {"login": "initech"}]),
            ["orgs", org, "repos"] => json!([
                {"name": format!("{org}-api"), "owner": {"login": org}},
                {"name": format!("{org}-web"), "owner": {"login": org}}
            ]),
            ["repos", owner, repo, "pulls"] => {
                json!([{"number": 1, "title": format!("fix {owner}/{repo}")}])
            }
            _ => return ResponseTemplate::new(404),
        };
        ResponseTemplate::new(200).set_body_json(body)
    }
}

#[tokio::test]
async fn dependent_tables_load_their_parents_first_and_fan_out_under_the_rate_limit() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(GitHubish)
        .mount(&server)
        .await;
    let t = TestHome::new();
    t.spec(
        "gh",
        &format!(
            r#"name: gh
base_url: {}
rate_limit: {{requests_per_second: 10, burst: 1, max_concurrency: 4}}
tables:
  - name: orgs
    resource_path: /orgs
  - name: repos
    resource_path: /orgs/{{org}}/repos
    params:
      org: sql@(select login from orgs order by login)
    copy_params_to_output: [org]
  - name: pulls
    resource_path: /repos/{{owner}}/{{repo}}/pulls
    params:
      owner,repo: sql@(select owner_login, name from repos order by name)
      state: all
    copy_params_to_output: [owner, repo]
"#,
            server.uri()
        ),
    );
    t.connections("- gh:\n    connector: gh\n");
    let engine = t.engine();
    let started = Instant::now();
    let summary = load(&engine, "gh", "pulls", Action::Load).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(summary.rows, 6);
    assert_eq!(
        scalar::<i64>(&engine, "select count(*) from gh.orgs"),
        3,
        "grandparent loaded"
    );
    assert_eq!(
        scalar::<i64>(&engine, "select count(*) from gh.repos"),
        6,
        "parent loaded"
    );
    assert_eq!(
        scalar::<String>(&engine, "select string_agg(owner || '/' || repo || ':' || title, ';' order by repo) from gh.pulls where owner = 'acme'"),
        "acme/acme-api:fix acme/acme-api;acme/acme-web:fix acme/acme-web"
    );
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1 + 3 + 6);
    let pulls: Vec<&Request> = reqs
        .iter()
        .filter(|r| r.url.path().ends_with("/pulls"))
        .collect();
    assert!(
        pulls.iter().all(|r| r.url.query() == Some("state=all")),
        "path params are not repeated in the query"
    );
    // 10 requests at 10/s with a burst of 1 cannot take less than 0.9 s.
    assert!(
        elapsed >= Duration::from_millis(850),
        "the rate limit was applied: {elapsed:?}"
    );
}

#[tokio::test]
async fn total_path_with_an_api_that_caps_page_sizes_loses_no_rows() {
    // Asked for 10 per page, the API gives 4: offsets must follow what it gives.
    let server = MockServer::start().await;
    for start in [0, 4, 8] {
        let n = (10 - start).min(4);
        Mock::given(path("/t"))
            .and(query_param("offset", start.to_string()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": 10, "items": rows(n, start)})),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let t = api_home(
        &server,
        "{type: NONE}",
        "    supports_paging: true\n    result_body_path: items\n    paging: {strategy: offsetAndCount, offset_param: offset, count_param: limit, page_size: 10, total_path: total}\n",
        "",
    );
    let engine = t.engine();
    assert_eq!(
        load(&engine, "api", "t", Action::Load).await.unwrap().rows,
        10
    );
    assert_eq!(
        scalar::<i64>(&engine, "select count(distinct id) from api.t"),
        10
    );
}

#[tokio::test]
async fn error_path_ignore_status_quota_headers_and_spec_headers() {
    let server = MockServer::start().await;
    // A GraphQL-style error with HTTP 200.
    Mock::given(path("/gql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errors": [{"message": "Field 'x' doesn't exist"}], "data": null}),
        ))
        .mount(&server)
        .await;
    // Per-parent 409s are "no rows" for that parent.
    Mock::given(path("/repos/empty/commits"))
        .respond_with(ResponseTemplate::new(409).set_body_string("Git Repository is empty."))
        .mount(&server)
        .await;
    Mock::given(path("/repos/full/commits"))
        .and(header("x-api-version", "2022-11-28"))
        .and(header("x-table", "commits"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(2, 0)))
        .mount(&server)
        .await;
    // Quota exhausted once (GitHub style 403), then fine.
    Mock::given(path("/quota"))
        .respond_with(QuotaOnce(Default::default()))
        .expect(2)
        .mount(&server)
        .await;
    let t = TestHome::new();
    t.spec(
        "api",
        &format!(
            r#"name: api
base_url: {}
headers: {{X-Api-Version: "2022-11-28", X-Table: spec}}
tables:
  - name: gql
    resource_path: /gql
    result_body_path: data.items
    error_path: errors[0].message
  - name: commits
    resource_path: /repos/{{repo}}/commits
    params: {{repo: [empty, full]}}
    ignore_status: [409]
    headers: {{X-Table: commits}}
  - name: quota
    resource_path: /quota
"#,
            server.uri()
        ),
    );
    t.connections("- api:\n    connector: api\n");
    let engine = t.engine();
    let err = load(&engine, "api", "gql", Action::Load)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the API reported an error at") && err.contains("Field 'x' doesn't exist"),
        "{err}"
    );
    assert_eq!(
        load(&engine, "api", "commits", Action::Load)
            .await
            .unwrap()
            .rows,
        2
    );
    assert_eq!(
        load(&engine, "api", "quota", Action::Load)
            .await
            .unwrap()
            .rows,
        1
    );
}

/// 403 with `x-ratelimit-remaining: 0` and a reset one second away, then 200.
struct QuotaOnce(std::sync::atomic::AtomicUsize);

impl Respond for QuotaOnce {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            let reset = chrono::Utc::now().timestamp() + 1;
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_string("API rate limit exceeded")
        } else {
            ResponseTemplate::new(200).set_body_json(rows(1, 0))
        }
    }
}

#[tokio::test]
async fn refresh_can_use_its_own_endpoint_and_body_and_two_sql_params_work() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(3, 0)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/items/search"))
        .and(wiremock::matchers::body_string_contains(
            "\"updated_after\":\"20",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "name": "renamed"}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/by/2/5"))
        .and(query_param_is_missing("a"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows(1, 7)))
        .expect(1)
        .mount(&server)
        .await;
    let t = TestHome::new();
    t.spec(
        "api",
        &format!(
            r#"name: api
base_url: {}
queryDateFormat: "%Y-%m-%dT%H:%M:%S"
tables:
  - name: items
    resource_path: /items
    key_column: id
    refresh:
      strategy: updates
      resource_path: /items/search
      post: {{updated_after: "${{timestamp}}"}}
      params: {{}}
  - name: computed
    resource_path: /by/{{a}}/{{b}}
    params:
      a: sql@(select 1 + 1)
      b: sql@(select 2 + 3)
"#,
            server.uri()
        ),
    );
    t.connections("- api:\n    connector: api\n");
    let engine = t.engine();
    load(&engine, "api", "items", Action::Load).await.unwrap();
    load(&engine, "api", "items", Action::Refresh)
        .await
        .unwrap();
    assert_eq!(scalar::<i64>(&engine, "select count(*) from api.items"), 3);
    assert_eq!(
        scalar::<String>(&engine, "select name from api.items where id = 1"),
        "renamed"
    );
    // Two sql@ params on a file-backed warehouse, before the schema has any table.
    assert_eq!(
        load(&engine, "api", "computed", Action::Load)
            .await
            .unwrap()
            .rows,
        1
    );
}
