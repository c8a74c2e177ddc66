//! `_pipec_exact(text, scale)`: whether a text read from a file holds a number exactly, with at
//! most `scale` digits after the point (zeros aside). DuckDB's casts from text round (`3.7` to
//! the int `4`) and take other notations (`1e3`, `0x10`, `1_000`); the columns of integer and
//! decimal types are read as text and cast only when this holds. A Rust function: one pass over
//! the bytes, several times faster than a regular expression on every value.

use std::error::Error;

use duckdb::core::{DataChunkHandle, LogicalTypeId};
use duckdb::ffi::{duckdb_data_chunk_get_vector, duckdb_string_t, duckdb_vector_get_validity};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;
use duckdb::Connection;

/// The SQL name of the function.
pub(crate) const FUNCTION: &str = "_pipec_exact";

/// The SQL name of the function reading an `int` column's text ([`Integer`]).
pub(crate) const INT: &str = "_pipec_int";
/// The SQL name of the function reading a `bigint` column's text ([`Integer`]).
pub(crate) const BIGINT: &str = "_pipec_bigint";
/// Starts the error of [`INT`] and [`BIGINT`] on a text that is not exactly an integer.
pub(crate) const INEXACT: &str = "pipec: inexact value";

/// Registers the functions on `conn` (and so on its database).
pub(crate) fn register(conn: &Connection) -> duckdb::Result<()> {
    conn.register_scalar_function::<Exact>(FUNCTION)?;
    conn.register_scalar_function::<Integer<i32>>(INT)?;
    conn.register_scalar_function::<Integer<i64>>(BIGINT)
}

