//! Tables: every GET operation whose answer is a list (a bare array, or an envelope with
//! a list in it) becomes a table. Its record path comes from the schema (or the example),
//! its pager from [`super::paging`], its key column from `id`-like fields, and each path
//! parameter from a column of the parent table that lists those things
//! (`/users/{user_id}/posts` → `sql@(select distinct "id" from "users")`). Operations
//! that cannot become a table are kept with the reason, for the spec's comments.

use super::auth::one_line;
use super::load::{Answer, Doc, Location, Operation, Parameter};
use super::names::{snake, table_names};
use super::paging::{self, Pager};
use super::schema::{self, Kind};
use serde_json::Value;

/// The generator's decisions for one table.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// Unique snake_case name.
    pub name: String,
    /// `GET /path (operationId)`.
    pub origin: String,
    /// The path template.
    pub path: String,
    /// Table description (the operation's summary).
    pub description: Option<String>,
    /// Where the records are (empty: the body is the list).
    pub record_path: Vec<String>,
    /// Why that record path, when it was a choice.
    pub record_guess: Option<String>,
    /// The pager.
    pub pager: Option<Pager>,
    /// Why there is no pager although the operation looks paged.
    pub no_pager_note: Option<String>,
    /// Static query params: (name, value, guess).
    pub params: Vec<(String, String, Option<String>)>,
    /// Request headers: (name, value, guess).
    pub headers: Vec<(String, String, Option<String>)>,
    /// Path params fed by the parent: names, and the parent's columns that feed them.
    pub from_parent: Option<ParentLink>,
    /// Path params copied onto every row (those the records do not have a field for).
    pub copy_params: Vec<String>,
    /// Key column and, when guessed, why.
    pub key: Option<(String, Option<String>)>,
}

/// A child table's parameters read from its parent table.
#[derive(Debug, Clone)]
pub struct ParentLink {
    /// Index of the parent in the plan's tables.
    pub parent: usize,
    /// The child's path params, in path order.
    pub names: Vec<String>,
    /// The parent's columns, in the same order.
    pub columns: Vec<String>,
    /// How the last column was chosen, when guessed.
    pub guess: Option<String>,
}

/// An operation that gave no table, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// `GET /path`.
    pub origin: String,
    /// Why.
    pub reason: String,
}

/// Every table, and every GET operation that is not one.
#[derive(Debug, Default)]
pub struct Plan {
    /// Tables in document order.
    pub tables: Vec<TablePlan>,
    /// GET operations skipped, in document order.
    pub skipped: Vec<Skipped>,
    /// Operations other than GET (not tables: they change things).
    pub not_get: usize,
}

/// Names of fields that identify a record, in order of preference.
const KEY_NAMES: &[&str] = &["id", "uuid", "guid", "_id", "key", "slug", "sid", "code"];
/// Parameters that carry credentials: the auth block's business, not the table's.
const CREDENTIALS: &[&str] = &["token", "access_token", "api_key", "apikey", "auth_token"];
/// Names under which an envelope keeps its list, in order of preference.
const LIST_NAMES: &[&str] = &[
    "data",
    "items",
    "results",
    "records",
    "entries",
    "values",
    "value",
    "elements",
    "list",
    "content",
    "hits",
    "nodes",
    "rows",
    "objects",
    "collection",
];

struct Candidate<'a> {
    op: Operation<'a>,
    record_path: Vec<String>,
    record_guess: Option<String>,
    items: Option<&'a Value>,
    answer: Option<&'a Value>,
    link_header: bool,
}

/// Plan the tables of a description.
pub fn plan(doc: &Doc) -> Plan {
    let mut out = Plan::default();
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    // Object answers by path shape: what `GET /repos/{owner}/{repo}` returns.
    let mut objects: Vec<(String, &Value)> = Vec::new();
    for op in doc.operations() {
        if op.method != "get" {
            out.not_get += 1;
            continue;
        }
        let origin = format!("GET {}", op.path);
        match candidate(doc, op, &mut objects) {
            Ok(c) => candidates.push(c),
            Err(reason) => out.skipped.push(Skipped { origin, reason }),
        }
    }
    settle(doc, &candidates, &objects, &mut out);
    name_tables(&mut out.tables);
    out
}

