//! Running text on the engine: `Request::Execute`, following the loads a statement
//! waits for (NOTICE progress) and re-running it, fetching the rest of a streamed
//! result, installing the session's catalog.

use super::{
    canceled, catalog, engine_error, notice, user_error, Conn, Handlers, Running, MAX_RERUNS,
};
use crate::protocol::{
    AfterJobs, Event, JobRef, JobState, LoaderStatus, Output, Reply, Request,
    Response as HostResponse,
};
use futures::Sink;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use std::collections::HashMap;
use std::time::{Duration, Instant};

impl Handlers {
    /// A reply whose last table continues ([`Reply::more`]): fetch the remaining
    /// chunks into it. The rows are then held here until they are sent.
    async fn rest_of(
        &self,
        conn: &Conn,
        running: &Running<'_>,
        mut reply: Reply,
    ) -> PgWireResult<Reply> {
        let Some(cursor) = reply.more.take() else {
            return Ok(reply);
        };
        let mut rows = Vec::new();
        loop {
            if running.token.is_cancelled() {
                self.host
                    .request(Request::Interrupt {
                        session: conn.session.clone(),
                    })
                    .await;
                return Err(canceled(""));
            }
            let fetched = self
                .host
                .request(Request::Fetch {
                    session: conn.session.clone(),
                    cursor: cursor.clone(),
                })
                .await;
            match fetched {
                HostResponse::Rows { rows: chunk, more } => {
                    rows.extend(chunk);
                    if !more {
                        break;
                    }
                }
                HostResponse::Error { message } => return Err(engine_error(&message)),
                other => return Err(unexpected(&other)),
            }
        }
        if let Some(Output::Table(t)) = reply
            .outputs
            .iter_mut()
            .rev()
            .find(|o| matches!(o, Output::Table(_)))
        {
            t.rows.extend(rows);
        }
        Ok(reply)
    }

