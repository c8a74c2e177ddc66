#!/usr/bin/env python3
"""Cross-engine conformance: runs specs with `pipec run` (DuckDB) and through the artifacts of
`pipec emit` on the real engines (Spark SQL, Airflow 3 on a DuckDB or PostgreSQL warehouse),
then compares every sink table as a multiset of rows.

Run it with the python of the venv made by `bash scripts/pyenv.sh` (needs duckdb, psycopg2):

    python scripts/engines.py --pipec BIN --spec PATH [--spec PATH ...] \
        --dates 2024-01-01,2024-01-02,2024-01-03 --rerun 2024-01-02 \
        --targets spark,airflow-duckdb[,airflow-postgres] --work WORKDIR \
        [--pg-url URL] [--env K=V ...] [--no-airflow-dagbag]

Each --dates item (and --rerun) is a date (`pipec run --date D`: every interval of D) or
`FROM..TO`, instants in UTC such as `2024-01-02T00:00Z..2024-01-02T02:00Z` (`pipec run --from
FROM --to TO`: the intervals starting in that range), for hourly pipelines. The items run in
order, then the rerun item with --force; each engine runs the same intervals in the same order.

Every command gets the environment plus the --env values (secrets); Airflow targets also get
each of them as AIRFLOW_VAR_<K> and AIRFLOW_CONN_<K>.

Comparison: columns matched by name (the same set required), hidden `_pipec*` columns dropped,
rows order-insensitive with duplicates counted. Values are normalized: null; NaN (distinct from
null); booleans; numbers (int, decimal, float) as floats equal within a relative tolerance of
1e-9 (absolute 1e-12 near zero); dates `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]`
(a time-zone-aware value converted to UTC); strings exact. Exit code 1 on any mismatch or
failure, 0 otherwise.
"""

import argparse
import datetime as dt
import decimal
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
import uuid

REL_TOL = 1e-9
ABS_TOL = 1e-12
MAX_DIFF_ROWS = 20
TAIL_LINES = 60

TARGETS = {
    # name: (emit --target, emit --profile)
    "spark": ("spark", None),
    "airflow-duckdb": ("airflow", "duckdb"),
    "airflow-postgres": ("airflow", "postgres"),
}


class Failure(Exception):
    """A step that could not be carried out (a command failed, a table is missing, ...)."""


def log(msg=""):
    print(msg, flush=True)


def venv_bin():
    return os.path.dirname(os.path.abspath(sys.executable))


def spark_home():
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise Failure(
            "pyspark is not installed in this python; run with the venv of `bash scripts/pyenv.sh`"
        )
    return list(spec.submodule_search_locations)[0]


def run_cmd(cmd, cwd, env, shell=False, label=None):
    """Runs a command, prints it and its exit code; raises Failure with the output's tail."""
    shown = cmd if shell else " ".join(shlex.quote(c) for c in cmd)
    log(f"$ {shown}" + (f"   (cwd {cwd})" if cwd else ""))
    t0 = time.time()
    p = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        shell=shell,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out = p.stdout.decode("utf-8", "replace")
    log(f"  exit {p.returncode} ({time.time() - t0:.1f} s)")
    if p.returncode != 0:
        tail = "\n".join(out.rstrip().splitlines()[-TAIL_LINES:])
        log("  --- output (tail) ---")
        for line in tail.splitlines():
            log("  | " + line)
        raise Failure(f"{label or shown} exited with {p.returncode}")
    return out


# ---------------------------------------------------------------------------------------------
# Values


def norm(v):
    """One value as a hashable, typed token."""
    if v is None:
        return ("null",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, (int, float, decimal.Decimal)):
        if isinstance(v, decimal.Decimal):
            if v.is_nan():
                return ("nan",)
            if v.is_infinite():
                return ("num", float(v))
        f = float(v)
        if math.isnan(f):
            return ("nan",)
        return ("num", f)
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return ("time", v.isoformat(sep=" "))
    if isinstance(v, dt.date):
        return ("time", v.isoformat())
    if isinstance(v, dt.time):
        return ("time", v.isoformat())
    if isinstance(v, dt.timedelta):
        return ("interval", v.total_seconds())
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return ("bytes", bytes(v).hex())
    if isinstance(v, uuid.UUID):
        return ("str", str(v))
    if isinstance(v, (dict, list, tuple)):
        return ("json", json.dumps(v, sort_keys=True, default=str, ensure_ascii=False))
    return ("other", repr(v))


