//! The policy document (versioned JSON), its validation and its evaluation.

mod types;

pub use types::*;
