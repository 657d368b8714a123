//! Sealing recipient fields (`recipient_enc`).

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::PrivacyError;

/// Seals and opens `recipient_enc`: base64 (standard, padded) of a random 12-byte nonce
/// followed by the AES-256-GCM ciphertext and tag; the key is SHA-256 of the secret's UTF-8
/// bytes; the request id (`TxnId`) is the additional authenticated data, so a ciphertext only
/// opens for the request it was made for (decision record 0012).
pub struct RecipientCipher {
    cipher: Aes256Gcm,
}

impl RecipientCipher {
    /// A cipher keyed by `secret`.
    ///
    /// # Errors
    ///
    /// Never in practice (a SHA-256 digest is always a valid AES-256 key); kept fallible so a
    /// key source can be swapped.
    pub fn new(secret: &SecretString) -> Result<Self, PrivacyError> {
        let key = Sha256::digest(secret.expose_secret().as_bytes());
        let cipher = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| PrivacyError::Crypto("bad key length".to_owned()))?;
        Ok(Self { cipher })
    }

    /// Seals the recipient JSON for one request.
    ///
    /// # Errors
    ///
    /// [`PrivacyError::Crypto`] when no random nonce can be drawn.
    pub fn seal(
        &self,
        request_id: &str,
        recipient: &serde_json::Value,
    ) -> Result<String, PrivacyError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce)
            .map_err(|e| PrivacyError::Crypto(format!("no randomness for a nonce: {e}")))?;
        let plain =
            serde_json::to_vec(recipient).map_err(|e| PrivacyError::Crypto(e.to_string()))?;
        let n = <&aes_gcm::aead::Nonce<Aes256Gcm>>::try_from(&nonce[..])
            .map_err(|_| PrivacyError::Crypto("bad nonce".to_owned()))?;
        let sealed = self
            .cipher
            .encrypt(
                n,
                Payload {
                    msg: &plain,
                    aad: request_id.as_bytes(),
                },
            )
            .map_err(|_| PrivacyError::Crypto("sealing failed".to_owned()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode([&nonce[..], &sealed].concat()))
    }

    /// Opens a sealed recipient. Fails closed: a wrong key, another request id or any
    /// tampering is an error.
    ///
    /// # Errors
    ///
    /// [`PrivacyError::Crypto`].
    pub fn open(&self, request_id: &str, sealed: &str) -> Result<serde_json::Value, PrivacyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| PrivacyError::Crypto("not base64".to_owned()))?;
        if bytes.len() < 12 + 16 {
            return Err(PrivacyError::Crypto("too short".to_owned()));
        }
        let (nonce, body) = bytes.split_at(12);
        let n = <&aes_gcm::aead::Nonce<Aes256Gcm>>::try_from(nonce)
            .map_err(|_| PrivacyError::Crypto("bad nonce".to_owned()))?;
        let plain = self
            .cipher
            .decrypt(
                n,
                Payload {
                    msg: body,
                    aad: request_id.as_bytes(),
                },
            )
            .map_err(|_| PrivacyError::Crypto("does not authenticate".to_owned()))?;
        serde_json::from_slice(&plain).map_err(|_| PrivacyError::Crypto("not JSON".to_owned()))
    }
}

impl fmt::Debug for RecipientCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientCipher")
            .field("key", &"[REDACTED]")
            .finish()
    }
}
