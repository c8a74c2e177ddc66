#!/usr/bin/env bash
# Tests the site of `pipec docs` in a real headless browser: Debian's Chromium driven by
# playwright-core (pinned, installed on first use into $HOME/.cache/pipec/npm-docs). The site of
# examples/ is generated (`$PIPEC docs examples --out ...`, or given with --site DIR), served on
# a free localhost port by `python3 -m http.server`, and scripts/docs_browser_test.cjs checks
# that every page loads without console errors, that searching `avg_minutes` finds
# station_daily's column and that lineage links navigate both ways.
# Usage: scripts/docs_browser_test.sh [--site DIR]   (PIPEC: the pipec binary; default `pipec`)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VERSION=1.57.0
PREFIX="${PIPEC_NPM_DOCS:-$HOME/.cache/pipec/npm-docs}"
CHROMIUM="${PIPEC_CHROMIUM:-/usr/bin/chromium}"
fail() { echo "docs_browser_test.sh: $*" >&2; exit 1; }

SITE=""
if [ "${1:-}" = "--site" ]; then SITE="$2"; fi

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "docs_browser_test.sh: installing Debian's chromium with apt-get" >&2
    apt-get install -y chromium >&2 || { apt-get update >&2 && apt-get install -y chromium >&2; } \
      || fail "could not install Chromium; run \`apt-get update && apt-get install -y chromium\` (as root) and rerun"
  else
    fail "$CHROMIUM not found; install it with \`sudo apt-get install -y chromium\` (or set PIPEC_CHROMIUM) and rerun"
  fi
fi
[ -x "$CHROMIUM" ] || fail "$CHROMIUM still missing after apt-get install chromium"

if [ ! -f "$PREFIX/node_modules/playwright-core/package.json" ] \
  || ! grep -q "\"version\": \"$VERSION\"" "$PREFIX/node_modules/playwright-core/package.json"; then
  command -v npm >/dev/null 2>&1 \
    || fail "npm not found; install Node.js and npm (e.g. apt-get install nodejs npm) and rerun: it installs playwright-core@$VERSION into $PREFIX"
  mkdir -p "$PREFIX"
  npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "playwright-core@$VERSION" >&2 \
    || fail "npm could not install playwright-core@$VERSION into $PREFIX; run \`npm install --prefix $PREFIX playwright-core@$VERSION\` and rerun"
fi

WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -z "$SITE" ]; then
  SITE="$WORK/site"
  "${PIPEC:-pipec}" docs "$ROOT/examples" --out "$SITE" >&2
fi
[ -f "$SITE/index.html" ] || fail "$SITE/index.html missing: the site was not generated"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$SITE" >"$WORK/server.log" 2>&1 &
SERVER=$!
python3 - "$PORT" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/index.html", timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("the local http server did not start")
PY

PLAYWRIGHT_DIR="$PREFIX/node_modules/playwright-core" CHROMIUM="$CHROMIUM" \
  USER_DATA_DIR="$WORK/profile" BASE_URL="http://127.0.0.1:$PORT/" \
  node "$ROOT/scripts/docs_browser_test.cjs"
