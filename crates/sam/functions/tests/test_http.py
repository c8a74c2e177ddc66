"""The http source function against a local HTTP server, with moto's in-process S3 and Secrets
Manager: pages, offsets, a shorter last page, retries, max_bytes, secrets, the fallback."""

import json
import os
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import support

support.aws_env()
app = support.load("http")

ITEMS = [{"id": i, "name": f"item {i}", "price": i * 1.5} for i in range(1, 6)]
RUN = {"ds": "2024-01-01", "ds_nodash": "20240101", "yyyy": "2024", "mm": "01", "dd": "01", "hh": "00", "start": "2024-01-01 00:00:00", "end": "2024-01-02 00:00:00"}


class Api(BaseHTTPRequestHandler):
    """The stand-in API; each request is recorded on the server."""

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        server = self.server
        server.requests.append({"path": url.path, "query": q, "auth": self.headers.get("Authorization")})
        if url.path.startswith("/pages/"):
            page, limit = int(q["p"]), int(q["per_page"])
            return self.reply(200, {"data": {"items": server.items[(page - 1) * limit : page * limit]}})
        if url.path == "/offsets":
            off, limit = int(q["offset"]), int(q["limit"])
            return self.reply(200, {"data": {"items": server.items[off : off + limit]}})
        if url.path == "/flaky":
            server.failures_left -= 1
            if server.failures_left >= 0:
                return self.reply(503, {"error": "busy"})
            return self.reply(200, server.items)
        if url.path == "/big":
            return self.reply(200, [{"blob": "x" * 5000}])
        if url.path == "/down":
            return self.reply(500, {"error": "down"})
        if url.path == "/drip":
            # Headers at once, then the body slowly: 8 pieces, 0.25 s apart.
            pieces = [b"["] + [b'"%08d"' % i + (b"," if i < 7 else b"]") for i in range(8)]
            self.send_response(200)
            self.send_header("Content-Length", str(sum(map(len, pieces))))
            self.end_headers()
            try:
                for piece in pieces:
                    self.wfile.write(piece)
                    self.wfile.flush()
                    time.sleep(0.25)
            except OSError:
                pass
            return None
        if url.path == "/one":
            return self.reply(200, {"id": 7})
        if url.path == "/noarray":
            return self.reply(200, {"data": {}})
        return self.reply(404, {"error": "no such path"})


