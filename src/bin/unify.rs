//! `unify`: the REPL and script runner. Flags → client; errors print "{:#}" and exit 1.

/// mimalloc: fewer page faults and less fragmentation than glibc's allocator under
/// the loader's many short-lived allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;
use unify::client::{self, Client, ScriptOptions, Transport};
use unify::home::Home;
use unify::host::{HomeLock, Host, HostOptions};
use unify::render::Format;

const AFTER_HELP: &str = "\
Formats (--format, or `format NAME` in a session): table (default), csv, json, jsonl,
markdown, line. In csv, json and jsonl, stdout carries results only.

Environment:
  UNIFY_HOME                the home directory (default ~/.unify); --home overrides it
  UNIFY_WORKERS             parallel loads in the daemon (default 4)
  UNIFY_MEMORY_LIMIT        DuckDB's memory limit while only loads run (default 64MB)
  UNIFY_QUERY_MEMORY_LIMIT  DuckDB's memory limit while statements run
  NO_COLOR                  no colours
  RUST_LOG                  log level (the daemon logs to $UNIFY_HOME/logs/unifyd.log)

Examples:
  unify                                          the REPL
  unify -c \"select 1 as n\" --format csv
  unify -f report.sql --bail
  unify connect jsonplaceholder --schema demo
  unify completions bash > ~/.local/share/bash-completion/completions/unify";

