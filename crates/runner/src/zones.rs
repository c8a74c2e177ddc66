//! `_pipec_to_timezone(ts, zone)` and `_pipec_from_timezone(ts, zone)`: time-zone conversion of
//! naive timestamps with chrono-tz (the bundled DuckDB has no ICU extension, so no zone database).
//!
//! `to_timezone` reads `ts` as UTC and gives the wall clock in `zone`. `from_timezone` reads `ts` as
//! a wall clock in `zone` and gives UTC; like Java's `ZonedDateTime.of` (and so Spark's
//! `to_utc_timestamp`), a wall time repeated by a DST change takes the earlier offset, and one
//! skipped by it is moved later by the length of the gap.

use std::error::Error;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use duckdb::core::{DataChunkHandle, LogicalTypeId};
use duckdb::ffi::duckdb_string_t;
use duckdb::types::DuckString;
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;
use duckdb::Connection;

/// Registers both functions on `conn` (and so on its database).
pub(crate) fn register(conn: &Connection) -> duckdb::Result<()> {
    conn.register_scalar_function::<ToZone>("_pipec_to_timezone")?;
    conn.register_scalar_function::<FromZone>("_pipec_from_timezone")
}

fn naive(micros: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|d| d.naive_utc())
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// The wall clock in `tz` at the UTC instant `utc`.
pub(crate) fn to_zone(utc: NaiveDateTime, tz: Tz) -> NaiveDateTime {
    tz.from_utc_datetime(&utc).naive_local()
}

/// The UTC instant of the wall clock `local` in `tz` (earlier offset in an overlap; moved later
/// by the gap in a gap).
pub(crate) fn from_zone(local: NaiveDateTime, tz: Tz) -> NaiveDateTime {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.naive_utc(),
        LocalResult::None => {
            // The offset in force before the gap: read `local` with it.
            let before = tz
                .offset_from_utc_datetime(&(local - chrono::Duration::days(1)))
                .fix();
            local - chrono::Duration::seconds(i64::from(before.local_minus_utc()))
        }
    }
}

/// Applies `f` to every row of a (TIMESTAMP, VARCHAR) chunk; null in, null out.
#[allow(unsafe_code)]
fn convert(
    input: &mut DataChunkHandle,
    output: &mut dyn WritableVector,
    f: fn(NaiveDateTime, Tz) -> NaiveDateTime,
) -> Result<(), Box<dyn Error>> {
    let rows = input.len();
    if rows == 0 {
        return Ok(());
    }
    let ts = input.flat_vector(0);
    let zones = input.flat_vector(1);
    // SAFETY: DuckDB flattens the arguments of C API functions, and the signature makes them a
    // TIMESTAMP (microseconds since the epoch) and a VARCHAR vector of `rows` values.
    let values = unsafe { ts.as_slice_with_len::<i64>(rows) };
    let names = unsafe { zones.as_slice_with_len::<duckdb_string_t>(rows) };
    let mut results: Vec<Option<i64>> = Vec::with_capacity(rows);
    let mut cached: Option<(String, Tz)> = None;
    for row in 0..rows {
        if ts.row_is_null(row as u64) || zones.row_is_null(row as u64) {
            results.push(None);
            continue;
        }
        let name = DuckString::new(&mut { names[row] }).as_str().to_string();
        let tz = match &cached {
            Some((n, tz)) if *n == name => *tz,
            _ => {
                let tz: Tz = name
                    .parse()
                    .map_err(|_| format!("unknown time zone `{name}`"))?;
                cached = Some((name, tz));
                tz
            }
        };
        let t = naive(values[row]).ok_or("timestamp out of range")?;
        results.push(Some(micros(f(t, tz))));
    }
    let mut out = output.flat_vector();
    // SAFETY: the result is TIMESTAMP (the signature) with room for the chunk's rows.
    let slots = unsafe { out.as_mut_slice_with_len::<i64>(rows) };
    for (slot, r) in slots.iter_mut().zip(&results) {
        *slot = r.unwrap_or(0);
    }
    for (row, r) in results.iter().enumerate() {
        if r.is_none() {
            out.set_null(row);
        }
    }
    Ok(())
}

fn signature() -> Vec<ScalarFunctionSignature> {
    vec![ScalarFunctionSignature::exact(
        vec![
            LogicalTypeId::Timestamp.into(),
            LogicalTypeId::Varchar.into(),
        ],
        LogicalTypeId::Timestamp.into(),
    )]
}

struct ToZone;

impl VScalar for ToZone {
    type State = ();

    fn invoke(
        _: &(),
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> Result<(), Box<dyn Error>> {
        convert(input, output, to_zone)
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        signature()
    }
}

struct FromZone;

impl VScalar for FromZone {
    type State = ();

    fn invoke(
        _: &(),
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> Result<(), Box<dyn Error>> {
        convert(input, output, from_zone)
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        signature()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn converts_naive_timestamps_like_java() {
        let seoul: Tz = "Asia/Seoul".parse().unwrap();
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            to_zone(t("2024-01-01 15:00:00"), seoul),
            t("2024-01-02 00:00:00")
        );
        assert_eq!(
            from_zone(t("2024-01-02 00:00:00"), seoul),
            t("2024-01-01 15:00:00")
        );
        // 2024-11-03 01:30 happens twice in New York: the earlier offset (EDT, -4).
        assert_eq!(
            from_zone(t("2024-11-03 01:30:00"), ny),
            t("2024-11-03 05:30:00")
        );
        // 2024-03-10 02:30 does not exist: moved one hour later, to 03:30 EDT.
        assert_eq!(
            from_zone(t("2024-03-10 02:30:00"), ny),
            t("2024-03-10 07:30:00")
        );
    }
}
