//! Embed the bundled specs of `rest_specs/`.
//!
//! The generated `bundled_specs.rs` lists every spec file through `include_str!`, so
//! each one appears in rustc's dep-info: cargo and sccache both see an edited, added or
//! removed spec (a proc-macro embedding a directory is invisible to sccache, which
//! then serves a stale binary).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=rest_specs");
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("rest_specs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("rest_specs/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        // The catalog's rule (`*spec.yaml`, `*spec.yml`): an editor's swap file or a
        // README next to the specs is not embedded.
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("spec.yaml") || n.ends_with("spec.yml"))
        })
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy();
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            out,
            "    ({:?}, include_str!({:?})),",
            name,
            path.display().to_string()
        )
        .unwrap();
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("bundled_specs.rs");
    std::fs::write(target, out).unwrap();
}
