#!/usr/bin/env bash
# What going from a small day (140 rentals) to a big one (1,000,000) adds to `pipec run` of the
# streamed-source bench pipeline, against the plain DuckDB query over the big day (issue 7:
# pipec's added cost ≤ 1.1× the plain query). Rounds of back-to-back hyperfine runs as in
# bench/run_vs_duckdb.sh; per round: added = pipec(big) − pipec(small), compared with
# direct(big) and with direct(big) − direct(small).
# Usage: bench/added_cost.sh [small_rows] [big_rows]   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL="${1:-140}"
BIG="${2:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pipec/target}"
cargo build --release -q --bin pipec -p pipec-cli
cargo build --release -q --example duckdb_sql -p pipec-runner
PIPEC="$CARGO_TARGET_DIR/release/pipec"
RAW="$CARGO_TARGET_DIR/release/examples/duckdb_sql"
W=$(mktemp -d /tmp/pipec-added.XXXX)
for rows in "$SMALL" "$BIG"; do
  mkdir -p "$W/$rows/data"
  "$RAW" "$W/gen.duckdb" "COPY (SELECT 'r' || i AS rental_id, (i % 2000)::INT AS station_id,
     TIMESTAMP '2024-01-01 00:00:00' + to_seconds((i % 86000)::BIGINT) AS rented_at,
     TIMESTAMP '2024-01-01 00:10:00' + to_seconds((i % 86000)::BIGINT + i % 3000) AS returned_at,
     CASE WHEN i % 10 = 0 THEN NULL ELSE (i % 5000)::DOUBLE END AS distance_m
     FROM range($rows) t(i)) TO '$W/$rows/data/2024-01-01.csv' (HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')"
  cat > "$W/$rows/bench.pipe" <<'PIPE'
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
  cat > "$W/$rows/direct.sql" <<SQL
CREATE SCHEMA IF NOT EXISTS mart;
CREATE OR REPLACE TABLE mart.station_daily AS
SELECT DATE '2024-01-01' AS ds, station_id, count(*) AS rides,
       avg((epoch(returned_at) - epoch(rented_at)) / 60.0) AS avg_minutes, sum(distance_m) / 1000.0 AS km
FROM read_csv('$W/$rows/data/2024-01-01.csv', header = true, auto_detect = false,
  columns = {'rental_id': 'VARCHAR', 'station_id': 'INTEGER', 'rented_at': 'TIMESTAMP', 'returned_at': 'TIMESTAMP', 'distance_m': 'DOUBLE'})
WHERE returned_at > rented_at
GROUP BY station_id;
SQL
done
echo "load before: $(uptime)"
ROUNDS="${ROUNDS:-8}"
for round in $(seq 1 "$ROUNDS"); do
  hyperfine -N --warmup 1 --runs "${RUNS:-5}" --export-json "$W/round$round.json" \
    --prepare "rm -f $W/p.duckdb $W/p.duckdb.wal $W/d.duckdb $W/d.duckdb.wal" \
    -n "pipec run ($SMALL rows)" "$PIPEC run $W/$SMALL/bench.pipe --date 2024-01-01 --warehouse $W/p.duckdb" \
    -n "pipec run ($BIG rows)" "$PIPEC run $W/$BIG/bench.pipe --date 2024-01-01 --warehouse $W/p.duckdb" \
    -n "DuckDB direct ($SMALL rows)" "$RAW $W/d.duckdb $W/$SMALL/direct.sql" \
    -n "DuckDB direct ($BIG rows)" "$RAW $W/d.duckdb $W/$BIG/direct.sql" >/dev/null
done
echo "load after: $(uptime)"
python3 - "$W" "$ROUNDS" <<'PY'
import json, statistics, sys
w, rounds = sys.argv[1], int(sys.argv[2])
vs_query, vs_added, pooled = [], [], {}
for r in range(1, rounds + 1):
    results = json.load(open(f"{w}/round{r}.json"))["results"]
    ps, pb, ds, db = [statistics.median(x["times"]) for x in results]
    vs_query.append((pb - ps) / db)
    vs_added.append((pb - ps) / (db - ds))
    for x in results:
        pooled.setdefault(x["command"], []).extend(x["times"])
print("| command | runs | median | mean ± σ | min | max |")
print("|:---|---:|---:|---:|---:|---:|")
for name, times in pooled.items():
    print(f"| `{name}` | {len(times)} | {statistics.median(times):.3f} s | {statistics.mean(times):.3f} s ± {statistics.stdev(times):.3f} | {min(times):.3f} s | {max(times):.3f} s |")
for label, xs in [("pipec's added cost / the plain query (big)", vs_query),
                  ("pipec's added cost / the plain query's added cost", vs_added)]:
    xs.sort()
    print(f"\nper-round {label}: median {statistics.median(xs):.3f}, all: {', '.join(f'{x:.3f}' for x in xs)}")
PY
