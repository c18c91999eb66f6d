//! Plan: everything about a load decided once, before anything is fetched — full load
//! or incremental merge, the endpoint and body, and the params to expand.

use crate::adapters::connections::Connection;
use crate::adapters::spec::{Method, Param, ParamValue, Refresh, TableSpec};
use crate::engine::LoadError;
use crate::protocol::Action;
use crate::warehouse::Warehouse;
use std::sync::Arc;
use std::time::Instant;

/// A load of one table, decided.
pub(super) struct LoadPlan {
    /// The table's connection.
    pub conn: Arc<Connection>,
    /// The table as fetched: a refresh may use its own endpoint and body.
    pub table: TableSpec,
    /// `schema.table`, for messages.
    pub name: String,
    /// What `unify.loading_jobs` records: `refresh` for a merge, else the action.
    pub action: &'static str,
    /// Merge by key into the existing table (an `updates` refresh) instead of
    /// replacing it.
    pub merge: bool,
    /// The params to expand: the table's, with a refresh's own (timestamps filled in)
    /// in place of those of the same names.
    pub params: Vec<Param>,
    /// When planning started (for the elapsed time).
    pub started: Instant,
    /// The same moment, µs since the epoch (recorded as the scan's start).
    pub started_us: i64,
}

impl LoadPlan {
    /// Plan loading `table` of `conn` with `action`. A `refresh` of a table with an
    /// `updates` strategy that was scanned before becomes an incremental merge of
    /// what changed since 24 hours before the last scan started.
    pub async fn build(
        wh: &Arc<Warehouse>,
        conn: &Arc<Connection>,
        table: &TableSpec,
        action: Action,
    ) -> Result<LoadPlan, LoadError> {
        let started = Instant::now();
        let started_us = chrono::Utc::now().timestamp_micros();
        let last_scan = wh.last_scan(&conn.schema, &table.name).await?;
        let mut plan = LoadPlan {
            conn: conn.clone(),
            table: table.clone(),
            name: format!("{}.{}", conn.schema, table.name),
            action: action.as_str(),
            merge: false,
            params: table.params.clone(),
            started,
            started_us,
        };
        if let (Refresh::Updates { .. }, Action::Refresh, Some(since_us)) =
            (&table.refresh, action, last_scan)
        {
            let format = conn.spec.query_date_format.as_deref();
            plan.incremental(&Stamps::since(since_us, format));
        }
        Ok(plan)
    }

    /// Turn the plan into an incremental merge, with the refresh's own endpoint, body
    /// and params (`${timestamp}` filled in).
    fn incremental(&mut self, stamps: &Stamps) {
        let Refresh::Updates {
            params,
            resource_path,
            post,
            ..
        } = &self.table.refresh
        else {
            return;
        };
        let (params, resource_path, post) = (params.clone(), resource_path.clone(), post.clone());
        self.merge = true;
        self.action = "refresh";
        if let Some(path) = resource_path {
            self.table.path = path;
        }
        if let Some(body) = post {
            self.table.post = Some(stamps.fill_json(&body));
            self.table.method = Method::Post;
        }
        self.params
            .retain(|p| !params.iter().any(|r| r.names == p.names));
        self.params
            .extend(params.iter().map(|p| stamps.fill_param(p)));
    }
}

/// The values of `${timestamp}` and `${timestamp_day}` in a refresh.
struct Stamps {
    stamp: String,
    day: String,
}

impl Stamps {
    /// 24 hours before `since_us`, in the spec's `query_date_format` (ISO 8601 by
    /// default) and as a day.
    fn since(since_us: i64, format: Option<&str>) -> Stamps {
        let since = chrono::DateTime::from_timestamp_micros(since_us - 24 * 3_600_000_000)
            .unwrap_or_default();
        Stamps {
            stamp: since
                .format(format.unwrap_or("%Y-%m-%dT%H:%M:%S"))
                .to_string(),
            day: since.format("%Y-%m-%d").to_string(),
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("${timestamp_day}", &self.day)
            .replace("${timestamp}", &self.stamp)
    }

    /// The placeholders in a refresh param.
    fn fill_param(&self, p: &Param) -> Param {
        let fill = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => serde_json::Value::String(self.fill(s)),
            other => other.clone(),
        };
        let value = match &p.value {
            ParamValue::Scalar(v) => ParamValue::Scalar(fill(v)),
            ParamValue::List(rows) => {
                ParamValue::List(rows.iter().map(|r| r.iter().map(fill).collect()).collect())
            }
            ParamValue::Sql(q) => ParamValue::Sql(self.fill(q)),
        };
        Param {
            names: p.names.clone(),
            value,
        }
    }

    /// The placeholders in the string leaves of a refresh body.
    fn fill_json(&self, v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) => Value::String(self.fill(s)),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.fill_json(i)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.fill_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamps_fill_params_and_bodies_a_day_before_the_last_scan() {
        // 2024-03-02T10:00:00Z; the stamp is 24 h earlier.
        let stamps = Stamps::since(1_709_373_600_000_000, Some("%Y%m%d%H%M"));
        assert_eq!(stamps.stamp, "202403011000");
        assert_eq!(stamps.day, "2024-03-01");
        let body = json!({"filter": {"since": "${timestamp}", "days": ["${timestamp_day}", 3]}});
        assert_eq!(
            stamps.fill_json(&body),
            json!({"filter": {"since": "202403011000", "days": ["2024-03-01", 3]}})
        );
        let param = Param {
            names: vec!["q".into()],
            value: ParamValue::Sql("select '${timestamp_day}'".into()),
        };
        match stamps.fill_param(&param).value {
            ParamValue::Sql(q) => assert_eq!(q, "select '2024-03-01'"),
            other => panic!("{other:?}"),
        }
    }
}
