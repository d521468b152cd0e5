//! RFC 9470 (OAuth 2.0 Step Up Authentication Challenge): reading a resource server's
//! `WWW-Authenticate` header to learn that a request needs a step-up, and writing one.
//!
//! The header follows RFC 7235 / RFC 9110 §11.6.1: one or more challenges, each an auth scheme
//! followed by comma-separated `name=value` parameters (value a token or a quoted string). A
//! header may carry several challenges (`Basic realm="x", Bearer error="..."`); wardgate reads
//! the `Bearer` one. A malformed header is an error, never a reason to loop.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The error code RFC 9470 adds to RFC 6750.
pub const INSUFFICIENT_USER_AUTHENTICATION: &str = "insufficient_user_authentication";

/// Longest `WWW-Authenticate` value wardgate reads.
pub const MAX_HEADER_BYTES: usize = 4096;

/// A step-up challenge from a resource server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepUpChallenge {
    /// Acceptable authentication context classes, in order of preference (`acr_values`).
    pub acr_values: Vec<String>,
    /// The strong authentication may be at most this many seconds old (`max_age`).
    pub max_age: Option<u32>,
    /// `error_description`, for people.
    pub description: Option<String>,
}

/// Read a `WWW-Authenticate` header value. `Ok(None)`: well-formed, but no `Bearer` challenge
/// with `error="insufficient_user_authentication"` (e.g. `invalid_token`). `Err`: malformed
/// (`WARDGATE_RFC9470_MALFORMED`).
pub fn parse_www_authenticate(header: &str) -> Result<Option<StepUpChallenge>> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(Error::InputTooLarge {
            what: "WWW-Authenticate header",
            limit: MAX_HEADER_BYTES,
        });
    }
    let challenges = parse_challenges(header)?;
    for (scheme, params) in challenges {
        if !scheme.eq_ignore_ascii_case("bearer") {
            continue;
        }
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if get("error") != Some(INSUFFICIENT_USER_AUTHENTICATION) {
            continue;
        }
        let acr_values = get("acr_values")
            .map(|v| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let max_age = match get("max_age") {
            None => None,
            // delta-seconds is digits only (`parse` would take a leading `+`).
            Some(v) => Some(
                v.parse::<u32>()
                    .ok()
                    .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        malformed(format!(
                            "max_age `{}` is not a whole number of seconds",
                            crate::task::truncate_for_message(v)
                        ))
                    })?,
            ),
        };
        return Ok(Some(StepUpChallenge {
            acr_values,
            max_age,
            description: get("error_description").map(String::from),
        }));
    }
    Ok(None)
}

/// Write the header a resource server sends when a request needs a step-up.
pub fn format_www_authenticate(challenge: &StepUpChallenge) -> String {
    let mut out = format!("Bearer error=\"{INSUFFICIENT_USER_AUTHENTICATION}\"");
    if let Some(d) = &challenge.description {
        out.push_str(", error_description=");
        push_quoted(&mut out, d);
    }
    if !challenge.acr_values.is_empty() {
        out.push_str(", acr_values=");
        push_quoted(&mut out, &challenge.acr_values.join(" "));
    }
    if let Some(age) = challenge.max_age {
        out.push_str(&format!(", max_age={age}"));
    }
    out
}

fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // Header values cannot carry control characters; drop them rather than break the
            // header.
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

