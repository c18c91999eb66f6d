//! Fetch: the plan's params expanded into parameter sets (`sql@` queries run against
//! the connection's schema), then every page of every set, sent to the stage.

use super::plan::LoadPlan;
use super::Job;
use crate::adapters::rest::client::{FetchError, Limiter, RestClient};
use crate::adapters::rest::params::{self, ParamSet};
use crate::adapters::rest::{Fetch, FetchStats, FetchedPage};
use crate::engine::{LoadError, Progress};
use crate::warehouse::{SchemaSql, Warehouse};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The parameter sets of a load, one request sequence each. None at all (an empty
/// list, a `sql@` query with no rows) is a warning: nothing will be fetched.
pub(super) async fn param_sets(
    wh: &Arc<Warehouse>,
    plan: &LoadPlan,
    progress: &dyn Progress,
) -> Result<Vec<ParamSet>, LoadError> {
    let (conn, params) = (plan.conn.clone(), plan.params.clone());
    let parents = plan.table.depends_on.clone();
    let sets = wh
        .run(move |db| {
            let source = SchemaSql::new(db, &conn.schema, &parents);
            let lookup = |k: &str| crate::adapters::rest::option_value(&conn, k);
            Ok(params::expand(&params, &source, &lookup))
        })
        .await?
        .map_err(|source| LoadError::Params {
            table: plan.name.clone(),
            source,
        })?;
    if sets.is_empty() {
        progress.log(
            "warning",
            &format!("{}: a parameter has no values (an empty list, or a sql@ query with no rows); nothing to fetch", plan.name),
        );
    }
    Ok(sets)
}

/// Where pages come from: the connection's client, and the table's own limiter.
pub(super) struct Source<'a> {
    pub client: &'a RestClient,
    pub table_limit: Option<&'a Limiter>,
}

/// What fetching did.
pub(super) struct Fetched {
    /// `Ok` once every page of every set was sent.
    pub result: Result<(), FetchError>,
    /// Pages received.
    pub pages: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
}

/// Fetch every page of every set into `pages_out`. Warnings (an announced total that
/// disagrees with what arrived) go to the job's log whatever the outcome.
pub(super) async fn pages(
    wh: &Arc<Warehouse>,
    source: Source<'_>,
    plan: &LoadPlan,
    job: &Job,
    sets: Vec<ParamSet>,
    pages_out: &mpsc::Sender<FetchedPage>,
) -> Fetched {
    let stats = FetchStats::default();
    let fetch = Fetch {
        client: source.client,
        table: &plan.table,
        cancel: &job.cancel,
        stats: &stats,
        table_limit: source.table_limit,
    };
    let result = fetch.run(sets, pages_out).await;
    let warnings = stats.take_warnings();
    if !warnings.is_empty() {
        for warning in &warnings {
            job.progress.log("warning", warning);
        }
        wh.log(&job.id, "warning", warnings).await;
    }
    Fetched {
        result,
        pages: stats.pages.load(Ordering::Relaxed),
        requests: stats.requests.load(Ordering::Relaxed),
    }
}
