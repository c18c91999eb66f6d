//! Column types and cells: what a JSON value becomes in DuckDB, and how a column's type
//! widens when later values disagree (int → double → varchar), so no row is ever
//! dropped for its shape.

use duckdb::types::{TimeUnit, ToSql, ToSqlOutput, ValueRef};

/// The type of a column, as inferred from the values seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColType {
    /// Only nulls so far (stored as VARCHAR until a value arrives).
    Null,
    /// `true`/`false`.
    Boolean,
    /// 64-bit integers.
    BigInt,
    /// Floating point.
    Double,
    /// `YYYY-MM-DD` strings.
    Date,
    /// ISO-8601 date-times, normalised to UTC.
    Timestamp,
    /// Text.
    Varchar,
    /// Lists (and objects inside lists), as JSON text.
    Json,
}

impl ColType {
    /// The DuckDB type name.
    pub fn sql(self) -> &'static str {
        match self {
            ColType::Null | ColType::Varchar => "VARCHAR",
            ColType::Boolean => "BOOLEAN",
            ColType::BigInt => "BIGINT",
            ColType::Double => "DOUBLE",
            ColType::Date => "DATE",
            ColType::Timestamp => "TIMESTAMP",
            ColType::Json => "JSON",
        }
    }

    /// The narrowest type holding values of both types.
    pub fn widen(self, other: ColType) -> ColType {
        use ColType::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Null, b) => b,
            (a, Null) => a,
            (BigInt, Double) | (Double, BigInt) => Double,
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            _ => Varchar,
        }
    }

    /// Read back a DuckDB type name (for tables created earlier).
    pub fn from_sql(name: &str) -> ColType {
        match name.to_ascii_uppercase().as_str() {
            "BOOLEAN" => ColType::Boolean,
            "BIGINT" | "INTEGER" | "SMALLINT" | "TINYINT" | "HUGEINT" | "UBIGINT" | "UINTEGER" => {
                ColType::BigInt
            }
            "DOUBLE" | "FLOAT" | "REAL" => ColType::Double,
            "DATE" => ColType::Date,
            "TIMESTAMP" | "TIMESTAMP WITH TIME ZONE" | "TIMESTAMPTZ" => ColType::Timestamp,
            "JSON" => ColType::Json,
            _ => ColType::Varchar,
        }
    }
}

/// One value on its way into a DuckDB column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// Text.
    Text(String),
    /// JSON text of a list or object.
    Json(String),
}

impl Cell {
    /// A cell from a JSON string: dates and ISO-8601 timestamps are recognised.
    pub fn from_text(s: String) -> Cell {
        match parse_temporal(&s) {
            Some(Temporal::Date(d)) => Cell::Date(d),
            Some(Temporal::Timestamp(t)) => Cell::Timestamp(t),
            None => Cell::Text(s),
        }
    }

    /// The type this cell asks its column for.
    pub fn col_type(&self) -> ColType {
        match self {
            Cell::Null => ColType::Null,
            Cell::Bool(_) => ColType::Boolean,
            Cell::Int(_) => ColType::BigInt,
            Cell::Float(_) => ColType::Double,
            Cell::Date(_) => ColType::Date,
            Cell::Timestamp(_) => ColType::Timestamp,
            Cell::Text(_) => ColType::Varchar,
            Cell::Json(_) => ColType::Json,
        }
    }

    /// Convert to the representation of a column of type `ty` (which is always at
    /// least as wide as this cell's own type).
    pub fn coerce(self, ty: ColType) -> Cell {
        match (ty, self) {
            (_, Cell::Null) => Cell::Null,
            (ColType::Double, Cell::Int(i)) => Cell::Float(i as f64),
            (ColType::Timestamp, Cell::Date(d)) => Cell::Timestamp(i64::from(d) * 86_400_000_000),
            (ColType::Varchar | ColType::Null, cell) => match cell {
                Cell::Text(s) | Cell::Json(s) => Cell::Text(s),
                Cell::Bool(b) => Cell::Text(b.to_string()),
                Cell::Int(i) => Cell::Text(i.to_string()),
                Cell::Float(f) => Cell::Text(format_float(f)),
                Cell::Date(d) => Cell::Text(format_date(d)),
                Cell::Timestamp(t) => Cell::Text(format_timestamp(t)),
                Cell::Null => Cell::Null,
            },
            (_, cell) => cell,
        }
    }
}