/// A GET operation as a table candidate (its records found), or why it is none. An
/// object answer's schema is added to `objects` under its path's shape.
fn candidate<'a>(
    doc: &'a Doc,
    op: Operation<'a>,
    objects: &mut Vec<(String, &'a Value)>,
) -> Result<Candidate<'a>, String> {
    if op.deprecated {
        return Err("deprecated".to_string());
    }
    let (schema, example, link_header) = match &op.response {
        Answer::Missing => return Err("no JSON answer is documented".to_string()),
        Answer::NotJson(kinds) => return Err(format!("answers {kinds}, not JSON")),
        Answer::Json {
            schema,
            example,
            link_header,
        } => (*schema, example.as_ref(), *link_header),
    };
    if let Some(s) = schema {
        if matches!(schema::kind(doc, s), Kind::Object) {
            objects.push((shape(&op.path), s));
        }
    }
    let (record_path, items, record_guess) = match (schema, example) {
        (Some(s), _) if !matches!(schema::kind(doc, s), Kind::Scalar) || example.is_none() => {
            records_in_schema(doc, s)
        }
        (_, Some(ex)) => records_in_example(ex),
        _ => Err("the answer is not described".to_string()),
    }?;
    Ok(Candidate {
        op,
        record_path,
        record_guess,
        items,
        answer: schema,
        link_header,
    })
}

/// Plan every candidate into `out.tables` (document order, parents linked by table
/// index) or `out.skipped`.
fn settle(doc: &Doc, candidates: &[Candidate<'_>], objects: &[(String, &Value)], out: &mut Plan) {
    // Tables without path parameters first, so a parent is settled before its children.
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| path_params(&candidates[i].op.path).len());
    let mut planned: Vec<Option<TablePlan>> = vec![None; candidates.len()];
    let mut reasons: Vec<Option<String>> = vec![None; candidates.len()];
    for &i in &order {
        match plan_one(doc, candidates, objects, i, &planned) {
            Ok(t) => planned[i] = Some(t),
            Err(reason) => reasons[i] = Some(reason),
        }
    }
    // Index remap: candidate index → table index.
    let mut index = vec![usize::MAX; candidates.len()];
    for (i, t) in planned.into_iter().enumerate() {
        if let Some(t) = t {
            index[i] = out.tables.len();
            out.tables.push(t);
        }
    }
    for t in &mut out.tables {
        if let Some(link) = &mut t.from_parent {
            link.parent = index[link.parent];
        }
    }
    for (i, reason) in reasons.into_iter().enumerate() {
        if let Some(reason) = reason {
            out.skipped.push(Skipped {
                origin: format!("GET {}", candidates[i].op.path),
                reason,
            });
        }
    }
}

/// Name the tables after their paths. A table named like a word of a generated `sql@`
/// query (a column, `select`…) would read as a dependency of that query: such a table
/// gets `_list` appended.
fn name_tables(tables: &mut [TablePlan]) {
    let paths: Vec<&str> = tables.iter().map(|t| t.path.as_str()).collect();
    let names = table_names(&paths);
    let mut words: Vec<&str> = vec!["select", "distinct", "from"];
    for t in tables.iter() {
        if let Some(link) = &t.from_parent {
            words.extend(link.columns.iter().map(String::as_str));
        }
    }
    let words: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let mut taken: Vec<String> = names.clone();
    let names: Vec<String> = names
        .into_iter()
        .map(|n| {
            if !words.contains(&n) {
                return n;
            }
            let mut candidate = format!("{n}_list");
            let mut k = 2;
            while taken.contains(&candidate) {
                candidate = format!("{n}_list_{k}");
                k += 1;
            }
            taken.push(candidate.clone());
            candidate
        })
        .collect();
    for (t, n) in tables.iter_mut().zip(names) {
        t.name = n;
    }
}

