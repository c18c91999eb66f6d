//! Files: `import`, `export`, `select … >> file`, `peek file`, `show files`.
//!
//! DuckDB reads and writes the formats (CSV with multi-line quoted cells, Parquet, JSON,
//! NDJSON); unify decides names, paths and modes. Relative paths are resolved in
//! `$UNIFY_HOME/files`. An existing table or file is never replaced unless the statement
//! says `overwrite` (or extended with `append`), and a file is written to a temporary
//! name then renamed, so a failed export never leaves half a file.

use super::sql::{db_error, query_table};
use super::{Fallible, Interpreter, Session, ShellError};
use crate::parser::{FileRef, FileTarget, ImportOptions, TableRef, WriteMode};
use crate::protocol::{Output, Reply, ResultTable};
use crate::warehouse::{self, quote_literal};
use std::path::{Path, PathBuf};

/// Give up on a download server that stops answering for this long.
const DOWNLOAD_STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// How an import source appears in messages and `unify.tables`: a URL without its
/// credentials, query string and fragment (a signed URL carries its token there).
fn shown_source(source: &str) -> String {
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        return source.to_string();
    }
    match reqwest::Url::parse(source) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => source
            .split(['?', '#'])
            .next()
            .unwrap_or(source)
            .to_string(),
    }
}

/// Download `url` to `to`, streaming (a large file is never held in memory); returns
/// the format the server's `Content-Type` names, if it names one. Errors name the URL as
/// [`shown_source`] does.
async fn download(url: &str, to: &Path) -> Result<Option<Format>, String> {
    use std::io::Write as _;
    let shown = shown_source(url);
    let fail = |e: &dyn std::fmt::Display| format!("cannot download {shown}: {e}");
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(15))
        .read_timeout(DOWNLOAD_STALL)
        .user_agent(concat!("unify/", env!("CARGO_PKG_VERSION")))
        // A redirect must not tell the next server the (signed) URL it came from.
        .referer(false)
        .build()
        .map_err(|e| fail(&e.without_url()))?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(&e.without_url()))?;
    if !resp.status().is_success() {
        return Err(fail(&format!("HTTP {}", resp.status())));
    }
    let served = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Format::from_content_type);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(to).map_err(|e| format!("cannot write a temporary file: {e}"))?,
    );
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(&e.without_url()))? {
        out.write_all(&chunk)
            .map_err(|e| format!("cannot write a temporary file: {e}"))?;
    }
    out.flush()
        .map_err(|e| format!("cannot write a temporary file: {e}"))?;
    Ok(served)
}

/// File formats unify reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// A JSON array of objects (or a single object).
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// The format named by a path's extension.
    pub fn from_path(path: &str) -> Option<Format> {
        let clean = path
            .split(['?', '#'])
            .next()
            .unwrap_or(path)
            .to_ascii_lowercase();
        let ext = clean.rsplit('.').next().unwrap_or("");
        Some(match ext {
            "csv" | "tsv" | "txt" => Format::Csv,
            "parquet" | "pq" => Format::Parquet,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            _ => return None,
        })
    }

    /// The format a `Content-Type` header names (`text/csv; charset=utf-8` → CSV).
    pub fn from_content_type(value: &str) -> Option<Format> {
        let mime = value.split(';').next()?.trim().to_ascii_lowercase();
        Some(match mime.as_str() {
            "text/csv" | "application/csv" | "text/tab-separated-values" => Format::Csv,
            "application/vnd.apache.parquet" | "application/parquet" | "application/x-parquet" => {
                Format::Parquet
            }
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines"
            | "application/json-seq" => Format::Ndjson,
            "application/json" | "text/json" => Format::Json,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
        }
    }

    fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            "json" => Format::Json,
            "ndjson" => Format::Ndjson,
            _ => return None,
        })
    }
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

fn unknown_format(source: &str) -> String {
    format!(
        "cannot tell the format of '{}': name it .csv, .parquet, .json, .ndjson or .jsonl{}",
        shown_source(source),
        if is_url(source) {
            " (the server did not send a Content-Type that names one)"
        } else {
            ""
        }
    )
}

/// The original's `convert_string_to_table_name`: lower-case, whitespace → `_`, a
/// leading digit gets `tab`, non-word characters removed, `table_` before names under 7.
pub fn table_name_for(stem: &str) -> String {
    let lower = stem.to_lowercase();
    let mut name = lower.split_whitespace().collect::<Vec<_>>().join("_");
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name = format!("tab{name}");
    }
    let mut name: String = name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if name.chars().count() < 7 {
        name = format!("table_{name}");
    }
    name
}