impl ToSql for Cell {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::Bool(b) => ValueRef::Boolean(*b),
            Cell::Int(i) => ValueRef::BigInt(*i),
            Cell::Float(f) => ValueRef::Double(*f),
            Cell::Date(d) => ValueRef::Date32(*d),
            Cell::Timestamp(t) => ValueRef::Timestamp(TimeUnit::Microsecond, *t),
            Cell::Text(s) | Cell::Json(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

fn format_date(days: i32) -> String {
    crate::values::date_text(days).unwrap_or_default()
}

fn format_timestamp(micros: i64) -> String {
    crate::values::timestamp_text(micros).unwrap_or_default()
}

enum Temporal {
    Date(i32),
    Timestamp(i64),
}

/// Strict ISO-8601: `YYYY-MM-DD`, optionally `T`/space time with seconds, fraction and
/// zone. Anything else (phone numbers, `12/31/2022`, `10:20:30`) stays text.
fn parse_temporal(s: &str) -> Option<Temporal> {
    let b = s.as_bytes();
    if b.len() < 10
        || b.len() > 35
        || b[4] != b'-'
        || b[7] != b'-'
        || !b[..4].iter().all(u8::is_ascii_digit)
        || !b[5..7].iter().all(u8::is_ascii_digit)
        || !b[8..10].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    if b.len() == 10 {
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
        return i32::try_from((d - epoch).num_days())
            .ok()
            .map(Temporal::Date);
    }
    if b[10] != b'T' && b[10] != b' ' {
        return None;
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(Temporal::Timestamp(dt.timestamp_micros()));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(dt) = chrono::DateTime::parse_from_str(s, fmt) {
            return Some(Temporal::Timestamp(dt.timestamp_micros()));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Temporal::Timestamp(dt.and_utc().timestamp_micros()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_lattice() {
        use ColType::*;
        assert_eq!(Null.widen(BigInt), BigInt);
        assert_eq!(BigInt.widen(Double), Double);
        assert_eq!(Double.widen(Varchar), Varchar);
        assert_eq!(BigInt.widen(Varchar), Varchar);
        assert_eq!(Boolean.widen(BigInt), Varchar);
        assert_eq!(Date.widen(Timestamp), Timestamp);
        assert_eq!(Timestamp.widen(Varchar), Varchar);
        assert_eq!(Json.widen(Varchar), Varchar);
        assert_eq!(Json.widen(Null), Json);
    }

    #[test]
    fn temporal_recognition_is_strict() {
        assert_eq!(
            Cell::from_text("2023-01-05T10:00:00Z".into()),
            Cell::Timestamp(1_672_912_800_000_000)
        );
        assert_eq!(
            Cell::from_text("2023-01-05T12:00:00+02:00".into()),
            Cell::Timestamp(1_672_912_800_000_000)
        );
        assert_eq!(
            Cell::from_text("2023-01-05 10:00:00".into()),
            Cell::Timestamp(1_672_912_800_000_000)
        );
        assert_eq!(Cell::from_text("2023-01-05".into()), Cell::Date(19_362));
        for text in [
            "555-123-4567",
            "12/31/2022",
            "10:20:30",
            "2023-13-45",
            "2023-01-05x",
        ] {
            assert_eq!(
                Cell::from_text(text.into()),
                Cell::Text(text.into()),
                "{text}"
            );
        }
    }

    #[test]
    fn coercion_to_wider_columns() {
        assert_eq!(Cell::Int(3).coerce(ColType::Double), Cell::Float(3.0));
        assert_eq!(
            Cell::Int(3).coerce(ColType::Varchar),
            Cell::Text("3".into())
        );
        assert_eq!(
            Cell::Float(2.0).coerce(ColType::Varchar),
            Cell::Text("2.0".into())
        );
        assert_eq!(
            Cell::Bool(true).coerce(ColType::Varchar),
            Cell::Text("true".into())
        );
        assert_eq!(
            Cell::Timestamp(1_672_912_800_000_000).coerce(ColType::Varchar),
            Cell::Text("2023-01-05 10:00:00".into())
        );
        assert_eq!(
            Cell::Date(19_362).coerce(ColType::Timestamp),
            Cell::Timestamp(19_362 * 86_400_000_000)
        );
    }
}
