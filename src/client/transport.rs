//! Transports between the `unify` client and an engine host: ZeroMQ to `unifyd`, or a
//! direct call into an in-process [`Host`] (`--no-daemon`). Both answer requests and
//! deliver events the same way, so the client has one code path.

pub use crate::daemon::spawn_daemon;
use crate::daemon::Endpoints;
use crate::daemon::{daemon_binary, spawn_daemon_with};
use crate::home::Home;
use crate::host::{HomeLock, Host, LockError};
use crate::protocol::{Event, Request, Response};
use anyhow::{anyhow, Context as _};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

/// A way to reach an engine host.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Send a request and wait for its response. An `Err` means the host is
    /// unreachable (a connection failure, not a failed statement).
    async fn request(&self, request: Request) -> anyhow::Result<Response>;
    /// Events published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Event>;
}

/// The engine in this process.
pub struct InProcess {
    host: Arc<Host>,
}

impl InProcess {
    /// Wrap a started host.
    pub fn new(host: Arc<Host>) -> Self {
        InProcess { host }
    }
}

#[async_trait::async_trait]
impl Transport for InProcess {
    async fn request(&self, request: Request) -> anyhow::Result<Response> {
        Ok(self.host.request(request).await)
    }
    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.host.events.subscribe()
    }
}

type Pending = HashMap<u64, oneshot::Sender<Response>>;

/// A connection to `unifyd`: one DEALER socket for requests (many in flight, matched
/// by id) and one SUB socket for events.
pub struct Zmq {
    outgoing: mpsc::Sender<(Request, oneshot::Sender<Response>)>,
    events: broadcast::Sender<Event>,
    /// The daemon's pid: a request whose daemon died fails instead of waiting.
    pid: u32,
    /// The task receiving events (it would wait forever on a dead daemon).
    subscriber: tokio::task::JoinHandle<()>,
}

impl Drop for Zmq {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

impl Zmq {
    /// Connect to the daemon at `endpoints`.
    pub async fn connect(endpoints: &Endpoints) -> anyhow::Result<Zmq> {
        Zmq::connect_with(endpoints, broadcast::channel(1024).0).await
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Connect, delivering events into `events`.
    async fn connect_with(
        endpoints: &Endpoints,
        events: broadcast::Sender<Event>,
    ) -> anyhow::Result<Zmq> {
        let mut dealer = zeromq::DealerSocket::new();
        tokio::time::timeout(Duration::from_secs(3), dealer.connect(&endpoints.request))
            .await
            .map_err(|_| anyhow!("timed out connecting to {}", endpoints.request))?
            .with_context(|| format!("connecting to {}", endpoints.request))?;
        let mut sub = zeromq::SubSocket::new();
        tokio::time::timeout(Duration::from_secs(3), sub.connect(&endpoints.events))
            .await
            .map_err(|_| anyhow!("timed out connecting to {}", endpoints.events))?
            .with_context(|| format!("connecting to {}", endpoints.events))?;
        sub.subscribe("").await?;
        let ev = events.clone();
        let subscriber = tokio::spawn(async move {
            while let Ok(msg) = sub.recv().await {
                if let Some(body) = msg.get(1) {
                    if let Ok(event) = serde_json::from_slice::<Event>(body) {
                        let _ = ev.send(event);
                    }
                }
            }
        });
        let (outgoing, rx) = mpsc::channel::<(Request, oneshot::Sender<Response>)>(64);
        tokio::spawn(serve_requests(dealer, rx));
        Ok(Zmq {
            outgoing,
            events,
            pid: endpoints.pid,
            subscriber,
        })
    }
}

/// Send each request on `dealer` with a fresh id until the client drops its sender;
/// the answers are matched to their requests by [`route_responses`].
async fn serve_requests(
    dealer: zeromq::DealerSocket,
    mut rx: mpsc::Receiver<(Request, oneshot::Sender<Response>)>,
) {
    let (mut send, recv) = dealer.split();
    let pending: Arc<std::sync::Mutex<Pending>> = Arc::default();
    let reader = tokio::spawn(route_responses(recv, pending.clone()));
    let mut next = 0u64;
    while let Some((request, reply)) = rx.recv().await {
        next += 1;
        let Ok(body) = serde_json::to_vec(&request) else {
            continue;
        };
        pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(next, reply);
        let mut msg = ZmqMessage::from(next.to_string());
        msg.push_back(body.into());
        if send.send(msg).await.is_err() {
            pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&next);
        }
    }
    reader.abort();
}

/// Hand each answer (`[id, body]`) to the request waiting for that id.
async fn route_responses(
    mut recv: zeromq::DealerRecvHalf,
    pending: Arc<std::sync::Mutex<Pending>>,
) {
    while let Ok(msg) = recv.recv().await {
        let frames = msg.into_vec();
        if frames.len() < 2 {
            continue;
        }
        let id = std::str::from_utf8(&frames[0])
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        let Some(id) = id else { continue };
        let response =
            serde_json::from_slice::<Response>(&frames[1]).unwrap_or_else(|e| Response::Error {
                message: format!("malformed response: {e}"),
            });
        let waiter = pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if let Some(tx) = waiter {
            let _ = tx.send(response);
        }
    }
}

#[async_trait::async_trait]
impl Transport for Zmq {
    async fn request(&self, request: Request) -> anyhow::Result<Response> {
        let (tx, rx) = oneshot::channel();
        self.outgoing
            .send((request, tx))
            .await
            .map_err(|_| anyhow!("the connection to unifyd is closed"))?;
        // A statement may legitimately run for a long time; the daemon dying must not
        // leave the client waiting forever.
        tokio::pin!(rx);
        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                r = &mut rx => {
                    return r.map_err(|_| anyhow!("unifyd closed the connection"));
                }
                _ = check.tick() => {
                    if !process_alive(self.pid) {
                        return Err(anyhow!("unifyd (pid {}) stopped before answering", self.pid));
                    }
                }
            }
        }
    }
    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// True while process `pid` exists.
