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

use crate::protocol::ResultTable;
use bytes::{BufMut, BytesMut};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::messages::data::DataRow;
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

/// Encode a chunk of rows. Columns beyond the row description are dropped; missing
/// cells are NULL.
pub fn encode_rows(
    columns: &[PgColumn],
    fields: &[FieldInfo],
    rows: &[Vec<Json>],
) -> Result<Vec<DataRow>, EncodeError> {
    let mut out = Vec::with_capacity(rows.len());
    let mut buf = BytesMut::with_capacity(256);
    for row in rows {
        for (i, field) in fields.iter().enumerate() {
            let cell = row.get(i).unwrap_or(&Json::Null);
            let kind = columns.get(i).map_or(&Kind::Text, |c| &c.kind);
            if cell.is_null() {
                buf.put_i32(-1);
                continue;
            }
            let at = buf.len();
            buf.put_i32(0);
            if field.format() == FieldFormat::Binary {
                if !encode_binary(kind, cell, &mut buf) {
                    return Err(EncodeError {
                        column: field.name().to_string(),
                        ty: kind.pg_type().name().to_string(),
                        value: short(cell),
                    });
                }
            } else {
                encode_text(kind, cell, &mut buf);
            }
            let len = (buf.len() - at - 4) as i32;
            buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        out.push(DataRow::new(buf.split(), fields.len() as i16));
    }
    Ok(out)
}

fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// A cell as Postgres text.
pub fn text_of(kind: &Kind, v: &Json) -> String {
    let mut buf = BytesMut::new();
    encode_text(kind, v, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn encode_text(kind: &Kind, v: &Json, buf: &mut BytesMut) {
    match (kind, v) {
        (Kind::Bool, Json::Bool(b)) => buf.put_slice(if *b { b"t" } else { b"f" }),
        (Kind::Float4, Json::Number(n)) => {
            let f = n.as_f64().unwrap_or(0.0) as f32;
            buf.put_slice(f.to_string().as_bytes())
        }
        (Kind::Float8, Json::Number(n)) => {
            buf.put_slice(n.as_f64().unwrap_or(0.0).to_string().as_bytes())
        }
        (Kind::Numeric { scale, .. }, Json::Number(n)) => {
            buf.put_slice(numeric_text(n, *scale).as_bytes())
        }
        (Kind::TimestampTz, Json::String(s)) => {
            buf.put_slice(s.as_bytes());
            if !s.contains('+') {
                buf.put_slice(b"+00");
            }
        }
        (Kind::Array(inner), Json::Array(items)) => {
            buf.put_u8(b'{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    buf.put_u8(b',');
                }
                if item.is_null() {
                    buf.put_slice(b"NULL");
                    continue;
                }
                let text = text_of(inner, item);
                let plain = !text.is_empty()
                    && !text.eq_ignore_ascii_case("null")
                    && !text
                        .chars()
                        .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
                if plain {
                    buf.put_slice(text.as_bytes());
                } else {
                    buf.put_u8(b'"');
                    for c in text.chars() {
                        if c == '"' || c == '\\' {
                            buf.put_u8(b'\\');
                        }
                        let mut tmp = [0u8; 4];
                        buf.put_slice(c.encode_utf8(&mut tmp).as_bytes());
                    }
                    buf.put_u8(b'"');
                }
            }
            buf.put_u8(b'}');
        }
        (_, Json::String(s)) => buf.put_slice(s.as_bytes()),
        (_, Json::Bool(b)) => buf.put_slice(if *b { b"true" } else { b"false" }),
        (_, Json::Number(n)) => buf.put_slice(n.to_string().as_bytes()),
        (_, other) => buf.put_slice(other.to_string().as_bytes()),
    }
}

/// A number as `numeric` text: with `scale` digits after the point when known.
fn numeric_text(n: &serde_json::Number, scale: Option<u32>) -> String {
    if n.is_i64() || n.is_u64() {
        let s = n.to_string();
        return match scale {
            Some(sc) if sc > 0 => format!("{s}.{}", "0".repeat(sc as usize)),
            _ => s,
        };
    }
    let f = n.as_f64().unwrap_or(0.0);
    match scale {
        Some(sc) => format!("{:.*}", sc as usize, f),
        // Display of f64 never uses an exponent, and is the shortest exact form.
        None => f.to_string(),
    }
}

fn pg_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("2000-01-01 is a valid date")
}

fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim_end_matches("+00").trim_end_matches('Z');
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
}

