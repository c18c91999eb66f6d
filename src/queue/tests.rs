//! Tests for the durable job queue: each opens a fresh queue file in a temp dir.

use std::collections::HashSet;

use super::*;

const LEASE: Duration = Duration::from_secs(60);

async fn open_temp() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = Queue::open(&dir.path().join("queue.db"))
        .await
        .expect("open queue");
    (dir, queue)
}

async fn load(q: &Queue, schema: &str, table: &str, by: Requester) -> Enqueued {
    q.enqueue("home", schema, table, Action::Load, by)
        .await
        .expect("enqueue")
}

#[tokio::test]
async fn durable_across_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested").join("queue.db");
    let id = {
        let q = Queue::open(&path).await.expect("open");
        let e = load(&q, "gh", "repos", Requester::User).await;
        assert!(e.is_new());
        let id = e.record().job.id.clone();
        q.close().await;
        id
    };
    let q = Queue::open(&path).await.expect("reopen");
    let job = q.claim("w1", LEASE).await.expect("claim").expect("a job");
    assert_eq!(job.job.id, id);
    assert_eq!(job.job.tenant, "home");
    assert_eq!(job.job.action, Action::Load);
    assert_eq!(job.job.requested_by, Requester::User);
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.worker.as_deref(), Some("w1"));
    assert!(job.started_at_ms.is_some());
    assert!(job.lease_until_ms.expect("lease") > job.started_at_ms.expect("started"));
}

