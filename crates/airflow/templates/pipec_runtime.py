"""pipec's Airflow runtime, shared by the DAGs `pipec emit --target airflow` writes.

Each DAG holds its pipeline as a literal: per task a list of operations (SQL with the run's
values as \\x01name\\x01 marks, assertions, HTTP and PostgreSQL fetches, the publish
transaction). This module executes them. It uses the standard library, duckdb and (for the
PostgreSQL profile and `postgres` sources) psycopg2.

Warehouse: the Airflow Variable `pipec_warehouse` (a DuckDB file, or a PostgreSQL URL).
Staging: DuckDB profile: a per-run DuckDB file `<warehouse>.pipec-stage/<dag>-<run>.duckdb`,
attached as `_pipec_stage` by every task of the run and removed after a successful publish
(the warehouse file itself is written only by `publish`). PostgreSQL profile: a per-run schema
`_pipec_stage_<run>` in the database, dropped after a successful publish.
Secrets: an Airflow Variable of the secret's name, else a Connection of that name.
"""

import csv
import glob
import hashlib
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from airflow.sdk import BaseOperator, BaseSensorOperator

_MARK = re.compile("\x01([A-Za-z_]+)\x01")
_STATE_TABLE = "airflow_watermarks"


class PipecError(Exception):
    """A run that must fail: a check, a bad input row, a failed fetch. `final` failures (a
    failed check or guard, a value that does not fit its column, a missing secret) are not
    retried, as `pipec run` does not retry them; others (a missing input file, a failed fetch)
    are retried as the pipeline's `retries` say."""

    def __init__(self, message, final=False):
        super().__init__(message)
        self.final = final


def _sub(text, values):
    """`text` with every marked run variable replaced by its value."""
    return _MARK.sub(lambda m: values[m.group(1)], text)


def _quote(text):
    return "'" + str(text).replace("'", "''") + "'"


def _utc(dt):
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def run_values(pipeline, context):
    """The run's values: `ds` (local date of the interval start in the schedule's zone), `hh`,
    `start`/`end` (UTC, `YYYY-MM-DD HH:MM:SS`) and the other path placeholders."""
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if pipeline["manual"] or start is None or end is None:
        # Manual pipelines process the UTC day of the logical date.
        at = _utc(context.get("logical_date") or start or context.get("run_after"))
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
    start, end = _utc(start), _utc(end)
    local = start.astimezone(ZoneInfo(pipeline["tz"]))
    ds = local.strftime("%Y-%m-%d")
    return {
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "yyyy": ds[0:4],
        "mm": ds[5:7],
        "dd": ds[8:10],
        "hh": local.strftime("%H"),
        "start": start.strftime("%Y-%m-%d %H:%M:%S"),
        "end": end.strftime("%Y-%m-%d %H:%M:%S"),
    }


def secret(ref):
    """The value of an option that is a literal (`{"value": ...}`) or a secret
    (`{"secret": NAME}`: an Airflow Variable NAME, else a Connection NAME)."""
    if ref is None:
        return None
    if "value" in ref:
        return ref["value"]
    name = ref["secret"]
    from airflow.sdk import Connection, Variable

    value = None
    try:
        value = Variable.get(name, default=None)
    except Exception:
        value = None
    if value is None:
        try:
            conn = Connection.get(name)
        except Exception:
            conn = None
        if conn is not None:
            value = conn.password if (conn.password and not conn.host) else conn.get_uri()
    if value is None:
        raise PipecError(
            f"secret {name!r} is not set: add an Airflow Variable or Connection named {name!r}",
            final=True,
        )
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    except Exception:
        pass
    return value


def _warehouse():
    from airflow.sdk import Variable

    value = Variable.get("pipec_warehouse", default=None)
    if not value:
        raise PipecError(
            "the Airflow Variable `pipec_warehouse` is not set (the DuckDB file or PostgreSQL URL)"
        )
    return value


def _run_key(context):
    dag_id = context["dag"].dag_id if context.get("dag") is not None else "dag"
    run_id = str(context.get("run_id"))
    return dag_id, hashlib.sha256(run_id.encode()).hexdigest()[:16]


# ---- HTTP -----------------------------------------------------------------------------------


class _FetchFailed(Exception):
    pass


