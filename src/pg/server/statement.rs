//! Running one statement: its plan answered locally (settings, `SHOW`,
//! `pg_cancel_backend`, empty catalog answers, transaction bookkeeping) or on the
//! engine, as the outcomes the client is sent.

use super::catalog::{Plan, Transaction};
use super::{catalog, notice, types, user_error, Conn, Handlers, Outcome, Running, TxState};
use crate::protocol::{Output, Reply, ResultTable};
use futures::Sink;
use pgwire::api::results::Tag;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

impl Handlers {
    /// Run one statement (already bound): plan it, answer it locally or on the engine.
    pub(super) async fn run<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        text: &str,
    ) -> PgWireResult<Vec<Outcome>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let running = Running::new(conn);
        let text = &catalog::replace_calls(text, &[("pg_backend_pid", conn.key.0.to_string())]);
        match catalog::plan(text) {
            Plan::Empty => Ok(vec![]),
            Plan::Set {
                name,
                value,
                sql,
                local,
            } => {
                if local || !self.set_on_engine(client, conn, &running, &sql).await? {
                    conn.settings
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name, value);
                }
                Ok(vec![Outcome::Command(Tag::new("SET"))])
            }
            Plan::Reset { name } => {
                let mut settings = conn.settings.lock().unwrap_or_else(|e| e.into_inner());
                match name {
                    Some(n) => {
                        settings.remove(&n);
                    }
                    None => settings.clear(),
                }
                Ok(vec![Outcome::Command(Tag::new("RESET"))])
            }
            Plan::Show { name } => self.show(client, conn, &running, name).await,
            Plan::Ignore { tag } => Ok(vec![Outcome::Command(Tag::new(&tag))]),
            Plan::CancelBackend { pid } => Ok(vec![self.cancel_backend(pid)]),
            Plan::EmptyResult { columns } => Ok(vec![Outcome::Rows(ResultTable {
                types: vec!["VARCHAR".into(); columns.len()],
                columns,
                rows: vec![],
            })]),
            Plan::Engine {
                text: sql,
                catalog,
                transaction,
            } => {
                self.run_on_engine(client, conn, &running, &sql, catalog, transaction)
                    .await
            }
        }
    }

    /// `SET` on DuckDB: true when it took it, false when DuckDB has no such setting
    /// (the session keeps it then).
    async fn set_on_engine<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        sql: &str,
    ) -> PgWireResult<bool>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        match self.execute(client, conn, running, sql).await {
            Ok(_) => Ok(true),
            Err(PgWireError::UserError(e))
                if !e.message.contains("unrecognized configuration parameter") =>
            {
                Err(PgWireError::UserError(e))
            }
            Err(_) => Ok(false),
        }
    }

    /// `SHOW name`: the session's value or default, else DuckDB's (`SHOW ALL` lists
    /// DuckDB's settings).
    async fn show<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        name: String,
    ) -> PgWireResult<Vec<Outcome>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let local = conn
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
            .cloned()
            .or_else(|| catalog::default_setting(&name));
        let value = match local {
            Some(v) => v,
            None if name == "all" => {
                let reply = self
                    .execute(client, conn, running, "SELECT name, value AS setting, description FROM duckdb_settings() ORDER BY name")
                    .await?;
                return Ok(tables(&reply));
            }
            None => {
                let sql = format!(
                    "SELECT current_setting({}) AS {}",
                    types::quote(&name),
                    crate::warehouse::quote_ident(&name)
                );
                return match self.execute(client, conn, running, &sql).await {
                    Ok(reply) => Ok(tables(&reply)),
                    Err(_) => Err(user_error(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    )),
                };
            }
        };
        Ok(vec![Outcome::Rows(ResultTable {
            columns: vec![name],
            types: vec!["VARCHAR".into()],
            rows: vec![vec![value.into()]],
        })])
    }

    /// `SELECT pg_cancel_backend(pid)`: cancel that connection's statement; true when
    /// there is such a connection.
    fn cancel_backend(&self, pid: i32) -> Outcome {
        let found = match self.registry.by_pid(pid) {
            Some(other) => {
                other.cancel();
                true
            }
            None => false,
        };
        Outcome::Rows(ResultTable {
            columns: vec!["pg_cancel_backend".into()],
            types: vec!["BOOLEAN".into()],
            rows: vec![vec![found.into()]],
        })
    }

    /// A statement for the engine: its transaction bookkeeping, the catalog it uses
    /// (installed again once if the session was reopened), then the engine's answer.
    async fn run_on_engine<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        sql: &str,
        catalog: bool,
        transaction: Transaction,
    ) -> PgWireResult<Vec<Outcome>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        if let Some(answered) = self
            .transaction_step(client, conn, running, sql, transaction)
            .await?
        {
            return Ok(answered);
        }
        if catalog {
            self.ensure_catalog(client, conn, running, false).await?;
        }
        let reply = match self.execute(client, conn, running, sql).await {
            Err(PgWireError::UserError(e))
                if catalog
                    && e.message.contains("unify_")
                    && e.message.contains("does not exist") =>
            {
                // The session was reopened (idle expiry): install again, once.
                self.ensure_catalog(client, conn, running, true).await?;
                self.execute(client, conn, running, sql).await?
            }
            other => other?,
        };
        for o in &reply.outputs {
            if let Output::Message(m) = o {
                notice(client, m).await;
            }
        }
        Ok(engine_outcomes(sql, &reply, transaction))
    }

    /// The connection's transaction state after `sql`, and its answer when it needs no
    /// engine (`BEGIN`, or the end of a transaction DuckDB never saw).
    ///
    /// Transactions begin in DuckDB only at their first write: a load a read needs
    /// commits on another connection, which a transaction begun earlier would not see
    /// (drivers such as psycopg2 open one for every read).
    async fn transaction_step<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        sql: &str,
        transaction: Transaction,
    ) -> PgWireResult<Option<Vec<Outcome>>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let set = |state| *conn.tx.lock().unwrap_or_else(|e| e.into_inner()) = state;
        let tx = *conn.tx.lock().unwrap_or_else(|e| e.into_inner());
        match (transaction, tx) {
            (Transaction::Begin, TxState::Active) => Err(user_error(
                "25001",
                "there is already a transaction in progress",
            )),
            (Transaction::Begin, _) => {
                set(TxState::Pending);
                let tag = Tag::new("BEGIN");
                Ok(Some(vec![Outcome::Transaction(transaction, tag)]))
            }
            (Transaction::End, TxState::None | TxState::Pending) => {
                set(TxState::None);
                let tag = Tag::new(&catalog::command_tag(sql));
                Ok(Some(vec![Outcome::Transaction(transaction, tag)]))
            }
            (Transaction::End, TxState::Active) => {
                set(TxState::None);
                Ok(None)
            }
            (Transaction::None, TxState::Pending) if catalog::is_write(sql) => {
                self.execute(client, conn, running, "BEGIN TRANSACTION")
                    .await?;
                set(TxState::Active);
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// The outcomes of an engine reply to `sql`: a transaction tag, rows, a DML count as
/// its tag, or the command's tag when there are no rows.
fn engine_outcomes(sql: &str, reply: &Reply, transaction: Transaction) -> Vec<Outcome> {
    if transaction != Transaction::None {
        let tag = Tag::new(&catalog::command_tag(sql));
        return vec![Outcome::Transaction(transaction, tag)];
    }
    let out = tables(reply);
    if out.is_empty() {
        return vec![Outcome::Command(Tag::new(&catalog::command_tag(sql)))];
    }
    // INSERT/UPDATE/DELETE answer one `Count` column in DuckDB.
    if let [Outcome::Rows(t)] = out.as_slice() {
        if let Some(tag) = dml_tag(sql, t) {
            return vec![Outcome::Command(tag)];
        }
    }
    out
}

/// The tables and texts of a reply, as row results.
fn tables(reply: &Reply) -> Vec<Outcome> {
    reply
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Table(t) => Some(Outcome::Rows(t.clone())),
            Output::Text(s) => Some(Outcome::Rows(ResultTable {
                columns: vec!["result".into()],
                types: vec!["VARCHAR".into()],
                rows: s.lines().map(|l| vec![l.into()]).collect(),
            })),
            Output::Value { name, value } => Some(Outcome::Rows(ResultTable {
                columns: vec![name.clone()],
                types: vec![String::new()],
                rows: vec![vec![value.clone()]],
            })),
            Output::Message(_) => None,
        })
        .collect()
}

/// `INSERT 0 n`, `UPDATE n`, `DELETE n` (and `SELECT n` for CREATE TABLE AS) from
/// DuckDB's `Count` answer; other commands' `Count` answers become their tag.
fn dml_tag(sql: &str, t: &ResultTable) -> Option<Tag> {
    if t.columns != ["Count"] || !catalog::is_write(sql) {
        return None;
    }
    let tag = catalog::command_tag(sql);
    let first = tag.split(' ').next().unwrap_or_default();
    let n = t
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_u64())
        .map(|n| n as usize);
    Some(match (first, n) {
        ("INSERT", Some(n)) => Tag::new("INSERT").with_oid(0).with_rows(n),
        ("UPDATE" | "DELETE" | "MERGE" | "COPY", Some(n)) => Tag::new(first).with_rows(n),
        ("CREATE", Some(n)) if sql.to_ascii_lowercase().contains(" as ") => {
            Tag::new("SELECT").with_rows(n)
        }
        _ => Tag::new(&tag),
    })
}
