//! `unifyd`: wiring only. Take the home's lock, write the pid file, start the host's
//! actors in an actix system, serve requests on a ZeroMQ ROUTER socket and publish
//! events on a PUB socket (ipc sockets in `run/` — or a private directory when that
//! path is too long — mode 0600; their addresses in
//! `run/endpoints.json`), then on SIGTERM/SIGINT or `system stop daemon` shut down
//! with a deadline, re-queueing unfinished jobs. With `--pg-listen ADDR` it also
//! serves the PostgreSQL protocol ([`crate::pg`]; its address in `run/pg.json`).

use crate::home::Home;
use crate::host::{HomeLock, Host, HostOptions, LockError};
use crate::protocol::{Request, Response};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

/// Where a daemon listens; written to `run/endpoints.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// ROUTER socket for requests.
    pub request: String,
    /// PUB socket for events.
    pub events: String,
    /// The daemon's pid.
    pub pid: u32,
}

impl Endpoints {
    /// Read `run/endpoints.json`.
    pub fn read(home: &Home) -> Option<Endpoints> {
        let text = std::fs::read_to_string(endpoints_file(home)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

fn endpoints_file(home: &Home) -> std::path::PathBuf {
    home.run_dir().join("endpoints.json")
}

/// How long a stopping daemon waits for running loads to reach a page boundary.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Run the daemon in the foreground until stopped. `wait_lock` waits for a previous
/// daemon to exit (restart); `pg_listen` also serves PostgreSQL there. Returns Ok
/// without doing anything when another daemon already serves this home.
pub fn run(home: Home, wait_lock: bool, pg_listen: Option<String>) -> anyhow::Result<()> {
    // Pin this build's identity before the binary on disk can be replaced.
    let _ = crate::protocol::running_build();
    home.ensure_dirs()
        .with_context(|| format!("creating {}", home.root().display()))?;
    // --- pg endpoint (issue 14): validated before anything starts.
    let pg = match &pg_listen {
        Some(addr) => Some(crate::pg::PgConfig::resolve(addr, &home)?),
        None => None,
    };
    let pg_args: Vec<String> = pg_listen
        .iter()
        .flat_map(|a| ["--pg-listen".to_string(), a.clone()])
        .collect();
    // ---
    let lock = if wait_lock {
        HomeLock::acquire_wait(&home, Duration::from_secs(30))
    } else {
        HomeLock::acquire(&home)
    };
    let _lock = match lock {
        Ok(l) => l,
        Err(LockError::Held { pid, .. }) => {
            eprintln!(
                "unifyd is already running for {} (pid {pid})",
                home.root().display()
            );
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    std::fs::write(home.pid_file(), format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", home.pid_file().display()))?;
    tracing::info!(pid = std::process::id(), home = %home.root().display(), "unifyd starting");

    let system = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("unifyd")
            .build()
            .expect("building the tokio runtime")
    });
    let restart = system.block_on(serve(home.clone(), pg));
    let _ = std::fs::remove_file(home.pid_file());
    let _ = std::fs::remove_file(endpoints_file(&home));
    let _ = std::fs::remove_file(crate::pg::PgStatus::file(&home));
    let restart = restart?;
    tracing::info!("unifyd stopped");
    if restart {
        spawn_daemon_with(&home, true, &pg_args)?;
    }
    Ok(())
}

/// Serve until shutdown; returns whether a restart was asked.
async fn serve(home: Home, pg: Option<crate::pg::PgConfig>) -> anyhow::Result<bool> {
    let host = Arc::new(Host::start(home.clone(), HostOptions::from_env(true)).await?);
    // --- pg endpoint (issue 14): up before the endpoints file says we are ready.
    let _ = std::fs::remove_file(crate::pg::PgStatus::file(&home));
    let pg = match pg {
        Some(config) => Some(crate::pg::start(host.clone(), config).await?),
        None => None,
    };
    // ---
    let run = home.run_dir();
    let sockets = socket_dir(&run)?;
    let (request_ep, events_ep) = (
        ipc_endpoint(&sockets, "unifyd.sock"),
        ipc_endpoint(&sockets, "events.sock"),
    );

    let mut router = zeromq::RouterSocket::new();
    let request_bound = bind(&mut router, &request_ep).await?;
    let mut publisher = zeromq::PubSocket::new();
    let events_bound = bind(&mut publisher, &events_ep).await?;
    for name in ["unifyd.sock", "events.sock"] {
        restrict(&sockets.join(name));
    }
    let endpoints = Endpoints {
        request: request_bound,
        events: events_bound,
        pid: std::process::id(),
    };
    let tmp = run.join("endpoints.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&endpoints)?)?;
    restrict(&tmp);
    std::fs::rename(&tmp, endpoints_file(&home))?;
    tracing::info!(request = %endpoints.request, events = %endpoints.events, "listening");

    let pub_task = tokio::spawn(publish_events(host.events.subscribe(), publisher));
    let router_task = tokio::spawn(route_requests(router, host.clone()));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = host.stopping() => {}
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
    }
    tracing::info!("unifyd stopping");
    if let Some(pg) = &pg {
        pg.stop();
    }
    host.shutdown(SHUTDOWN_DEADLINE).await;
    // Give in-flight replies (e.g. to `system stop daemon`) a moment to leave.
    tokio::time::sleep(Duration::from_millis(200)).await;
    router_task.abort();
    pub_task.abort();
    Ok(host.restart_requested())
}

/// Events → PUB, until the host's broadcast closes.
async fn publish_events(
    mut events: tokio::sync::broadcast::Receiver<crate::protocol::Event>,
    mut publisher: zeromq::PubSocket,
) {
    loop {
        match events.recv().await {
            Ok(event) => {
                let Ok(body) = serde_json::to_vec(&event) else {
                    continue;
                };
                let mut msg = ZmqMessage::from(event.topic());
                msg.push_back(body.into());
                if let Err(e) = publisher.send(msg).await {
                    tracing::debug!(error = %e, "publishing an event failed");
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(missed = n, "event publisher lagged");
            }
            Err(_) => return,
        }
    }
}

/// Requests ← ROUTER, each answered on its own task, until the socket closes.
async fn route_requests(router: zeromq::RouterSocket, host: Arc<Host>) {
    let (send_half, mut recv_half) = router.split();
    loop {
        let msg = match recv_half.recv().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "request socket closed");
                return;
            }
        };
        let frames = msg.into_vec();
        if frames.len() < 3 {
            continue;
        }
        let (identity, id, body) = (frames[0].clone(), frames[1].clone(), frames[2].clone());
        let host = host.clone();
        let mut sender = send_half.clone();
        tokio::spawn(async move {
            let response = match serde_json::from_slice::<Request>(&body) {
                Ok(req) => host.request(req).await,
                Err(e) => Response::Error {
                    message: format!("malformed request: {e}"),
                },
            };
            let Ok(payload) = serde_json::to_vec(&response) else {
                return;
            };
            let mut reply = ZmqMessage::from(identity);
            reply.push_back(id);
            reply.push_back(payload.into());
            if let Err(e) = sender.send(reply).await {
                tracing::debug!(error = %e, "replying failed (client gone?)");
            }
        });
    }
}

/// Where the sockets go: `run/`, or — when that path is too long for a unix socket —
/// a private directory of this user in the temporary directory, named after the home.
/// Never a TCP port: anyone on the machine could reach one.
fn socket_dir(run: &Path) -> anyhow::Result<std::path::PathBuf> {
    if run.join("unifyd.sock").display().to_string().len() < 100 {
        return Ok(run.to_path_buf());
    }
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = rustix::process::getuid().as_raw();
    let hash = xxhash_rust::xxh3::xxh3_64(run.display().to_string().as_bytes());
    let dir = std::env::temp_dir().join(format!("unify-{uid}-{hash:016x}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::metadata(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        anyhow::bail!(
            "{} is not a private directory of this user; remove it, or use a home with a shorter path",
            dir.display()
        );
    }
    Ok(dir)
}

/// An ipc endpoint in `dir` (a stale socket from a killed daemon is removed first).
fn ipc_endpoint(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    format!("ipc://{}", path.display())
}

async fn bind<S: Socket>(socket: &mut S, ep: &str) -> anyhow::Result<String> {
    let bound = socket
        .bind(ep)
        .await
        .with_context(|| format!("binding {ep}"))?;
    Ok(bound.to_string())
}

fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
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
    // SAFETY: setsid is async-signal-safe (a bare system call) and only detaches the
    // child from our session.
    unsafe {
        cmd.pre_exec(|| {
            let _ = rustix::process::setsid();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    // Reap it when it exits: a dead child left a zombie looks alive to `kill(pid, 0)`,
    // and a client waiting on it would never notice its death.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

/// The `unifyd` binary next to the running executable (or on PATH).
pub fn daemon_binary() -> anyhow::Result<std::path::PathBuf> {
    if let Ok(exe) = std::env::current_exe() {
        let sibling = exe.with_file_name("unifyd");
        if sibling.is_file() {
            return Ok(sibling);
        }
    }
    Ok(std::path::PathBuf::from("unifyd"))
}
