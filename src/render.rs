//! Rendering results for people (boxed tables, markdown, one line per field) and for
//! programs (CSV, JSON, JSON lines), exactly as the CLI contract says: in `csv`, `json`
//! and `jsonl` formats stdout carries results only.
//!
//! Results may arrive in chunks ([`ResultWriter::rows`]): the machine formats stream
//! each chunk out as it comes; the human formats keep what they show (all rows, or the
//! first and last rows when [`Layout::max_rows`] cuts a large result, as the duckdb shell
//! does) and draw the table at the end.

use crate::protocol::ResultTable;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{self, Write};
use unicode_width::UnicodeWidthStr;

/// Output format of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A boxed table followed by an `N rows` line.
    #[default]
    Table,
    /// Header row then rows; NULL → empty field.
    Csv,
    /// One JSON array of row objects per result.
    Json,
    /// One JSON object per row, one per line.
    Jsonl,
    /// A GitHub-flavoured markdown table.
    Markdown,
    /// One `column = value` line per field, a blank line between rows.
    Line,
}

impl Format {
    /// Every format, as `--help` and errors list them.
    pub const NAMES: &'static str = "table, csv, json, jsonl, markdown or line";

    /// The format's name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Markdown => "markdown",
            Format::Line => "line",
        }
    }

    /// True for the formats read by programs: stdout carries results and nothing else.
    pub fn is_machine(self) -> bool {
        matches!(self, Format::Csv | Format::Json | Format::Jsonl)
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "jsonl" | "ndjson" => Format::Jsonl,
            "markdown" | "md" => Format::Markdown,
            "line" => Format::Line,
            other => return Err(format!("unknown format '{other}': use {}", Format::NAMES)),
        })
    }
}

/// How a result is laid out for a person (machine formats ignore it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// Show cells in full (the statement ended with `!`); otherwise long cells are cut.
    pub wide: bool,
    /// Fit tables in this many columns (the terminal's width) by hiding middle columns.
    pub max_width: Option<usize>,
    /// Show at most this many rows: the first and the last half (the REPL does).
    pub max_rows: Option<usize>,
}

/// Cells wider than this are cut (unless the statement ended with `!`).
pub const MAX_CELL: usize = 50;

/// Write a whole result.
pub fn render(
    out: &mut (dyn Write + Send),
    table: &ResultTable,
    format: Format,
    layout: Layout,
) -> io::Result<()> {
    let mut w = ResultWriter::new(out, format, layout, &table.columns, &table.types)?;
    w.rows(table.rows.clone())?;
    w.finish()
}

/// Writes one result that may arrive in chunks.
pub struct ResultWriter<'a> {
    out: &'a mut (dyn Write + Send),
    format: Format,
    layout: Layout,
    columns: Vec<String>,
    types: Vec<String>,
    /// Rows kept for drawing, as the text each cell shows: every row of a boxed table
    /// (its widths depend on all of them), or the first half of what is shown when the
    /// result is cut.
    head: Vec<Vec<String>>,
    /// The last rows seen, when the result is cut.
    tail: VecDeque<Vec<String>>,
    total: u64,
}

impl<'a> ResultWriter<'a> {
    /// Start a result: formats that stream write their header at once.
    pub fn new(
        out: &'a mut (dyn Write + Send),
        format: Format,
        layout: Layout,
        columns: &[String],
        types: &[String],
    ) -> io::Result<Self> {
        let w = ResultWriter {
            out,
            format,
            layout,
            columns: columns.to_vec(),
            types: types.to_vec(),
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
        };
        w.start()
    }

