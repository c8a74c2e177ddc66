#!/usr/bin/env python3
"""Writes the bike_share sample data (Python 3 standard library only, deterministic).

    python3 examples/bike_share/data/generate.py

Outputs, next to this script:
  rentals/2024-01-01.csv ... rentals/2024-01-07.csv   one CSV per day, like Seoul's daily export
  stations.json                                        the station API response (offline fallback)

The output is committed; re-running the script rewrites identical files.
"""

import json
import os
from datetime import datetime, timedelta

HERE = os.path.dirname(os.path.abspath(__file__))


class Lcg:
    """A tiny linear congruential generator: the same numbers on every Python version."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFF

    def next(self):
        self.state = (1103515245 * self.state + 12345) & 0x7FFFFFFF
        return self.state

    def below(self, n):
        return (self.next() >> 8) % n  # the low bits of an LCG are poor

    def between(self, lo, hi):
        return lo + self.below(hi - lo + 1)


# station_id, station_name, district, racks (a few names in Korean, as in the real feed)
STATIONS = [
    (102, "망원역 1번출구 앞", "Mapo-gu", 20),
    (103, "망원역 2번출구 앞", "Mapo-gu", 14),
    (104, "합정역 1번출구 앞", "Mapo-gu", 13),
    (152, "Mapo-gu Office Station", "Mapo-gu", 10),
    (207, "Yeouido Park Entrance", "Yeongdeungpo-gu", 30),
    (210, "IFC Mall", "Yeongdeungpo-gu", 25),
    (301, "Gwanghwamun Square", "Jongno-gu", 22),
    (302, "Jongno 3-ga Station Exit 5", "Jongno-gu", 12),
    (333, "Seoul Station West Exit", "Jung-gu", 18),
    (335, "Myeongdong Entrance", "Jung-gu", 15),
    (2301, "Gangnam Station Exit 10", "Gangnam-gu", 20),
    (2302, "Yeoksam Station Exit 3", "Gangnam-gu", 10),
]

# Station 9999 opened on 2024-01-05 and is not in the station list yet: its rides keep a
# null station_name and district (the mart's left join).
NEW_STATION = 9999


def write_stations():
    rows = [
        {"station_id": s, "station_name": n, "district": d, "racks": r}
        for (s, n, d, r) in STATIONS
    ]
    # The API lists station 207 twice after a rack upgrade; dedupe.latest keeps the larger one.
    rows.insert(5, {"station_id": 207, "station_name": "Yeouido Park Entrance",
                    "district": "Yeongdeungpo-gu", "racks": 24})
    doc = {
        "stations": {
            "list_total_count": len(rows),
            "RESULT": {"CODE": "INFO-000", "MESSAGE": "정상 처리되었습니다."},
            "row": rows,
        }
    }
    with open(os.path.join(HERE, "stations.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, ensure_ascii=False, indent=2)
        f.write("\n")


def write_rentals():
    os.makedirs(os.path.join(HERE, "rentals"), exist_ok=True)
    rng = Lcg(20240101)
    day0 = datetime(2024, 1, 1)
    ids = [s[0] for s in STATIONS]
    for d in range(7):
        day = day0 + timedelta(days=d)
        n = 60 + rng.below(120)  # 60..179 rentals
        times = sorted(rng.below(24 * 3600) for _ in range(n))
        lines = ["rental_id,station_id,rented_at,returned_at,distance_m"]
        for i, t in enumerate(times, start=1):
            rented = day + timedelta(seconds=t)
            station = ids[rng.below(len(ids))]
            if d >= 4 and rng.below(15) == 0:
                station = NEW_STATION
            minutes = rng.between(2, 95)
            returned = rented + timedelta(minutes=minutes, seconds=rng.below(60))
            distance = "%.1f" % (minutes * rng.between(90, 260) + rng.below(10) / 10)
            roll = rng.below(100)
            if roll < 6:
                distance = ""  # missing in the export
            elif roll < 10:
                distance = "NA"  # the export's other spelling of missing
            roll = rng.below(100)
            if roll < 2:
                returned = rented  # docked and undocked at once: filtered out
            elif roll < 3:
                returned = rented - timedelta(minutes=1)  # clock skew: filtered out
            rid = "SPB-%s-%04d" % (day.strftime("%Y%m%d"), i)
            lines.append("%s,%d,%s,%s,%s" % (
                rid, station, rented.strftime("%Y-%m-%d %H:%M:%S"),
                returned.strftime("%Y-%m-%d %H:%M:%S"), distance))
        path = os.path.join(HERE, "rentals", day.strftime("%Y-%m-%d") + ".csv")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    write_stations()
    write_rentals()
