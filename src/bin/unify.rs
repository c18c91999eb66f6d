//! `unify`: the REPL and script runner. Flags → client; errors print "{:#}" and exit 1.

use clap::Parser;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;
use unify::client::{self, Client, Transport};
use unify::home::Home;
use unify::host::{HomeLock, Host, HostOptions};
use unify::render::Format;

/// Query any JSON REST API with SQL.
#[derive(Parser, Debug)]
#[command(name = "unify", version, about)]
struct Args {
    /// Run these statements (separated by `;`) and exit.
    #[arg(short = 'c', long = "command")]
    command: Option<String>,
    /// Result format.
    #[arg(long, default_value = "table")]
    format: Format,
    /// Run the engine in this process instead of talking to unifyd.
    #[arg(long)]
    no_daemon: bool,
    /// The unify home directory (default $UNIFY_HOME or ~/.unify).
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    unify::telemetry::init_stderr("warn");
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
    let script = match &args.command {
        Some(c) => Some(c.clone()),
        None if !std::io::stdin().is_terminal() => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Some(text)
        }
        None => None,
    };
    if args.no_daemon {
        home.ensure_dirs()?;
        let _lock = HomeLock::acquire(&home)?;
        let system = actix::System::with_tokio_rt(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("building the tokio runtime")
        });
        system.block_on(async move {
            let host = Arc::new(Host::start(home.clone(), HostOptions::from_env(false)).await?);
            let transport: Arc<dyn Transport> = Arc::new(client::InProcess::new(host.clone()));
            let code = drive(transport, args.format, script, &home).await;
            host.shutdown(std::time::Duration::from_secs(5)).await;
            Ok(code)
        })
    } else {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let transport: Arc<dyn Transport> = Arc::new(client::connect_or_start(&home).await?);
            Ok(drive(transport, args.format, script, &home).await)
        })
    }
}

async fn drive(
    transport: Arc<dyn Transport>,
    format: Format,
    script: Option<String>,
    home: &Home,
) -> i32 {
    let mut client = Client::new(transport, format);
    match script {
        Some(text) => {
            let mut ui: Box<dyn client::WaitUi> =
                if std::io::stderr().is_terminal() && std::io::stdin().is_terminal() {
                    Box::new(unify::repl::progress::TtyProgress::new())
                } else {
                    Box::new(client::Quiet)
                };
            let code = client::run_script(&mut client, &text, ui.as_mut()).await;
            client.close().await;
            code
        }
        None => unify::repl::run(client, home).await,
    }
}