/// Whether `text` is `[spaces][+|-]digits[.digits][spaces]`, with at least one digit and at most
/// `scale` fractional digits before trailing zeros.
pub(crate) fn exact(text: &[u8], scale: usize) -> bool {
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
pub(crate) fn integer(text: &[u8]) -> Option<i64> {
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

/// The bytes of a DuckDB string, read in place (no UTF-8 check: [`exact`] and [`integer`] take
/// ASCII digits only, and any other byte makes a text not exact).
///
/// # Safety
/// `s` must be a string of a live DuckDB vector.
#[allow(unsafe_code)]
#[inline]
unsafe fn bytes(s: &duckdb_string_t) -> &[u8] {
    // The layout of DuckDB's `string_t`: a length, then up to 12 bytes inline, else a 4-byte
    // prefix and a pointer.
    let len = unsafe { s.value.inlined.length } as usize;
    if len <= 12 {
        unsafe { std::slice::from_raw_parts(s.value.inlined.inlined.as_ptr().cast::<u8>(), len) }
    } else {
        unsafe { std::slice::from_raw_parts(s.value.pointer.ptr.cast_const().cast::<u8>(), len) }
    }
}

/// The value of a text of 1 to 8 ASCII digits whose bytes are `raw` (little-endian, the first
/// byte lowest; bytes past `len` ignored), checked and read 8 bytes at once; `None` for any other
/// text (then [`integer`] reads it).
#[inline]
fn short_digits(raw: u64, len: usize) -> Option<u32> {
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

/// [`integer`] of a DuckDB string, with [`short_digits`] first for an inline one.
///
/// # Safety
/// `s` must be a string of a live DuckDB vector.
#[allow(unsafe_code)]
#[inline]
unsafe fn string_integer(s: &duckdb_string_t) -> Option<i64> {
    let len = unsafe { s.value.inlined.length } as usize;
    if len <= 8 {
        // The first 8 of the 12 inline bytes (DuckDB zeroes those past the text; they are
        // ignored anyway).
        let inline = unsafe { s.value.inlined.inlined.as_ptr() };
        let raw = u64::from_le(unsafe { inline.cast::<u64>().read_unaligned() });
        if let Some(v) = short_digits(raw, len) {
            return Some(i64::from(v));
        }
    }
    integer(unsafe { bytes(s) })
}

/// The validity mask of column `column` of `input`: `None` when every value is valid.
#[allow(unsafe_code)]
fn validity(input: &DataChunkHandle, column: u64) -> Option<*const u64> {
    // SAFETY: `input` is a live chunk with this column; the mask, when there is one, has a bit
    // per row of the chunk.
    let mask = unsafe {
        let vector = duckdb_data_chunk_get_vector(input.get_ptr(), column);
        duckdb_vector_get_validity(vector)
    };
    (!mask.is_null()).then_some(mask.cast_const())
}

/// Whether row `row` is null under `mask` (from [`validity`]).
#[allow(unsafe_code)]
#[inline]
fn is_null(mask: Option<*const u64>, row: usize) -> bool {
    // SAFETY: `row` is a row of the chunk the mask belongs to.
    mask.is_some_and(|m| unsafe { *m.add(row / 64) } >> (row % 64) & 1 == 0)
}

struct Exact;

// Reading DuckDB's vectors as slices is `unsafe` in the duckdb crate's API.
#[allow(unsafe_code)]
impl VScalar for Exact {
    type State = ();

    fn invoke(
        _: &(),
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> Result<(), Box<dyn Error>> {
        let rows = input.len();
        if rows == 0 {
            return Ok(());
        }
        let texts = input.flat_vector(0);
        let scales = input.flat_vector(1);
        let nulls = validity(input, 0);
        // SAFETY: DuckDB flattens the arguments of C API functions, and the signature makes them
        // a VARCHAR and an INTEGER vector of `rows` values.
        let values = unsafe { texts.as_slice_with_len::<duckdb_string_t>(rows) };
        let scale = unsafe { scales.as_slice_with_len::<i32>(rows) };
        let mut out = output.flat_vector();
        // SAFETY: the result vector is BOOLEAN (the signature) with room for the chunk's rows.
        let slots = unsafe { out.as_mut_slice_with_len::<bool>(rows) };
        for row in 0..rows {
            slots[row] = is_null(nulls, row) || {
                // SAFETY: a valid string of the input vector.
                let text = unsafe { bytes(&values[row]) };
                exact(text, usize::try_from(scale[row]).unwrap_or(0))
            };
        }
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeId::Varchar.into(), LogicalTypeId::Integer.into()],
            LogicalTypeId::Boolean.into(),
        )]
    }
}

/// An integer type the text of a column is read into by [`Integer`].
trait Target: Copy + TryFrom<i64> {
    const TYPE: LogicalTypeId;
    const NAME: &'static str;
}

impl Target for i32 {
    const TYPE: LogicalTypeId = LogicalTypeId::Integer;
    const NAME: &'static str = "INTEGER";
}

impl Target for i64 {
    const TYPE: LogicalTypeId = LogicalTypeId::Bigint;
    const NAME: &'static str = "BIGINT";
}

/// `_pipec_int(text)` / `_pipec_bigint(text)`: the integer `text` holds exactly ([`integer`]),
/// null for null; fails the query on any other text or a value out of the type's range. One
/// pass over the bytes instead of [`Exact`] and then DuckDB's cast.
struct Integer<T>(std::marker::PhantomData<T>);

/// The error of [`Integer`] on `text`.
#[cold]
fn inexact<T: Target>(text: &[u8]) -> Box<dyn Error> {
    format!(
        "{INEXACT}: {:?} is not exactly a {}",
        String::from_utf8_lossy(text),
        T::NAME
    )
    .into()
}

// Reading and writing DuckDB's vectors as slices is `unsafe` in the duckdb crate's API.
#[allow(unsafe_code)]
impl<T: Target> VScalar for Integer<T> {
    type State = ();

    fn invoke(
        _: &(),
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> Result<(), Box<dyn Error>> {
        let rows = input.len();
        if rows == 0 {
            return Ok(());
        }
        let texts = input.flat_vector(0);
        let nulls = validity(input, 0);
        // SAFETY: DuckDB flattens the arguments of C API functions, and the signature makes the
        // argument a VARCHAR vector of `rows` values.
        let values = unsafe { texts.as_slice_with_len::<duckdb_string_t>(rows) };
        let mut out = output.flat_vector();
        let mut null_rows = Vec::new();
        {
            // SAFETY: the result vector is of type `T` (the signature) with room for the rows.
            let slots = unsafe { out.as_mut_slice_with_len::<T>(rows) };
            for (row, (slot, value)) in slots.iter_mut().zip(values).enumerate() {
                if is_null(nulls, row) {
                    null_rows.push(row);
                    continue;
                }
                // SAFETY: a valid string of the input vector.
                match unsafe { string_integer(value) }.and_then(|v| T::try_from(v).ok()) {
                    Some(v) => *slot = v,
                    None => return Err(inexact::<T>(unsafe { bytes(value) })),
                }
            }
        }
        for row in null_rows {
            out.set_null(row);
        }
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeId::Varchar.into()],
            T::TYPE.into(),
        )]
    }
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
