#!/usr/bin/env bash
# Creates (once) a cached virtualenv of the real tools that judge emitted artifacts, and prints
# its folder. Re-running is cheap: a stamp file records the pins.
#   bash scripts/pyenv.sh        the engines: Apache Airflow 3 (+ the PostgreSQL provider),
#                                PySpark 4 (spark-sql, needs Java 17) and DuckDB for Python
#   bash scripts/pyenv.sh json   jsonschema, for the JSON Schemas of docs/json (a small venv)
#   bash scripts/pyenv.sh sam    the SAM judges (a separate venv, so that their dependencies never
#                                meet Airflow's): cfn-lint, aws-sam-translator, sqlglot, DuckDB,
#                                boto3 + moto (S3, Secrets Manager) and pg8000 for the Lambda tests
set -euo pipefail
case "${1:-}" in
  "")
    VENV="${PIPEC_PYENV:-$HOME/.cache/pipec/pyenv}"
    PINS=(
      "apache-airflow==3.3.2"
      "apache-airflow-providers-postgres==7.1.1"
      "pyspark==4.3.0"
      "duckdb==2.0.0"
      "psycopg2-binary==2.9.13"
    )
    ;;
  sam)
    VENV="${PIPEC_PYENV_SAM:-$HOME/.cache/pipec/pyenv-sam}"
    PINS=(
      "cfn-lint==1.58.0"
      "aws-sam-translator==1.115.0"
      "sqlglot==30.30.0"
      "duckdb==2.0.0"
      "boto3==1.44.8"
      "moto[s3,secretsmanager]==5.2.5"
      "pg8000==1.31.6"
    )
    ;;
  json)
    # The JSON Schema validator of crates/cli/tests/json.rs (docs/json/*.schema.json).
    VENV="${PIPEC_PYENV_JSON:-$HOME/.cache/pipec/pyenv-json}"
    PINS=(
      "jsonschema==4.26.0"
    )
    ;;
  *)
    echo "usage: bash scripts/pyenv.sh [sam|json]" >&2
    exit 2
    ;;
esac
STAMP="$VENV/.pipec-pins"
if [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "${PINS[*]}" ]]; then
  echo "$VENV"
  exit 0
fi
python3 -m venv "$VENV" >&2
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}" >&2
echo "${PINS[*]}" > "$STAMP"
echo "$VENV"
