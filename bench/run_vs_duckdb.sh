#!/usr/bin/env bash
# `pipec run` on a 10M-row pipeline vs the same work as one SQL script on DuckDB directly.
# Usage: bench/run_vs_duckdb.sh [rows]   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pipec/target}"
cargo build --release -q --bin pipec -p pipec-cli
cargo build --release -q --example duckdb_sql -p pipec-runner
PIPEC="$CARGO_TARGET_DIR/release/pipec"
RAW="$CARGO_TARGET_DIR/release/examples/duckdb_sql"
W=$(mktemp -d /tmp/pipec-bench.XXXX)
mkdir -p "$W/data"
"$RAW" "$W/gen.duckdb" "COPY (SELECT 'r' || i AS rental_id, (i % 2000)::INT AS station_id,
   TIMESTAMP '2024-01-01 00:00:00' + to_seconds((i % 86000)::BIGINT) AS rented_at,
   TIMESTAMP '2024-01-01 00:10:00' + to_seconds((i % 86000)::BIGINT + i % 3000) AS returned_at,
   CASE WHEN i % 10 = 0 THEN NULL ELSE (i % 5000)::DOUBLE END AS distance_m
   FROM range($ROWS) t(i)) TO '$W/data/2024-01-01.csv' (HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')"
cat > "$W/bench.pipe" <<'PIPE'
pipeline bench {}
source rentals = csv("data/{ds}.csv", header = true) {
  rental_id: string, station_id: int, rented_at: timestamp, returned_at: timestamp, distance_m: float?
}
transform station_daily = rentals
  | filter returned_at > rented_at
  | derive minutes = minutes_between(rented_at, returned_at), ds = @ds
  | group ds, station_id { rides = count(), avg_minutes = avg(minutes), km = sum(distance_m) / 1000.0 }
sink station_daily -> mart.station_daily { mode replace partition by ds }
check station_daily { unique(ds, station_id)  rides > 0 }
PIPE
cat > "$W/direct.sql" <<SQL
CREATE SCHEMA IF NOT EXISTS mart;
CREATE OR REPLACE TABLE mart.station_daily AS
SELECT DATE '2024-01-01' AS ds, station_id, count(*) AS rides,
       avg((epoch(returned_at) - epoch(rented_at)) / 60.0) AS avg_minutes, sum(distance_m) / 1000.0 AS km
FROM read_csv('$W/data/2024-01-01.csv', header = true, auto_detect = false,
  columns = {'rental_id': 'VARCHAR', 'station_id': 'INTEGER', 'rented_at': 'TIMESTAMP', 'returned_at': 'TIMESTAMP', 'distance_m': 'DOUBLE'})
WHERE returned_at > rented_at
GROUP BY station_id;
SQL
# This machine shares its host: bursts of contention slow whole runs by up to 70%. So the two
# commands run back to back in ROUNDS short hyperfine rounds, and the figure is the median over
# rounds of the per-round ratio, next to the pooled times of every run.
ROUNDS="${ROUNDS:-8}"
for round in $(seq 1 "$ROUNDS"); do
  hyperfine --warmup 1 --runs "${RUNS:-3}" --export-json "$W/round$round.json" \
    --prepare "rm -f $W/p.duckdb $W/p.duckdb.wal $W/d.duckdb $W/d.duckdb.wal" \
    -n "pipec run ($ROWS rows)" "$PIPEC run $W/bench.pipe --date 2024-01-01 --warehouse $W/p.duckdb" \
    -n "DuckDB direct ($ROWS rows)" "$RAW $W/d.duckdb $W/direct.sql" >/dev/null
done
python3 - "$W" "$ROUNDS" <<'PY'
import json, statistics, sys
w, rounds = sys.argv[1], int(sys.argv[2])
ratios, pooled = [], {}
for r in range(1, rounds + 1):
    results = json.load(open(f"{w}/round{r}.json"))["results"]
    medians = [statistics.median(x["times"]) for x in results]
    ratios.append(medians[0] / medians[1])
    for x in results:
        pooled.setdefault(x["command"], []).extend(x["times"])
print("| command | runs | median | mean ± σ | min | max |")
print("|:---|---:|---:|---:|---:|---:|")
for name, times in pooled.items():
    print(f"| `{name}` | {len(times)} | {statistics.median(times):.3f} s | {statistics.mean(times):.3f} s ± {statistics.stdev(times):.3f} | {min(times):.3f} s | {max(times):.3f} s |")
ratios.sort()
q = statistics.quantiles(ratios, n=4)
print(f"\nper-round ratio pipec / direct: median {statistics.median(ratios):.3f}, "
      f"quartiles {q[0]:.3f}–{q[2]:.3f}, all: {', '.join(f'{x:.3f}' for x in ratios)}")
PY
