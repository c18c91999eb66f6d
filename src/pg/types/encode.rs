//! Cells in the Postgres text and binary formats ([`encode_rows`]), and `numeric` in
//! binary both ways.

use super::{pg_epoch, EncodeError, Kind, PgColumn};
use bytes::{BufMut, BytesMut};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;
use serde_json::Value as Json;

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

/// A cell's JSON text, cut to 40 characters, for an error message.
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

/// Write `v` in the text format.
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

/// A DuckDB timestamp's text (`T` or space, optionally `Z` or `+00`).
fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim_end_matches("+00").trim_end_matches('Z');
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
}

/// Write `v` in binary; false when it does not fit the kind.
fn encode_binary(kind: &Kind, v: &Json, buf: &mut BytesMut) -> bool {
    match kind {
        Kind::Bool => put(buf, v.as_bool().map(u8::from), BytesMut::put_u8),
        Kind::Int2 => put(
            buf,
            json_int(v).and_then(|i| i16::try_from(i).ok()),
            BytesMut::put_i16,
        ),
        Kind::Int4 => put(
            buf,
            json_int(v).and_then(|i| i32::try_from(i).ok()),
            BytesMut::put_i32,
        ),
        Kind::Int8 => put(buf, json_int(v), BytesMut::put_i64),
        Kind::Float4 => put(buf, json_float(v).map(|f| f as f32), BytesMut::put_f32),
        Kind::Float8 => put(buf, json_float(v), BytesMut::put_f64),
        Kind::Numeric { scale, .. } => put(buf, numeric_bytes(*scale, v), put_bytes),
        Kind::Text | Kind::Json => {
            match v {
                Json::String(s) => buf.put_slice(s.as_bytes()),
                other => buf.put_slice(other.to_string().as_bytes()),
            }
            true
        }
        Kind::Date => put(buf, date_days(v), BytesMut::put_i32),
        Kind::Time => put(buf, time_micros(v), BytesMut::put_i64),
        Kind::Timestamp | Kind::TimestampTz => put(buf, timestamp_micros(v), BytesMut::put_i64),
        Kind::Bytea => put(buf, bytea_bytes(v), put_bytes),
        Kind::Uuid => put(
            buf,
            v.as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .map(|u| u.as_bytes().to_vec()),
            put_bytes,
        ),
        Kind::Array(inner) => encode_binary_array(inner, v, buf),
    }
}

/// Write `value` with `write` when there is one; false when there is none.
fn put<T>(buf: &mut BytesMut, value: Option<T>, write: impl FnOnce(&mut BytesMut, T)) -> bool {
    match value {
        Some(v) => {
            write(buf, v);
            true
        }
        None => false,
    }
}

/// Append `bytes` (a [`put`] writer).
fn put_bytes(buf: &mut BytesMut, bytes: Vec<u8>) {
    buf.put_slice(&bytes);
}

/// An integer cell (a number, a numeric string, or a boolean as 0/1).
fn json_int(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        Json::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A floating-point cell (a number or a numeric string).
fn json_float(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A `numeric` cell in binary, with `scale` digits when known.
fn numeric_bytes(scale: Option<u32>, v: &Json) -> Option<Vec<u8>> {
    let text = match v {
        Json::Number(n) => numeric_text(n, scale),
        Json::String(s) => s.clone(),
        _ => return None,
    };
    numeric_binary(&text)
}

/// A `date` cell (`YYYY-MM-DD`) as days since 2000-01-01.
fn date_days(v: &Json) -> Option<i32> {
    let d = NaiveDate::parse_from_str(v.as_str()?, "%Y-%m-%d").ok()?;
    Some((d - pg_epoch().date()).num_days() as i32)
}

/// A `time` cell as microseconds since midnight.
fn time_micros(v: &Json) -> Option<i64> {
    let t = NaiveTime::parse_from_str(v.as_str()?, "%H:%M:%S%.f").ok()?;
    Some(i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1000))
}

/// A `timestamp` cell as microseconds since 2000-01-01 00:00.
fn timestamp_micros(v: &Json) -> Option<i64> {
    (parse_timestamp(v.as_str()?)? - pg_epoch()).num_microseconds()
}

/// A `bytea` cell (`\x0102…`) as its bytes.
fn bytea_bytes(v: &Json) -> Option<Vec<u8>> {
    hex::decode(v.as_str()?.strip_prefix("\\x")?).ok()
}

/// A one-dimensional array cell in binary: header, then each element with its length
/// (-1 for NULL); false when an element does not fit `inner`.
fn encode_binary_array(inner: &Kind, v: &Json, buf: &mut BytesMut) -> bool {
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
