//! Transports between the `unify` client and an engine host: ZeroMQ to `unifyd`, or a
//! direct call into an in-process [`Host`] (`--no-daemon`). Both answer requests and
//! deliver events the same way, so the client has one code path.

use crate::daemon::Endpoints;
use crate::home::Home;
use crate::host::{HomeLock, Host};
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
}

impl Zmq {
    /// Connect to the daemon at `endpoints`.
    pub async fn connect(endpoints: &Endpoints) -> anyhow::Result<Zmq> {
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
        let (events, _) = broadcast::channel(1024);
        let ev = events.clone();
        tokio::spawn(async move {
            while let Ok(msg) = sub.recv().await {
                if let Some(body) = msg.get(1) {
                    if let Ok(event) = serde_json::from_slice::<Event>(body) {
                        let _ = ev.send(event);
                    }
                }
            }
        });
        let (outgoing, mut rx) = mpsc::channel::<(Request, oneshot::Sender<Response>)>(64);
        tokio::spawn(async move {
            let (mut send, mut recv) = dealer.split();
            let pending: Arc<std::sync::Mutex<Pending>> = Arc::default();
            let reader_pending = pending.clone();
            let reader =
                tokio::spawn(async move {
                    while let Ok(msg) = recv.recv().await {
                        let frames = msg.into_vec();
                        if frames.len() < 2 {
                            continue;
                        }
                        let id = std::str::from_utf8(&frames[0])
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok());
                        let Some(id) = id else { continue };
                        let response = serde_json::from_slice::<Response>(&frames[1])
                            .unwrap_or_else(|e| Response::Error {
                                message: format!("malformed response: {e}"),
                            });
                        let waiter = reader_pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&id);
                        if let Some(tx) = waiter {
                            let _ = tx.send(response);
                        }
                    }
                });
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
        });
        Ok(Zmq {
            outgoing,
            events,
            pid: endpoints.pid,
        })
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
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid as i32, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Ping a daemon at `endpoints` (false when nothing answers within `wait`).
pub async fn ping(endpoints: &Endpoints, home: &Home, wait: Duration) -> bool {
    let attempt = async {
        let z = Zmq::connect(endpoints).await.ok()?;
        match z.request(Request::Ping).await.ok()? {
            Response::Pong { home: h, .. } => Some(h == home.root().display().to_string()),
            _ => None,
        }
    };
    matches!(tokio::time::timeout(wait, attempt).await, Ok(Some(true)))
}

/// Start `unifyd` for `home` as a detached process (own session, output to the log).
pub fn spawn_daemon(home: &Home, wait_lock: bool) -> anyhow::Result<()> {
    spawn_daemon_with(home, wait_lock, &[])
}

/// [`spawn_daemon`], passing `extra` arguments to `unifyd` (e.g. `--pg-listen ADDR`).
pub fn spawn_daemon_with(home: &Home, wait_lock: bool, extra: &[String]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = daemon_binary()?;
    home.ensure_dirs()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.daemon_log())
        .with_context(|| format!("opening {}", home.daemon_log().display()))?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("--home").arg(home.root());
    if wait_lock {
        cmd.arg("--wait-lock");
    }
    cmd.args(extra);
    cmd.stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid only detaches the child from our session; it touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    Ok(())
}

/// The `unifyd` binary next to the running executable (or on PATH).
fn daemon_binary() -> anyhow::Result<std::path::PathBuf> {
    if let Ok(exe) = std::env::current_exe() {
        let sibling = exe.with_file_name("unifyd");
        if sibling.is_file() {
            return Ok(sibling);
        }
    }
    Ok(std::path::PathBuf::from("unifyd"))
}

/// Connect to the home's daemon, starting it when none answers. Two clients starting at
/// once both spawn one; the home's lock lets only one of them run.
pub async fn connect_or_start(home: &Home) -> anyhow::Result<Zmq> {
    connect_or_start_with(home, &[]).await
}

/// [`connect_or_start`], passing `extra` arguments to a daemon it starts.
pub async fn connect_or_start_with(home: &Home, extra: &[String]) -> anyhow::Result<Zmq> {
    if let Some(ep) = Endpoints::read(home) {
        if ping(&ep, home, Duration::from_secs(2)).await {
            return Zmq::connect(&ep).await;
        }
    }
    // Nobody answered. If the lock is free, no daemon is alive: start one.
    let free = HomeLock::acquire(home).is_ok();
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
                return Zmq::connect(&ep).await;
            }
        }
    }
    Err(anyhow!(
        "unifyd did not start within {}s; see {}",
        deadline.as_secs(),
        home.daemon_log().display()
    ))
}
