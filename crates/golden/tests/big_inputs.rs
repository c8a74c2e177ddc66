//! Big inputs that once made `check` quadratic (issue 8) give the right diagnostics, rendered in
//! full. Not timed: `benches/big_inputs.rs` measures them (figures in docs/benchmarks.md).

use pipec_golden::{check_and_render, BigInput};

#[test]
fn sixteen_thousand_repeated_imports_each_render_with_their_own_line() {
    let n = 16_000;
    let (count, text) = check_and_render(&BigInput::RepeatedImports.text(n));
    assert_eq!(count, n - 1, "one diagnostic per repeated import");
    assert_eq!(text.matches("× ").count(), n - 1);
    // Excerpts come from the lines around each span: the last repeat is shown at its own line,
    // and the first import (line 1) is pointed at from every diagnostic.
    assert!(
        text.contains(&format!("[big.pipe:{n}:")),
        "no excerpt at line {n}"
    );
    assert!(text.contains(&format!("{n} │ import std.dates")));
}

#[test]
fn a_derive_of_twenty_thousand_chained_columns_checks_clean() {
    let (count, text) = check_and_render(&BigInput::WideDerive.text(20_000));
    assert_eq!(count, 0, "{text}");
}

#[test]
fn a_wide_derive_still_finds_a_column_differing_only_in_case() {
    let text = BigInput::WideDerive
        .text(5_000)
        .replace("\nsink wide", ",\n    C4000 = c4999\nsink wide");
    let (count, rendered) = check_and_render(&text);
    assert_eq!(count, 1, "{rendered}");
    assert!(
        rendered.contains("E0112") && rendered.contains("c4000"),
        "{rendered}"
    );
}

#[test]
fn a_hundred_kilobyte_time_zone_is_one_error_without_a_suggestion() {
    let (count, text) = check_and_render(&BigInput::LongTimeZone.text(100_000));
    assert_eq!(count, 1, "{}", &text[..text.len().min(2000)]);
    assert!(text.contains("unknown time zone"));
    assert!(!text.contains("did you mean"));
}
