//! Which intervals a run covers: one day's intervals, the one containing an instant, a backfill
//! range, or the latest due per the schedule. Intervals come from each pipeline's interval rule
//! (`pipec_check::schedule`), in the schedule's time zone.

use std::cmp::Ordering;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use pipec_check::ir::{IntervalRule, Pipeline, Project};
use pipec_check::schedule::{self, Interval, Rule};

/// One end of a `--from`/`--to` range: a date (local to each pipeline's schedule zone) or an
/// instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A local date: from its first instant, or to its last.
    Day(NaiveDate),
    /// An instant.
    At(DateTime<Utc>),
}

impl FromStr for Bound {
    type Err = String;

    /// `YYYY-MM-DD`, an RFC 3339 timestamp (`2024-03-10T05:00:00Z`, `…+09:00`), or
    /// `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DDTHH:MM[:SS]` read as UTC.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(d) = NaiveDate::from_str(s) {
            return Ok(Bound::Day(d));
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Bound::At(t.with_timezone(&Utc)));
        }
        let naive = s.strip_suffix('Z').unwrap_or(s).replace('T', " ");
        for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&naive, f) {
                return Ok(Bound::At(t.and_utc()));
            }
        }
        Err(format!(
            "`{s}` is neither a date (YYYY-MM-DD) nor a timestamp (YYYY-MM-DDTHH:MM[:SS], UTC unless it has an offset such as +09:00)"
        ))
    }
}

/// The intervals asked for on the command line.
#[derive(Debug, Clone)]
pub enum Dates {
    /// The latest interval that is due by the schedule.
    Latest,
    /// Every interval of one local date (`--date`).
    One(NaiveDate),
    /// The one interval containing an instant (`--at`).
    At(DateTime<Utc>),
    /// Every interval from the first bound to the second, both inclusive (`--from`/`--to`).
    Range(Bound, Bound),
}

/// One interval of one pipeline, as the runner runs, reports and records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The interval.
    pub interval: Interval,
    /// How it is shown: `@ds` for a rule of whole days, else `@ds HH:MM` (local start).
    pub label: String,
}

impl Run {
    /// `interval` of a pipeline with `rule`.
    pub fn new(interval: Interval, rule: &IntervalRule) -> Run {
        let daily = matches!(rule, IntervalRule::Slots { minutes: 1440, .. });
        let label = if daily {
            interval.ds().to_string()
        } else {
            interval.local_start().format("%Y-%m-%d %H:%M").to_string()
        };
        Run { interval, label }
    }

    /// `@ds`.
    pub fn ds(&self) -> NaiveDate {
        self.interval.ds()
    }

    /// The run parameters (`@ds`, `@start`, `{hh}`, ...).
    pub fn params(&self) -> pipec_sql::Interval {
        pipec_sql::Interval::from(&self.interval)
    }

    /// The order key of the interval.
    pub(crate) fn key(&self) -> Key {
        Key {
            start: self.interval.start,
            end: self.interval.end,
        }
    }
}

/// The order of intervals across pipelines: by end (when a scheduler would run them), and of
/// intervals ending together the shorter first, so an hour is run before the day it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
}

