//! Which intervals a run covers: one date, a backfill range, or the latest due per the schedule.

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use pipec_check::ir::{Pipeline, Schedule};
use pipec_sql::Interval;

/// The dates asked for on the command line.
#[derive(Debug, Clone)]
pub enum Dates {
    /// The latest interval that is due by the schedule.
    Latest,
    /// One interval.
    One(NaiveDate),
    /// Every interval from the first to the second date, inclusive.
    Range(NaiveDate, NaiveDate),
}

/// The daily interval of `ds`: from `ds 00:00` to the next day's `00:00`.
pub fn interval(ds: NaiveDate) -> Interval {
    let next = ds + Duration::days(1);
    Interval::daily(&ds.to_string(), &next.to_string())
}

/// The dates of `p` selected by `dates`, clipped to the pipeline's start and end dates.
pub(crate) fn select(p: &Pipeline, dates: &Dates, now: DateTime<Utc>) -> Vec<NaiveDate> {
    let start = p.start.as_deref().and_then(|d| NaiveDate::from_str(d).ok());
    let end = p.end.as_deref().and_then(|d| NaiveDate::from_str(d).ok());
    let within = |d: &NaiveDate| start.is_none_or(|s| *d >= s) && end.is_none_or(|e| *d <= e);
    match dates {
        Dates::One(d) => vec![*d],
        Dates::Range(a, b) => a
            .iter_days()
            .take_while(|d| d <= b)
            .filter(within)
            .collect(),
        Dates::Latest => due_interval(p, now).into_iter().filter(within).collect(),
    }
}

/// The latest interval due at `now`: a run that fires at time T processes the day before T's
/// date in the schedule's time zone (Airflow's logical date), so a daily 03:00 run on the 2nd
/// processes the 1st.
pub fn due_interval(p: &Pipeline, now: DateTime<Utc>) -> Option<NaiveDate> {
    match &p.schedule {
        Schedule::Cron { expr, tz } => {
            let tz: chrono_tz::Tz = tz.parse().ok()?;
            let cron = croner::Cron::from_str(expr).ok()?;
            let local_now = now.with_timezone(&tz);
            let last = cron.find_previous_occurrence(&local_now, true).ok();
            last.map(|fire| fire.date_naive() - Duration::days(1))
        }
        _ => Some(now.date_naive() - Duration::days(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn pipeline(schedule: Schedule) -> Pipeline {
        let mut sources = pipec_diag::SourceMap::new();
        let f = sources.add("p.pipe", "pipeline p {}");
        let mut checked = pipec_check::check(&mut sources, &[f], &pipec_check::NoFiles);
        let mut p = checked.project.pipelines.remove(0);
        p.schedule = schedule;
        p
    }

    #[test]
    fn daily_runs_process_the_previous_day_in_the_schedule_time_zone() {
        let p = pipeline(Schedule::Cron {
            expr: "0 3 * * *".into(),
            tz: "Asia/Seoul".into(),
        });
        // 2024-01-02 02:00 in Seoul is 2024-01-01 17:00 UTC: the 2nd's run has not fired yet.
        let before = Utc.with_ymd_and_hms(2024, 1, 1, 17, 0, 0).unwrap();
        assert_eq!(
            due_interval(&p, before),
            NaiveDate::from_ymd_opt(2023, 12, 31)
        );
        let after = Utc.with_ymd_and_hms(2024, 1, 1, 19, 0, 0).unwrap();
        assert_eq!(due_interval(&p, after), NaiveDate::from_ymd_opt(2024, 1, 1));
    }
}
