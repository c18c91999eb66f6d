//! Connectors: what an API looks like (specs), who may call it (connections), and the
//! REST engine that turns one table definition into a stream of JSON pages.
//!
//! * [`spec`] — YAML → [`spec::Spec`] in two stages: a raw YAML walk that collects *every*
//!   problem with file and key path, then validated types holding parsed values.
//! * [`catalog`] — bundled specs (compiled in) + user specs (`$UNIFY_HOME/rest_specs/`).
//! * [`connections`] — `connections.yaml` → [`connections::Connection`] (a schema bound to
//!   a spec with resolved, secret auth).
//! * [`rest`] — HTTP: auth, paging, params, retries, rate limits.

pub mod catalog;
pub mod connections;
pub mod jsonpath;
pub mod rest;
pub mod spec;
pub mod yaml;
