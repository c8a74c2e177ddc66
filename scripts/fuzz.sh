#!/usr/bin/env bash
# Fuzzes the cargo-fuzz targets of fuzz/ (nightly + cargo-fuzz, installed when missing):
#   scripts/fuzz.sh [SECONDS] [libFuzzer flags...]   parse_check for SECONDS (default 60; 0: no
#                                                    limit), e.g. the long run:
#     nice -n 19 scripts/fuzz.sh 0 -runs=5000000 -jobs=2 -workers=2 -timeout=120
#   (logs: fuzz/fuzz-<job>.log; libFuzzer's timeout is wall time, and a process at nice 19 on busy
#   cores can wait longer than 10 s for the CPU: a longer one avoids false timeouts)
#   scripts/fuzz.sh merge                            minimises fuzz/corpus/parse_check (-merge=1)
# FUZZ_TARGET picks another target (default parse_check). Seeds are the .pipe files of
# tests/cases and examples, copied into the corpus at every start; the dictionary
# fuzz/pipe.dict holds the grammar's keywords and punctuation and the names the checker knows.
# A crash is saved under fuzz/artifacts/<target>/ and the script fails. The code is safe Rust
# (`unsafe_code` is denied), so it runs without AddressSanitizer, about twice as many runs a
# second; pass `--sanitizer address` through FUZZ_FLAGS to turn it back on.
set -euo pipefail
MODE="${1:-60}"
if [ $# -gt 0 ]; then shift; fi
TARGET="${FUZZ_TARGET:-parse_check}"
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal ||
    { echo "fuzz: the nightly toolchain is missing and could not be installed (rustup toolchain install nightly)" >&2; exit 1; }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked ||
    { echo "fuzz: cargo-fuzz is missing and could not be installed (cargo install cargo-fuzz)" >&2; exit 1; }
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CORPUS="$ROOT/fuzz/corpus/$TARGET"
mkdir -p "$CORPUS"
FLAGS=(-max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
if [ "$TARGET" = parse_check ]; then
  find "$ROOT/tests/cases" "$ROOT/examples" -name '*.pipe' -print0 |
    while IFS= read -r -d '' f; do
      cp "$f" "$CORPUS/seed-$(printf '%s' "${f#"$ROOT"/}" | tr '/' '_')"
    done
  FLAGS+=("-dict=$ROOT/fuzz/pipe.dict")
fi
cd "$ROOT/fuzz"
if [ "$MODE" = merge ]; then
  # Keeps the smallest inputs that together cover every feature of the corpus.
  MERGED="$ROOT/fuzz/corpus/$TARGET.merged"
  rm -rf "$MERGED" && mkdir -p "$MERGED"
  # shellcheck disable=SC2086
  cargo +nightly fuzz run ${FUZZ_FLAGS:---sanitizer none} "$TARGET" "$MERGED" "$CORPUS" -- \
    -merge=1 "${FLAGS[@]}" "$@"
  rm -rf "$CORPUS" && mv "$MERGED" "$CORPUS"
  echo "fuzz: corpus minimised to $(find "$CORPUS" -type f | wc -l) inputs"
  exit 0
fi
# shellcheck disable=SC2086
exec cargo +nightly fuzz run ${FUZZ_FLAGS:---sanitizer none} "$TARGET" "$CORPUS" -- \
  -max_total_time="$MODE" "${FLAGS[@]}" "$@"
