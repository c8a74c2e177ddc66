#!/usr/bin/env bash
# Fuzzes parse + check + plan + diagnostic rendering (fuzz/fuzz_targets/parse_check.rs) for
# SECONDS (default 60) on one core. Seeds: tests/cases and examples, copied into the corpus at
# run time. Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# A crash is saved under fuzz/artifacts/parse_check/ and the script fails.
set -euo pipefail
SECONDS_TO_RUN="${1:-60}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CORPUS="$ROOT/fuzz/corpus/parse_check"
mkdir -p "$CORPUS"
find "$ROOT/tests/cases" "$ROOT/examples" -name '*.pipe' -print0 |
  while IFS= read -r -d '' f; do
    cp "$f" "$CORPUS/seed-$(printf '%s' "${f#"$ROOT"/}" | tr '/' '_')"
  done
cd "$ROOT/fuzz"
exec cargo +nightly fuzz run parse_check "$CORPUS" -- \
  -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
