#!/usr/bin/env bash
# Peak memory of `pipec run` loading a multi-GB CSV, next to DuckDB doing the same load directly.
# Usage: bench/memory.sh [rows]   (60M rows is about 3 GB of CSV)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-60000000}"
# shellcheck source=bench/setup.sh
source bench/setup.sh
bench_setup mem
mkdir -p "$W/data"
"$RAW" "$W/gen.duckdb" "COPY (SELECT 'event-' || i AS event_id, (i % 100000)::INT AS user_id, 'page/' || (i % 977) AS url,
   TIMESTAMP '2024-01-01' + to_seconds(i % 86000) AS at, (i % 10000)::DOUBLE / 7 AS value
   FROM range($ROWS) t(i)) TO '$W/data/2024-01-01.csv' (HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')"
ls -la "$W/data/2024-01-01.csv"
cat > "$W/events.pipe" <<'PIPE'
pipeline events {}
source events = csv("data/{ds}.csv", header = true) {
  event_id: string, user_id: int, url: string, at: timestamp, value: float
}
transform by_url = events | group url { hits = count(), users = count_distinct(user_id), value = sum(value) }
sink events -> raw.events { mode replace }
sink by_url -> mart.by_url { mode replace }
PIPE
cat > "$W/direct.sql" <<SQL
CREATE SCHEMA raw; CREATE SCHEMA mart;
CREATE TABLE raw.events AS SELECT * FROM read_csv('$W/data/2024-01-01.csv', header = true, auto_detect = false,
  columns = {'event_id': 'VARCHAR', 'user_id': 'INTEGER', 'url': 'VARCHAR', 'at': 'TIMESTAMP', 'value': 'DOUBLE'});
CREATE TABLE mart.by_url AS SELECT url, count(*) AS hits, count(DISTINCT user_id) AS users, sum(value) AS value FROM raw.events GROUP BY url;
SQL
/usr/bin/time -f "pipec run: %e s, max RSS %M KB" "$PIPEC" run "$W/events.pipe" --date 2024-01-01 --warehouse "$W/p.duckdb" >/dev/null
/usr/bin/time -f "DuckDB direct: %e s, max RSS %M KB" "$RAW" "$W/d.duckdb" "$W/direct.sql"
rm -rf "$W"
