//! The loaders' exact-number checks (`pipec_exact`, behind the runner's `_pipec_exact`,
//! `_pipec_int` and `_pipec_bigint`) against a plain reference: a CSV or NDJSON value is
//! accepted, and read as which integer, exactly when the reference says so.
//!
//! Input: a scale byte, a filler byte (what follows a short text in DuckDB's inline string),
//! then the value's text.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// What the value `text` is, read the slow and obvious way: `[spaces][+|-]digits[.digits]
/// [spaces]` with at least one digit; its fractional digits before trailing zeros; and its value
/// when it has none (as i128, so that no 19-digit text overflows here).
struct Reference {
    plain: bool,
    significant: usize,
    value: Option<i128>,
}

fn reference(text: &[u8]) -> Reference {
    let t = text.trim_ascii();
    let (negative, t) = match t {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, t),
    };
    let mut parts = t.splitn(2, |&b| b == b'.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next().unwrap_or_default();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let plain = !(whole.is_empty() && frac.is_empty()) && digits(whole) && digits(frac);
    let significant = frac.len() - frac.iter().rev().take_while(|&&b| b == b'0').count();
    let value = (plain && significant == 0)
        .then(|| {
            let s = std::str::from_utf8(whole).expect("ASCII digits");
            let s = s.trim_start_matches('0');
            if s.len() > 20 {
                return None;
            }
            let v = if s.is_empty() {
                0
            } else {
                s.parse::<i128>().ok()?
            };
            Some(if negative { -v } else { v })
        })
        .flatten();
    Reference {
        plain,
        significant,
        value,
    }
}

fuzz_target!(|data: &[u8]| {
    let [scale, filler, text @ ..] = data else {
        return;
    };
    let want = reference(text);
    let scale = usize::from(*scale % 40);
    for s in [0, 1, 2, scale] {
        assert_eq!(
            pipec_exact::exact(text, s),
            want.plain && want.significant <= s,
            "exact({text:?}, {s})"
        );
    }
    let int = want.value.and_then(|v| i64::try_from(v).ok());
    assert_eq!(pipec_exact::integer(text), int, "integer({text:?})");
    if text.len() <= 8 {
        let mut raw = [*filler; 8];
        raw[..text.len()].copy_from_slice(text);
        let short = pipec_exact::short_digits(u64::from_le_bytes(raw), text.len());
        let all_digits = !text.is_empty() && text.iter().all(u8::is_ascii_digit);
        let expected = all_digits.then(|| u32::try_from(int.expect("digits")).expect("8 digits"));
        assert_eq!(short, expected, "short_digits({text:?}, filler {filler})");
    }
});
