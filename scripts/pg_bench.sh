#!/usr/bin/env bash
# One-row query round trips over the PostgreSQL protocol, measured with pgbench
# (Debian's postgresql-contrib / postgresql-client ship it), in each of pgbench's
# protocol modes: simple, extended (parse + bind + describe + execute every time)
# and prepared. Starts its own unifyd in a temporary home; prints pgbench's summary.
#   scripts/pg_bench.sh [SECONDS] (default 10), with UNIFYD=path/to/unifyd to choose the build.
set -euo pipefail
seconds=${1:-10}
unifyd=${UNIFYD:-${CARGO_TARGET_DIR:-target}/debug/unifyd}
work=$(mktemp -d)
home="$work/home"
export UNIFY_PG_PASSWORD=bench-only-password PGPASSWORD=bench-only-password PGSSLMODE=disable
trap '"$unifyd" --home "$home" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$unifyd" --home "$home" start --pg-listen 127.0.0.1:0 >/dev/null
port=$(sed -E 's/.*"listen":"[^"]*:([0-9]+)".*/\1/' "$home/run/pg.json")
psql -X -q -h 127.0.0.1 -p "$port" -U unify -d unify \
  -c "create table main.t as select range as id, 'name ' || range as name from range(10000)" >/dev/null
echo "select name from main.t where id = 4242;" > "$work/one_row.sql"
for mode in simple extended prepared; do
  echo "== -M $mode"
  pgbench -n -h 127.0.0.1 -p "$port" -U unify -M "$mode" -c 1 -T "$seconds" \
    -f "$work/one_row.sql" unify 2>/dev/null | grep -E "latency average|tps|transactions actually"
done
