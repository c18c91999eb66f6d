//! Tests of the queue poller: the lease watch as a pure function of instants, and the
//! actor itself under paused time (claims, ticks, heartbeats that stop).

use super::*;
use crate::actors::testing::{
    context, engine_in_memory, open_queue, paused_system, settle, step, HoldClock,
};
use crate::protocol::{Action, JobState, LoaderJob, Requester};
use crate::queue::Queue;
use std::sync::Mutex;

fn running(id: &str, lease: i64) -> JobRecord {
    JobRecord {
        job: LoaderJob {
            id: id.into(),
            tenant: "t".into(),
            action: Action::Load,
            schema: "s".into(),
            table: "t".into(),
            requested_by: Requester::User,
            enqueued_at: String::new(),
        },
        state: JobState::Running,
        priority: 0,
        attempts: 1,
        worker: Some("w".into()),
        lease_until_ms: Some(lease),
        rows: 0,
        pages: 0,
        error: None,
        cancel_requested: false,
        started_at_ms: Some(0),
        finished_at_ms: None,
        enqueued_at_ms: 0,
    }
}

#[test]
fn only_a_heartbeat_unchanged_for_a_lease_of_monotonic_time_is_stale() {
    let lease = Duration::from_secs(30);
    let t0 = Instant::now();
    let mut watch = LeaseWatch::default();
    // A lease far in the (wall-clock) past, as after the machine slept for hours:
    // nothing is stale until the monotonic clock says a lease went by unrenewed.
    assert!(watch.stale(&[running("a", 0)], t0, lease).is_empty());
    let t1 = t0 + Duration::from_secs(29);
    assert!(watch.stale(&[running("a", 0)], t1, lease).is_empty());
    // Renewed (the value changed): the window restarts.
    let t2 = t0 + Duration::from_secs(31);
    assert!(watch.stale(&[running("a", 1)], t2, lease).is_empty());
    let t3 = t2 + Duration::from_secs(29);
    assert!(watch.stale(&[running("a", 1)], t3, lease).is_empty());
    let t4 = t2 + Duration::from_secs(30);
    let stale = watch.stale(&[running("a", 1), running("b", 5)], t4, lease);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].job.id, "a");
    // A job no longer running is forgotten.
    assert!(watch.stale(&[], t4, lease).is_empty());
    assert!(watch.seen.is_empty());
}

#[test]
fn ticks_watch_heartbeats_every_5s_and_prune_at_start_then_every_10_minutes() {
    let ticks_per_hour = 3600 * 1000 / POLL_TICK.as_millis() as u64;
    let work: Vec<TickWork> = (1..=ticks_per_hour).map(TickWork::of).collect();
    let watches: Vec<u64> = (1..=ticks_per_hour)
        .filter(|&t| TickWork::of(t).watch_leases)
        .collect();
    assert_eq!(watches.len(), 720);
    assert_eq!(watches[..2], [10, 20], "every 5 s of 500 ms ticks");
    let prunes: Vec<u64> = (1..=ticks_per_hour)
        .filter(|&t| TickWork::of(t).prune)
        .collect();
    assert_eq!(prunes, [1, 1201, 2401, 3601, 4801, 6001]);
    assert_eq!(work.len() as u64, ticks_per_hour);
}

/// Stands in for the loader pool: records what it is told, at which (paused) time.
struct FakePool {
    start: Instant,
    log: Arc<Mutex<Vec<(Duration, String)>>>,
}

impl Actor for FakePool {
    type Context = Context<Self>;
}

impl Handler<RunJob> for FakePool {
    type Result = ();
    fn handle(&mut self, msg: RunJob, _: &mut Context<Self>) {
        let entry = format!("run {} in slot {}", msg.job.job.table, msg.slot);
        self.log.lock().unwrap().push((self.start.elapsed(), entry));
    }
}

impl Handler<CancelJob> for FakePool {
    type Result = bool;
    fn handle(&mut self, msg: CancelJob, _: &mut Context<Self>) -> bool {
        let entry = format!("cancel {}", msg.id);
        self.log.lock().unwrap().push((self.start.elapsed(), entry));
        true
    }
}

struct Rig {
    queue: Queue,
    poller: Addr<QueuePoller>,
    activity: watch::Receiver<Activity>,
    log: Arc<Mutex<Vec<(Duration, String)>>>,
    _dir: tempfile::TempDir,
}

