//! Talking to the relying party (docs/PROTOCOL.md): JSON POSTs with the session cookie, typed
//! errors for an unreachable server (`WARDGATE_NETWORK`) and for an error answer
//! (`WARDGATE_SERVER`, with the status and the server's own `code`).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::BrowserError;
use super::js;

/// Largest response body read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Largest body sent with `keepalive` (browsers allow 64 KiB in flight per page).
pub const KEEPALIVE_BYTES: usize = 60 * 1024;

/// The protocol's error body.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

/// A JSON request to the relying party.
pub fn json_request(
    url: &str,
    body: &str,
    keepalive: bool,
) -> Result<web_sys::Request, BrowserError> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    let headers = web_sys::Headers::new().map_err(network)?;
    headers
        .set("Content-Type", "application/json")
        .map_err(network)?;
    init.set_headers(&headers);
    if keepalive {
        js::set(&init, "keepalive", &JsValue::TRUE);
    }
    web_sys::Request::new_with_str_and_init(url, &init).map_err(network)
}

fn network(cause: JsValue) -> BrowserError {
    BrowserError::Network {
        message: js::error_message(&cause),
        cause: Some(cause),
    }
}

/// The body as text, bounded.
pub async fn text(response: &web_sys::Response) -> Result<String, BrowserError> {
    let status = response.status();
    let promise = response.text().map_err(network)?;
    let value = JsFuture::from(promise).await.map_err(network)?;
    let text = value
        .as_string()
        .ok_or_else(|| BrowserError::server(status, "the body is not text"))?;
    if text.len() > MAX_RESPONSE_BYTES {
        return Err(BrowserError::server(status, "the body is too large"));
    }
    Ok(text)
}

/// POST `body` (JSON text) to `url` and parse a 2xx answer as `T`; an error answer becomes
/// `WARDGATE_SERVER` with the server's code.
pub async fn post_json<T: DeserializeOwned>(
    url: &str,
    body: &str,
    keepalive: bool,
) -> Result<T, BrowserError> {
    let request = json_request(url, body, keepalive)?;
    let response = js::fetch(&request).await?;
    let status = response.status();
    let text = text(&response).await?;
    if !response.ok() {
        let parsed: Option<ErrorBody> = serde_json::from_str(&text).ok();
        let (server_code, message) = match parsed {
            Some(b) => (b.code, b.message),
            None => (None, None),
        };
        return Err(BrowserError::Server {
            status,
            server_code: server_code.filter(|c| c.len() <= 64),
            message: message
                .map(|m| m.chars().take(300).collect())
                .unwrap_or_else(|| response.status_text()),
        });
    }
    serde_json::from_str(&text).map_err(|e| {
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        BrowserError::server(status, format!("unexpected answer from `{url}`: {message}"))
    })
}
