"""The interval function against pipec itself: every interval `pipec run` records for a set of
schedules (time zones with and without daylight saving, DST days, daily, hourly, every, cron)
must be what the function computes from a backfill date, a start, and the firing time."""

import json
import os
import subprocess
import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import support

app = support.load("interval")
UTC = timezone.utc

# name: (schedule text, schedule as pipec's IR serializes it, interval rule, dates to run)
SPRING = ("2024-03-30", "2024-04-01")  # Europe/Berlin loses an hour on 2024-03-31
FALL = ("2024-10-26", "2024-10-28")  # and gains one on 2024-10-27
NEW_YEAR = ("2023-12-31", "2024-01-02")
CASES = {
    "daily_seoul": ('daily at 03:00 "Asia/Seoul"', {"kind": "daily", "hour": 3, "minute": 0, "tz": "Asia/Seoul"}, {"kind": "slots", "minutes": 1440, "tz": "Asia/Seoul"}, [NEW_YEAR]),
    "daily_berlin": ('daily at 01:30 "Europe/Berlin"', {"kind": "daily", "hour": 1, "minute": 30, "tz": "Europe/Berlin"}, {"kind": "slots", "minutes": 1440, "tz": "Europe/Berlin"}, [SPRING, FALL]),
    "daily_utc": ("daily", {"kind": "daily", "hour": 0, "minute": 0, "tz": "UTC"}, {"kind": "slots", "minutes": 1440, "tz": "UTC"}, [NEW_YEAR]),
    "daily_santiago": ('daily at 06:00 "America/Santiago"', {"kind": "daily", "hour": 6, "minute": 0, "tz": "America/Santiago"}, {"kind": "slots", "minutes": 1440, "tz": "America/Santiago"}, [("2024-09-07", "2024-09-09")]),
    "hourly_berlin": ('hourly at :15 "Europe/Berlin"', {"kind": "hourly", "minute": 15, "tz": "Europe/Berlin"}, {"kind": "slots", "minutes": 60, "tz": "Europe/Berlin"}, [SPRING, FALL]),
    "hourly_seoul": ('hourly "Asia/Seoul"', {"kind": "hourly", "minute": 0, "tz": "Asia/Seoul"}, {"kind": "slots", "minutes": 60, "tz": "Asia/Seoul"}, [NEW_YEAR]),
    "every15_berlin": ('every 15m "Europe/Berlin"', {"kind": "every", "minutes": 15, "tz": "Europe/Berlin"}, {"kind": "slots", "minutes": 15, "tz": "Europe/Berlin"}, [("2024-10-27", "2024-10-27"), ("2024-03-31", "2024-03-31")]),
    "every90_new_york": ('every 90m "America/New_York"', {"kind": "every", "minutes": 90, "tz": "America/New_York"}, {"kind": "slots", "minutes": 90, "tz": "America/New_York"}, [("2024-03-09", "2024-03-11")]),
    "cron_seoul": ('cron "0 3 * * *" "Asia/Seoul"', {"kind": "cron", "expr": "0 3 * * *", "tz": "Asia/Seoul"}, {"kind": "cron", "expr": "0 3 * * *", "tz": "Asia/Seoul"}, [NEW_YEAR]),
    "cron_berlin_fixed": ('cron "30 2 * * *" "Europe/Berlin"', {"kind": "cron", "expr": "30 2 * * *", "tz": "Europe/Berlin"}, {"kind": "cron", "expr": "30 2 * * *", "tz": "Europe/Berlin"}, [SPRING, FALL]),
    "cron_berlin_steps": ('cron "*/20 1-3 * * *" "Europe/Berlin"', {"kind": "cron", "expr": "*/20 1-3 * * *", "tz": "Europe/Berlin"}, {"kind": "cron", "expr": "*/20 1-3 * * *", "tz": "Europe/Berlin"}, [SPRING, FALL]),
    "cron_weekdays": ('cron "*/10 8-18 * * 1-5"', {"kind": "cron", "expr": "*/10 8-18 * * 1-5", "tz": "UTC"}, {"kind": "cron", "expr": "*/10 8-18 * * 1-5", "tz": "UTC"}, [("2024-01-05", "2024-01-08")]),
    "cron_names": ('cron "15 6 L * *" "Asia/Seoul"', {"kind": "cron", "expr": "15 6 L * *", "tz": "Asia/Seoul"}, {"kind": "cron", "expr": "15 6 L * *", "tz": "Asia/Seoul"}, [("2024-01-30", "2024-02-01"), ("2024-02-28", "2024-03-01")]),
}