#[tokio::test]
async fn open_is_idempotent_and_uses_wal() {
    let (dir, q) = open_temp().await;
    let again = Queue::open(&dir.path().join("queue.db"))
        .await
        .expect("second open");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&again.pool)
        .await
        .expect("journal mode");
    assert_eq!(mode, "wal");
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&q.pool)
        .await
        .expect("user version");
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn open_refuses_a_newer_schema_version() {
    let (dir, q) = open_temp().await;
    sqlx::raw_sql("PRAGMA user_version = 99")
        .execute(&q.pool)
        .await
        .expect("bump version");
    q.close().await;
    let path = dir.path().join("queue.db");
    match Queue::open(&path).await {
        Err(e @ QueueError::TooNew { found: 99, .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()));
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn job_ids_are_short_lowercase_hex_and_enqueued_at_is_rfc3339() {
    let (_dir, q) = open_temp().await;
    let r = load(&q, "gh", "repos", Requester::User).await.into_record();
    assert_eq!(r.job.id.len(), ID_LEN);
    assert!(r
        .job
        .id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let parsed = DateTime::parse_from_rfc3339(&r.job.enqueued_at).expect("rfc3339");
    assert_eq!(parsed.timestamp_millis(), r.enqueued_at_ms);
    assert_eq!(q.get(&r.job.id).await.expect("get"), Some(r));
}

#[tokio::test]
async fn dedup_load_twice_returns_the_same_job() {
    let (_dir, q) = open_temp().await;
    let first = load(&q, "gh", "repos", Requester::User).await;
    let second = load(&q, "gh", "repos", Requester::User).await;
    assert!(first.is_new());
    assert!(matches!(second, Enqueued::Existing(_)));
    assert_eq!(first.record().job.id, second.record().job.id);
    // Still deduplicated while it runs.
    q.claim("w1", LEASE).await.expect("claim").expect("job");
    let third = load(&q, "gh", "repos", Requester::User).await;
    assert_eq!(third.record().job.id, first.record().job.id);
    assert_eq!(third.record().state, JobState::Running);
    // Other tables are independent.
    assert!(load(&q, "gh", "issues", Requester::User).await.is_new());
}

#[tokio::test]
async fn dedup_load_after_reload_returns_the_reload() {
    let (_dir, q) = open_temp().await;
    let reload = q
        .enqueue("home", "gh", "repos", Action::Reload, Requester::User)
        .await
        .expect("reload");
    let load = load(&q, "gh", "repos", Requester::User).await;
    assert!(matches!(load, Enqueued::Existing(_)));
    assert_eq!(load.record().job.id, reload.record().job.id);
    assert_eq!(load.record().job.action, Action::Reload);
}

#[tokio::test]
async fn reload_after_load_creates_a_new_job() {
    let (_dir, q) = open_temp().await;
    let load = load(&q, "gh", "repos", Requester::User).await;
    let reload = q
        .enqueue("home", "gh", "repos", Action::Reload, Requester::User)
        .await
        .expect("reload");
    assert!(reload.is_new());
    assert_ne!(load.record().job.id, reload.record().job.id);
    // A refresh is its own action too.
    let refresh = q
        .enqueue("home", "gh", "repos", Action::Refresh, Requester::Scheduler)
        .await
        .expect("refresh");
    assert!(refresh.is_new());
    assert_eq!(q.active().await.expect("active").len(), 3);
}

#[tokio::test]
async fn dedup_raises_the_priority_of_a_queued_duplicate() {
    let (_dir, q) = open_temp().await;
    let sched = q
        .enqueue("home", "gh", "repos", Action::Refresh, Requester::Scheduler)
        .await
        .expect("scheduler refresh");
    assert_eq!(sched.record().priority, PRIORITY_SCHEDULER);
    let user = q
        .enqueue("home", "gh", "repos", Action::Refresh, Requester::User)
        .await
        .expect("user refresh");
    assert!(matches!(user, Enqueued::Existing(_)));
    assert_eq!(user.record().priority, PRIORITY_USER);
    let stored = q
        .get(&sched.record().job.id)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(stored.priority, PRIORITY_USER);
    // A lower-priority duplicate never lowers it.
    let again = q
        .enqueue("home", "gh", "repos", Action::Refresh, Requester::Scheduler)
        .await
        .expect("scheduler again");
    assert_eq!(again.record().priority, PRIORITY_USER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dedup_race_across_two_pools_creates_exactly_one_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("queue.db");
    // Two pools on one file, opened concurrently: two processes.
    let (a, b) = tokio::join!(Queue::open(&path), Queue::open(&path));
    let (a, b) = (a.expect("open a"), b.expect("open b"));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let q = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            q.enqueue("home", "gh", "repos", Action::Load, Requester::User)
                .await
                .expect("enqueue")
        }));
    }
    let mut ids = HashSet::new();
    let mut new = 0;
    for t in tasks {
        let e = t.await.expect("task");
        if e.is_new() {
            new += 1;
        }
        ids.insert(e.record().job.id.clone());
    }
    assert_eq!(new, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(a.active().await.expect("active").len(), 1);
}

#[tokio::test]
async fn enqueue_rejects_cancel_actions() {
    let (_dir, q) = open_temp().await;
    let err = q
        .enqueue("home", "gh", "repos", Action::Cancel, Requester::User)
        .await
        .expect_err("cancel is not a loader job");
    assert!(matches!(err, QueueError::NotEnqueueable { .. }));
    assert!(err.to_string().contains("queue.db"));
}

#[tokio::test]
async fn user_job_queued_after_scheduler_job_is_claimed_first() {
    let (_dir, q) = open_temp().await;
    let sched = q
        .enqueue(
            "home",
            "gh",
            "issues",
            Action::Refresh,
            Requester::Scheduler,
        )
        .await
        .expect("scheduler");
    let user = load(&q, "gh", "repos", Requester::User).await;
    let first = q.claim("w1", LEASE).await.expect("claim").expect("job");
    assert_eq!(first.job.id, user.record().job.id);
    let second = q.claim("w2", LEASE).await.expect("claim").expect("job");
    assert_eq!(second.job.id, sched.record().job.id);
    assert!(q.claim("w3", LEASE).await.expect("claim").is_none());
}

#[tokio::test]
async fn equal_priority_jobs_are_claimed_oldest_first() {
    let (_dir, q) = open_temp().await;
    let mut ids = Vec::new();
    for t in ["a", "b", "c"] {
        ids.push(
            load(&q, "gh", t, Requester::User)
                .await
                .into_record()
                .job
                .id,
        );
    }
    for id in ids {
        let job = q.claim("w", LEASE).await.expect("claim").expect("job");
        assert_eq!(job.job.id, id);
    }
}

#[tokio::test]
async fn no_two_running_jobs_on_one_table() {
    let (_dir, q) = open_temp().await;
    let load = load(&q, "gh", "repos", Requester::User).await;
    let reload = q
        .enqueue("home", "gh", "repos", Action::Reload, Requester::User)
        .await
        .expect("reload");
    let other = q
        .enqueue("home", "gh", "issues", Action::Load, Requester::Scheduler)
        .await
        .expect("other");
    let first = q.claim("w1", LEASE).await.expect("claim").expect("job");
    assert_eq!(first.job.id, load.record().job.id);
    // The reload of the same table is skipped, even though it outranks the other job.
    let second = q.claim("w2", LEASE).await.expect("claim").expect("job");
    assert_eq!(second.job.id, other.record().job.id);
    assert!(q.claim("w3", LEASE).await.expect("claim").is_none());
    // Once the table is free, the reload runs.
    assert!(q
        .finish(&first.job.id, "w1", JobState::Done, 1, 1, None)
        .await
        .expect("finish"));
    let third = q.claim("w3", LEASE).await.expect("claim").expect("job");
    assert_eq!(third.job.id, reload.record().job.id);
}

#[tokio::test]
async fn expired_lease_is_requeued_and_the_old_worker_loses_the_job() {
    let (_dir, q) = open_temp().await;
    let id = load(&q, "gh", "repos", Requester::User)
        .await
        .into_record()
        .job
        .id;
    let job = q
        .claim("old", Duration::from_millis(10))
        .await
        .expect("claim")
        .expect("job");
    q.progress(&id, "old", 3, 300).await.expect("progress");
    // Not expired yet: nothing happens.
    let now = now_ms();
    assert!(q
        .requeue_expired_at(3, job.started_at_ms.expect("started"))
        .await
        .expect("requeue")
        .is_empty());
    let requeued = q.requeue_expired_at(3, now + 1_000).await.expect("requeue");
    assert_eq!(requeued, vec![id.clone()]);
    let stored = q.get(&id).await.expect("get").expect("job");
    assert_eq!(stored.state, JobState::Queued);
    assert_eq!(stored.attempts, 1, "attempts are kept");
    assert_eq!(stored.worker, None);
    assert_eq!(stored.lease_until_ms, None);

    let again = q.claim("new", LEASE).await.expect("claim").expect("job");
    assert_eq!(again.job.id, id);
    assert_eq!(again.attempts, 2);
    assert_eq!((again.pages, again.rows), (0, 0), "progress starts over");

    assert!(!q.renew(&id, "old", LEASE).await.expect("renew"));
    q.progress(&id, "old", 9, 900)
        .await
        .expect("stale progress is ignored");
    assert!(!q
        .finish(&id, "old", JobState::Done, 9, 900, None)
        .await
        .expect("finish"));
    let stored = q.get(&id).await.expect("get").expect("job");
    assert_eq!(stored.state, JobState::Running);
    assert_eq!(stored.worker.as_deref(), Some("new"));
    assert_eq!((stored.pages, stored.rows), (0, 0));
    assert!(q
        .finish(&id, "new", JobState::Done, 4, 400, None)
        .await
        .expect("finish"));
}

#[tokio::test]
async fn requeue_expired_uses_the_real_clock() {
    let (_dir, q) = open_temp().await;
    load(&q, "gh", "repos", Requester::User).await;
    q.claim("w1", Duration::from_millis(1))
        .await
        .expect("claim")
        .expect("job");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(q.requeue_expired(3).await.expect("requeue").len(), 1);
    assert!(q.claim("w2", LEASE).await.expect("claim").is_some());
}

#[tokio::test]
async fn renew_extends_the_lease_only_for_the_holder() {
    let (_dir, q) = open_temp().await;
    load(&q, "gh", "repos", Requester::User).await;
    let job = q
        .claim("w1", Duration::from_millis(1))
        .await
        .expect("claim")
        .expect("job");
    assert!(q.renew(&job.job.id, "w1", LEASE).await.expect("renew"));
    assert!(!q.renew(&job.job.id, "w2", LEASE).await.expect("renew"));
    assert!(!q.renew("nosuchjob", "w1", LEASE).await.expect("renew"));
    let stored = q.get(&job.job.id).await.expect("get").expect("job");
    assert!(stored.lease_until_ms.expect("lease") > job.lease_until_ms.expect("lease"));
    // Renewed far into the future: not expired now.
    assert!(q.requeue_expired(3).await.expect("requeue").is_empty());
}

#[tokio::test]
async fn max_attempts_fails_the_job_with_a_clear_error() {
    let (_dir, q) = open_temp().await;
    let id = load(&q, "gh", "repos", Requester::User)
        .await
        .into_record()
        .job
        .id;
    let mut now = now_ms();
    for attempt in 1..=3 {
        let job = q
            .claim_at(&format!("w{attempt}"), Duration::from_secs(1), now)
            .await
            .expect("claim")
            .expect("job");
        assert_eq!(job.attempts, attempt);
        now += 5_000;
        assert_eq!(
            q.requeue_expired_at(3, now).await.expect("requeue"),
            vec![id.clone()]
        );
    }
    let failed = q.get(&id).await.expect("get").expect("job");
    assert_eq!(failed.state, JobState::Failed);
    let error = failed.error.clone().expect("error");
    assert!(error.contains("interrupted 3 times"), "{error}");
    assert!(failed.finished_at_ms.is_some());
    assert!(q.claim("w4", LEASE).await.expect("claim").is_none());
    let failures = q.recent_failures(10).await.expect("failures");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].job.id, id);
    assert_eq!(failures[0].status(now).error, Some(error));
}