/// Plan candidate `i`, its parent (if any) already in `planned`.
fn plan_one(
    doc: &Doc,
    candidates: &[Candidate<'_>],
    objects: &[(String, &Value)],
    i: usize,
    planned: &[Option<TablePlan>],
) -> Result<TablePlan, String> {
    let c = &candidates[i];
    let op = &c.op;
    let pager = paging::detect(doc, op, c.answer, &c.record_path, c.link_header);
    let paged: Vec<&str> = pager.as_ref().map(|p| p.params()).unwrap_or_default();
    let no_pager_note = if pager.is_none() {
        looks_paged(op)
    } else {
        None
    };
    let (params, headers) = static_params(op, &paged)?;
    let from_parent = match path_params(&op.path).last() {
        None => None,
        Some(last) => Some(
            parent_link(doc, candidates, i, last, planned)
                .or_else(|why| identity_parent(doc, candidates, objects, i, planned).ok_or(why))?,
        ),
    };
    Ok(TablePlan {
        name: String::new(),
        origin: match &op.operation_id {
            Some(id) => format!("GET {} ({id})", op.path),
            None => format!("GET {}", op.path),
        },
        path: op.path.clone(),
        description: description_of(op),
        record_path: c.record_path.clone(),
        record_guess: c.record_guess.clone(),
        pager,
        no_pager_note,
        params,
        headers,
        from_parent,
        copy_params: copy_params(doc, c.items, &op.path),
        key: c.items.and_then(|items| key_column(doc, items)),
    })
}

/// A static parameter: (name, value, guess).
type Static = (String, String, Option<String>);

/// The required query parameters and headers the table sends as constants (those the
/// pager and the auth block do not set), or why a required one has no value.
fn static_params(op: &Operation<'_>, paged: &[&str]) -> Result<(Vec<Static>, Vec<Static>), String> {
    let mut params = Vec::new();
    let mut headers = Vec::new();
    for p in &op.params {
        if !p.required || p.location == Location::Path || paged.contains(&p.name.as_str()) {
            continue;
        }
        if CREDENTIALS.contains(&snake(&p.name).as_str()) {
            // The auth block sends credentials (Slack documents `token` on every method).
            continue;
        }
        let (value, guess) = required_value(p)?;
        match p.location {
            Location::Query => params.push((p.name.clone(), value, guess)),
            Location::Header => headers.push((p.name.clone(), value, guess)),
            _ => {
                return Err(format!(
                    "the required parameter `{}` is not in the path, query or headers",
                    p.name
                ))
            }
        }
    }
    Ok((params, headers))
}

/// The value sent for a required parameter: its default, else its first allowed value
/// (a guess); without either, the table cannot be read.
fn required_value(p: &Parameter<'_>) -> Result<(String, Option<String>), String> {
    match (p.default_text(), p.first_enum()) {
        (Some(d), _) => Ok((d, None)),
        (None, Some(e)) => Ok((
            e,
            Some(format!("`{}` is required; its first allowed value", p.name)),
        )),
        (None, None) => {
            let place = match p.location {
                Location::Header => "header",
                Location::Query => "query parameter",
                _ => "parameter",
            };
            Err(format!(
                "the required {place} `{}` has no default to send (add it to the table's params)",
                p.name
            ))
        }
    }
}

/// The table's description: the operation's summary, else its description (first line).
fn description_of(op: &Operation<'_>) -> Option<String> {
    op.summary
        .as_deref()
        .map(one_line)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            op.description
                .as_deref()
                .map(one_line)
                .filter(|s| !s.is_empty())
        })
}

