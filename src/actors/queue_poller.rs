//! QueuePoller: hands queued jobs to idle loader workers. It claims from SQLite when
//! woken (a job was enqueued, a worker became idle) and on a slow tick (jobs enqueued
//! by another process while this one ran), and re-queues jobs whose lease expired.

use super::loader_worker::{LoaderWorker, RunJob};
use super::{Shared, LEASE, MAX_ATTEMPTS};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

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
                let queue = act.shared.queue.clone();
                ctx.spawn(
                    async move {
                        match queue.requeue_expired(MAX_ATTEMPTS).await {
                            Ok(ids) if !ids.is_empty() => {
                                tracing::warn!(jobs = ?ids, "re-queued jobs whose worker stopped renewing its lease")
                            }
                            Ok(_) => {}
                            Err(e) => tracing::error!(error = %e, "re-queueing expired jobs failed"),
                        }
                    }
                    .into_actor(act),
                );
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
