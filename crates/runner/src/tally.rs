//! `_pipec_tally(slot, ok, columns…)`: a scalar function that counts the rows of a streamed source
//! and fails the query at the first row whose `ok` is false (a null in a non-null column).
//!
//! A CSV source read by exactly one transform is not staged: it becomes a view whose filter calls
//! this function on every row, so the transform reads the file once while the declared schema is
//! still enforced on every row and column (the columns are arguments, so none is pruned) and the
//! report still knows how many rows were read.

use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use duckdb::core::{DataChunkHandle, LogicalTypeId};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;
use duckdb::Connection;

/// The SQL name of the function.
pub(crate) const FUNCTION: &str = "_pipec_tally";
/// Marks the error the function raises, so the runner can tell it from other failures.
pub(crate) const NULL_MARKER: &str = "pipec: null in a non-null column";

/// The row counts of every streamed source in this process, each under its own slot.
pub(crate) static TALLIES: LazyLock<Tallies> = LazyLock::new(Tallies::default);

/// Row counts per slot, shared by every call of the function.
#[derive(Clone, Default)]
pub(crate) struct Tallies(Arc<Mutex<HashMap<i32, u64>>>);

impl Tallies {
    /// Registers `_pipec_tally` on `conn` (and so on its database), counting into `self`.
    pub(crate) fn register(&self, conn: &Connection) -> duckdb::Result<()> {
        conn.register_scalar_function_with_state::<Tally>(FUNCTION, self)
    }

    /// A new slot, unique in the process, counting from zero.
    pub(crate) fn slot(&self) -> i32 {
        static NEXT: AtomicI32 = AtomicI32::new(0);
        let slot = NEXT.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(slot, 0);
        slot
    }

    /// Rows counted for `slot`; the slot is then forgotten.
    pub(crate) fn take(&self, slot: i32) -> u64 {
        self.lock().remove(&slot).unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Tally;

// Reading and writing DuckDB's vectors as slices is `unsafe` in the duckdb crate's API.
#[allow(unsafe_code)]
impl VScalar for Tally {
    type State = Tallies;

    fn invoke(
        state: &Tallies,
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> Result<(), Box<dyn Error>> {
        let rows = input.len();
        if rows == 0 {
            return Ok(());
        }
        if input.num_columns() < 2 {
            return Err("_pipec_tally(slot, ok, ...) needs a slot and a condition".into());
        }
        let slot_vector = input.flat_vector(0);
        let ok_vector = input.flat_vector(1);
        let ok_type = ok_vector.logical_type().id();
        if slot_vector.logical_type().id() != LogicalTypeId::Integer
            || ok_type != LogicalTypeId::Boolean
        {
            return Err("_pipec_tally(slot, ok, ...) takes an INTEGER and a BOOLEAN".into());
        }
        // SAFETY: DuckDB flattens the arguments of C API functions, and both vectors were just
        // checked to hold `rows` INTEGER and BOOLEAN values (`ok` is never null: it is built
        // from `IS NULL` tests).
        let slot = unsafe { slot_vector.as_slice_with_len::<i32>(rows) }[0];
        let ok = unsafe { ok_vector.as_slice_with_len::<bool>(rows) };
        if ok.iter().any(|v| !v) {
            return Err(NULL_MARKER.into());
        }
        *state.lock().entry(slot).or_insert(0) += rows as u64;
        let mut out = output.flat_vector();
        // SAFETY: the result vector is BOOLEAN (the signature) with room for the chunk's rows.
        unsafe { out.as_mut_slice_with_len::<bool>(rows) }.fill(true);
        Ok(())
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::variadic(
            LogicalTypeId::Any.into(),
            LogicalTypeId::Boolean.into(),
        )]
    }

    fn volatile() -> bool {
        true
    }
}
