//! Scheduler: keeps loaded connector tables fresh. On every tick it looks at each
//! loaded table; one older than its `polling_interval_secs` (table, else spec, else
//! 14 400 s; 0 = never) gets a low-priority refresh job, which then runs under the
//! connection's rate limit like any other. When it last scheduled each table is kept
//! in the queue database, so the schedule survives restarts.
//!
//! Whether a table is due is a pure function ([`due`]) of wall-clock milliseconds, read
//! once per tick from an injected [`Clock`]: the stored times are wall-clock (they
//! outlive the process), and tests run the scheduler under paused time with a clock
//! that follows it.

use super::queue_poller::Wake;
use super::status_publisher::{Publish, StatusPublisher};
use super::{Activity, ActivityCounter, HostContext};
use crate::adapters::spec::DEFAULT_POLLING_INTERVAL_SECS;
use crate::engine::Config;
use crate::protocol::{Action, Requester};
use crate::queue::{Enqueued, QueueError};
use actix::prelude::*;
use std::sync::Arc;
use tokio::sync::watch;

/// Wall-clock time in milliseconds since the epoch.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock: what the queue and the warehouse record.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::queue::now_ms()
    }
}

/// True when a table refreshed every `interval_secs` (0 = never), last loaded or
/// refreshed at `last_done_ms` and last scheduled at `last_scheduled_ms`, is due at
/// `now_ms`. An interval too long to count in milliseconds never falls due.
pub fn due(now_ms: i64, last_done_ms: i64, last_scheduled_ms: i64, interval_secs: u64) -> bool {
    let Some(interval_ms) = i64::try_from(interval_secs)
        .ok()
        .and_then(|s| s.checked_mul(1000))
    else {
        return false;
    };
    interval_secs > 0 && now_ms.saturating_sub(last_done_ms.max(last_scheduled_ms)) >= interval_ms
}

/// Why a scheduler pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The loaded tables could not be read from the warehouse.
    #[error("reading the loaded tables: {0}")]
    Warehouse(String),
    /// The queue could not be read or written.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Enqueues refreshes when tables are due.
pub struct Scheduler {
    ctx: Arc<HostContext>,
    wake: Recipient<Wake>,
    publisher: Addr<StatusPublisher>,
    clock: Arc<dyn Clock>,
    busy: bool,
    activity: ActivityCounter,
}

impl Scheduler {
    /// A scheduler telling `wake` (the poller) about the refreshes it enqueues.
    pub fn new(
        ctx: Arc<HostContext>,
        wake: Recipient<Wake>,
        publisher: Addr<StatusPublisher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Scheduler {
            ctx,
            wake,
            publisher,
            clock,
            busy: false,
            activity: ActivityCounter::default(),
        }
    }

    /// Watch what the scheduler has in flight (the host waits for it to go quiet).
    pub fn activity(&self) -> watch::Receiver<Activity> {
        self.activity.watch()
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.activity.begin();
        self.activity.tick();
        if self.busy || self.ctx.shutdown.is_cancelled() {
            return self.activity.end();
        }
        self.busy = true;
        let now = self.clock.now_ms();
        let pass = Pass {
            ctx: self.ctx.clone(),
            wake: self.wake.clone(),
            publisher: self.publisher.clone(),
            now,
        };
        ctx.spawn(
            async move {
                if let Err(e) = pass.run().await {
                    tracing::warn!(error = %e, "scheduler pass failed");
                }
            }
            .into_actor(self)
            .map(|_, act, _| {
                act.busy = false;
                act.activity.end();
            }),
        );
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.ctx.scheduler_tick, |act, ctx| act.tick(ctx));
    }
}

/// One look at every loaded table, at `now`.
struct Pass {
    ctx: Arc<HostContext>,
    wake: Recipient<Wake>,
    publisher: Addr<StatusPublisher>,
    now: i64,
}

impl Pass {
    async fn run(&self) -> Result<(), SchedulerError> {
        let config = self.ctx.engine.config();
        let tables = loaded_tables(&self.ctx)
            .await
            .map_err(SchedulerError::Warehouse)?;
        for (schema, table, last_done) in tables {
            let Some(interval) = polling_interval(&config, &schema, &table) else {
                continue;
            };
            let queue = &self.ctx.queue;
            let last_scheduled = queue.last_scheduled(&schema, &table).await?.unwrap_or(0);
            if due(self.now, last_done, last_scheduled, interval) {
                self.refresh(&schema, &table, interval).await?;
            }
        }
        Ok(())
    }

    async fn refresh(&self, schema: &str, table: &str, interval: u64) -> Result<(), QueueError> {
        let queue = &self.ctx.queue;
        let (tenant, by) = (&self.ctx.tenant, Requester::Scheduler);
        let enqueued = queue
            .enqueue(tenant, schema, table, Action::Refresh, by)
            .await?;
        queue.set_last_scheduled(schema, table, self.now).await?;
        if let Enqueued::New(record) = &enqueued {
            tracing::info!(job = %record.job.id, table = %format!("{schema}.{table}"), interval, "scheduled refresh");
            self.publisher.do_send(Publish(record.status(self.now)));
        }
        self.wake.do_send(Wake);
        Ok(())
    }
}

/// The refresh period of a connector table still in the configuration.
fn polling_interval(config: &Config, schema: &str, table: &str) -> Option<u64> {
    let conn = config.connection(schema)?;
    let spec_table = conn.spec.table(table)?;
    Some(
        spec_table
            .polling_interval_secs
            .or(conn.spec.polling_interval_secs)
            .unwrap_or(DEFAULT_POLLING_INTERVAL_SECS),
    )
}

/// A loaded connector table and when it last finished loading or refreshing (ms).
async fn loaded_tables(shared: &HostContext) -> Result<Vec<(String, String, i64)>, String> {
    let tables = shared
        .engine
        .warehouse()
        .loaded_tables()
        .await
        .map_err(|e| e.to_string())?;
    Ok(tables
        .into_iter()
        .map(|t| (t.schema, t.table, t.last_end_ms))
        .collect())
}

#[cfg(test)]
mod tests;
