//! Whether a text read from a CSV or NDJSON file holds a number exactly, and which integer: the
//! checks behind the runner's `_pipec_exact`, `_pipec_int` and `_pipec_bigint` DuckDB functions
//! (`pipec-runner`'s `exact.rs`), kept free of DuckDB so that they can be fuzzed
//! (`fuzz/fuzz_targets/exact.rs`). DuckDB's casts from text round (`3.7` to the int `4`) and
//! take other notations (`1e3`, `0x10`, `1_000`); the loaders read integer and decimal columns as
//! text and cast only what these accept.

/// Whether `text` is `[spaces][+|-]digits[.digits][spaces]`, with at least one digit and at most
/// `scale` fractional digits before trailing zeros.
pub fn exact(text: &[u8], scale: usize) -> bool {
    let t = text.trim_ascii();
    let t = t
        .strip_prefix(b"+")
        .or_else(|| t.strip_prefix(b"-"))
        .unwrap_or(t);
    let (whole, frac) = match t.iter().position(|&b| b == b'.') {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, &t[..0]),
    };
    if whole.is_empty() && frac.is_empty() {
        return false;
    }
    if !whole.iter().all(u8::is_ascii_digit) || !frac.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let significant = frac.len() - frac.iter().rev().take_while(|&&b| b == b'0').count();
    significant <= scale
}

/// Whether `text` is `[spaces][+|-]digits[.zeros][spaces]` (at least one digit) and, if so, its
/// value when it fits an `i64`: `Some` exactly when [`exact`] holds with scale 0 and the value
/// fits; the texts DuckDB's cast reads as the same integer.
#[inline]
pub fn integer(text: &[u8]) -> Option<i64> {
    // The common case first: a sign and at most 18 plain digits, which cannot overflow (a byte
    // that is not a digit makes `digits` false; the wrapping arithmetic is then ignored).
    let (negative, t) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if !t.is_empty() && t.len() <= 18 {
        let mut v: i64 = 0;
        let mut digits = true;
        for &b in t {
            let d = b.wrapping_sub(b'0');
            digits &= d <= 9;
            v = v.wrapping_mul(10).wrapping_add(i64::from(d));
        }
        if digits {
            return Some(if negative { -v } else { v });
        }
    }
    integer_written(text)
}

/// [`integer`] for any text: spaces, a point and trailing zeros, long digit strings.
#[inline(never)]
fn integer_written(text: &[u8]) -> Option<i64> {
    let t = text.trim_ascii();
    let (negative, t) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (whole, frac) = match t.iter().position(|&b| b == b'.') {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, &t[..0]),
    };
    if (whole.is_empty() && frac.is_empty()) || !frac.iter().all(|&b| b == b'0') {
        return None;
    }
    let mut v: i64 = 0;
    for &b in whole {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?;
        v = if negative {
            v.checked_sub(i64::from(d))?
        } else {
            v.checked_add(i64::from(d))?
        };
    }
    Some(v)
}

/// The value of a text of 1 to 8 ASCII digits whose bytes are `raw` (little-endian, the first
/// byte lowest; bytes past `len` ignored), checked and read 8 bytes at once; `None` for any other
/// text (then [`integer`] reads it).
#[inline]
pub fn short_digits(raw: u64, len: usize) -> Option<u32> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    if len == 0 || len > 8 {
        return None;
    }
    // The text's bytes moved to the top (the digits last), the bytes below them '0'.
    let bits = 8 * len as u32;
    let chunk = (raw << (64 - bits)) | ZEROS.checked_shr(bits).unwrap_or(0);
    // Every byte is 0x30..=0x39: its high nibble is 3, also after adding 6.
    if (chunk & HIGH) | ((chunk.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4)
        != 0x3333_3333_3333_3333
    {
        return None;
    }
    // Pairs, then quadruples, then all eight digits.
    let v = ((chunk & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561)) >> 8;
    let v = ((v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601)) >> 16;
    Some(((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::{exact, integer, short_digits};

    /// [`short_digits`] of `text`, its bytes past the text set to `junk`.
    fn short(text: &[u8], junk: u8) -> Option<u32> {
        let mut b = [junk; 8];
        b[..text.len().min(8)].copy_from_slice(&text[..text.len().min(8)]);
        short_digits(u64::from_le_bytes(b), text.len())
    }

    #[test]
    fn short_digits_read_what_integer_reads() {
        let mut texts: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
        texts.extend((0..100_000).map(|i| format!("{i:08}")));
        texts
            .extend(["99999999", "12345678", "87654321", "00000000", "10000000"].map(String::from));
        for t in &texts {
            for junk in [0, b'5', 0xFF] {
                let want = integer(t.as_bytes()).and_then(|v| u32::try_from(v).ok());
                assert_eq!(short(t.as_bytes(), junk), want, "{t}");
            }
        }
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "0x10",
            "12a",
            "/",
            ":",
            "123456789",
            "é",
        ] {
            for junk in [0, b'5'] {
                assert_eq!(short(bad.as_bytes(), junk), None, "{bad}");
            }
        }
        // Every single byte.
        for b in 0..=255u8 {
            let want = b.is_ascii_digit().then(|| u32::from(b - b'0'));
            assert_eq!(short(&[b], b'7'), want, "{b}");
            assert_eq!(
                short(&[b'1', b, b'2'], 0),
                want.map(|d| 102 + 10 * d),
                "{b}"
            );
        }
    }

    #[test]
    fn only_plain_numbers_within_the_scale_are_exact() {
        for ok in ["42", "-7", "+3", " 5 ", "007", "4.0", "4.", "4.000"] {
            assert!(exact(ok.as_bytes(), 0), "{ok}");
        }
        for bad in [
            "3.7", "1e3", "0x10", "1_000", "", " ", ".", "-", "4.01", "1,000", "NaN",
        ] {
            assert!(!exact(bad.as_bytes(), 0), "{bad}");
        }
        assert!(exact(b"1.50", 2) && exact(b".5", 2) && exact(b"1.2500", 2));
        assert!(!exact(b"1.005", 2));
    }

    #[test]
    fn an_integer_is_read_exactly_when_it_is_exact_and_fits() {
        for (text, want) in [
            ("42", Some(42)),
            ("-7", Some(-7)),
            ("+3", Some(3)),
            (" 5 ", Some(5)),
            ("007", Some(7)),
            ("4.0", Some(4)),
            ("4.", Some(4)),
            (".0", Some(0)),
            ("-0", Some(0)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
        ] {
            assert_eq!(integer(text.as_bytes()), want, "{text}");
        }
        for bad in [
            "3.7", "1e3", "0x10", "1_000", "", " ", ".", "-", "+", "4.01", "1,000", "NaN", "--1",
            "+-1", "1 2", "1.0.0", "é",
        ] {
            assert_eq!(integer(bad.as_bytes()), None, "{bad}");
            assert!(!exact(bad.as_bytes(), 0), "{bad}");
        }
    }
}
