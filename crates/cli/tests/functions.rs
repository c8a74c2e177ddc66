//! End-to-end: the builtins' definitions (docs/language.md, "Functions") hold on DuckDB, and the
//! SQL pipec writes for every new function and window frame runs.

mod common;

use common::*;
use std::process::Command;

const SPEC: &str = r#"pipeline fns { schedule daily }

source nums = csv("nums.csv", header = true) {
  k: string, i: int, v: float, w: float?, s: string?, day: date,
}

transform stats = nums
  | group k {
      p90 = percentile(v, 0.9),
      med = median(v),
      p0 = percentile(v, 0),
      p1 = percentile(v, 1),
      p_w = percentile(w, 0.5),
    }

transform rolling = nums
  | window partition k order i rows between 2 preceding and current row {
      avg3 = avg(v),
      first3 = first_value(i),
      tile = ntile(3),
    }
  | window partition k order i rows between 1 following and 2 following {
      next2 = sum(i),
      next_first = first_value(i),
    }
  | window partition k order i { whole_last = last_value(i), running = sum(i) }

transform shaped = nums
  | select i,
      c = concat("x", s),
      c_all = concat("n", i, "-", day),
      g = greatest(w, 2.5),
      l = least(w, 2.5),
      g_null = greatest(w, w),
      dow = day_of_week(day),
      db = days_between(day, 2024-01-10),
      md = make_date(2024, 2, i),
      mt = make_timestamp(2024, 2, 29, 23, 59, 30.5),
      lp = lpad(i::string, 3, "0"),
      lp_cut = lpad("hello", 3, "*"),
      rp = rpad(s ?? "", 3, "."),
      ft = format_time(day, "%d/%m/%Y"),
      ft_ts = format_time(make_timestamp(2024, 2, 29, 23, 59, 30), "%Y-%m-%dT%H:%M:%S 100%%"),
      pt = parse_time("31.01.2024 13:45", "%d.%m.%Y %H:%M"),
      pt_bad = parse_time(s ?? "", "%Y-%m-%d"),
      am = add_months(2024-01-31, i),
      am_ts = add_months(2024-03-31 10:00, -1),
      tz_to = to_timezone(2024-01-01 15:00, "Asia/Seoul"),
      tz_from = from_timezone(2024-03-10 02:30, "America/New_York"),
      tz_null = to_timezone(parse_time(s ?? "", "%Y"), "UTC")

sink stats -> mart.stats
sink rolling -> mart.rolling
sink shaped -> mart.shaped
"#;

