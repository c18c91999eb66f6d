//! DuckDB values as PostgreSQL values: which Postgres type (OID) a result column gets,
//! and how its cells — the JSON cells of a [`ResultTable`] — are written in the text and
//! the binary formats; and the other way, how a bound parameter becomes a SQL literal.
//!
//! Result tables carry coarse DuckDB type names (`BIGINT`, `DOUBLE`, `DECIMAL`,
//! `TIMESTAMP`, `VARCHAR` for everything else); a `DESCRIBE` gives precise ones
//! (`INTEGER`, `DECIMAL(10,2)`, `VARCHAR[]`, `JSON`). [`Kind::of`] takes either, and for
//! a coarse `VARCHAR` looks at the cells: lists become Postgres arrays (or JSON when
//! nested or mixed), objects become JSON. Rows are encoded a chunk at a time
//! ([`encode_rows`]) once the columns are fixed, so a result streamed in pieces encodes
//! the same way.

//!
//! * `mod.rs` — [`Kind`]: which Postgres type a column gets, and the row description;
//! * `encode.rs` — cells in the text and binary formats, `numeric` in binary;
//! * `params.rs` — bound parameters as SQL literals.

mod encode;
mod params;

#[cfg(test)]
pub(crate) use encode::numeric_from_binary;
pub use encode::{encode_rows, numeric_binary, text_of};
pub use params::param_literal;

use crate::protocol::ResultTable;
use chrono::{NaiveDate, NaiveDateTime};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use serde_json::Value as Json;
use std::sync::Arc;

/// How a column's cells are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `bool`.
    Bool,
    /// `int2`.
    Int2,
    /// `int4`.
    Int4,
    /// `int8`.
    Int8,
    /// `float4`.
    Float4,
    /// `float8`.
    Float8,
    /// `numeric`, with its scale when known (`DECIMAL(p,s)`).
    Numeric {
        /// Precision, when known.
        precision: Option<u32>,
        /// Digits after the point, when known.
        scale: Option<u32>,
    },
    /// `varchar`.
    Text,
    /// `json`.
    Json,
    /// `date`.
    Date,
    /// `time`.
    Time,
    /// `timestamp` (DuckDB's, no time zone).
    Timestamp,
    /// `timestamptz` (values are UTC).
    TimestampTz,
    /// `bytea`.
    Bytea,
    /// `uuid`.
    Uuid,
    /// A one-dimensional array of a scalar kind.
    Array(Box<Kind>),
}

/// A result column as Postgres sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgColumn {
    /// Column name.
    pub name: String,
    /// How cells are written.
    pub kind: Kind,
}

/// A cell that cannot be written as its column's type (binary format only: text always
/// works).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot send the value {value} of column \"{column}\" as {ty} in binary format")]
pub struct EncodeError {
    /// The column.
    pub column: String,
    /// The Postgres type.
    pub ty: String,
    /// The value, shortened.
    pub value: String,
}

/// A bound parameter that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter ${index}: {message}")]
pub struct ParamError {
    /// 1-based parameter number.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

impl Kind {
    /// The Postgres type.
    pub fn pg_type(&self) -> Type {
        match self {
            Kind::Bool => Type::BOOL,
            Kind::Int2 => Type::INT2,
            Kind::Int4 => Type::INT4,
            Kind::Int8 => Type::INT8,
            Kind::Float4 => Type::FLOAT4,
            Kind::Float8 => Type::FLOAT8,
            Kind::Numeric { .. } => Type::NUMERIC,
            Kind::Text => Type::VARCHAR,
            Kind::Json => Type::JSON,
            Kind::Date => Type::DATE,
            Kind::Time => Type::TIME,
            Kind::Timestamp => Type::TIMESTAMP,
            Kind::TimestampTz => Type::TIMESTAMPTZ,
            Kind::Bytea => Type::BYTEA,
            Kind::Uuid => Type::UUID,
            Kind::Array(inner) => match **inner {
                Kind::Bool => Type::BOOL_ARRAY,
                Kind::Int2 => Type::INT2_ARRAY,
                Kind::Int4 => Type::INT4_ARRAY,
                Kind::Int8 => Type::INT8_ARRAY,
                Kind::Float4 => Type::FLOAT4_ARRAY,
                Kind::Float8 => Type::FLOAT8_ARRAY,
                Kind::Numeric { .. } => Type::NUMERIC_ARRAY,
                Kind::Date => Type::DATE_ARRAY,
                Kind::Time => Type::TIME_ARRAY,
                Kind::Timestamp => Type::TIMESTAMP_ARRAY,
                Kind::TimestampTz => Type::TIMESTAMPTZ_ARRAY,
                Kind::Uuid => Type::UUID_ARRAY,
                Kind::Bytea => Type::BYTEA_ARRAY,
                Kind::Json => Type::JSON_ARRAY,
                _ => Type::VARCHAR_ARRAY,
            },
        }
    }

