//! A pipeline's `timeout`: a watchdog that stops an attempt running past it by interrupting
//! every DuckDB connection the attempt uses. The interrupted statement fails, nothing is
//! published, and the attempt is reported as `E0513` (and retried like any other failure).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use duckdb::{Connection, InterruptHandle};
use pipec_check::ir::Pipeline;
use pipec_diag::codes;

use crate::RunError;

/// The deadline of one attempt.
#[derive(Default)]
pub(crate) struct Deadline {
    connections: Mutex<Vec<Arc<InterruptHandle>>>,
    expired: AtomicBool,
    finished: Mutex<bool>,
    wake: Condvar,
}

impl Deadline {
    /// Interrupts `conn` too when the deadline passes.
    pub(crate) fn register(&self, conn: &Connection) {
        let handle = conn.interrupt_handle();
        if self.expired() {
            handle.interrupt();
        }
        lock(&self.connections).push(handle);
    }

    /// Waits until the attempt finishes or `limit` has passed; in the latter case interrupts
    /// every registered connection.
    pub(crate) fn watch(&self, limit: Duration) {
        let end = Instant::now() + limit;
        let mut finished = lock(&self.finished);
        while !*finished {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.expired.store(true, Ordering::SeqCst);
                for handle in lock(&self.connections).iter() {
                    handle.interrupt();
                }
                return;
            }
            finished = self
                .wake
                .wait_timeout(finished, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Ends the watch: the attempt is over.
    pub(crate) fn finish(&self) {
        *lock(&self.finished) = true;
        self.wake.notify_all();
    }

    /// Whether the deadline passed.
    pub(crate) fn expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `E0513` for `p` on `ds`, stopped after its `timeout`.
pub(crate) fn timed_out(p: &Pipeline, ds: &str) -> RunError {
    let secs = p.timeout_seconds.unwrap_or(0);
    RunError::new(
        codes::TIMED_OUT,
        p.span,
        format!(
            "{} {ds} ran longer than its timeout ({}) and was stopped; nothing was published",
            p.name,
            human(secs)
        ),
        format!("its `timeout` is {}", human(secs)),
        "raise `timeout`, or make the run cheaper (filter early, fewer rows per interval)",
    )
}

fn human(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
