//! From JSON records to DuckDB rows.
//!
//! * [`types`] — column types, cells and the widening lattice (int → double → varchar).
//! * [`flatten`] — records → rows, with the column registry of one load.
//! * [`writer`] — rows → a staging table through the Appender.

pub mod flatten;
pub mod types;
pub mod writer;