    /// `pg_attribute.atttypmod`: precision and scale of a `numeric(p,s)`, else -1.
    pub fn typmod(&self) -> i32 {
        match self {
            Kind::Numeric {
                precision: Some(p),
                scale: Some(s),
            } => ((*p as i32) << 16 | *s as i32) + 4,
            _ => -1,
        }
    }

    /// `pg_type.typlen`.
    fn type_size(&self) -> i16 {
        match self {
            Kind::Bool => 1,
            Kind::Int2 => 2,
            Kind::Int4 | Kind::Float4 | Kind::Date => 4,
            Kind::Int8 | Kind::Float8 | Kind::Time | Kind::Timestamp | Kind::TimestampTz => 8,
            Kind::Uuid => 16,
            _ => -1,
        }
    }

    /// The kind of a DuckDB type name (coarse or precise); `cells` decide for a coarse
    /// `VARCHAR` (lists → arrays or JSON, objects → JSON).
    pub fn of<'a>(duckdb_type: &str, cells: impl Iterator<Item = &'a Json>) -> Kind {
        let t = duckdb_type.trim().to_ascii_uppercase();
        if t == "VARCHAR" {
            return infer(cells);
        }
        Kind::from_name(&t)
    }

    /// The kind of a precise DuckDB type name (upper case).
    fn from_name(t: &str) -> Kind {
        if let Some(inner) = t.strip_suffix("[]").or_else(|| {
            // Fixed-size arrays: `INTEGER[3]`.
            t.strip_suffix(']')
                .and_then(|s| s.rsplit_once('['))
                .filter(|(_, n)| n.chars().all(|c| c.is_ascii_digit()))
                .map(|(s, _)| s)
        }) {
            return match Kind::from_name(inner) {
                Kind::Array(_) | Kind::Json => Kind::Json,
                scalar => Kind::Array(Box::new(scalar)),
            };
        }
        if let Some(args) = t.strip_prefix("DECIMAL(").and_then(|s| s.strip_suffix(')')) {
            let mut it = args.split(',').map(|s| s.trim().parse::<u32>().ok());
            return Kind::Numeric {
                precision: it.next().flatten(),
                scale: it.next().flatten(),
            };
        }
        match t {
            "BOOLEAN" | "BOOL" => Kind::Bool,
            "TINYINT" | "SMALLINT" | "UTINYINT" | "INT2" => Kind::Int2,
            "INTEGER" | "USMALLINT" | "INT4" | "INT" => Kind::Int4,
            "BIGINT" | "UINTEGER" | "INT8" => Kind::Int8,
            "UBIGINT" | "HUGEINT" | "UHUGEINT" | "VARINT" | "DECIMAL" | "NUMERIC" => {
                Kind::Numeric {
                    precision: None,
                    scale: None,
                }
            }
            "FLOAT" | "REAL" | "FLOAT4" => Kind::Float4,
            "DOUBLE" | "FLOAT8" => Kind::Float8,
            "JSON" => Kind::Json,
            "DATE" => Kind::Date,
            "TIME" => Kind::Time,
            "TIMESTAMP" | "TIMESTAMP_S" | "TIMESTAMP_MS" | "TIMESTAMP_NS" | "DATETIME" => {
                Kind::Timestamp
            }
            "TIMESTAMP WITH TIME ZONE" | "TIMESTAMPTZ" => Kind::TimestampTz,
            "BLOB" | "BYTEA" => Kind::Bytea,
            "UUID" => Kind::Uuid,
            s if s.starts_with("STRUCT") => Kind::Json,
            _ => Kind::Text,
        }
    }
}

