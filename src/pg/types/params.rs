//! Bound parameters as SQL literals ([`param_literal`]), from the text or the binary
//! format, typed as the client declared them.

use super::encode::numeric_from_binary;
use super::{pg_epoch, quote, ParamError};
use chrono::NaiveTime;
use pgwire::api::Type;

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
    binary_literal(&ty, bytes).map_err(err)
}

/// The types whose binary form is their UTF-8 text.
const TEXT_TYPES: &[Type] = &[
    Type::TEXT,
    Type::VARCHAR,
    Type::BPCHAR,
    Type::NAME,
    Type::UNKNOWN,
    Type::JSON,
    Type::CHAR,
];

/// A binary-format parameter of type `ty` as a literal, or what is wrong with it.
fn binary_literal(ty: &Type, bytes: &[u8]) -> Result<String, String> {
    if let Some(lit) = binary_number_literal(ty, bytes)? {
        return Ok(lit);
    }
    if let Some(lit) = binary_time_literal(ty, bytes)? {
        return Ok(lit);
    }
    let utf8 = || std::str::from_utf8(bytes).map_err(|_| "is not valid UTF-8".to_string());
    Ok(match ty {
        t if *t == Type::BYTEA => blob_literal(bytes),
        t if *t == Type::UUID => {
            let u = uuid::Uuid::from_slice(bytes).map_err(|e| e.to_string())?;
            format!("'{u}'::UUID")
        }
        t if *t == Type::JSONB => {
            let body = bytes
                .strip_prefix(&[1u8])
                .ok_or_else(|| "binary jsonb must start with version 1".to_string())?;
            quote(std::str::from_utf8(body).map_err(|_| "is not valid UTF-8".to_string())?)
        }
        t if TEXT_TYPES.contains(t) => quote(utf8()?),
        other => {
            return Err(format!(
                "binary parameters of type {} are not supported; send it in text format",
                other.name()
            ))
        }
    })
}

/// The `N` bytes of a fixed-size binary value of type `ty`, or the size error.
fn fixed<const N: usize>(ty: &Type, bytes: &[u8]) -> Result<[u8; N], String> {
    bytes.try_into().map_err(|_| {
        format!(
            "binary {} must be {N} bytes, got {}",
            ty.name(),
            bytes.len()
        )
    })
}

/// A binary boolean, integer, float or numeric as a literal; `None` for other types.
fn binary_number_literal(ty: &Type, bytes: &[u8]) -> Result<Option<String>, String> {
    Ok(Some(match ty {
        t if *t == Type::BOOL => (if fixed::<1>(t, bytes)?[0] != 0 {
            "TRUE"
        } else {
            "FALSE"
        })
        .into(),
        t if *t == Type::INT2 => i16::from_be_bytes(fixed(t, bytes)?).to_string(),
        t if *t == Type::INT4 => i32::from_be_bytes(fixed(t, bytes)?).to_string(),
        t if *t == Type::INT8 => i64::from_be_bytes(fixed(t, bytes)?).to_string(),
        t if *t == Type::OID => u32::from_be_bytes(fixed(t, bytes)?).to_string(),
        t if *t == Type::FLOAT4 => float_literal(f64::from(f32::from_be_bytes(fixed(t, bytes)?))),
        t if *t == Type::FLOAT8 => float_literal(f64::from_be_bytes(fixed(t, bytes)?)),
        t if *t == Type::NUMERIC => numeric_from_binary(bytes)
            .and_then(|text| text_literal(&Type::NUMERIC, &text))
            .ok_or_else(|| "bad binary numeric".to_string())?,
        _ => return Ok(None),
    }))
}

/// A binary date, timestamp or time as a literal; `None` for other types.
fn binary_time_literal(ty: &Type, bytes: &[u8]) -> Result<Option<String>, String> {
    Ok(Some(match ty {
        t if *t == Type::DATE => {
            let days = i32::from_be_bytes(fixed(t, bytes)?);
            match days {
                // Postgres sends ±infinity as the extreme values.
                i32::MAX => "DATE 'infinity'".to_string(),
                i32::MIN => "DATE '-infinity'".to_string(),
                _ => {
                    let d = pg_epoch()
                        .date()
                        .checked_add_signed(chrono::Duration::days(i64::from(days)))
                        .ok_or_else(|| {
                            format!("date {days} days from 2000-01-01 is out of range")
                        })?;
                    format!("DATE '{d}'")
                }
            }
        }
        t if *t == Type::TIMESTAMP || *t == Type::TIMESTAMPTZ => {
            let us = i64::from_be_bytes(fixed(t, bytes)?);
            let name = if *t == Type::TIMESTAMP {
                "TIMESTAMP"
            } else {
                "TIMESTAMPTZ"
            };
            match us {
                i64::MAX => format!("{name} 'infinity'"),
                i64::MIN => format!("{name} '-infinity'"),
                _ => {
                    let ts = pg_epoch()
                        .checked_add_signed(chrono::Duration::microseconds(us))
                        .ok_or_else(|| {
                            format!("timestamp {us} µs from 2000-01-01 is out of range")
                        })?;
                    format!("{name} '{}'", ts.format("%Y-%m-%d %H:%M:%S%.6f"))
                }
            }
        }
        t if *t == Type::TIME => {
            let us = i64::from_be_bytes(fixed(t, bytes)?);
            let t = NaiveTime::from_hms_opt(0, 0, 0).expect("midnight is a valid time")
                + chrono::Duration::microseconds(us);
            format!("TIME '{}'", t.format("%H:%M:%S%.6f"))
        }
        _ => return Ok(None),
    }))
}

/// A float as a literal (`'NaN'::DOUBLE` and the infinities quoted).
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

/// Bytes as a `BLOB` literal (`'\x01\x02'::BLOB`).
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
