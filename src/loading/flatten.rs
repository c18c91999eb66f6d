//! Flattening JSON records into rows of [`Cell`]s.
//!
//! Nested objects become `parent_child` columns; lists become JSON text (never a
//! language repr); strings that are ISO-8601 dates or timestamps become temporal
//! cells. The [`Flattener`] owns the column registry of one table load: it assigns each
//! field (a path of keys from the record) a column once (applying the spec's `select`
//! keep-list and `strip_prefixes`), widens column types as values arrive, and adds
//! columns that appear on later pages — no row or column is dropped for its shape.
//!
//! The outcomes for awkward shapes are defined here and documented in
//! docs/SPEC_REFERENCE.md §8.3:
//! * **Colliding names never overwrite.** `{"user_id": 1, "user": {"id": 2}}` has two
//!   fields that flatten to `user_id`: the first seen keeps the name, the next gets
//!   `user_id_2` (then `_3`…), and a warning names both. Names differing only in case
//!   are suffixed the same way (DuckDB names are case-insensitive).
//! * **An empty key** is named [`EMPTY_KEY`] (`{"": 1}` → `empty_key`,
//!   `{"a": {"": 1}}` → `a_empty_key`).
//! * **ID-keyed objects** — a nested object whose keys are all numbers, UUIDs or ISO
//!   dates (`{"rates": {"123": {…}, "456": {…}}}`) — are stored as one JSON column
//!   (`rates`) instead of a column per id.
//! * **Deep nesting**: objects more than [`MAX_DEPTH`] levels below the record are
//!   stored as JSON in the column named by the path so far.
//! * **Too many columns**: once a table has [`MAX_COLUMNS`] columns, fields that would
//!   need a new column go into one JSON object column, [`OVERFLOW_COLUMN`], per row.

use super::types::{Cell, ColType};
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;

/// The column-name part used for an empty JSON key.
pub const EMPTY_KEY: &str = "empty_key";
/// Objects nested deeper than this below the record are stored as JSON.
pub const MAX_DEPTH: usize = 10;
/// A table gets at most this many columns from flattening; further fields go to
/// [`OVERFLOW_COLUMN`].
pub const MAX_COLUMNS: usize = 1000;
/// The JSON column holding, per row, the fields beyond [`MAX_COLUMNS`].
pub const OVERFLOW_COLUMN: &str = "_overflow";

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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Keep(usize),
    Drop,
    /// Beyond [`MAX_COLUMNS`]: kept in the overflow column.
    Overflow,
}

/// One field path of the records: the root (the record itself) is node 0.
#[derive(Debug)]
struct Node {
    parent: usize,
    key: String,
    depth: usize,
    children: HashMap<String, usize>,
    /// The column of this path's scalar values, once one was seen.
    slot: Option<Slot>,
}

/// Turns records into rows for one table load.
#[derive(Debug)]
pub struct Flattener {
    shape: Shape,
    columns: Vec<Column>,
    /// Whether a field of this load already writes into each column.
    claimed: Vec<bool>,
    by_lower_name: HashMap<String, usize>,
    nodes: Vec<Node>,
    name_buf: String,
    /// Fields of the current row beyond [`MAX_COLUMNS`]: (flattened name, JSON text).
    overflow: Vec<(String, String)>,
    overflow_column: Option<usize>,
    overflow_warned: bool,
    warnings: Vec<String>,
}

impl Default for Flattener {
    fn default() -> Self {
        Flattener {
            shape: Shape::default(),
            columns: Vec::new(),
            claimed: Vec::new(),
            by_lower_name: HashMap::new(),
            nodes: vec![Node {
                parent: 0,
                key: String::new(),
                depth: 0,
                children: HashMap::new(),
                slot: None,
            }],
            name_buf: String::new(),
            overflow: Vec::new(),
            overflow_column: None,
            overflow_warned: false,
            warnings: Vec::new(),
        }
    }
}