/// The kind of a coarse `VARCHAR` column from its cells.
fn infer<'a>(cells: impl Iterator<Item = &'a Json>) -> Kind {
    let mut element: Option<Kind> = None;
    let mut seen_list = false;
    for cell in cells.take(1000) {
        match cell {
            Json::Null => continue,
            Json::Object(_) => return Kind::Json,
            Json::Array(items) => {
                seen_list = true;
                for item in items {
                    let k = match item {
                        Json::Null => continue,
                        Json::Bool(_) => Kind::Bool,
                        Json::Number(n) if n.is_i64() => Kind::Int8,
                        Json::Number(_) => Kind::Float8,
                        Json::String(_) => Kind::Text,
                        _ => return Kind::Json,
                    };
                    element = match (element, k) {
                        (None, k) => Some(k),
                        (Some(Kind::Int8), Kind::Float8) | (Some(Kind::Float8), Kind::Int8) => {
                            Some(Kind::Float8)
                        }
                        (Some(a), b) if a == b => Some(a),
                        _ => return Kind::Json,
                    };
                }
            }
            _ if seen_list => return Kind::Json,
            _ => return Kind::Text,
        }
    }
    if seen_list {
        Kind::Array(Box::new(element.unwrap_or(Kind::Text)))
    } else {
        Kind::Text
    }
}

/// The Postgres columns of a result table (its first chunk decides coarse columns).
pub fn columns_of(table: &ResultTable) -> Vec<PgColumn> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, name)| PgColumn {
            name: name.clone(),
            kind: Kind::of(
                table.types.get(i).map_or("VARCHAR", String::as_str),
                table.rows.iter().filter_map(|r| r.get(i)),
            ),
        })
        .collect()
}

/// The row description: one field per column, in the formats the client asked for.
pub fn field_infos(columns: &[PgColumn], formats: &Format) -> Arc<Vec<FieldInfo>> {
    Arc::new(
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let format = match formats {
                    Format::Individual(codes) if codes.len() <= i => FieldFormat::Text,
                    f => f.format_for(i),
                };
                FieldInfo::new(c.name.clone(), None, None, c.kind.pg_type(), format)
                    .with_type_size(c.kind.type_size())
                    .with_type_modifier(c.kind.typmod())
            })
            .collect(),
    )
}

/// The Postgres type named in a cast (`$1::int8`, `$1::bigint`), for parameter types.
pub fn type_from_cast(name: &str) -> Option<Type> {
    let n = name
        .trim()
        .trim_start_matches("pg_catalog.")
        .to_ascii_lowercase();
    Some(match n.as_str() {
        "int2" | "smallint" => Type::INT2,
        "int" | "int4" | "integer" => Type::INT4,
        "int8" | "bigint" => Type::INT8,
        "float4" | "real" | "float" => Type::FLOAT4,
        "float8" | "double" | "double precision" => Type::FLOAT8,
        "numeric" | "decimal" => Type::NUMERIC,
        "bool" | "boolean" => Type::BOOL,
        "text" | "varchar" | "string" => Type::TEXT,
        "date" => Type::DATE,
        "time" => Type::TIME,
        "timestamp" => Type::TIMESTAMP,
        "timestamptz" => Type::TIMESTAMPTZ,
        "json" => Type::JSON,
        "jsonb" => Type::JSONB,
        "uuid" => Type::UUID,
        "bytea" | "blob" => Type::BYTEA,
        "oid" | "regclass" => Type::OID,
        _ => return None,
    })
}

/// The DuckDB type a typed NULL of a Postgres type is cast to (for describing a
/// statement before its parameters are known).
pub fn duckdb_cast_name(ty: &Type) -> Option<&'static str> {
    Some(match ty {
        t if *t == Type::INT2 => "SMALLINT",
        t if *t == Type::INT4 => "INTEGER",
        t if *t == Type::INT8 || *t == Type::OID => "BIGINT",
        t if *t == Type::FLOAT4 => "FLOAT",
        t if *t == Type::FLOAT8 => "DOUBLE",
        t if *t == Type::NUMERIC => "DOUBLE",
        t if *t == Type::BOOL => "BOOLEAN",
        t if *t == Type::DATE => "DATE",
        t if *t == Type::TIME => "TIME",
        t if *t == Type::TIMESTAMP => "TIMESTAMP",
        t if *t == Type::TIMESTAMPTZ => "TIMESTAMPTZ",
        t if *t == Type::UUID => "UUID",
        t if *t == Type::BYTEA => "BLOB",
        _ => return None,
    })
}

/// A SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Midnight, 1 January 2000: day and microsecond 0 of Postgres' binary dates and
/// timestamps.
fn pg_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("2000-01-01 is a valid date")
}
