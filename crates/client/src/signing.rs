//! Request signing (`X-Signature`).

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The `X-Signature` value for a body sent at `unix_seconds`:
/// `t=<unix seconds>,v1=<lowercase hex HMAC-SHA256(secret, "<t>.<body>")>`, the key being the
/// secret's UTF-8 bytes as given (the Stripe scheme).
#[must_use]
pub fn signature_header(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut out = format!("t={unix_seconds},v1=");
    // HMAC takes keys of any length; this branch cannot be taken.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return out;
    };
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    for b in mac.finalize().into_bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}
