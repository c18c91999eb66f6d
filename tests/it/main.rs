//! Integration tests, in one binary so the large DuckDB library is linked once.

mod loading;
mod support;
