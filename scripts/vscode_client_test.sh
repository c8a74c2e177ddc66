#!/usr/bin/env bash
# Checks the VS Code extension's language-server client without VS Code: installs the pinned
# dependencies (package-lock.json) into editors/vscode/node_modules with npm's cache under
# $HOME/.cache/pipec/npm, then loads extension.js in Node with a stand-in `vscode` module
# (editors/vscode/test/client_wiring.js). Needs Node.js and npm
# (https://nodejs.org, or `apt-get install nodejs npm`).
set -euo pipefail
cd "$(dirname "$0")/../editors/vscode"
CACHE="${PIPEC_NPM_CACHE:-$HOME/.cache/pipec/npm}"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "vscode_client_test.sh: node/npm not found; install Node.js and npm (e.g. apt-get install nodejs npm)" >&2
  exit 2
fi
want="$(node -p 'require("./package.json").dependencies["vscode-languageclient"]')"
have="$(node -p 'try { require("./node_modules/vscode-languageclient/package.json").version } catch (e) { "" }')"
if [ "$want" != "$have" ]; then
  npm ci --omit=dev --no-audit --no-fund --loglevel=error --cache "$CACHE" >&2
fi
exec node test/client_wiring.js