#[tokio::test]
async fn cancel_queued_job_is_cancelled_at_once() {
    let (_dir, q) = open_temp().await;
    let id = load(&q, "gh", "repos", Requester::User)
        .await
        .into_record()
        .job
        .id;
    assert_eq!(
        q.cancel(&id).await.expect("cancel"),
        CancelOutcome::Cancelled
    );
    let stored = q.get(&id).await.expect("get").expect("job");
    assert_eq!(stored.state, JobState::Cancelled);
    assert!(stored.finished_at_ms.is_some());
    assert!(q.cancel_requested(&id).await.expect("flag"));
    assert!(q.claim("w1", LEASE).await.expect("claim").is_none());
    assert_eq!(
        q.cancel(&id).await.expect("cancel again"),
        CancelOutcome::AlreadyFinished(JobState::Cancelled)
    );
    assert_eq!(
        q.cancel("nosuchjob").await.expect("cancel unknown"),
        CancelOutcome::NotFound
    );
    // A cancelled job no longer deduplicates.
    assert!(load(&q, "gh", "repos", Requester::User).await.is_new());
}

#[tokio::test]
async fn cancel_running_job_sets_the_flag_for_its_worker() {
    let (_dir, q) = open_temp().await;
    load(&q, "gh", "repos", Requester::User).await;
    let job = q.claim("w1", LEASE).await.expect("claim").expect("job");
    let id = job.job.id;
    assert!(!q.cancel_requested(&id).await.expect("flag"));
    assert_eq!(
        q.cancel(&id).await.expect("cancel"),
        CancelOutcome::Requested
    );
    assert!(q.cancel_requested(&id).await.expect("flag"));
    let stored = q.get(&id).await.expect("get").expect("job");
    assert_eq!(stored.state, JobState::Running);
    assert!(stored.cancel_requested);
    assert!(q
        .finish(&id, "w1", JobState::Cancelled, 2, 20, None)
        .await
        .expect("finish"));
    assert_eq!(
        q.cancel(&id).await.expect("cancel again"),
        CancelOutcome::AlreadyFinished(JobState::Cancelled)
    );
    assert!(!q.cancel_requested("nosuchjob").await.expect("flag"));
}

