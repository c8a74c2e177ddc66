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
# shellcheck source=bench/setup.sh
source bench/setup.sh
bench_setup added
# shellcheck source=bench/bike_day.sh
source bench/bike_day.sh
for rows in "$SMALL" "$BIG"; do
  bike_day "$W/$rows" "$rows"
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
PYTHONPATH=bench python3 - "$W" "$ROUNDS" <<'PY'
import statistics, sys
from rounds import per_round, print_pooled
w, rounds = sys.argv[1], int(sys.argv[2])
vs_query, vs_added = [], []
all_results = per_round(w, rounds)
for results in all_results:
    ps, pb, ds, db = [statistics.median(x["times"]) for x in results]
    vs_query.append((pb - ps) / db)
    vs_added.append((pb - ps) / (db - ds))
print_pooled(all_results)
for label, xs in [("pipec's added cost / the plain query (big)", vs_query),
                  ("pipec's added cost / the plain query's added cost", vs_added)]:
    xs.sort()
    print(f"\nper-round {label}: median {statistics.median(xs):.3f}, all: {', '.join(f'{x:.3f}' for x in xs)}")
PY
