#!/usr/bin/env bash
# Runs the unit tests of the SAM target's Lambda functions (crates/sam/functions/tests): the
# interval function against `pipec run`, http against a local HTTP server, postgres against the
# local PostgreSQL (scripts/postgres.sh), slack against a local stand-in webhook; S3 and Secrets
# Manager are moto's, in process (no AWS account is used). Arguments, if any, name what to
# run (unittest names: `test_http`, `test_http.HttpSource.test_offsets`). Environment:
#   PIPEC_LAMBDA_PYENV  the venv to use (default: `bash scripts/pyenv.sh sam`)
#   PIPEC_BIN           the pipec binary (default: the shared release build)
#   PIPEC_PG_URL        a PostgreSQL URL (default: the one scripts/postgres.sh starts)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="${PIPEC_LAMBDA_PYENV:-$(bash "$ROOT/scripts/pyenv.sh" sam)}"
PY="$VENV/bin/python"
[[ -x "$PY" ]] || { echo "no python in $VENV: run \`bash scripts/pyenv.sh sam\`" >&2; exit 1; }
# Each function's requirements.txt installed alone, as `sam build` packages it: the import test
# loads every function with nothing else.
DEPS="${PIPEC_LAMBDA_DEPS:-$HOME/.cache/pipec/lambda-deps}"
for req in "$ROOT"/crates/sam/functions/*/requirements.txt; do
  kind=$(basename "$(dirname "$req")")
  if ! cmp -s "$req" "$DEPS/$kind/.pins"; then
    rm -rf "${DEPS:?}/$kind"
    mkdir -p "$DEPS/$kind"
    "$PY" -m pip install --quiet --disable-pip-version-check --target "$DEPS/$kind" -r "$req" >&2
    cp "$req" "$DEPS/$kind/.pins"
  fi
done
export PIPEC_LAMBDA_DEPS="$DEPS"
export PIPEC_PG_URL="${PIPEC_PG_URL:-$(bash "$ROOT/scripts/postgres.sh")}"
export PIPEC_BIN="${PIPEC_BIN:-$HOME/.cache/pipec/target/release/pipec}"
cd "$ROOT/crates/sam/functions/tests"
if [[ $# -gt 0 ]]; then
  exec "$PY" -m unittest "$@"
fi
exec "$PY" -m unittest discover -s . -p 'test_*.py'

