#!/usr/bin/env bash
# `pipec run` on a 10M-row pipeline vs the same work as one SQL script on DuckDB directly.
# Usage: bench/run_vs_duckdb.sh [rows]   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
# shellcheck source=bench/setup.sh
source bench/setup.sh
bench_setup bench
# shellcheck source=bench/bike_day.sh
source bench/bike_day.sh
bike_day "$W" "$ROWS"
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
PYTHONPATH=bench python3 - "$W" "$ROUNDS" <<'PY'
import statistics, sys
from rounds import per_round, print_pooled
w, rounds = sys.argv[1], int(sys.argv[2])
all_results = per_round(w, rounds)
ratios = []
for results in all_results:
    medians = [statistics.median(x["times"]) for x in results]
    ratios.append(medians[0] / medians[1])
print_pooled(all_results)
ratios.sort()
q = statistics.quantiles(ratios, n=4)
print(f"\nper-round ratio pipec / direct: median {statistics.median(ratios):.3f}, "
      f"quartiles {q[0]:.3f}–{q[2]:.3f}, all: {', '.join(f'{x:.3f}' for x in ratios)}")
PY