#[tokio::test]
async fn cancel_requested_job_whose_worker_died_ends_cancelled_not_requeued() {
    let (_dir, q) = open_temp().await;
    load(&q, "gh", "repos", Requester::User).await;
    load(&q, "gh", "issues", Requester::User).await;
    let a = q.claim("dead-1", LEASE).await.expect("claim").expect("job");
    let b = q.claim("gone-1", LEASE).await.expect("claim").expect("job");
    q.cancel(&a.job.id).await.expect("cancel a");
    q.cancel(&b.job.id).await.expect("cancel b");
    q.requeue_expired_at(3, now_ms() + 2 * duration_ms(LEASE))
        .await
        .expect("requeue");
    assert_eq!(q.release_worker("gone-").await.expect("release"), 0);
    for id in [&a.job.id, &b.job.id] {
        let stored = q.get(id).await.expect("get").expect("job");
        assert_eq!(stored.state, JobState::Cancelled);
    }
}

#[tokio::test]
async fn cancel_all_cancels_queued_and_flags_running() {
    let (_dir, q) = open_temp().await;
    load(&q, "gh", "repos", Requester::User).await;
    load(&q, "gh", "issues", Requester::User).await;
    let running = q.claim("w1", LEASE).await.expect("claim").expect("job");
    let done = q.claim("w2", LEASE).await.expect("claim").expect("job");
    q.finish(&done.job.id, "w2", JobState::Done, 1, 1, None)
        .await
        .expect("finish");
    let queued = load(&q, "gh", "users", Requester::User).await.into_record();
    let ids: HashSet<String> = q
        .cancel_all()
        .await
        .expect("cancel all")
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&running.job.id));
    assert!(ids.contains(&queued.job.id));
    assert!(!ids.contains(&done.job.id));
    assert!(q.cancel_requested(&running.job.id).await.expect("flag"));
    let counts: HashMap<JobState, u64> = q.counts().await.expect("counts").into_iter().collect();
    assert_eq!(counts[&JobState::Queued], 0);
    assert_eq!(counts[&JobState::Running], 1);
    assert_eq!(counts[&JobState::Cancelled], 1);
    assert_eq!(counts[&JobState::Done], 1);
}