    fn start(self) -> io::Result<Self> {
        match self.format {
            Format::Csv => {
                let header: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| csv_field(&Value::String(c.clone())))
                    .collect();
                writeln!(self.out, "{}", header.join(","))?;
            }
            Format::Json => write!(self.out, "[")?,
            Format::Markdown if self.columns.is_empty() => {}
            Format::Markdown => markdown_header(&mut *self.out, &self.columns, &self.types)?,
            _ => {}
        }
        Ok(self)
    }

    /// True when rows are written as they come (everything but a boxed table, and a
    /// result the REPL cuts).
    fn streams(&self) -> bool {
        self.format != Format::Table && self.layout.max_rows.is_none()
    }

    /// Add rows.
    pub fn rows(&mut self, rows: Vec<Vec<Value>>) -> io::Result<()> {
        for row in rows {
            self.total += 1;
            match self.format {
                Format::Csv => {
                    let line: Vec<String> = row.iter().map(csv_field).collect();
                    writeln!(self.out, "{}", line.join(","))?;
                }
                Format::Json => {
                    if self.total > 1 {
                        write!(self.out, ",")?;
                    }
                    let object = self.object(row);
                    serde_json::to_writer(&mut *self.out, &object)?;
                }
                Format::Jsonl => {
                    let object = self.object(row);
                    serde_json::to_writer(&mut *self.out, &object)?;
                    writeln!(self.out)?;
                }
                Format::Table | Format::Markdown | Format::Line => {
                    let cells = self.cells(&row);
                    if self.streams() {
                        let first = self.total == 1;
                        self.write_cells(&cells, first)?;
                    } else {
                        self.keep(cells);
                    }
                }
            }
        }
        Ok(())
    }

    /// A row as the text its cells show in this format.
    fn cells(&self, row: &[Value]) -> Vec<String> {
        row.iter()
            .map(|v| match self.format {
                Format::Table => cut(&cell_text(v), self.layout.wide),
                Format::Markdown => markdown_cell(&cell_text(v)),
                _ => one_line(&cell_text(v)),
            })
            .collect()
    }

    /// Write one row of a format that writes rows one by one (markdown, line).
    fn write_cells(&mut self, cells: &[String], first: bool) -> io::Result<()> {
        match self.format {
            Format::Markdown => writeln!(self.out, "| {} |", cells.join(" | ")),
            _ => {
                if !first {
                    writeln!(self.out)?;
                }
                let width = self.columns.iter().map(|c| c.width()).max().unwrap_or(0);
                for (c, v) in self.columns.iter().zip(cells) {
                    let pad = " ".repeat(width.saturating_sub(c.width()));
                    writeln!(self.out, "{pad}{c} = {v}")?;
                }
                Ok(())
            }
        }
    }

    /// Finish the result: draw it (a boxed table, a cut result) or close it (JSON).
    pub fn finish(mut self) -> io::Result<()> {
        let shown = (self.head.len() + self.tail.len()) as u64;
        let cut = shown < self.total;
        match self.format {
            Format::Json => writeln!(self.out, "]"),
            Format::Csv | Format::Jsonl => Ok(()),
            Format::Table => {
                let tail: Vec<Vec<String>> = self.tail.drain(..).collect();
                draw_table(
                    &mut *self.out,
                    &self.columns,
                    &self.types,
                    &self.head,
                    &tail,
                    self.layout,
                )?;
                let total = self.total;
                let noun = if total == 1 { "row" } else { "rows" };
                if cut {
                    writeln!(self.out, "{total} {noun} ({shown} shown)")
                } else {
                    writeln!(self.out, "{total} {noun}")
                }
            }
            Format::Markdown | Format::Line if self.streams() => Ok(()),
            Format::Markdown | Format::Line => {
                let head = std::mem::take(&mut self.head);
                let tail: Vec<Vec<String>> = self.tail.drain(..).collect();
                for (i, row) in head.iter().enumerate() {
                    self.write_cells(row, i == 0)?;
                }
                if cut {
                    match self.format {
                        Format::Markdown => {
                            let dots = vec!["…"; self.columns.len()].join(" | ");
                            writeln!(self.out, "| {dots} |")?;
                        }
                        _ => writeln!(self.out, "\n…")?,
                    }
                }
                for row in &tail {
                    self.write_cells(row, false)?;
                }
                if cut {
                    writeln!(self.out, "\n({} rows, {shown} shown)", self.total)?;
                }
                Ok(())
            }
        }
    }

    fn object(&self, row: Vec<Value>) -> Value {
        let mut obj = serde_json::Map::new();
        for (c, v) in self.columns.iter().zip(row) {
            obj.insert(c.clone(), v);
        }
        Value::Object(obj)
    }

    /// Keep a row for drawing: all of them, or the first and last halves of `max_rows`.
    fn keep(&mut self, row: Vec<String>) {
        match self.layout.max_rows {
            None => self.head.push(row),
            Some(max) => {
                let first = max.div_ceil(2);
                if self.head.len() < first {
                    self.head.push(row);
                } else {
                    self.tail.push_back(row);
                    if self.tail.len() > max - first {
                        self.tail.pop_front();
                    }
                }
            }
        }
    }
}

