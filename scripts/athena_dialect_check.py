#!/usr/bin/env python3
"""Judges pipec-sql's Athena (Trino) dialect with real tools: every statement pipec renders for
Athena is parsed by sqlglot's `athena` dialect (errors raised), transpiled to DuckDB and run on
the spec's data; each sink table is then compared with the one `pipec run` writes.

    python scripts/athena_dialect_check.py --pipec BIN --athena-sql BIN --spec PATH \
        [--spec PATH ...] [--date 2024-01-01] [--work DIR]

`--athena-sql` is the example binary of pipec-golden (`cargo build -p pipec-golden --example
athena_sql`): it prints the Athena SQL of each transform, check, guard and publish statement
with `?` execution parameters and the run values of the date. The parameters are bound here as
DuckDB prepared-statement values, in order, as Athena binds its `ExecutionParameters`.

Needs sqlglot and duckdb (the venv of `bash scripts/pyenv.sh sam`). Exit code 1 on any parse
error, failed statement or row difference.

Importable: `render`, `parse_athena`, `to_duckdb`, `run_pipeline` and `judge` are functions.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engines  # noqa: E402  (comparison of tables as multisets, shared with engines.py)


def need(module):
    try:
        return __import__(module)
    except ImportError:
        raise engines.Failure(
            f"python module {module!r} is missing: run with the venv of `bash scripts/pyenv.sh sam`"
        )


def render(athena_sql_bin, specs, date, cwd=None):
    """The Athena SQL of `specs` for `date`, as the JSON the example binary prints."""
    p = subprocess.run(
        [athena_sql_bin, *specs, "--date", date],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if p.returncode != 0:
        raise engines.Failure(f"athena_sql failed: {p.stderr.decode()}")
    return json.loads(p.stdout)


def parse_athena(sql):
    """Parses one statement with sqlglot's Athena dialect; raises on any error."""
    sqlglot = need("sqlglot")
    trees = sqlglot.parse(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise engines.Failure(f"expected one statement, sqlglot read {len(trees)}: {sql}")
    return trees[0]


def to_duckdb(sql):
    """Athena SQL → DuckDB SQL (through sqlglot), `?` placeholders kept in order."""
    return parse_athena(sql).sql(dialect="duckdb")


# Trino functions sqlglot passes through unchanged and DuckDB lacks, defined by their Trino
# documentation on DuckDB (ICU time zones): `with_timezone(ts, zone)` reads a timestamp as a wall
# clock in `zone`; `at_timezone(tstz, zone)` gives an instant's wall clock in `zone` (here as a
# plain timestamp, which is what pipec's SQL casts it to). Where a wall time is repeated or
# skipped by a DST change, these follow ICU, not Trino.
TRINO_SHIMS = [
    "CREATE MACRO with_timezone(t, z) AS timezone(z, CAST(t AS TIMESTAMP))",
    "CREATE MACRO at_timezone(t, z) AS timezone(z, t)",
]


def connect(path):
    """A DuckDB connection with the Trino shims."""
    duckdb = need("duckdb")
    con = duckdb.connect(path)
    for m in TRINO_SHIMS:
        con.execute(m)
    return con


def load_source(con, rel, base):
    """A file source as a DuckDB table with its declared types (CSV read by DuckDB)."""
    spec = "{" + ", ".join(
        f"'{c['name'].replace(chr(39), chr(39) * 2)}': '{c['duckdb']}'" for c in rel["columns"]
    ) + "}"
    path = os.path.join(base, rel["path"])
    if rel["format"] == "csv":
        reader = f"read_csv('{path}', header = true, columns = {spec}, auto_detect = false, allow_quoted_nulls = false)"
    elif rel["format"] == "ndjson":
        reader = f"read_json('{path}', format = 'newline_delimited', columns = {spec})"
    else:
        reader = f"read_parquet('{path}')"
    con.execute(f"CREATE TABLE {engines.qident(rel['name'])} AS SELECT * FROM {reader}")


def execute(con, stmt, run, what, log):
    """Runs one rendered statement ({sql, params}) on DuckDB; returns the cursor."""
    duck = to_duckdb(stmt["sql"])
    values = [run[n] for n in stmt["params"]]
    if duck.count("?") < len(values):
        raise engines.Failure(f"{what}: {len(values)} parameters but fewer `?`: {duck}")
    try:
        return con.execute(duck, values)
    except Exception as e:  # DuckDB errors have many classes
        log(f"  Athena SQL: {stmt['sql']}")
        log(f"  DuckDB SQL: {duck}")
        raise engines.Failure(f"{what}: {str(e).splitlines()[0]}")


def run_pipeline(con, p, base, log=print):
    """Stages sources and transforms, runs checks, guards and publish statements of pipeline
    `p` (one entry of `render`'s JSON) on DuckDB connection `con`. Returns the number of
    statements run; raises engines.Failure on the first error or failed check."""
    run = p["run"]
    n = 0
    for rel in p["relations"]:
        if rel["kind"] == "file":
            load_source(con, rel, base)
        elif rel["kind"] == "transform":
            if rel["unsupported"]:
                raise engines.Failure(f"{rel['name']}: not expressible: {rel['unsupported']}")
            sel = dict(rel["select"])
            sel["sql"] = f"CREATE TABLE {engines.qident(rel['name'])} AS {sel['sql']}"
            execute(con, sel, run, f"transform {rel['name']}", log)
            n += 1
        else:
            raise engines.Failure(f"{rel['name']}: only file sources are loaded here")
    for c in p["checks"]:
        (value,) = execute(con, c["query"], run, f"check {c['rule']}", log).fetchone()
        n += 1
        if bool(con.execute(f"SELECT {c['failed']} FROM (SELECT ? AS n)", [value]).fetchone()[0]):
            raise engines.Failure(f"check on {c['relation']} failed: {c['rule']} (n = {value})")
    for s in p["sinks"]:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {engines.qident(s['schema'])}")
        cols = ", ".join(f"{engines.qident(c['name'])} {c['duckdb']}" for c in s["columns"])
        target = f"{engines.qident(s['schema'])}.{engines.qident(s['table'])}"
        con.execute(f"CREATE TABLE IF NOT EXISTS {target} ({cols})")
        for g in s["guards"]:
            (value,) = execute(con, g["query"], run, f"guard {g['what']}", log).fetchone()
            n += 1
            if bool(con.execute(f"SELECT {g['failed']} FROM (SELECT ? AS n)", [value]).fetchone()[0]):
                raise engines.Failure(f"publish guard failed: {g['what']}")
        for st in s["publish"]:
            execute(con, st, run, f"publish {s['schema']}.{s['table']}", log)
            n += 1
    return n


def judge(pipec, athena_sql_bin, specs, date="2024-01-01", work=None, log=print):
    """Runs `specs` with `pipec run --date DATE` and through the Athena SQL on DuckDB, then
    compares every sink table. Returns (tables compared, mismatches)."""
    work = work or tempfile.mkdtemp(prefix="athena-check-")
    os.makedirs(work, exist_ok=True)
    specs = [os.path.abspath(s) for s in specs]
    base = os.path.dirname(specs[0])
    wh = os.path.join(work, "pipec.duckdb")
    if os.path.exists(wh):
        os.remove(wh)
    engines.run_cmd(
        [pipec, "run", *specs, "--date", date, "--warehouse", wh, "--no-retry"],
        cwd=base,
        env=os.environ.copy(),
    )
    rendered = render(athena_sql_bin, specs, date, cwd=base)
    athena_db = os.path.join(work, "athena.duckdb")
    if os.path.exists(athena_db):
        os.remove(athena_db)
    con = connect(athena_db)
    sinks = []
    statements = 0
    for p in rendered["pipelines"]:
        statements += run_pipeline(con, p, base, log)
        sinks.extend(f"{s['schema']}.{s['table']}" for s in p["sinks"])
    con.close()
    log(f"{statements} Athena statements parsed by sqlglot and run on DuckDB")
    bad = 0
    for name in sinks:
        ok, lines = engines.compare(
            engines.read_duckdb(wh, name), engines.read_duckdb(athena_db, name)
        )
        log(f"{'ok  ' if ok else 'DIFF'} {name}")
        for line in lines:
            log("     " + line)
        bad += 0 if ok else 1
    return len(sinks), bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipec", required=True)
    ap.add_argument("--athena-sql", required=True)
    ap.add_argument("--spec", action="append", required=True)
    ap.add_argument("--date", default="2024-01-01")
    ap.add_argument("--work")
    a = ap.parse_args()
    try:
        n, bad = judge(a.pipec, a.athena_sql, a.spec, a.date, a.work)
    except engines.Failure as e:
        print(f"FAILED: {e}")
        return 1
    print(f"{n - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
