#!/usr/bin/env bash
# Tests the tree-sitter grammar editors/tree-sitter-pipe with the tree-sitter CLI (pinned),
# installed on first use with cargo into $HOME/.cache/pipec/tree-sitter (the npm package cannot
# download its binary here). In a temporary copy of the grammar folder:
#   1. `tree-sitter generate` must reproduce the committed src/ (parser.c, grammar.json, ...);
#   2. `tree-sitter test`: the corpus tests (test/corpus) and highlight tests (test/highlight);
#      every query file (folds, indents, injections) compiles against the grammar;
#   3. `tree-sitter parse` of every .pipe file of examples/, std/, editors/vscode/tests/ and of
#      every tests/cases/ case whose expected codes (`# expect:`) have none of E0001-E0009
#      must give a tree without ERROR or MISSING nodes; the cases expecting E0001 or E0002
#      (what pest rejects) must give one.
# Needs cargo and a C compiler (cc) on first use; later runs need only cc.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VERSION=0.27.1
PREFIX="${PIPEC_TREE_SITTER_CACHE:-$HOME/.cache/pipec/tree-sitter}"
BIN="$PREFIX/bin/tree-sitter"
if ! { [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "^tree-sitter $VERSION\b"; }; then
  if ! command -v cargo >/dev/null 2>&1; then
    echo "tree_sitter_test.sh: cargo not found; install Rust (https://rustup.rs), then rerun:" >&2
    echo "it runs cargo install tree-sitter-cli --locked --version $VERSION --root $PREFIX" >&2
    exit 2
  fi
  echo "tree_sitter_test.sh: installing tree-sitter-cli $VERSION into $PREFIX (once)" >&2
  # In a temporary target directory, not the one of a `cargo test` running this script.
  env -u CARGO_TARGET_DIR cargo install tree-sitter-cli --locked --version "$VERSION" \
    --root "$PREFIX" >&2
fi
if ! command -v cc >/dev/null 2>&1; then
  echo "tree_sitter_test.sh: no C compiler (cc) to build the parser: apt-get install gcc" >&2
  exit 2
fi
# Compiled parsers go to pipec's cache, not ~/.cache/tree-sitter.
export TREE_SITTER_LIBDIR="$PREFIX/lib"
mkdir -p "$TREE_SITTER_LIBDIR"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
GRAMMAR="$WORK/tree-sitter-pipe"
cp -r editors/tree-sitter-pipe "$GRAMMAR"
cd "$GRAMMAR"

# 1. Generation is deterministic and the committed parser is up to date. ABI 15 (reserved
#    words); grammar.js is read by the CLI's own QuickJS, so Node.js is not needed.
GENERATE=(generate --abi 15 --js-runtime native)
"$BIN" "${GENERATE[@]}"
if ! diff -r "$ROOT/editors/tree-sitter-pipe/src" src >"$WORK/drift.diff"; then
  head -40 "$WORK/drift.diff" >&2
  echo "tree_sitter_test.sh: editors/tree-sitter-pipe/src differs from what grammar.js generates;" >&2
  echo "run: cd editors/tree-sitter-pipe && $BIN ${GENERATE[*]}" >&2
  exit 1
fi
echo "generate: src/ is up to date"

# 2. Corpus and highlight tests; the other queries (which `test` does not load) compile
#    against the grammar.
"$BIN" test
for query in queries/*.scm; do
  if ! "$BIN" query "$query" "$ROOT/editors/vscode/tests/tokens.pipe" >"$WORK/query.txt" 2>&1; then
    tail -20 "$WORK/query.txt" >&2
    echo "tree_sitter_test.sh: editors/tree-sitter-pipe/$query does not compile" >&2
    exit 1
  fi
done
echo "query: $(ls queries/*.scm | wc -l) query files compile"

# 3. Real files parse without ERROR or MISSING nodes; the cases pest rejects (E0001 syntax
#    error, E0002 unterminated string) do not.
expected_codes() {
  # The `# expect:` codes of a case (a .pipe file or a folder of them).
  local files
  if [ -d "$1" ]; then files=("$1"/*.pipe); else files=("$1"); fi
  grep -h "# expect:" "${files[@]}" 2>/dev/null | sed 's/.*# expect://' || true
}
case_files() {
  if [ -d "$1" ]; then find "$1" -name '*.pipe' -type f | sort; else echo "$1"; fi
}
VALID="$WORK/valid.txt"
BROKEN="$WORK/broken.txt"
: >"$VALID"
: >"$BROKEN"
find "$ROOT/examples" "$ROOT/std" "$ROOT/editors/vscode/tests" -name '*.pipe' -type f | sort >>"$VALID"
skipped=0
for case in "$ROOT"/tests/cases/*; do
  case "$case" in *.pipe) ;; *) [ -d "$case" ] || continue ;; esac
  codes=$(expected_codes "$case")
  if echo "$codes" | grep -qE '\bE000[12]\b'; then
    case_files "$case" >>"$BROKEN"
  elif echo "$codes" | grep -qE '\bE000[1-9]\b'; then
    skipped=$((skipped + 1))
  else
    case_files "$case" >>"$VALID"
  fi
done
count=$(wc -l <"$VALID")
broken=$(wc -l <"$BROKEN")
if [ "$count" -lt 50 ] || [ "$broken" -lt 5 ]; then
  echo "tree_sitter_test.sh: only $count valid and $broken broken .pipe files found" >&2
  exit 1
fi
# `parse --quiet` prints one line per file whose tree has an ERROR or MISSING node, with the
# node and its [row, column] positions (0-based).
"$BIN" parse --quiet --paths "$VALID" >"$WORK/parse.txt" 2>"$WORK/parse.err" || true
if grep -q . "$WORK/parse.txt" || grep -q "^Error" "$WORK/parse.err"; then
  sed "s|$ROOT/||" "$WORK/parse.txt" "$WORK/parse.err" >&2
  echo "tree_sitter_test.sh: the files above do not parse without errors ([row, column] from 0)" >&2
  exit 1
fi
echo "parse: $count .pipe files without ERROR or MISSING nodes ($skipped cases with E0003-E0009 skipped)"
"$BIN" parse --quiet --paths "$BROKEN" >"$WORK/broken-parse.txt" 2>/dev/null || true
missed=0
while read -r f; do
  if ! grep -qF "$f" "$WORK/broken-parse.txt"; then
    echo "tree_sitter_test.sh: ${f#"$ROOT"/} has a syntax error for pipec but parses cleanly" >&2
    missed=1
  fi
done <"$BROKEN"
[ "$missed" = 0 ] || exit 1
echo "parse: $broken .pipe files with a syntax error (E0001, E0002) give ERROR or MISSING nodes"
