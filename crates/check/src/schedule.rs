//! Intervals: which span of time each run of a pipeline processes, computed from its
//! [`IntervalRule`] in the schedule's time zone, and which interval is due at a given instant.
//!
//! - `Slots { minutes, tz }` (`daily`, `hourly`, `every`, and manual pipelines): each local day of
//!   `tz`, from its first instant (local midnight) to the next day's, is cut into consecutive
//!   slots of `minutes` of elapsed time; the day's last slot ends at the next midnight. A day
//!   that loses an hour to daylight saving has 23 hourly slots, one that gains an hour 25; a
//!   daily slot is the whole local day (23 or 25 hours long on those days).
//! - `Cron { expr, tz }`: from one fire time to the next, the fire times taken in `tz`.
//!
//! An interval belongs to the local date of its start (`@ds`, `{ds}`), and `{hh}` is the local
//! hour of its start; `@start`/`@end` are its bounds in UTC.

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::ir::{IntervalRule, Pipeline, Project, Schedule};

/// One run's interval: `[start, end)`, labelled in the time zone of its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// First instant.
    pub start: DateTime<Utc>,
    /// The instant just after the interval.
    pub end: DateTime<Utc>,
    /// The rule's time zone, in which `ds` and `hh` are read.
    pub tz: Tz,
}

impl Interval {
    /// The local start in the rule's time zone.
    pub fn local_start(&self) -> NaiveDateTime {
        self.start.with_timezone(&self.tz).naive_local()
    }

    /// `@ds`: the local date of the start.
    pub fn ds(&self) -> NaiveDate {
        self.local_start().date()
    }

    /// `{hh}`: the local hour of the start, `00`–`23`.
    pub fn hh(&self) -> String {
        format!("{:02}", self.local_start().hour())
    }

    /// `@start` as SQL timestamp text in UTC, `YYYY-MM-DD HH:MM:SS`.
    pub fn start_text(&self) -> String {
        self.start.format("%Y-%m-%d %H:%M:%S").to_string()
    }