/// A cell as display text (NULL → `NULL`).
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

/// Line breaks shown as `↵`, so a cell stays on one line.
fn one_line(text: &str) -> String {
    if text.contains(['\n', '\r']) {
        text.replace("\r\n", "↵").replace(['\n', '\r'], "↵")
    } else {
        text.to_string()
    }
}

/// One line, cut to [`MAX_CELL`] display columns unless `wide`.
fn cut(text: &str, wide: bool) -> String {
    let line = one_line(text);
    if wide || line.width() <= MAX_CELL {
        return line;
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in line.chars() {
        let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + w > MAX_CELL - 1 {
            break;
        }
        used += w;
        out.push(ch);
    }
    out.push('…');
    out
}

fn is_numeric(ty: &str) -> bool {
    let base = ty.split('(').next().unwrap_or(ty);
    matches!(
        base,
        "TINYINT"
            | "SMALLINT"
            | "INTEGER"
            | "BIGINT"
            | "HUGEINT"
            | "UTINYINT"
            | "USMALLINT"
            | "UINTEGER"
            | "UBIGINT"
            | "UHUGEINT"
            | "FLOAT"
            | "DOUBLE"
            | "DECIMAL"
    )
}

/// The style of the duckdb shell: a box, a rule under the header, no rules between rows.
fn box_style() -> comfy_table::TableStyle {
    use comfy_table::{ContentLineStyle, LineStyle, TableStyle};
    TableStyle::new()
        .top_border(LineStyle::new('┌', '─', '┬', '┐'))
        .header_lines(ContentLineStyle::new('│', '│', '│'))
        .header_separator(LineStyle::new('├', '─', '┼', '┤'))
        .content_lines(ContentLineStyle::new('│', '│', '│'))
        .bottom_border(LineStyle::new('└', '─', '┴', '┘'))
}

/// Which columns fit in `max_width`: all of them, or the first and last ones around a
/// `…` column (as the duckdb shell hides middle columns).
fn visible_columns(widths: &[usize], max_width: Option<usize>) -> Vec<Option<usize>> {
    let all: Vec<Option<usize>> = (0..widths.len()).map(Some).collect();
    let Some(max) = max_width else { return all };
    // Each column takes its width plus two spaces of padding plus one border.
    let cost = |w: usize| w + 3;
    let total: usize = 1 + widths.iter().map(|w| cost(*w)).sum::<usize>();
    if total <= max || widths.len() <= 1 {
        return all;
    }
    let mut used = 1 + cost(1); // the outer border and the `…` column
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let (mut l, mut r) = (0usize, widths.len() - 1);
    let mut take_left = true;
    while l <= r {
        let i = if take_left { l } else { r };
        if used + cost(widths[i]) > max {
            break;
        }
        used += cost(widths[i]);
        if take_left {
            left.push(Some(i));
            l += 1;
        } else {
            right.push(Some(i));
            if r == 0 {
                break;
            }
            r -= 1;
        }
        take_left = !take_left;
    }
    if left.is_empty() {
        // Not even one column fits: show the first one anyway.
        left.push(Some(0));
    }
    right.reverse();
    left.push(None);
    left.extend(right);
    left
}

fn draw_table(
    out: &mut dyn Write,
    columns: &[String],
    types: &[String],
    head: &[Vec<String>],
    tail: &[Vec<String>],
    layout: Layout,
) -> io::Result<()> {
    use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
    if columns.is_empty() {
        return Ok(());
    }
    let mut widths: Vec<usize> = columns.iter().map(|c| one_line(c).width()).collect();
    for row in head.iter().chain(tail) {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.width());
        }
    }
    let visible = visible_columns(&widths, layout.max_width);
    let numeric = |i: usize| types.get(i).is_some_and(|t| is_numeric(t));
    let mut table = Table::new();
    table
        .load_style(box_style())
        .set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(visible.iter().map(|c| match c {
        Some(i) => Cell::new(one_line(&columns[*i])),
        None => Cell::new("…"),
    }));
    let row_cells = |row: &[String]| -> Vec<Cell> {
        visible
            .iter()
            .map(|c| match c {
                Some(i) => Cell::new(row.get(*i).map(String::as_str).unwrap_or("")),
                None => Cell::new("…"),
            })
            .collect()
    };
    for row in head {
        table.add_row(row_cells(row));
    }
    if !tail.is_empty() {
        table.add_row(
            visible
                .iter()
                .map(|_| Cell::new("·").set_alignment(CellAlignment::Center)),
        );
        for row in tail {
            table.add_row(row_cells(row));
        }
    }
    for (column, c) in table.column_iter_mut().zip(&visible) {
        if c.is_some_and(numeric) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out, "{table}")
}

