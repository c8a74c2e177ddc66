#!/usr/bin/env bash
# Creates (once) the cached virtualenv holding the real engines that judge emitted artifacts:
# Apache Airflow 3 (+ the PostgreSQL provider), PySpark 4 (spark-sql, needs Java 17) and DuckDB
# for Python. Prints the venv folder. Re-running is cheap: a stamp file records the pins.
set -euo pipefail
VENV="${PIPEC_PYENV:-$HOME/.cache/pipec/pyenv}"
PINS=(
  "apache-airflow==3.3.2"
  "apache-airflow-providers-postgres==7.1.1"
  "pyspark==4.3.0"
  "duckdb==2.0.0"
  "psycopg2-binary==2.9.13"
)
STAMP="$VENV/.pipec-pins"
if [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "${PINS[*]}" ]]; then
  echo "$VENV"
  exit 0
fi
python3 -m venv "$VENV" >&2
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}" >&2
echo "${PINS[*]}" > "$STAMP"
echo "$VENV"
