//! `_pipec_exact(text, scale)`: whether a text read from a file holds a number exactly, with at
//! most `scale` digits after the point (zeros aside). DuckDB's casts from text round (`3.7` to
//! the int `4`) and take other notations (`1e3`, `0x10`, `1_000`); the columns of integer and
//! decimal types are read as text and cast only when this holds. A Rust function: one pass over
//! the bytes, several times faster than a regular expression on every value.

use std::error::Error;

use duckdb::core::{DataChunkHandle, LogicalTypeId};
use duckdb::ffi::duckdb_string_t;
use duckdb::types::DuckString;
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;
use duckdb::Connection;

/// The SQL name of the function.
pub(crate) const FUNCTION: &str = "_pipec_exact";

/// Registers the function on `conn` (and so on its database).
pub(crate) fn register(conn: &Connection) -> duckdb::Result<()> {
    conn.register_scalar_function::<Exact>(FUNCTION)
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
        // SAFETY: DuckDB flattens the arguments of C API functions, and the signature makes them
        // a VARCHAR and an INTEGER vector of `rows` values.
        let values = unsafe { texts.as_slice_with_len::<duckdb_string_t>(rows) };
        let scale = unsafe { scales.as_slice_with_len::<i32>(rows) };
        let mut out = output.flat_vector();
        // SAFETY: the result vector is BOOLEAN (the signature) with room for the chunk's rows.
        let slots = unsafe { out.as_mut_slice_with_len::<bool>(rows) };
        for row in 0..rows {
            slots[row] = texts.row_is_null(row as u64) || {
                let mut s = values[row];
                let text = DuckString::new(&mut s).as_str();
                exact(text.as_bytes(), usize::try_from(scale[row]).unwrap_or(0))
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

#[cfg(test)]
mod tests {
    use super::exact;

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
}