PLACEHOLDERS = ["ds", "hh", "ds_nodash", "yyyy", "mm", "dd", "start", "end"]


def spec(name, schedule):
    # The sink's file name is pipec's own expansion of every placeholder of the run.
    path = f"out/{name}/" + "~".join("{%s}" % p for p in PLACEHOLDERS) + ".csv"
    return (
        f"pipeline {name} {{ schedule {schedule} }}\n"
        "source cal = calendar(from = 2024-01-01, to = 2024-01-01) { day: date }\n"
        "transform t = cal | derive ds = @ds, s = @start, e = @end\n"
        f'sink t -> csv("{path}")\n'
    )


def parse_utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class IntervalsAgreeWithPipec(support.TestCase):
    """Runs pipec once for all cases and compares."""

    @classmethod
    def setUpClass(cls):
        cls.recorded = None

    def pipec_intervals(self):
        if IntervalsAgreeWithPipec.recorded is not None:
            return IntervalsAgreeWithPipec.recorded
        support.require_module(self, "duckdb", "python duckdb reads pipec's warehouse state")
        import duckdb

        pipec = support.pipec_bin(self)
        work = Path(tempfile.mkdtemp(prefix="pipec-interval-"))
        for name, (text, _, _, _) in CASES.items():
            (work / f"{name}.pipe").write_text(spec(name, text))
        wh = work / "w.duckdb"
        for name, (_, _, _, ranges) in CASES.items():
            for lo, hi in ranges:
                cmd = [pipec, "run", str(work), "--pipeline", name, "--from", lo, "--to", hi, "--warehouse", str(wh), "--no-retry"]
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                self.assertEqual(done.returncode, 0, f"{' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
        con = duckdb.connect(str(wh), read_only=True)
        rows = con.execute(
            "SELECT pipeline, strftime(interval_start, '%Y-%m-%d %H:%M:%S'), strftime(interval_end, '%Y-%m-%d %H:%M:%S'), "
            "CAST(ds AS VARCHAR), status FROM _pipec.intervals ORDER BY pipeline, interval_start"
        ).fetchall()
        con.close()
        recorded = {}
        for pipeline, start, end, ds, status in rows:
            self.assertEqual(status, "done", (pipeline, start))
            recorded.setdefault(pipeline, []).append({"start": start, "end": end, "ds": ds})
        # The run values pipec expanded into each sink file's name, keyed by start.
        expanded = {}
        for name in CASES:
            for f in (work / "out" / name).iterdir():
                values = dict(zip(PLACEHOLDERS, f.name[: -len(".csv")].split("~")))
                content = f.read_text().splitlines()[1].split(",")
                self.assertEqual(content[1:], [values["ds"], values["start"], values["end"]], f.name)
                expanded[(name, values["start"])] = values
        IntervalsAgreeWithPipec.recorded = (recorded, expanded)
        return recorded, expanded

    def test_every_case_ran_intervals(self):
        recorded, _ = self.pipec_intervals()
        self.assertEqual(sorted(recorded), sorted(CASES))
        # The DST days are really there: 25 and 23 hourly intervals in Berlin.
        berlin = [r["ds"] for r in recorded["hourly_berlin"]]
        self.assertEqual(berlin.count("2024-10-27"), 25)
        self.assertEqual(berlin.count("2024-03-31"), 23)

    def test_backfill_of_a_date_gives_pipecs_intervals_of_that_date(self):
        recorded, expanded = self.pipec_intervals()
        for name, (_, schedule, rule_spec, ranges) in CASES.items():
            rule = app.Rule(rule_spec)
            config = {"schedule": schedule, "interval": rule_spec}
            for lo, hi in ranges:
                d = date.fromisoformat(lo)
                while d <= date.fromisoformat(hi):
                    want = [r for r in recorded[name] if r["ds"] == d.isoformat()]
                    got = [i.run() for i in rule.day(d)]
                    self.assertEqual([(g["start"], g["end"]) for g in got], [(w["start"], w["end"]) for w in want], f"{name} {d}")
                    for g in got:
                        self.assertEqual(g, expanded[(name, g["start"])], f"{name} {d}")
                    if len(want) == 1:
                        self.assertEqual(app.interval_for({"ds": d.isoformat()}, config).run(), got[0])
                    elif len(want) > 1:
                        with self.assertRaises(app.IntervalError):
                            app.interval_for({"ds": d.isoformat()}, config)
                    d += timedelta(days=1)

    def test_a_start_names_its_interval(self):
        recorded, expanded = self.pipec_intervals()
        for name, (_, schedule, rule_spec, _) in CASES.items():
            config = {"schedule": schedule, "interval": rule_spec}
            for r in recorded[name]:
                run = app.interval_for({"start": r["start"]}, config).run()
                self.assertEqual(run, expanded[(name, r["start"])], name)
                run = app.interval_for({"start": r["start"].replace(" ", "T") + "Z", "end": r["end"]}, config).run()
                self.assertEqual(run["start"], r["start"])
                # An `after` pipeline gets the upstream's run from its execution's output.
                event = {"source": "aws.states", "detail": {"status": "SUCCEEDED", "output": json.dumps({"run": run})}}
                self.assertEqual(app.interval_for(event, config).run(), run)
            if rule_spec["kind"] == "slots" and rule_spec["minutes"] < 1440:
                first = recorded[name][0]
                with self.assertRaises(app.IntervalError):
                    app.interval_for({"start": (parse_utc(first["start"]) + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")}, config)

    def test_a_scheduled_firing_processes_the_interval_pipec_runs(self):
        """The firing time of each recorded interval (when the documented schedule fires for
        it) maps back to that interval."""
        recorded, expanded = self.pipec_intervals()
        for name, (_, schedule, rule_spec, _) in CASES.items():
            config = {"schedule": schedule, "interval": rule_spec}
            tz = ZoneInfo(rule_spec["tz"])
            for r in recorded[name]:
                end = parse_utc(r["end"])
                if schedule["kind"] == "daily":
                    # Fires at HH:MM local on the next day (the first instant of that time).
                    wall = datetime.combine(date.fromisoformat(r["ds"]) + timedelta(days=1), time(schedule["hour"], schedule["minute"]))
                    fire = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
                elif schedule["kind"] == "hourly":
                    fire = end + timedelta(minutes=schedule["minute"])
                else:
                    fire = end
                for event in (
                    {"scheduled_time": fire.strftime("%Y-%m-%dT%H:%M:%SZ")},
                    {"source": "aws.events", "time": fire.strftime("%Y-%m-%dT%H:%M:%SZ")},
                ):
                    run = app.interval_for(event, config).run()
                    self.assertEqual(run, expanded[(name, r["start"])], f"{name} fired at {fire}")
                # A retry a minute late processes the same interval.
                late = fire + timedelta(seconds=59)
                self.assertEqual(app.interval_for({"scheduled_time": late.isoformat()}, config).run()["start"], r["start"])


class IntervalInputs(support.TestCase):
    """Inputs other than times: documented examples, S3 events, errors."""

    def test_documented_examples(self):
        config = {"schedule": {"kind": "daily", "hour": 3, "minute": 0, "tz": "Asia/Seoul"}, "interval": {"kind": "slots", "minutes": 1440, "tz": "Asia/Seoul"}}
        run = app.interval_for({"ds": "2024-01-01"}, config).run()
        self.assertEqual((run["start"], run["end"]), ("2023-12-31 15:00:00", "2024-01-01 15:00:00"))
        fired = app.interval_for({"scheduled_time": "2024-01-01T18:00:00Z"}, config).run()
        self.assertEqual(fired, run)

    def test_an_hour_picks_one_of_a_days_intervals(self):
        config = {"schedule": {"kind": "hourly", "minute": 0, "tz": "UTC"}, "interval": {"kind": "slots", "minutes": 60, "tz": "UTC"}}
        run = app.interval_for({"ds": "2024-01-01", "hh": "05"}, config).run()
        self.assertEqual((run["start"], run["hh"]), ("2024-01-01 05:00:00", "05"))

    def test_an_s3_event_names_the_day_of_an_on_file_pipeline(self):
        config = {"schedule": {"kind": "on_file", "path": "landing/{yyyy}/{mm}/{ds_nodash}.csv"}, "interval": {"kind": "slots", "minutes": 1440, "tz": "UTC"}}
        event = {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": "raw"}, "object": {"key": "landing/2024/03/20240305.csv"}}}
        self.assertEqual(app.interval_for(event, config).run()["ds"], "2024-03-05")
        event["detail"]["object"]["key"] = "landing/2024/03/other.csv"
        with self.assertRaises(app.IntervalError):
            app.interval_for(event, config)

    def test_the_handler_reads_its_config_from_the_environment(self):
        os.environ["PIPEC_CONFIG"] = json.dumps({"schedule": {"kind": "every", "minutes": 15, "tz": "UTC"}, "interval": {"kind": "slots", "minutes": 15, "tz": "UTC"}})
        try:
            out = app.handler({"scheduled_time": "2024-01-01T05:15:00Z"}, None)
        finally:
            del os.environ["PIPEC_CONFIG"]
        self.assertEqual(out, {"ds": "2024-01-01", "start": "2024-01-01 05:00:00", "end": "2024-01-01 05:15:00", "ds_nodash": "20240101", "yyyy": "2024", "mm": "01", "dd": "01", "hh": "05", "due": "yes"})
        with self.assertRaises(app.IntervalError):
            app.handler({}, None)

    def test_triggers_outside_start_and_end_are_not_due(self):
        # `daily at 01:30 "Asia/Seoul"`, `start 2024-01-02`, `end 2024-01-03`: a firing runs
        # only the intervals dated within; a backfill (`ds`/`start`) runs what it asks for.
        cfg = {"schedule": {"kind": "daily", "hour": 1, "minute": 30, "tz": "Asia/Seoul"},
               "interval": {"kind": "slots", "minutes": 1440, "tz": "Asia/Seoul"},
               "start": "2024-01-02", "end": "2024-01-03"}
        os.environ["PIPEC_CONFIG"] = json.dumps(cfg)
        try:
            fired = {d: app.handler({"scheduled_time": t}, None) for d, t in [
                ("2024-01-01", "2024-01-01T16:30:00Z"), ("2024-01-02", "2024-01-02T16:30:00Z"),
                ("2024-01-03", "2024-01-03T16:30:00Z"), ("2024-01-04", "2024-01-04T16:30:00Z")]}
            backfill = app.handler({"ds": "2024-01-01"}, None)
            by_start = app.handler({"start": "2024-01-04 15:00:00"}, None)
        finally:
            del os.environ["PIPEC_CONFIG"]
        self.assertEqual({d: (r["ds"], r["due"]) for d, r in fired.items()},
                         {"2024-01-01": ("2024-01-01", "no"), "2024-01-02": ("2024-01-02", "yes"),
                          "2024-01-03": ("2024-01-03", "yes"), "2024-01-04": ("2024-01-04", "no")})
        self.assertEqual((backfill["ds"], backfill["due"]), ("2024-01-01", "yes"))
        self.assertEqual((by_start["ds"], by_start["due"]), ("2024-01-05", "yes"))

    def test_an_after_event_without_output_uses_the_upstreams_input(self):
        config = {"schedule": {"kind": "after", "pipelines": ["up"]}, "interval": {"kind": "slots", "minutes": 1440, "tz": "Asia/Seoul"}}
        # The upstream (`daily at 03:00 "Asia/Seoul"`) was fired by the scheduler; its output
        # was too large for the event.
        event = {"source": "aws.states", "detail": {"status": "SUCCEEDED", "output": None, "outputDetails": {"included": False}, "input": json.dumps({"scheduled_time": "2024-01-01T18:00:00Z"})}}
        self.assertEqual(app.interval_for(event, config).run()["ds"], "2024-01-01")
        # Two hops: the upstream was itself started by its upstream's event.
        outer = {"source": "aws.states", "detail": {"status": "SUCCEEDED", "input": json.dumps(event)}}
        self.assertEqual(app.interval_for(outer, config).run()["ds"], "2024-01-01")
        event["detail"]["input"] = json.dumps({"ds": "2023-12-25"})
        self.assertEqual(app.interval_for(event, config).run()["start"], "2023-12-24 15:00:00")

    def test_bad_inputs_are_refused(self):
        config = {"interval": {"kind": "slots", "minutes": 1440, "tz": "UTC"}}
        for event in ({"ds": "2024-13-01"}, {"start": "2024-01-01 05:00:00"}, {"source": "aws.states", "detail": {"output": "{}"}}):
            with self.assertRaises((app.IntervalError, ValueError)):
                app.interval_for(event, config)

    def test_hostile_inputs_are_refused_before_any_sql(self):
        # The state machine splices run values into Athena SQL: only exact shapes may pass.
        config = {"interval": {"kind": "slots", "minutes": 60, "tz": "UTC"}}
        hostile = "2024-01-01'; drop table x; --"
        events = [
            {"ds": hostile},
            {"ds": "{}"},
            {"ds": {}},
            {"ds": ["2024-01-01"]},
            {"ds": "20240101"},  # date.fromisoformat alone would accept it
            {"ds": "2024-01-01 "},
            {"ds": "2024-01-01\n"},
            {"ds": "٢٠٢٤-٠١-٠١"},  # digits, but not ASCII ones
            {"ds": "2024-01-01", "hh": "05'; --"},
            {"ds": "2024-01-01", "hh": "{}"},
            {"ds": "2024-01-01", "hh": 5},
            {"start": hostile},
            {"start": "{}"},
            {"start": "2024-01-01 05:00:00", "end": "2024-01-01 06:00:00' --"},
            {"scheduled_time": "2024-01-01T05:00:00Z'; --"},
            {"scheduled_time": {}},
            {"source": "aws.states", "detail": {"output": json.dumps({"run": {"start": hostile}})}},
            {"source": "aws.s3", "detail": {"object": {"key": "in/2024-01-01'; --.csv"}}},
        ]
        for event in events:
            with self.subTest(event=event):
                with self.assertRaises(app.IntervalError):
                    app.interval_for(event, {**config, "on_file_key": "in/{ds}.csv"})
        # The accepted shapes still work.
        run = app.interval_for({"start": "2024-01-01T05:00:00Z"}, config).run()
        self.assertEqual(run["start"], "2024-01-01 05:00:00")
        self.assertEqual(app.checked(run), run)

    def test_the_handler_returns_only_exact_shapes(self):
        run = {"ds": "2024-01-01", "start": "2024-01-01 05:00:00", "end": "2024-01-01 06:00:00",
               "ds_nodash": "20240101", "yyyy": "2024", "mm": "01", "dd": "01", "hh": "05"}
        self.assertEqual(app.checked(dict(run)), run)
        for name, bad in [("ds", "2024-01-01'"), ("start", "2024-01-01T05:00:00"), ("hh", "5"), ("yyyy", "{}")]:
            with self.subTest(name=name):
                with self.assertRaises(app.IntervalError):
                    app.checked({**run, name: bad})
        os.environ["PIPEC_CONFIG"] = json.dumps({"interval": {"kind": "slots", "minutes": 60, "tz": "UTC"}})
        try:
            with self.assertRaises(app.IntervalError):
                app.handler({"ds": "2024-01-01'; drop table x; --"}, None)
            self.assertEqual(app.handler({"start": "2024-01-01 05:00:00"}, None), dict(run, due="yes"))
        finally:
            del os.environ["PIPEC_CONFIG"]
