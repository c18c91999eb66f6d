//! Integration tests, in one binary so the large DuckDB library is linked once.

mod cli;
mod connect;
mod connectors;
mod daemon;
mod hostile;
mod loading;
mod newuser;
mod openapi;
mod pg;
mod pty;
mod shell;
mod soak;
mod support;
