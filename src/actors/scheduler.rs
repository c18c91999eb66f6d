//! Scheduler: keeps loaded connector tables fresh. On every tick it looks at each
//! loaded table; one older than its `polling_interval_secs` (table, else spec, else
//! 14 400 s; 0 = never) gets a low-priority refresh job, which then runs under the
//! connection's rate limit like any other. When it last scheduled each table is kept
//! in the queue database, so the schedule survives restarts.

use super::queue_poller::{QueuePoller, Wake};
use super::status_publisher::{Publish, StatusPublisher};
use super::Shared;
use crate::adapters::spec::DEFAULT_POLLING_INTERVAL_SECS;
use crate::protocol::{Action, Requester};
use crate::queue::Enqueued;
use actix::prelude::*;
use std::sync::Arc;

/// Enqueues refreshes when tables are due.
pub struct Scheduler {
    shared: Arc<Shared>,
    poller: Addr<QueuePoller>,
    publisher: Addr<StatusPublisher>,
    busy: bool,
}

impl Scheduler {
    /// A scheduler enqueueing for `poller`.
    pub fn new(
        shared: Arc<Shared>,
        poller: Addr<QueuePoller>,
        publisher: Addr<StatusPublisher>,
    ) -> Self {
        Scheduler {
            shared,
            poller,
            publisher,
            busy: false,
        }
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let tick = self.shared.scheduler_tick;
        ctx.run_interval(tick, |act, ctx| {
            if act.busy || act.shared.shutdown.is_cancelled() {
                return;
            }
            act.busy = true;
            let (shared, poller, publisher) = (
                act.shared.clone(),
                act.poller.clone(),
                act.publisher.clone(),
            );
            ctx.spawn(
                async move {
                    if let Err(e) = schedule_due(&shared, &poller, &publisher).await {
                        tracing::warn!(error = %e, "scheduler pass failed");
                    }
                }
                .into_actor(act)
                .map(|_, act, _| act.busy = false),
            );
        });
    }
}

/// A loaded connector table and when it last finished loading or refreshing (ms).
async fn loaded_tables(shared: &Shared) -> Result<Vec<(String, String, i64)>, String> {
    let wh = shared.engine.warehouse().clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<(String, String, i64)>, String> {
        let conn = wh.connect().map_err(|e| e.to_string())?;
        let mut stmt = conn
            .prepare(
                "SELECT schema_name, table_name, epoch_ms(coalesce(greatest(last_refresh_end, last_load_end), last_load_end)) FROM unify.tables WHERE kind = 'connector'",
            )
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, Option<i64>>(2)?.unwrap_or(0))))
            .map_err(|e| e.to_string())?;
        Ok(rows.filter_map(Result::ok).collect())
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn schedule_due(
    shared: &Shared,
    poller: &Addr<QueuePoller>,
    publisher: &Addr<StatusPublisher>,
) -> Result<(), String> {
    let config = shared.engine.config();
    let now = chrono::Utc::now().timestamp_millis();
    for (schema, table, last_done) in loaded_tables(shared).await? {
        let Some(conn) = config.connection(&schema) else {
            continue;
        };
        let Some(spec_table) = conn.spec.table(&table) else {
            continue;
        };
        let interval = spec_table
            .polling_interval_secs
            .or(conn.spec.polling_interval_secs)
            .unwrap_or(DEFAULT_POLLING_INTERVAL_SECS);
        if interval == 0 {
            continue;
        }
        let last_scheduled = shared
            .queue
            .last_scheduled(&schema, &table)
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or(0);
        let since = last_done.max(last_scheduled);
        if now.saturating_sub(since)
            < i64::try_from(interval)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000)
        {
            continue;
        }
        let enqueued = shared
            .queue
            .enqueue(
                &shared.tenant,
                &schema,
                &table,
                Action::Refresh,
                Requester::Scheduler,
            )
            .await
            .map_err(|e| e.to_string())?;
        shared
            .queue
            .set_last_scheduled(&schema, &table, now)
            .await
            .map_err(|e| e.to_string())?;
        if let Enqueued::New(record) = &enqueued {
            tracing::info!(job = %record.job.id, table = %format!("{schema}.{table}"), interval, "scheduled refresh");
            publisher.do_send(Publish(record.status(now)));
        }
        poller.do_send(Wake);
    }
    Ok(())
}
