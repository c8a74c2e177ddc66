"""The postgres source function against the local PostgreSQL of the tests (`bash
scripts/postgres.sh`), with moto's in-process S3 and Secrets Manager: a table and a query, the
watermark (only rows past it are read again; a retry of the same interval re-reads its rows),
UTC timestamps, and errors that never show the connection string."""

import contextlib
import io
import json
import os
import urllib.parse

import support

support.aws_env()
app = support.load("postgres")

SCHEMA = "pipec_lambda_test"


def run_of(ds):
    return {"ds": ds, "ds_nodash": ds.replace("-", ""), "yyyy": ds[:4], "mm": ds[5:7], "dd": ds[8:], "hh": "00", "start": f"{ds} 00:00:00", "end": f"{ds} 23:59:59"}


class PostgresSource(support.TestCase):
    @classmethod
    def setUpClass(cls):
        probe = cls()
        support.require_module(probe, "moto", "moto stands in for S3 and Secrets Manager")
        support.require_module(probe, "pg8000", "the function's PostgreSQL driver (requirements.txt)")
        cls.url = support.postgres_url(probe)
        from moto import mock_aws

        cls.mock = mock_aws()

    def setUp(self):
        import boto3

        self.db = app.connect(self.url)
        self.addCleanup(self.db.close)
        self.db.run(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        self.db.run(f"CREATE SCHEMA {SCHEMA}")
        self.db.run(
            f"CREATE TABLE {SCHEMA}.answers (answer_id bigint, score int, comment text, amount numeric(10,2), "
            "ok boolean, day date, answered_at timestamp, seen_at timestamptz, extra text)"
        )
        self.insert(
            (1, 9, "great", "1.50", True, "2024-01-01", "2024-01-01 10:00:00", "2024-01-01 19:00:00+09:00"),
            (2, 3, None, "2.00", False, "2024-01-01", "2024-01-01 12:00:00", "2024-01-01 12:00:00+00:00"),
            (3, 7, "it's \"quoted\"", None, None, None, "2024-01-01 11:00:00", None),
        )
        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.s3 = boto3.client("s3", region_name="ap-northeast-2")
        self.s3.create_bucket(Bucket="raw", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
        self.sm = boto3.client("secretsmanager", region_name="ap-northeast-2")
        self.sm.create_secret(Name="pipec/SURVEY_DB", SecretString=self.url)
        self.logs = []

    def insert(self, *rows):
        for r in rows:
            self.db.run(
                f"INSERT INTO {SCHEMA}.answers VALUES (:a, :s, :c, CAST(:m AS numeric), :o, CAST(:d AS date), "
                "CAST(:t AS timestamp), CAST(:z AS timestamptz), 'not in the schema')",
                a=r[0], s=r[1], c=r[2], m=r[3], o=r[4], d=r[5], t=r[6], z=r[7],
            )

    def cfg(self, **kw):
        cfg = {
            "pipeline": "nps",
            "source": "answers",
            "dsn": {"kind": "secret", "value": "pipec/SURVEY_DB"},
            "read": {"kind": "table", "value": f"{SCHEMA}.answers"},
            "incremental": "answered_at",
            "columns": ["answer_id", "score", "comment", "amount", "ok", "day", "answered_at", "seen_at"],
            "key": "nps/answers/pipec_ds={ds}/pipec_hh={hh}/answers.ndjson",
            "watermark_key": None,
        }
        cfg.update(kw)
        return cfg

    def copy(self, cfg, ds):
        return app.copy_to_raw(cfg, run_of(ds), "raw", self.s3, self.sm, log=self.logs.append)

    def written(self, out):
        body = self.s3.get_object(Bucket="raw", Key=out["key"])["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines()]

    def state(self):
        return json.loads(self.s3.get_object(Bucket="raw", Key="_pipec/watermarks/nps/answers.json")["Body"].read())

    def test_rows_are_copied_as_json_in_utc(self):
        out = self.copy(self.cfg(), "2024-01-01")
        self.assertEqual(out["key"], "nps/answers/pipec_ds=2024-01-01/pipec_hh=00/answers.ndjson")
        rows = self.written(out)
        self.assertEqual([r["answer_id"] for r in rows], [1, 3, 2])
        self.assertEqual(rows[0], {"answer_id": 1, "score": 9, "comment": "great", "amount": 1.50, "ok": True, "day": "2024-01-01", "answered_at": "2024-01-01T10:00:00", "seen_at": "2024-01-01T10:00:00+00:00"})
        self.assertEqual(rows[1]["comment"], "it's \"quoted\"")
        self.assertIsNone(rows[2]["comment"])
        self.assertNotIn("extra", rows[0])

    def test_only_rows_past_the_watermark_are_read_again(self):
        first = self.copy(self.cfg(), "2024-01-01")
        self.assertEqual(first["rows"], 3)
        self.assertEqual(self.state(), {"value": "2024-01-01 12:00:00", "previous": None, "interval_start": "2024-01-01 00:00:00"})
        # One row older than the watermark (never read: it is behind it), one newer.
        self.insert(
            (4, 5, "late", "4.00", True, "2024-01-02", "2024-01-01 11:30:00", None),
            (5, 6, "new", "5.00", True, "2024-01-02", "2024-01-02 09:00:00", None),
        )
        second = self.copy(self.cfg(), "2024-01-02")
        self.assertEqual([r["answer_id"] for r in self.written(second)], [5])
        self.assertEqual(self.state()["value"], "2024-01-02 09:00:00")
        # The first interval's object is untouched.
        self.assertEqual([r["answer_id"] for r in self.written(first)], [1, 3, 2])
        # A retry of the same interval (a later state failed) writes its rows again, plus new ones.
        self.insert((6, 8, "newer", "6.00", True, "2024-01-02", "2024-01-02 10:00:00", None))
        retry = self.copy(self.cfg(), "2024-01-02")
        self.assertEqual([r["answer_id"] for r in self.written(retry)], [5, 6])
        self.assertEqual(self.state(), {"value": "2024-01-02 10:00:00", "previous": "2024-01-01 12:00:00", "interval_start": "2024-01-02 00:00:00"})
        # The next interval with nothing new writes an empty object and keeps the watermark.
        third = self.copy(self.cfg(), "2024-01-03")
        self.assertEqual((third["rows"], self.written(third)), (0, []))
        self.assertEqual(self.state()["value"], "2024-01-02 10:00:00")

    def test_a_query_without_watermark(self):
        cfg = self.cfg(read={"kind": "query", "value": f"select answer_id, score from {SCHEMA}.answers where score > 5"}, incremental=None, columns=["answer_id", "score"])
        out = self.copy(cfg, "2024-01-01")
        self.assertEqual(sorted(r["answer_id"] for r in self.written(out)), [1, 3])
        self.assertEqual(self.s3.list_objects_v2(Bucket="raw", Prefix="_pipec/")["KeyCount"], 0)

    def test_errors_never_show_the_connection_string(self):
        u = urllib.parse.urlsplit(self.url)
        bad = f"postgres://{u.username}:pw-s3cr3t@{u.hostname}:{u.port}/no_such_db_s3cr3t?sslmode=disable"
        self.sm.create_secret(Name="pipec/BAD_DB", SecretString=bad)
        with self.assertRaises(app.SourceError) as e:
            self.copy(self.cfg(dsn={"kind": "secret", "value": "pipec/BAD_DB"}), "2024-01-01")
        self.assertIn("PostgreSQL failed", str(e.exception))
        self.assertNotIn("pw-s3cr3t", str(e.exception))
        with self.assertRaises(app.SourceError) as e:
            self.copy(self.cfg(columns=["answer_id", "no_such_column"]), "2024-01-01")
        self.assertIn("no_such_column", str(e.exception))
        self.assertFalse(any(self.url in line for line in self.logs))

    def test_the_handler_reads_its_environment(self):
        os.environ["PIPEC_CONFIG"] = json.dumps(self.cfg(incremental=None))
        os.environ["RAW_BUCKET"] = "raw"
        try:
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                out = app.handler({"run": run_of("2024-01-05")}, None)
        finally:
            del os.environ["PIPEC_CONFIG"], os.environ["RAW_BUCKET"]
        self.assertEqual(out["rows"], 3)
        self.assertIn("pipec_ds=2024-01-05", out["key"])
        self.assertIn("3 rows", printed.getvalue())
        self.assertNotIn(self.url, printed.getvalue())