/// Write `v` in binary; false when it does not fit the kind.
fn encode_binary(kind: &Kind, v: &Json, buf: &mut BytesMut) -> bool {
    let int = || match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        Json::Bool(b) => Some(i64::from(*b)),
        _ => None,
    };
    let float = || match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    };
    match kind {
        Kind::Bool => match v {
            Json::Bool(b) => buf.put_u8(u8::from(*b)),
            _ => return false,
        },
        Kind::Int2 => match int().and_then(|i| i16::try_from(i).ok()) {
            Some(i) => buf.put_i16(i),
            None => return false,
        },
        Kind::Int4 => match int().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => buf.put_i32(i),
            None => return false,
        },
        Kind::Int8 => match int() {
            Some(i) => buf.put_i64(i),
            None => return false,
        },
        Kind::Float4 => match float() {
            Some(f) => buf.put_f32(f as f32),
            None => return false,
        },
        Kind::Float8 => match float() {
            Some(f) => buf.put_f64(f),
            None => return false,
        },
        Kind::Numeric { scale, .. } => {
            let text = match v {
                Json::Number(n) => numeric_text(n, *scale),
                Json::String(s) => s.clone(),
                _ => return false,
            };
            match numeric_binary(&text) {
                Some(bytes) => buf.put_slice(&bytes),
                None => return false,
            }
        }
        Kind::Text | Kind::Json => match v {
            Json::String(s) => buf.put_slice(s.as_bytes()),
            other => buf.put_slice(other.to_string().as_bytes()),
        },
        Kind::Date => match v
            .as_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        {
            Some(d) => buf.put_i32((d - pg_epoch().date()).num_days() as i32),
            None => return false,
        },
        Kind::Time => match v
            .as_str()
            .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok())
        {
            Some(t) => buf.put_i64(
                i64::from(t.num_seconds_from_midnight()) * 1_000_000
                    + i64::from(t.nanosecond() / 1000),
            ),
            None => return false,
        },
        Kind::Timestamp | Kind::TimestampTz => match v.as_str().and_then(parse_timestamp) {
            Some(ts) => match (ts - pg_epoch()).num_microseconds() {
                Some(us) => buf.put_i64(us),
                None => return false,
            },
            None => return false,
        },
        Kind::Bytea => match v
            .as_str()
            .and_then(|s| s.strip_prefix("\\x"))
            .and_then(|h| hex::decode(h).ok())
        {
            Some(bytes) => buf.put_slice(&bytes),
            None => return false,
        },
        Kind::Uuid => match v.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()) {
            Some(u) => buf.put_slice(u.as_bytes()),
            None => return false,
        },
        Kind::Array(inner) => {
            let Json::Array(items) = v else {
                return false;
            };
            buf.put_i32(1);
            buf.put_i32(i32::from(items.iter().any(Json::is_null)));
            buf.put_u32(inner.pg_type().oid());
            buf.put_i32(items.len() as i32);
            buf.put_i32(1);
            for item in items {
                if item.is_null() {
                    buf.put_i32(-1);
                    continue;
                }
                let at = buf.len();
                buf.put_i32(0);
                if !encode_binary(inner, item, buf) {
                    return false;
                }
                let len = (buf.len() - at - 4) as i32;
                buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
    }
    true
}