def close(a, b):
    """Two normalized values equal, numbers within the tolerance."""
    if a == b:
        return True
    if a[0] == "num" and b[0] == "num":
        x, y = a[1], b[1]
        if math.isinf(x) or math.isinf(y):
            return x == y
        return abs(x - y) <= max(REL_TOL * max(abs(x), abs(y)), ABS_TOL)
    return False


def show(tok):
    kind = tok[0]
    if kind == "null":
        return "null"
    if kind == "nan":
        return "NaN"
    if kind == "num":
        f = tok[1]
        return repr(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)
    if kind == "bool":
        return "true" if tok[1] else "false"
    return json.dumps(tok[1], ensure_ascii=False) if kind == "str" else str(tok[1])


class Table:
    """A sink table read from one engine: column names and normalized rows."""

    def __init__(self, columns, rows, types=None):
        keep = [i for i, c in enumerate(columns) if not c.lower().startswith("_pipec")]
        self.columns = [columns[i] for i in keep]
        self.types = [types[i] for i in keep] if types else None
        self.rows = [tuple(norm(r[i]) for i in keep) for r in rows]


def compare(expected, actual):
    """Returns (ok, message lines) comparing two Tables as multisets of rows."""
    if actual.columns is None:  # an empty folder: its columns are unknown
        if not expected.rows:
            return True, []
        return False, [f"no rows, expected {len(expected.rows)}"] + [
            "  - " + fmt_row(expected.columns, r) for r in expected.rows[:MAX_DIFF_ROWS]
        ]
    ec, ac = expected.columns, actual.columns
    if sorted(ec) != sorted(ac) or len(set(ac)) != len(ac):
        return False, [
            f"columns differ: pipec {ec}, engine {ac}",
            f"  only in pipec: {sorted(set(ec) - set(ac))}, only in engine: {sorted(set(ac) - set(ec))}",
        ]
    order = [ac.index(c) for c in ec]
    act = [tuple(r[i] for i in order) for r in actual.rows]
    missing = {}
    for r in expected.rows:
        missing[r] = missing.get(r, 0) + 1
    extra = []
    for r in act:
        if missing.get(r, 0) > 0:
            missing[r] -= 1
        else:
            extra.append(r)
    miss = [r for r, n in missing.items() for _ in range(n)]
    # Rows equal only within the numeric tolerance.
    if miss and extra:
        left = []
        for r in extra:
            for i, m in enumerate(miss):
                if m is not None and all(close(a, b) for a, b in zip(m, r)):
                    miss[i] = None
                    break
            else:
                left.append(r)
        extra = left
        miss = [m for m in miss if m is not None]
    if not miss and not extra:
        return True, []
    lines = [
        f"{len(miss)} rows missing (in pipec run, not in engine), {len(extra)} extra (in engine, not in pipec run); columns {ec}"
    ]
    for r in sorted(miss, key=repr)[:MAX_DIFF_ROWS]:
        lines.append("  - " + fmt_row(ec, r))
    if len(miss) > MAX_DIFF_ROWS:
        lines.append(f"  ... {len(miss) - MAX_DIFF_ROWS} more missing")
    for r in sorted(extra, key=repr)[:MAX_DIFF_ROWS]:
        lines.append("  + " + fmt_row(ec, r))
    if len(extra) > MAX_DIFF_ROWS:
        lines.append(f"  ... {len(extra) - MAX_DIFF_ROWS} more extra")
    return False, lines


def fmt_row(cols, row):
    return "(" + ", ".join(f"{c}={show(v)}" for c, v in zip(cols, row)) + ")"


# ---------------------------------------------------------------------------------------------
# Readers


def qident(name):
    return '"' + name.replace('"', '""') + '"'


def split_table(name):
    if "." in name:
        schema, table = name.split(".", 1)
    else:
        schema, table = "main", name
    return schema, table


