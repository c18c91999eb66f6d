#!/usr/bin/env bash
# Build unify, unifyd and unify_bench, then run the benchmark. Arguments after the
# options go to unify_bench (see `unify_bench --help`), e.g.
#
#   scripts/bench.sh --out /tmp/bench.md                       # everything, dev build
#   scripts/bench.sh --optimised --sizes 10000,100000 --scenarios load,daemon
#
# Builds:
#   (default)     the dev profile, as the tests use it: DuckDB at opt-level 3 (Cargo.toml),
#                 unify and every other crate unoptimised.
#   --optimised   the same dev profile with CARGO_PROFILE_DEV_OPT_LEVEL=3: every crate at
#                 opt-level 3, in its own target directory so the test builds are left
#                 alone. Its first build compiles DuckDB again (~40 min of CPU on 2 cores);
#                 it runs at nice 19 without sccache so it only takes idle CPU.
#
# The binaries are copied aside before running so that a concurrent build cannot swap
# them mid-run. The mock API listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$HOME/.cache/unify-target}"
note="dev profile: DuckDB at opt-level 3, unify and its Rust dependencies unoptimised"
optimised=0
if [[ "${1:-}" == "--optimised" ]]; then
  shift
  optimised=1
  target="${BENCH_OPT_TARGET_DIR:-$HOME/.cache/unify-opt-target}"
  export CARGO_PROFILE_DEV_OPT_LEVEL=3 CARGO_PROFILE_DEV_INCREMENTAL=false
  note="dev profile with CARGO_PROFILE_DEV_OPT_LEVEL=3: every crate at opt-level 3"
fi
if [[ $optimised == 1 ]]; then
  # sccache would run the C++ compiles of DuckDB in its server, outside `nice`.
  CARGO_TARGET_DIR="$target" RUSTC_WRAPPER= nice -n 19 cargo build --bins
else
  if command -v sccache >/dev/null 2>&1; then
    export RUSTC_WRAPPER="${RUSTC_WRAPPER:-sccache}"
  fi
  CARGO_TARGET_DIR="$target" cargo build --bins
fi

bin="$(mktemp -d -t unify-bench-bin.XXXXXX)"
trap 'rm -rf "$bin"' EXIT
cp "$target/debug/unify" "$target/debug/unifyd" "$target/debug/unify_bench" "$bin/"
revision="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- src 2>/dev/null || revision="$revision + uncommitted changes in src/"
note="$note; $revision"
"$bin/unify_bench" --unify-bin "$bin/unify" --unifyd-bin "$bin/unifyd" --build-note "$note" "$@"