fn malformed(message: String) -> Error {
    Error::ChallengeHeaderMalformed { message }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

type Challenge = (String, Vec<(String, String)>);

/// Tokenise a header into challenges. A scheme is a token followed by whitespace or the end;
/// a parameter is `token BWS "=" BWS (token / quoted-string)`.
fn parse_challenges(header: &str) -> Result<Vec<Challenge>> {
    let bytes = header.as_bytes();
    let mut pos = 0usize;
    let mut out: Vec<Challenge> = Vec::new();
    let skip_ws = |pos: &mut usize| {
        while bytes.get(*pos).is_some_and(|b| *b == b' ' || *b == b'\t') {
            *pos += 1;
        }
    };
    let read_token = |pos: &mut usize| -> String {
        let start = *pos;
        while bytes.get(*pos).is_some_and(|b| is_tchar(*b)) {
            *pos += 1;
        }
        header.get(start..*pos).unwrap_or_default().to_string()
    };
    loop {
        // Skip separators between challenges / parameters.
        while bytes
            .get(pos)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b','))
        {
            pos += 1;
        }
        if pos >= bytes.len() {
            break;
        }
        let token = read_token(&mut pos);
        if token.is_empty() {
            return Err(malformed(format!("unexpected character at byte {pos}")));
        }
        let after_token = pos;
        skip_ws(&mut pos);
        if bytes.get(pos) == Some(&b'=') {
            // A parameter of the current challenge.
            pos += 1;
            skip_ws(&mut pos);
            let value = if bytes.get(pos) == Some(&b'"') {
                pos += 1;
                let mut v = String::new();
                let mut closed = false;
                let mut chars = header.get(pos..).unwrap_or_default().char_indices();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            pos += i + 1;
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, escaped)) => v.push(escaped),
                            None => break,
                        },
                        c if c.is_control() && c != '\t' => {
                            return Err(malformed(String::from(
                                "control character in a quoted string",
                            )));
                        }
                        c => v.push(c),
                    }
                }
                if !closed {
                    return Err(malformed(String::from("unterminated quoted string")));
                }
                v
            } else {
                let v = read_token(&mut pos);
                if v.is_empty() {
                    return Err(malformed(format!("parameter `{token}` has no value")));
                }
                v
            };
            let Some((_, params)) = out.last_mut() else {
                return Err(malformed(format!(
                    "parameter `{token}` before any auth scheme"
                )));
            };
            if params.iter().any(|(k, _)| k.eq_ignore_ascii_case(&token)) {
                return Err(malformed(format!("parameter `{token}` appears twice")));
            }
            params.push((token, value));
            skip_ws(&mut pos);
            match bytes.get(pos) {
                None | Some(b',') => {}
                Some(_) => {
                    return Err(malformed(format!(
                        "expected `,` after parameter `{}`",
                        crate::task::truncate_for_message(
                            &params.last().map(|(k, _)| k.clone()).unwrap_or_default()
                        )
                    )));
                }
            }
        } else if pos == after_token && pos < bytes.len() && bytes.get(pos) != Some(&b',') {
            return Err(malformed(format!("unexpected character at byte {pos}")));
        } else {
            // A new auth scheme. A token68 credential after it (`Negotiate dGVzdA==`) carries
            // no step-up information and is skipped: token68 chars, then `=` padding, then the
            // end or a comma.
            // RFC 6750 Bearer challenges carry auth-params only, never token68.
            let bearer = token.eq_ignore_ascii_case("bearer");
            out.push((token, Vec::new()));
            if pos > after_token && !bearer {
                let mut p = pos;
                while bytes
                    .get(p)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b))
                {
                    p += 1;
                }
                if p > pos {
                    while bytes.get(p) == Some(&b'=') {
                        p += 1;
                    }
                    let mut q = p;
                    while bytes.get(q).is_some_and(|b| *b == b' ' || *b == b'\t') {
                        q += 1;
                    }
                    if matches!(bytes.get(q), None | Some(b',')) {
                        pos = q;
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err(malformed(String::from("no auth scheme")));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn the_rfcs_own_examples() {
        // RFC 9470 §3, figure 2.
        let c = parse_www_authenticate(
            "Bearer error=\"insufficient_user_authentication\",\n  error_description=\"A different authentication level is required\",\n  acr_values=\"myACR\""
                .replace('\n', "")
                .as_str(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.acr_values, vec!["myACR"]);
        assert_eq!(c.max_age, None);
        assert_eq!(
            c.description.as_deref(),
            Some("A different authentication level is required")
        );
        // RFC 9470 §3, figure 3: max_age quoted.
        let c = parse_www_authenticate(
            "Bearer error=\"insufficient_user_authentication\", error_description=\"More recent authentication is required\", max_age=\"5\"",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.max_age, Some(5));
    }

    #[test]
    fn several_challenges_and_token68() {
        let c = parse_www_authenticate(
            "Basic realm=\"ward\", Bearer error=\"insufficient_user_authentication\", acr_values=\"phrh phr\", max_age=900",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.acr_values, vec!["phrh", "phr"]);
        assert_eq!(c.max_age, Some(900));
        assert!(
            parse_www_authenticate(
                "Negotiate dGVzdA==, Bearer error=\"insufficient_user_authentication\""
            )
            .unwrap()
            .is_some()
        );
    }

    #[test]
    fn other_bearer_errors_are_not_step_ups() {
        assert_eq!(
            parse_www_authenticate("Bearer error=\"invalid_token\"").unwrap(),
            None
        );
        assert_eq!(parse_www_authenticate("Bearer realm=\"x\"").unwrap(), None);
        assert_eq!(parse_www_authenticate("Basic realm=\"x\"").unwrap(), None);
    }

    #[test]
    fn malformed_headers_are_errors() {
        for bad in [
            "",
            "   ",
            "Bearer error=\"insufficient_user_authentication",
            "Bearer error=",
            "Bearer error=\"insufficient_user_authentication\", max_age=soon",
            "Bearer error=\"insufficient_user_authentication\", max_age=-1",
            "Bearer error=\"insufficient_user_authentication\", max_age=99999999999",
            "Bearer error=\"insufficient_user_authentication\" acr_values=\"x\"",
            "=x",
            "Bearer error=\"a\", error=\"b\"",
            "Bearer error=\"insufficient_user_authentication\", error_description=\"a\u{7}b\"",
            "Bearer @",
        ] {
            let e = parse_www_authenticate(bad)
                .map(|v| format!("{bad:?} gave {v:?}"))
                .unwrap_err();
            assert_eq!(e.code(), "WARDGATE_RFC9470_MALFORMED", "{bad:?}: {e}");
        }
        let huge = format!("Bearer error=\"{}\"", "x".repeat(5000));
        assert_eq!(
            parse_www_authenticate(&huge).unwrap_err().code(),
            "WARDGATE_INPUT_TOO_LARGE"
        );
    }

    #[test]
    fn format_round_trips() {
        let c = StepUpChallenge {
            acr_values: vec!["phr".into()],
            max_age: Some(900),
            description: Some("signing \"orders\" needs a passkey".into()),
        };
        let h = format_www_authenticate(&c);
        assert_eq!(parse_www_authenticate(&h).unwrap(), Some(c));
        let bare = StepUpChallenge {
            acr_values: vec![],
            max_age: None,
            description: None,
        };
        assert_eq!(
            format_www_authenticate(&bare),
            "Bearer error=\"insufficient_user_authentication\""
        );
        assert_eq!(
            parse_www_authenticate(&format_www_authenticate(&bare)).unwrap(),
            Some(bare)
        );
    }
}
