//! AdapterRegistry: owns the configuration's life-cycle. It watches the user's specs
//! and `connections.yaml` (by modification time, every two seconds) and on `system
//! reload`; on a change it re-reads them into the engine (whose per-connection REST
//! clients are then rebuilt) and tells every client. A connections file that no longer
//! parses keeps the last good configuration running.

use super::status_publisher::{Notice, StatusPublisher};
use crate::engine::{Config, Engine};
use actix::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Watches and reloads configuration.
pub struct AdapterRegistry {
    engine: Arc<Engine>,
    publisher: Addr<StatusPublisher>,
    stamp: Vec<(PathBuf, Option<SystemTime>)>,
    /// Reloads running on blocking threads (the timer waits for them to finish).
    reloading: usize,
    /// Reloads run one at a time, so the last one started installs the newest files.
    serial: Arc<std::sync::Mutex<()>>,
}

impl AdapterRegistry {
    /// A registry reloading `engine`'s configuration, notifying through `publisher`.
    pub fn new(engine: Arc<Engine>, publisher: Addr<StatusPublisher>) -> Self {
        let mut r = AdapterRegistry {
            engine,
            publisher,
            stamp: Vec::new(),
            reloading: 0,
            serial: Arc::default(),
        };
        r.stamp = r.snapshot();
        r
    }

    fn snapshot(&self) -> Vec<(PathBuf, Option<SystemTime>)> {
        let home = self.engine.home();
        let mut files = vec![home.connections_file()];
        if let Ok(entries) = std::fs::read_dir(home.specs_dir()) {
            let mut specs: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            specs.sort();
            files.extend(specs);
        }
        files
            .into_iter()
            .map(|p| {
                let m = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
                (p, m)
            })
            .collect()
    }
}

/// Re-read the configuration into the engine; returns a one-line summary. Blocking
/// (files and DuckDB DDL): run it on a blocking thread, never on the actor's.
fn reload(engine: &Engine) -> String {
    let fresh = Config::load(engine.home());
    let file_error = fresh.errors.iter().find(|e| {
        matches!(
            e,
            crate::adapters::connections::ConnectionError::File { .. }
        )
    });
    if let Some(err) = file_error {
        let kept = engine.config().connections.len();
        return format!("configuration not reloaded: {err}; keeping the last good configuration ({kept} connections)");
    }
    let mut summary = format!(
        "configuration reloaded: {} connections ({}), {} specs",
        fresh.connections.len(),
        fresh
            .connections
            .iter()
            .map(|c| c.schema.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        fresh.catalog.names().len()
    );
    for e in &fresh.errors {
        summary.push_str(&format!("; {e}"));
    }
    for w in &fresh.catalog.warnings {
        summary.push_str(&format!("; {w}"));
    }
    let schemas: Vec<String> = fresh.connections.iter().map(|c| c.schema.clone()).collect();
    engine.set_config(fresh);
    if let Ok(conn) = engine.warehouse().connect() {
        for s in schemas {
            if let Err(e) = crate::warehouse::ensure_schema(&conn, &s) {
                tracing::warn!(error = %e, "after a reload");
            }
        }
    }
    summary
}

impl AdapterRegistry {
    /// Reload on a blocking thread, then tell every client. Answers with the summary.
    fn reload_async(&mut self) -> ResponseActFuture<Self, String> {
        // Stamped before reading: a file changed during the reload is seen next tick.
        self.stamp = self.snapshot();
        self.reloading += 1;
        let (engine, serial) = (self.engine.clone(), self.serial.clone());
        Box::pin(
            async move {
                tokio::task::spawn_blocking(move || {
                    let _one_at_a_time = serial.lock().unwrap_or_else(|e| e.into_inner());
                    reload(&engine)
                })
                .await
                .unwrap_or_else(|e| format!("configuration not reloaded: {e}"))
            }
            .into_actor(self)
            .map(|summary, act, _| {
                act.reloading -= 1;
                act.publisher.do_send(Notice(summary.clone()));
                summary
            }),
        )
    }
}

impl Actor for AdapterRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_secs(2), |act, ctx| {
            if act.reloading == 0 && act.snapshot() != act.stamp {
                ctx.spawn(act.reload_async().map(|_, _, _| ()));
            }
        });
    }
}

/// Re-read the configuration now (`system reload`); answers with the summary.
#[derive(Message)]
#[rtype(result = "String")]
pub struct Reload;

impl Handler<Reload> for AdapterRegistry {
    type Result = ResponseActFuture<Self, String>;
    fn handle(&mut self, _: Reload, _: &mut Context<Self>) -> Self::Result {
        self.reload_async()
    }
}
