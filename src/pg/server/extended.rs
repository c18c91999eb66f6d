//! The query protocols: simple queries (statements split and run in turn) and the
//! extended protocol (parse, describe — parameter types inferred from the columns
//! they meet, result columns without running the query — bind and execute).

use super::catalog::{self, Plan, Transaction};
use super::types::{self, Kind, PgColumn};
use super::Handlers;
use super::{to_response, user_error, Conn, Outcome, Running};
use crate::protocol::{Output, ResultTable};
use async_trait::async_trait;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeResponse, DescribeStatementResponse, FieldInfo, Response,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use serde_json::Value as Json;
use std::fmt::Debug;
use std::sync::Arc;

/// The statement type of the extended protocol.
#[derive(Debug, Clone)]
pub struct PgStatement {
    /// As the client wrote it.
    sql: String,
    /// Parameter types inferred from the text (`$1::int8`, `LIMIT $1`).
    casts: Vec<Option<Type>>,
}

/// Stores statements as text; they are planned when executed.
pub struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = PgStatement;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<PgStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Ok(Some(PgStatement {
            sql: sql.to_string(),
            casts: catalog::param_casts(sql),
        }))
    }

    fn get_parameter_types(&self, stmt: &PgStatement) -> PgWireResult<Vec<Type>> {
        Ok(stmt
            .casts
            .iter()
            .map(|t| t.clone().unwrap_or(Type::TEXT))
            .collect())
    }

    fn get_result_schema(
        &self,
        _stmt: &PgStatement,
        _format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(vec![])
    }
}

/// Both query protocols.
pub struct QueryHandler(pub(super) Arc<Handlers>);

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let h = &self.0;
        let conn = h.conn(client);
        h.register(&conn);
        let mut responses = Vec::new();
        for statement in crate::parser::split_statements(query) {
            match h.run(client, &conn, &statement).await {
                Ok(outcomes) => {
                    for o in outcomes {
                        match to_response(o, None, &Format::UnifiedText) {
                            Ok(r) => responses.push(r),
                            Err(e) => {
                                responses.push(Response::Error(Box::new(e.into())));
                                return Ok(responses);
                            }
                        }
                    }
                }
                Err(e) => {
                    responses.push(Response::Error(Box::new(e.into())));
                    return Ok(responses);
                }
            }
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}

