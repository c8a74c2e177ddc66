"""The Slack alert function: an SNS event is posted to a local HTTP server standing in for
Slack, the webhook URL read from moto's Secrets Manager; the URL appears in no log or error."""

import contextlib
import io
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import support

support.aws_env()
app = support.load("slack")


class Slack(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
        status = 500 if self.path.endswith("/broken") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def sns_event(message):
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": message, "Subject": None}}]}


class SlackAlerts(support.TestCase):
    @classmethod
    def setUpClass(cls):
        support.require_module(cls(), "moto", "moto stands in for Secrets Manager")
        from moto import mock_aws

        cls.server = ThreadingHTTPServer(("127.0.0.1", 0), Slack)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.hook = f"http://127.0.0.1:{cls.server.server_address[1]}/services/T000/B000/hook-s3cr3t"
        cls.mock = mock_aws()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        import boto3

        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.server.posts = []
        self.sm = boto3.client("secretsmanager", region_name="ap-northeast-2")
        self.sm.create_secret(Name="pipec/SLACK_WEBHOOK", SecretString=self.hook)
        self.sm.create_secret(Name="pipec/BROKEN", SecretString=self.hook.replace("hook-s3cr3t", "broken"))
        self.cfg = {"pipeline": "nps_daily", "webhook": {"kind": "secret", "value": "pipec/SLACK_WEBHOOK"}}

    def test_the_state_machines_alert_is_posted(self):
        message = json.dumps({
            "pipeline": "nps_daily",
            "execution": "arn:aws:states:ap-northeast-2:123456789012:execution:NpsDaily:abc",
            "input": {"ds": "2024-01-01"},
            "error": "pipec.CheckFailed",
            "cause": "check on `answers` failed: unique answer_id",
        })
        logs = []
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            sent = app.deliver(sns_event(message), self.cfg, self.sm, log=logs.append)
        self.assertEqual(sent, 1)
        [post] = self.server.posts
        self.assertEqual(post["path"], "/services/T000/B000/hook-s3cr3t")
        self.assertEqual(post["type"], "application/json")
        self.assertEqual(post["body"]["text"], ":red_circle: pipec: pipeline `nps_daily` failed for 2024-01-01: [pipec.CheckFailed] check on `answers` failed: unique answer_id")
        self.assertEqual((post["body"]["pipeline"], post["body"]["ds"], post["body"]["code"]), ("nps_daily", "2024-01-01", "pipec.CheckFailed"))
        self.assertTrue(logs)
        self.assertFalse(any("s3cr3t" in line for line in logs + [out.getvalue()]))

    def test_the_runs_ds_wins_over_the_execution_input(self):
        # The state machine's alert carries `ds` (its `$.run.ds`) once the interval is known; an
        # execution started with `{"start": ...}` (the manifest's run) still names the ds.
        message = json.dumps({"pipeline": "nps_daily", "ds": "2024-01-02", "input": json.dumps({"start": "2024-01-01 15:00:00"}),
                              "error": "States.TaskFailed", "cause": "boom"})
        app.deliver(sns_event(message), self.cfg, self.sm, log=lambda _: None)
        [post] = self.server.posts
        self.assertEqual(post["body"]["text"], ":red_circle: pipec: pipeline `nps_daily` failed for 2024-01-02: [States.TaskFailed] boom")
        self.assertEqual(post["body"]["ds"], "2024-01-02")

    def test_a_lambda_cause_and_a_plain_message(self):
        cause = json.dumps({"errorMessage": "fetching https://api.example.com failed: HTTP 503", "errorType": "FetchError"})
        app.deliver(sns_event(json.dumps({"Error": "FetchError", "Cause": cause, "input": json.dumps({"scheduled_time": "2024-01-02T03:00:00Z"})})), self.cfg, self.sm, log=lambda _: None)
        app.deliver(sns_event("disk full"), self.cfg, self.sm, log=lambda _: None)
        first, second = (p["body"]["text"] for p in self.server.posts)
        self.assertEqual(first, ":red_circle: pipec: pipeline `nps_daily` failed for 2024-01-02T03:00:00Z: [FetchError] fetching https://api.example.com failed: HTTP 503")
        self.assertEqual(second, ":red_circle: pipec: pipeline `nps_daily`: disk full")

    def test_a_failed_post_names_no_url(self):
        cfg = dict(self.cfg, webhook={"kind": "secret", "value": "pipec/BROKEN"})
        with self.assertRaises(app.AlertError) as e:
            app.deliver(sns_event("x"), cfg, self.sm, log=lambda _: None)
        self.assertEqual(str(e.exception), "the Slack webhook answered HTTP 500")
        self.sm.put_secret_value(SecretId="pipec/BROKEN", SecretString="http://127.0.0.1:1/hook-s3cr3t")
        with self.assertRaises(app.AlertError) as e:
            app.deliver(sns_event("x"), cfg, self.sm, log=lambda _: None)
        self.assertIn("could not be reached", str(e.exception))
        self.assertNotIn("s3cr3t", str(e.exception))

    def test_the_handler_reads_its_environment(self):
        os.environ["PIPEC_CONFIG"] = json.dumps(self.cfg)
        try:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                self.assertEqual(app.handler(sns_event("boom"), None), {"sent": 1})
        finally:
            del os.environ["PIPEC_CONFIG"]
        self.assertNotIn("s3cr3t", out.getvalue())
        self.assertEqual(len(self.server.posts), 1)