async fn rig(workers: usize) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let queue = open_queue(dir.path()).await;
    let engine = engine_in_memory(dir.path());
    let ctx = context(
        engine.clone(),
        queue.clone(),
        workers,
        Duration::from_secs(1),
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    let pool = FakePool {
        start: Instant::now(),
        log: log.clone(),
    }
    .start();
    let ledger = Ledger::new(queue.clone(), engine);
    let poller = QueuePoller::new(ctx, ledger, pool.clone().recipient(), pool.recipient());
    let mut activity = poller.activity();
    let poller = poller.start();
    // Its first claim, at start, finds nothing.
    settle(&mut activity, 0).await;
    Rig {
        queue,
        poller,
        activity,
        log,
        _dir: dir,
    }
}

async fn enqueue(queue: &Queue, table: &str) -> JobRecord {
    queue
        .enqueue("t", "s", table, Action::Load, Requester::User)
        .await
        .unwrap()
        .into_record()
}

fn entries(log: &Mutex<Vec<(Duration, String)>>) -> Vec<(Duration, String)> {
    log.lock().unwrap().clone()
}

#[test]
fn a_wake_claims_at_once_and_a_job_queued_elsewhere_waits_for_the_next_tick() {
    paused_system().block_on(async {
        let _hold = HoldClock::new();
        let mut r = rig(2).await;
        let ms = Duration::from_millis;
        enqueue(&r.queue, "a").await;
        r.poller.send(Wake).await.unwrap();
        settle(&mut r.activity, 0).await;
        assert_eq!(entries(&r.log), [(ms(0), String::from("run a in slot 0"))]);
        // Another process queues a job: nobody wakes this poller, its tick finds it.
        enqueue(&r.queue, "b").await;
        tokio::time::advance(POLL_TICK - ms(1)).await;
        settle(&mut r.activity, 0).await;
        assert_eq!(entries(&r.log).len(), 1, "claimed before the tick");
        step(&mut r.activity, ms(1)).await;
        assert_eq!(
            entries(&r.log)[1],
            (POLL_TICK, String::from("run b in slot 1"))
        );
        // Every slot busy: a third job waits for one to come back, however many ticks.
        enqueue(&r.queue, "c").await;
        for _ in 0..4 {
            step(&mut r.activity, POLL_TICK).await;
        }
        assert_eq!(entries(&r.log).len(), 2);
        r.poller.send(WorkerIdle(0)).await.unwrap();
        settle(&mut r.activity, 5).await;
        assert_eq!(
            entries(&r.log)[2],
            (POLL_TICK * 5, String::from("run c in slot 0"))
        );
        r.queue.close().await;
    });
}

#[test]
fn a_run_whose_heartbeat_stops_is_requeued_a_full_lease_after_the_watch_first_saw_it() {
    paused_system().block_on(async {
        let _hold = HoldClock::new();
        let lease = LEASE;
        let mut r = rig(0).await;
        let dead = enqueue(&r.queue, "dead").await;
        r.queue.claim("gone-w0", lease).await.unwrap().unwrap();
        let alive = enqueue(&r.queue, "alive").await;
        r.queue.claim("alive-w0", lease).await.unwrap().unwrap();
        let start = Instant::now();
        let mut requeued_at = None;
        for n in 1..=120u32 {
            step(&mut r.activity, POLL_TICK).await;
            if n % 20 == 0 {
                // The live worker's heartbeat: every 10 s.
                let renewed = r.queue.renew(&alive.job.id, "alive-w0", lease).await;
                assert!(renewed.unwrap());
            }
            let stored = r.queue.get(&dead.job.id).await.unwrap().unwrap();
            if requeued_at.is_none() && stored.state == JobState::Queued {
                requeued_at = Some(start.elapsed());
                assert_eq!(stored.attempts, 1, "the interrupted run counts");
            }
        }
        // The watch first saw it at 5 s; its heartbeat never changed after.
        assert_eq!(requeued_at, Some(Duration::from_secs(35)));
        assert_eq!(
            entries(&r.log),
            [(Duration::from_secs(35), format!("cancel {}", dead.job.id))],
            "a run still going here is stopped"
        );
        let alive = r.queue.get(&alive.job.id).await.unwrap().unwrap();
        assert_eq!(alive.state, JobState::Running);
        r.queue.close().await;
    });
}
