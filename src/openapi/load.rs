//! Reading an OpenAPI description: JSON or YAML text → one JSON tree, local `$ref`s
//! followed on demand (never expanded in place: GitHub's description grows from 13 MB to
//! 73 MB when dereferenced), and the operations of OpenAPI 3.0, 3.1 and Swagger 2.0
//! normalised into one [`Operation`] shape the rest of the generator reads.

use super::OpenApiError;
use serde_json::{Map, Value};

/// Which dialect the description is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Swagger 2.0.
    Swagger2,
    /// OpenAPI 3.0.x.
    V30,
    /// OpenAPI 3.1.x.
    V31,
}

impl Dialect {
    /// As written in the description's header.
    pub fn label(self) -> &'static str {
        match self {
            Dialect::Swagger2 => "Swagger 2.0",
            Dialect::V30 => "OpenAPI 3.0",
            Dialect::V31 => "OpenAPI 3.1",
        }
    }
}

/// A parsed description.
pub struct Doc {
    /// The whole document.
    pub root: Value,
    /// Its dialect.
    pub dialect: Dialect,
    /// `$ref`s that point outside the document (reported once in the output).
    pub external_refs: std::cell::RefCell<Vec<String>>,
}

/// How many `$ref` hops are followed before giving up (a cycle of pure references).
const MAX_REF_HOPS: usize = 32;

