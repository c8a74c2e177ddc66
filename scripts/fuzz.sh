#!/usr/bin/env bash
# Fuzzes parse + check + plan + diagnostic rendering (fuzz/fuzz_targets/parse_check.rs) for
# SECONDS (default 60) on one core. Seeds: tests/cases and examples, copied into the corpus at
# run time. Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# A crash is saved under fuzz/artifacts/parse_check/ and the script fails. The code is safe Rust
# (`unsafe_code` is denied), so it runs without AddressSanitizer, about twice as many runs a
# second; pass `--sanitizer address` through FUZZ_FLAGS to turn it back on.
set -euo pipefail
SECONDS_TO_RUN="${1:-60}"
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal ||
    { echo "fuzz: the nightly toolchain is missing and could not be installed (rustup toolchain install nightly)" >&2; exit 1; }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked ||
    { echo "fuzz: cargo-fuzz is missing and could not be installed (cargo install cargo-fuzz)" >&2; exit 1; }
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CORPUS="$ROOT/fuzz/corpus/parse_check"
mkdir -p "$CORPUS"
find "$ROOT/tests/cases" "$ROOT/examples" -name '*.pipe' -print0 |
  while IFS= read -r -d '' f; do
    cp "$f" "$CORPUS/seed-$(printf '%s' "${f#"$ROOT"/}" | tr '/' '_')"
  done
cd "$ROOT/fuzz"
# shellcheck disable=SC2086
exec cargo +nightly fuzz run ${FUZZ_FLAGS:---sanitizer none} parse_check "$CORPUS" -- \
  -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