def _at_path(doc, path):
    cur = doc
    for part in [p for p in path.split(".") if p]:
        if isinstance(cur, dict):
            if part not in cur:
                return _MISSING
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
    return cur


_MISSING = object()


def _rows_of(body, path, origin):
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise _FetchFailed(f"the response is not JSON: {e}")
    found = _at_path(doc, path)
    if isinstance(found, list):
        return found
    if (found is None or found is _MISSING) and path:
        raise _FetchFailed(f"the response has no array at `{path}`")
    if found is _MISSING:
        return []
    return [found]


def _http_rows(op, values):
    url = _sub(op["url"], values)
    bearer = secret(op.get("bearer"))
    api_key = secret(op.get("api_key"))
    state = {"refused": False}

    def fetch_page(page):
        attempt = 0
        while True:
            params = []
            if op["paginate"]:
                n = page * op["page_size"] if op["paginate"] == "offset" else page + 1
                params += [(op["page_param"], str(n)), (op["size_param"], str(op["page_size"]))]
            if api_key is not None:
                params.append((op["api_key_param"], api_key))
            full = url
            if params:
                full += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
            headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(full, headers=headers), timeout=op["timeout"]
                ) as resp:
                    body = resp.read(op["max_bytes"] + 1)
            except Exception as e:  # noqa: BLE001 - any failure is retried, then the fallback
                reason = getattr(e, "reason", e)
                if op["fallback"] and isinstance(reason, ConnectionRefusedError):
                    state["refused"] = True
                    raise _FetchFailed(str(e))
                if attempt < op["retries"]:
                    attempt += 1
                    wait = 0.2 * (1 << attempt)
                    print(
                        f"retry: fetching `{op['relation']}` attempt {attempt} of "
                        f"{op['retries'] + 1} failed: {e}; next attempt in {wait:.1f}s"
                    )
                    time.sleep(wait)
                    continue
                raise _FetchFailed(str(e))
            if len(body) > op["max_bytes"]:
                raise _FetchFailed(
                    f"the response is larger than `max_bytes` ({op['max_bytes']} bytes)"
                )
            return _rows_of(body.decode("utf-8"), op["rows"], url)

    rows = []
    try:
        for page in range(op["max_pages"]):
            batch = fetch_page(page)
            rows.extend(batch)
            if not op["paginate"] or not batch or len(batch) < op["page_size"]:
                break
    except _FetchFailed as e:
        fallback = op["fallback"]
        if not fallback:
            raise PipecError(f"fetching `{op['relation']}` from {url} failed: {e}")
        try:
            with open(fallback, encoding="utf-8") as f:
                body = f.read()
        except OSError as io:
            raise PipecError(
                f"fetching `{op['relation']}` from {url} failed: {e}; "
                f"the fallback {fallback} cannot be read either: {io}"
            )
        how = "the connection was refused; " if state["refused"] else ""
        print(f"note: `{op['relation']}` could not be fetched: {how}using the fallback {fallback}")
        try:
            rows = _rows_of(body, op["rows"], fallback)
        except _FetchFailed as bad:
            raise PipecError(f"the fallback {fallback} of `{op['relation']}`: {bad}")
    return [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows]


def _ndjson_file(lines):
    fd, path = tempfile.mkstemp(prefix="pipec-", suffix=".ndjson")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    return path


# ---- PostgreSQL sources ---------------------------------------------------------------------


def _postgres_rows(op, values, watermark):
    import psycopg2

    dsn = secret(op["dsn"])
    try:
        conn = psycopg2.connect(dsn)
    except Exception as e:
        raise PipecError(f"reading `{op['relation']}` from PostgreSQL failed: {e}")
    try:
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            if watermark is not None and op.get("sql_after"):
                sql = _sub(op["sql_after"], {"_watermark": _quote(watermark)})
            else:
                sql = op["sql"]
            cur.execute(sql)
            return [row[0] for row in cur.fetchall()]
    except Exception as e:
        raise PipecError(f"reading `{op['relation']}` from PostgreSQL failed: {e}")
    finally:
        conn.close()


# ---- engines --------------------------------------------------------------------------------