impl Interpreter {
    fn resolve_path(&self, path: &str) -> PathBuf {
        let expanded = match path.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(rest))
                .unwrap_or_else(|| PathBuf::from(path)),
            None => PathBuf::from(path),
        };
        if expanded.is_absolute() {
            expanded
        } else {
            self.engine.home().files_dir().join(expanded)
        }
    }

    /// A local file for `source` and its format: a URL is downloaded to a temporary file
    /// first, and when its name has no known extension, the server's `Content-Type` tells
    /// the format.
    fn local_source(
        &self,
        source: &str,
    ) -> Fallible<(PathBuf, Option<tempfile::TempPath>, Option<Format>)> {
        let named = Format::from_path(source);
        if is_url(source) {
            let file = tempfile::Builder::new()
                .prefix("unify-download-")
                .tempfile()
                .map_err(|e| format!("cannot create a temporary file: {e}"))?;
            let served = self.runtime.block_on(download(source, file.path()))?;
            let path = file.into_temp_path();
            return Ok((path.to_path_buf(), Some(path), named.or(served)));
        }
        let path = self.resolve_path(source);
        if !path.is_file() {
            return Err(if Path::new(source).is_absolute() {
                format!("File not found: {}", path.display())
            } else {
                format!(
                    "File not found: {} (relative paths are read from {}; give an absolute path otherwise)",
                    path.display(),
                    self.engine.home().files_dir().display()
                )
            }
            .into());
        }
        Ok((path, None, named))
    }

    pub(super) fn import(
        &self,
        s: &mut Session,
        source: &str,
        target: Option<TableRef>,
        mode: Option<WriteMode>,
        options: ImportOptions,
    ) -> Fallible<Reply> {
        let format = Format::from_path(source);
        if format.is_none() && !is_url(source) {
            return Err(unknown_format(source).into());
        }
        let (schema, table) = match target {
            Some(TableRef { schema, table }) => (schema.unwrap_or_else(|| "files".into()), table),
            None => {
                let stem = Path::new(source.split(['?', '#']).next().unwrap_or(source))
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("import")
                    .to_string();
                ("files".to_string(), table_name_for(&stem))
            }
        };
        let source_text = if source.starts_with("http") {
            source.to_string()
        } else {
            self.resolve_path(source).display().to_string()
        };
        self.import_into(s, &source_text, format, &schema, &table, mode, options)
    }

    #[allow(clippy::too_many_arguments)]
    fn import_into(
        &self,
        s: &mut Session,
        source: &str,
        format: Option<Format>,
        schema: &str,
        table: &str,
        mode: Option<WriteMode>,
        options: ImportOptions,
    ) -> Fallible<Reply> {
        let (path, _temp, detected) = self.local_source(source)?;
        let format = format.or(detected).ok_or_else(|| unknown_format(source))?;
        let exists = warehouse::relation_exists(&s.conn, schema, table)?;
        if exists && mode.is_none() {
            return Err(format!(
                "table {schema}.{table} already exists: add `overwrite` to replace it or `append` to add rows (import '{}' into {schema}.{table} overwrite)",
                shown_source(source)
            ).into());
        }
        let reader = reader_sql(&path, format, options);
        let started_us = chrono::Utc::now().timestamp_micros();
        // A URL is stored without its credentials, query string and fragment: a signed
        // URL carries its signature or key there. `reload` then asks for a fresh URL.
        let stored = shown_source(source);
        let dropped = stored != source;
        let mut options_map = serde_json::json!({"skip": options.skip, "header": options.header});
        if dropped {
            options_map["url_query_dropped"] = serde_json::Value::Bool(true);
        }
        let options_json = options_map.to_string();
        let import = warehouse::files::FileImport {
            schema,
            table,
            reader: &reader,
            append: exists && mode == Some(WriteMode::Append),
            source: &stored,
            format: format.name(),
            options_json: &options_json,
            started_us,
        };
        let (rows, cols) = warehouse::files::import(&s.conn, &import).map_err(|e| {
            ShellError::Sql(format!(
                "importing {}: {}",
                shown_source(source),
                db_error(&e)
            ))
        })?;
        s.recent = vec![(schema.to_string(), table.to_string())];
        Ok(Reply {
            outputs: vec![Output::Message(format!(
                "Imported file to table: {schema}.{table} ({rows} rows, {cols} columns)"
            ))],
            ..Default::default()
        })
    }

    /// `reload table files.x`: import its file again, replacing the table.
    pub(super) fn reload_file_table(&self, s: &mut Session, table: &str) -> Fallible<Reply> {
        let found = warehouse::files::imported_from(&s.conn, table);
        let Some((source, format, options)) = found else {
            return Err(format!(
                "files.{table} was not imported from a file, so it cannot be reloaded"
            )
            .into());
        };
        let opts: serde_json::Value = serde_json::from_str(&options).unwrap_or_default();
        if opts.get("url_query_dropped").and_then(|v| v.as_bool()) == Some(true) {
            return Err(format!(
                "files.{table} was imported from {source} with a query string or user:password (often a signature or key), which unify does not store; import it again with the full URL: import '{source}?…' into files.{table} overwrite"
            ).into());
        }
        let options = ImportOptions {
            skip: opts.get("skip").and_then(|v| v.as_u64()),
            header: opts.get("header").and_then(|v| v.as_u64()),
        };
        let format = Format::parse(&format).unwrap_or(Format::Csv);
        self.import_into(
            s,
            &source,
            Some(format),
            "files",
            table,
            Some(WriteMode::Overwrite),
            options,
        )
    }

    /// Write the result of `query` to a file.
    pub(super) fn export(
        &self,
        s: &mut Session,
        query: &str,
        target: &FileTarget,
        mode: Option<WriteMode>,
    ) -> Fallible<Reply> {
        let name = export_name(s, target)?;
        let format = Format::from_path(&name).ok_or_else(|| {
            format!("cannot tell the format of '{name}': name it .csv, .parquet, .json, .ndjson or .jsonl")
        })?;
        let path = self.resolve_path(&name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let exists = path.exists();
        if exists && mode.is_none() {
            return Err(format!(
                "{} already exists: add `overwrite` to replace it or `append` to add to it",
                path.display()
            )
            .into());
        }
        let tmp = path.with_file_name(format!(
            ".{}.unify-tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("export")
        ));
        let append = exists && mode == Some(WriteMode::Append);
        let (source, options) = export_sql(query, &path, format, append);
        let tmp_path = tmp.display().to_string();
        let rows =
            warehouse::files::copy_to(&s.conn, &source, &tmp_path, options).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                ShellError::Sql(format!("exporting to {}: {}", path.display(), db_error(&e)))
            })?;
        let finish = if append && matches!(format, Format::Csv | Format::Ndjson) {
            append_file(&tmp, &path)
        } else {
            std::fs::rename(&tmp, &path)
        };
        finish.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("writing {}: {e}", path.display())
        })?;
        Ok(Reply {
            outputs: vec![Output::Message(format!(
                "Exported {rows} rows to '{}'",
                path.display()
            ))],
            ..Default::default()
        })
    }

    pub(super) fn peek_file(&self, s: &mut Session, source: &str, n: u64) -> Fallible<Reply> {
        let (path, _temp, format) = self.local_source(source)?;
        match format {
            Some(format @ (Format::Parquet | Format::Json | Format::Ndjson)) => {
                let mut result = query_table(
                    &s.conn,
                    &format!(
                        "select * from {} limit {n}",
                        reader_sql(&path, format, ImportOptions::default())
                    ),
                )?
                .unwrap_or_default();
                result.columns.insert(0, "row".into());
                result.types.insert(0, "BIGINT".into());
                for (i, row) in result.rows.iter_mut().enumerate() {
                    row.insert(0, serde_json::Value::from(i as u64 + 1));
                }
                Ok(Reply {
                    outputs: vec![Output::Table(result)],
                    ..Default::default()
                })
            }
            _ => {
                // Text: its first lines as they are, numbered.
                use std::io::BufRead;
                let file = std::fs::File::open(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let mut rows = Vec::new();
                for (i, line) in std::io::BufReader::new(file)
                    .lines()
                    .take(n as usize)
                    .enumerate()
                {
                    let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    rows.push(vec![
                        serde_json::Value::from(i as u64 + 1),
                        serde_json::Value::String(line),
                    ]);
                }
                Ok(Reply {
                    outputs: vec![Output::Table(ResultTable {
                        columns: vec!["line".into(), "text".into()],
                        types: vec!["BIGINT".into(), "VARCHAR".into()],
                        rows,
                    })],
                    ..Default::default()
                })
            }
        }
    }

    pub(super) fn show_files(
        &self,
        schema: Option<&str>,
        pattern: Option<&str>,
    ) -> Fallible<Reply> {
        if let Some(sc) = schema {
            if sc != "files" {
                return Err(
                    format!("connection '{sc}' has no files to list (only `files` does)").into(),
                );
            }
        }
        let dir = self.engine.home().files_dir();
        let pattern = pattern.unwrap_or("*").replace('%', "*");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_file())
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .filter(|n| !n.starts_with('.'))
                    .filter(|n| glob(&pattern, n))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        if names.is_empty() {
            return Ok(Reply {
                outputs: vec![Output::Message(format!("No files in {}", dir.display()))],
                ..Default::default()
            });
        }
        Ok(Reply {
            outputs: vec![Output::Table(ResultTable {
                columns: vec!["file".into()],
                types: vec!["VARCHAR".into()],
                rows: names
                    .into_iter()
                    .map(|n| vec![serde_json::Value::String(n)])
                    .collect(),
            })],
            ..Default::default()
        })
    }
}