/// A nested object to be stored whole, as JSON, rather than flattened.
fn id_like(key: &str) -> bool {
    let b = key.as_bytes();
    let digits = !b.is_empty()
        && b.iter()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || (i == 0 && *c == b'-' && b.len() > 1));
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    let date = b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    digits || uuid || date
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
            f.claimed.push(false);
        }
        f
    }

    /// The columns registered so far, in table order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Warnings raised since the last call (name collisions, ID-keyed objects, deep
    /// nesting, the column cap), each once per load.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Flatten one record into a row (cells indexed by column; shorter rows are padded
    /// with nulls by the writer). `nested` = false stores nested values as JSON
    /// instead of flattening them (`result_object_path`).
    pub fn row(&mut self, record: Value, nested: bool) -> Vec<Cell> {
        let mut row = Vec::with_capacity(self.columns.len());
        self.name_buf.clear();
        match record {
            Value::Object(map) => {
                for (k, v) in map {
                    self.walk(0, &k, v, nested, &mut row);
                }
            }
            other => self.walk(0, "value", other, nested, &mut row),
        }
        self.finish_row(&mut row);
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
        let parsed = FieldSeed {
            f: self,
            row: &mut row,
            node: 0,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if let Err(e) = parsed {
            self.overflow.clear();
            return Err(e);
        }
        for (k, v) in extra {
            self.name_buf.clear();
            self.walk(0, k, v.clone(), true, &mut row);
        }
        self.finish_row(&mut row);
        Ok(row)
    }

    /// The node of `key` under `parent`, created on first sight.
    fn child(&mut self, parent: usize, key: &str) -> usize {
        if let Some(&id) = self.nodes[parent].children.get(key) {
            return id;
        }
        let id = self.nodes.len();
        let depth = self.nodes[parent].depth + 1;
        self.nodes.push(Node {
            parent,
            key: key.to_string(),
            depth,
            children: HashMap::new(),
            slot: None,
        });
        self.nodes[parent].children.insert(key.to_string(), id);
        id
    }

    /// Append `key` to the flattened name; returns the length to truncate back to.
    fn push_name(&mut self, key: &str) -> usize {
        push_name(&mut self.name_buf, key)
    }

    fn walk(&mut self, parent: usize, key: &str, value: Value, nested: bool, row: &mut Vec<Cell>) {
        let mark = self.push_name(key);
        let node = self.child(parent, key);
        match value {
            Value::Object(map) if nested && self.flattens(node, &map) => {
                for (k, v) in map {
                    self.walk(node, &k, v, nested, row);
                }
            }
            other => {
                let cell = to_cell(other);
                self.put(node, cell, row);
            }
        }
        self.name_buf.truncate(mark);
    }

    /// True when the object at `node` is flattened into columns; false when it is kept
    /// as one JSON value (too deep, or keyed by ids).
    fn flattens(&mut self, node: usize, map: &serde_json::Map<String, Value>) -> bool {
        if self.nodes[node].depth >= MAX_DEPTH {
            self.note_json(
                node,
                &format!("is nested more than {MAX_DEPTH} levels deep"),
            );
            return false;
        }
        if !map.is_empty() && map.keys().all(|k| id_like(k)) {
            self.note_json(node, "has only id-like keys (numbers, UUIDs or dates)");
            return false;
        }
        true
    }

    /// Warn (once per field) that the object at `node` is stored as JSON.
    fn note_json(&mut self, node: usize, why: &str) {
        if self.nodes[node].slot.is_none() {
            let path = self.path_text(node);
            self.warnings.push(format!(
                "the object at '{path}' {why}: it is stored as JSON in one column instead of one column per key"
            ));
        }
    }

    /// The dotted JSON path of a node (`user.id`), for messages.
    fn path_text(&self, mut node: usize) -> String {
        let mut keys = Vec::new();
        while node != 0 {
            keys.push(self.nodes[node].key.as_str());
            node = self.nodes[node].parent;
        }
        keys.reverse();
        keys.join(".")
    }

    fn put(&mut self, node: usize, cell: Cell, row: &mut Vec<Cell>) {
        let slot = match self.nodes[node].slot {
            Some(s) => s,
            None => {
                let name = self.name_buf.clone();
                let s = self.assign(node, &name);
                self.nodes[node].slot = Some(s);
                s
            }
        };
        match slot {
            Slot::Keep(idx) => {
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
            Slot::Overflow => {
                let name = self.name_buf.clone();
                self.overflow.retain(|(n, _)| *n != name);
                self.overflow.push((name, cell_json(cell)));
            }
            Slot::Drop => {}
        }
    }

    /// Put this row's overflow fields into the overflow column, as one JSON object.
    fn finish_row(&mut self, row: &mut Vec<Cell>) {
        if self.overflow.is_empty() {
            return;
        }
        let idx = match self.overflow_column {
            Some(idx) => idx,
            None => {
                let idx = self.claim_name(OVERFLOW_COLUMN, "");
                self.overflow_column = Some(idx);
                idx
            }
        };
        let mut text = String::from("{");
        for (i, (name, json)) in self.overflow.drain(..).enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&Value::String(name).to_string());
            text.push(':');
            text.push_str(&json);
        }
        text.push('}');
        self.columns[idx].ty = ColType::Json;
        if row.len() <= idx {
            row.resize(idx + 1, Cell::Null);
        }
        row[idx] = Cell::Json(text);
    }

    /// Decide the column of a field: dropped by `select`, a (new) column, or overflow.
    fn assign(&mut self, node: usize, raw: &str) -> Slot {
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
        let name = name.to_string();
        let own_column = self
            .by_lower_name
            .get(&name.to_lowercase())
            .is_some_and(|&idx| self.columns[idx].name == name && !self.claimed[idx]);
        if !own_column && self.columns.len() >= MAX_COLUMNS {
            if !self.overflow_warned {
                self.overflow_warned = true;
                self.warnings.push(format!(
                    "the records have more than {MAX_COLUMNS} distinct fields: '{}' and any further new field are kept as JSON in the column {OVERFLOW_COLUMN}",
                    self.path_text(node)
                ));
            }
            return Slot::Overflow;
        }
        let path = self.path_text(node);
        Slot::Keep(self.claim_name(&name, &path))
    }

    /// The column for a field wanting `name`: its own existing column (a refresh), a
    /// new one, or — when another field of this load already writes `name` (or a name
    /// differing only in case) — `name_2`, `name_3`…, with a warning naming both.
    fn claim_name(&mut self, name: &str, path: &str) -> usize {
        let mut candidate = name.to_string();
        let mut n = 1;
        let mut clash: Option<usize> = None;
        loop {
            let lower = candidate.to_lowercase();
            match self.by_lower_name.get(&lower) {
                None => {
                    let idx = self.add_column(candidate, lower);
                    self.claimed[idx] = true;
                    self.warn_clash(clash, idx, path);
                    return idx;
                }
                Some(&idx) if self.columns[idx].name == candidate && !self.claimed[idx] => {
                    self.claimed[idx] = true;
                    self.warn_clash(clash, idx, path);
                    return idx;
                }
                Some(&idx) => {
                    if clash.is_none() && self.claimed[idx] {
                        clash = Some(idx);
                    }
                    n += 1;
                    candidate = format!("{name}_{n}");
                }
            }
        }
    }

    fn warn_clash(&mut self, clash: Option<usize>, got: usize, path: &str) {
        let Some(other) = clash else { return };
        if path.is_empty() {
            return;
        }
        let other_name = self.columns[other].name.clone();
        let owner = self
            .nodes
            .iter()
            .position(|n| n.slot == Some(Slot::Keep(other)))
            .map(|node| self.path_text(node))
            .unwrap_or_else(|| other_name.clone());
        self.warnings.push(format!(
            "the fields '{owner}' and '{path}' both flatten to the column name '{other_name}': '{path}' is stored in '{}'",
            self.columns[got].name
        ));
    }

    fn add_column(&mut self, name: String, lower: String) -> usize {
        let idx = self.columns.len();
        self.columns.push(Column {
            name,
            ty: ColType::Null,
        });
        self.claimed.push(false);
        self.by_lower_name.insert(lower, idx);
        idx
    }
}

