//! The syntax stage: `.pipe` source text → untyped [`ast::Module`].
//!
//! pest is an implementation detail of this crate: callers get an AST with pipec's own spans and
//! diagnostics that speak of the language, never of grammar rules.

// pest runs without its `std` feature (no native stack probe per rule: `parse` caps nesting
// first), and its generated parser then refers to `alloc`.
extern crate alloc;

pub mod ast;
mod errors;
mod parser;

pub use errors::{
    duration_micros, valid_clock, valid_date, ITEM_KEYWORDS, SETTING_KEYWORDS, STEP_KEYWORDS,
};
pub use parser::{parse, Parsed, MAX_NESTING};
