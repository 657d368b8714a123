//! The audit key and the hashes of a record: HMAC-SHA256 under the key (or plain SHA-256 for
//! an unkeyed trail) over the record's canonical JSON (RFC 8785), so that no serializer
//! setting of a host service changes them.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use kudos_privacy::SecretSource;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

use super::{AuditError, AuditRecord, canon};

/// The fewest bytes an audit key may have.
pub const MIN_KEY_BYTES: usize = 16;

/// The key audit records are keyed with. Its [`id`](AuditKey::id) is derived from the key
/// (an HMAC of a fixed label), so records name the key that made them without revealing it,
/// and a verifier given several keys (after a rotation) picks the right one.
#[derive(Clone)]
pub struct AuditKey {
    id: String,
    key: SecretSlice<u8>,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey").field("id", &self.id).finish()
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

impl AuditKey {
    /// A key from its bytes.
    ///
    /// # Errors
    ///
    /// [`AuditError::Key`] when it has fewer than [`MIN_KEY_BYTES`] bytes.
    pub fn new(key: &[u8]) -> Result<Self, AuditError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(AuditError::Key {
                reason: format!("an audit key needs at least {MIN_KEY_BYTES} bytes"),
            });
        }
        let mut m = mac(key);
        m.update(b"kudos audit key id");
        let id = hex(&m.finalize().into_bytes())[..16].to_owned();
        Ok(Self {
            id,
            key: SecretSlice::from(key.to_vec()),
        })
    }

    /// Reads the key from where it lives (`[audit] key_env` / `key_file`).
    ///
    /// # Errors
    ///
    /// [`AuditError::Key`] naming the variable or file (never the value), or a key too short.
    pub fn from_source(source: &SecretSource) -> Result<Self, AuditError> {
        let secret = source.read().map_err(|e| AuditError::Key {
            reason: e.to_string(),
        })?;
        Self::new(secret.expose_secret().as_bytes())
    }

    /// The key's id, as records name it: 16 hex digits.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    fn hmac(&self, body: &[u8]) -> String {
        let mut m = mac(self.key.expose_secret());
        m.update(body);
        hex(&m.finalize().into_bytes())
    }
}

fn sha256(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    hex(&h.finalize())
}

/// The hash a record of this format (`"v": 2`) must carry: HMAC-SHA256 under `key`, or
/// SHA-256 without one, of the canonical JSON of the record without its `hash`.
pub(super) fn hash_v2(record: &AuditRecord, key: Option<&AuditKey>) -> Result<String, AuditError> {
    let mut body = Vec::with_capacity(512);
    canon::record(record, &mut body).map_err(canon_err)?;
    Ok(keyed_hash(&body, key))
}

/// [`hash_v2`] of a record as read: every field it has but `hash` is covered, so a field
/// added to a line breaks its hash too.
pub(super) fn hash_value(
    mut value: serde_json::Value,
    key: Option<&AuditKey>,
) -> Result<String, AuditError> {
    if let Some(map) = value.as_object_mut() {
        map.remove("hash");
    }
    let mut body = Vec::with_capacity(512);
    canon::value(&value, &mut body).map_err(canon_err)?;
    Ok(keyed_hash(&body, key))
}

fn keyed_hash(body: &[u8], key: Option<&AuditKey>) -> String {
    match key {
        Some(key) => key.hmac(body),
        None => sha256(&[body]),
    }
}

/// Whether a record of the first format (no `v`) carries its hash: SHA-256 of `prev`, a
/// newline and the JSON of `run_id`, `seq`, `event`, `data` with sorted keys. Checked in the
/// canonical form first, then as the first release wrote it.
pub(super) fn legacy_matches(record: &AuditRecord) -> bool {
    let body = serde_json::json!({
        "run_id": record.run_id,
        "seq": record.seq,
        "event": record.event,
        "data": record.data,
    });
    let prev = record.prev.as_bytes();
    let canonical = serde_json_canonicalizer::to_vec(&body).unwrap_or_default();
    if sha256(&[prev, b"\n", &canonical]) == record.hash {
        return true;
    }
    sha256(&[prev, b"\n", body.to_string().as_bytes()]) == record.hash
}

fn canon_err(e: serde_json::Error) -> AuditError {
    AuditError::Key {
        reason: format!("cannot put a record in canonical form: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_by_an_id_that_is_not_the_key() {
        let a = AuditKey::new(b"0123456789abcdef-first").unwrap();
        let b = AuditKey::new(b"0123456789abcdef-second").unwrap();
        assert_eq!(a.id().len(), 16);
        assert_ne!(a.id(), b.id());
        assert_eq!(
            a.id(),
            AuditKey::new(b"0123456789abcdef-first").unwrap().id()
        );
        assert!(!format!("{a:?}").contains("0123456789abcdef"));
        assert!(matches!(
            AuditKey::new(b"short"),
            Err(AuditError::Key { .. })
        ));
    }

    #[test]
    fn canonical_form_ignores_key_order_and_number_spelling() {
        // RFC 8785: keys sorted, numbers in their shortest form, no whitespace.
        let a: serde_json::Value = serde_json::from_str(r#"{"b":1.0,"a":[1e2,"x"]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{ "a": [100, "x"], "b": 1 }"#).unwrap();
        assert_eq!(
            serde_json_canonicalizer::to_string(&a).unwrap(),
            serde_json_canonicalizer::to_string(&b).unwrap()
        );
        assert_eq!(
            serde_json_canonicalizer::to_string(&a).unwrap(),
            r#"{"a":[100,"x"],"b":1}"#
        );
    }
}
