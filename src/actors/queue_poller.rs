//! QueuePoller: hands queued jobs to the loader pool's idle slots. It claims from SQLite
//! when woken (a job was enqueued, a slot became idle) and on a slow tick (jobs enqueued
//! by another process while this one ran), watches the heartbeats of running jobs and
//! prunes old finished jobs. It owns which slots are idle; the pool owns what runs in
//! them. It never runs a load and never writes a final state itself (the [`Ledger`] does).
//!
//! A running job's lease value is its heartbeat: the worker renews it every third of
//! [`LEASE`]. The [`LeaseWatch`] times how long each value stays unchanged with the
//! monotonic clock (tokio's, so tests can pause it), never by comparing it with the wall
//! clock, so a laptop waking from sleep (or an NTP jump) does not make healthy jobs look
//! expired: the monotonic clock does not run while the machine sleeps, and the workers
//! renew as soon as it wakes.

use super::loader_worker::{CancelJob, RunJob, WorkerIdle};
use super::{Activity, ActivityCounter, HostContext, Interrupted, Ledger, LEASE};
use crate::queue::JobRecord;
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

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

/// The poller's tick: claims are tried this often even when nobody wakes it.
pub const POLL_TICK: Duration = Duration::from_millis(500);

/// Heartbeats are looked at every this many ticks (5 s).
const LEASE_WATCH_TICKS: u64 = 10;

/// Finished jobs are pruned on the first tick and every this many ticks (10 min).
const PRUNE_TICKS: u64 = 1200;

/// What a tick of the poller does besides claiming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickWork {
    /// Look at the heartbeats of running jobs.
    pub watch_leases: bool,
    /// Delete old finished jobs.
    pub prune: bool,
}

impl TickWork {
    /// The work of tick number `tick` (the first tick is 1).
    pub fn of(tick: u64) -> TickWork {
        TickWork {
            watch_leases: tick.is_multiple_of(LEASE_WATCH_TICKS),
            prune: tick % PRUNE_TICKS == 1,
        }
    }
}

/// Claims jobs for the loader pool.
pub struct QueuePoller {
    ctx: Arc<HostContext>,
    ledger: Ledger,
    run: Recipient<RunJob>,
    cancel: Recipient<CancelJob>,
    idle: Vec<usize>,
    claiming: bool,
    watching: bool,
    ticks: u64,
    leases: LeaseWatch,
    activity: ActivityCounter,
}

impl QueuePoller {
    /// A poller for a pool of `ctx.workers` slots (all idle at start): claimed jobs go to
    /// `run`, runs whose heartbeat stopped are stopped through `cancel`.
    pub fn new(
        ctx: Arc<HostContext>,
        ledger: Ledger,
        run: Recipient<RunJob>,
        cancel: Recipient<CancelJob>,
    ) -> Self {
        QueuePoller {
            idle: (0..ctx.workers).rev().collect(),
            ctx,
            ledger,
            run,
            cancel,
            claiming: false,
            watching: false,
            ticks: 0,
            leases: LeaseWatch::default(),
            activity: ActivityCounter::default(),
        }
    }

    /// Watch what the poller has in flight (the host waits for it to go quiet).
    pub fn activity(&self) -> watch::Receiver<Activity> {
        self.activity.watch()
    }

    fn claim_next(&mut self, ctx: &mut Context<Self>) {
        // Counted before the checks: a host that stopped and then saw nothing in flight
        // knows no claim starts after it (see `Host::shutdown`).
        self.activity.begin();
        let Some(&slot) = self.idle.last() else {
            return self.activity.end();
        };
        if self.claiming || self.ctx.shutdown.is_cancelled() {
            return self.activity.end();
        }
        self.claiming = true;
        let queue = self.ctx.queue.clone();
        let worker = self.ctx.worker_id(slot);
        let fut = async move { queue.claim(&worker, LEASE).await };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.claiming = false;
            match result {
                Ok(Some(job)) => {
                    act.idle.retain(|s| *s != slot);
                    act.run.do_send(RunJob {
                        job,
                        slot,
                        done: ctx.address().recipient(),
                    });
                    // More may be waiting, and another slot may be idle.
                    act.claim_next(ctx);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "claiming a job failed"),
            }
            act.activity.end();
        }));
    }

    /// Read the running jobs and deal with those whose heartbeat stopped.
    fn watch_leases(&mut self, ctx: &mut Context<Self>) {
        if self.watching {
            return;
        }
        self.watching = true;
        self.activity.begin();
        let queue = self.ctx.queue.clone();
        let read = async move { queue.running_jobs().await };
        ctx.spawn(read.into_actor(self).map(|result, act, ctx| {
            act.watching = false;
            match result {
                Ok(running) => {
                    for job in act.leases.stale(&running, Instant::now(), LEASE) {
                        act.interrupt(job, ctx);
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading running jobs failed"),
            }
            act.activity.end();
        }));
    }

    /// A job's heartbeat stopped: its run counts as interrupted; if it was still going
    /// here, the pool stops it.
    fn interrupt(&mut self, job: JobRecord, ctx: &mut Context<Self>) {
        self.activity.begin();
        let ledger = self.ledger.clone();
        let fut = async move {
            let heartbeat = job.lease_until_ms;
            let why = "its worker stopped renewing the lease: hung";
            let outcome = ledger.interrupted(&job, why, heartbeat).await;
            (job.job.id, outcome)
        };
        ctx.spawn(fut.into_actor(self).map(|(id, outcome), act, _| {
            match outcome {
                Ok(Interrupted::Moved) => {}
                Ok(_) => act.cancel.do_send(CancelJob { id }),
                Err(e) => {
                    tracing::error!(job = %id, error = %e, "dealing with a stale job failed")
                }
            }
            act.activity.end();
        }));
    }

    /// Retention: finished jobs are kept a week (their outcome stays in
    /// `unify.loading_jobs` too).
    fn prune(&mut self, ctx: &mut Context<Self>) {
        self.activity.begin();
        let queue = self.ctx.queue.clone();
        let fut = async move {
            match queue.prune(JOB_RETENTION).await {
                Ok(n) if n > 0 => tracing::info!(jobs = n, "pruned finished jobs"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning finished jobs failed"),
            }
        };
        ctx.spawn(fut.into_actor(self).map(|(), act, _| act.activity.end()));
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.activity.begin();
        self.activity.tick();
        self.ticks += 1;
        if !self.ctx.shutdown.is_cancelled() {
            let work = TickWork::of(self.ticks);
            if work.prune {
                self.prune(ctx);
            }
            if work.watch_leases {
                self.watch_leases(ctx);
            }
            self.claim_next(ctx);
        }
        self.activity.end();
    }
}

impl Actor for QueuePoller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(POLL_TICK, |act, ctx| act.tick(ctx));
        self.claim_next(ctx);
    }
}

/// Look for work now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

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
mod tests;
