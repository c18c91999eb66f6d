//! Soak: hundreds of jobs from several clients while the mock API injects failures.
//! Every job must end done or failed (none lost, none stuck), and the daemon's memory
//! must stay flat. Bounded to well under a minute; set UNIFY_SOAK_JOBS to go bigger.

use crate::daemon::{exec, TestDaemon};
use crate::support::*;
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use unify::client::Transport;
use unify::protocol::{JobState, Request, Response};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request as WmRequest, Respond, ResponseTemplate};

const TABLES: usize = 20;

/// Two pages per table; every 7th request is a 500, every 11th is not JSON.
struct Flaky(AtomicUsize);

impl Respond for Flaky {
    fn respond(&self, request: &WmRequest) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        if n % 7 == 6 {
            return ResponseTemplate::new(500).set_body_string("injected failure");
        }
        if n % 11 == 10 {
            return ResponseTemplate::new(200).set_body_raw("<html>oops</html>", "text/html");
        }
        let page = page_param(request);
        let body = if page <= 2 {
            json!((0..50).map(|i| json!({"id": page * 1000 + i, "v": format!("value {i}"), "tags": ["a", "b"]})).collect::<Vec<_>>())
        } else {
            json!([])
        };
        ResponseTemplate::new(200).set_body_json(body)
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn soak_hundreds_of_jobs_with_injected_failures() {
    let jobs_per_client: usize = std::env::var("UNIFY_SOAK_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let server = MockServer::start().await;
    Mock::given(path_regex("^/t[0-9]+$"))
        .respond_with(Flaky(AtomicUsize::new(0)))
        .mount(&server)
        .await;
    let t = TestHome::new();
    let mut tables = String::new();
    for i in 0..TABLES {
        tables.push_str(&format!(
            "  - name: t{i}\n    resource_path: /t{i}\n    supports_paging: true\n    paging: {{strategy: pageAndCount, page_param: page, count_param: n, page_size: 50}}\n"
        ));
    }
    t.spec(
        "api",
        &format!(
            "name: api\nbase_url: {}\npolling_interval_secs: 0\nretry: {{max_attempts: 2, max_backoff_secs: 0.01}}\ntables:\n{tables}",
            server.uri()
        ),
    );
    t.connections("- api:\n    connector: api\n");
    let d = TestDaemon::start(&t.home, &[]).await;
    let pid: u32 = std::fs::read_to_string(t.home.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let started = Instant::now();
    let mut warm_rss = 0;
    let mut all_ids: HashSet<String> = HashSet::new();
    for round in 0..2 {
        let mut tasks = Vec::new();
        for c in 0..4 {
            let z = d.client().await;
            let per = jobs_per_client / 2;
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..per {
                    let table = (i * 7 + c * 3 + round) % TABLES;
                    let action = if i % 3 == 0 { "refresh" } else { "reload" };
                    let r = exec(&z, &format!("{action} table api.t{table}")).await;
                    assert!(r.error.is_none(), "{r:?}");
                    ids.extend(r.wait.into_iter().map(|j| j.id));
                    if i % 10 == 0 {
                        // Queries keep working under load.
                        let q = exec(&z, "select 1").await;
                        assert!(q.error.is_none(), "{q:?}");
                    }
                }
                ids
            }));
        }
        for task in tasks {
            all_ids.extend(task.await.unwrap());
        }
        // Wait for everything of this round to finish.
        let z = d.client().await;
        let ids: Vec<String> = all_ids.iter().cloned().collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let Response::Jobs { jobs } = z
                .request(Request::JobStatus { ids: ids.clone() })
                .await
                .unwrap()
            else {
                panic!("no job status");
            };
            assert_eq!(jobs.len(), ids.len(), "every job is known to the queue");
            if jobs.iter().all(|j| j.state.is_final()) {
                let states: HashSet<JobState> = jobs.iter().map(|j| j.state).collect();
                assert!(
                    states
                        .iter()
                        .all(|s| matches!(s, JobState::Done | JobState::Failed)),
                    "only done or failed: {states:?}"
                );
                assert!(states.contains(&JobState::Failed), "failures were injected");
                assert!(states.contains(&JobState::Done));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "jobs stuck: {:?}",
                jobs.iter()
                    .filter(|j| !j.state.is_final())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if round == 0 {
            warm_rss = rss_kb(pid);
        }
    }
    let end_rss = rss_kb(pid);
    assert!(
        all_ids.len() >= 100,
        "hundreds of requests became {} distinct jobs",
        all_ids.len()
    );
    assert!(
        end_rss <= warm_rss + warm_rss / 2 + 32 * 1024,
        "daemon memory grew from {warm_rss} kB to {end_rss} kB"
    );
    // Failed reloads kept the previous data: every table that ever loaded still has 100 rows.
    let z = d.client().await;
    let r = exec(
        &z,
        "select table_name from information_schema.tables where table_schema = 'api' order by 1",
    )
    .await;
    let names: Vec<String> = match &r.outputs[..] {
        [unify::protocol::Output::Table(t)] => t
            .rows
            .iter()
            .map(|row| row[0].as_str().unwrap().to_string())
            .collect(),
        other => panic!("{other:?}"),
    };
    assert!(!names.is_empty());
    for name in names {
        let r = exec(
            &z,
            &format!("select count(*), count(distinct id) from api.{name}"),
        )
        .await;
        match &r.outputs[..] {
            [unify::protocol::Output::Table(t)] => {
                assert_eq!(t.rows[0], vec![json!(100), json!(100)], "{name}")
            }
            other => panic!("{other:?}"),
        }
    }
    eprintln!(
        "soak: {} jobs in {:.1}s, daemon RSS {} kB → {} kB",
        all_ids.len(),
        started.elapsed().as_secs_f64(),
        warm_rss,
        end_rss
    );
}