#[test]
fn builtins_keep_their_definitions_on_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let conn = run_spec_with_nums(dir.path(), SPEC);

    // Continuous percentiles: 1..10 at 0.9 is 9.1; nulls are left out (w has no 2).
    assert_eq!(
        rows(
            &conn,
            "SELECT round(p90, 6)::VARCHAR, med::VARCHAR, p0::VARCHAR, p1::VARCHAR, p_w::VARCHAR FROM mart.stats"
        ),
        ["9.1|5.5|1.0|10.0|6.0"]
    );

    // Rolling average of the row and the 2 before it; ntile(3) of 10 rows is 4, 3, 3.
    assert_eq!(
        rows(
            &conn,
            "SELECT i::VARCHAR, avg3::VARCHAR, first3::VARCHAR, tile::VARCHAR, next2::VARCHAR, \
             next_first::VARCHAR, whole_last::VARCHAR, running::VARCHAR \
             FROM mart.rolling ORDER BY i"
        ),
        [
            "1|1.0|1|1|5|2|10|1",
            "2|1.5|1|1|7|3|10|3",
            "3|2.0|1|1|9|4|10|6",
            "4|3.0|2|1|11|5|10|10",
            "5|4.0|3|2|13|6|10|15",
            "6|5.0|4|2|15|7|10|21",
            "7|6.0|5|2|17|8|10|28",
            "8|7.0|6|3|19|9|10|36",
            "9|8.0|7|3|10|10|10|45",
            "10|9.0|8|3|NULL|NULL|10|55",
        ]
    );

    let shaped = rows(
        &conn,
        "SELECT i::VARCHAR, c, c_all, g::VARCHAR, l::VARCHAR, g_null::VARCHAR, dow::VARCHAR, \
         db::VARCHAR, md::VARCHAR, mt::VARCHAR, lp, lp_cut, rp, ft, ft_ts, pt::VARCHAR, \
         pt_bad::VARCHAR, am::VARCHAR, am_ts::VARCHAR, tz_to::VARCHAR, tz_from::VARCHAR, \
         tz_null::VARCHAR FROM mart.shaped ORDER BY i",
    );
    let row = |i: usize| shaped[i - 1].split('|').collect::<Vec<_>>();
    // 2024-01-01 is a Monday: ISO day 1; 2024-01-07 a Sunday: 7.
    assert_eq!(
        row(1),
        [
            "1",
            "xa",
            "n1-2024-01-01",
            "2.5",
            "1.0",
            "1.0",
            "1",
            "9",
            "2024-02-01",
            "2024-02-29 23:59:30.5",
            "001",
            "hel",
            "a..",
            "01/01/2024",
            "2024-02-29T23:59:30 100%",
            "2024-01-31 13:45:00",
            "NULL",
            "2024-02-29",
            "2024-02-29 10:00:00",
            // 15:00 UTC is 00:00 the next day in Seoul; 02:30 does not exist in New York
            // on 2024-03-10 and is read one hour later (03:30 EDT = 07:30 UTC).
            "2024-01-02 00:00:00",
            "2024-03-10 07:30:00",
            "NULL",
        ]
    );
    // A null argument: concat is null, greatest/least skip it (null only when all are null).
    let r2 = row(2);
    assert_eq!(r2[1], "NULL", "concat with a null is null: {r2:?}");
    assert_eq!(&r2[3..6], ["2.5", "2.5", "NULL"], "{r2:?}");
    assert_eq!(r2[7], "8", "days_between(a, b) is b - a: {r2:?}");
    assert_eq!(r2[17], "2024-03-31", "{r2:?}");
    assert_eq!(r2[12], "...", "{r2:?}");
    assert_eq!(row(7)[6], "7", "Sunday is 7");
    assert_eq!(row(6)[6], "6", "Saturday is 6");
    assert_eq!(
        row(3)[17],
        "2024-04-30",
        "the day is clamped to the month's end"
    );
}

#[test]
fn an_impossible_make_date_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nums.csv"), "k,i\na,30\n").unwrap();
    let spec = r#"pipeline bad_dates { schedule daily }
source nums = csv("nums.csv", header = true) { k: string, i: int }
transform t = nums | select d = make_date(2024, 2, i)
sink t -> mart.t
"#;
    let file = dir.path().join("spec.pipe");
    std::fs::write(&file, spec).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .env("NO_COLOR", "1")
        .args(["run", file.to_str().unwrap(), "--date", "2024-01-01"])
        .arg("--warehouse")
        .arg(dir.path().join("w.duckdb"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Date out of range"), "{}", text(&out));
}

#[test]
fn unit_tests_run_time_zone_conversions_and_window_frames() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"pipeline zones { schedule daily }
source events = csv("events.csv", header = true) { id: int, at: timestamp }
transform local = events
  | derive seoul = to_timezone(at, "Asia/Seoul"), back = from_timezone(to_timezone(at, "Asia/Seoul"), "Asia/Seoul")
  | window order id rows between 1 preceding and current row { pair_max = max(id) }
sink local -> mart.local
test seoul_is_nine_hours_ahead for local {
  given events (id, at) { (1, 2024-01-01 15:00), (2, 2024-06-30 23:30) }
  expect (id, at, seoul, back, pair_max) {
    (1, 2024-01-01 15:00, 2024-01-02 00:00, 2024-01-01 15:00, 1),
    (2, 2024-06-30 23:30, 2024-07-01 08:30, 2024-06-30 23:30, 2),
  }
}
"#;
    let file = dir.path().join("spec.pipe");
    std::fs::write(&file, spec).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .env("NO_COLOR", "1")
        .args(["test", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}",
        text(&out)
    );
}