fn markdown_cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

fn markdown_header(out: &mut dyn Write, columns: &[String], types: &[String]) -> io::Result<()> {
    let header: Vec<String> = columns.iter().map(|c| markdown_cell(c)).collect();
    writeln!(out, "| {} |", header.join(" | "))?;
    let rule: Vec<&str> = (0..columns.len())
        .map(|i| {
            if types.get(i).is_some_and(|t| is_numeric(t)) {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    writeln!(out, "|{}|", rule.join("|"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use unicode_width::UnicodeWidthStr;

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

    fn show(format: Format, layout: Layout, table: &ResultTable) -> String {
        let mut buf = Vec::new();
        render(&mut buf, table, format, layout).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn wide() -> Layout {
        Layout {
            wide: true,
            ..Layout::default()
        }
    }

    #[test]
    fn table_is_boxed_numbers_right_aligned_with_footer() {
        assert_eq!(
            show(Format::Table, Layout::default(), &t()),
            "┌────┬──────┬───────┐\n\
             │ id │ name │ ok    │\n\
             ├────┼──────┼───────┤\n\
             │  1 │ a,b  │ true  │\n\
             │ 22 │ NULL │ false │\n\
             └────┴──────┴───────┘\n\
             2 rows\n"
        );
    }

    #[test]
    fn csv_json_and_jsonl_follow_the_contract() {
        assert_eq!(
            show(Format::Csv, Layout::default(), &t()),
            "id,name,ok\n1,\"a,b\",true\n22,,false\n"
        );
        assert_eq!(
            show(Format::Json, Layout::default(), &t()),
            "[{\"id\":1,\"name\":\"a,b\",\"ok\":true},{\"id\":22,\"name\":null,\"ok\":false}]\n"
        );
        assert_eq!(
            show(Format::Jsonl, Layout::default(), &t()),
            "{\"id\":1,\"name\":\"a,b\",\"ok\":true}\n{\"id\":22,\"name\":null,\"ok\":false}\n"
        );
        let empty = ResultTable {
            rows: vec![],
            ..t()
        };
        assert_eq!(show(Format::Json, Layout::default(), &empty), "[]\n");
        assert_eq!(show(Format::Jsonl, Layout::default(), &empty), "");
    }

    #[test]
    fn chunks_stream_to_the_same_bytes_as_one_result() {
        for format in [Format::Csv, Format::Json, Format::Jsonl, Format::Table] {
            let table = t();
            let mut buf = Vec::new();
            let mut w = ResultWriter::new(
                &mut buf,
                format,
                Layout::default(),
                &table.columns,
                &table.types,
            )
            .unwrap();
            for row in table.rows.clone() {
                w.rows(vec![row]).unwrap();
            }
            w.finish().unwrap();
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                show(format, Layout::default(), &table),
                "{format:?}"
            );
        }
    }

    #[test]
    fn markdown_and_line_rows_are_written_as_they_arrive() {
        for format in [Format::Markdown, Format::Line, Format::Csv, Format::Jsonl] {
            let table = t();
            let mut buf = Vec::new();
            let mut w = ResultWriter::new(
                &mut buf,
                format,
                Layout::default(),
                &table.columns,
                &table.types,
            )
            .unwrap();
            w.rows(vec![table.rows[0].clone()]).unwrap();
            drop(w);
            let text = String::from_utf8(buf).unwrap();
            assert!(
                text.contains("a,b"),
                "{format:?} wrote the first row before the end: {text:?}"
            );
        }
    }

    #[test]
    fn markdown_and_line_formats() {
        assert_eq!(
            show(Format::Markdown, Layout::default(), &t()),
            "| id | name | ok |\n|---:|---|---|\n| 1 | a,b | true |\n| 22 | NULL | false |\n"
        );
        assert_eq!(
            show(Format::Line, Layout::default(), &t()),
            "  id = 1\nname = a,b\n  ok = true\n\n  id = 22\nname = NULL\n  ok = false\n"
        );
    }

    #[test]
    fn wide_cells_are_cut_unless_wide_by_display_width() {
        let long = "x".repeat(80);
        let table = ResultTable {
            columns: vec!["c".into()],
            types: vec!["VARCHAR".into()],
            rows: vec![
                vec![json!(long.clone())],
                vec![json!("line1\nline2")],
                vec![json!("日本語".repeat(20))],
            ],
        };
        let narrow = show(Format::Table, Layout::default(), &table);
        assert!(narrow.contains(&format!("{}…", "x".repeat(49))));
        assert!(narrow.contains("line1↵line2"));
        // Wide characters count double: 24 of them fill 48 columns, then `…`.
        assert!(
            narrow.contains(&format!("{}…", "日本語".repeat(8))),
            "{narrow}"
        );
        // Every line of the box has the same display width.
        let widths: Vec<usize> = narrow.lines().take(7).map(|l| l.width()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{narrow}");
        assert!(show(Format::Table, wide(), &table).contains(&long));
        assert!(show(
            Format::Table,
            Layout::default(),
            &ResultTable {
                rows: vec![vec![json!(1)]],
                ..table
            }
        )
        .ends_with("1 row\n"));
    }

    #[test]
    fn large_results_show_first_and_last_rows_when_cut() {
        let table = ResultTable {
            columns: vec!["n".into()],
            types: vec!["BIGINT".into()],
            rows: (1..=1000).map(|i| vec![json!(i)]).collect(),
        };
        let layout = Layout {
            max_rows: Some(6),
            ..Layout::default()
        };
        let out = show(Format::Table, layout, &table);
        assert!(out.ends_with("1000 rows (6 shown)\n"), "{out}");
        let cells: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with('│'))
            .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
            .collect();
        assert_eq!(cells, ["n", "1", "2", "3", "·", "998", "999", "1000"]);
        // Small results are not cut.
        let small = ResultTable {
            rows: table.rows[..6].to_vec(),
            ..table
        };
        assert!(show(Format::Table, layout, &small).ends_with("6 rows\n"));
    }

    #[test]
    fn too_many_columns_hide_the_middle_ones_to_fit_the_terminal() {
        let columns: Vec<String> = (0..30).map(|i| format!("column_{i:02}")).collect();
        let table = ResultTable {
            types: vec!["VARCHAR".into(); 30],
            rows: vec![columns.iter().map(|c| json!(c.to_uppercase())).collect()],
            columns,
        };
        let layout = Layout {
            max_width: Some(80),
            ..Layout::default()
        };
        let out = show(Format::Table, layout, &table);
        for line in out.lines() {
            assert!(line.width() <= 80, "{line}");
        }
        assert!(
            out.contains("column_00") && out.contains("column_29"),
            "{out}"
        );
        assert!(!out.contains("column_15"), "{out}");
        assert!(out.contains(" … "), "{out}");
        // Without a width, every column is shown.
        assert!(show(Format::Table, Layout::default(), &table).contains("column_15"));
    }

    #[test]
    fn format_names_parse() {
        for name in ["table", "csv", "json", "jsonl", "markdown", "line"] {
            assert_eq!(name.parse::<Format>().unwrap().name(), name);
        }
        let e = "xml".parse::<Format>().unwrap_err();
        assert!(e.contains("jsonl") && e.contains("xml"), "{e}");
    }
}
