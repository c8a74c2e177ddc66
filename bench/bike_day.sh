# Sourced by bench/run_vs_duckdb.sh and bench/added_cost.sh: `bike_day DIR ROWS` writes a day of
# ROWS rentals (DIR/data/2024-01-01.csv), the bench pipeline (DIR/bench.pipe) and the same work
# as one SQL script (DIR/direct.sql). Needs $RAW, the `duckdb_sql` example binary.
bike_day() {
  local W="$1" ROWS="$2"
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
}
