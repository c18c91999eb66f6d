//! DuckDB values as text and JSON: one place that decides how results look in every
//! output format (table, csv, json) and in `sql@` parameters.

use duckdb::types::Value;
use serde_json::Value as Json;

/// A value as JSON: numbers as numbers, booleans as booleans, NULL as null, everything
/// else (timestamps, decimals, lists rendered as text) as strings.
pub fn to_json(v: Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::TinyInt(i) => Json::from(i),
        Value::SmallInt(i) => Json::from(i),
        Value::Int(i) => Json::from(i),
        Value::BigInt(i) => Json::from(i),
        Value::UTinyInt(i) => Json::from(i),
        Value::USmallInt(i) => Json::from(i),
        Value::UInt(i) => Json::from(i),
        Value::UBigInt(i) => Json::from(i),
        Value::HugeInt(i) => i64::try_from(i)
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(i.to_string())),
        Value::Float(f) => number(f64::from(f)),
        Value::Double(f) => number(f),
        Value::Decimal(d) => d
            .to_string()
            .parse::<f64>()
            .map(number)
            .unwrap_or_else(|_| Json::String(d.to_string())),
        Value::Text(s) => Json::String(s),
        Value::List(items) | Value::Array(items) => {
            Json::Array(items.into_iter().map(to_json).collect())
        }
        Value::Struct(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v.clone())))
                .collect(),
        ),
        other => Json::String(text(&other)),
    }
}

fn number(f: f64) -> Json {
    serde_json::Number::from_f64(f)
        .map(Json::Number)
        .unwrap_or(Json::Null)
}

/// A value as display text; NULL as the empty string.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Boolean(b) => b.to_string(),
        Value::TinyInt(i) => i.to_string(),
        Value::SmallInt(i) => i.to_string(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(i) => i.to_string(),
        Value::HugeInt(i) => i.to_string(),
        Value::UTinyInt(i) => i.to_string(),
        Value::USmallInt(i) => i.to_string(),
        Value::UInt(i) => i.to_string(),
        Value::UBigInt(i) => i.to_string(),
        Value::UHugeInt(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(f) => f.to_string(),
        Value::Decimal(d) => d.to_string(),
        Value::Text(s) | Value::Enum(s) => s.clone(),
        Value::Timestamp(unit, n) => {
            timestamp_text(unit.to_micros(*n)).unwrap_or_else(|| n.to_string())
        }
        Value::Date32(days) => date_text(*days).unwrap_or_else(|| days.to_string()),
        Value::Time64(unit, n) => {
            let micros = unit.to_micros(*n);
            let secs = micros / 1_000_000;
            format!(
                "{:02}:{:02}:{:02}",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            )
        }
        Value::Interval {
            months,
            days,
            nanos,
        } => {
            format!("{months} months {days} days {}s", nanos / 1_000_000_000)
        }
        Value::Blob(b) => format!("\\x{}", hex::encode(b)),
        Value::List(items) | Value::Array(items) => format!(
            "[{}]",
            items.iter().map(text).collect::<Vec<_>>().join(", ")
        ),
        Value::Struct(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("'{k}': {}", text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}={}", text(k), text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Union(inner) => text(inner),
        other => format!("{other:?}"),
    }
}

/// A UTC timestamp in µs as `YYYY-MM-DD HH:MM:SS[.ffffff]` (DuckDB's own rendering).
pub fn timestamp_text(micros: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros).map(|d| {
        if micros % 1_000_000 == 0 {
            d.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string()
        } else {
            d.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string()
        }
    })
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
pub fn date_text(days: i32) -> Option<String> {
    chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
        .map(|d| d.date_naive().to_string())
}
