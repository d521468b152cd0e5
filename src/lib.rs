//! wardgate: step-up authentication at task initiation for clinical web software.
//!
//! The pure core (`policy`, `task`, `grant`, `session`, `audit`) reads no clock and imports
//! nothing from the browser: time is passed in, decisions are values, errors are typed. The
//! browser layer (`wasm`, compiled only for wasm32) is a thin facade over it, and the same core
//! runs natively on the server (feature `server`), which is where enforcement happens.

pub mod audit;
pub mod error;
pub mod grant;
pub(crate) mod json;
pub mod policy;
pub mod rfc9470;
pub mod session;
pub mod task;

#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
