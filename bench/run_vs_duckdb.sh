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