def read_duckdb(path, name):
    import duckdb

    schema, table = split_table(name)
    con = duckdb.connect(path, read_only=True)
    try:
        found = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where lower(table_schema) = lower(?) and lower(table_name) = lower(?)",
            [schema, table],
        ).fetchall()
        if not found:
            raise Failure(f"table {name} does not exist in {path}")
        s, t = found[0]
        cur = con.execute(f"select * from {qident(s)}.{qident(t)}")
        cols = [d[0] for d in cur.description]
        types = [str(d[1]) for d in cur.description]
        return Table(cols, cur.fetchall(), types)
    finally:
        con.close()


def duckdb_types(path, name):
    """The column types of a table in a DuckDB file: {column: type}."""
    import duckdb

    schema, table = split_table(name)
    con = duckdb.connect(path, read_only=True)
    try:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where lower(table_schema) = lower(?) and lower(table_name) = lower(?)",
            [schema, table],
        ).fetchall()
        return {c: t for c, t in rows}
    finally:
        con.close()


def parquet_files(folder):
    """Data files of a Spark table folder, skipping what Spark itself skips (names starting with
    `_` or `.`, unless they are `col=value` partition folders)."""
    files = []
    parts = set()
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if "=" in d or not (d.startswith("_") or d.startswith("."))
        )
        rel = os.path.relpath(root, folder)
        if rel != ".":
            for comp in rel.split(os.sep):
                if "=" in comp:
                    parts.add(comp.split("=", 1)[0])
        for n in sorted(names):
            if n.startswith("_") or n.startswith("."):
                continue
            if n.endswith(".parquet") or re.match(r"part-.*", n):
                files.append(os.path.join(root, n))
    return files, parts


def read_spark(warehouse, name, pipec_types):
    import duckdb

    schema, table = split_table(name)
    folder = os.path.join(warehouse, schema, table)
    if not os.path.isdir(folder):
        # Spark's catalog may lower-case names.
        cands = [
            os.path.join(warehouse, s, t)
            for s in (schema, schema.lower())
            for t in (table, table.lower())
        ]
        found = [c for c in cands if os.path.isdir(c)]
        if not found:
            raise Failure(f"table {name}: no folder {folder}")
        folder = found[0]
    files, parts = parquet_files(folder)
    if not files:
        t = Table([], [])
        t.columns = None
        return t
    con = duckdb.connect()
    try:
        rel = con.execute(
            "select * from read_parquet(?, hive_partitioning = true, hive_types_autocast = false) limit 0",
            [files],
        )
        cols = [d[0] for d in rel.description]
        lower_types = {k.lower(): v for k, v in pipec_types.items()}
        sel = []
        for c in cols:
            if c in parts:
                ty = lower_types.get(c.lower(), "VARCHAR")
                v = f"url_decode(nullif({qident(c)}, '__HIVE_DEFAULT_PARTITION__'))"
                sel.append(f"cast({v} as {ty}) as {qident(c)}")
            else:
                sel.append(qident(c))
        cur = con.execute(
            f"select {', '.join(sel)} from read_parquet(?, hive_partitioning = true, hive_types_autocast = false)",
            [files],
        )
        return Table([d[0] for d in cur.description], cur.fetchall())
    finally:
        con.close()


def read_postgres(url, name):
    import psycopg2

    schema, table = split_table(name)
    con = psycopg2.connect(url)
    try:
        cur = con.cursor()
        cur.execute(
            "select table_schema, table_name from information_schema.tables "
            "where lower(table_schema) = lower(%s) and lower(table_name) = lower(%s)",
            (schema, table),
        )
        found = cur.fetchall()
        if not found:
            raise Failure(f"table {name} does not exist in the PostgreSQL database")
        s, t = found[0]
        cur.execute(f"select * from {qident(s)}.{qident(t)}")
        cols = [d[0] for d in cur.description]
        return Table(cols, cur.fetchall())
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Steps


