#!/usr/bin/env bash
# Build unify, unifyd and unify_bench, then run the benchmark. Arguments after the
# options go to unify_bench (see `unify_bench --help`), e.g.
#
#   scripts/bench.sh --out /tmp/bench.md                       # everything, dev build
#   scripts/bench.sh --optimised --sizes 10000,100000 --scenarios load,daemon
#
# Builds:
#   (default)     the dev profile, as `cargo test` uses it (see [profile.dev] in Cargo.toml).
#   --optimised   a `perf` profile: the dev profile with every crate, unify included, at
#                 opt-level 3, defined here through CARGO_PROFILE_PERF_* so Cargo.toml is
#                 left alone, built into the same target directory (target/perf/). With
#                 sccache the C++ of DuckDB comes from its cache (same flags, same source
#                 paths as the dev build), so the first build takes ~12–15 min of mostly Rust
#                 at nice 19 on 2 cores instead of ~40 min more for DuckDB.
#
# The binaries are copied aside before running so that a concurrent build cannot swap
# them mid-run. The mock API listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$HOME/.cache/unify-target}"
if command -v sccache >/dev/null 2>&1; then
  export RUSTC_WRAPPER="${RUSTC_WRAPPER:-sccache}"
fi
if [[ "${1:-}" == "--optimised" ]]; then
  shift
  export CARGO_PROFILE_PERF_INHERITS=dev CARGO_PROFILE_PERF_OPT_LEVEL=3 \
    CARGO_PROFILE_PERF_INCREMENTAL=false
  CARGO_TARGET_DIR="$target" nice -n 19 cargo build --profile perf --bins
  out="$target/perf"
  note="perf profile: the dev profile with every crate at opt-level 3"
else
  CARGO_TARGET_DIR="$target" cargo build --bins
  out="$target/debug"
  note="dev profile (see [profile.dev] in Cargo.toml)"
fi

bin="$(mktemp -d -t unify-bench-bin.XXXXXX)"
trap 'rm -rf "$bin"' EXIT
cp "$out/unify" "$out/unifyd" "$out/unify_bench" "$bin/"
revision="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || revision="$revision + uncommitted changes"
note="$note; $revision"
"$bin/unify_bench" --unify-bin "$bin/unify" --unifyd-bin "$bin/unifyd" --build-note "$note" "$@"