#[tokio::test]
async fn release_worker_requeues_only_that_instances_jobs() {
    let (_dir, q) = open_temp().await;
    for t in ["a", "b", "c"] {
        load(&q, "gh", t, Requester::User).await;
    }
    let a = q.claim("d1-w0", LEASE).await.expect("claim").expect("job");
    let b = q.claim("d1-w1", LEASE).await.expect("claim").expect("job");
    let c = q.claim("d2-w0", LEASE).await.expect("claim").expect("job");
    q.progress(&a.job.id, "d1-w0", 5, 50)
        .await
        .expect("progress");
    assert_eq!(q.release_worker("d1-").await.expect("release"), 2);
    for id in [&a.job.id, &b.job.id] {
        let stored = q.get(id).await.expect("get").expect("job");
        assert_eq!(stored.state, JobState::Queued);
        assert_eq!(stored.worker, None);
        assert_eq!(stored.lease_until_ms, None);
        assert_eq!(
            stored.attempts, 0,
            "a graceful release is not an interruption"
        );
        assert_eq!((stored.pages, stored.rows), (0, 0));
    }
    let c_stored = q.get(&c.job.id).await.expect("get").expect("job");
    assert_eq!(c_stored.state, JobState::Running);
    assert_eq!(c_stored.worker.as_deref(), Some("d2-w0"));
    assert!(!q
        .finish(&a.job.id, "d1-w0", JobState::Done, 1, 1, None)
        .await
        .expect("finish"));
    // The released jobs run again (after a restart).
    let again = q.claim("d3-w0", LEASE).await.expect("claim").expect("job");
    assert_eq!(again.job.id, a.job.id);
    assert_eq!(again.attempts, 1);
}