impl Ord for Key {
    fn cmp(&self, o: &Self) -> Ordering {
        self.end.cmp(&o.end).then(o.start.cmp(&self.start))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The compiled rule of `p`; the checker guarantees it compiles.
pub(crate) fn rule(p: &Pipeline) -> Option<Rule> {
    Rule::new(&p.interval)
}

/// The intervals of `p` selected by `dates`, in order. Ranges and the latest due interval are
/// clipped to the pipeline's `start`/`end` dates (by `@ds`); `--date` and `--at` run what is
/// asked for.
pub(crate) fn select(
    project: &Project,
    p: &Pipeline,
    dates: &Dates,
    now: DateTime<Utc>,
) -> Vec<Run> {
    let Some(r) = rule(p) else { return Vec::new() };
    let start = p.start.as_deref().and_then(|d| NaiveDate::from_str(d).ok());
    let end = p.end.as_deref().and_then(|d| NaiveDate::from_str(d).ok());
    let within =
        |i: &Interval| start.is_none_or(|s| i.ds() >= s) && end.is_none_or(|e| i.ds() <= e);
    let found: Vec<Interval> = match dates {
        Dates::One(d) => r.day(*d),
        Dates::At(t) => r.containing(*t).into_iter().collect(),
        Dates::Range(a, b) => {
            let from = match a {
                Bound::Day(d) => r.day_start(*d),
                Bound::At(t) => *t,
            };
            let to = match b {
                Bound::Day(d) => r.day_start(*d + Duration::days(1)),
                Bound::At(t) => *t + Duration::nanoseconds(1),
            };
            r.intervals(from, to).into_iter().filter(within).collect()
        }
        Dates::Latest => schedule::pipeline_due(project, p, now)
            .into_iter()
            .filter(within)
            .collect(),
    };
    found
        .into_iter()
        .map(|i| Run::new(i, &p.interval))
        .collect()
}

/// The interval of date `ds` that `pipec test` runs with: the first interval of that day under
/// the pipeline's rule (for a rule without one that day, the UTC day).
pub(crate) fn first_of_day(p: &Pipeline, ds: NaiveDate) -> Run {
    match rule(p).and_then(|r| r.day(ds).into_iter().next()) {
        Some(i) => Run::new(i, &p.interval),
        None => utc_day(ds),
    }
}

/// The whole UTC day `ds`: what pipec before per-schedule intervals ran for every date.
pub(crate) fn utc_day(ds: NaiveDate) -> Run {
    let start = ds.and_time(chrono::NaiveTime::MIN).and_utc();
    let interval = Interval {
        start,
        end: start + Duration::days(1),
        tz: chrono_tz::UTC,
    };
    Run {
        interval,
        label: ds.to_string(),
    }
}

/// The latest interval of `p` due at `now` (see [`schedule::pipeline_due`]).
pub fn due_interval(project: &Project, p: &Pipeline, now: DateTime<Utc>) -> Option<Run> {
    schedule::pipeline_due(project, p, now).map(|i| Run::new(i, &p.interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(spec: &str) -> Project {
        let mut sources = pipec_diag::SourceMap::new();
        let f = sources.add("p.pipe", spec);
        let checked = pipec_check::check(&mut sources, &[f], &pipec_check::NoFiles);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        checked.project
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn labels(runs: &[Run]) -> Vec<String> {
        runs.iter().map(|r| r.label.clone()).collect()
    }

    #[test]
    fn bounds_parse_dates_and_timestamps() {
        assert_eq!(
            "2024-03-10".parse::<Bound>(),
            Ok(Bound::Day(NaiveDate::from_ymd_opt(2024, 3, 10).unwrap()))
        );
        let t = Bound::At(utc("2024-03-10T05:00:00Z"));
        assert_eq!("2024-03-10T05:00:00Z".parse::<Bound>(), Ok(t));
        assert_eq!("2024-03-10 05:00".parse::<Bound>(), Ok(t));
        assert_eq!("2024-03-10T14:00:00+09:00".parse::<Bound>(), Ok(t));
        assert!("yesterday".parse::<Bound>().is_err());
    }

    #[test]
    fn a_date_selects_every_interval_of_that_local_day() {
        let p = project("pipeline p { schedule every 1h \"America/New_York\" }");
        let runs = select(
            &p,
            &p.pipelines[0],
            &Dates::One(NaiveDate::from_ymd_opt(2024, 3, 10).unwrap()),
            Utc::now(),
        );
        assert_eq!(runs.len(), 23);
        assert_eq!(runs[2].label, "2024-03-10 03:00");
        assert_eq!(runs[0].interval.start, utc("2024-03-10T05:00:00Z"));
    }

    #[test]
    fn timestamp_ranges_are_inclusive_and_at_finds_one() {
        let p = project("pipeline p { schedule hourly at :15 }");
        let pl = &p.pipelines[0];
        let range = Dates::Range(
            Bound::At(utc("2024-01-01T22:00:00Z")),
            Bound::At(utc("2024-01-02T01:00:00Z")),
        );
        assert_eq!(
            labels(&select(&p, pl, &range, Utc::now())),
            [
                "2024-01-01 22:00",
                "2024-01-01 23:00",
                "2024-01-02 00:00",
                "2024-01-02 01:00"
            ]
        );
        let at = Dates::At(utc("2024-01-01T22:59:59Z"));
        assert_eq!(
            labels(&select(&p, pl, &at, Utc::now())),
            ["2024-01-01 22:00"]
        );
    }

    #[test]
    fn date_ranges_are_clipped_to_start_and_end_and_daily_labels_are_dates() {
        let p = project(
            "pipeline p {\n schedule daily \"Asia/Seoul\"\n start 2024-01-02\n end 2024-01-03\n}",
        );
        let d = |s: &str| Bound::Day(NaiveDate::from_str(s).unwrap());
        let runs = select(
            &p,
            &p.pipelines[0],
            &Dates::Range(d("2024-01-01"), d("2024-01-05")),
            Utc::now(),
        );
        assert_eq!(labels(&runs), ["2024-01-02", "2024-01-03"]);
        assert_eq!(runs[0].interval.start, utc("2024-01-01T15:00:00Z"));
    }

    #[test]
    fn hours_order_before_the_day_they_end() {
        let day = Key {
            start: utc("2024-01-01T00:00:00Z"),
            end: utc("2024-01-02T00:00:00Z"),
        };
        let last_hour = Key {
            start: utc("2024-01-01T23:00:00Z"),
            end: utc("2024-01-02T00:00:00Z"),
        };
        let first_hour = Key {
            start: utc("2024-01-01T00:00:00Z"),
            end: utc("2024-01-01T01:00:00Z"),
        };
        let mut keys = vec![day, last_hour, first_hour];
        keys.sort();
        assert_eq!(keys, [first_hour, last_hour, day]);
    }
}
