//! The JS entry points (wasm32 only).
