//! Rebuild when a bundled spec is added, removed or edited: `include_dir!` embeds
//! `rest_specs/` but cargo would not otherwise notice a new file there.

fn main() {
    println!("cargo:rerun-if-changed=rest_specs");
}
