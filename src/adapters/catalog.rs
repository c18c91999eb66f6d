//! The spec catalog: bundled specs (the repository's `rest_specs/`, compiled into the
//! binary) overlaid by user specs in `$UNIFY_HOME/rest_specs/` (a user spec replaces a
//! bundled one with the same `name`). A broken spec is reported and skipped; the others
//! load.

use super::spec::{parse_spec, Parsed, Spec};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// `(file name, text)` of every file in `rest_specs/`, embedded by `build.rs`.
static BUNDLED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/bundled_specs.rs"));

/// All usable specs by name, plus what went wrong with the others.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    specs: BTreeMap<String, Arc<Spec>>,
    /// Names that came from user files (a second user file of a name is ignored).
    from_user: std::collections::BTreeSet<String>,
    /// One line per skipped spec (file and key path of every problem).
    pub warnings: Vec<String>,
    /// Specs that do not load, by name: their problems in one line (so a connection
    /// using one can say why).
    broken: BTreeMap<String, String>,
}

/// True for the file names the original tool loaded (`*spec.yaml`, `*spec.yml`).
fn is_spec_file(name: &str) -> bool {
    name.ends_with("spec.yaml") || name.ends_with("spec.yml")
}

impl Catalog {
    /// Bundled specs overlaid by the user's `rest_specs/` directory.
    pub fn load(user_dir: &Path) -> Catalog {
        let mut catalog = Catalog::bundled();
        catalog.overlay_dir(user_dir);
        catalog
    }

    /// Only the specs compiled into the binary.
    pub fn bundled() -> Catalog {
        let mut catalog = Catalog::default();
        for (name, text) in BUNDLED.iter().filter(|(name, _)| is_spec_file(name)) {
            catalog.add(&format!("<bundled>/{name}"), text, false);
        }
        catalog
    }

    /// The names and texts of bundled spec files (for `spec check` and tests).
    pub fn bundled_files() -> Vec<(String, String)> {
        BUNDLED
            .iter()
            .filter(|(name, _)| is_spec_file(name))
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect()
    }

    /// Add the spec files of `dir` (missing directory = nothing to add).
    pub fn overlay_dir(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_spec_file)
            })
            .collect();
        paths.sort();
        for path in paths {
            let label = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => self.add(&label, &text, true),
                Err(e) => self.warnings.push(format!("{label}: cannot read: {e}")),
            }
        }
    }

    /// Parse one spec text and add it. A user spec replaces a bundled spec of the same
    /// name; between two files of the same origin the first wins.
    pub fn add(&mut self, label: &str, text: &str, is_user: bool) {
        match parse_spec(label, text) {
            Ok(Parsed::Spec(spec)) => {
                let name = spec.name.clone();
                for d in &spec.disabled {
                    self.warnings.push(format!(
                        "{label}: '{}' of spec '{name}' is disabled: {}",
                        d.name,
                        d.reason()
                    ));
                }
                let taken = if is_user {
                    self.from_user.contains(&name)
                } else {
                    self.specs.contains_key(&name)
                };
                if taken {
                    self.warnings.push(format!(
                        "{label}: a spec named '{name}' is already loaded; this one is ignored"
                    ));
                    return;
                }
                if is_user {
                    self.from_user.insert(name.clone());
                }
                self.broken.remove(&name);
                self.specs.insert(name, Arc::from(spec));
            }
            Ok(Parsed::Disabled { name }) => {
                if is_user {
                    self.specs.remove(&name);
                }
            }
            Ok(Parsed::Unsupported { name, reason }) => {
                let line = format!("{label}: spec '{name}' skipped: {reason}");
                self.broken.insert(name, line.clone());
                self.warnings.push(line);
            }
            Err(e) => {
                let problems: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
                if let Some(name) = spec_name(label, text) {
                    if !self.specs.contains_key(&name) {
                        self.broken.insert(name, problems.join("; "));
                    }
                }
                self.warnings.extend(problems);
            }
        }
    }

    /// Specs that do not load: (name, problems).
    pub fn broken_specs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.broken.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The problems of the spec named `name` when it exists but does not load.
    pub fn broken(&self, name: &str) -> Option<&str> {
        self.broken.get(name).map(String::as_str)
    }

    /// Add an already validated spec (replacing one of the same name).
    pub fn insert(&mut self, spec: Arc<Spec>) {
        self.specs.insert(spec.name.clone(), spec);
    }

    /// The spec named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Spec>> {
        self.specs.get(name).cloned()
    }

    /// All usable specs, sorted by name.
    pub fn specs(&self) -> impl Iterator<Item = &Arc<Spec>> {
        self.specs.values()
    }

    /// Names of all usable specs, sorted.
    pub fn names(&self) -> Vec<String> {
        self.specs.keys().cloned().collect()
    }
}

/// The name a spec file gives itself (its `name:` key), else its file name without
/// `_spec.yaml`: what a connection calls it.
fn spec_name(label: &str, text: &str) -> Option<String> {
    let named = serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string));
    named.or_else(|| {
        let file = label.rsplit('/').next()?;
        let stem = file
            .trim_end_matches(".yaml")
            .trim_end_matches(".yml")
            .trim_end_matches("spec")
            .trim_end_matches(['_', '-', '.']);
        (!stem.is_empty()).then(|| stem.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_spec_overrides_bundled_by_name_and_broken_specs_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine_spec.yaml"),
            "name: mine\nbase_url: http://127.0.0.1:1\ntables:\n  - name: t\n    resource_path: /t\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("broken_spec.yaml"),
            "name: broken\ntables: 3\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.yaml"), "ignored: true\n").unwrap();
        let mut catalog = Catalog::default();
        catalog.add(
            "<bundled>/mine_spec.yaml",
            "name: mine\nbase_url: https://example.com\ntables:\n  - name: t\n    resource_path: /t\n",
            false,
        );
        catalog.overlay_dir(dir.path());
        assert_eq!(catalog.get("mine").unwrap().base_url, "http://127.0.0.1:1");
        assert!(catalog.get("broken").is_none());
        let warnings = catalog.warnings.join("\n");
        assert!(
            warnings.contains("broken_spec.yaml: base_url: missing"),
            "{warnings}"
        );
        assert!(
            warnings.contains("broken_spec.yaml: tables: expected a list"),
            "{warnings}"
        );
    }
}
