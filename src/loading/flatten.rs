//! Flattening JSON records into rows of [`Cell`]s.
//!
//! Nested objects become `parent_child` columns; lists become JSON text (never a
//! language repr); strings that are ISO-8601 dates or timestamps become temporal
//! cells. The [`Flattener`] owns the column registry of one table load: it assigns each
//! flattened name a slot once (applying the spec's `select` keep-list and
//! `strip_prefixes`), widens column types as values arrive, and adds columns that
//! appear on later pages — no row or column is dropped for its shape.

use super::types::{Cell, ColType};
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;

/// A column of the table being loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Final column name.
    pub name: String,
    /// Widest type seen so far.
    pub ty: ColType,
}

/// Which flattened names become columns, and under what name.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Keep-list of regex prefixes (`None` keeps everything).
    pub select: Option<Vec<Regex>>,
    /// Prefixes removed from names.
    pub strip_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Keep(usize),
    Drop,
}

/// Turns records into rows for one table load.
#[derive(Debug, Default)]
pub struct Flattener {
    shape: Shape,
    columns: Vec<Column>,
    slots: HashMap<String, Slot>,
    by_lower_name: HashMap<String, usize>,
    name_buf: String,
}

impl Flattener {
    /// A flattener applying `shape`.
    pub fn new(shape: Shape) -> Self {
        Flattener {
            shape,
            ..Default::default()
        }
    }

    /// Start from an existing table's columns (an `updates` refresh).
    pub fn with_columns(shape: Shape, columns: Vec<Column>) -> Self {
        let mut f = Flattener::new(shape);
        for c in columns {
            f.by_lower_name
                .insert(c.name.to_lowercase(), f.columns.len());
            f.columns.push(c);
        }
        f
    }

    /// The columns registered so far, in table order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Flatten one record into a row (cells indexed by column; shorter rows are padded
    /// with nulls by the writer). `nested` = false stores nested values as JSON
    /// instead of flattening them (`result_object_path`).
    pub fn row(&mut self, record: Value, nested: bool) -> Vec<Cell> {
        let mut row = Vec::with_capacity(self.columns.len());
        match record {
            Value::Object(map) => {
                self.name_buf.clear();
                for (k, v) in map {
                    self.walk(&k, v, nested, &mut row);
                }
            }
            other => {
                self.name_buf.clear();
                self.walk("value", other, nested, &mut row);
            }
        }
        row
    }

    /// Flatten one record straight from its JSON text, without building a tree: the
    /// same columns and cells as [`Flattener::row`] on the parsed record. `extra`
    /// values (copied params) are added as top-level fields.
    pub fn row_from_json(
        &mut self,
        json: &[u8],
        extra: &[(String, Value)],
    ) -> Result<Vec<Cell>, serde_json::Error> {
        use serde::de::DeserializeSeed;
        let mut row = Vec::with_capacity(self.columns.len());
        self.name_buf.clear();
        let mut de = serde_json::Deserializer::from_slice(json);
        FieldSeed {
            f: self,
            row: &mut row,
            top: true,
        }
        .deserialize(&mut de)?;
        de.end()?;
        for (k, v) in extra {
            self.name_buf.clear();
            self.walk(k, v.clone(), true, &mut row);
        }
        Ok(row)
    }

    fn walk(&mut self, key: &str, value: Value, nested: bool, row: &mut Vec<Cell>) {
        let mark = self.name_buf.len();
        if mark > 0 {
            self.name_buf.push('_');
        }
        self.name_buf.push_str(key);
        match value {
            Value::Object(map) if nested => {
                for (k, v) in map {
                    self.walk(&k, v, nested, row);
                }
            }
            other => {
                let cell = to_cell(other);
                self.put(cell, row);
            }
        }
        self.name_buf.truncate(mark);
    }

    fn put(&mut self, cell: Cell, row: &mut Vec<Cell>) {
        let slot = match self.slots.get(self.name_buf.as_str()) {
            Some(s) => *s,
            None => {
                let name = self.name_buf.clone();
                let s = self.assign(&name);
                self.slots.insert(name, s);
                s
            }
        };
        let Slot::Keep(idx) = slot else { return };
        let col = &mut self.columns[idx];
        let ty = cell.col_type();
        if ty != col.ty && ty != ColType::Null {
            col.ty = col.ty.widen(ty);
        }
        if row.len() <= idx {
            row.resize(idx + 1, Cell::Null);
        }
        row[idx] = cell;
    }

