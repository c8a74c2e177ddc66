# Sourced by every bench script: `bench_setup NAME` builds `pipec` and the `duckdb_sql` example
# (release, in the test command's target folder) and sets PIPEC, RAW (their paths) and W (a fresh
# work folder /tmp/pipec-NAME.XXXX).
bench_setup() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pipec/target}"
  cargo build --release -q --bin pipec -p pipec-cli
  cargo build --release -q --example duckdb_sql -p pipec-runner
  PIPEC="$CARGO_TARGET_DIR/release/pipec"
  RAW="$CARGO_TARGET_DIR/release/examples/duckdb_sql"
  W=$(mktemp -d "/tmp/pipec-$1.XXXX")
}