#[tokio::test]
async fn prune_keeps_recent_and_active_jobs() {
    let (_dir, q) = open_temp().await;
    for t in ["old", "recent", "running", "queued"] {
        load(&q, "gh", t, Requester::User).await;
    }
    let t0 = now_ms();
    let old = q
        .claim_at("w", LEASE, t0)
        .await
        .expect("claim")
        .expect("job");
    assert!(q
        .finish(&old.job.id, "w", JobState::Failed, 0, 0, Some("boom"))
        .await
        .expect("finish"));
    // Backdate the old job's finish to two days ago.
    sqlx::query("UPDATE jobs SET finished_at_ms = ? WHERE id = ?")
        .bind(t0 - 2 * 86_400_000)
        .bind(&old.job.id)
        .execute(&q.pool)
        .await
        .expect("backdate");
    let recent = q.claim("w", LEASE).await.expect("claim").expect("job");
    assert!(q
        .finish(&recent.job.id, "w", JobState::Done, 1, 10, None)
        .await
        .expect("finish"));
    let running = q.claim("w", LEASE).await.expect("claim").expect("job");

    let pruned = q.prune(Duration::from_secs(86_400)).await.expect("prune");
    assert_eq!(pruned, 1);
    assert!(q.get(&old.job.id).await.expect("get").is_none());
    assert!(q.get(&recent.job.id).await.expect("get").is_some());
    assert!(q.get(&running.job.id).await.expect("get").is_some());
    assert_eq!(q.active().await.expect("active").len(), 2);
    // Even a zero retention never touches active jobs.
    assert_eq!(
        q.prune_at(Duration::ZERO, now_ms() + 1)
            .await
            .expect("prune"),
        1
    );
    assert_eq!(q.active().await.expect("active").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_claim_every_job_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("queue.db");
    let a = Queue::open(&path).await.expect("open a");
    let b = Queue::open(&path).await.expect("open b");
    for i in 0..100 {
        let by = if i % 3 == 0 {
            Requester::Scheduler
        } else {
            Requester::User
        };
        load(&a, "api", &format!("t{i}"), by).await;
    }
    // 50 concurrent claimers spread over 4 workers and two pools, each claiming until empty.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let q = if i % 2 == 0 { a.clone() } else { b.clone() };
        let worker = format!("w{}", i % 4);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = q.claim(&worker, LEASE).await.expect("claim") {
                assert_eq!(job.worker.as_deref(), Some(worker.as_str()));
                got.push(job.job.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 100, "every job claimed");
    assert_eq!(unique.len(), 100, "no job claimed twice");
    let counts: HashMap<JobState, u64> = a.counts().await.expect("counts").into_iter().collect();
    assert_eq!(counts[&JobState::Running], 100);
    assert_eq!(counts[&JobState::Queued], 0);
}

#[tokio::test]
async fn progress_is_visible_through_get_and_status() {
    let (_dir, q) = open_temp().await;
    load(&q, "gh", "repos", Requester::User).await;
    let job = q.claim("w1", LEASE).await.expect("claim").expect("job");
    let id = job.job.id.clone();
    q.progress(&id, "w1", 7, 700).await.expect("progress");
    let stored = q.get(&id).await.expect("get").expect("job");
    assert_eq!((stored.pages, stored.rows), (7, 700));
    let started = stored.started_at_ms.expect("started");
    let status = stored.status(started + 1_500);
    assert_eq!(status.job_id, id);
    assert_eq!(status.table_name(), "gh.repos");
    assert_eq!(status.state, JobState::Running);
    assert_eq!((status.pages, status.rows), (7, 700));
    assert_eq!(status.elapsed_ms, 1_500);
    assert_eq!(status.error, None);

    assert!(q
        .finish(&id, "w1", JobState::Failed, 8, 800, Some("HTTP 500"))
        .await
        .expect("finish"));
    let done = q.get(&id).await.expect("get").expect("job");
    let finished = done.finished_at_ms.expect("finished");
    // Elapsed stops at the finish.
    let status = done.status(finished + 60_000);
    assert_eq!(
        status.elapsed_ms,
        u64::try_from(finished - started).expect("non-negative")
    );
    assert_eq!(status.error.as_deref(), Some("HTTP 500"));
    assert_eq!((status.pages, status.rows), (8, 800));
    assert!(q.get("nosuchjob").await.expect("get").is_none());
}

#[tokio::test]
async fn queued_job_status_has_zero_elapsed() {
    let (_dir, q) = open_temp().await;
    let r = load(&q, "gh", "repos", Requester::User).await.into_record();
    let status = r.status(r.enqueued_at_ms + 10_000);
    assert_eq!(status.state, JobState::Queued);
    assert_eq!(status.elapsed_ms, 0);
}

#[tokio::test]
async fn finish_rejects_a_non_final_state() {
    let (_dir, q) = open_temp().await;
    load(&q, "gh", "repos", Requester::User).await;
    let job = q.claim("w1", LEASE).await.expect("claim").expect("job");
    let err = q
        .finish(&job.job.id, "w1", JobState::Queued, 0, 0, None)
        .await
        .expect_err("queued is not final");
    assert!(matches!(err, QueueError::NotFinal { .. }));
}

#[tokio::test]
async fn get_many_keeps_the_given_order_and_skips_unknown_ids() {
    let (_dir, q) = open_temp().await;
    let a = load(&q, "gh", "a", Requester::User)
        .await
        .into_record()
        .job
        .id;
    let b = load(&q, "gh", "b", Requester::User)
        .await
        .into_record()
        .job
        .id;
    let got = q
        .get_many(&[b.clone(), "nosuchjob".to_string(), a.clone()])
        .await
        .expect("get many");
    let ids: Vec<&str> = got.iter().map(|r| r.job.id.as_str()).collect();
    assert_eq!(ids, vec![b.as_str(), a.as_str()]);
    assert!(q.get_many(&[]).await.expect("empty").is_empty());
}

#[tokio::test]
async fn active_lists_running_first_then_priority_and_age() {
    let (_dir, q) = open_temp().await;
    let s1 = q
        .enqueue("home", "gh", "s1", Action::Refresh, Requester::Scheduler)
        .await
        .expect("s1")
        .into_record()
        .job
        .id;
    let u1 = load(&q, "gh", "u1", Requester::User)
        .await
        .into_record()
        .job
        .id;
    let u2 = load(&q, "gh", "u2", Requester::User)
        .await
        .into_record()
        .job
        .id;
    let running = q.claim("w", LEASE).await.expect("claim").expect("job");
    assert_eq!(running.job.id, u1);
    let order: Vec<String> = q
        .active()
        .await
        .expect("active")
        .into_iter()
        .map(|r| r.job.id)
        .collect();
    assert_eq!(order, vec![u1, u2, s1]);
}

#[tokio::test]
async fn recent_failures_are_newest_first_and_limited() {
    let (_dir, q) = open_temp().await;
    let mut failed = Vec::new();
    for t in ["a", "b", "c"] {
        load(&q, "gh", t, Requester::User).await;
        let job = q.claim("w", LEASE).await.expect("claim").expect("job");
        q.finish(&job.job.id, "w", JobState::Failed, 0, 0, Some(t))
            .await
            .expect("finish");
        failed.push(job.job.id);
    }
    load(&q, "gh", "ok", Requester::User).await;
    let ok = q.claim("w", LEASE).await.expect("claim").expect("job");
    q.finish(&ok.job.id, "w", JobState::Done, 0, 0, None)
        .await
        .expect("finish");
    let got: Vec<String> = q
        .recent_failures(2)
        .await
        .expect("failures")
        .into_iter()
        .map(|r| r.job.id)
        .collect();
    assert_eq!(got, vec![failed[2].clone(), failed[1].clone()]);
}

#[tokio::test]
async fn counts_by_state_include_zeros() {
    let (_dir, q) = open_temp().await;
    let empty = q.counts().await.expect("counts");
    assert_eq!(empty.len(), 5);
    assert!(empty.iter().all(|(_, n)| *n == 0));
    for t in ["a", "b", "c", "d"] {
        load(&q, "gh", t, Requester::User).await;
    }
    let a = q.claim("w", LEASE).await.expect("claim").expect("job");
    let b = q.claim("w", LEASE).await.expect("claim").expect("job");
    q.finish(&a.job.id, "w", JobState::Done, 0, 0, None)
        .await
        .expect("finish");
    let c = q.active().await.expect("active");
    let queued = c
        .iter()
        .find(|r| r.state == JobState::Queued)
        .expect("queued");
    q.cancel(&queued.job.id).await.expect("cancel");
    let counts: HashMap<JobState, u64> = q.counts().await.expect("counts").into_iter().collect();
    assert_eq!(counts[&JobState::Queued], 1);
    assert_eq!(counts[&JobState::Running], 1);
    assert_eq!(counts[&JobState::Done], 1);
    assert_eq!(counts[&JobState::Failed], 0);
    assert_eq!(counts[&JobState::Cancelled], 1);
    assert_eq!(
        q.get(&b.job.id).await.expect("get").expect("job").state,
        JobState::Running
    );
}

#[tokio::test]
async fn last_scheduled_survives_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("queue.db");
    {
        let q = Queue::open(&path).await.expect("open");
        assert_eq!(q.last_scheduled("gh", "repos").await.expect("read"), None);
        q.set_last_scheduled("gh", "repos", 1_000)
            .await
            .expect("set");
        q.set_last_scheduled("gh", "repos", 2_000)
            .await
            .expect("update");
        q.set_last_scheduled("gh", "issues", 5)
            .await
            .expect("set other");
        q.close().await;
    }
    let q = Queue::open(&path).await.expect("reopen");
    assert_eq!(
        q.last_scheduled("gh", "repos").await.expect("read"),
        Some(2_000)
    );
    assert_eq!(
        q.last_scheduled("gh", "issues").await.expect("read"),
        Some(5)
    );
    assert_eq!(q.last_scheduled("gh", "users").await.expect("read"), None);
}

fn assert_send<T: Send>(_: T) {}

#[tokio::test]
async fn every_queue_future_is_send_so_actors_can_spawn_it() {
    let (_dir, q) = open_temp().await;
    let ids = vec!["x".to_string()];
    assert_send(q.enqueue("h", "s", "t", Action::Load, Requester::User));
    assert_send(q.claim("w", LEASE));
    assert_send(q.renew("x", "w", LEASE));
    assert_send(q.progress("x", "w", 0, 0));
    assert_send(q.finish("x", "w", JobState::Done, 0, 0, None));
    assert_send(q.requeue_expired(3));
    assert_send(q.release_worker("w"));
    assert_send(q.get("x"));
    assert_send(q.get_many(&ids));
    assert_send(q.active());
    assert_send(q.recent_failures(5));
    assert_send(q.cancel("x"));
    assert_send(q.cancel_all());
    assert_send(q.cancel_requested("x"));
    assert_send(q.prune(LEASE));
    assert_send(q.counts());
    assert_send(q.last_scheduled("s", "t"));
    assert_send(q.set_last_scheduled("s", "t", 0));
    let path = q.path().to_path_buf();
    tokio::spawn(async move { Queue::open(&path).await.map(|_| ()) })
        .await
        .expect("task")
        .expect("open in a spawned task");
}

#[tokio::test]
async fn finish_queued_ends_only_a_job_still_queued() {
    let (_dir, q) = open_temp().await;
    let a = load(&q, "gh", "repos", Requester::User).await.into_record();
    let b = load(&q, "gh", "issues", Requester::User)
        .await
        .into_record();
    let claimed = q.claim("w1", LEASE).await.expect("claim").expect("job");
    assert_eq!(claimed.job.id, a.job.id);
    // Claimed meanwhile: nothing changes.
    assert!(!q
        .finish_queued(&a.job.id, JobState::Cancelled, None)
        .await
        .expect("finish queued"));
    assert_eq!(
        q.get(&a.job.id).await.expect("get").expect("job").state,
        JobState::Running
    );
    assert!(q
        .finish_queued(&b.job.id, JobState::Cancelled, None)
        .await
        .expect("finish queued"));
    let stored = q.get(&b.job.id).await.expect("get").expect("job");
    assert_eq!(stored.state, JobState::Cancelled);
    assert!(stored.finished_at_ms.is_some());
    // Finished already: nothing changes; a state that is not final is refused.
    assert!(!q
        .finish_queued(&b.job.id, JobState::Failed, Some("x"))
        .await
        .expect("finish queued"));
    assert!(matches!(
        q.finish_queued(&b.job.id, JobState::Running, None).await,
        Err(QueueError::NotFinal { .. })
    ));
}

#[tokio::test]
async fn request_cancel_flags_only_a_running_job() {
    let (_dir, q) = open_temp().await;
    let a = load(&q, "gh", "repos", Requester::User).await.into_record();
    assert!(!q.request_cancel(&a.job.id).await.expect("request"));
    assert!(!q.cancel_requested(&a.job.id).await.expect("flag"));
    q.claim("w1", LEASE).await.expect("claim").expect("job");
    assert!(q.request_cancel(&a.job.id).await.expect("request"));
    assert!(q.cancel_requested(&a.job.id).await.expect("flag"));
    assert!(!q.request_cancel("nosuchjob").await.expect("request"));
}