    /// Decide the slot of a flattened name: dropped by `select`, or a (new) column.
    fn assign(&mut self, raw: &str) -> Slot {
        if let Some(select) = &self.shape.select {
            if !select.iter().any(|re| re.is_match(raw)) {
                return Slot::Drop;
            }
        }
        let mut name = raw;
        for prefix in &self.shape.strip_prefixes {
            if let Some(rest) = name.strip_prefix(prefix.as_str()) {
                if !rest.is_empty() {
                    name = rest;
                    break;
                }
            }
        }
        let lower = name.to_lowercase();
        if let Some(&idx) = self.by_lower_name.get(&lower) {
            if self.columns[idx].name == name {
                return Slot::Keep(idx);
            }
            // DuckDB names are case-insensitive: `Name` and `name` need two columns.
            // `Name_2` may already be this field's column (a table being refreshed).
            let mut n = 2;
            loop {
                let candidate = format!("{name}_{n}");
                let cl = candidate.to_lowercase();
                match self.by_lower_name.get(&cl) {
                    None => return self.add_column(candidate, cl),
                    Some(&idx) if self.columns[idx].name == candidate => return Slot::Keep(idx),
                    Some(_) => n += 1,
                }
            }
        }
        self.add_column(name.to_string(), lower)
    }

    fn add_column(&mut self, name: String, lower: String) -> Slot {
        let idx = self.columns.len();
        self.columns.push(Column {
            name,
            ty: ColType::Null,
        });
        self.by_lower_name.insert(lower, idx);
        Slot::Keep(idx)
    }
}

/// Streams one JSON value into the flattener: objects recurse into `parent_child`
/// names, lists become JSON text, scalars become cells. `top` marks the record itself
/// (a scalar record is stored as a `value` column, like [`Flattener::row`] does).
struct FieldSeed<'a> {
    f: &'a mut Flattener,
    row: &'a mut Vec<Cell>,
    top: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl FieldSeed<'_> {
    fn cell(self, cell: Cell) {
        if self.top {
            self.f.name_buf.clear();
            self.f.name_buf.push_str("value");
        }
        self.f.put(cell, self.row);
    }
}

/// Appends `_key` (or `key` at the top) to the flattener's name; yields the previous
/// length so the caller can truncate back.
struct KeySeed<'a> {
    name: &'a mut String,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = usize;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeySeed<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<usize, E> {
        let mark = self.name.len();
        if mark > 0 {
            self.name.push('_');
        }
        self.name.push_str(key);
        Ok(mark)
    }
}