impl QueryHandler {
    /// Parameter types as declared: by the client, else by a cast in the text.
    fn declared_types(stmt: &StoredStatement<PgStatement>) -> Vec<Option<Type>> {
        let n = catalog::param_count(&stmt.statement.sql).max(stmt.parameter_types.len());
        (0..n)
            .map(|i| {
                stmt.parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| t.oid() != 0)
                    .or_else(|| stmt.statement.casts.get(i).cloned().flatten())
            })
            .collect()
    }

    /// The parameter types of a statement: those told at its describe, else declared,
    /// else text.
    fn param_types(conn: &Conn, stmt: &StoredStatement<PgStatement>) -> Vec<Type> {
        if let Some(t) = conn
            .param_types
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&stmt.statement.sql)
        {
            return t.clone();
        }
        Self::declared_types(stmt)
            .into_iter()
            .map(|t| t.unwrap_or(Type::TEXT))
            .collect()
    }

    /// Types for the untyped parameters from the columns they are inserted into or
    /// compared with (as Postgres infers them); the rest are text. Remembered for the
    /// statement's executions.
    async fn infer_types<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        stmt: &StoredStatement<PgStatement>,
    ) -> PgWireResult<Vec<Type>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let sql = &stmt.statement.sql;
        if let Some(t) = conn
            .param_types
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
        {
            return Ok(t.clone());
        }
        let mut types = Self::declared_types(stmt);
        let sources = catalog::param_sources(sql);
        let wanted: Vec<&(usize, String)> = sources
            .columns
            .iter()
            .filter(|(p, _)| types.get(*p).is_some_and(Option::is_none))
            .collect();
        if !wanted.is_empty() && !sources.tables.is_empty() {
            let rows = self.table_columns(client, conn, &sources.tables).await?;
            for (p, column) in wanted {
                if let Some(ty) = column_type(&rows, &sources.tables, column) {
                    types[*p] = Some(ty);
                }
            }
        }
        let types: Vec<Type> = types.into_iter().map(|t| t.unwrap_or(Type::TEXT)).collect();
        conn.param_types
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sql.clone(), types.clone());
        Ok(types)
    }

    /// The columns of the tables named `tables` (by table name, any schema), from
    /// `information_schema.columns`: rows of (schema, table, column, type, position).
    async fn table_columns<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        tables: &[(Option<String>, String)],
    ) -> PgWireResult<Vec<Vec<Json>>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let names: Vec<String> = tables.iter().map(|(_, t)| types::quote(t)).collect();
        let lookup = format!(
            "SELECT table_schema, table_name, column_name, data_type, ordinal_position FROM information_schema.columns WHERE table_name IN ({}) ORDER BY ordinal_position",
            names.join(", ")
        );
        let running = Running::new(conn);
        let reply = self.0.execute(client, conn, &running, &lookup).await?;
        Ok(reply
            .outputs
            .into_iter()
            .find_map(|o| match o {
                Output::Table(t) => Some(t.rows),
                _ => None,
            })
            .unwrap_or_default())
    }

    /// The columns of a statement, without running it when it is SQL (`DESCRIBE` with
    /// typed NULL parameters); a read-only unify command runs now and its result is
    /// kept for the execute that follows. `None`: it returns no rows.
    async fn describe<C>(
        &self,
        client: &mut C,
        sql: &str,
        params: &[Type],
    ) -> PgWireResult<Option<Arc<Vec<PgColumn>>>>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    {
        let h = &self.0;
        let conn = h.conn(client);
        h.register(&conn);
        if let Some(c) = conn
            .described
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
        {
            return Ok(Some(c.clone()));
        }
        let with_pid = catalog::replace_calls(sql, &[("pg_backend_pid", conn.key.0.to_string())]);
        let columns = match catalog::plan(&with_pid) {
            Plan::Engine {
                text,
                catalog,
                transaction: Transaction::None,
            } => {
                self.describe_on_engine(client, &conn, sql, &text, catalog, params)
                    .await?
            }
            plan => local_columns(plan),
        };
        Ok(columns.map(|c| {
            let c = Arc::new(c);
            conn.described
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(sql.to_string(), c.clone());
            c
        }))
    }

    /// The columns of `sql`, planned for the engine as `text`: a query is described;
    /// a read-only unify command runs now, its result kept for the execute that
    /// follows; other statements return no rows.
    async fn describe_on_engine<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        sql: &str,
        text: &str,
        catalog: bool,
        params: &[Type],
    ) -> PgWireResult<Option<Vec<PgColumn>>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        match crate::parser::parse(text).map(|p| p.statement) {
            Ok(crate::parser::Statement::Sql { .. }) if is_query(text) => {
                self.describe_query(client, conn, text, catalog, params)
                    .await
            }
            Ok(s) if read_only(&s) => {
                let outcomes = self.0.run(client, conn, sql).await?;
                Ok(match outcomes.into_iter().next() {
                    Some(Outcome::Rows(t)) => {
                        let cols = types::columns_of(&t);
                        *conn.pending.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some((sql.to_string(), Outcome::Rows(t)));
                        Some(cols)
                    }
                    _ => None,
                })
            }
            _ => Ok(None),
        }
    }

    /// The columns of a query, from DuckDB's `DESCRIBE` of it with each parameter a
    /// NULL of its type.
    async fn describe_query<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        text: &str,
        catalog: bool,
        params: &[Type],
    ) -> PgWireResult<Option<Vec<PgColumn>>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let h = &self.0;
        let nulls: Vec<String> = params
            .iter()
            .map(|t| match types::duckdb_cast_name(t) {
                Some(name) => format!("CAST(NULL AS {name})"),
                None => "NULL".into(),
            })
            .collect();
        let bound = catalog::bind_params(text, &nulls).map_err(|e| user_error("08P01", e))?;
        let running = Running::new(conn);
        if catalog {
            h.ensure_catalog(client, conn, &running, false).await?;
        }
        let reply = h
            .execute(client, conn, &running, &format!("DESCRIBE {bound}"))
            .await?;
        Ok(reply.outputs.iter().find_map(|o| match o {
            Output::Table(t) => Some(described_columns(t)),
            _ => None,
        }))
    }
}

/// The Postgres type of a parameter's `column` (a name, or `#k`: the k-th column of
/// the first table) among the `rows` of [`QueryHandler::table_columns`]: arrays and
/// JSON stay text (DuckDB casts them); others take the column's type when every
/// candidate agrees.
fn column_type(
    rows: &[Vec<Json>],
    tables: &[(Option<String>, String)],
    column: &str,
) -> Option<Type> {
    let s = |v: &Json| v.as_str().unwrap_or_default().to_string();
    let in_tables = |r: &Vec<Json>, only_first: bool| {
        tables
            .iter()
            .take(if only_first { 1 } else { usize::MAX })
            .any(|(schema, table)| {
                s(&r[1]).eq_ignore_ascii_case(table)
                    && schema
                        .as_ref()
                        .is_none_or(|sc| s(&r[0]).eq_ignore_ascii_case(sc))
            })
    };
    let candidates: Vec<String> = match column.strip_prefix('#') {
        Some(k) => rows
            .iter()
            .filter(|r| r.len() == 5 && in_tables(r, true))
            .filter(|r| r[4].as_i64().map(|o| o.to_string()).as_deref() == Some(k))
            .map(|r| s(&r[3]))
            .collect(),
        None => rows
            .iter()
            .filter(|r| r.len() == 5 && in_tables(r, false))
            .filter(|r| s(&r[2]).eq_ignore_ascii_case(column))
            .map(|r| s(&r[3]))
            .collect(),
    };
    let kinds: Vec<Kind> = candidates
        .iter()
        .map(|t| Kind::of(t, std::iter::empty()))
        .collect();
    let first = kinds.first()?;
    let scalar = !matches!(first, Kind::Array(_) | Kind::Json);
    (scalar && kinds.iter().all(|k| k == first)).then(|| first.pg_type())
}

