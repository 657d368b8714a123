//! Privacy for everything Kudos sends out.
//!
//! # Overview
//!
//! - [`SecretSource`]: where a secret lives (an environment variable or a file), read each time
//!   it is needed, so a mounted secret file can be rotated without a restart; secrets are
//!   [`SecretString`]s, whose `Debug` prints `[REDACTED]`.
//! - [`Pseudonymizer`]: the `agent_id` a marketplace sees — lowercase hex of
//!   HMAC-SHA256(key, platform user id), the key being the secret's UTF-8 bytes.
//! - [`RecipientCipher`]: seals the recipient fields a marketplace may need (`recipient_enc`,
//!   AES-256-GCM, decision record 0012).
//! - [`PayloadPolicy`]: checks a payload before a byte leaves — only allow-listed fields, and
//!   no value that looks like an e-mail address or phone number outside `recipient_enc`.
//!
//! # Example
//!
//! ```
//! use kudos_core::AgentId;
//! use kudos_privacy::{PayloadPolicy, Pseudonymizer, SecretString};
//!
//! let pseudonyms = Pseudonymizer::new(SecretString::from("pseudonym-key"));
//! let agent = AgentId::new("a1b2c3d4-0000-4000-8000-000000000001")?;
//! let p = pseudonyms.pseudonym(&agent);
//! assert_eq!(p.len(), 64);
//! assert_eq!(p, pseudonyms.pseudonym(&agent)); // stable
//!
//! let policy = PayloadPolicy::default();
//! let ok = serde_json::json!({"agent_id": p, "reward_type": "gift_card_50_usd", "points_consumed": 500,
//!     "transaction_timestamp": "2026-03-04T06:00:00Z", "metadata": {"source_platform": "Genesys Cloud CX"}});
//! assert!(policy.check(&ok).is_ok());
//! let leaky = serde_json::json!({"agent_id": "jordan.reyes@example.com", "reward_type": "x"});
//! assert_eq!(policy.check(&leaky).unwrap_err().to_string(),
//!     "refusing to send field agent_id: it looks like an e-mail address");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - *Allow-list, not deny-list.* A field nobody allowed is refused, whatever its name; the
//!   content checks are a second line of defence for allowed fields.
//! - *Errors name the field, never the value*: the value may be the personal data.
//! - *No secret in memory longer than needed*: `SecretString` zeroizes on drop.

mod cipher;
mod error;
mod payload;
mod pseudonym;
mod scrub;
mod secret;

pub use cipher::RecipientCipher;
pub use error::PrivacyError;
pub use payload::{PayloadPolicy, looks_like_email, looks_like_phone};
pub use pseudonym::Pseudonymizer;
pub use scrub::{SCRUBBED, scrub};
pub use secrecy::{ExposeSecret, SecretString};
pub use secret::SecretSource;
