#!/usr/bin/env bash
# Day 366 vs day 1 of an incremental pipeline: does a run get slower as the warehouse grows?
# Usage: bench/incremental.sh [rows_per_day]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-20000}"
# shellcheck source=bench/setup.sh
source bench/setup.sh
bench_setup incr
mkdir -p "$W/data"
"$RAW" "$W/gen.duckdb" "COPY (SELECT d::DATE AS day, 'o' || d::DATE || '-' || i AS order_id, (i % 500)::INT AS customer_id,
   (i % 1000)::DOUBLE / 10 AS amount, d + to_seconds(i % 86000) AS ordered_at
   FROM range(DATE '2024-01-01', DATE '2025-01-01', INTERVAL 1 DAY) AS r(d), range($ROWS) AS t(i))
   TO '$W/data' (FORMAT csv, HEADER, PARTITION_BY (day), TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S', WRITE_PARTITION_COLUMNS false)"
cat > "$W/orders.pipe" <<'PIPE'
pipeline orders {
  schedule daily at 01:00 "UTC"
  start 2024-01-01
}
source orders = csv("data/day={ds}/*.csv", header = true, glob = true) {
  order_id: string, customer_id: int, amount: float, ordered_at: timestamp
}
transform customer_daily = orders
  | derive ds = @ds
  | group ds, customer_id { orders = count(), revenue = sum(amount) }
sink orders -> raw.orders { mode incremental by ordered_at }
sink customer_daily -> mart.customer_daily { mode merge on (ds, customer_id) }
check customer_daily { unique(ds, customer_id)  revenue >= 0 }
PIPE
echo "backfilling 365 days ($ROWS rows/day)..."
/usr/bin/time -f "backfill of 365 days: %e s, max RSS %M KB" "$PIPEC" run "$W/orders.pipe" --from 2024-01-01 --to 2024-12-30 --warehouse "$W/year.duckdb" >/dev/null
# `sync` after preparing: otherwise the run's own fsync would also flush the 80 MB just copied.
hyperfine --warmup 1 --runs "${RUNS:-10}" --export-markdown "$W/result.md" \
  -n "day 1 (empty warehouse)" --prepare "rm -f $W/one.duckdb $W/one.duckdb.wal; sync" \
  "$PIPEC run $W/orders.pipe --date 2024-01-01 --warehouse $W/one.duckdb" \
  -n "day 366 (365 days loaded)" --prepare "cp $W/year.duckdb $W/y2.duckdb; rm -f $W/y2.duckdb.wal; sync" \
  "$PIPEC run $W/orders.pipe --date 2024-12-31 --warehouse $W/y2.duckdb"
cat "$W/result.md"