/// The columns of a plan answered locally (`SHOW`, an empty catalog answer,
/// `pg_cancel_backend`); `None` for the others.
fn local_columns(plan: Plan) -> Option<Vec<PgColumn>> {
    let text = |name| PgColumn {
        name,
        kind: Kind::Text,
    };
    match plan {
        Plan::Show { name } => Some(vec![text(name)]),
        Plan::EmptyResult { columns } => Some(columns.into_iter().map(text).collect()),
        Plan::CancelBackend { .. } => Some(vec![PgColumn {
            name: "pg_cancel_backend".into(),
            kind: Kind::Bool,
        }]),
        _ => None,
    }
}

/// The columns of a `DESCRIBE` answer: (name, DuckDB type) rows.
fn described_columns(t: &ResultTable) -> Vec<PgColumn> {
    t.rows
        .iter()
        .map(|r| PgColumn {
            name: r
                .first()
                .and_then(|v| v.as_str())
                .unwrap_or("?column?")
                .to_string(),
            kind: Kind::of(
                r.get(1).and_then(|v| v.as_str()).unwrap_or("VARCHAR"),
                std::iter::empty(),
            ),
        })
        .collect()
}

/// SQL that returns rows and can be `DESCRIBE`d.
fn is_query(text: &str) -> bool {
    let first = catalog::lex(text)
        .into_iter()
        .find(|t| t.kind != catalog::TokKind::Space)
        .map(|t| t.text.to_ascii_lowercase());
    matches!(
        first.as_deref(),
        Some(
            "select"
                | "with"
                | "values"
                | "from"
                | "table"
                | "("
                | "pivot"
                | "unpivot"
                | "summarize"
        )
    )
}

/// unify commands that change nothing (safe to run when described).
fn read_only(s: &crate::parser::Statement) -> bool {
    use crate::parser::Statement as S;
    matches!(
        s,
        S::ShowSchemas
            | S::ShowTables { .. }
            | S::ShowColumns { .. }
            | S::ShowConnections
            | S::ShowVariables
            | S::ShowFiles { .. }
            | S::Describe { .. }
            | S::Peek { .. }
            | S::PeekFile { .. }
            | S::Count { .. }
            | S::Help { .. }
            | S::ShowVariable { .. }
    )
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = PgStatement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::new(Parser)
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        target: &StoredStatement<PgStatement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let declared: Vec<Type> = Self::declared_types(target)
            .into_iter()
            .map(|t| t.unwrap_or(Type::TEXT))
            .collect();
        let columns = self
            .describe(client, &target.statement.sql, &declared)
            .await?;
        let conn = self.0.conn(client);
        let params = self.infer_types(client, &conn, target).await?;
        Ok(match columns {
            Some(c) => DescribeStatementResponse::new(
                params,
                types::field_infos(&c, &Format::UnifiedText).to_vec(),
            ),
            None => DescribeStatementResponse::new(params, vec![]),
        })
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<PgStatement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let conn = self.0.conn(client);
        let params = Self::param_types(&conn, &portal.statement);
        let columns = self
            .describe(client, &portal.statement.statement.sql, &params)
            .await?;
        Ok(match columns {
            Some(c) => DescribePortalResponse::new(
                types::field_infos(&c, &portal.result_column_format).to_vec(),
            ),
            None => DescribePortalResponse::no_data(),
        })
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<PgStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let h = &self.0;
        let conn = h.conn(client);
        h.register(&conn);
        let sql = &portal.statement.statement.sql;
        let described = conn
            .described
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
            .cloned();
        let pending = {
            let mut p = conn.pending.lock().unwrap_or_else(|e| e.into_inner());
            match p.take() {
                Some((text, outcome)) if text == *sql => Some(outcome),
                other => {
                    *p = other;
                    None
                }
            }
        };
        if let Some(outcome) = pending {
            return to_response(outcome, described, &portal.result_column_format);
        }
        let types = Self::param_types(&conn, &portal.statement);
        let mut literals = Vec::with_capacity(portal.parameters.len());
        for (i, value) in portal.parameters.iter().enumerate() {
            let lit = types::param_literal(
                i + 1,
                types.get(i),
                portal.parameter_format.is_binary(i),
                value.as_deref(),
            )
            .map_err(|e| user_error("22P02", e.to_string()))?;
            literals.push(lit);
        }
        let bound = if literals.is_empty() && catalog::param_count(sql) == 0 {
            sql.clone()
        } else {
            catalog::bind_params(sql, &literals).map_err(|e| user_error("08P01", e))?
        };
        let mut outcomes = h.run(client, &conn, &bound).await?;
        if outcomes.is_empty() {
            return Ok(Response::EmptyQuery);
        }
        to_response(outcomes.remove(0), described, &portal.result_column_format)
    }
}
