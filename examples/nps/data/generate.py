#!/usr/bin/env python3
"""Writes the nps sample database (Python 3 standard library only, deterministic).

    python3 examples/nps/data/generate.py

Outputs, next to this script:
  survey_answers.sql   CREATE TABLE public.survey_answers + INSERTs: ~200 rows over 2024-01-01..07
  expected_nps.csv     the NPS per day the pipeline must publish from that table

Load the table into a local PostgreSQL and point the pipeline at it:

    psql "$NPS_DB_URL" -v ON_ERROR_STOP=1 -f examples/nps/data/survey_answers.sql

The output is committed; re-running the script rewrites identical files.
"""

import os
from datetime import datetime, timedelta

HERE = os.path.dirname(os.path.abspath(__file__))


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


# Per-day score mix (weights for 0..10) so that the daily NPS moves: a bad release on day 4.
GOOD = [1, 1, 1, 1, 2, 3, 4, 8, 10, 12, 14]
BAD = [4, 3, 3, 4, 4, 5, 6, 7, 6, 5, 4]
COMMENTS = {
    "promoter": ["Love it", "정말 편해요", "Fast checkout, great app", "Recommended it to my team", None, None],
    "passive": ["OK I guess", "Good, but the app's search is slow", "괜찮아요", None, None],
    "detractor": ["It's broken after the update", "Too slow", "결제가 자꾸 실패해요", "Support didn't answer: \"we'll call back\"", None],
}
CHANNELS = ["email", "in_app", "in_app", "sms"]


def weighted(rng, weights):
    roll = rng.below(sum(weights))
    for score, w in enumerate(weights):
        if roll < w:
            return score
        roll -= w
    raise AssertionError("unreachable")


def kind(score):
    return "promoter" if score >= 9 else "detractor" if score <= 6 else "passive"


def sql_text(s):
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


def main():
    rng = Lcg(9_10_06)
    day0 = datetime(2024, 1, 1)
    rows = []  # (answer_id, respondent_id, score, comment, channel, answered_at, updated_at)
    answer_id = 1000
    for d in range(7):
        day = day0 + timedelta(days=d)
        weights = BAD if d == 3 else GOOD
        times = sorted(rng.below(24 * 3600) for _ in range(24 + rng.below(8)))
        for t in times:
            answer_id += 1
            answered = day + timedelta(seconds=t)
            score = weighted(rng, weights)
            row = [answer_id, 50000 + rng.below(900), score, rng.pick(COMMENTS[kind(score)]),
                   rng.pick(CHANNELS), answered, answered]
            rows.append(tuple(row))
            # About one answer in twelve is edited later (same answer_id, newer updated_at),
            # sometimes the next day; the newest revision is the one that counts.
            if rng.below(12) == 0:
                edited = answered + timedelta(minutes=rng.between(5, 30 * 60))
                new_score = min(10, score + rng.between(1, 4)) if score < 9 else rng.between(5, 8)
                rows.append((answer_id, row[1], new_score, rng.pick(COMMENTS[kind(new_score)]),
                             row[4], answered, edited))

    ts = lambda t: "'" + t.strftime("%Y-%m-%d %H:%M:%S") + "'"
    out = [
        "-- Survey answers of the nps example: an OLTP table the pipeline copies from.",
        "-- Written by generate.py (deterministic); load with:",
        "--   psql \"$NPS_DB_URL\" -v ON_ERROR_STOP=1 -f examples/nps/data/survey_answers.sql",
        "-- Every edit of an answer appends a revision: the key is (answer_id, updated_at).",
        "-- Times are local (Asia/Seoul) wall-clock times, as the application stores them.",
        "",
        "BEGIN;",
        "",
        "DROP TABLE IF EXISTS public.survey_answers;",
        "",
        "CREATE TABLE public.survey_answers (",
        "    answer_id     bigint      NOT NULL,",
        "    respondent_id bigint      NOT NULL,",
        "    score         integer     NOT NULL CHECK (score BETWEEN 0 AND 10),",
        "    comment       text,",
        "    channel       text        NOT NULL,",
        "    answered_at   timestamp   NOT NULL,",
        "    updated_at    timestamp   NOT NULL,",
        "    PRIMARY KEY (answer_id, updated_at)",
        ");",
        "",
        "CREATE INDEX survey_answers_updated_at ON public.survey_answers (updated_at);",
        "",
        "INSERT INTO public.survey_answers",
        "    (answer_id, respondent_id, score, comment, channel, answered_at, updated_at)",
        "VALUES",
    ]
    values = [
        "    (%d, %d, %d, %s, %s, %s, %s)" % (a, r, s, sql_text(c), sql_text(ch), ts(at), ts(up))
        for (a, r, s, c, ch, at, up) in rows
    ]
    out.append(",\n".join(values) + ";")
    out += ["", "COMMIT;", ""]
    with open(os.path.join(HERE, "survey_answers.sql"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out))

    # The expected mart: newest revision per answer, grouped by the day it was answered.
    latest = {}
    for r in rows:
        if r[0] not in latest or r[6] > latest[r[0]][6]:
            latest[r[0]] = r
    lines = ["answered_on,answers,promoters,detractors,nps"]
    for d in range(7):
        day = (day0 + timedelta(days=d)).date()
        scores = [r[2] for r in latest.values() if r[5].date() == day]
        p = sum(1 for s in scores if s >= 9)
        q = sum(1 for s in scores if s <= 6)
        nps = round_half_away(100.0 * (p - q) / len(scores), 1)
        lines.append("%s,%d,%d,%d,%.1f" % (day.isoformat(), len(scores), p, q, nps))
    with open(os.path.join(HERE, "expected_nps.csv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


def round_half_away(x, digits):
    """SQL's round(): halves away from zero (Python's round() rounds halves to even)."""
    from decimal import Decimal, ROUND_HALF_UP
    return float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


if __name__ == "__main__":
    main()
