//! Tests of the scheduler: the due rule, and the actor under paused time with a clock
//! that follows it.

use super::*;
use crate::actors::testing::{
    context, engine_in_memory, open_queue, paused_system, step, HoldClock,
};
use crate::protocol::JobState;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn a_table_is_due_once_its_interval_passed_since_its_last_load_or_schedule() {
    let cases: [(i64, i64, i64, u64, bool); 9] = [
        // now, last done, last scheduled, interval (s), due
        (10_000, 0, 0, 10, true),
        (9_999, 0, 0, 10, false),
        (10_000, 5_000, 0, 10, false),
        (15_000, 5_000, 0, 10, true),
        (15_000, 5_000, 6_000, 10, false),
        (16_000, 5_000, 6_000, 10, true),
        (i64::MAX, 0, 0, 0, false),
        (1_000, 5_000, 0, 1, false),
        (i64::MAX, 0, 0, u64::MAX, false),
    ];
    for (now, done, scheduled, interval, expected) in cases {
        assert_eq!(
            due(now, done, scheduled, interval),
            expected,
            "now {now}, done {done}, scheduled {scheduled}, every {interval} s"
        );
    }
}

/// Wall-clock milliseconds that follow tokio's (paused) clock from `anchor_ms`.
struct PausedClock {
    anchor_ms: i64,
    start: tokio::time::Instant,
}

impl Clock for PausedClock {
    fn now_ms(&self) -> i64 {
        self.anchor_ms + self.start.elapsed().as_millis() as i64
    }
}

/// Answered once the scheduler has started (its timer is set from that instant).
#[derive(Message)]
#[rtype(result = "()")]
struct Started;

impl Handler<Started> for Scheduler {
    type Result = ();
    fn handle(&mut self, _: Started, _: &mut Context<Self>) {}
}

struct WakeCounter(Arc<AtomicUsize>);

impl Actor for WakeCounter {
    type Context = Context<Self>;
}

impl Handler<Wake> for WakeCounter {
    type Result = ();
    fn handle(&mut self, _: Wake, _: &mut Context<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

const SPEC: &str = "name: svc
base_url: http://127.0.0.1:9
tables:
  - {name: every2, resource_path: /a, polling_interval_secs: 2}
  - {name: every5, resource_path: /b, polling_interval_secs: 5}
  - {name: never, resource_path: /c, polling_interval_secs: 0}
  - {name: resumed, resource_path: /d, polling_interval_secs: 2}
";

/// An engine whose connection `svc` has the tables of [`SPEC`], all loaded: `every2`
/// and `every5` at `anchor` (wall-clock ms), the others an hour before.
fn engine_with_loaded_tables(dir: &std::path::Path, anchor: i64) -> Arc<crate::engine::Engine> {
    let home = crate::home::Home::new(dir);
    home.ensure_dirs().unwrap();
    std::fs::write(home.specs_dir().join("svc_spec.yaml"), SPEC).unwrap();
    std::fs::write(home.connections_file(), "- svc:\n    connector: svc\n").unwrap();
    let engine = engine_in_memory(dir);
    assert!(
        engine.config().errors.is_empty(),
        "{:?}",
        engine.config().errors
    );
    let conn = engine.warehouse().connect().unwrap();
    for (table, loaded_ms) in [
        ("every2", anchor),
        ("every5", anchor),
        ("never", anchor - 3_600_000),
        ("resumed", anchor - 3_600_000),
    ] {
        conn.execute(
            "INSERT INTO unify.tables (schema_name, table_name, kind, last_load_end) \
             VALUES ('svc', ?, 'connector', make_timestamp(?::BIGINT))",
            duckdb::params![table, loaded_ms * 1000],
        )
        .unwrap();
    }
    engine
}

#[test]
fn refreshes_fall_due_on_the_first_tick_a_full_interval_after_the_last_load_or_schedule() {
    paused_system().block_on(async {
        let _hold = HoldClock::new();
        let dir = tempfile::tempdir().unwrap();
        let anchor: i64 = 1_700_000_000_000;
        let engine = engine_with_loaded_tables(dir.path(), anchor);
        let queue = open_queue(dir.path()).await;
        // A previous daemon scheduled `resumed` half a second before this one started.
        queue
            .set_last_scheduled("svc", "resumed", anchor - 500)
            .await
            .unwrap();
        let ctx = context(engine, queue.clone(), 1, Duration::from_secs(1));
        let (events, _) = tokio::sync::broadcast::channel(16);
        let publisher = StatusPublisher::new(events).start();
        let wakes = Arc::new(AtomicUsize::new(0));
        let wake = WakeCounter(wakes.clone()).start().recipient();
        let clock = Arc::new(PausedClock {
            anchor_ms: anchor,
            start: tokio::time::Instant::now(),
        });
        let scheduler = Scheduler::new(ctx, wake, publisher, clock);
        let mut activity = scheduler.activity();
        let scheduler = scheduler.start();
        // Its timer counts from its start: time moves only once it runs.
        scheduler.send(Started).await.unwrap();
        let mut seen: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for _ in 0..10 {
            step(&mut activity, Duration::from_secs(1)).await;
            for table in ["every2", "every5", "never", "resumed"] {
                let at = queue.last_scheduled("svc", table).await.unwrap();
                let times = seen.entry(table).or_default();
                if let Some(at) = at.map(|at| at - anchor).filter(|at| *at >= 0) {
                    if times.last() != Some(&at) {
                        times.push(at);
                    }
                }
            }
        }
        assert_eq!(seen["every2"], [2000, 4000, 6000, 8000, 10000]);
        assert_eq!(seen["every5"], [5000, 10000]);
        assert_eq!(seen["never"], Vec::<i64>::new());
        assert_eq!(
            seen["resumed"],
            [2000, 4000, 6000, 8000, 10000],
            "not at 1 s: the schedule survived the restart"
        );
        // One refresh job per table: a due table whose refresh is still queued gets no second.
        let mut jobs: Vec<(String, Action, JobState)> = queue
            .active()
            .await
            .unwrap()
            .into_iter()
            .map(|j| (j.job.table, j.job.action, j.state))
            .collect();
        jobs.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            jobs,
            [
                ("every2".to_string(), Action::Refresh, JobState::Queued),
                ("every5".to_string(), Action::Refresh, JobState::Queued),
                ("resumed".to_string(), Action::Refresh, JobState::Queued),
            ]
        );
        // The poller hears of each (its mailbox may still hold the last few).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while wakes.load(Ordering::SeqCst) < 12 && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(wakes.load(Ordering::SeqCst), 12);
        queue.close().await;
    });
}
