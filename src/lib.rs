//! unify — query any JSON REST API with SQL.
//!
//! Crate map (data flows top to bottom):
//!
//! * [`home`]        — the on-disk layout of `UNIFY_HOME` (paths only, no IO policy).
//! * [`secret`]      — the `Secret` wrapper and redaction of known secret values.
//! * [`adapters`]    — specs (YAML → validated [`adapters::spec::Spec`]), connections
//!   (`connections.yaml` → [`adapters::connections::Connection`]) and the REST engine
//!   that turns a table definition into a stream of JSON pages.
//! * [`loading`]     — flattening JSON records into typed rows (no DuckDB: pure data).
//! * [`warehouse`]   — the one owner of the DuckDB database and of every statement unify
//!   itself runs: opening, connections, staging tables, catalog bookkeeping (`unify.*`
//!   tables), and async methods for the engine.
//! * [`engine`]      — the library API: `load` (plan → fetch → stage → commit), config,
//!   connecting APIs; used by the interpreter and by the daemon's workers.
//! * [`openapi`]     — `spec from-openapi`: an OpenAPI description → spec YAML (used by
//!   the CLI and the `connect` wizard; touches no home or warehouse).
//! * [`sqltext`]     — SQL as text: the one tokenizer; table references, `$var` and `??`
//!   substitution, statement splitting's tokens (used by the parser, the interpreter,
//!   spec validation, the engine, the pg endpoint and the REPL editor; never runs SQL).
//! * [`parser`]      — the unify command language (pest) → [`parser::ast::Statement`].
//! * [`interpreter`] — executes statements against the engine; transport-agnostic.
//! * [`queue`]       — the durable SQLite job queue.
//! * [`protocol`]    — every message exchanged between `unify` and `unifyd`.
//! * [`values`]      — DuckDB values as text and JSON, for every output format.
//! * [`actors`]      — the engine's actors (gateway, queue poller, loader pool, scheduler,
//!   …), each owning its state, and the job ledger (the one writer of a queued job's
//!   final state, to the queue and to `unify.loading_jobs`; the engine's own `load`,
//!   with no queue, records its end itself).
//! * [`host`]        — starts the actors over a home (for `unifyd` or `--no-daemon`) and
//!   stops them: one stop signal, a deadline, unfinished jobs re-queued.
//! * [`daemon`]      — wiring of the host and the ZeroMQ endpoints, and spawning `unifyd`
//!   detached (the client starts it through here).
//! * [`pg`]          — the PostgreSQL endpoint of `unifyd` (`--pg-listen`): pgwire
//!   sessions that run statements through the host's request API, like any client.
//! * [`client`]      — the `unify` client: transports (ZeroMQ or in-process) and the REPL.
//! * [`repl`]        — editor, completion, rendering and progress (client side only).
//!
//! A row's way from an HTTP page to DuckDB, in five files: `adapters/rest/mod.rs`
//! (`Fetch::run`: requests and pages) → `engine/load/fetch.rs` (pages into a bounded
//! channel) → `engine/load/stage.rs` (the writer thread) → `warehouse/staging.rs`
//! (`StagingWriter`: flatten, widen, append) → `warehouse/catalog.rs` (`swap_in` /
//! `merge_in`: one transaction). `engine/load/mod.rs` ties them together.
//!
//! Errors are typed per layer (`thiserror`): `FetchError` (adapters), `WarehouseError`,
//! `LoadError` / `AdminError` / `OpenError` (engine), `ControlError` (actors),
//! `ShellError` (interpreter: the statement as written, DuckDB, bookkeeping or job
//! control), `PgError`. Each names what failed and how to fix it; `anyhow` appears only
//! where they reach the user: the binaries, the host and daemon wiring, and the client.

pub mod actors;
pub mod adapters;
pub mod client;
pub mod daemon;
pub mod engine;
pub mod home;
pub mod host;
pub mod interpreter;
pub mod loading;
pub mod openapi;
pub mod parser;
pub mod pg;
pub mod protocol;
pub mod queue;
pub mod render;
pub mod repl;
pub mod secret;
pub mod speccheck;
pub mod sqltext;
pub mod telemetry;
pub mod values;
pub mod warehouse;

/// Keep the process's memory small: no transparent huge pages. The allocator and
/// DuckDB ask for them (`madvise`), and a 2 MB page for a few live bytes inflated
/// resident memory by ~20 MB at start-up and more under load (measured in
/// BENCHMARKS.md). Call first thing in `main`; harmless where unsupported.
pub fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