impl<'de> serde::de::Visitor<'de> for FieldSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(mark) = map.next_key_seed(KeySeed {
            name: &mut self.f.name_buf,
        })? {
            map.next_value_seed(FieldSeed {
                f: &mut *self.f,
                row: &mut *self.row,
                top: false,
            })?;
            self.f.name_buf.truncate(mark);
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        self.cell(Cell::Json(Value::Array(items).to_string()));
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.cell(Cell::Bool(v));
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.cell(Cell::Int(v));
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.cell(
            i64::try_from(v)
                .map(Cell::Int)
                .unwrap_or(Cell::Float(v as f64)),
        );
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.cell(Cell::Float(v));
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.cell(Cell::from_text(v.to_string()));
        Ok(())
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<(), E> {
        self.cell(Cell::from_text(v));
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        if !self.top {
            self.cell(Cell::Null);
        }
        Ok(())
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
}

fn to_cell(v: Value) -> Cell {
    match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Cell::from_text(s),
        list @ Value::Array(_) => Cell::Json(list.to_string()),
        obj @ Value::Object(_) => Cell::Json(obj.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(f: &Flattener) -> Vec<&str> {
        f.columns().iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn nested_objects_flatten_lists_become_json() {
        let mut f = Flattener::new(Shape::default());
        let row = f.row(
            json!({"id": 1, "owner": {"login": "a", "perm": {"admin": true}}, "topics": ["x", "y"], "license": null}),
            true,
        );
        assert_eq!(
            names(&f),
            ["id", "owner_login", "owner_perm_admin", "topics", "license"]
        );
        assert_eq!(row[3], Cell::Json(r#"["x","y"]"#.into()));
        assert_eq!(f.columns()[4].ty, ColType::Null);
        assert_eq!(f.columns()[2].ty, ColType::Boolean);
    }

    #[test]
    fn later_columns_are_added_and_types_widen() {
        let mut f = Flattener::new(Shape::default());
        f.row(json!({"a": 1}), true);
        let r2 = f.row(json!({"b": "x", "a": 2.5}), true);
        f.row(json!({"a": "text"}), true);
        assert_eq!(names(&f), ["a", "b"]);
        assert_eq!(f.columns()[0].ty, ColType::Varchar);
        assert_eq!(r2, vec![Cell::Float(2.5), Cell::Text("x".into())]);
    }

    #[test]
    fn select_and_strip_prefixes() {
        let shape = Shape {
            select: Some(vec![
                Regex::new("^(?:id)").unwrap(),
                Regex::new("^(?:fields_status_.+)").unwrap(),
                Regex::new("^(?:fields.created)").unwrap(),
            ]),
            strip_prefixes: vec!["fields_".into()],
        };
        let mut f = Flattener::new(shape);
        f.row(
            json!({"id": "1", "key": "K", "fields": {"status": {"name": "Open"}, "created": "2024-01-01", "summary": "s"}}),
            true,
        );
        assert_eq!(names(&f), ["id", "status_name", "created"]);
        assert_eq!(f.columns()[2].ty, ColType::Date);
    }

    #[test]
    fn case_insensitive_name_clashes_get_a_suffix() {
        let mut f = Flattener::new(Shape::default());
        f.row(json!({"Name": "a", "name": "b"}), true);
        assert_eq!(names(&f), ["Name", "name_2"]);
    }

    #[test]
    fn a_refresh_seeded_with_the_table_columns_reuses_their_names_and_types() {
        let existing = vec![
            Column {
                name: "Name".into(),
                ty: ColType::Varchar,
            },
            Column {
                name: "name_2".into(),
                ty: ColType::Varchar,
            },
        ];
        let mut f = Flattener::with_columns(Shape::default(), existing);
        // Only the lower-case field this time: it still goes to its own column.
        let row = f.row(json!({"name": 7, "new": true}), true);
        assert_eq!(names(&f), ["Name", "name_2", "new"]);
        assert_eq!(f.columns()[1].ty, ColType::Varchar, "never narrowed");
        assert_eq!(row, vec![Cell::Null, Cell::Int(7), Cell::Bool(true)]);
    }

    #[test]
    fn streaming_from_json_text_matches_flattening_a_parsed_record() {
        let records = [
            r#"{"id": 1, "owner": {"login": "a", "perm": {"admin": true}}, "topics": ["x", {"y": 1}], "license": null, "n": 18446744073709551615, "f": 1.5, "when": "2024-05-01T10:00:00Z", "esc": "a\"b\u00e9", "empty": {}}"#,
            r#"{"id": 2, "extra": "new"}"#,
            r#""just a string""#,
        ];
        let mut parsed = Flattener::new(Shape::default());
        let mut streamed = Flattener::new(Shape::default());
        let extra = vec![("dealId".to_string(), json!(7))];
        for r in records {
            let mut v: Value = serde_json::from_str(r).unwrap();
            if let Value::Object(m) = &mut v {
                m.insert("dealId".into(), json!(7));
            }
            let a = parsed.row(v, true);
            let b = streamed
                .row_from_json(r.as_bytes(), if r.starts_with('{') { &extra } else { &[] })
                .unwrap();
            assert_eq!(a, b, "{r}");
        }
        assert_eq!(parsed.columns(), streamed.columns());
        assert!(streamed.row_from_json(b"{\"a\": ", &[]).is_err());
    }

    #[test]
    fn unflattened_objects_are_json() {
        let mut f = Flattener::new(Shape::default());
        let row = f.row(json!({"a": {"b": 1}}), false);
        assert_eq!(names(&f), ["a"]);
        assert_eq!(row[0], Cell::Json(r#"{"b":1}"#.into()));
    }
}