    /// Run `text` on the engine: wait for the loads it needs (NOTICE progress) and
    /// re-run it; cancellable through `running`.
    pub(super) async fn execute<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        text: &str,
    ) -> PgWireResult<Reply>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        for _ in 0..MAX_RERUNS {
            let reply = self.execute_once(conn, running, text).await?;
            if reply.wait.is_empty() {
                return self.rest_of(conn, running, reply).await;
            }
            for o in &reply.outputs {
                if let Output::Message(m) = o {
                    notice(client, m).await;
                }
            }
            let statuses = self.wait(client, conn, running, &reply.wait).await?;
            check_loads(&statuses)?;
            if !matches!(reply.after, Some(AfterJobs::Rerun)) {
                return Ok(loaded_reply(reply, &statuses));
            }
        }
        Err(user_error(
            "55000",
            "the tables this statement needs are still missing after loading them; see `system status`",
        ))
    }

    /// One `Request::Execute` of `text`, interrupted when `running` is cancelled: the
    /// engine's reply, or its error.
    async fn execute_once(
        &self,
        conn: &Conn,
        running: &Running<'_>,
        text: &str,
    ) -> PgWireResult<Reply> {
        let request = self.host.request(Request::Execute {
            session: conn.session.clone(),
            text: text.to_string(),
        });
        tokio::pin!(request);
        let response = tokio::select! {
            r = &mut request => r,
            _ = running.token.cancelled() => {
                // Interrupt until the statement returns: one sent before it reached
                // DuckDB would be lost.
                loop {
                    self.host.request(Request::Interrupt { session: conn.session.clone() }).await;
                    if tokio::time::timeout(Duration::from_millis(200), &mut request).await.is_ok() {
                        break;
                    }
                }
                return Err(canceled(""));
            }
        };
        let reply = match response {
            HostResponse::Reply(r) => r,
            HostResponse::Error { message } => return Err(engine_error(&message)),
            other => return Err(unexpected(&other)),
        };
        if let Some(error) = &reply.error {
            if running.token.is_cancelled() {
                return Err(canceled(""));
            }
            return Err(engine_error(error));
        }
        Ok(reply)
    }

    /// Follow jobs until they are final, sending progress as NOTICE about once a second.
    async fn wait<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        jobs: &[JobRef],
    ) -> PgWireResult<Vec<LoaderStatus>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
        let mut events = self.host.events.subscribe();
        let mut latest: HashMap<String, LoaderStatus> = HashMap::new();
        let mut poll = tokio::time::interval(Duration::from_millis(250));
        let mut last_notice = Instant::now();
        let mut shown: HashMap<String, (u64, u64)> = HashMap::new();
        loop {
            tokio::select! {
                _ = running.token.cancelled() => {
                    for id in &ids {
                        self.host.request(Request::Execute {
                            session: conn.session.clone(),
                            text: format!("system cancel {id}"),
                        }).await;
                    }
                    let tables: Vec<&str> = jobs.iter().map(|j| j.table.as_str()).collect();
                    return Err(canceled(&format!(
                        "the load of {} was cancelled; the table keeps its previous data",
                        tables.join(", ")
                    )));
                }
                event = events.recv() => {
                    if let Ok(Event::Status(s)) = event {
                        if ids.contains(&s.job_id) && !s.state.is_final() {
                            latest.insert(s.job_id.clone(), s);
                        }
                    }
                }
                _ = poll.tick() => {
                    match self.host.request(Request::JobStatus { ids: ids.clone() }).await {
                        HostResponse::Jobs { jobs } => {
                            for s in jobs {
                                latest.insert(s.job_id.clone(), s);
                            }
                        }
                        HostResponse::Error { message } => return Err(engine_error(&message)),
                        _ => {}
                    }
                    if ids.iter().all(|id| latest.get(id).is_some_and(|s| s.state.is_final())) {
                        return Ok(ids.iter().filter_map(|id| latest.remove(id)).collect());
                    }
                }
            }
            if last_notice.elapsed() >= Duration::from_secs(1) {
                last_notice = Instant::now();
                for id in &ids {
                    if let Some(s) = latest.get(id) {
                        let now = (s.pages, s.rows);
                        if shown.get(id) != Some(&now) && s.state == JobState::Running {
                            shown.insert(id.clone(), now);
                            notice(
                                client,
                                &format!(
                                    "loading {}: {} pages, {} rows, {:.1}s",
                                    s.table_name(),
                                    s.pages,
                                    s.rows,
                                    s.elapsed_ms as f64 / 1000.0
                                ),
                            )
                            .await;
                        }
                    }
                }
            }
        }
    }

    /// Install the catalog views and macros in the session, once.
    pub(super) async fn ensure_catalog<C>(
        &self,
        client: &mut C,
        conn: &Conn,
        running: &Running<'_>,
        force: bool,
    ) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
    {
        use std::sync::atomic::Ordering;
        if !force && conn.catalog.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.execute(client, conn, running, &catalog::install_script())
            .await?;
        conn.catalog.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// An answer of the engine that the request does not expect.
fn unexpected(response: &HostResponse) -> PgWireError {
    user_error(
        "XX000",
        format!("unexpected answer from the engine: {response:?}"),
    )
}

/// An error naming every load that did not finish (SQLSTATE 58000).
fn check_loads(statuses: &[LoaderStatus]) -> PgWireResult<()> {
    let failed: Vec<String> = statuses
        .iter()
        .filter(|s| s.state != JobState::Done)
        .map(|s| match s.state {
            JobState::Cancelled => format!(
                "loading {} was cancelled; its previous data is unchanged",
                s.table_name()
            ),
            _ => format!(
                "loading {} failed: {}",
                s.table_name(),
                s.error.as_deref().unwrap_or("unknown error")
            ),
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(user_error("58000", failed.join("; ")))
    }
}

/// The reply of a statement whose loads finished (and that is not re-run): its
/// messages (sent already) replaced by one line per load.
fn loaded_reply(mut reply: Reply, statuses: &[LoaderStatus]) -> Reply {
    let wait = std::mem::take(&mut reply.wait);
    reply.outputs.retain(|o| !matches!(o, Output::Message(_)));
    for s in statuses {
        reply.outputs.push(Output::Message(format!(
            "{} {}: {} rows, {} pages in {:.1}s",
            verb(&wait, &s.job_id),
            s.table_name(),
            s.rows,
            s.pages,
            s.elapsed_ms as f64 / 1000.0
        )));
    }
    reply
}

/// How a load is reported: `Loaded`, `Refreshed` or `Reloaded`.
fn verb(jobs: &[JobRef], id: &str) -> &'static str {
    match jobs.iter().find(|j| j.id == id).map(|j| j.action) {
        Some(crate::protocol::Action::Refresh) => "Refreshed",
        Some(crate::protocol::Action::Reload) => "Reloaded",
        _ => "Loaded",
    }
}
