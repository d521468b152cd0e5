//! Audit events and friction counters.