def read_intervals(warehouse):
    """[(pipeline, ds, start, end)] of pipec's `_pipec.intervals`, times as `YYYY-MM-DD HH:MM:SS`."""
    import duckdb

    con = duckdb.connect(warehouse, read_only=True)
    try:
        rows = con.execute(
            "select pipeline, ds, interval_start, interval_end from _pipec.intervals "
            "order by interval_end, interval_end - interval_start, pipeline"
        ).fetchall()
    finally:
        con.close()
    fmt = "%Y-%m-%d %H:%M:%S"
    return [(p, ds.isoformat(), s.strftime(fmt), e.strftime(fmt)) for p, ds, s, e in rows]


def instant(text):
    """`2024-01-02T05:00Z` (or without `Z`; UTC) as `YYYY-MM-DD HH:MM:SS`."""
    v = dt.datetime.fromisoformat(text.strip().rstrip("Z").replace(" ", "T"))
    return v.strftime("%Y-%m-%d %H:%M:%S")


def item_args(item):
    """The `pipec run` arguments of one --dates item: a date, or `FROM..TO` instants (UTC)."""
    if ".." in item:
        lo, hi = item.split("..", 1)
        return ["--from", lo, "--to", hi]
    return ["--date", item]


def item_intervals(intervals, pipeline, item):
    """The intervals of `pipeline` that one --dates item ran, in order."""
    if ".." in item:
        lo, hi = (instant(x) for x in item.split("..", 1))
        return [(s, e, ds) for p, ds, s, e in intervals if p == pipeline and lo <= s <= hi]
    return [(s, e, ds) for p, ds, s, e in intervals if p == pipeline and ds == item]


def subst(text, values):
    def rep(m):
        key = m.group(1)
        return values[key] if key in values else m.group(0)

    return re.sub(r"\{(ds|start|end|warehouse)\}", rep, text)


