//! DuckDB's memory limit: small while only loads run, raised while a user's statement
//! runs (see [`MemoryLimits`]).

use super::{quote_literal, Warehouse};
use duckdb::Connection;
use std::sync::Mutex;

/// DuckDB's memory limit while no statement runs (loads only), unless
/// `UNIFY_MEMORY_LIMIT` says otherwise. Loads stream: more buys them nothing.
pub const DEFAULT_MEMORY_LIMIT: &str = "64MB";

/// DuckDB's memory limits: small while only loads run, large while a user's statement
/// runs (an import, a join, an aggregate may need it). The limit is global to the
/// database, so it is raised when the first statement starts and lowered when the last
/// one ends; lowering makes DuckDB drop cached blocks, so an idle daemon stays small.
pub(super) struct MemoryLimits {
    pub(super) idle: String,
    /// `None` until [`Warehouse::open`] reads DuckDB's own default (80 % of the memory
    /// it may use, container limits included).
    pub(super) busy: Option<String>,
    state: Mutex<MemoryState>,
}

pub(super) struct MemoryState {
    /// Statements running.
    pub(super) statements: usize,
    /// Lowering failed (a load held more than the idle limit): try again later.
    pub(super) lower_pending: bool,
    /// Its own connection, so changing the limit never waits on the root's lock.
    conn: Connection,
}

impl MemoryLimits {
    /// From `UNIFY_MEMORY_LIMIT` and `UNIFY_QUERY_MEMORY_LIMIT`.
    pub(super) fn from_env(conn: Connection) -> MemoryLimits {
        MemoryLimits {
            idle: std::env::var("UNIFY_MEMORY_LIMIT")
                .unwrap_or_else(|_| DEFAULT_MEMORY_LIMIT.into()),
            busy: std::env::var("UNIFY_QUERY_MEMORY_LIMIT").ok(),
            state: Mutex::new(MemoryState {
                statements: 0,
                lower_pending: false,
                conn,
            }),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn raise(&self, state: &mut MemoryState) {
        let sql = match &self.busy {
            Some(limit) => format!("SET memory_limit = {}", quote_literal(limit)),
            None => "RESET memory_limit".to_string(),
        };
        if let Err(e) = state.conn.execute_batch(&sql) {
            tracing::warn!(error = %e, "could not raise DuckDB's memory limit");
        }
        state.lower_pending = false;
    }

    pub(super) fn lower(&self, state: &mut MemoryState) {
        let sql = format!("SET memory_limit = {}", quote_literal(&self.idle));
        // Lowering fails while a load holds more than the idle limit: retried when a
        // load ends or the next statement ends.
        state.lower_pending = match state.conn.execute_batch(&sql) {
            Ok(()) => false,
            Err(e) => {
                tracing::debug!(error = %e, "memory_limit not lowered yet");
                true
            }
        };
    }
}

/// Holds DuckDB's memory limit at the statement level while it lives
/// ([`Warehouse::statement_memory`]).
pub struct StatementMemory<'w> {
    warehouse: &'w Warehouse,
}

impl Drop for StatementMemory<'_> {
    fn drop(&mut self) {
        if let Some(limits) = &self.warehouse.memory {
            let mut state = limits.lock();
            state.statements = state.statements.saturating_sub(1);
            if state.statements == 0 {
                limits.lower(&mut state);
            }
        }
    }
}

impl Warehouse {
    /// Raise DuckDB's memory limit for a user's statement until the guard drops.
    pub fn statement_memory(&self) -> StatementMemory<'_> {
        if let Some(limits) = &self.memory {
            let mut state = limits.lock();
            state.statements += 1;
            if state.statements == 1 {
                limits.raise(&mut state);
            }
        }
        StatementMemory { warehouse: self }
    }

    /// A load ended: if lowering the limit failed earlier and no statement runs, try
    /// again (so an idle daemon does not keep the statements' limit).
    pub fn settle_memory(&self) {
        if let Some(limits) = &self.memory {
            let mut state = limits.lock();
            if state.statements == 0 && state.lower_pending {
                limits.lower(&mut state);
            }
        }
    }
}
