//! Integration tests, in one binary so the large DuckDB library is linked once.

mod bench_small;
mod cli;
mod connect;
mod connectors;
mod daemon;
mod loading;
mod pg;
mod pty;
mod soak;
mod support;