/// The path params of `path` the records (described by `items`) have no field for.
fn copy_params(doc: &Doc, items: Option<&Value>, path: &str) -> Vec<String> {
    let fields: Vec<String> = items
        .map(|items| {
            schema::properties(doc, items)
                .into_iter()
                .map(|(n, _)| n.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    path_params(path)
        .into_iter()
        .filter(|p| !fields.contains(&p.to_ascii_lowercase()))
        .collect()
}

/// The parent that lists what `{last}` names: the list operation whose path is this
/// path up to `/{last}`.
fn parent_link(
    doc: &Doc,
    candidates: &[Candidate<'_>],
    i: usize,
    last: &str,
    planned: &[Option<TablePlan>],
) -> Result<ParentLink, String> {
    let path = &candidates[i].op.path;
    let marker = format!("{{{last}}}");
    let cut = path.find(&marker).unwrap_or(path.len());
    let prefix = &path[..cut];
    let wanted = shape(prefix);
    let names = path_params(path);
    let parent = candidates
        .iter()
        .enumerate()
        .find(|(j, c)| *j != i && shape(&c.op.path) == wanted);
    let Some((j, parent)) = parent else {
        return Err(format!(
            "no list operation GET {} gives the values of `{last}`",
            prefix.trim_end_matches('/')
        ));
    };
    let Some(parent_plan) = &planned[j] else {
        return Err(format!(
            "its parent GET {} is not a table either",
            parent.op.path
        ));
    };
    let (column, guess) = parent
        .items
        .and_then(|items| feeding_column(doc, items, last, &parent.op.path))
        .ok_or_else(|| {
            format!(
                "the records of GET {} have no field that looks like `{last}`",
                parent.op.path
            )
        })?;
    // Earlier path params are the parent's own path params, copied onto its rows.
    let parent_names = path_params(&parent.op.path);
    if let Some(lost) = parent_names
        .iter()
        .find(|n| !parent_plan.copy_params.contains(n))
    {
        return Err(format!(
            "the rows of GET {} do not keep `{lost}` (their records have a field of that name)",
            parent.op.path
        ));
    }
    let mut columns: Vec<String> = parent_names.clone();
    columns.push(column);
    Ok(ParentLink {
        parent: j,
        names,
        columns,
        guess,
    })
}

/// For `/repos/{owner}/{repo}/issues`, where no list has the path `/repos/{owner}`: the
/// parameters name one thing of the kind `GET /repos/{owner}/{repo}` returns, so any
/// list table of things of that kind (most of their fields in common) can feed them —
/// preferring one whose path ends with the same word (`/user/repos`). Each parameter is
/// mapped to a field of that list's records: the same name (an object's `login`, `name`,
/// `slug` or `id` when the field is an object: `owner` → `owner_login`), the thing's own
/// identifier for its singular (`repo` → `name`), `login` for a `…name`, the key for an
/// `…id`.
fn identity_parent(
    doc: &Doc,
    candidates: &[Candidate<'_>],
    objects: &[(String, &Value)],
    i: usize,
    planned: &[Option<TablePlan>],
) -> Option<ParentLink> {
    let path = &candidates[i].op.path;
    let names = path_params(path);
    // Every parameter in one block right after a literal word: /word/{a}/{b}/rest.
    let segments: Vec<&str> = path.split('/').collect();
    let first = segments.iter().position(|s| s.starts_with('{'))?;
    let block = segments[first..]
        .iter()
        .take_while(|s| s.starts_with('{'))
        .count();
    if block != names.len() || first == 0 {
        return None;
    }
    let word = segments[first - 1];
    let thing_path = segments[..first + block].join("/");
    let thing_shape = shape(&thing_path);
    let (_, thing) = objects.iter().find(|(s, _)| *s == thing_shape)?;
    let thing_fields: Vec<&str> = schema::properties(doc, thing)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let word_snake = snake(word);
    let mut lists: Vec<(usize, bool, usize)> = Vec::new();
    for (j, c) in candidates.iter().enumerate() {
        if j == i || planned[j].is_none() || !path_params(&c.op.path).is_empty() {
            continue;
        }
        let Some(items) = c.items else { continue };
        let fields: Vec<&str> = schema::properties(doc, items)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        if fields.len() < 3 {
            continue;
        }
        let shared = fields.iter().filter(|f| thing_fields.contains(f)).count();
        if shared * 10 < fields.len() * 6 {
            continue;
        }
        let same_word = super::names::path_words(&c.op.path).last() == Some(&word_snake);
        lists.push((j, same_word, c.op.path.len()));
    }
    lists.sort_by_key(|(j, same_word, len)| (!same_word, *len, *j));
    for (j, _, _) in lists {
        let items = candidates[j].items?;
        let columns: Option<Vec<String>> = names
            .iter()
            .map(|p| identity_column(doc, items, p, &word_snake))
            .collect();
        if let Some(columns) = columns {
            let parent = &candidates[j].op.path;
            let pairs: Vec<String> = names
                .iter()
                .zip(&columns)
                .map(|(n, c)| format!("`{n}` ← `{c}`"))
                .collect();
            return Some(ParentLink {
                parent: j,
                names,
                guess: Some(format!(
                    "{thing_path} names one of the things GET {parent} lists (they share most fields): {}",
                    pairs.join(", ")
                )),
                columns,
            });
        }
    }
    None
}

/// The column of a list's records that holds `param` (see [`identity_parent`]).
fn identity_column(doc: &Doc, items: &Value, param: &str, word: &str) -> Option<String> {
    let props = schema::properties(doc, items);
    let required = schema::required(doc, items);
    let scalar = |name: &str| {
        props
            .iter()
            .find(|(n, v)| *n == name && schema::is_scalar(doc, v))
            .map(|(n, _)| n.to_string())
    };
    let p = snake(param);
    if let Some((name, v)) = props.iter().find(|(n, _)| snake(n) == p) {
        if schema::is_scalar(doc, v) {
            return Some(name.to_string());
        }
        if matches!(schema::kind(doc, v), Kind::Object) {
            let inner = schema::properties(doc, v);
            for want in ["login", "name", "slug", "key", "id"] {
                if inner
                    .iter()
                    .any(|(n, w)| *n == want && schema::is_scalar(doc, w))
                {
                    return Some(format!("{name}_{want}"));
                }
            }
        }
        return None;
    }
    let singular = singular(word);
    let own: &[&str] = if p == singular || p == word {
        &["name", "login", "slug", "key", "id", "number"]
    } else if p.ends_with("name") {
        &["login", "username", "name", "slug"]
    } else if p.ends_with("id") {
        &["id", "uuid", "key"]
    } else if p.ends_with("slug") {
        &["slug", "name"]
    } else if p.ends_with("number") {
        &["number"]
    } else {
        &[]
    };
    own.iter()
        .find_map(|want| scalar(want).filter(|n| required.contains(&n.as_str()) || *want == "id"))
}

/// A path with its parameter names blanked and no trailing slash: `/users/{}/posts`.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out.trim_end_matches('/').to_string()
}

/// The `{name}`s of a path, in order.
pub fn path_params(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

/// The field of the parent's records that feeds `{param}`: the same name, the name less
/// the parent's singular (`user_id` → `id`), or the key for an `…id` param.
fn feeding_column(
    doc: &Doc,
    items: &Value,
    param: &str,
    parent_path: &str,
) -> Option<(String, Option<String>)> {
    let props: Vec<&str> = schema::properties(doc, items)
        .into_iter()
        .filter(|(_, v)| schema::is_scalar(doc, v))
        .map(|(n, _)| n)
        .collect();
    let p = snake(param);
    if let Some(exact) = props.iter().find(|n| snake(n) == p) {
        return Some((exact.to_string(), None));
    }
    let parent_word = super::names::path_words(parent_path)
        .last()
        .cloned()
        .unwrap_or_default();
    let singular = singular(&parent_word);
    // Only a field every record has: a child fed by a column that may be missing or
    // null would fail or send empty path segments.
    let required = schema::required(doc, items);
    for prefix in [parent_word.as_str(), singular.as_str()] {
        if let Some(rest) = p.strip_prefix(prefix).map(|r| r.trim_start_matches('_')) {
            if rest.is_empty() {
                continue;
            }
            let found = props
                .iter()
                .find(|n| snake(n) == rest && (required.contains(n) || KEY_NAMES.contains(n)));
            if let Some(found) = found {
                return Some((
                    found.to_string(),
                    Some(format!(
                        "`{param}` is the `{found}` of each record of {}",
                        parent_path
                    )),
                ));
            }
        }
    }
    if p == "id" || p.ends_with("_id") || p.ends_with("id") {
        if let Some((k, _)) = key_column(doc, items) {
            return Some((
                k.clone(),
                Some(format!(
                    "`{param}` is the `{k}` of each record of {parent_path}"
                )),
            ));
        }
    }
    None
}

fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if word.ends_with("ses") || word.ends_with("xes") {
        word[..word.len() - 2].to_string()
    } else if let Some(stem) = word.strip_suffix('s') {
        stem.to_string()
    } else {
        word.to_string()
    }
}

/// The key column of records described by `items`: `id`, else `uuid`, `key`, …
fn key_column(doc: &Doc, items: &Value) -> Option<(String, Option<String>)> {
    let props = schema::properties(doc, items);
    for want in KEY_NAMES {
        if let Some((name, _)) = props
            .iter()
            .find(|(n, v)| n == want && schema::is_scalar(doc, v))
        {
            let guess = (*want != "id").then(|| format!("`{name}` looks like the records' key"));
            return Some((name.to_string(), guess));
        }
    }
    None
}

/// Where the records are in an answer described by `schema`: (path, item schema, guess).
type Found<'a> = Result<(Vec<String>, Option<&'a Value>, Option<String>), String>;

/// Where the records are in an answer described by `schema`: the answer itself, its one
/// list, the best-named of its lists, or the one list one level down.
fn records_in_schema<'a>(doc: &'a Doc, schema: &'a Value) -> Found<'a> {
    match schema::kind(doc, schema) {
        Kind::Array(items) => return Ok((Vec::new(), items, None)),
        Kind::Scalar => return Err("the answer is not a list or an object".to_string()),
        Kind::Object => {}
    }
    let props = schema::properties(doc, schema);
    if let Some(why) = identified_object(doc, &props) {
        return Err(why);
    }
    let lists: Vec<(&str, Option<&Value>)> = props
        .into_iter()
        .filter_map(|(n, v)| match schema::kind(doc, v) {
            Kind::Array(items) => Some((n, items)),
            _ => None,
        })
        .collect();
    if let [(name, items)] = lists.as_slice() {
        return Ok((vec![name.to_string()], *items, None));
    }
    if lists.len() > 1 {
        return pick_list(doc, &lists);
    }
    nested_list(doc, schema)
}

/// A record with an identity of its own is one thing, even with lists in it (an issue
/// with its labels); an envelope has none. Some(why it is no list) for such a record.
fn identified_object(doc: &Doc, props: &[(&str, &Value)]) -> Option<String> {
    let (id, _) = props
        .iter()
        .find(|(n, v)| matches!(*n, "id" | "uuid" | "guid") && schema::is_scalar(doc, v))?;
    let lists: Vec<&str> = props
        .iter()
        .filter(|(_, v)| matches!(schema::kind(doc, v), Kind::Array(_)))
        .map(|(n, _)| *n)
        .collect();
    Some(if lists.is_empty() {
        "returns a single object, not a list".to_string()
    } else {
        format!(
            "returns a single object (it has an `{id}`; lists {}), not a list",
            lists.join(", ")
        )
    })
}

/// Several lists in an envelope: the one with a usual name, else the only list of
/// objects.
fn pick_list<'a>(doc: &'a Doc, lists: &[(&'a str, Option<&'a Value>)]) -> Found<'a> {
    let names: Vec<&str> = lists.iter().map(|(n, _)| *n).collect();
    let pick = LIST_NAMES
        .iter()
        .find_map(|want| lists.iter().find(|(n, _)| n == want))
        .or_else(|| {
            // The list of objects, if only one of them holds objects.
            let objects: Vec<_> = lists
                .iter()
                .filter(|(_, i)| i.is_some_and(|i| matches!(schema::kind(doc, i), Kind::Object)))
                .collect();
            (objects.len() == 1).then(|| objects[0])
        });
    match pick {
        Some((name, items)) => Ok((
            vec![name.to_string()],
            *items,
            Some(format!(
                "the answer has several lists ({}); the records are `{name}`",
                names.join(", ")
            )),
        )),
        None => Err(format!(
            "returns a single object (with the lists {}), not a list",
            names.join(", ")
        )),
    }
}

/// An envelope one level down: {"data": {"items": [...]}}, when there is one such list.
fn nested_list<'a>(doc: &'a Doc, schema: &'a Value) -> Found<'a> {
    let mut nested = Vec::new();
    for (outer, v) in schema::properties(doc, schema) {
        if !matches!(schema::kind(doc, v), Kind::Object) {
            continue;
        }
        for (inner, w) in schema::properties(doc, v) {
            if let Kind::Array(items) = schema::kind(doc, w) {
                nested.push((outer, inner, items));
            }
        }
    }
    if let [(outer, inner, items)] = nested.as_slice() {
        return Ok((
            vec![outer.to_string(), inner.to_string()],
            *items,
            Some(format!("the records are the list `{outer}.{inner}`")),
        ));
    }
    Err("returns a single object, not a list".to_string())
}

fn records_in_example(example: &Value) -> Found<'static> {
    match example {
        Value::Array(_) => Ok((
            Vec::new(),
            None,
            Some("the answer's example is a list".to_string()),
        )),
        Value::Object(m) => {
            let lists: Vec<&String> = m
                .iter()
                .filter(|(_, v)| v.is_array())
                .map(|(k, _)| k)
                .collect();
            match lists.as_slice() {
                [one] => Ok((
                    vec![one.to_string()],
                    None,
                    Some(format!("the answer's example keeps its list in `{one}`")),
                )),
                [] => Err("returns a single object, not a list".to_string()),
                many => {
                    let pick = LIST_NAMES.iter().find(|w| many.iter().any(|n| n == *w));
                    match pick {
                        Some(name) => Ok((
                            vec![name.to_string()],
                            None,
                            Some(format!("the answer's example has several lists; the records are `{name}`")),
                        )),
                        None => Err("the answer's example has several lists and none is clearly the records".to_string()),
                    }
                }
            }
        }
        _ => Err("the answer is not a list or an object".to_string()),
    }
}

/// A note when an operation has paging-like params the detector could not use.
fn looks_paged(op: &Operation<'_>) -> Option<String> {
    let names: Vec<String> = op
        .params
        .iter()
        .filter(|p| p.location == Location::Query)
        .map(|p| p.name.clone())
        .filter(|n| {
            let s = snake(n);
            s.contains("page") || s.contains("cursor") || s == "offset" || s == "after"
        })
        .collect();
    (!names.is_empty()).then(|| {
        format!(
            "no pager: {} found, but not a complete set (page + size, offset + size, a cursor and the answer field that carries it); one request per parameter set",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        )
    })
}
