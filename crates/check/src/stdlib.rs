//! The standard library: `.pipe` modules from `std/`, embedded in the binary and imported as
//! `std.<name>`.

/// Every std module as (name, source text).
pub const MODULES: &[(&str, &str)] = &[
    ("dates", include_str!("../../../std/dates.pipe")),
    ("dedupe", include_str!("../../../std/dedupe.pipe")),
    ("freshness", include_str!("../../../std/freshness.pipe")),
    ("nps", include_str!("../../../std/nps.pipe")),
    ("scd", include_str!("../../../std/scd.pipe")),
];

/// The text of std module `name` (e.g. `dedupe`).
pub fn get(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
