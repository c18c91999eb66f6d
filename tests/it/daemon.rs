//! `unifyd` for real: a daemon process in a temporary home, a mock API, clients over
//! ZeroMQ. Waits are on job state and events, with generous deadlines, never on bare
//! sleeps for correctness.

use crate::support::*;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use unify::client::{Transport, Zmq};
use unify::daemon::Endpoints;
use unify::protocol::{Action, Event, JobState, Reply, Request, Requester, Response};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request as WmRequest, Respond, ResponseTemplate};

/// A `unifyd` process.
pub struct TestDaemon {
    pub home: unify::home::Home,
    child: Option<Child>,
}

impl TestDaemon {
    /// Start `unifyd` in the foreground for `home` and wait until it answers.
    pub async fn start(home: &unify::home::Home, env: &[(&str, &str)]) -> TestDaemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_unifyd"));
        cmd.arg("--home")
            .arg(home.root())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("unifyd starts");
        let d = TestDaemon {
            home: home.clone(),
            child: Some(child),
        };
        d.wait_ready().await;
        d
    }

    async fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(ep) = Endpoints::read(&self.home) {
                if unify::client::transport::ping(&ep, &self.home, Duration::from_secs(2)).await {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("unifyd did not become ready; log:\n{}", self.log());
    }

    /// A client connection.
    pub async fn client(&self) -> Zmq {
        Zmq::connect(&Endpoints::read(&self.home).expect("endpoints"))
            .await
            .unwrap()
    }

    /// The daemon's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.daemon_log()).unwrap_or_default()
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run one statement in a fresh session and return its reply.
pub async fn exec(z: &Zmq, text: &str) -> Reply {
    exec_in(z, "test-session", text).await
}

async fn exec_in(z: &Zmq, session: &str, text: &str) -> Reply {
    match z
        .request(Request::Execute {
            session: session.into(),
            text: text.into(),
        })
        .await
        .unwrap()
    {
        Response::Reply(r) => r,
        other => panic!("{other:?}"),
    }
}

/// Wait for a job's final state.
pub async fn wait_job(z: &Zmq, id: &str, within: Duration) -> unify::protocol::LoaderStatus {
    let start = Instant::now();
    loop {
        if let Response::Jobs { jobs } = z
            .request(Request::JobStatus {
                ids: vec![id.into()],
            })
            .await
            .unwrap()
        {
            if let Some(s) = jobs.into_iter().next() {
                if s.state.is_final() {
                    return s;
                }
            }
        }
        assert!(
            start.elapsed() < within,
            "job {id} did not finish in {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn first_table(reply: &Reply) -> &unify::protocol::ResultTable {
    reply
        .outputs
        .iter()
        .find_map(|o| match o {
            unify::protocol::Output::Table(t) => Some(t),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no table in {reply:?}"))
}

/// Pages of 10 records, `pages` pages, each answered after `delay`; ids offset by a
/// generation counter so reloads are distinguishable.
struct SlowPages {
    pages: u64,
    delay: Duration,
}

impl Respond for SlowPages {
    fn respond(&self, request: &WmRequest) -> ResponseTemplate {
        let page = page_param(request);
        let body = if page <= self.pages {
            json!((0..10)
                .map(|i| json!({"id": page * 100 + i, "page": page}))
                .collect::<Vec<_>>())
        } else {
            json!([])
        };
        ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(self.delay)
    }
}

/// A home with connection `slow` (table `t`: `pages` pages of 10 rows, each `delay`
/// late) and the mocksvc connection.
async fn slow_home(
    pages: u64,
    delay: Duration,
    polling: &str,
) -> (TestHome, MockServer, MockServer) {
    let slow = MockServer::start().await;
    Mock::given(path("/t"))
        .respond_with(SlowPages { pages, delay })
        .mount(&slow)
        .await;
    let mock = mocksvc().await;
    let t = TestHome::new();
    t.spec(
        "slow",
        &format!(
            "name: slow\nbase_url: {}\n{polling}tables:\n  - name: t\n    resource_path: /t\n    supports_paging: true\n    paging: {{strategy: pageAndCount, page_param: page, count_param: n, page_size: 10}}\n",
            slow.uri()
        ),
    );
    t.spec("mocksvc", &mocksvc_spec(&mock.uri()));
    t.connections(
        "- slow:\n    connector: slow\n- mocksvc:\n    connector: mocksvc\n    options: {username: scott@example.com, password: abc123}\n",
    );
    (t, slow, mock)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_queued_while_the_daemon_is_down_runs_when_it_starts() {
    let mock = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&mock);
    let queue = unify::queue::Queue::open(&t.home.queue_file())
        .await
        .unwrap();
    let job = queue
        .enqueue("test", "mocksvc", "repos27", Action::Load, Requester::User)
        .await
        .unwrap()
        .into_record();
    queue.close().await;
    let d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let status = wait_job(&z, &job.job.id, Duration::from_secs(30)).await;
    assert_eq!(status.state, JobState::Done, "{status:?}");
    assert_eq!(status.rows, 27);
    let r = exec(&z, "select count(*) from mocksvc.repos27").await;
    assert_eq!(first_table(&r).rows[0][0], json!(27));
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_load_then_restart_reruns_the_job_and_no_partial_table_is_visible() {
    let (t, slow, _m) = slow_home(12, Duration::from_millis(250), "").await;
    let mut d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let r = exec(&z, "select count(*) from slow.t").await;
    let job = r.wait[0].id.clone();
    // While it loads, the table is either absent or complete — never partial.
    let start = Instant::now();
    loop {
        let r = exec_in(&z, "observer", "select count(*) from slow.t").await;
        if let Some(e) = &r.error {
            panic!("unexpected error {e}");
        }
        assert!(
            r.wait.len() == 1 && r.wait[0].id == job,
            "the same job is reused: {r:?}"
        );
        let n = slow.received_requests().await.unwrap().len();
        if n >= 4 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.kill9();
    let d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let status = wait_job(&z, &job, Duration::from_secs(60)).await;
    assert_eq!(status.state, JobState::Done, "{status:?}\n{}", d.log());
    assert_eq!(status.rows, 120);
    let r = exec(&z, "select count(*), count(distinct id) from slow.t").await;
    assert_eq!(first_table(&r).rows[0], vec![json!(120), json!(120)]);
    let r = exec(
        &z,
        "select count(*) from information_schema.tables where table_name like '_unify_staging%'",
    )
    .await;
    assert_eq!(first_table(&r).rows[0][0], json!(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_clients_starting_at_once_get_one_daemon() {
    let t = TestHome::new();
    let home = t.dir.path().to_path_buf();
    let run = |h: std::path::PathBuf| {
        std::thread::spawn(move || {
            Command::new(env!("CARGO_BIN_EXE_unify"))
                .arg("--home")
                .arg(&h)
                .args(["--format", "csv", "-c", "select 42 as x"])
                .output()
                .unwrap()
        })
    };
    let (a, b) = (run(home.clone()), run(home.clone()));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for out in [&a, &b] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x\n42\n");
    }
    let pid: u32 = std::fs::read_to_string(t.home.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let daemons = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| {
            let c = String::from_utf8_lossy(c);
            c.contains("unifyd") && c.contains(&*home.to_string_lossy())
        })
        .count();
    assert_eq!(daemons, 1, "exactly one unifyd for the home");
    let out = Command::new(env!("CARGO_BIN_EXE_unifyd"))
        .arg("--home")
        .arg(&home)
        .arg("status")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("pid {pid}")));
    let out = Command::new(env!("CARGO_BIN_EXE_unifyd"))
        .arg("--home")
        .arg(&home)
        .arg("stop")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "unifyd stopped\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_answers_within_a_second_while_a_ten_second_load_runs() {
    let (t, _slow, _m) = slow_home(10, Duration::from_secs(1), "").await;
    let d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let r = exec(&z, "reload table slow.t").await;
    let job = r.wait[0].id.clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let r = exec_in(&z, "other", "select 1 + 1 as two").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(first_table(&r).rows[0][0], json!(2));
    if let Response::Jobs { jobs } = z
        .request(Request::JobStatus {
            ids: vec![job.clone()],
        })
        .await
        .unwrap()
    {
        assert_eq!(
            jobs[0].state,
            JobState::Running,
            "the load is still running"
        );
    }
    exec(&z, &format!("system cancel {job}")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_at_a_page_boundary_and_keeps_the_previous_data() {
    let (t, slow, _m) = slow_home(3, Duration::from_millis(10), "").await;
    let d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let r = exec(&z, "reload table slow.t").await;
    assert_eq!(
        wait_job(&z, &r.wait[0].id, Duration::from_secs(30))
            .await
            .state,
        JobState::Done
    );
    // Now the API is slow and long: reload, then cancel.
    slow.reset().await;
    Mock::given(path("/t"))
        .respond_with(SlowPages {
            pages: 50,
            delay: Duration::from_millis(200),
        })
        .mount(&slow)
        .await;
    let r = exec(&z, "reload table slow.t").await;
    let job = r.wait[0].id.clone();
    while slow.received_requests().await.unwrap().len() < 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = exec(&z, &format!("system cancel {job}")).await;
    assert!(r.error.is_none(), "{r:?}");
    let status = wait_job(&z, &job, Duration::from_secs(10)).await;
    assert_eq!(status.state, JobState::Cancelled);
    let r = exec(&z, "select count(*) from slow.t").await;
    assert_eq!(
        first_table(&r).rows[0][0],
        json!(30),
        "the previous 30 rows remain"
    );
    let r = exec(
        &z,
        "select state from unify.loading_jobs order by started_at desc limit 1",
    )
    .await;
    assert_eq!(first_table(&r).rows[0][0], json!("cancelled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_refreshes_a_table_with_a_2s_interval_at_least_twice_in_8s() {
    let (t, slow, _m) = slow_home(1, Duration::from_millis(1), "polling_interval_secs: 2\n").await;
    let d = TestDaemon::start(&t.home, &[("UNIFY_SCHEDULER_TICK_MS", "250")]).await;
    let z = d.client().await;
    let r = exec(&z, "select count(*) from slow.t").await;
    wait_job(&z, &r.wait[0].id, Duration::from_secs(30)).await;
    let after_load = slow.received_requests().await.unwrap().len();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let r = exec(&z, "select count(*) from unify.loading_jobs where table_name = 't' and action = 'refresh' and state = 'done'").await;
    let refreshes = first_table(&r).rows[0][0].as_i64().unwrap();
    assert!(
        refreshes >= 2,
        "only {refreshes} refreshes in 8 s\n{}",
        d.log()
    );
    assert!(slow.received_requests().await.unwrap().len() >= after_load + 2 * 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_events_arrive_in_order_for_every_job() {
    let (t, _slow, _m) = slow_home(8, Duration::from_millis(150), "").await;
    let d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let mut events = z.subscribe();
    tokio::time::sleep(Duration::from_millis(300)).await; // let the subscription settle
    let a = exec(&z, "reload table slow.t").await.wait[0].id.clone();
    let b = exec(&z, "reload table mocksvc.repos27").await.wait[0]
        .id
        .clone();
    for id in [&a, &b] {
        wait_job(&z, id, Duration::from_secs(30)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut seen: std::collections::HashMap<String, Vec<(JobState, u64)>> = Default::default();
    while let Ok(event) = events.try_recv() {
        if let Event::Status(s) = event {
            seen.entry(s.job_id.clone())
                .or_default()
                .push((s.state, s.rows));
        }
    }
    for id in [&a, &b] {
        let states = &seen[id];
        let order = |s: JobState| match s {
            JobState::Queued => 0,
            JobState::Running => 1,
            _ => 2,
        };
        assert_eq!(
            states.first().map(|s| s.0),
            Some(JobState::Queued),
            "{id}: {states:?}"
        );
        assert_eq!(
            states.last().map(|s| s.0),
            Some(JobState::Done),
            "{id}: {states:?}"
        );
        assert!(
            states.windows(2).all(|w| order(w[0].0) <= order(w[1].0)),
            "{states:?}"
        );
        let rows: Vec<u64> = states
            .iter()
            .filter(|s| s.0 == JobState::Running)
            .map(|s| s.1)
            .collect();
        assert!(rows.windows(2).all(|w| w[0] <= w[1]), "rows grow: {rows:?}");
    }
    let slow_rows: Vec<u64> = seen[&a]
        .iter()
        .filter(|s| s.0 == JobState::Running)
        .map(|s| s.1)
        .collect();
    assert!(
        slow_rows.iter().filter(|r| **r > 0).count() >= 2,
        "progress while running: {slow_rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_specs_and_connections_are_picked_up_and_announced() {
    let mock = mocksvc().await;
    let t = TestHome::new();
    let d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let mut events = z.subscribe();
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.with_mocksvc(&mock);
    // The registry polls every 2 s; a notice tells every client.
    let deadline = Instant::now() + Duration::from_secs(15);
    let notice = loop {
        match tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            Ok(Ok(Event::Notice { message })) => break message,
            _ => assert!(Instant::now() < deadline, "no configuration notice"),
        }
    };
    assert!(
        notice.contains("configuration reloaded: 1 connections (mocksvc)"),
        "{notice}"
    );
    let r = exec(&z, "select count(*) from mocksvc.repos27").await;
    assert_eq!(
        wait_job(&z, &r.wait[0].id, Duration::from_secs(30))
            .await
            .state,
        JobState::Done
    );
    // A broken connections file keeps the last good configuration.
    std::fs::write(t.home.connections_file(), "- mocksvc: [broken\n").unwrap();
    let r = exec(&z, "system reload").await;
    let text = format!("{:?}", r.outputs);
    assert!(
        text.contains("configuration not reloaded")
            && text.contains("keeping the last good configuration (1 connections)"),
        "{text}"
    );
    let r = exec(&z, "show connections").await;
    assert!(format!("{:?}", r.outputs).contains("mocksvc"));
}

#[tokio::test(flavor = "multi_thread")]
async fn system_restart_daemon_brings_up_a_new_daemon_that_keeps_the_data() {
    let mock = mocksvc().await;
    let t = TestHome::new();
    t.with_mocksvc(&mock);
    let mut d = TestDaemon::start(&t.home, &[]).await;
    let z = d.client().await;
    let r = exec(&z, "select count(*) from mocksvc.repos27").await;
    wait_job(&z, &r.wait[0].id, Duration::from_secs(30)).await;
    let old_pid = Endpoints::read(&t.home).unwrap().pid;
    let r = exec(&z, "system restart daemon").await;
    assert!(
        format!("{:?}", r.outputs).contains("Restarting task daemon..."),
        "{r:?}"
    );
    d.stop(); // reap the old process (it exits on its own)
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(ep) = Endpoints::read(&t.home) {
            if ep.pid != old_pid
                && unify::client::transport::ping(&ep, &t.home, Duration::from_secs(2)).await
            {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new daemon; log:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let z = Zmq::connect(&Endpoints::read(&t.home).unwrap())
        .await
        .unwrap();
    let r = exec(&z, "select count(*) from mocksvc.repos27").await;
    assert_eq!(first_table(&r).rows[0][0], json!(27));
    let out = Command::new(env!("CARGO_BIN_EXE_unifyd"))
        .arg("--home")
        .arg(t.home.root())
        .arg("stop")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "unifyd stopped\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_on_a_script_waiting_for_a_load_cancels_the_load() {
    let (t, slow, _m) = slow_home(100, Duration::from_millis(200), "").await;
    let d = TestDaemon::start(&t.home, &[]).await;
    let running = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_unify"))
            .arg("--home")
            .arg(t.home.root())
            .args(["-c", "select count(*) from slow.t; select 'after'"]),
    );
    let start = Instant::now();
    while slow.received_requests().await.unwrap().len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the load never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = running.interrupt_and_wait(Duration::from_secs(20)).await;
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    assert!(!out.stdout.contains("after"));
    // The daemon stopped the load instead of finishing it for nobody.
    let z = d.client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = exec(
            &z,
            "select state from unify.loading_jobs where table_name = 't'",
        )
        .await;
        let states: Vec<_> = first_table(&r).rows.iter().map(|r| r[0].clone()).collect();
        if states == [json!("cancelled")] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "job states {states:?}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let requests = slow.received_requests().await.unwrap().len();
    assert!(
        requests < 100,
        "the load stopped early ({requests} requests)"
    );
}
