//! `unifyd`: the loader daemon. `unifyd` runs in the foreground (for service managers);
//! `unifyd start|stop|status` detach, stop and report.

/// mimalloc: fewer page faults and less fragmentation than glibc's allocator under
/// the loader's many short-lived allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use unify::daemon::Endpoints;
use unify::home::Home;
use unify::pg::PgStatus;

/// The unify loader daemon.
#[derive(Parser, Debug)]
#[command(name = "unifyd", version, about)]
struct Args {
    /// The unify home directory (default $UNIFY_HOME or ~/.unify).
    #[arg(long, value_name = "DIR", global = true)]
    home: Option<PathBuf>,
    /// Wait for a previous daemon of this home to exit (used by restart).
    #[arg(long, hide = true)]
    wait_lock: bool,
    /// Also serve the PostgreSQL protocol on HOST:PORT (user `unify`, password from
    /// UNIFY_PG_PASSWORD or generated into <home>/pg/password).
    #[arg(long, value_name = "ADDR", global = true)]
    pg_listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the daemon in the background.
    Start,
    /// Stop the running daemon (running loads are re-queued).
    Stop,
    /// Report whether the daemon runs.
    Status,
}

fn main() {
    unify::no_huge_pages();
    let args = Args::parse();
    let home = Home::resolve(args.home.as_deref());
    let code = match run(args, home) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn run(args: Args, home: Home) -> anyhow::Result<i32> {
    match args.command {
        None => {
            home.ensure_dirs()?;
            unify::telemetry::init_file(&home.daemon_log(), "info")?;
            unify::daemon::run(home, args.wait_lock, args.pg_listen)?;
            Ok(0)
        }
        Some(Command::Start) => start(&home, args.pg_listen.as_deref()),
        Some(Command::Stop) => {
            let rt = tokio::runtime::Runtime::new()?;
            let pid = rt.block_on(running(&home));
            let Some(pid) = pid else {
                println!("unifyd is not running");
                return Ok(0);
            };
            unify::client::transport::terminate(pid);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                if unify::host::HomeLock::acquire(&home).is_ok() {
                    println!("unifyd stopped");
                    return Ok(0);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            anyhow::bail!("unifyd (pid {pid}) did not stop within 30 s")
        }
        Some(Command::Status) => {
            let rt = tokio::runtime::Runtime::new()?;
            match rt.block_on(running(&home)) {
                Some(pid) => {
                    println!(
                        "unifyd is running (pid {pid}, home {})",
                        home.root().display()
                    );
                    if let Some(pg) = PgStatus::read(&home) {
                        println!("{}", pg.describe());
                    }
                    Ok(0)
                }
                None => {
                    println!("unifyd is not running (home {})", home.root().display());
                    Ok(3)
                }
            }
        }
    }
}

/// `unifyd start`: a detached daemon for `home` (with the PostgreSQL endpoint on
/// `pg_listen`), unless one is running already.
fn start(home: &Home, pg_listen: Option<&str>) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        if let Some(pid) = running(home).await {
            println!("unifyd is already running (pid {pid})");
            match (PgStatus::read(home), pg_listen) {
                (Some(pg), _) => println!("{}", pg.describe()),
                (None, Some(_)) => eprintln!(
                    "it does not serve PostgreSQL: stop it (`unifyd stop`) and start it again with --pg-listen"
                ),
                (None, None) => {}
            }
            return Ok(0);
        }
        // Check --pg-listen here, so a refusal or a busy port is told now rather
        // than only in the detached daemon's log.
        home.ensure_dirs()?;
        let mut extra = Vec::new();
        if let Some(addr) = pg_listen {
            let config = unify::pg::PgConfig::resolve(addr, home)?;
            std::net::TcpListener::bind(config.addr).map_err(|e| {
                anyhow::anyhow!("cannot listen on {addr} for PostgreSQL: {e}")
            })?;
            extra = vec!["--pg-listen".to_string(), addr.to_string()];
        }
        unify::client::transport::connect_or_start_with(home, &extra).await?;
        let pid = running(home).await.unwrap_or(0);
        println!("unifyd started (pid {pid})");
        if let Some(pg) = PgStatus::read(home) {
            println!("{}", pg.describe());
        }
        Ok(0)
    })
}

/// The pid of the daemon answering for `home`, if any.
async fn running(home: &Home) -> Option<u32> {
    let ep = Endpoints::read(home)?;
    unify::client::transport::ping(&ep, home, Duration::from_secs(2))
        .await
        .then_some(ep.pid)
}