_ZONE_MACROS = (
    # The wall clock in `zone` at the UTC instant `ts` (naive timestamps; DuckDB's ICU zones).
    "CREATE OR REPLACE TEMP MACRO _pipec_to_timezone(ts, zone) AS "
    "timezone(zone, timezone('UTC', CAST(ts AS TIMESTAMP)))",
    # The UTC instant of the wall clock `ts` in `zone`: a time in a DST gap moved later by the
    # gap (ICU does that), a repeated time at the earlier offset (as `pipec run` and Spark).
    "CREATE OR REPLACE TEMP MACRO _pipec_from_timezone(ts, zone) AS "
    "CASE WHEN _pipec_to_timezone(timezone('UTC', timezone(zone, CAST(ts AS TIMESTAMP))) "
    "- INTERVAL 1 HOUR, zone) = CAST(ts AS TIMESTAMP) "
    "THEN timezone('UTC', timezone(zone, CAST(ts AS TIMESTAMP))) - INTERVAL 1 HOUR "
    "ELSE timezone('UTC', timezone(zone, CAST(ts AS TIMESTAMP))) END",
)


def _zone_functions(con):
    """`_pipec_to_timezone` and `_pipec_from_timezone`, which `pipec run` registers in Rust."""
    for sql in _ZONE_MACROS:
        con.execute(sql)


class _Duck:
    """A DuckDB connection with the run's stage (and the warehouse, when the task needs it)."""

    def __init__(self, stage, warehouse=None):
        import duckdb

        self.con = duckdb.connect()
        # As `pipec run` (whose DuckDB has no zone database): nothing depends on the host's zone.
        self.con.execute("SET TimeZone = 'UTC'")
        _zone_functions(self.con)
        self._attach(stage, "_pipec_stage")
        if warehouse is not None:
            self._attach(warehouse, "wh")

    def _attach(self, path, alias):
        # A DuckDB file has one writing process: wait while another task holds it.
        deadline = time.monotonic() + 600
        while True:
            try:
                self.con.execute(f"ATTACH {_quote(path)} AS {alias}")
                return
            except Exception as e:
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def execute(self, sql):
        self.con.execute(sql)

    def one(self, sql):
        return self.con.execute(sql).fetchone()

    def begin(self):
        self.con.execute("BEGIN TRANSACTION")

    def commit(self):
        self.con.execute("COMMIT")

    def rollback(self):
        try:
            self.con.execute("ROLLBACK")
        except Exception:
            pass

    def watermark(self, pipeline, key):
        found = self.one(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh' "
            f"AND schema_name = '_pipec' AND table_name = '{_STATE_TABLE}'"
        )
        if not found[0]:
            return None
        row = self.con.execute(
            f"SELECT value FROM wh._pipec.{_STATE_TABLE} WHERE pipeline = ? AND key = ?",
            [pipeline, key],
        ).fetchone()
        return row[0] if row else None

    def set_watermark(self, pipeline, key, value):
        self.con.execute("CREATE SCHEMA IF NOT EXISTS wh._pipec")
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS wh._pipec.{_STATE_TABLE} "
            "(pipeline VARCHAR, key VARCHAR, value VARCHAR, PRIMARY KEY (pipeline, key))"
        )
        self.con.execute(
            f"INSERT OR REPLACE INTO wh._pipec.{_STATE_TABLE} VALUES (?, ?, ?)",
            [pipeline, key, value],
        )

    def close(self):
        self.con.close()


class _Pg:
    """A psycopg2 connection to the PostgreSQL warehouse, in the run's stage schema."""

    def __init__(self, url, stage_schema):
        import psycopg2

        self.con = psycopg2.connect(url)
        with self.con.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{stage_schema}"')
        self.con.commit()

    def execute(self, sql):
        with self.con.cursor() as cur:
            cur.execute(sql)

    def one(self, sql):
        with self.con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()

    def begin(self):
        self.con.commit()

    def commit(self):
        self.con.commit()

    def rollback(self):
        self.con.rollback()

    def watermark(self, pipeline, key):
        row = self.one(f"SELECT to_regclass('_pipec.{_STATE_TABLE}') IS NOT NULL")
        if not row[0]:
            return None
        with self.con.cursor() as cur:
            cur.execute(
                f"SELECT value FROM _pipec.{_STATE_TABLE} WHERE pipeline = %s AND key = %s",
                (pipeline, key),
            )
            row = cur.fetchone()
        return row[0] if row else None

    def set_watermark(self, pipeline, key, value):
        with self.con.cursor() as cur:
            cur.execute("CREATE SCHEMA IF NOT EXISTS _pipec")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS _pipec.{_STATE_TABLE} "
                "(pipeline TEXT, key TEXT, value TEXT, PRIMARY KEY (pipeline, key))"
            )
            cur.execute(
                f"INSERT INTO _pipec.{_STATE_TABLE} VALUES (%s, %s, %s) "
                "ON CONFLICT (pipeline, key) DO UPDATE SET value = EXCLUDED.value",
                (pipeline, key, value),
            )

    def export_csv(self, select):
        fd, path = tempfile.mkstemp(prefix="pipec-", suffix=".csv")
        with os.fdopen(fd, "w", encoding="utf-8") as f, self.con.cursor() as cur:
            cur.copy_expert(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", f)
        return path

    def copy_in(self, create, table, csv_path):
        with self.con.cursor() as cur:
            cur.execute(create)
            with open(csv_path, encoding="utf-8") as f:
                cur.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv)", f)

    def close(self):
        self.con.close()


