//! The spec's views over loaded tables: (re)created whenever a table they read loads.

use crate::adapters::connections::Connection;
use crate::engine::{Engine, LoadError};
use crate::warehouse::ViewDef;
use std::sync::Arc;

impl Engine {
    /// (Re)create the spec views that read `table` (all views when `table` is empty)
    /// whose source tables all exist.
    pub(in crate::engine) async fn create_views(
        &self,
        conn: &Arc<Connection>,
        table: &str,
    ) -> Result<(), LoadError> {
        let spec = &conn.spec;
        let table_names: Vec<String> = spec.tables.iter().map(|t| t.name.clone()).collect();
        let views: Vec<ViewDef> = spec
            .views
            .iter()
            .filter(|v| table.is_empty() || v.from.iter().any(|f| f == table))
            .map(|v| ViewDef {
                name: v.name.clone(),
                from: v.from.clone(),
                query: crate::sqltext::qualify_tables(&v.query, &conn.schema, &table_names),
            })
            .collect();
        if views.is_empty() {
            return Ok(());
        }
        self.warehouse
            .create_views(&conn.schema, views)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "could not create a view");
                e.into()
            })
    }
}