/// A decimal number's text as Postgres' binary `numeric`: ndigits, weight, sign,
/// dscale, then base-10000 digits.
pub fn numeric_binary(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int_part, frac_part) = t.split_once('.').unwrap_or((t, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.chars().all(|c| c.is_ascii_digit())
        || !frac_part.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let dscale = frac_part.len() as i16;
    // Pad the integer part on the left and the fraction on the right to whole groups.
    let int_digits = int_part.trim_start_matches('0');
    let pad_left = (4 - int_digits.len() % 4) % 4;
    let pad_right = (4 - frac_part.len() % 4) % 4;
    let all = format!(
        "{}{}{}{}",
        "0".repeat(pad_left),
        int_digits,
        frac_part,
        "0".repeat(pad_right)
    );
    let mut groups: Vec<i16> = all
        .as_bytes()
        .chunks(4)
        .map(|c| {
            c.iter()
                .fold(0i16, |acc, d| acc * 10 + i16::from(*d - b'0'))
        })
        .collect();
    let int_groups = (int_digits.len() + pad_left) / 4;
    let mut weight = int_groups as i16 - 1;
    // Strip leading zero groups (each moves the weight down) and trailing ones.
    let mut lead = 0;
    while lead < groups.len() && groups[lead] == 0 {
        lead += 1;
        weight -= 1;
    }
    groups.drain(..lead);
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + groups.len() * 2);
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    let sign: u16 = if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

/// Postgres' binary `numeric` as decimal text.
pub(crate) fn numeric_from_binary(b: &[u8]) -> Option<String> {
    let get = |i: usize| -> Option<i16> { Some(i16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])) };
    let ndigits = get(0)? as usize;
    let weight = get(2)?;
    let sign = get(4)? as u16;
    let dscale = get(6)?.max(0) as usize;
    if sign == 0xC000 {
        return Some("NaN".into());
    }
    let digits: Vec<i16> = (0..ndigits)
        .map(|i| get(8 + 2 * i))
        .collect::<Option<_>>()?;
    let mut int_part = String::new();
    let mut frac_part = String::new();
    for (i, d) in digits.iter().enumerate() {
        let pos = weight - i as i16;
        let s = format!("{d:04}");
        if pos >= 0 {
            int_part.push_str(&s);
        } else {
            frac_part.push_str(&s);
        }
    }
    // Groups between the last digit and the point (weight beyond the digits).
    let last_pos = weight - ndigits as i16 + 1;
    if last_pos > 0 {
        for _ in 0..last_pos {
            int_part.push_str("0000");
        }
    }
    // Leading zero groups after the point.
    if weight < -1 {
        frac_part.insert_str(0, &"0000".repeat((-1 - weight) as usize));
    }
    let int_part = int_part.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let mut frac: String = frac_part.chars().take(dscale).collect();
    while frac.len() < dscale {
        frac.push('0');
    }
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    out.push_str(int_part);
    if dscale > 0 {
        out.push('.');
        out.push_str(&frac);
    }
    Some(out)
}

/// A SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// True for a plain decimal number (what may be inlined as a numeric literal).
fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (a, b) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.chars().all(|c| c.is_ascii_digit());
    !(a.is_empty() && b.is_empty())
        && digits(a)
        && digits(b)
        && exp.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && digits(e)
        })
}