def pg_database(base_url, name):
    """Creates (afresh) the database `name` on the server of `base_url`; returns its URL."""
    import psycopg2

    con = psycopg2.connect(base_url)
    con.autocommit = True
    try:
        cur = con.cursor()
        cur.execute(f"drop database if exists {qident(name)} with (force)")
        cur.execute(f"create database {qident(name)}")
    finally:
        con.close()
    u = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def dagbag(folder, env):
    code = (
        "import json, pathlib, sys\n"
        "try:  # Airflow 3: the DagBag of the DAG processor, which puts the bundle on sys.path\n"
        "    from airflow.dag_processing.dagbag import BundleDagBag\n"
        "    b = BundleDagBag(dag_folder=sys.argv[1], bundle_path=pathlib.Path(sys.argv[1]), safe_mode=False)\n"
        "except ImportError:\n"
        "    from airflow.models import DagBag\n"
        "    b = DagBag(dag_folder=sys.argv[1], include_examples=False, safe_mode=False)\n"
        "print('DAGBAG ' + json.dumps({'dags': sorted(b.dag_ids), 'errors': {k: str(v) for k, v in b.import_errors.items()}}))\n"
    )
    script = os.path.join(os.path.dirname(folder), "_pipec_dagbag.py")
    with open(script, "w", encoding="utf-8") as fh:
        fh.write(code)
    out = run_cmd([sys.executable, script, folder], cwd=folder, env=env, label="DagBag")
    line = [l for l in out.splitlines() if l.startswith("DAGBAG ")]
    if not line:
        raise Failure("DagBag printed no result")
    res = json.loads(line[-1][len("DAGBAG ") :])
    log(f"  DagBag: {len(res['dags'])} DAGs {res['dags']}, {len(res['errors'])} import errors")
    if res["errors"]:
        for f, e in res["errors"].items():
            log(f"  import error in {f}:")
            for l in e.splitlines()[-TAIL_LINES:]:
                log("  | " + l)
        raise Failure(f"DagBag has {len(res['errors'])} import errors")
    return res["dags"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pipec", required=True)
    ap.add_argument("--spec", action="append", required=True)
    ap.add_argument("--dates", required=True)
    ap.add_argument("--rerun", default=None)
    ap.add_argument("--targets", default="spark,airflow-duckdb")
    ap.add_argument("--work", required=True)
    ap.add_argument("--pg-url", default=os.environ.get("PIPEC_TEST_PG_URL"))
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--no-airflow-dagbag", action="store_true")
    a = ap.parse_args()

    pipec = os.path.abspath(a.pipec)
    specs = [os.path.abspath(s) for s in a.spec]
    dates = [d.strip() for d in a.dates.split(",") if d.strip()]
    sequence = dates + ([a.rerun] if a.rerun else [])
    targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    for t in targets:
        if t not in TARGETS:
            ap.error(f"unknown target {t}; one of {', '.join(TARGETS)}")
    if "airflow-postgres" in targets and not a.pg_url:
        ap.error("airflow-postgres needs --pg-url (or PIPEC_TEST_PG_URL): run `bash scripts/postgres.sh`")
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)

    env = dict(os.environ)
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    vbin = venv_bin()
    env["PATH"] = vbin + os.pathsep + env.get("PATH", "")

    failures = []
    results = []  # (engine, table, ok, lines)

    # 1. pipec run: every date, then the rerun date with --force.
    log(f"== pipec run ({len(specs)} spec(s), dates {' '.join(sequence)})")
    wh = os.path.join(work, "pipec.duckdb")
    for f in (wh, wh + ".wal", wh + ".lock"):
        if os.path.exists(f):
            os.remove(f)
    try:
        for i, d in enumerate(sequence):
            cmd = [pipec, "run", *specs, *item_args(d), "--warehouse", wh, "--no-retry"]
            if i >= len(dates):
                cmd.append("--force")
            run_cmd(cmd, cwd=work, env=env, label=f"pipec run {d}")
        intervals = read_intervals(wh)
    except Failure as e:
        log(f"FAIL pipec run: {e}")
        log("summary: pipec run failed; nothing compared")
        return 1

    for t in targets:
        log(f"== target {t}")
        emit_target, profile = TARGETS[t]
        out = os.path.join(work, t)
        if os.path.exists(out):
            shutil.rmtree(out)
        tenv = dict(env)
        if t == "spark":
            sh = spark_home()
            tenv["SPARK_HOME"] = sh
            tenv["SPARK_LOCAL_IP"] = "127.0.0.1"
            # Test data is tiny: two local cores and two shuffle partitions instead of 200
            # (a deployment sets its own; the job's results do not depend on it).
            tenv.setdefault(
                "PIPEC_SPARK_OPTS",
                "--master local[2] --conf spark.sql.shuffle.partitions=2 "
                "--conf spark.ui.enabled=false --driver-memory 1g",
            )
            tenv["PATH"] = os.path.join(sh, "bin") + os.pathsep + tenv["PATH"]
            warehouse = os.path.join(work, "spark-warehouse")
            if os.path.exists(warehouse):
                shutil.rmtree(warehouse)
            os.makedirs(warehouse)
        elif t == "airflow-duckdb":
            warehouse = os.path.join(work, "airflow.duckdb")
            for f in (warehouse, warehouse + ".wal"):
                if os.path.exists(f):
                    os.remove(f)
        else:
            name = "pipec_engines_" + hashlib.sha1(work.encode()).hexdigest()[:10]
            try:
                warehouse = pg_database(a.pg_url, name)
            except Exception as e:  # noqa: BLE001 - any driver error is a failure to report
                log(f"FAIL {t}: cannot create the PostgreSQL database: {e}")
                failures.append(f"{t}: database")
                continue
        if t.startswith("airflow"):
            home = os.path.join(work, f"airflow-home-{t}")
            tenv["AIRFLOW_HOME"] = home
            tenv["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
            tenv["AIRFLOW__CORE__DAGS_FOLDER"] = out
            # Secrets given with --env are also offered as an Airflow Variable and Connection
            # of the same name (Airflow reads both from AIRFLOW_VAR_* / AIRFLOW_CONN_*).
            for kv in a.env:
                k, _, v = kv.partition("=")
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                    tenv["AIRFLOW_VAR_" + k.upper()] = v
                    tenv["AIRFLOW_CONN_" + k.upper()] = v
        try:
            cmd = [pipec, "emit", *specs, "--target", emit_target]
            if profile:
                cmd += ["--profile", profile]
            cmd += ["--out", out]
            run_cmd(cmd, cwd=work, env=env, label=f"pipec emit --target {emit_target}")
            with open(os.path.join(out, "manifest.json"), encoding="utf-8") as fh:
                manifest = json.load(fh)
            if t.startswith("airflow"):
                if not os.path.exists(os.path.join(home, ".pipec-migrated")):
                    os.makedirs(home, exist_ok=True)
                    run_cmd(["airflow", "db", "migrate"], cwd=work, env=tenv, label="airflow db migrate")
                    open(os.path.join(home, ".pipec-migrated"), "w").close()
            pipelines = manifest.get("pipelines", [])
            if t.startswith("airflow") and not a.no_airflow_dagbag:
                dags = dagbag(out, tenv)
                if len(dags) < len(pipelines):
                    raise Failure(f"DagBag loaded {len(dags)} DAGs for {len(pipelines)} pipelines")
            for d in sequence:
                # Interval by interval (by end, the shorter first), upstream pipelines first.
                steps = []
                for i, p in enumerate(pipelines):
                    ivs = item_intervals(intervals, p["name"], d)
                    if not ivs:
                        raise Failure(f"pipec recorded no interval of {p['name']} for {d}")
                    steps += [(e, s, i, ds, p) for s, e, ds in ivs]
                steps.sort(key=lambda x: x[2])
                steps.sort(key=lambda x: x[1], reverse=True)
                steps.sort(key=lambda x: x[0])
                for end, start, _, ds, p in steps:
                    vals = {"ds": ds, "start": start, "end": end, "warehouse": warehouse}
                    penv = dict(tenv)
                    for k, v in (p.get("env") or {}).items():
                        penv[k] = subst(v, vals)
                    run_cmd(subst(p["run"], vals), cwd=out, env=penv, shell=True,
                            label=f"{t} {p['name']} {ds}")
        except Failure as e:
            log(f"FAIL {t}: {e}")
            failures.append(f"{t}: {e}")
            continue
        except (OSError, ValueError, KeyError) as e:
            log(f"FAIL {t}: {type(e).__name__}: {e}")
            failures.append(f"{t}: {e}")
            continue

        # Compare every sink of every pipeline.
        for p in pipelines:
            for sink in p.get("sinks", []):
                try:
                    exp = read_duckdb(wh, sink)
                    if t == "spark":
                        got = read_spark(warehouse, sink, duckdb_types(wh, sink))
                    elif t == "airflow-duckdb":
                        got = read_duckdb(warehouse, sink)
                    else:
                        got = read_postgres(warehouse, sink)
                except Failure as e:
                    results.append((t, sink, False, [str(e)]))
                    log(f"FAIL {t} {sink}: {e}")
                    continue
                except Exception as e:  # noqa: BLE001 - a reader error is a failure to report
                    results.append((t, sink, False, [f"{type(e).__name__}: {e}"]))
                    log(f"FAIL {t} {sink}: {type(e).__name__}: {e}")
                    continue
                ok, lines = compare(exp, got)
                results.append((t, sink, ok, lines))
                if ok:
                    log(f"OK {t} {sink} {len(exp.rows)} rows")
                else:
                    log(f"DIFF {t} {sink}: " + lines[0])
                    for l in lines[1:]:
                        log("  " + l)
        # Every table pipec wrote must be in some pipeline's sinks.
        listed = {s.lower() for p in pipelines for s in p.get("sinks", [])}
        import duckdb

        con = duckdb.connect(wh, read_only=True)
        try:
            tables = con.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where not starts_with(lower(table_schema), '_pipec')"
            ).fetchall()
        finally:
            con.close()
        for (tn,) in tables:
            if tn.lower() not in listed:
                results.append((t, tn, False, ["pipec run wrote this table; the manifest lists it in no pipeline's sinks"]))
                log(f"FAIL {t} {tn}: not in the manifest's sinks")

    ok = sum(1 for r in results if r[2])
    bad = len(results) - ok
    log(
        f"summary: {ok} tables equal, {bad} differ or unreadable, {len(failures)} target failures"
        + (f" ({'; '.join(failures)})" if failures else "")
    )
    return 0 if bad == 0 and not failures and results else 1


if __name__ == "__main__":
    sys.exit(main())
