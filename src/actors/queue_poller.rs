//! QueuePoller: hands queued jobs to idle loader workers. It claims from SQLite when
//! woken (a job was enqueued, a worker became idle) and on a slow tick (jobs enqueued
//! by another process while this one ran), and watches the heartbeats of running jobs.
//!
//! A running job's lease value is its heartbeat: the worker renews it every third of
//! [`LEASE`]. The [`LeaseWatch`] times how long each value stays unchanged with the
//! monotonic clock, never by comparing it with the wall clock, so a laptop waking from
//! sleep (or an NTP jump) does not make healthy jobs look expired: the monotonic clock
//! does not run while the machine sleeps, and the workers renew as soon as it wakes.

use super::loader_worker::{LoaderWorker, RunJob};
use super::{Shared, LEASE};
use crate::queue::JobRecord;
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Times the heartbeats of running jobs with the monotonic clock.
#[derive(Debug, Default)]
pub struct LeaseWatch {
    /// Per job: the lease value last seen and when (monotonic) it was first seen.
    seen: HashMap<String, (Option<i64>, Instant)>,
}

impl LeaseWatch {
    /// Look at the running jobs at `now`: the jobs whose heartbeat has not changed
    /// for `lease` of monotonic time (a job seen for the first time gets a full lease).
    pub fn stale(
        &mut self,
        running: &[JobRecord],
        now: Instant,
        lease: Duration,
    ) -> Vec<JobRecord> {
        self.seen
            .retain(|id, _| running.iter().any(|j| &j.job.id == id));
        let mut out = Vec::new();
        for job in running {
            let entry = self
                .seen
                .entry(job.job.id.clone())
                .or_insert((job.lease_until_ms, now));
            if entry.0 != job.lease_until_ms {
                *entry = (job.lease_until_ms, now);
            } else if now.saturating_duration_since(entry.1) >= lease {
                out.push(job.clone());
            }
        }
        out
    }
}

/// How long finished jobs stay in the queue database.
pub const JOB_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Claims jobs for the worker pool.
pub struct QueuePoller {
    shared: Arc<Shared>,
    workers: Vec<Addr<LoaderWorker>>,
    idle: Vec<usize>,
    claiming: bool,
    quiesced: bool,
    ticks: u64,
    leases: LeaseWatch,
}

impl QueuePoller {
    /// A poller for `workers` (all idle at start).
    pub fn new(shared: Arc<Shared>, workers: Vec<Addr<LoaderWorker>>) -> Self {
        let idle = (0..workers.len()).rev().collect();
        QueuePoller {
            shared,
            workers,
            idle,
            claiming: false,
            quiesced: false,
            ticks: 0,
            leases: LeaseWatch::default(),
        }
    }

    fn claim_next(&mut self, ctx: &mut Context<Self>) {
        if self.claiming
            || self.quiesced
            || self.idle.is_empty()
            || self.shared.shutdown.is_cancelled()
        {
            return;
        }
        let Some(&slot) = self.idle.last() else {
            return;
        };
        self.claiming = true;
        let queue = self.shared.queue.clone();
        let worker_id = format!("{}-w{slot}", self.shared.instance);
        let fut = async move { queue.claim(&worker_id, LEASE).await };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.claiming = false;
            match result {
                Ok(Some(job)) => {
                    act.idle.retain(|s| *s != slot);
                    act.workers[slot].do_send(RunJob {
                        job,
                        slot,
                        done: ctx.address().recipient(),
                    });
                    ctx.notify(Wake);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "claiming a job failed"),
            }
        }));
    }
}

impl QueuePoller {
    /// Read the running jobs and deal with those whose heartbeat stopped.
    fn watch_leases(&mut self, ctx: &mut Context<Self>) {
        let queue = self.shared.queue.clone();
        let read = async move { queue.running_jobs().await };
        ctx.spawn(read.into_actor(self).map(|result, act, ctx| {
            let running = match result {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "reading running jobs failed");
                    return;
                }
            };
            for job in act.leases.stale(&running, Instant::now(), LEASE) {
                let shared = act.shared.clone();
                ctx.spawn(
                    async move {
                        let heartbeat = job.lease_until_ms;
                        if let Err(e) = shared
                            .job_interrupted(&job, "its worker stopped renewing the lease: hung", heartbeat)
                            .await
                        {
                            tracing::error!(job = %job.job.id, error = %e, "dealing with a stale job failed");
                        }
                    }
                    .into_actor(act),
                );
            }
        }));
    }
}

impl Actor for QueuePoller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(500), |act, ctx| {
            act.ticks += 1;
            if act.ticks % 1200 == 1 {
                // Retention: finished jobs are kept a week (their outcome stays in
                // unify.loading_jobs too).
                let queue = act.shared.queue.clone();
                ctx.spawn(
                    async move {
                        match queue.prune(JOB_RETENTION).await {
                            Ok(n) if n > 0 => tracing::info!(jobs = n, "pruned finished jobs"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "pruning finished jobs failed"),
                        }
                    }
                    .into_actor(act),
                );
            }
            if act.ticks.is_multiple_of(10) {
                act.watch_leases(ctx);
            }
            act.claim_next(ctx);
        });
        ctx.notify(Wake);
    }
}

/// Stop claiming (shutdown); answers true while a claim is still in flight, so the
/// caller can wait before closing the queue.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Quiesce;

impl Handler<Quiesce> for QueuePoller {
    type Result = bool;
    fn handle(&mut self, _: Quiesce, _: &mut Context<Self>) -> bool {
        self.quiesced = true;
        self.claiming
    }
}

/// Look for work now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// A worker finished its job.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WorkerIdle(pub usize);

impl Handler<Wake> for QueuePoller {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.claim_next(ctx);
    }
}

impl Handler<WorkerIdle> for QueuePoller {
    type Result = ();
    fn handle(&mut self, msg: WorkerIdle, ctx: &mut Context<Self>) {
        if !self.idle.contains(&msg.0) {
            self.idle.push(msg.0);
        }
        self.claim_next(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Action, JobState, LoaderJob, Requester};

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
}
