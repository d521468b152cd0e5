//! The policy document (versioned JSON), its validation and its evaluation.
//!
//! `Policy::from_json` is the only fallible step (typed errors naming the JSON path);
//! `Policy::evaluate` cannot fail: a decision is a value with the rule ids that produced it.

mod document;
mod eval;
mod types;

pub use document::*;
pub use eval::*;
pub use types::*;
