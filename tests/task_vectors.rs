//! The WGT1 canonical task encoding is fixed by vectors generated with an independent
//! implementation (`scripts/task_vectors.py`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use wardgate::task::{TaskContext, hex_encode};

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn canonical_encoding_matches_the_vectors() {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("data/task-vectors.json")).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 6);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let ctx = TaskContext::from_json(&v["context"].to_string())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            hex_encode(&ctx.canonical_bytes()),
            v["canonicalHex"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            ctx.hash().to_hex(),
            v["sha256Hex"].as_str().unwrap(),
            "{name}"
        );
    }
    // Vectors 1 and 2 are the same approval in other circumstances: one hash.
    assert_eq!(vectors[1]["sha256Hex"], vectors[2]["sha256Hex"]);
    assert_ne!(vectors[0]["sha256Hex"], vectors[5]["sha256Hex"]);
}