/// Query any JSON REST API with SQL.
#[derive(Parser, Debug)]
#[command(name = "unify", version, about, after_help = AFTER_HELP)]
struct Args {
    /// Run these statements (separated by `;`) and exit; repeatable, run in order.
    #[arg(short = 'c', long = "command", value_name = "STATEMENTS")]
    commands: Vec<String>,
    /// Run the statements in FILE (`-` for stdin) and exit; repeatable, in order with -c.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Stop at the first statement that fails.
    #[arg(long)]
    bail: bool,
    /// Result format.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    format: Format,
    /// Run the engine in this process instead of talking to unifyd.
    #[arg(long, global = true)]
    no_daemon: bool,
    /// The unify home directory (default $UNIFY_HOME, else ~/.unify).
    #[arg(long, value_name = "DIR", global = true)]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command_name: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Add a connection (asks for what the options do not give; answers may come on stdin).
    Connect {
        /// The connector to use (asked when missing).
        connector: Option<String>,
        /// The schema (connection) name.
        #[arg(long)]
        schema: Option<String>,
        /// An option value, `key=value` (repeatable); `$NAME` reads the environment.
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// Tools for connector specs.
    Spec {
        #[command(subcommand)]
        action: SpecCmd,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum SpecCmd {
    /// Validate a spec file; with --live, fetch one page of each table and show its columns.
    Check {
        /// The spec file.
        file: PathBuf,
        /// Call the API (one page per table).
        #[arg(long)]
        live: bool,
        /// An option value for --live, `key=value` (repeatable); `$NAME` reads the environment.
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// Generate a spec from an OpenAPI description (3.0, 3.1 or Swagger 2.0; JSON or YAML).
    FromOpenapi {
        /// The description: a file or an http(s) URL.
        source: String,
        /// The connector name (default: from the API's host or title).
        #[arg(long)]
        name: Option<String>,
        /// The API's base URL (default: the description's first server).
        #[arg(long = "base-url", value_name = "URL")]
        base_url: Option<String>,
        /// Write the spec to FILE instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Where the statements of a script come from, in command-line order.
enum Source {
    Text(String),
    File(PathBuf),
}

/// `-c` and `-f` values in the order they were given.
fn sources(matches: &clap::ArgMatches, args: &Args) -> Vec<Source> {
    let mut ordered: Vec<(usize, Source)> = Vec::new();
    if let Some(indices) = matches.indices_of("commands") {
        ordered.extend(
            indices
                .zip(&args.commands)
                .map(|(i, c)| (i, Source::Text(c.clone()))),
        );
    }
    if let Some(indices) = matches.indices_of("files") {
        ordered.extend(
            indices
                .zip(&args.files)
                .map(|(i, f)| (i, Source::File(f.clone()))),
        );
    }
    ordered.sort_by_key(|(i, _)| *i);
    ordered.into_iter().map(|(_, s)| s).collect()
}

/// The script to run: `-c`/`-f` in order, else stdin when it is not a terminal.
fn read_script(sources: Vec<Source>) -> anyhow::Result<Option<String>> {
    if sources.is_empty() {
        if std::io::stdin().is_terminal() {
            return Ok(None);
        }
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(Some(text));
    }
    let mut script = String::new();
    for source in sources {
        let text = match source {
            Source::Text(t) => t,
            Source::File(path) if path.as_os_str() == "-" => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text
            }
            Source::File(path) => std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
        };
        script.push_str(&text);
        // Each source ends its last statement.
        script.push_str("\n;\n");
    }
    Ok(Some(script))
}

fn key_values(options: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    options
        .iter()
        .map(|o| {
            o.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--option {o}: expected key=value"))
        })
        .collect()
}

fn main() {
    unify::no_huge_pages();
    let matches = Args::command().get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let home = Home::resolve(args.home.as_deref());
    let sources = sources(&matches, &args);
    let code = match run(args, sources, home) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn run(args: Args, sources: Vec<Source>, home: Home) -> anyhow::Result<i32> {
    if !args.no_daemon {
        unify::telemetry::init_stderr("warn");
    }
    if let Some(code) = run_standalone(&args)? {
        return Ok(code);
    }
    let script = match &args.command_name {
        Some(Cmd::Connect { .. }) => None,
        _ => read_script(sources)?,
    };
    let options = ScriptOptions { bail: args.bail };
    if args.no_daemon {
        run_in_process(args, script, options, home)
    } else {
        run_with_daemon(args, script, options, home)
    }
}

/// The commands that need no warehouse: `spec check`, `spec from-openapi`,
/// `completions`. `None` for every other command.
fn run_standalone(args: &Args) -> anyhow::Result<Option<i32>> {
    match &args.command_name {
        Some(Cmd::Spec {
            action:
                SpecCmd::Check {
                    file,
                    live,
                    options,
                },
        }) => {
            unify::telemetry::init_stderr("warn");
            spec_check(file, *live, key_values(options)?, args.format).map(Some)
        }
        Some(Cmd::Spec {
            action:
                SpecCmd::FromOpenapi {
                    source,
                    name,
                    base_url,
                    output,
                },
        }) => {
            unify::telemetry::init_stderr("warn");
            let summary = unify::openapi::generate_cli(
                source,
                name.clone(),
                base_url.clone(),
                output.as_deref(),
            )?;
            eprintln!("{summary}");
            Ok(Some(0))
        }
        Some(Cmd::Completions { shell }) => {
            clap_complete::generate(
                *shell,
                &mut Args::command(),
                "unify",
                &mut std::io::stdout(),
            );
            Ok(Some(0))
        }
        _ => Ok(None),
    }
}

/// `--no-daemon`: the engine runs in this process, holding the home's lock.
fn run_in_process(
    args: Args,
    script: Option<String>,
    options: ScriptOptions,
    home: Home,
) -> anyhow::Result<i32> {
    home.ensure_dirs().map_err(|e| {
        anyhow::anyhow!(
            "cannot create the unify home {}: {e}",
            home.root().display()
        )
    })?;
    let _lock = HomeLock::acquire(&home)?;
    // The engine runs here: its log goes where the daemon's would, so the terminal
    // gets one line per failure (the client's), not the engine's log lines too.
    unify::telemetry::init_file(&home.daemon_log(), "info")?;
    let system = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("building the tokio runtime")
    });
    system.block_on(async move {
        let host = Arc::new(Host::start(home.clone(), HostOptions::from_env(false)).await?);
        let transport: Arc<dyn Transport> = Arc::new(client::InProcess::new(host.clone()));
        let code = drive(
            transport,
            args.format,
            script,
            options,
            args.command_name,
            &home,
        )
        .await;
        host.shutdown(std::time::Duration::from_secs(5)).await;
        Ok(code)
    })
}

/// The default: a client of the home's daemon (started when none is running).
fn run_with_daemon(
    args: Args,
    script: Option<String>,
    options: ScriptOptions,
    home: Home,
) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let transport: Arc<dyn Transport> = Arc::new(client::Daemon::connect(&home).await?);
        Ok(drive(
            transport,
            args.format,
            script,
            options,
            args.command_name,
            &home,
        )
        .await)
    })
}

async fn drive(
    transport: Arc<dyn Transport>,
    format: Format,
    script: Option<String>,
    options: ScriptOptions,
    command: Option<Cmd>,
    home: &Home,
) -> i32 {
    let mut client = Client::new(transport, format);
    if let Some(Cmd::Connect {
        connector,
        schema,
        options,
    }) = command
    {
        let options = match key_values(&options) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("Error: {e:#}");
                return 1;
            }
        };
        let preset = unify::repl::connect::Preset {
            connector,
            schema,
            options,
        };
        let mut ask = unify::repl::connect::StdinAsk::new();
        let code = match unify::repl::connect::connect(&mut client, &mut ask, preset).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("Error: {e:#}");
                1
            }
        };
        client.close().await;
        return code;
    }
    match script {
        Some(text) => {
            let mut ui: Box<dyn client::WaitUi> =
                if std::io::stderr().is_terminal() && std::io::stdin().is_terminal() {
                    Box::new(unify::repl::progress::TtyProgress::new())
                } else {
                    Box::new(client::Quiet)
                };
            // Ctrl-C (SIGINT) stops the script: the running statement is interrupted and
            // the session closed on the host, instead of both lingering there.
            // The loads it was waiting for are cancelled too; a statement that cannot be
            // interrupted (a download, say) gets five seconds before the process exits.
            let transport = client.transport().clone();
            let session = client.session().to_string();
            let waiting = client.waiting();
            let code = tokio::select! {
                code = client::run_script(&mut client, &text, ui.as_mut(), options) => code,
                _ = tokio::signal::ctrl_c() => {
                    std::thread::spawn(|| {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                        std::process::exit(client::INTERRUPTED);
                    });
                    let _ = transport
                        .request(unify::protocol::Request::Interrupt { session: session.clone() })
                        .await;
                    let ids = waiting.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    client::cancel_waiting(&transport, &session, &ids).await;
                    eprintln!("Interrupted.");
                    client::INTERRUPTED
                }
            };
            client.close().await;
            code
        }
        None => unify::repl::run(client, home).await,
    }
}

fn spec_check(
    file: &std::path::Path,
    live: bool,
    options: Vec<(String, String)>,
    format: Format,
) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let label = file.display().to_string();
    let spec = match unify::speccheck::check(&label, &text) {
        unify::speccheck::Checked::Spec(s) => s,
        unify::speccheck::Checked::Problems(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "{} problem{} found",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            return Ok(1);
        }
        unify::speccheck::Checked::Skipped(why) => {
            eprintln!("{why}");
            return Ok(1);
        }
    };
    eprintln!("{}", unify::speccheck::summary(&spec));
    if !live {
        return Ok(0);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (table, problems) = rt.block_on(unify::speccheck::live(*spec, options));
    let mut out = std::io::stdout();
    unify::render::render(&mut out, &table, format, unify::render::Layout::default())?;
    for p in &problems {
        eprintln!("{p}");
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}