def _assert(db, op, values):
    sql = _sub(op["sql"], values)
    row = db.one(f"SELECT n, ({op['fail']}) AS failed FROM ({sql}) AS q")
    if row is None or not row[1]:
        return
    detail = ""
    if op.get("detail"):
        try:
            found = db.one(_sub(op["detail"], values))
            if found and found[0]:
                detail = f": {found[0]}"
        except Exception:
            detail = ""
    raise PipecError(f"{op['message']} (n = {row[0]}){detail}", final=True)


def _require_file(op, values):
    path = _sub(op["path"], values)
    if "://" in path:
        return
    if op["glob"]:
        files = sorted(glob.glob(path))
        if not files:
            raise PipecError(f"no input file for `{op['relation']}`: nothing matches {path}")
    else:
        if not os.path.exists(path):
            raise PipecError(
                f"no input file for `{op['relation']}` on {values['ds']}: {path} does not exist"
            )
        files = [path]
    if not op["allow_empty"]:
        for f in files:
            if os.path.isfile(f) and os.path.getsize(f) == 0:
                raise PipecError(
                    f"{f} is empty (0 bytes): `{op['relation']}` would have no rows "
                    "(add `allow_empty = true` if no rows is a valid day)"
                )


def run_task(pipeline, task_id, context):
    """Executes task `task_id` of `pipeline` for the run of `context`."""
    task = pipeline["tasks"][task_id]
    values = run_values(pipeline, context)
    dag_id, key = _run_key(context)
    warehouse = _warehouse()
    duck = None
    db = None
    temps = []
    pending = []
    in_tx = False
    profile = pipeline["profile"]
    if profile == "duckdb":
        stage_dir = warehouse + ".pipec-stage"
        os.makedirs(stage_dir, exist_ok=True)
        stage = os.path.join(stage_dir, f"{dag_id}-{key}.duckdb")
        db = duck = _Duck(stage, warehouse if task["warehouse"] else None)
    else:
        stage = f"_pipec_stage_{key}"
        values["stage"] = stage
        db = _Pg(warehouse, stage)
    print(f"pipec: {pipeline['name']}.{task_id} for ds={values['ds']} [{values['start']}, {values['end']})")
    try:
        for op in task["ops"]:
            kind = op["op"]
            on = db
            if op.get("engine") == "duckdb":
                if duck is None:
                    duck = _Duck(":memory:")
                on = duck
            if kind == "sql":
                on.execute(_sub(op["sql"], values))
            elif kind == "assert":
                _assert(on, op, values)
            elif kind == "require_file":
                _require_file(op, values)
            elif kind == "http":
                path = _ndjson_file(_http_rows(op, values))
                temps.append(path)
                values["_fetched"] = path.replace("'", "''")
            elif kind == "postgres":
                mark = db.watermark(pipeline["name"], op["state_key"]) if op.get("sql_after") else None
                path = _ndjson_file(_postgres_rows(op, values, mark))
                temps.append(path)
                values["_fetched"] = path.replace("'", "''")
            elif kind == "copy_to_warehouse":
                fd, path = tempfile.mkstemp(prefix="pipec-", suffix=".csv")
                os.close(fd)
                temps.append(path)
                duck.execute(f"COPY (SELECT * FROM {op['from']}) TO {_quote(path)} (FORMAT csv, HEADER false)")
                db.copy_in(_sub(op["create"], values), _sub(op["to"], values), path)
            elif kind == "file_sink":
                dest = _sub(op["path"], values)
                if os.path.isdir(dest):
                    raise PipecError(f"cannot write file sink {dest}: it is a folder; nothing was published")
                os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
                tmp = f"{dest}.pipec-tmp-{os.getpid()}-{len(pending)}"
                pending.append((tmp, dest))
                if op.get("export"):
                    # PostgreSQL profile: the staged rows as CSV, written by DuckDB.
                    path = db.export_csv(_sub(op["select"], values))
                    temps.append(path)
                    if duck is None:
                        duck = _Duck(":memory:")
                    duck.execute(
                        f"COPY (SELECT * FROM read_csv({_quote(path)}, {op['export']})) "
                        f"TO {_quote(tmp)} ({op['format']})"
                    )
                else:
                    db.execute(f"COPY ({_sub(op['select'], values)}) TO {_quote(tmp)} ({op['format']})")
            elif kind == "begin":
                db.begin()
                in_tx = True
            elif kind == "watermark":
                row = db.one(_sub(op["sql"], values))
                if row is not None and row[0] is not None:
                    db.set_watermark(pipeline["name"], op["key"], row[0])
            elif kind == "commit":
                db.commit()
                in_tx = False
                for tmp, dest in pending:
                    os.replace(tmp, dest)
                pending = []
            else:
                raise PipecError(f"unknown operation {kind!r}")
        if profile == "postgres":
            db.commit()
    except Exception as e:
        if in_tx or profile == "postgres":
            db.rollback()
        for tmp, _ in pending:
            try:
                os.remove(tmp)
            except OSError:
                pass
        if (isinstance(e, PipecError) and e.final) or "pipec: " in str(e):
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(e)) from e
        raise
    finally:
        if duck is not None and duck is not db:
            duck.close()
        for path in temps:
            try:
                os.remove(path)
            except OSError:
                pass
    if task["kind"] == "publish":
        # The run is published: its stage is no longer needed.
        if profile == "duckdb":
            db.execute("DETACH _pipec_stage")
            db.close()
            for suffix in ("", ".wal"):
                try:
                    os.remove(stage + suffix)
                except OSError:
                    pass
        else:
            db.execute(f'DROP SCHEMA IF EXISTS "{stage}" CASCADE')
            db.commit()
            db.close()
    else:
        db.close()


