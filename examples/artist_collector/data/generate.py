#!/usr/bin/env python3
"""Writes the artist_collector sample API responses (Python 3 stdlib only, deterministic).

    python3 examples/artist_collector/data/generate.py

Outputs, next to this script:
  api/top-tracks/page-1.json ... page-3.json   the chart API's pages (?page=N&limit=50), as a
                                                mock server would return them
  top_tracks.json                               the source's `fallback`: the whole chart (the
                                                three pages' rows, in order) in one response

All artists and tracks are made up. The output is committed; re-running the script rewrites
identical files.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE_SIZE = 50


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


ARTISTS = [
    "새벽세시", "Señora Lima", "The Midnight Ferries", "Nova Kim", "Zoë & the Tides",
    "Han River Echo", "Dawn's Early Light", "Kettle Drum Society", "Mira Okafor", "Polar Static",
    "밤하늘 오케스트라", "Los Hermanos Vega", "Quiet Harbour", "Juno Park", "The Paper Kites of Busan",
    "Eliška Nováková", "Glass Animals Club", "Ruby & Rye", "Seoul Tape Loop", "Orbit Youth",
    "Anaïs Lefèvre", "Concrete Gardens", "Tiny Lanterns", "Ravi & the Rain", "Moonlit Arcade",
]
WORDS = [
    "Neon", "River", "Midnight", "Paper", "Golden", "Echo", "Summer", "Static", "Velvet", "Harbour",
    "Lantern", "Orbit", "Signal", "Glass", "Wild", "Silver", "Cherry", "Quiet", "Satellite", "Blue",
]
KOREAN = ["첫눈", "한강에서", "여름밤", "너의 목소리", "서울의 달"]


def track_name(rng, i):
    if i % 17 == 3:
        return rng.pick(KOREAN)
    if i % 23 == 5:
        return "Don't Stop \"%s\"" % rng.pick(WORDS)  # quotes survive every target
    return "%s %s" % (rng.pick(WORDS), rng.pick(WORDS))


def main():
    rng = Lcg(3_14159)
    tracks = []
    for i in range(120):
        a = rng.below(len(ARTISTS)) if i >= len(ARTISTS) else i  # every artist charts at least once
        tracks.append({
            "track_id": "trk_%04d" % (i + 1),
            "track_name": track_name(rng, i),
            "artist_id": "art_%03d" % (a + 1),
            "artist_name": ARTISTS[a],
            "playcount": 0,
            "listeners": 0,
        })
    for t in tracks:
        t["playcount"] = 20_000 + rng.below(5_000_000)
        t["listeners"] = t["playcount"] // rng.between(3, 12)
    tracks.sort(key=lambda t: (-t["playcount"], t["track_id"]))
    for rank, t in enumerate(tracks, start=1):
        t["chart_rank"] = rank

    # The chart moves while the client pages through it. Between the requests for page 1 and
    # page 2, the track ranked 51st overtook the 50th: page 2 starts with the 50th track again
    # (now 51st, with a larger playcount) and the overtaking track is on neither page. So the
    # pages hold 120 rows and 119 distinct tracks; dedupe.latest keeps the newer duplicate.
    first = tracks[:PAGE_SIZE]
    moved = dict(tracks[PAGE_SIZE - 1])
    moved["playcount"] += 120
    moved["chart_rank"] = PAGE_SIZE + 1
    rest = [moved] + tracks[PAGE_SIZE + 1:]
    pages = [first] + [rest[i:i + PAGE_SIZE] for i in range(0, len(rest), PAGE_SIZE)]

    def response(rows, page, total_pages):
        return {
            "tracks": {
                "track": rows,
                "@attr": {"page": page, "perPage": PAGE_SIZE, "totalPages": total_pages,
                          "total": len(tracks)},
            }
        }

    def write(path, doc):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write("\n")

    for n, rows in enumerate(pages, start=1):
        write(os.path.join(HERE, "api", "top-tracks", "page-%d.json" % n), response(rows, n, len(pages)))
    write(os.path.join(HERE, "top_tracks.json"), response([r for p in pages for r in p], 1, 1))


if __name__ == "__main__":
    main()