/// Append `key` (or [`EMPTY_KEY`] for an empty one) to a flattened name, with a `_`
/// unless at the start; returns the length to truncate back to.
fn push_name(buf: &mut String, key: &str) -> usize {
    let mark = buf.len();
    if mark > 0 {
        buf.push('_');
    }
    buf.push_str(if key.is_empty() { EMPTY_KEY } else { key });
    mark
}

/// A cell as JSON text, for the overflow column.
fn cell_json(cell: Cell) -> String {
    match cell {
        Cell::Null => "null".into(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) if f.is_finite() => f.to_string(),
        Cell::Json(text) => text,
        other => match other.coerce(ColType::Varchar) {
            Cell::Text(s) => Value::String(s).to_string(),
            _ => "null".into(),
        },
    }
}

/// Streams one JSON value into the flattener: objects recurse into `parent_child`
/// names, lists become JSON text, scalars become cells. Node 0 is the record itself
/// (a scalar record is stored as a `value` column, like [`Flattener::row`] does).
struct FieldSeed<'a> {
    f: &'a mut Flattener,
    row: &'a mut Vec<Cell>,
    node: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl FieldSeed<'_> {
    fn cell(self, cell: Cell) {
        let node = if self.node == 0 {
            self.f.name_buf.clear();
            self.f.name_buf.push_str("value");
            self.f.child(0, "value")
        } else {
            self.node
        };
        self.f.put(node, cell, self.row);
    }

    /// Store the rest of an object as JSON (`first` = its entries read so far).
    fn rest_as_json<'de, A: serde::de::MapAccess<'de>>(
        self,
        mut first: serde_json::Map<String, Value>,
        mut map: A,
    ) -> Result<(), A::Error> {
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            first.insert(k, v);
        }
        self.cell(Cell::Json(Value::Object(first).to_string()));
        Ok(())
    }
}

