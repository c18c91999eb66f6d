//! StatusPublisher: the one place job status and notices leave the loader. It logs
//! each event (so the log and the stream cannot disagree) and broadcasts it; the
//! daemon forwards the broadcast to its ZeroMQ PUB socket, the in-process host hands it
//! to the client directly. Senders use `do_send`: publishing never blocks a load.

use crate::protocol::{Event, JobState, LoaderStatus};
use actix::prelude::*;
use tokio::sync::broadcast;

/// Events buffered for slow in-process subscribers before they start missing some.
pub const EVENT_BUFFER: usize = 1024;

/// Broadcasts [`Event`]s.
pub struct StatusPublisher {
    tx: broadcast::Sender<Event>,
}

impl StatusPublisher {
    /// A publisher sending into `tx`.
    pub fn new(tx: broadcast::Sender<Event>) -> Self {
        StatusPublisher { tx }
    }
}

impl Actor for StatusPublisher {
    type Context = Context<Self>;
}

/// Publish a job's status.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub LoaderStatus);

/// Publish a notice to every client.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Notice(pub String);

impl Handler<Publish> for StatusPublisher {
    type Result = ();
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        let s = &msg.0;
        match s.state {
            JobState::Running if s.pages > 0 => {
                tracing::debug!(job = %s.job_id, table = %s.table_name(), pages = s.pages, rows = s.rows, "progress")
            }
            JobState::Failed => tracing::warn!(
                job = %s.job_id, table = %s.table_name(), pages = s.pages, rows = s.rows,
                elapsed_ms = s.elapsed_ms, error = %s.error.as_deref().unwrap_or(""), "job failed"
            ),
            state => tracing::info!(
                job = %s.job_id, table = %s.table_name(), state = state.as_str(), pages = s.pages,
                rows = s.rows, elapsed_ms = s.elapsed_ms, "job"
            ),
        }
        let _ = self.tx.send(Event::Status(msg.0));
    }
}

impl Handler<Notice> for StatusPublisher {
    type Result = ();
    fn handle(&mut self, msg: Notice, _: &mut Context<Self>) {
        tracing::info!(notice = %msg.0);
        let _ = self.tx.send(Event::Notice { message: msg.0 });
    }
}
