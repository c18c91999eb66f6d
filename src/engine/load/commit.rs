//! Commit: the staging table swapped in (load, reload) or merged by key (refresh), with
//! the table's record and the job's success in the same transaction. A cancel that
//! arrives before the commit drops the staging table instead.

use super::plan::LoadPlan;
use super::stage::drop_staged;
use super::{Failed, Job};
use crate::adapters::spec::Method;
use crate::engine::LoadError;
use crate::warehouse::staging::Staged;
use crate::warehouse::{Commit, JobRecord, TableRecord, Warehouse};
use std::sync::Arc;

/// Put `staged` in place of the plan's table. `[pages, requests]` are the fetch's
/// counts. Returns the rows the table (or the merge) got.
pub(super) async fn commit(
    wh: &Arc<Warehouse>,
    plan: &LoadPlan,
    job: &Job,
    staged: Staged,
    [pages, requests]: [u64; 2],
) -> Result<u64, Failed> {
    let failed = |error: LoadError, rows: u64| Failed {
        error,
        rows,
        pages,
        requests,
    };
    if job.cancel.is_cancelled() {
        drop_staged(wh, &staged).await;
        return Err(failed(LoadError::Cancelled, staged.rows));
    }
    let how = match plan.merge {
        true => Commit::Merge(plan.table.key_columns.clone()),
        false => Commit::Swap,
    };
    let record = table_record(plan);
    let job_record = JobRecord {
        job_id: job.id.clone(),
        pages,
        requests,
    };
    match wh.commit(staged.clone(), how, record, job_record).await {
        Ok(rows) => Ok(rows),
        Err(e) => {
            drop_staged(wh, &staged).await;
            Err(failed(e.into(), staged.rows))
        }
    }
}

/// What `unify.tables` records about the table.
fn table_record(plan: &LoadPlan) -> TableRecord {
    let table = &plan.table;
    let method = match table.method {
        Method::Post => "POST",
        Method::Get => "GET",
    };
    TableRecord {
        schema: plan.conn.schema.clone(),
        table: table.name.clone(),
        kind: "connector".into(),
        connector: Some(plan.conn.spec.name.clone()),
        description: table.description.clone(),
        source: Some(format!("{method} {}", table.path)),
        started_us: plan.started_us,
        ended_us: chrono::Utc::now().timestamp_micros(),
        is_refresh: plan.merge,
    }
}
