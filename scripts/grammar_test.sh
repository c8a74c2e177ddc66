#!/usr/bin/env bash
# Tests the VS Code TextMate grammar against the annotated samples editors/vscode/tests/*.pipe
# with vscode-tmgrammar-test (pinned), installed on first use into $HOME/.cache/pipec/npm.
# Needs Node.js and npm (https://nodejs.org, or `apt-get install nodejs npm`).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.1.3
PREFIX="${PIPEC_NPM_CACHE:-$HOME/.cache/pipec/npm}/tmgrammar-test-$VERSION"
BIN="$PREFIX/node_modules/.bin/vscode-tmgrammar-test"
if [ ! -x "$BIN" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "grammar_test.sh: npm not found; install Node.js and npm (e.g. apt-get install nodejs npm)," >&2
    echo "then rerun: it installs vscode-tmgrammar-test@$VERSION into $PREFIX" >&2
    exit 2
  fi
  mkdir -p "$PREFIX"
  npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error \
    "vscode-tmgrammar-test@$VERSION" >&2
fi
exec "$BIN" --config editors/vscode/package.json \
  "editors/vscode/tests/*.pipe"
