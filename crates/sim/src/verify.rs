//! The checks of what a client signs and seals: the `X-Signature` HMACs over the issue request,
//! and the AES-256-GCM `recipient_enc` field.
//!
//! These are an independent implementation of the client's signing (`kudos-client`'s
//! `signature_header`) and recipient sealing (`kudos-privacy`'s `RecipientCipher`), written
//! from the documented schemes, on purpose: the simulator checks the client rather than
//! sharing its bugs. Do not replace them with calls into those crates; a scheme change belongs
//! in both places, and the tests on both sides then show whether they still agree.

use aes_gcm::aead::{Aead, Payload};
use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The length of the nonce that opens a `recipient_enc` value.
const NONCE_LEN: usize = 12;
/// The length of the AES-GCM authentication tag that ends it.
const TAG_LEN: usize = 16;

/// How a signature is checked: against this secret, for a request with this method and
/// target (path and query), at `now` (unix seconds).
pub(crate) struct SignatureCheck<'a> {
    pub(crate) secret: &'a str,
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) now: i64,
    pub(crate) tolerance_secs: u64,
    pub(crate) accept_v1_only: bool,
}

impl SignatureCheck<'_> {
    /// Checks `X-Signature: t=<unix seconds>,v1=<hex>,v2=<hex>` (parts in any order, others
    /// ignored): `v1` is HMAC-SHA256(secret, "<t>.<body>"); `v2` is HMAC-SHA256(secret,
    /// "v2\n<t>\n<METHOD>\n<path>\n<Idempotency-Key as sent>\n<X-Request-ID>\n<hex SHA-256 of
    /// the body>"). Every version given must match; `v2` is required unless `accept_v1_only`;
    /// `t` must be within the tolerance of `now`.
    pub(crate) fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let signature = header("x-signature").ok_or("missing X-Signature")?;
        let (mut timestamp, mut v1, mut v2) = (None, None, None);
        for part in signature.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => timestamp = Some(value),
                Some(("v1", value)) => v1 = Some(value),
                Some(("v2", value)) => v2 = Some(value),
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or("bad signature: no timestamp")?;
        let t: i64 = timestamp.parse().map_err(|_| "bad signature: timestamp")?;
        if self.now.abs_diff(t) > self.tolerance_secs {
            return Err("bad signature: timestamp outside tolerance");
        }
        if v1.is_none() && v2.is_none() {
            return Err("bad signature: no version");
        }
        if v2.is_none() && !self.accept_v1_only {
            return Err("bad signature: v2 required");
        }
        if let Some(v1) = v1
            && !mac_ok(self.secret, &[timestamp.as_bytes(), b".", body], v1)
        {
            return Err("bad signature");
        }
        if let Some(v2) = v2 {
            let body_hash: String = Sha256::digest(body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let signed = format!(
                "v2\n{timestamp}\n{}\n{}\n{}\n{}\n{body_hash}",
                self.method,
                self.target,
                header("idempotency-key").unwrap_or_default(),
                header("x-request-id").unwrap_or_default(),
            );
            if !mac_ok(self.secret, &[signed.as_bytes()], v2) {
                return Err("bad signature");
            }
        }
        Ok(())
    }
}

fn mac_ok(secret: &str, parts: &[&[u8]], mac_hex: &str) -> bool {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    decode_hex(mac_hex).is_some_and(|expected| mac.verify_slice(&expected).is_ok())
}

/// The bytes of a hex string (either case), or `None` if it is not one.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Decrypts a `recipient_enc` value: base64 (standard, padded) of a 12-byte nonce followed by
/// the AES-256-GCM ciphertext and tag; the key is SHA-256 of the secret's UTF-8 bytes; the
/// additional authenticated data is the request id, so a ciphertext only opens for the
/// request it was made for.
///
/// # Errors
///
/// A short reason when the value is not base64, too short, or does not authenticate.
pub fn decrypt_recipient(secret: &str, request_id: &str, value: &str) -> Result<Value, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| "not base64".to_owned())?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return Err("too short".to_owned());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let key = Sha256::digest(secret.as_bytes());
    let cipher = <aes_gcm::Aes256Gcm as aes_gcm::KeyInit>::new_from_slice(&key)
        .map_err(|_| "bad key".to_owned())?;
    let nonce = <&aes_gcm::aead::Nonce<aes_gcm::Aes256Gcm>>::try_from(nonce)
        .map_err(|_| "bad nonce".to_owned())?;
    let plain = cipher
        .decrypt(
            nonce,
            Payload {
                msg: sealed,
                aad: request_id.as_bytes(),
            },
        )
        .map_err(|_| "does not authenticate (wrong key, request id or tampered)".to_owned())?;
    serde_json::from_slice(&plain).map_err(|_| "not JSON".to_owned())
}