    /// `@end` as SQL timestamp text in UTC, `YYYY-MM-DD HH:MM:SS`.
    pub fn end_text(&self) -> String {
        self.end.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// A rule ready to compute intervals: the zone parsed and the cron expression compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    tz: Tz,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Slots(i64),
    Cron(Box<croner::Cron>),
}

/// Parses a five-field cron expression the way the checker validates it. Beyond croner's own
/// rules, a list item may not be empty (croner reads `,` as a field matching nothing) and the
/// expression must fire: croner searches up to the year 5000 for a time that never comes,
/// which takes seconds.
pub(crate) fn parse_cron(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    use croner::errors::CronError;
    if expr
        .split_whitespace()
        .any(|field| field.split(',').any(str::is_empty))
    {
        return Err(CronError::InvalidPattern("an empty list item".into()));
    }
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .build()
        .parse(expr)?;
    if let Some(why) = never_fires(expr, &cron) {
        return Err(CronError::InvalidPattern(why));
    }
    Ok(cron)
}

/// Why a parsed cron expression never fires, if so (`0 0 31 2 *`, or `0 * 3 * +`: the 3rd
/// that is also a day of the week in an empty set). Every combination of month, weekday and leap
/// year occurs within 28 years, so the first minute of each day of 28 years tells.
fn never_fires(expr: &str, cron: &croner::Cron) -> Option<String> {
    let (minutes, hours) = (cron.pattern.minutes.values(), cron.pattern.hours.values());
    let (Some(&minute), Some(&hour)) = (minutes.first(), hours.first()) else {
        return Some(format!(
            "`{expr}` never fires: its minute or hour field selects nothing"
        ));
    };
    let first = NaiveDate::from_ymd_opt(2024, 1, 1)?;
    let fires = (0..28 * 366).any(|d| {
        (first + Duration::days(d))
            .and_hms_opt(u32::from(hour), u32::from(minute), 0)
            .is_some_and(|t| cron.is_time_matching(&t).unwrap_or(false))
    });
    (!fires).then(|| {
        format!(
            "`{expr}` never fires: no day matches its day-of-month, month and day-of-week fields"
        )
    })
}

/// The fields of a cron expression: name, smallest and largest value, and what the names stand
/// for where names are allowed.
const CRON_FIELDS: [(&str, u32, u32, &str); 5] = [
    ("minute", 0, 59, ""),
    ("hour", 0, 23, ""),
    ("day-of-month", 1, 31, ""),
    ("month", 1, 12, " or JAN–DEC"),
    ("day-of-week", 0, 7, " (0 and 7 are Sunday) or SUN–SAT"),
];

/// What is wrong with a five-field cron expression that [`parse_cron`] rejects, in pipec's
/// words: the byte range of the offending field inside `expr` and a message naming the field
/// and its range. `None` when `expr` parses.
pub(crate) fn cron_problem(expr: &str) -> Option<(std::ops::Range<usize>, String)> {
    parse_cron(expr).err()?;
    let fields: Vec<(usize, &str)> = expr
        .split_whitespace()
        .map(|f| (f.as_ptr() as usize - expr.as_ptr() as usize, f))
        .collect();
    for (i, &(at, field)) in fields.iter().enumerate().take(5) {
        let mut alone = ["*"; 5];
        alone[i] = field;
        if parse_cron(&alone.join(" ")).is_ok() {
            continue;
        }
        let (name, min, max, names) = CRON_FIELDS[i];
        // Values of the field: in each list item, the range before any `/step`.
        let out_of_range = field
            .split(',')
            .flat_map(|item| item.split('/').next().unwrap_or("").split('-'))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .find(|n| n.parse::<u32>().map_or(true, |v| v < min || v > max));
        let message = match out_of_range {
            Some(n) => format!(
                "{n} is out of range for the {name} field: it goes from {min} to {max}{names}"
            ),
            None => format!(
                "`{field}` is not a valid {name} field: write a number from {min} to {max}{names}, `*`, a range `a-b`, a list `a,b` or a step `*/n`"
            ),
        };
        return Some((at..at + field.len(), message));
    }
    if let Err(croner::errors::CronError::InvalidPattern(why)) = parse_cron(expr) {
        if why.contains("never fires") {
            return Some((0..expr.len(), why));
        }
    }
    let at = 0..expr.len();
    Some((
        at,
        "not a valid cron expression: five fields, minute hour day-of-month month day-of-week"
            .into(),
    ))
}

impl Rule {
    /// Compiles a checked rule; `None` only for a rule the checker would have rejected.
    pub fn new(rule: &IntervalRule) -> Option<Rule> {
        match rule {
            IntervalRule::Slots { minutes, tz } => {
                let minutes = i64::from(*minutes);
                (minutes > 0 && 1440 % minutes == 0).then_some(())?;
                Some(Rule {
                    tz: Tz::from_str(tz).ok()?,
                    kind: Kind::Slots(minutes),
                })
            }
            IntervalRule::Cron { expr, tz } => Some(Rule {
                tz: Tz::from_str(tz).ok()?,
                kind: Kind::Cron(Box::new(parse_cron(expr).ok()?)),
            }),
        }
    }