fn glob(pattern: &str, name: &str) -> bool {
    fn rec(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| rec(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && rec(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && rec(&p[1..], &t[1..]),
        }
    }
    rec(
        &pattern.chars().collect::<Vec<_>>(),
        &name.chars().collect::<Vec<_>>(),
    )
}

fn reader_sql(path: &Path, format: Format, options: ImportOptions) -> String {
    let p = quote_literal(&path.display().to_string());
    match format {
        Format::Csv => {
            let skip = options.skip.unwrap_or(0) + options.header.unwrap_or(0);
            let delim = if path.extension().and_then(|e| e.to_str()) == Some("tsv") {
                ", delim = '\\t'"
            } else {
                ""
            };
            format!("read_csv({p}, header = true, skip = {skip}, sample_size = -1{delim})")
        }
        Format::Parquet => format!("read_parquet({p})"),
        Format::Json => format!("read_json_auto({p})"),
        Format::Ndjson => format!("read_json_auto({p}, format = 'newline_delimited')"),
    }
}

/// The file an export writes: a path as written, or the value of an expression.
fn export_name(s: &Session, target: &FileTarget) -> Fallible<String> {
    if let Some(c) = &target.connector {
        if c != "files" {
            return Err(format!("connector '{c}' does not support writing files; export to a path (or to files '<path>')").into());
        }
    }
    match &target.file {
        FileRef::Path(p) => Ok(p.clone()),
        FileRef::Expr(e) => {
            let result = query_table(&s.conn, &format!("select {e}"))
                .map_err(|err| {
                    ShellError::Sql(format!(
                        "evaluating the file name ({e}): {}",
                        db_error(&err)
                    ))
                })?
                .unwrap_or_default();
            match result.rows.first().and_then(|r| r.first()) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(v) if !v.is_null() => Ok(v.to_string()),
                _ => Err(format!("the file name expression ({e}) gave no value").into()),
            }
        }
    }
}

