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
            unify::daemon::run(home, args.wait_lock)?;
            Ok(0)
        }
        Some(Command::Start) => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                if let Some(pid) = running(&home).await {
                    println!("unifyd is already running (pid {pid})");
                    return Ok(0);
                }
                unify::client::connect_or_start(&home).await?;
                let pid = running(&home).await.unwrap_or(0);
                println!("unifyd started (pid {pid})");
                Ok(0)
            })
        }
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

/// The pid of the daemon answering for `home`, if any.
async fn running(home: &Home) -> Option<u32> {
    let ep = Endpoints::read(home)?;
    unify::client::transport::ping(&ep, home, Duration::from_secs(2))
        .await
        .then_some(ep.pid)
}
