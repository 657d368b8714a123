//! Request signing (`X-Signature`): `v1` over the timestamp and the body (the Stripe scheme),
//! and `v2` over the method, path, idempotency key, request id, timestamp and body, both sent.

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest as _, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn mac(secret: &str, parts: &[&[u8]]) -> String {
    // HMAC takes keys of any length; this branch cannot be taken.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    for part in parts {
        mac.update(part);
    }
    hex(&mac.finalize().into_bytes())
}

/// The `X-Signature` value of the first version for a body sent at `unix_seconds`:
/// `t=<unix seconds>,v1=<lowercase hex HMAC-SHA256(secret, "<t>.<body>")>`, the key being the
/// secret's UTF-8 bytes as given (the Stripe scheme). It covers neither the method, the path
/// nor the idempotency key: prefer [`signature_header_v2`], which sends both versions.
#[must_use]
pub fn signature_header(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let t = unix_seconds.to_string();
    format!("t={t},v1={}", mac(secret, &[t.as_bytes(), b".", body]))
}

/// What the second signature version covers: the request as the marketplace receives it.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    /// The method, upper case (`POST`).
    pub method: &'a str,
    /// The request target: path and query as sent (`/api/v1/rewards`).
    pub path: &'a str,
    /// The `Idempotency-Key` header's value as sent (with its quotes), or empty.
    pub idempotency_key: &'a str,
    /// The `X-Request-ID` header's value.
    pub request_id: &'a str,
    /// Unix seconds when signed.
    pub unix_seconds: i64,
    /// The body's bytes.
    pub body: &'a [u8],
}

/// The string the second version signs: `v2`, the timestamp, method, path, idempotency key,
/// request id and the lowercase hex SHA-256 of the body, each on its own line (no trailing
/// newline). None of the parts can hold a newline in a valid HTTP request.
#[must_use]
pub fn v2_signed_string(parts: &SignedParts<'_>) -> String {
    format!(
        "v2\n{}\n{}\n{}\n{}\n{}\n{}",
        parts.unix_seconds,
        parts.method,
        parts.path,
        parts.idempotency_key,
        parts.request_id,
        hex(&Sha256::digest(parts.body))
    )
}

/// The `X-Signature` value with both versions:
/// `t=<unix seconds>,v1=<hex HMAC of "<t>.<body>">,v2=<hex HMAC of v2_signed_string>` — a
/// verifier of the first version keeps working; one of the second refuses a captured request
/// replayed under another idempotency key, request id, path or method.
#[must_use]
pub fn signature_header_v2(secret: &str, parts: &SignedParts<'_>) -> String {
    format!(
        "{},v2={}",
        signature_header(secret, parts.unix_seconds, parts.body),
        mac(secret, &[v2_signed_string(parts).as_bytes()])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(key: &'a str, path: &'a str) -> SignedParts<'a> {
        SignedParts {
            method: "POST",
            path,
            idempotency_key: key,
            request_id: "019a-req",
            unix_seconds: 1_715_954_971,
            body: br#"{"amount":50}"#,
        }
    }

    #[test]
    fn v2_changes_with_every_part_and_v1_stays_as_it_was() {
        let base = signature_header_v2("s", &parts("\"019a-req\"", "/rewards"));
        assert!(base.starts_with(&signature_header("s", 1_715_954_971, br#"{"amount":50}"#)));
        let other_key = signature_header_v2("s", &parts("\"019b-req\"", "/rewards"));
        let other_path = signature_header_v2("s", &parts("\"019a-req\"", "/rewards/x"));
        let v2 = |h: &str| h.rsplit_once("v2=").unwrap().1.to_owned();
        assert_ne!(v2(&base), v2(&other_key));
        assert_ne!(v2(&base), v2(&other_path));
        assert_eq!(v2(&base).len(), 64);
    }
}