    /// The rule's time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The first instant of local date `d`: midnight, or the first instant after a
    /// daylight-saving gap that swallows midnight.
    pub fn day_start(&self, d: NaiveDate) -> DateTime<Utc> {
        let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        let mut t = midnight;
        // Gaps are at most a few hours; step by minutes until the wall-clock time exists.
        while t < midnight + Duration::days(1) {
            if let Some(dt) = self.tz.from_local_datetime(&t).earliest() {
                return dt.with_timezone(&Utc);
            }
            t += Duration::minutes(1);
        }
        Utc.from_utc_datetime(&midnight)
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    fn interval(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Interval {
        Interval {
            start,
            end,
            tz: self.tz,
        }
    }

    /// The slots of local day `d` (for a slot rule).
    fn slots_of_day(&self, d: NaiveDate, minutes: i64) -> Vec<Interval> {
        let (first, next) = (self.day_start(d), self.day_start(d + Duration::days(1)));
        let mut out = Vec::new();
        // A daily slot is the whole local day: 23 or 25 hours when daylight saving changes.
        if minutes >= 1440 {
            return vec![self.interval(first, next)];
        }
        let mut t = first;
        while t < next {
            let end = (t + Duration::minutes(minutes)).min(next);
            out.push(self.interval(t, end));
            t = end;
        }
        out
    }

    fn fire_at_or_after(&self, cron: &croner::Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        let next = cron.find_next_occurrence(&local, true).ok()?;
        Some(next.with_timezone(&Utc))
    }

    fn fire_after(&self, cron: &croner::Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        let next = cron.find_next_occurrence(&local, false).ok()?;
        Some(next.with_timezone(&Utc))
    }

    fn fire_at_or_before(&self, cron: &croner::Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        let prev = cron.find_previous_occurrence(&local, true).ok()?;
        Some(prev.with_timezone(&Utc))
    }

    /// The interval that contains instant `t` (`--at`).
    pub fn containing(&self, t: DateTime<Utc>) -> Option<Interval> {
        match &self.kind {
            Kind::Slots(minutes) => self
                .slots_of_day(self.local_date(t), *minutes)
                .into_iter()
                .find(|i| i.start <= t && t < i.end),
            Kind::Cron(cron) => {
                let start = self.fire_at_or_before(cron, t)?;
                let end = self.fire_after(cron, t)?;
                Some(self.interval(start, end))
            }
        }
    }

    /// Every interval that starts in `[from, to)`, in order.
    pub fn intervals(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Interval> {
        let mut out = Vec::new();
        if from >= to {
            return out;
        }
        match &self.kind {
            Kind::Slots(minutes) => {
                let mut d = self.local_date(from);
                while self.day_start(d) < to {
                    out.extend(
                        self.slots_of_day(d, *minutes)
                            .into_iter()
                            .filter(|i| from <= i.start && i.start < to),
                    );
                    d += Duration::days(1);
                }
            }
            Kind::Cron(cron) => {
                let mut start = self.fire_at_or_after(cron, from);
                while let Some(s) = start.filter(|s| *s < to) {
                    let Some(end) = self.fire_after(cron, s) else {
                        break;
                    };
                    out.push(self.interval(s, end));
                    start = Some(end);
                }
            }
        }
        out
    }

    /// The intervals that belong to local date `d` (those starting on it), in order.
    pub fn day(&self, d: NaiveDate) -> Vec<Interval> {
        self.intervals(self.day_start(d), self.day_start(d + Duration::days(1)))
    }

    /// The latest interval that has ended by `t` (its end is at or before `t`).
    pub fn ended_by(&self, t: DateTime<Utc>) -> Option<Interval> {
        let current = self.containing(t)?;
        if current.end <= t {
            return Some(current);
        }
        self.containing(current.start - Duration::seconds(1))
    }
}

/// Whether `rule` cuts some day into more than one interval (`hourly`, `every 6h`, a cron firing
/// several times a day), judged over four weeks for cron rules.
pub fn shorter_than_a_day(rule: &IntervalRule) -> bool {
    match rule {
        IntervalRule::Slots { minutes, .. } => *minutes < 1440,
        IntervalRule::Cron { .. } => Rule::new(rule).is_some_and(|r| {
            let first = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
            (0..28).any(|d| r.day(first + Duration::days(d)).len() > 1)
        }),
    }
}

/// The latest interval due at `now` for a pipeline with `schedule` and interval `rule`: the one
/// its most recent firing processes. `daily at 03:00` fires at 03:00 local time and processes
/// the previous local day; `hourly at :15` fires at minute 15 and processes the previous clock
/// hour; `every` and `cron` fire at the end of the interval. Schedules without a firing time of
/// their own (manual, `after`, `on file`, `continuous`) get the latest interval that has ended.
pub fn due(schedule: &Schedule, rule: &IntervalRule, now: DateTime<Utc>) -> Option<Interval> {
    let r = Rule::new(rule)?;
    match schedule {
        Schedule::Daily { hour, minute, .. } => {
            let cron = parse_cron(&format!("{minute} {hour} * * *")).ok()?;
            let fired = r.fire_at_or_before(&cron, now)?;
            let day = r.local_date(fired) - Duration::days(1);
            r.day(day).into_iter().next()
        }
        Schedule::Hourly { minute, .. } => {
            let cron = parse_cron(&format!("{minute} * * * *")).ok()?;
            let fired = r.fire_at_or_before(&cron, now)?;
            r.ended_by(fired - Duration::minutes(i64::from(*minute)))
        }
        _ => r.ended_by(now),
    }
}

/// [`due`] for a pipeline of `project`: an `after` pipeline is due for the earliest interval its
/// upstreams are all due for (they share its rule); in a cycle it falls back to [`due`].
pub fn pipeline_due(project: &Project, p: &Pipeline, now: DateTime<Utc>) -> Option<Interval> {
    fn go(project: &Project, p: &Pipeline, now: DateTime<Utc>, depth: usize) -> Option<Interval> {
        let Schedule::After { pipelines } = &p.schedule else {
            return due(&p.schedule, &p.interval, now);
        };
        let ups: Vec<&Pipeline> = project
            .pipelines
            .iter()
            .filter(|u| pipelines.contains(&u.name))
            .collect();
        if ups.is_empty() || depth > project.pipelines.len() {
            return due(&p.schedule, &p.interval, now);
        }
        ups.iter()
            .map(|u| go(project, u, now, depth + 1))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .min_by_key(|i| i.start)
    }
    go(project, p, now, 0)
}

#[cfg(test)]
mod cron_tests {
    use super::cron_problem;

    #[test]
    fn names_the_field_and_its_range() {
        let (at, msg) = cron_problem("0 25 * * *").unwrap();
        assert_eq!(at, 2..4);
        assert_eq!(
            msg,
            "25 is out of range for the hour field: it goes from 0 to 23"
        );
        let (at, msg) = cron_problem("0 3 * 13 *").unwrap();
        assert_eq!(at, 6..8);
        assert!(
            msg.starts_with("13 is out of range for the month field"),
            "{msg}"
        );
        let (at, msg) = cron_problem(" 61 3 * * *").unwrap();
        assert_eq!(at, 1..3);
        assert!(msg.contains("minute field: it goes from 0 to 59"), "{msg}");
        let (_, msg) = cron_problem("0 3 0 * *").unwrap();
        assert!(
            msg.contains("day-of-month field: it goes from 1 to 31"),
            "{msg}"
        );
        let (_, msg) = cron_problem("0 3 * * x").unwrap();
        assert!(
            msg.starts_with("`x` is not a valid day-of-week field"),
            "{msg}"
        );
        assert!(
            !msg.contains("Component") && !msg.contains("error"),
            "{msg}"
        );
        let (at, msg) = cron_problem("0 1-30 * * *").unwrap();
        assert_eq!(at, 2..6);
        assert!(
            msg.starts_with("30 is out of range for the hour field"),
            "{msg}"
        );
        let (_, msg) = cron_problem("*/x * * * *").unwrap();
        assert!(
            msg.starts_with("`*/x` is not a valid minute field"),
            "{msg}"
        );
        assert_eq!(cron_problem("*/15 3 * * MON-FRI"), None);
    }

    /// Found by fuzzing: croner accepted these, and computing their intervals took seconds.
    #[test]
    fn an_empty_list_item_and_a_day_no_month_has_are_errors() {
        let (at, msg) = cron_problem(", 4 * * 1").unwrap();
        assert_eq!(at, 0..1);
        assert!(msg.starts_with("`,` is not a valid minute field"), "{msg}");
        let (at, _) = cron_problem("0 1,,2 * * *").unwrap();
        assert_eq!(at, 2..6);
        let (at, msg) = cron_problem("0 0 31 2 *").unwrap();
        assert_eq!(at, 0..10);
        assert_eq!(
            msg,
            "`0 0 31 2 *` never fires: no day matches its day-of-month, month and day-of-week fields"
        );
        let (at, msg) = cron_problem("0 * 3 * +").unwrap();
        assert_eq!(at, 8..9);
        assert!(
            msg.starts_with("`+` is not a valid day-of-week field"),
            "{msg}"
        );
        let (_, msg) = cron_problem("0 0 30,31 2 *").unwrap();
        assert!(msg.contains("never fires"), "{msg}");
        assert!(cron_problem("0 0 30 2,4 *").is_none());
        assert!(cron_problem("0 0 29 2 *").is_none());
        assert!(cron_problem("0 0 31 2 1").is_none());
        assert!(cron_problem("0 0 L 2 *").is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).unwrap()
    }

    fn slots(minutes: u32, tz: &str) -> Rule {
        Rule::new(&IntervalRule::Slots {
            minutes,
            tz: tz.into(),
        })
        .unwrap()
    }

    fn cron(expr: &str, tz: &str) -> Rule {
        Rule::new(&IntervalRule::Cron {
            expr: expr.into(),
            tz: tz.into(),
        })
        .unwrap()
    }

    fn assert_contiguous(iv: &[Interval]) {
        for w in iv.windows(2) {
            assert_eq!(w[0].end, w[1].start, "gap or overlap between {w:?}");
        }
    }

    #[test]
    fn sub_daily_rules_are_told_apart_from_daily_ones() {
        let slots = |minutes| IntervalRule::Slots {
            minutes,
            tz: "UTC".into(),
        };
        let cron = |expr: &str| IntervalRule::Cron {
            expr: expr.into(),
            tz: "Asia/Seoul".into(),
        };
        assert!(shorter_than_a_day(&slots(60)));
        assert!(!shorter_than_a_day(&slots(1440)));
        assert!(shorter_than_a_day(&cron("0 */6 * * *")));
        assert!(shorter_than_a_day(&cron("0 9,17 * * 1-5")));
        assert!(!shorter_than_a_day(&cron("0 3 * * *")));
        assert!(!shorter_than_a_day(&cron("0 3 * * 1")));
    }

    #[test]
    fn a_daily_interval_in_seoul_starts_at_local_midnight() {
        let day = slots(1440, "Asia/Seoul").day(date("2024-01-01"));
        assert_eq!(day.len(), 1);
        assert_eq!(day[0].start, utc("2023-12-31T15:00:00Z"));
        assert_eq!(day[0].end, utc("2024-01-01T15:00:00Z"));
        assert_eq!(day[0].ds(), date("2024-01-01"));
        assert_eq!(day[0].hh(), "00");
        assert_eq!(day[0].start_text(), "2023-12-31 15:00:00");
    }

    #[test]
    fn a_daily_interval_on_a_25_hour_day_is_the_whole_day() {
        // Europe/Berlin falls back on 2024-10-27: one run for the day, 25 hours long (before,
        // a 24-hour slot and a 1-hour slot, both with ds 2024-10-27, the second overwriting
        // the first's partition).
        let rule = slots(1440, "Europe/Berlin");
        let day = rule.day(date("2024-10-27"));
        assert_eq!(day.len(), 1);
        assert_eq!(day[0].start, utc("2024-10-26T22:00:00Z"));
        assert_eq!(day[0].end, utc("2024-10-27T23:00:00Z"));
        let spring = rule.day(date("2024-03-31"));
        assert_eq!(spring.len(), 1);
        assert_eq!(spring[0].end - spring[0].start, Duration::hours(23));
        assert_eq!(
            rule.containing(utc("2024-10-27T22:30:00Z")).map(|i| i.ds()),
            Some(date("2024-10-27"))
        );
    }

    #[test]
    fn hourly_new_york_spring_forward_day_has_23_intervals() {
        let day = slots(60, "America/New_York").day(date("2024-03-10"));
        assert_eq!(day.len(), 23);
        assert_contiguous(&day);
        assert_eq!(day[0].start, utc("2024-03-10T05:00:00Z"));
        assert_eq!(day[22].end, utc("2024-03-11T04:00:00Z"));
        let hours: Vec<String> = day.iter().map(Interval::hh).collect();
        assert_eq!(&hours[..3], ["00", "01", "03"]);
        assert!(day.iter().all(|i| i.end - i.start == Duration::hours(1)));
        assert!(day.iter().all(|i| i.ds() == date("2024-03-10")));
        // The daily interval of that day is 23 hours long.
        let daily = slots(1440, "America/New_York").day(date("2024-03-10"));
        assert_eq!(daily[0].end - daily[0].start, Duration::hours(23));
    }

    #[test]
    fn hourly_berlin_fall_back_day_has_25_intervals() {
        let day = slots(60, "Europe/Berlin").day(date("2024-10-27"));
        assert_eq!(day.len(), 25);
        assert_contiguous(&day);
        let hours: Vec<String> = day.iter().map(Interval::hh).collect();
        assert_eq!(&hours[..5], ["00", "01", "02", "02", "03"]);
        assert_eq!(day[0].start, utc("2024-10-26T22:00:00Z"));
        assert_eq!(day[24].end, utc("2024-10-27T23:00:00Z"));
        // Every 15 minutes: 25 hours of quarter hours.
        assert_eq!(
            slots(15, "Europe/Berlin").day(date("2024-10-27")).len(),
            100
        );
    }

    #[test]
    fn utc_hourly_days_always_have_24_intervals() {
        let day = slots(60, "UTC").day(date("2024-03-10"));
        assert_eq!(day.len(), 24);
        assert_eq!(day[13].hh(), "13");
        assert_eq!(day[13].start_text(), "2024-03-10 13:00:00");
    }

    #[test]
    fn slots_that_do_not_divide_a_short_day_end_at_midnight() {
        // 90-minute slots on a 23-hour day: 15 full slots and a last one of 30 minutes.
        let day = slots(90, "America/New_York").day(date("2024-03-10"));
        assert_eq!(day.len(), 16);
        assert_eq!(day[15].end - day[15].start, Duration::minutes(30));
        assert_eq!(day[15].end, utc("2024-03-11T04:00:00Z"));
    }

    #[test]
    fn a_zone_whose_midnight_does_not_exist_starts_its_day_after_the_gap() {
        // Santiago moved clocks from 00:00 to 01:00 on 2024-09-08.
        let r = slots(1440, "America/Santiago");
        let day = r.day(date("2024-09-08"));
        assert_eq!(day.len(), 1);
        assert_eq!(day[0].start, utc("2024-09-08T04:00:00Z"));
        assert_eq!(day[0].ds(), date("2024-09-08"));
        assert_eq!(day[0].end - day[0].start, Duration::hours(23));
    }

    #[test]
    fn cron_intervals_run_from_one_fire_time_to_the_next() {
        let r = cron("0 3 * * *", "Asia/Seoul");
        let day = r.day(date("2024-01-01"));
        assert_eq!(day.len(), 1);
        // 03:00 Seoul on the 1st to 03:00 on the 2nd: not the calendar day of `daily`.
        assert_eq!(day[0].start, utc("2023-12-31T18:00:00Z"));
        assert_eq!(day[0].end, utc("2024-01-01T18:00:00Z"));
        assert_eq!(day[0].ds(), date("2024-01-01"));
        assert_eq!(day[0].hh(), "03");
        let daily = slots(1440, "Asia/Seoul").day(date("2024-01-01"));
        assert_ne!(day[0].start, daily[0].start);
    }

    #[test]
    fn cron_hourly_in_new_york_gives_23_intervals_on_the_spring_forward_day() {
        let day = cron("0 * * * *", "America/New_York").day(date("2024-03-10"));
        assert_eq!(day.len(), 23);
        assert_contiguous(&day);
        assert!(day.iter().all(|i| i.end - i.start == Duration::hours(1)));
    }

    #[test]
    fn cron_business_hours_last_interval_spans_the_night() {
        let r = cron("*/10 8-18 * * 1-5", "UTC");
        // Friday 2024-01-05: 08:00 … 18:50, the last interval runs to Monday 08:00.
        let day = r.day(date("2024-01-05"));
        assert_eq!(day.len(), 66);
        assert_contiguous(&day);
        assert_eq!(day[0].start, utc("2024-01-05T08:00:00Z"));
        assert_eq!(day[65].start, utc("2024-01-05T18:50:00Z"));
        assert_eq!(day[65].end, utc("2024-01-08T08:00:00Z"));
        assert!(r.day(date("2024-01-06")).is_empty());
    }

    #[test]
    fn containing_and_ranges_agree_with_days() {
        let r = slots(15, "Asia/Kolkata");
        let t = utc("2024-05-01T10:07:00Z");
        let i = r.containing(t).unwrap();
        assert_eq!(i.start, utc("2024-05-01T10:00:00Z"));
        assert_eq!(i.end, utc("2024-05-01T10:15:00Z"));
        let range = r.intervals(utc("2024-05-01T10:00:00Z"), utc("2024-05-01T11:00:00Z"));
        assert_eq!(range.len(), 4);
        let c = cron("30 2 * * *", "UTC");
        let i = c.containing(utc("2024-05-01T01:00:00Z")).unwrap();
        assert_eq!(i.start, utc("2024-04-30T02:30:00Z"));
        assert_eq!(i.end, utc("2024-05-01T02:30:00Z"));
        assert_eq!(i.ds(), date("2024-04-30"));
    }

    fn due_at(schedule: Schedule, rule: IntervalRule, now: &str) -> Interval {
        due(&schedule, &rule, utc(now)).unwrap()
    }

    #[test]
    fn daily_due_is_the_previous_local_day_once_the_time_has_passed() {
        let s = Schedule::Daily {
            hour: 3,
            minute: 0,
            tz: "Asia/Seoul".into(),
        };
        let rule = IntervalRule::Slots {
            minutes: 1440,
            tz: "Asia/Seoul".into(),
        };
        // 2024-01-02 02:00 Seoul: the 2nd's run has not fired yet.
        let before = due_at(s.clone(), rule.clone(), "2024-01-01T17:00:00Z");
        assert_eq!(before.ds(), date("2023-12-31"));
        let after = due_at(s, rule, "2024-01-01T19:00:00Z");
        assert_eq!(after.ds(), date("2024-01-01"));
        assert_eq!(after.start, utc("2023-12-31T15:00:00Z"));
    }

    #[test]
    fn hourly_due_is_the_previous_hour_after_the_minute_mark() {
        let s = Schedule::Hourly {
            minute: 15,
            tz: "UTC".into(),
        };
        let rule = IntervalRule::Slots {
            minutes: 60,
            tz: "UTC".into(),
        };
        let i = due_at(s.clone(), rule.clone(), "2024-01-01T05:20:00Z");
        assert_eq!(i.start, utc("2024-01-01T04:00:00Z"));
        let i = due_at(s, rule, "2024-01-01T05:10:00Z");
        assert_eq!(i.start, utc("2024-01-01T03:00:00Z"));
    }

    #[test]
    fn hourly_due_in_the_repeated_hour_is_the_first_of_the_two() {
        let s = Schedule::Hourly {
            minute: 15,
            tz: "Europe/Berlin".into(),
        };
        let rule = IntervalRule::Slots {
            minutes: 60,
            tz: "Europe/Berlin".into(),
        };
        // 01:20Z is 02:20 CET, the second 02 o'clock: the first one (CEST) has ended.
        let i = due_at(s, rule, "2024-10-27T01:20:00Z");
        assert_eq!(i.start, utc("2024-10-27T00:00:00Z"));
        assert_eq!(i.end, utc("2024-10-27T01:00:00Z"));
        assert_eq!(i.hh(), "02");
    }

    fn project(files: &[(&str, &str)]) -> Project {
        let mut sources = pipec_diag::SourceMap::new();
        let roots: Vec<_> = files.iter().map(|(n, t)| sources.add(*n, *t)).collect();
        let checked = crate::check(&mut sources, &roots, &crate::NoFiles);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        checked.project
    }

    #[test]
    fn after_pipelines_take_their_upstreams_rule_and_due_interval() {
        let p = project(&[
            (
                "a.pipe",
                "pipeline a { schedule daily at 03:00 \"Asia/Seoul\" }",
            ),
            ("b.pipe", "pipeline b { schedule daily \"Asia/Seoul\" }"),
            ("c.pipe", "pipeline c { schedule after a, b }"),
            ("d.pipe", "pipeline d { schedule after c }"),
        ]);
        let seoul_days = IntervalRule::Slots {
            minutes: 1440,
            tz: "Asia/Seoul".into(),
        };
        assert!(p.pipelines.iter().all(|x| x.interval == seoul_days));
        // 2024-01-02 02:00 Seoul: `b` fired for the 1st, `a` not yet; `d` waits for `a`.
        let now = utc("2024-01-01T17:00:00Z");
        let d = p.pipelines.iter().find(|x| x.name == "d").unwrap();
        assert_eq!(pipeline_due(&p, d, now).unwrap().ds(), date("2023-12-31"));
        let now = utc("2024-01-01T19:00:00Z");
        assert_eq!(pipeline_due(&p, d, now).unwrap().ds(), date("2024-01-01"));
    }

    #[test]
    fn daily_and_cron_at_the_same_time_lower_to_different_rules() {
        let p = project(&[
            (
                "a.pipe",
                "pipeline a { schedule daily at 03:00 \"Asia/Seoul\" }",
            ),
            (
                "b.pipe",
                "pipeline b { schedule cron \"0 3 * * *\" \"Asia/Seoul\" }",
            ),
        ]);
        assert_ne!(p.pipelines[0].schedule, p.pipelines[1].schedule);
        assert_ne!(p.pipelines[0].interval, p.pipelines[1].interval);
        let first = |i: usize| {
            Rule::new(&p.pipelines[i].interval)
                .unwrap()
                .day(date("2024-01-01"))[0]
        };
        assert_eq!(first(0).start, utc("2023-12-31T15:00:00Z"));
        assert_eq!(first(1).start, utc("2023-12-31T18:00:00Z"));
    }

    #[test]
    fn every_and_cron_due_is_the_interval_that_just_ended() {
        let s = Schedule::Every {
            minutes: 15,
            tz: "UTC".into(),
        };
        let rule = IntervalRule::Slots {
            minutes: 15,
            tz: "UTC".into(),
        };
        let i = due_at(s.clone(), rule.clone(), "2024-01-01T05:15:00Z");
        assert_eq!(i.start, utc("2024-01-01T05:00:00Z"));
        let i = due_at(s, rule, "2024-01-01T05:14:59Z");
        assert_eq!(i.start, utc("2024-01-01T04:45:00Z"));
        let s = Schedule::Cron {
            expr: "0 3 * * *".into(),
            tz: "UTC".into(),
        };
        let rule = IntervalRule::Cron {
            expr: "0 3 * * *".into(),
            tz: "UTC".into(),
        };
        let i = due_at(s, rule, "2024-01-02T04:00:00Z");
        assert_eq!(i.start, utc("2024-01-01T03:00:00Z"));
        assert_eq!(i.end, utc("2024-01-02T03:00:00Z"));
    }
}
