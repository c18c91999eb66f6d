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
#                 alone. DuckDB's settings do not change (it is already at opt-level 3),
#                 so when that directory is first seeded from the dev target directory
#                 (BENCH_SEED=1, copies several GB) the C++ of DuckDB is not rebuilt;
#                 without seeding the first build compiles DuckDB (~40 min of CPU).
#
# The binaries are copied aside before running so that a concurrent build cannot swap
# them mid-run. The mock API listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$HOME/.cache/unify-target}"
note="dev profile: DuckDB at opt-level 3, unify and its Rust dependencies unoptimised"
if [[ "${1:-}" == "--optimised" ]]; then
  shift
  dev_target="$target"
  target="${BENCH_OPT_TARGET_DIR:-$HOME/.cache/unify-opt-target}"
  if [[ "${BENCH_SEED:-0}" == 1 && ! -d "$target/debug" && -d "$dev_target/debug" ]]; then
    echo "seeding $target from $dev_target (DuckDB artifacts are reused)" >&2
    mkdir -p "$target"
    cp -a "$dev_target/debug" "$target/" || true
    rm -rf "$target/debug/incremental"
  fi
  export CARGO_PROFILE_DEV_OPT_LEVEL=3 CARGO_PROFILE_DEV_INCREMENTAL=false
  note="dev profile with CARGO_PROFILE_DEV_OPT_LEVEL=3: every crate at opt-level 3"
fi
if command -v sccache >/dev/null 2>&1; then
  export RUSTC_WRAPPER="${RUSTC_WRAPPER:-sccache}"
fi

CARGO_TARGET_DIR="$target" cargo build --bins

bin="$(mktemp -d -t unify-bench-bin.XXXXXX)"
trap 'rm -rf "$bin"' EXIT
cp "$target/debug/unify" "$target/debug/unifyd" "$target/debug/unify_bench" "$bin/"
revision="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- src 2>/dev/null || revision="$revision + uncommitted changes in src/"
note="$note; $revision"
"$bin/unify_bench" --unify-bin "$bin/unify" --unifyd-bin "$bin/unifyd" --build-note "$note" "$@"