/// What the first key of a nested object says about it.
enum FirstKey {
    /// A field to flatten: the name mark to truncate back to, and its node.
    Field(usize, usize),
    /// An id-like key: the object may be keyed by ids, read it whole first.
    IdLike(String),
}

/// Decodes a key: appends `_key` (or `key` at the top) to the flattener's name and
/// finds its node; yields the previous name length so the caller can truncate back.
/// With `sniff`, an id-like key is returned as is instead.
struct KeySeed<'a> {
    f: &'a mut Flattener,
    parent: usize,
    sniff: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = FirstKey;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<FirstKey, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeySeed<'_> {
    type Value = FirstKey;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<FirstKey, E> {
        if self.sniff && id_like(key) {
            return Ok(FirstKey::IdLike(key.to_string()));
        }
        let mark = self.f.push_name(key);
        let node = self.f.child(self.parent, key);
        Ok(FirstKey::Field(mark, node))
    }
}

impl<'de> serde::de::Visitor<'de> for FieldSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let top = self.node == 0;
        if !top && self.f.nodes[self.node].depth >= MAX_DEPTH {
            let node = self.node;
            let mut first = serde_json::Map::new();
            if let Some((k, v)) = map.next_entry::<String, Value>()? {
                first.insert(k, v);
                self.f.note_json(
                    node,
                    &format!("is nested more than {MAX_DEPTH} levels deep"),
                );
            }
            return self.rest_as_json(first, map);
        }
        let mut sniff = !top;
        loop {
            let key = map.next_key_seed(KeySeed {
                f: &mut *self.f,
                parent: self.node,
                sniff,
            })?;
            match key {
                None => break,
                Some(FirstKey::Field(mark, node)) => {
                    map.next_value_seed(FieldSeed {
                        f: &mut *self.f,
                        row: &mut *self.row,
                        node,
                    })?;
                    self.f.name_buf.truncate(mark);
                }
                Some(FirstKey::IdLike(key)) => {
                    // Read the object whole and decide as the tree walk does.
                    let mut obj = serde_json::Map::new();
                    let value: Value = map.next_value()?;
                    obj.insert(key, value);
                    while let Some((k, v)) = map.next_entry::<String, Value>()? {
                        obj.insert(k, v);
                    }
                    let node = self.node;
                    if self.f.flattens(node, &obj) {
                        for (k, v) in obj {
                            self.f.walk(node, &k, v, true, self.row);
                        }
                    } else {
                        self.f
                            .put(node, Cell::Json(Value::Object(obj).to_string()), self.row);
                    }
                    return Ok(());
                }
            }
            sniff = false;
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
        if self.node != 0 {
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

    /// Both flatteners (tree and streaming) on the same records: same rows, columns
    /// and warnings.
    fn both(records: &[&str]) -> (Flattener, Vec<Vec<Cell>>) {
        let mut parsed = Flattener::new(Shape::default());
        let mut streamed = Flattener::new(Shape::default());
        let mut rows = Vec::new();
        for r in records {
            let a = parsed.row(serde_json::from_str(r).unwrap(), true);
            let b = streamed.row_from_json(r.as_bytes(), &[]).unwrap();
            assert_eq!(a, b, "{r}");
            rows.push(b);
        }
        assert_eq!(parsed.columns(), streamed.columns());
        assert_eq!(parsed.take_warnings(), streamed.warnings.clone());
        (streamed, rows)
    }

    #[test]
    fn colliding_flattened_names_keep_both_values() {
        let (mut f, rows) = both(&[
            r#"{"user_id": 111, "user": {"id": 222}}"#,
            r#"{"user": {"id": 444}, "user_id": 333}"#,
        ]);
        assert_eq!(names(&f), ["user_id", "user_id_2"]);
        assert_eq!(rows[0], vec![Cell::Int(111), Cell::Int(222)]);
        // The suffix belongs to the field, whatever the key order of later records.
        assert_eq!(rows[1], vec![Cell::Int(333), Cell::Int(444)]);
        let warnings = f.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("'user_id' and 'user.id'") && warnings[0].contains("'user_id_2'"),
            "{warnings:?}"
        );
        assert!(f.take_warnings().is_empty(), "warned once");
    }

    #[test]
    fn a_refresh_keeps_the_suffixed_column_of_a_collision() {
        let existing = vec![
            Column {
                name: "user_id".into(),
                ty: ColType::BigInt,
            },
            Column {
                name: "user_id_2".into(),
                ty: ColType::BigInt,
            },
        ];
        let mut f = Flattener::with_columns(Shape::default(), existing);
        let row = f.row(json!({"user_id": 5, "user": {"id": 6}}), true);
        assert_eq!(names(&f), ["user_id", "user_id_2"]);
        assert_eq!(row, vec![Cell::Int(5), Cell::Int(6)]);
    }

    #[test]
    fn empty_keys_get_a_defined_name() {
        let (f, rows) = both(&[r#"{"": 1, "a": {"": 2}}"#]);
        assert_eq!(names(&f), [EMPTY_KEY, "a_empty_key"]);
        assert_eq!(rows[0], vec![Cell::Int(1), Cell::Int(2)]);
    }

    #[test]
    fn id_keyed_objects_are_one_json_column() {
        let (mut f, rows) = both(&[
            r#"{"id": 1, "rates": {"123": {"x": 1}, "456": {"x": 2}}, "days": {"2024-01-02": 5, "2024-01-03": 6}}"#,
            r#"{"id": 2, "rates": {"789": {"x": 3}}, "mixed": {"10": 1, "name": "n"}}"#,
            r#"{"id": 3, "by_uuid": {"0f8fad5b-d9cb-469f-a165-70867728950e": true}}"#,
        ]);
        assert_eq!(
            names(&f),
            ["id", "rates", "days", "mixed_10", "mixed_name", "by_uuid"]
        );
        assert_eq!(
            rows[0][1],
            Cell::Json(r#"{"123":{"x":1},"456":{"x":2}}"#.into())
        );
        assert_eq!(rows[1][1], Cell::Json(r#"{"789":{"x":3}}"#.into()));
        let warnings = f.take_warnings();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("'rates'"), "{warnings:?}");
    }

    #[test]
    fn objects_nested_beyond_the_limit_are_json() {
        let mut deep = String::from("1");
        for level in (0..14).rev() {
            deep = format!(r#"{{"l{level}": {deep}}}"#);
        }
        let (mut f, rows) = both(&[&deep]);
        let want = (0..MAX_DEPTH)
            .map(|l| format!("l{l}"))
            .collect::<Vec<_>>()
            .join("_");
        assert_eq!(names(&f), [want.as_str()]);
        assert_eq!(
            rows[0][0],
            Cell::Json(r#"{"l10":{"l11":{"l12":{"l13":1}}}}"#.into())
        );
        assert_eq!(f.take_warnings().len(), 1);
    }

    #[test]
    fn fields_beyond_the_column_cap_go_to_the_overflow_column() {
        let wide: serde_json::Map<String, Value> = (0..MAX_COLUMNS + 2)
            .map(|i| (format!("f{i}"), json!(i)))
            .collect();
        let text = Value::Object(wide).to_string();
        let (mut f, rows) = both(&[&text, r#"{"f0": 7, "f1000": "x"}"#]);
        assert_eq!(f.columns().len(), MAX_COLUMNS + 1);
        assert_eq!(f.columns()[MAX_COLUMNS].name, OVERFLOW_COLUMN);
        assert_eq!(f.columns()[MAX_COLUMNS].ty, ColType::Json);
        assert_eq!(
            rows[0][MAX_COLUMNS],
            Cell::Json(r#"{"f1000":1000,"f1001":1001}"#.into())
        );
        assert_eq!(rows[1][0], Cell::Int(7));
        assert_eq!(rows[1][MAX_COLUMNS], Cell::Json(r#"{"f1000":"x"}"#.into()));
        let warnings = f.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains(OVERFLOW_COLUMN));
    }

    #[test]
    fn a_record_deeper_than_the_parser_allows_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
        let mut f = Flattener::new(Shape::default());
        let err = f.row_from_json(deep.as_bytes(), &[]).unwrap_err();
        assert!(
            err.to_string().contains("recursion limit exceeded"),
            "{err}"
        );
        // The flattener is still usable for the next record.
        let row = f.row_from_json(br#"{"a": {"b": 1}}"#, &[]).unwrap();
        assert_eq!(names(&f), ["a_b"]);
        assert_eq!(row, vec![Cell::Int(1)]);
    }
}