class HttpSource(support.TestCase):
    @classmethod
    def setUpClass(cls):
        support.require_module(cls(), "moto", "moto stands in for S3 and Secrets Manager")
        from moto import mock_aws

        cls.server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.mock = mock_aws()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        import boto3

        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.server.requests = []
        self.server.items = list(ITEMS)
        self.server.failures_left = 0
        self.s3 = boto3.client("s3", region_name="ap-northeast-2")
        self.s3.create_bucket(Bucket="raw", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
        self.sm = boto3.client("secretsmanager", region_name="ap-northeast-2")
        self.sm.create_secret(Name="pipec/API_TOKEN", SecretString="tok-s3cr3t-value")
        self.sm.create_secret(Name="pipec/API_KEY", SecretString="key-s3cr3t/value")
        self.logs = []

    def cfg(self, **kw):
        cfg = {"source": "items", "url": self.base + "/flaky", "key": "p/items/pipec_ds={ds}/pipec_hh={hh}/items.ndjson", "rows": "", "paginate": None, "page_param": "page", "size_param": "limit", "page_size": 100, "max_pages": 1000, "timeout_seconds": 5, "retries": 2, "max_bytes": 50_000_000, "bearer": None, "api_key": None, "api_key_param": "api_key", "fallback_key": None}
        cfg.update(kw)
        return cfg

    def fetch(self, cfg):
        return app.fetch_to_raw(cfg, RUN, "raw", self.s3, self.sm, log=self.logs.append)

    def written(self, key):
        body = self.s3.get_object(Bucket="raw", Key=key)["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines()]

    def test_pages_until_a_shorter_page(self):
        cfg = self.cfg(url=self.base + "/pages/{ds}", rows="data.items", paginate="page", page_param="p", size_param="per_page", page_size=2)
        out = self.fetch(cfg)
        self.assertEqual(out, {"bucket": "raw", "key": "p/items/pipec_ds=2024-01-01/pipec_hh=00/items.ndjson", "rows": 5, "fallback": False})
        self.assertEqual(self.written(out["key"]), ITEMS)
        self.assertEqual([r["query"]["p"] for r in self.server.requests], ["1", "2", "3"])
        self.assertTrue(all(r["path"] == "/pages/2024-01-01" for r in self.server.requests))

    def test_a_full_last_page_is_followed_by_an_empty_one_and_max_pages_stops(self):
        self.server.items = ITEMS[:4]
        cfg = self.cfg(url=self.base + "/pages/x", rows="data.items", paginate="page", page_param="p", size_param="per_page", page_size=2)
        self.assertEqual(self.fetch(cfg)["rows"], 4)
        self.assertEqual(len(self.server.requests), 3)
        self.server.requests = []
        self.server.items = list(ITEMS)
        self.assertEqual(self.fetch(dict(cfg, max_pages=2))["rows"], 4)
        self.assertEqual(len(self.server.requests), 2)

    def test_offsets(self):
        cfg = self.cfg(url=self.base + "/offsets", rows="data.items", paginate="offset", page_param="offset", page_size=2)
        out = self.fetch(cfg)
        self.assertEqual(self.written(out["key"]), ITEMS)
        self.assertEqual([r["query"]["offset"] for r in self.server.requests], ["0", "2", "4"])

    def test_a_failing_request_is_retried(self):
        self.server.failures_left = 2
        out = self.fetch(self.cfg(retries=2))
        self.assertEqual(out["rows"], 5)
        self.assertEqual(len(self.server.requests), 3)
        self.assertEqual(sum("retry:" in line for line in self.logs), 2)
        self.server.requests, self.server.failures_left = [], 2
        with self.assertRaises(app.FetchError) as e:
            self.fetch(self.cfg(retries=1))
        self.assertIn("503", str(e.exception))
        self.assertEqual(len(self.server.requests), 2)

    def test_a_response_over_max_bytes_fails_without_retry(self):
        with self.assertRaises(app.FetchError) as e:
            self.fetch(self.cfg(url=self.base + "/big", max_bytes=1000, retries=3))
        self.assertIn("max_bytes", str(e.exception))
        self.assertEqual(len(self.server.requests), 1)
        self.assertEqual(self.fetch(self.cfg(url=self.base + "/big", max_bytes=6000))["rows"], 1)

    def test_the_timeout_covers_the_whole_response_and_is_retried(self):
        with self.assertRaises(app.FetchError) as e:
            self.fetch(self.cfg(url=self.base + "/drip", timeout_seconds=1, retries=1))
        self.assertIn("timed out", str(e.exception))
        self.assertEqual(len(self.server.requests), 2)
        self.assertEqual(sum("retry:" in line for line in self.logs), 1)
        self.assertEqual(self.fetch(self.cfg(url=self.base + "/drip", timeout_seconds=5))["rows"], 8)

    def test_rows_paths(self):
        self.assertEqual(self.fetch(self.cfg(url=self.base + "/one"))["rows"], 1)
        with self.assertRaises(app.FetchError) as e:
            self.fetch(self.cfg(url=self.base + "/noarray", rows="data.items"))
        self.assertIn("no array at `data.items`", str(e.exception))

    def test_secrets_are_sent_and_never_logged(self):
        self.server.failures_left = 1
        cfg = self.cfg(bearer={"kind": "secret", "value": "pipec/API_TOKEN"}, api_key={"kind": "secret", "value": "pipec/API_KEY"}, api_key_param="key")
        self.fetch(cfg)
        last = self.server.requests[-1]
        self.assertEqual(last["auth"], "Bearer tok-s3cr3t-value")
        self.assertEqual(last["query"]["key"], "key-s3cr3t/value")
        self.assertTrue(self.logs)
        self.assertFalse(any("s3cr3t" in line for line in self.logs), self.logs)
        # A failure's message names no secret either.
        self.server.failures_left = 10
        with self.assertRaises(app.FetchError) as e:
            self.fetch(dict(cfg, retries=0))
        self.assertNotIn("s3cr3t", str(e.exception))

    def test_the_fallback_in_the_raw_bucket_is_read_when_the_api_fails(self):
        self.s3.put_object(Bucket="raw", Key="p/items/_fallback/items.json", Body=json.dumps({"data": {"items": ITEMS[:2]}}).encode())
        cfg = self.cfg(url=self.base + "/down", rows="data.items", retries=1, fallback_key="p/items/_fallback/items.json")
        out = self.fetch(cfg)
        self.assertEqual((out["rows"], out["fallback"]), (2, True))
        self.assertEqual(self.written(out["key"]), ITEMS[:2])
        self.assertEqual(len(self.server.requests), 2)
        self.assertTrue(any("using the fallback" in line for line in self.logs))
        # A missing fallback object is reported with the fetch error.
        with self.assertRaises(app.FetchError) as e:
            self.fetch(dict(cfg, fallback_key="p/items/_fallback/missing.json"))
        self.assertIn("cannot be read either", str(e.exception))

    def test_a_refused_connection_goes_to_the_fallback_without_retrying(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.s3.put_object(Bucket="raw", Key="fb.json", Body=json.dumps(ITEMS).encode())
        began = time.monotonic()
        out = self.fetch(self.cfg(url=f"http://127.0.0.1:{port}/x", retries=5, fallback_key="fb.json"))
        self.assertLess(time.monotonic() - began, 2.0)
        self.assertEqual((out["rows"], out["fallback"]), (5, True))
        self.assertFalse(any("retry:" in line for line in self.logs))

    def test_the_handler_reads_its_environment(self):
        os.environ["PIPEC_CONFIG"] = json.dumps(self.cfg(url=self.base + "/one"))
        os.environ["RAW_BUCKET"] = "raw"
        try:
            out = app.handler({"run": RUN}, None)
        finally:
            del os.environ["PIPEC_CONFIG"], os.environ["RAW_BUCKET"]
        self.assertEqual(self.written(out["key"]), [{"id": 7}])
