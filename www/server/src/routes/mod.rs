//! HTTP handlers.

pub mod audit;
pub mod auth;
pub mod demo;
pub mod stepup;