impl Doc {
    /// Parse `bytes` (JSON, YAML, or either gzip-compressed).
    pub fn parse(bytes: &[u8]) -> Result<Doc, OpenApiError> {
        let bytes = gunzip_if_needed(bytes)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| OpenApiError::Parse(format!("not UTF-8 text: {e}")))?;
        let text = text.trim_start_matches('\u{feff}');
        let root: Value = if text.trim_start().starts_with('{') {
            serde_json::from_str(text)
                .map_err(|e| OpenApiError::Parse(format!("not valid JSON: {e}")))?
        } else {
            let y: serde_yaml::Value = serde_yaml::from_str(text)
                .map_err(|e| OpenApiError::Parse(format!("not valid JSON or YAML: {e}")))?;
            crate::adapters::yaml::to_json(&y)
        };
        let Some(top) = root.as_object() else {
            return Err(OpenApiError::NotOpenApi(
                "the document is not a mapping".to_string(),
            ));
        };
        let version = |k: &str| top.get(k).and_then(scalar_text);
        let dialect = match (version("openapi"), version("swagger")) {
            (Some(v), _) if v.starts_with("3.0") => Dialect::V30,
            (Some(v), _) if v.starts_with("3.1") || v.starts_with("3.2") => Dialect::V31,
            (Some(v), _) => {
                return Err(OpenApiError::NotOpenApi(format!(
                    "OpenAPI version {v} is not supported (3.0, 3.1 or Swagger 2.0)"
                )))
            }
            (None, Some(v)) if v.starts_with('2') => Dialect::Swagger2,
            (None, Some(v)) => {
                return Err(OpenApiError::NotOpenApi(format!(
                    "Swagger version {v} is not supported (2.0)"
                )))
            }
            (None, None) => {
                return Err(OpenApiError::NotOpenApi(
                    "it has neither an `openapi` nor a `swagger` version key".to_string(),
                ))
            }
        };
        if !top.get("paths").is_some_and(Value::is_object) {
            return Err(OpenApiError::NotOpenApi(
                "it has no `paths` (a description without operations)".to_string(),
            ));
        }
        Ok(Doc {
            root,
            dialect,
            external_refs: Default::default(),
        })
    }

    /// `v`, or what its `$ref` chain points to. An unresolvable reference gives `Null`.
    pub fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..MAX_REF_HOPS {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            match self.pointer(r) {
                Some(next) => v = next,
                None => return &Value::Null,
            }
        }
        &Value::Null
    }

    /// A local reference (`#/components/schemas/X`); others are recorded and give `None`.
    fn pointer(&self, r: &str) -> Option<&Value> {
        let Some(fragment) = r.strip_prefix('#') else {
            let mut ext = self.external_refs.borrow_mut();
            if !ext.iter().any(|e| e == r) && ext.len() < 20 {
                ext.push(r.to_string());
            }
            return None;
        };
        let decoded = urlencoding::decode(fragment).ok()?;
        if decoded.is_empty() {
            return Some(&self.root);
        }
        self.root.pointer(&decoded)
    }

    /// The description's `info` block.
    pub fn info(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.root
            .get("info")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// Every operation, in document order.
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut out = Vec::new();
        let Some(paths) = self.root.get("paths").and_then(Value::as_object) else {
            return out;
        };
        for (path, item) in paths {
            let item = self.resolve(item);
            let Some(item) = item.as_object() else {
                continue;
            };
            let shared: Vec<&Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(op) = item.get(method).and_then(Value::as_object) else {
                    continue;
                };
                out.push(self.operation(path, method, op, &shared));
            }
        }
        out
    }

    fn operation<'a>(
        &'a self,
        path: &str,
        method: &str,
        op: &'a Map<String, Value>,
        shared: &[&'a Value],
    ) -> Operation<'a> {
        let text = |k: &str| op.get(k).and_then(Value::as_str).map(str::to_string);
        // Operation-level parameters override path-level ones of the same name and place.
        let mut params: Vec<Parameter<'a>> = Vec::new();
        let own: Vec<&Value> = op
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for raw in shared.iter().chain(own.iter()) {
            if let Some(p) = self.parameter(raw) {
                params.retain(|q| !(q.name == p.name && q.location == p.location));
                params.push(p);
            }
        }
        Operation {
            path: path.to_string(),
            method: method.to_string(),
            operation_id: text("operationId"),
            summary: text("summary"),
            description: text("description"),
            deprecated: op
                .get("deprecated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            params,
            response: self.success_response(op),
            security: op.get("security"),
        }
    }

    fn parameter<'a>(&'a self, raw: &'a Value) -> Option<Parameter<'a>> {
        let p = self.resolve(raw).as_object()?;
        let name = p.get("name")?.as_str()?.to_string();
        let location = match p.get("in")?.as_str()? {
            "path" => Location::Path,
            "query" => Location::Query,
            "header" => Location::Header,
            _ => Location::Other,
        };
        // Swagger 2.0 puts the schema keywords on the parameter itself.
        let schema = match self.dialect {
            Dialect::Swagger2 => p
                .get("schema")
                .map(|s| self.resolve(s))
                .or(Some(self.resolve(raw))),
            _ => p.get("schema").map(|s| self.resolve(s)),
        };
        Some(Parameter {
            required: p.get("required").and_then(Value::as_bool).unwrap_or(false)
                || location == Location::Path,
            name,
            location,
            schema,
            description: p
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }

    /// The 200 answer (or the first other 2xx), when it is JSON.
    fn success_response<'a>(&'a self, op: &'a Map<String, Value>) -> Answer<'a> {
        let Some(responses) = op.get("responses").and_then(Value::as_object) else {
            return Answer::Missing;
        };
        let chosen = responses.get("200").or_else(|| {
            responses
                .iter()
                .find(|(k, _)| k.starts_with('2') && k.as_str() != "204")
                .map(|(_, v)| v)
        });
        let Some(resp) = chosen.map(|r| self.resolve(r)).and_then(Value::as_object) else {
            return Answer::Missing;
        };
        let link_header = resp
            .get("headers")
            .and_then(Value::as_object)
            .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("link")));
        match self.dialect {
            Dialect::Swagger2 => {
                let schema = resp.get("schema").map(|s| self.resolve(s));
                let example = resp
                    .get("examples")
                    .and_then(Value::as_object)
                    .and_then(|ex| {
                        ex.iter()
                            .find(|(k, _)| k.contains("json"))
                            .map(|(_, v)| v.clone())
                    });
                if schema.is_none() && example.is_none() {
                    return Answer::Missing;
                }
                Answer::Json {
                    schema,
                    example,
                    link_header,
                }
            }
            _ => {
                let Some(content) = resp.get("content").and_then(Value::as_object) else {
                    return Answer::Missing;
                };
                let media = content
                    .iter()
                    .find(|(k, _)| k.as_str() == "application/json")
                    .or_else(|| content.iter().find(|(k, _)| k.contains("json")));
                let Some((_, media)) = media else {
                    let kinds: Vec<&str> = content.keys().map(String::as_str).collect();
                    return Answer::NotJson(kinds.join(", "));
                };
                let schema = media.get("schema").map(|s| self.resolve(s));
                let example = media.get("example").cloned().or_else(|| {
                    media
                        .get("examples")
                        .and_then(Value::as_object)
                        .and_then(|ex| ex.values().next())
                        .map(|e| self.resolve(e))
                        .and_then(|e| e.get("value"))
                        .cloned()
                });
                Answer::Json {
                    schema,
                    example,
                    link_header,
                }
            }
        }
    }

    /// The servers' URLs with their variables' defaults (Swagger 2.0: scheme + host +
    /// basePath).
    pub fn servers(&self) -> Vec<Server> {
        let top = &self.root;
        if self.dialect == Dialect::Swagger2 {
            let Some(host) = top.get("host").and_then(Value::as_str) else {
                let base = top.get("basePath").and_then(Value::as_str).unwrap_or("");
                return vec![Server {
                    url: base.to_string(),
                    variables: Vec::new(),
                }];
            };
            let schemes: Vec<&str> = top
                .get("schemes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let scheme = if schemes.is_empty() || schemes.contains(&"https") {
                "https"
            } else {
                schemes[0]
            };
            let base = top.get("basePath").and_then(Value::as_str).unwrap_or("");
            return vec![Server {
                url: format!("{scheme}://{host}{base}"),
                variables: Vec::new(),
            }];
        }
        top.get("servers")
            .and_then(Value::as_array)
            .map(|servers| {
                servers
                    .iter()
                    .filter_map(|s| {
                        let url = s.get("url")?.as_str()?.to_string();
                        let variables = s
                            .get("variables")
                            .and_then(Value::as_object)
                            .map(|vars| {
                                vars.iter()
                                    .map(|(k, v)| ServerVariable {
                                        name: k.clone(),
                                        default: v.get("default").and_then(scalar_text),
                                        description: v
                                            .get("description")
                                            .and_then(Value::as_str)
                                            .map(str::to_string),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some(Server { url, variables })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The security schemes by name (`components.securitySchemes`, Swagger 2.0
    /// `securityDefinitions`).
    pub fn security_schemes(&self) -> Vec<(String, &Value)> {
        let found = match self.dialect {
            Dialect::Swagger2 => self.root.get("securityDefinitions"),
            _ => self.root.pointer("/components/securitySchemes"),
        };
        found
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The document-wide `security` requirement.
    pub fn security(&self) -> Option<&Value> {
        self.root.get("security")
    }
}

/// A server of the description.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its URL, possibly with `{variable}`s, possibly relative.
    pub url: String,
    /// Its variables.
    pub variables: Vec<ServerVariable>,
}

/// A `{variable}` of a server URL.
#[derive(Debug, Clone)]
pub struct ServerVariable {
    /// Its name.
    pub name: String,
    /// Its default value.
    pub default: Option<String>,
    /// What it is.
    pub description: Option<String>,
}

/// One operation, whatever the dialect.
pub struct Operation<'a> {
    /// The path template (`/users/{id}`).
    pub path: String,
    /// Lower-case HTTP method.
    pub method: String,
    /// `operationId`.
    pub operation_id: Option<String>,
    /// `summary`.
    pub summary: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `deprecated: true`.
    pub deprecated: bool,
    /// Path-level and operation-level parameters, resolved.
    pub params: Vec<Parameter<'a>>,
    /// The successful answer.
    pub response: Answer<'a>,
    /// The operation's own `security` requirement, if any.
    pub security: Option<&'a Value>,
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// `{name}` in the path.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
    /// A cookie, a body or form field: not something a table can send.
    Other,
}

/// A parameter of an operation.
pub struct Parameter<'a> {
    /// Its name.
    pub name: String,
    /// Where it goes.
    pub location: Location,
    /// Required (path parameters always are).
    pub required: bool,
    /// Its schema (Swagger 2.0: the parameter object itself).
    pub schema: Option<&'a Value>,
    /// Its description.
    pub description: String,
}

impl Parameter<'_> {
    /// The schema's `default`, as text.
    pub fn default_text(&self) -> Option<String> {
        self.schema
            .and_then(|s| s.get("default"))
            .and_then(scalar_text)
    }
    /// The schema's first `enum` value, as text.
    pub fn first_enum(&self) -> Option<String> {
        self.schema
            .and_then(|s| s.get("enum"))
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find_map(scalar_text))
    }
    /// The schema's `maximum`.
    pub fn maximum(&self) -> Option<u64> {
        self.schema
            .and_then(|s| s.get("maximum"))
            .and_then(|m| m.as_u64().or_else(|| m.as_f64().map(|f| f as u64)))
    }
    /// The schema's `minimum`.
    pub fn minimum(&self) -> Option<u64> {
        self.schema
            .and_then(|s| s.get("minimum"))
            .and_then(|m| m.as_u64().or_else(|| m.as_f64().map(|f| f.max(0.0) as u64)))
    }
    /// The schema's `default` as a number.
    pub fn default_number(&self) -> Option<u64> {
        self.schema.and_then(|s| s.get("default")).and_then(|d| {
            d.as_u64()
                .or_else(|| d.as_str().and_then(|s| s.parse().ok()))
        })
    }
    /// True when the schema says integer or number.
    pub fn is_numeric(&self) -> bool {
        self.schema
            .map(|s| matches!(type_name(s), Some("integer" | "number")))
            .unwrap_or(false)
    }
}

/// The successful answer of an operation.
pub enum Answer<'a> {
    /// No 2xx answer with a body.
    Missing,
    /// A body that is not JSON (the media types).
    NotJson(String),
    /// A JSON body.
    Json {
        /// Its schema, resolved one level.
        schema: Option<&'a Value>,
        /// A documented example of the whole body.
        example: Option<Value>,
        /// A `Link` response header is documented.
        link_header: bool,
    },
}

/// A scalar as text (numbers and booleans too).
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The schema's type, the first non-null one of a 3.1 type list.
pub fn type_name(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(s) => Some(s.as_str()),
        Value::Array(list) => list.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// Decompress gzip input (`.json.gz`), leave anything else alone.
fn gunzip_if_needed(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, OpenApiError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| OpenApiError::Parse(format!("not valid gzip: {e}")))?;
        Ok(std::borrow::Cow::Owned(out))
    } else {
        Ok(std::borrow::Cow::Borrowed(bytes))
    }
}
