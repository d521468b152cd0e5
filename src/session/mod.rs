//! Session continuity as a pure state machine.