class PipecTask(BaseOperator):
    """One node of a pipec pipeline (a source, transform, check or the publish). No template
    fields: the pipeline's text is never rendered by Jinja."""

    template_fields = ()
    template_ext = ()
    ui_color = "#e8f4fd"

    def __init__(self, *, pipeline, **kwargs):
        super().__init__(**kwargs)
        self.pipeline = pipeline

    def execute(self, context):
        run_task(self.pipeline, self.task_id, context)


class FileArrived(BaseSensorOperator):
    """`schedule on file`: waits until the interval's file (or a glob match) exists."""

    template_fields = ()
    template_ext = ()

    def __init__(self, *, pipeline, path, **kwargs):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.path = path

    def poke(self, context):
        path = _sub(self.path, run_values(self.pipeline, context))
        return bool(glob.glob(path)) if any(c in path for c in "*?[") else os.path.exists(path)


def on_failure(pipeline):
    """The failure callback: posts to each Slack webhook of the pipeline; the URL is read at
    failure time from the Airflow Variable or Connection named after the secret."""

    def callback(context):
        ti = context.get("task_instance") or context.get("ti")
        try:
            ds = run_values(pipeline, context)["ds"]
        except Exception:
            ds = "?"
        task = getattr(ti, "task_id", "?")
        error = context.get("exception")
        text = f":red_circle: pipec: pipeline `{pipeline['name']}` failed for {ds} in task `{task}`: {error}"
        for alert in pipeline["alerts"]:
            try:
                url = secret(alert["url"])
                body = json.dumps({"text": text, "pipeline": pipeline["name"], "ds": ds}).encode()
                req = urllib.request.Request(
                    url, data=body, headers={"Content-Type": "application/json"}, method="POST"
                )
                urllib.request.urlopen(req, timeout=10).close()
                print(f"pipec: slack alert sent for {pipeline['name']}")
            except Exception as e:  # an alert never fails the callback
                print(f"pipec: slack alert not sent: {type(e).__name__}")

    return callback