pub fn process_alive(pid: u32) -> bool {
    if pid == 0 {
        return true;
    }
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// What a daemon says of itself when pinged.
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    /// Its pid.
    pub pid: u32,
    /// Its version.
    pub version: String,
    /// Its build ([`crate::protocol::running_build`]).
    pub build: String,
    /// Jobs it is running.
    pub running: usize,
    /// Client sessions busy or used recently.
    pub sessions: usize,
}

/// Send SIGTERM to process `pid` (a daemon asked to stop).
pub fn terminate(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

/// Ping the daemon of `home` at `endpoints` (`None` when nothing answers within `wait`).
pub async fn ping_info(endpoints: &Endpoints, home: &Home, wait: Duration) -> Option<DaemonInfo> {
    let attempt = async {
        let z = Zmq::connect(endpoints).await.ok()?;
        match z.request(Request::Ping).await.ok()? {
            Response::Pong {
                pid,
                home: h,
                version,
                build,
                running,
                sessions,
            } if h == home.root().display().to_string() => Some(DaemonInfo {
                pid,
                version,
                build,
                running,
                sessions,
            }),
            _ => None,
        }
    };
    tokio::time::timeout(wait, attempt).await.ok().flatten()
}

/// Ping a daemon at `endpoints` (false when nothing answers within `wait`).
pub async fn ping(endpoints: &Endpoints, home: &Home, wait: Duration) -> bool {
    ping_info(endpoints, home, wait).await.is_some()
}

/// Connect to the home's daemon, starting it when none answers. Two clients starting at
/// once both spawn one; the home's lock lets only one of them run. A home that does not
/// exist yet is created first (mode 0700). A daemon running another build of unify (the
/// `unifyd` file was rebuilt or upgraded since it started) is restarted when it is idle;
/// when it is loading, the error says what to run.
pub async fn connect_or_start(home: &Home) -> anyhow::Result<Zmq> {
    connect_or_start_full(home, broadcast::channel(1024).0, &[]).await
}

/// [`connect_or_start`], passing `extra` arguments to a daemon it starts.
pub async fn connect_or_start_with(home: &Home, extra: &[String]) -> anyhow::Result<Zmq> {
    connect_or_start_full(home, broadcast::channel(1024).0, extra).await
}

async fn connect_or_start_full(
    home: &Home,
    events: broadcast::Sender<Event>,
    extra: &[String],
) -> anyhow::Result<Zmq> {
    if let Some(ep) = Endpoints::read(home) {
        if let Some(info) = ping_info(&ep, home, Duration::from_secs(2)).await {
            let idle = info.running == 0 && info.sessions == 0;
            match stale(&info) {
                None => return Zmq::connect_with(&ep, events).await,
                Some(why) if idle => {
                    eprintln!("unifyd (pid {}) {why}: restarting it.", info.pid);
                    stop_daemon(home, info.pid).await?;
                }
                // Another version may not speak this client's protocol: never use it.
                Some(why) if info.version != crate::protocol::VERSION => {
                    return Err(anyhow!(
                        "unifyd (pid {}) {why}, and it is busy ({}): run `unifyd stop` to restart it (its loads are re-queued and resume in the new one)",
                        info.pid,
                        busy_text(&info)
                    ))
                }
                // The same version, another build: use it, and say how to switch.
                Some(why) => {
                    eprintln!(
                        "Note: unifyd (pid {}) {why}; it is busy ({}), so this command uses it: run `unifyd stop` to restart it when convenient.",
                        info.pid,
                        busy_text(&info)
                    );
                    return Zmq::connect_with(&ep, events).await;
                }
            }
        }
    }
    home.ensure_dirs()
        .with_context(|| format!("creating the unify home {}", home.root().display()))?;
    // Nobody answered. If the lock is free, no daemon is alive: start one. Any other
    // failure to take the lock (permissions, a read-only disk) is reported as it is.
    let free = match HomeLock::acquire(home) {
        Ok(_) => true,
        Err(LockError::Held { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    if free {
        spawn_daemon_with(home, false, extra)?;
    }
    let start = Instant::now();
    let deadline = Duration::from_secs(60);
    while start.elapsed() < deadline {
        if !free && start.elapsed() > Duration::from_secs(5) && !home.pid_file().exists() {
            return Err(anyhow!(
                "another unify process holds {} (a `unify --no-daemon` session?); close it or use --no-daemon there only",
                home.root().display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(ep) = Endpoints::read(home) {
            if ping(&ep, home, Duration::from_secs(2)).await {
                return Zmq::connect_with(&ep, events).await;
            }
        }
    }
    Err(anyhow!(
        "unifyd did not start within {}s; see {}",
        deadline.as_secs(),
        home.daemon_log().display()
    ))
}

/// What keeps a daemon busy: `2 loads, 1 client session`.
fn busy_text(info: &DaemonInfo) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if info.running > 0 {
        parts.push(plural(info.running, "running load"));
    }
    if info.sessions > 0 {
        parts.push(plural(info.sessions, "client session"));
    }
    parts.join(", ")
}

/// Why a running daemon is not the one this client would start, if it is not.
fn stale(info: &DaemonInfo) -> Option<String> {
    if info.version != crate::protocol::VERSION {
        let theirs = if info.version.is_empty() {
            "an older version".to_string()
        } else {
            format!("version {}", info.version)
        };
        return Some(format!(
            "is {theirs}, this unify is version {}",
            crate::protocol::VERSION
        ));
    }
    let ours = daemon_binary()
        .ok()
        .map(|exe| crate::protocol::build_id(&exe))?;
    // Without a file to compare with (unifyd found on PATH only), the version decides.
    if ours == crate::protocol::VERSION || info.build == ours {
        return None;
    }
    Some("was started from another build of unifyd (it was rebuilt or upgraded since)".into())
}

/// Stop the daemon `pid` of `home` and wait for its lock to be free.
pub async fn stop_daemon(home: &Home, pid: u32) -> anyhow::Result<()> {
    terminate(pid);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        match HomeLock::acquire(home) {
            Ok(_) => return Ok(()),
            Err(LockError::Held { .. }) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(anyhow!("unifyd (pid {pid}) did not stop within 30 s"))
}

/// The home's daemon, followed across restarts: when it has died (killed, crashed,
/// stopped), the next request starts a new one and goes there. Requests that are safe to
/// repeat (job status, completions, …) are repeated on the new daemon, so a client waiting
/// for a load keeps waiting; a statement that was running when the daemon died is
/// reported as failed, not run twice.
pub struct Daemon {
    home: Home,
    current: tokio::sync::Mutex<Arc<Zmq>>,
    events: broadcast::Sender<Event>,
}

impl Daemon {
    /// Connect to the home's daemon, starting it when none answers.
    pub async fn connect(home: &Home) -> anyhow::Result<Daemon> {
        let events = broadcast::channel(1024).0;
        let zmq = connect_or_start_full(home, events.clone(), &[]).await?;
        send_env(&zmq, home).await;
        Ok(Daemon {
            home: home.clone(),
            current: tokio::sync::Mutex::new(Arc::new(zmq)),
            events,
        })
    }

    /// The daemon to talk to: the current one, or a new one when it has died.
    async fn live(&self) -> anyhow::Result<Arc<Zmq>> {
        let mut current = self.current.lock().await;
        if !process_alive(current.pid) {
            let old = current.pid;
            let fresh = connect_or_start_full(&self.home, self.events.clone(), &[]).await?;
            send_env(&fresh, &self.home).await;
            eprintln!(
                "unifyd (pid {old}) stopped; now talking to unifyd (pid {}). Session variables were reset.",
                fresh.pid
            );
            *current = Arc::new(fresh);
        }
        Ok(current.clone())
    }
}

/// Give the daemon the values this client sees of the environment variables the
/// connections read, so one exported after the daemon started is used.
async fn send_env(zmq: &Zmq, home: &Home) {
    let vars: Vec<(String, crate::protocol::EnvValue)> =
        crate::adapters::connections::referenced_env(&home.connections_file())
            .into_iter()
            .map(|(k, v)| (k, crate::protocol::EnvValue(v)))
            .collect();
    if !vars.is_empty() {
        if let Err(e) = zmq.request(Request::SetEnv { vars }).await {
            tracing::debug!(error = %e, "sending the environment to unifyd failed");
        }
    }
}

/// Requests that may be sent again to a new daemon when the first one died answering.
fn repeatable(request: &Request) -> bool {
    matches!(
        request,
        Request::JobStatus { .. }
            | Request::Ping
            | Request::Completions { .. }
            | Request::Connectors
            | Request::CloseSession { .. }
            | Request::Interrupt { .. }
    )
}

#[async_trait::async_trait]
impl Transport for Daemon {
    async fn request(&self, request: Request) -> anyhow::Result<Response> {
        let zmq = self.live().await?;
        match zmq.request(request.clone()).await {
            Ok(r) => Ok(r),
            Err(e) if repeatable(&request) && !process_alive(zmq.pid) => {
                tracing::debug!(error = %e, "unifyd died during a request; repeating it");
                self.live().await?.request(request).await
            }
            Err(e) => Err(e),
        }
    }
    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}