/// What an export's `COPY` reads and its options. Appending to a Parquet or JSON file
/// rewrites it: the old rows are read back in front of the new ones; CSV and NDJSON
/// files are appended to after the copy (without a second header).
fn export_sql(query: &str, path: &Path, format: Format, append: bool) -> (String, &'static str) {
    let source = match (append, format) {
        (true, Format::Parquet) => format!(
            "SELECT * FROM read_parquet({}) UNION ALL BY NAME ({query})",
            quote_literal(&path.display().to_string())
        ),
        (true, Format::Json) => format!(
            "SELECT * FROM read_json_auto({}) UNION ALL BY NAME ({query})",
            quote_literal(&path.display().to_string())
        ),
        _ => query.to_string(),
    };
    let options = match (format, append) {
        (Format::Csv, true) => "(FORMAT csv, HEADER false)",
        (Format::Csv, false) => "(FORMAT csv, HEADER true)",
        (Format::Parquet, _) => "(FORMAT parquet)",
        (Format::Json, _) => "(FORMAT json, ARRAY true)",
        (Format::Ndjson, _) => "(FORMAT json)",
    };
    (source, options)
}

fn append_file(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let data = std::fs::read(from)?;
    let mut f = std::fs::OpenOptions::new().append(true).open(to)?;
    f.write_all(&data)?;
    f.sync_all()?;
    std::fs::remove_file(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_follow_the_original_rule() {
        assert_eq!(table_name_for("project_list"), "project_list");
        assert_eq!(table_name_for("gh_repos"), "gh_repos");
        assert_eq!(table_name_for("abc"), "table_abc");
        assert_eq!(table_name_for("rows"), "table_rows");
        assert_eq!(table_name_for("My Data-2024"), "my_data2024");
        assert_eq!(table_name_for("2024 sales"), "tab2024_sales");
    }

    #[test]
    fn formats_from_extensions() {
        assert_eq!(Format::from_path("a.CSV"), Some(Format::Csv));
        assert_eq!(
            Format::from_path("https://x/y.parquet?sig=1"),
            Some(Format::Parquet)
        );
        assert_eq!(Format::from_path("x.jsonl"), Some(Format::Ndjson));
        assert_eq!(Format::from_path("x.xlsx"), None);
    }
}
