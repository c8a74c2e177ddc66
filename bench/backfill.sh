#!/usr/bin/env bash
# A 31-day backfill of a two-pipeline project (`pipec run --from --to`) vs the same logic as one
# SQL pass over the month on DuckDB directly. The upstream joins each day's rentals with a
# year-long reference file of stations; the downstream reads the upstream's table.
# pipec runs with its default `--jobs` (the CPUs) and with `--jobs 1`.
# Usage: bench/backfill.sh [rows_per_day]   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-20000}"
# shellcheck source=bench/setup.sh
source bench/setup.sh
bench_setup backfill
mkdir -p "$W/data/rentals"
# Reference: 2,000 stations with one row per station and day of the year (730,000 rows).
"$RAW" "$W/gen.duckdb" "COPY (SELECT s AS station_id, 'district ' || (s % 25) AS district,
   DATE '2024-01-01' + d::INT AS valid_on, 10 + s % 30 AS racks
   FROM range(2000) a(s), range(365) b(d)) TO '$W/data/stations.csv' (HEADER)"
for d in $(seq 0 30); do
  day=$(date -d "2024-01-01 + $d days" +%F)
  "$RAW" "$W/gen.duckdb" "COPY (SELECT 'r' || i AS rental_id, (i % 2000)::INT AS station_id,
     TIMESTAMP '$day 00:00:00' + to_seconds((i % 86000)::BIGINT) AS rented_at,
     TIMESTAMP '$day 00:10:00' + to_seconds((i % 86000)::BIGINT + i % 3000) AS returned_at
     FROM range($ROWS) t(i)) TO '$W/data/rentals/$day.csv' (HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')"
done
cat > "$W/rides.pipe" <<'PIPE'
pipeline rides { start 2024-01-01 }
source rentals = csv("data/rentals/{ds}.csv", header = true) {
  rental_id: string, station_id: int, rented_at: timestamp, returned_at: timestamp
}
source stations = csv("data/stations.csv", header = true) {
  station_id: int, district: string, valid_on: date, racks: int
}
transform todays_stations = stations | filter valid_on == @ds
transform station_daily = rentals
  | filter returned_at > rented_at
  | derive minutes = minutes_between(rented_at, returned_at), ds = @ds
  | join todays_stations using (station_id)
  | group ds, station_id, district { rides = count(), avg_minutes = avg(minutes), racks = max(racks) }
sink station_daily -> mart.station_daily { mode replace partition by ds }
PIPE
cat > "$W/districts.pipe" <<'PIPE'
pipeline districts { schedule after rides  start 2024-01-01 }
source station_daily = table("mart.station_daily")
transform district_daily = station_daily
  | filter ds == @ds
  | group ds, district { rides = sum(rides), stations = count() }
sink district_daily -> mart.district_daily { mode replace partition by ds }
PIPE
cat > "$W/direct.sql" <<SQL
CREATE SCHEMA IF NOT EXISTS mart;
CREATE OR REPLACE TABLE mart.station_daily AS
SELECT r.rented_at::DATE AS ds, r.station_id, s.district, count(*) AS rides,
       avg((epoch(returned_at) - epoch(rented_at)) / 60.0) AS avg_minutes, max(s.racks) AS racks
FROM read_csv('$W/data/rentals/*.csv', header = true, auto_detect = false, filename = true,
  columns = {'rental_id': 'VARCHAR', 'station_id': 'INTEGER', 'rented_at': 'TIMESTAMP', 'returned_at': 'TIMESTAMP'}) r
JOIN read_csv('$W/data/stations.csv', header = true, auto_detect = false,
  columns = {'station_id': 'INTEGER', 'district': 'VARCHAR', 'valid_on': 'DATE', 'racks': 'INTEGER'}) s
  ON s.station_id = r.station_id AND s.valid_on = strptime(regexp_extract(r.filename, '(\d{4}-\d{2}-\d{2})\.csv', 1), '%Y-%m-%d')::DATE
WHERE returned_at > rented_at
GROUP BY ALL;
CREATE OR REPLACE TABLE mart.district_daily AS
SELECT ds, district, sum(rides) AS rides, count(*) AS stations FROM mart.station_daily GROUP BY ALL;
SQL
echo "load before: $(uptime)"
hyperfine --warmup 1 --runs "${RUNS:-5}" --export-json "$W/backfill.json" \
  --prepare "rm -f $W/p.duckdb $W/p.duckdb.wal $W/d.duckdb $W/d.duckdb.wal" \
  -n "pipec run --from 2024-01-01 --to 2024-01-31 (2 pipelines, $ROWS rows/day)" \
  "$PIPEC run $W/rides.pipe $W/districts.pipe --from 2024-01-01 --to 2024-01-31 --warehouse $W/p.duckdb" \
  -n "the same with --jobs 1" \
  "$PIPEC run $W/rides.pipe $W/districts.pipe --from 2024-01-01 --to 2024-01-31 --warehouse $W/p.duckdb --jobs 1" \
  -n "one SQL pass over the month" "$RAW $W/d.duckdb $W/direct.sql"
echo "load after: $(uptime)"
# Same rows: the backfill and the one-pass SQL must agree.
rm -f "$W/p.duckdb" "$W/d.duckdb"
"$PIPEC" run "$W/rides.pipe" "$W/districts.pipe" --from 2024-01-01 --to 2024-01-31 --warehouse "$W/p.duckdb" >/dev/null
"$RAW" "$W/d.duckdb" "$W/direct.sql"
for x in p d; do
  "$RAW" "$W/$x.duckdb" "COPY (SELECT * FROM mart.district_daily ORDER BY ALL) TO '$W/$x.csv' (HEADER)"
done
echo "rows of mart.district_daily: pipec $(($(wc -l < "$W/p.csv") - 1)), direct $(($(wc -l < "$W/d.csv") - 1))"
cmp -s "$W/p.csv" "$W/d.csv" || { echo "the backfill and the one-pass SQL disagree: diff $W/p.csv $W/d.csv"; exit 1; }
python3 - "$W/backfill.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
m = [statistics.median(x["times"]) for x in r]
u = [statistics.median(x["user"]) if isinstance(x["user"], list) else x["user"] for x in r]
for name, i in (("pipec", 0), ("pipec --jobs 1", 1)):
    print(f"median {name} {m[i]:.3f} s (user CPU {u[i]:.2f} s mean), direct {m[2]:.3f} s (user CPU {u[2]:.2f} s mean), ratio {m[i]/m[2]:.2f}x")
PY
