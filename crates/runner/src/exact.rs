//! `_pipec_exact(text, scale)`: whether a text read from a file holds a number exactly, with at
//! most `scale` digits after the point (zeros aside). DuckDB's casts from text round (`3.7` to
//! the int `4`) and take other notations (`1e3`, `0x10`, `1_000`); the columns of integer and
//! decimal types are read as text and cast only when this holds. A Rust function: one pass over
//! the bytes, several times faster than a regular expression on every value. The checks
//! themselves are DuckDB-free, in `pipec-exact` (fuzzed by `fuzz/fuzz_targets/exact.rs`).

use std::error::Error;

use duckdb::core::{DataChunkHandle, LogicalTypeId};
use duckdb::ffi::{duckdb_data_chunk_get_vector, duckdb_string_t, duckdb_vector_get_validity};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;
use duckdb::Connection;
pub(crate) use pipec_exact::{exact, integer, short_digits};

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
