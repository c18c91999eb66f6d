//! The bundled connector specs (`rest_specs/*_spec.yaml`): every one validates, and each
//! auth and paging style they use is replayed against a local mock server serving pages
//! written from the vendors' documentation (`tests/fixtures/replays/<connector>/`).
//!
//! A replay test takes the bundled spec text, points its `base_url` at the mock server,
//! installs it as a user spec, and checks the requests the engine sends (path, query,
//! body, auth header) as well as the rows and columns it loads.

use crate::support::*;
use unify::adapters::catalog::Catalog;
use unify::adapters::spec::{parse_spec, Parsed};

/// Every connector shipped in `rest_specs/`.
const CONNECTORS: &[&str] = &[
    "aws_costs",
    "datadog",
    "github",
    "gitlab",
    "hubspot",
    "jira",
    "jsonplaceholder",
    "linear",
    "notion",
    "papertrail",
    "slack",
    "stripe",
    "zendesk",
];

#[test]
fn every_bundled_spec_validates() {
    let files = Catalog::bundled_files();
    assert_eq!(
        files.len(),
        CONNECTORS.len(),
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let mut problems = Vec::new();
    for (name, text) in &files {
        let spec = match parse_spec(name, text) {
            Ok(Parsed::Spec(spec)) => spec,
            Ok(other) => {
                problems.push(format!("{name}: not a usable spec: {other:?}"));
                continue;
            }
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        if spec.help.is_none() {
            problems.push(format!("{name}: no help"));
        }
        if spec.rate_limit.is_none() {
            problems.push(format!("{name}: no rate_limit"));
        }
        if spec.polling_interval_secs.is_none() {
            problems.push(format!("{name}: no polling_interval_secs"));
        }
        for t in &spec.tables {
            if t.description.is_none() {
                problems.push(format!("{name}: table {} has no description", t.name));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let catalog = Catalog::bundled();
    assert!(catalog.warnings.is_empty(), "{:?}", catalog.warnings);
    assert_eq!(catalog.names(), CONNECTORS);
}
