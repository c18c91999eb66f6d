//! From JSON records to rows: no DuckDB here (writing rows is
//! [`crate::warehouse::staging`]'s job).
//!
//! * [`types`] — column types, cells and the widening lattice (int → double → varchar).
//! * [`flatten`] — records → rows, with the column registry of one load.

pub mod flatten;
pub mod types;
