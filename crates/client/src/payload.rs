//! The issue request body.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use kudos_core::{AgentId, Points, RewardType, TxnId};
use kudos_privacy::{PayloadPolicy, PrivacyError, Pseudonymizer, RecipientCipher};
use serde::Serialize;

/// Recipient fields a marketplace needs to fulfil a reward, and the cipher that seals them.
#[derive(Debug)]
pub struct Recipient<'a> {
    /// The cipher (keyed by the recipient key).
    pub cipher: &'a RecipientCipher,
    /// Only the configured `recipient_fields`, from the recipient directory.
    pub fields: serde_json::Value,
}

#[derive(Serialize)]
struct Body<'a> {
    agent_id: String,
    reward_type: &'a str,
    points_consumed: i64,
    transaction_timestamp: String,
    metadata: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_enc: Option<String>,
}

/// Builds the body of `POST /v1/rewards/issue` for a hold, once, when the hold is made:
///
/// ```json
/// {"agent_id":"<pseudonym>","reward_type":"gift_card_50_usd","points_consumed":500,
///  "transaction_timestamp":"2026-03-04T06:00:00Z","metadata":{"source_platform":"Genesys Cloud CX"}}
/// ```
///
/// plus `recipient_enc` when recipient fields are configured. The bytes are checked against
/// `policy` before they are returned: nothing that fails the privacy check can be stored as a
/// payload, let alone sent.
///
/// # Errors
///
/// [`PrivacyError::Refused`] naming the field at fault, or [`PrivacyError::Crypto`].
#[allow(
    clippy::too_many_arguments,
    reason = "each argument is one field of the contract's body"
)]
pub fn issue_payload(
    pseudonyms: &Pseudonymizer,
    agent: &AgentId,
    reward_type: &RewardType,
    cost: Points,
    held_at: DateTime<Utc>,
    metadata: &BTreeMap<String, String>,
    recipient: Option<(&Recipient<'_>, TxnId)>,
    policy: &PayloadPolicy,
) -> Result<Vec<u8>, PrivacyError> {
    let recipient_enc = match recipient {
        Some((r, txn)) => Some(r.cipher.seal(&txn.to_string(), &r.fields)?),
        None => None,
    };
    let body = Body {
        agent_id: pseudonyms.pseudonym(agent),
        reward_type: reward_type.as_str(),
        points_consumed: cost.get(),
        transaction_timestamp: held_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        metadata,
        recipient_enc,
    };
    let value = serde_json::to_value(&body).map_err(|e| PrivacyError::Crypto(e.to_string()))?;
    policy.check(&value)?;
    serde_json::to_vec(&body).map_err(|e| PrivacyError::Crypto(e.to_string()))
}
