#!/usr/bin/env python3
"""Writes the blog_visits sample logs (Python 3 standard library only, deterministic).

    python3 examples/blog_visits/data/generate.py

Outputs visits/2024-01-01.ndjson ... visits/2024-01-07.ndjson next to this script: one JSON
object per page view (visitor_id, url, referrer, visited_at, user_agent), as a log shipper
writes them. The output is committed; re-running the script rewrites identical files.
"""

import json
import os
from datetime import datetime, timedelta

HERE = os.path.dirname(os.path.abspath(__file__))
SITE = "https://blog.example.com"


class Lcg:
    """A tiny linear congruential generator: the same numbers on every Python version."""

    def __init__(self, seed):
        self.state = seed & 0x7FFFFFFF

    def next(self):
        self.state = (1103515245 * self.state + 12345) & 0x7FFFFFFF
        return self.state

    def below(self, n):
        return (self.next() >> 8) % n

    def between(self, lo, hi):
        return lo + self.below(hi - lo + 1)

    def pick(self, items):
        return items[self.below(len(items))]

    def percent(self, p):
        return self.below(100) < p


ARTICLES = [
    "/posts/duckdb-in-a-pipeline",
    "/posts/airflow-backfills",
    "/posts/sessionizing-with-windows",
    "/posts/nps-in-sql",
    "/posts/lambda-architecture-revisited",
    "/posts/parquet-partitioning",
]
OTHER = ["/about", "/tags/rust", "/tags/sql", "/archive"]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
]
# Where sessions come from; None is a direct visit (no referrer).
REFERRERS = (
    [None] * 7
    + ["https://www.google.com/"] * 6
    + ["https://www.bing.com/", "https://duckduckgo.com/"]
    + ["https://news.ycombinator.com/", "https://news.ycombinator.com/"]
    + ["https://twitter.com/", "https://www.reddit.com/r/dataengineering/"]
    + ["https://weekly.example.org/issue/42"]
)


def url(path, rng):
    if rng.percent(10):
        return SITE + path + "?utm_source=" + rng.pick(["newsletter", "hn", "twitter"])
    return SITE + path


def session_paths(rng):
    """The pages of one session, in order, following the funnel landing -> article -> subscribe."""
    roll = rng.below(100)
    paths = ["/" if roll < 40 else rng.pick(OTHER) if roll < 45 else rng.pick(ARTICLES)]
    while len(paths) < 8:
        here = paths[-1]
        roll = rng.below(100)
        if here == "/":
            nxt = rng.pick(ARTICLES) if roll < 60 else rng.pick(OTHER) if roll < 70 else None
        elif here.startswith("/posts/"):
            nxt = "/subscribe" if roll < 18 else rng.pick(ARTICLES) if roll < 50 else "/" if roll < 58 else None
        elif here == "/subscribe":
            nxt = "/subscribe/thanks" if roll < 50 else None
        else:
            nxt = rng.pick(ARTICLES) if roll < 40 else None
        if nxt is None:
            break
        paths.append(nxt)
    return paths


def visitor_views(visitor, day, rng):
    agent = rng.pick(BOTS) if rng.percent(6) else rng.pick(BROWSERS)
    t = day + timedelta(seconds=rng.below(20 * 3600))
    views = []
    for s in range(1 + (rng.below(100) < 25) + (rng.below(100) < 8)):
        if s > 0:
            t += timedelta(minutes=rng.between(35, 240))  # more than 30 minutes: a new session
        prev = rng.pick(REFERRERS)
        for path in session_paths(rng):
            if t >= day + timedelta(days=1):
                return views
            u = url(path, rng)
            views.append({
                "visitor_id": visitor,
                "url": u,
                "referrer": prev,
                "visited_at": t.strftime("%Y-%m-%dT%H:%M:%S"),
                "user_agent": agent,
            })
            prev = u
            t += timedelta(seconds=rng.between(20, 12 * 60))  # within a session: under 30 minutes
    return views


def main():
    os.makedirs(os.path.join(HERE, "visits"), exist_ok=True)
    rng = Lcg(424242)
    day0 = datetime(2024, 1, 1)
    for d in range(7):
        day = day0 + timedelta(days=d)
        views = []
        # The shipper sometimes flushes late events of the day before: the pipeline drops them.
        for _ in range(rng.below(3)):
            late = day - timedelta(seconds=1 + rng.below(600))
            views.append({
                "visitor_id": "v%04d" % rng.below(300),
                "url": SITE + rng.pick(ARTICLES),
                "referrer": None,
                "visited_at": late.strftime("%Y-%m-%dT%H:%M:%S"),
                "user_agent": rng.pick(BROWSERS),
            })
        for _ in range(45 + rng.below(30)):
            visitor = "v%04d" % rng.below(300)
            if any(v["visitor_id"] == visitor for v in views):
                continue  # one burst of activity per visitor and day keeps the sample readable
            views.extend(visitor_views(visitor, day, rng))
        views.sort(key=lambda v: (v["visited_at"], v["visitor_id"]))
        path = os.path.join(HERE, "visits", day.strftime("%Y-%m-%d") + ".ndjson")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for v in views:
                f.write(json.dumps(v, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
