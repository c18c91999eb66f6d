//! Rendering results for people (aligned tables) and for programs (CSV, JSON), exactly
//! as the CLI contract says: in `csv` and `json` formats stdout carries results only.

use crate::protocol::ResultTable;
use serde_json::Value;
use std::io::{self, Write};

/// Output format of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns and an `N rows` footer.
    #[default]
    Table,
    /// Header row then rows; NULL → empty field.
    Csv,
    /// One JSON array of row objects per result.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format '{other}' (table, csv or json)")),
        }
    }
}

/// Cells wider than this are cut (unless the statement ended with `!`).
pub const MAX_CELL: usize = 50;

/// Write `table` in `format`. `wide` shows cells in full.
pub fn render(
    out: &mut dyn Write,
    table: &ResultTable,
    format: Format,
    wide: bool,
) -> io::Result<()> {
    match format {
        Format::Table => render_table(out, table, wide),
        Format::Csv => render_csv(out, table),
        Format::Json => render_json(out, table),
    }
}

/// A cell as display text (NULL → `NULL` in tables).
fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => format_float(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        let s = format!("{f}");
        if s.len() > 18 {
            format!("{f:.6}")
        } else {
            s
        }
    }
}

fn cut(text: &str, wide: bool) -> String {
    let one_line = if text.contains('\n') || text.contains('\r') {
        text.replace("\r\n", "↵").replace(['\n', '\r'], "↵")
    } else {
        text.to_string()
    };
    if wide || one_line.chars().count() <= MAX_CELL {
        one_line
    } else {
        let mut s: String = one_line.chars().take(MAX_CELL - 1).collect();
        s.push('…');
        s
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn is_numeric(ty: &str) -> bool {
    matches!(ty, "BIGINT" | "DOUBLE" | "DECIMAL" | "INTEGER")
}

fn render_table(out: &mut dyn Write, table: &ResultTable, wide: bool) -> io::Result<()> {
    let cells: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| r.iter().map(|v| cut(&cell_text(v), wide)).collect())
        .collect();
    let mut widths: Vec<usize> = table.columns.iter().map(|c| width(c)).collect();
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(c));
            }
        }
    }
    let numeric: Vec<bool> = (0..table.columns.len())
        .map(|i| table.types.get(i).is_some_and(|t| is_numeric(t)))
        .collect();
    let pad = |s: &str, w: usize, right: bool| {
        let fill = " ".repeat(w.saturating_sub(width(s)));
        if right {
            format!("{fill}{s}")
        } else {
            format!("{s}{fill}")
        }
    };
    let header: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| pad(c, widths[i], numeric[i]))
        .collect();
    writeln!(out, "{}", header.join("  ").trim_end())?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", rule.join("  "))?;
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                pad(
                    c,
                    widths.get(i).copied().unwrap_or(0),
                    numeric.get(i).copied().unwrap_or(false),
                )
            })
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    let n = table.rows.len();
    writeln!(out, "{n} {}", if n == 1 { "row" } else { "rows" })
}

fn csv_field(v: &Value) -> String {
    let text = match v {
        Value::Null => return String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn render_csv(out: &mut dyn Write, table: &ResultTable) -> io::Result<()> {
    let header: Vec<String> = table
        .columns
        .iter()
        .map(|c| csv_field(&Value::String(c.clone())))
        .collect();
    writeln!(out, "{}", header.join(","))?;
    for row in &table.rows {
        let line: Vec<String> = row.iter().map(csv_field).collect();
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}

fn render_json(out: &mut dyn Write, table: &ResultTable) -> io::Result<()> {
    let rows: Vec<Value> = table
        .rows
        .iter()
        .map(|r| {
            let mut obj = serde_json::Map::new();
            for (c, v) in table.columns.iter().zip(r) {
                obj.insert(c.clone(), v.clone());
            }
            Value::Object(obj)
        })
        .collect();
    serde_json::to_writer(&mut *out, &Value::Array(rows))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t() -> ResultTable {
        ResultTable {
            columns: vec!["id".into(), "name".into(), "ok".into()],
            types: vec!["BIGINT".into(), "VARCHAR".into(), "BOOLEAN".into()],
            rows: vec![
                vec![json!(1), json!("a,b"), json!(true)],
                vec![json!(22), Value::Null, json!(false)],
            ],
        }
    }

    fn show(format: Format, wide: bool, table: &ResultTable) -> String {
        let mut buf = Vec::new();
        render(&mut buf, table, format, wide).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn table_is_aligned_with_footer() {
        assert_eq!(
            show(Format::Table, false, &t()),
            "id  name  ok\n--  ----  -----\n 1  a,b   true\n22  NULL  false\n2 rows\n"
        );
    }

    #[test]
    fn csv_and_json_follow_the_contract() {
        assert_eq!(
            show(Format::Csv, false, &t()),
            "id,name,ok\n1,\"a,b\",true\n22,,false\n"
        );
        assert_eq!(
            show(Format::Json, false, &t()),
            "[{\"id\":1,\"name\":\"a,b\",\"ok\":true},{\"id\":22,\"name\":null,\"ok\":false}]\n"
        );
    }

    #[test]
    fn wide_cells_are_cut_unless_wide() {
        let long = "x".repeat(80);
        let table = ResultTable {
            columns: vec!["c".into()],
            types: vec!["VARCHAR".into()],
            rows: vec![vec![json!(long.clone())], vec![json!("line1\nline2")]],
        };
        let narrow = show(Format::Table, false, &table);
        assert!(narrow.contains(&format!("{}…", "x".repeat(49))));
        assert!(narrow.contains("line1↵line2"));
        assert!(show(Format::Table, true, &table).contains(&long));
        assert!(show(
            Format::Table,
            false,
            &ResultTable {
                rows: vec![vec![json!(1)]],
                ..table
            }
        )
        .ends_with("1 row\n"));
    }
}