/// A bound parameter as a SQL literal DuckDB reads as the declared type. Untyped and
/// text parameters become plain string literals, which DuckDB casts to whatever they
/// are compared with (as Postgres does with `unknown`).
pub fn param_literal(
    index: usize,
    ty: Option<&Type>,
    binary: bool,
    value: Option<&[u8]>,
) -> Result<String, ParamError> {
    let err = |message: String| ParamError { index, message };
    let Some(bytes) = value else {
        return Ok("NULL".into());
    };
    let ty = ty.cloned().unwrap_or(Type::UNKNOWN);
    if !binary {
        let text = std::str::from_utf8(bytes).map_err(|_| err("is not valid UTF-8".into()))?;
        return text_literal(&ty, text)
            .ok_or_else(|| err(format!("{text:?} is not a valid {}", ty.name())));
    }
    let fixed = |n: usize| -> Result<&[u8], ParamError> {
        if bytes.len() == n {
            Ok(bytes)
        } else {
            Err(err(format!(
                "binary {} must be {n} bytes, got {}",
                ty.name(),
                bytes.len()
            )))
        }
    };
    let lit = match &ty {
        t if *t == Type::BOOL => (if fixed(1)?[0] != 0 { "TRUE" } else { "FALSE" }).into(),
        t if *t == Type::INT2 => {
            i16::from_be_bytes(fixed(2)?.try_into().expect("2 bytes")).to_string()
        }
        t if *t == Type::INT4 => {
            i32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes")).to_string()
        }
        t if *t == Type::INT8 => {
            i64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes")).to_string()
        }
        t if *t == Type::OID => {
            u32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes")).to_string()
        }
        t if *t == Type::FLOAT4 => float_literal(f64::from(f32::from_be_bytes(
            fixed(4)?.try_into().expect("4 bytes"),
        ))),
        t if *t == Type::FLOAT8 => {
            float_literal(f64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes")))
        }
        t if *t == Type::NUMERIC => {
            let text =
                numeric_from_binary(bytes).ok_or_else(|| err("bad binary numeric".into()))?;
            text_literal(&Type::NUMERIC, &text).ok_or_else(|| err("bad binary numeric".into()))?
        }
        t if *t == Type::DATE => {
            let days = i32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes"));
            let d = pg_epoch().date() + chrono::Duration::days(i64::from(days));
            format!("DATE '{d}'")
        }
        t if *t == Type::TIMESTAMP || *t == Type::TIMESTAMPTZ => {
            let us = i64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes"));
            let ts = pg_epoch() + chrono::Duration::microseconds(us);
            let name = if *t == Type::TIMESTAMP {
                "TIMESTAMP"
            } else {
                "TIMESTAMPTZ"
            };
            format!("{name} '{}'", ts.format("%Y-%m-%d %H:%M:%S%.6f"))
        }
        t if *t == Type::TIME => {
            let us = i64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes"));
            let t = NaiveTime::from_hms_opt(0, 0, 0).expect("midnight is a valid time")
                + chrono::Duration::microseconds(us);
            format!("TIME '{}'", t.format("%H:%M:%S%.6f"))
        }
        t if *t == Type::BYTEA => blob_literal(bytes),
        t if *t == Type::UUID => {
            let u = uuid::Uuid::from_slice(bytes).map_err(|e| err(e.to_string()))?;
            format!("'{u}'::UUID")
        }
        t if *t == Type::JSONB => {
            let body = bytes
                .strip_prefix(&[1u8])
                .ok_or_else(|| err("binary jsonb must start with version 1".into()))?;
            quote(std::str::from_utf8(body).map_err(|_| err("is not valid UTF-8".into()))?)
        }
        t if [
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::NAME,
            Type::UNKNOWN,
            Type::JSON,
            Type::CHAR,
        ]
        .contains(t) =>
        {
            quote(std::str::from_utf8(bytes).map_err(|_| err("is not valid UTF-8".into()))?)
        }
        other => {
            return Err(err(format!(
                "binary parameters of type {} are not supported; send it in text format",
                other.name()
            )))
        }
    };
    Ok(lit)
}

fn float_literal(f: f64) -> String {
    if f.is_finite() {
        format!("{f:?}")
    } else if f.is_nan() {
        "'NaN'::DOUBLE".into()
    } else if f > 0.0 {
        "'Infinity'::DOUBLE".into()
    } else {
        "'-Infinity'::DOUBLE".into()
    }
}

fn blob_literal(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 4 + 10);
    s.push('\'');
    for b in bytes {
        s.push_str(&format!("\\x{b:02X}"));
    }
    s.push_str("'::BLOB");
    s
}

/// A text-format parameter as a literal; `None` when it is not a valid value.
fn text_literal(ty: &Type, text: &str) -> Option<String> {
    let t = text.trim();
    Some(match ty {
        ty if [Type::INT2, Type::INT4, Type::INT8, Type::OID, Type::NUMERIC].contains(ty) => {
            if !is_number(t) || (*ty != Type::NUMERIC && t.contains(['.', 'e', 'E'])) {
                return None;
            }
            if t.starts_with('-') {
                format!("({t})")
            } else {
                t.to_string()
            }
        }
        ty if *ty == Type::FLOAT4 || *ty == Type::FLOAT8 => {
            if is_number(t) {
                if t.starts_with('-') {
                    format!("({t})")
                } else {
                    t.to_string()
                }
            } else {
                match t.to_ascii_lowercase().as_str() {
                    "nan" | "infinity" | "-infinity" | "inf" | "-inf" => {
                        format!("{}::DOUBLE", quote(t))
                    }
                    _ => return None,
                }
            }
        }
        ty if *ty == Type::BOOL => match t.to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => "TRUE".into(),
            "f" | "false" | "n" | "no" | "off" | "0" => "FALSE".into(),
            _ => return None,
        },
        ty if *ty == Type::DATE => format!("DATE {}", quote(t)),
        ty if *ty == Type::TIMESTAMP => format!("TIMESTAMP {}", quote(t)),
        ty if *ty == Type::TIMESTAMPTZ => format!("TIMESTAMPTZ {}", quote(t)),
        ty if *ty == Type::TIME => format!("TIME {}", quote(t)),
        ty if *ty == Type::UUID => format!("{}::UUID", quote(t)),
        ty if *ty == Type::BYTEA => match t.strip_prefix("\\x").map(hex::decode) {
            Some(Ok(bytes)) => blob_literal(&bytes),
            _ => format!("{}::BLOB", quote(text)),
        },
        _ => quote(text),
    })
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
