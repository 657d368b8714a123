//! The checks of what a client signs and seals: the `X-Signature` HMAC over the issue body,
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

/// Whether `X-Signature` is `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` for
/// this body (the parts in any order, other parts ignored).
pub(crate) fn signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(signature) = headers.get("x-signature").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut timestamp = None;
    let mut mac_hex = None;
    for part in signature.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => mac_hex = Some(value),
            _ => {}
        }
    }
    let (Some(timestamp), Some(mac_hex)) = (timestamp, mac_hex) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let Some(expected) = decode_hex(mac_hex) else {
        return false;
    };
    mac.verify_slice(&expected).is_ok()
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
