//! The outbound payload: what a reward request carries (pseudonym, tier, metadata, sealed
//! recipient fields), built once per hold and checked by the payload policy.

use std::collections::BTreeMap;
use std::sync::Arc;

use kudos_client::{Recipient, issue_payload};
use kudos_core::{AgentId, Tier, TxnId};
use kudos_privacy::{PayloadPolicy, Pseudonymizer, RecipientCipher};

use super::Run;
use crate::{DirectoryError, RecipientDirectory};

/// The recipient fields a marketplace needs, sealed (`docs/reference/issuing.md`).
#[derive(Debug)]
pub struct RecipientSettings {
    /// The cipher (the recipient key).
    pub cipher: RecipientCipher,
    /// `privacy.recipient_fields`.
    pub fields: Vec<String>,
    /// Where they come from.
    pub directory: Arc<dyn RecipientDirectory>,
}

/// How reward request bodies are built: [`PayloadSettings::new`] and the builder methods
/// (fields may be added in a minor release).
#[derive(Debug)]
#[non_exhaustive]
pub struct PayloadSettings {
    /// The keyed pseudonyms (`agent_id` in the body, and in logs, audit and alerts).
    pub pseudonyms: Pseudonymizer,
    /// `marketplace.metadata`.
    pub metadata: BTreeMap<String, String>,
    /// The outbound check.
    pub policy: PayloadPolicy,
    /// Recipient fields, when configured.
    pub recipient: Option<RecipientSettings>,
}

impl PayloadSettings {
    /// Bodies that name agents by `pseudonyms`, with no metadata, the default outbound check
    /// and no recipient fields.
    #[must_use]
    pub fn new(pseudonyms: Pseudonymizer) -> Self {
        Self {
            pseudonyms,
            metadata: BTreeMap::new(),
            policy: PayloadPolicy::default(),
            recipient: None,
        }
    }

    /// `marketplace.metadata`.
    #[must_use]
    pub fn metadata(mut self, metadata: BTreeMap<String, String>) -> Self {
        self.metadata = metadata;
        self
    }

    /// The outbound check.
    #[must_use]
    pub fn policy(mut self, policy: PayloadPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Recipient fields.
    #[must_use]
    pub fn recipient(mut self, recipient: Option<RecipientSettings>) -> Self {
        self.recipient = recipient;
        self
    }
}

impl Run<'_> {
    /// The request body for a new hold (fixed now; every retry sends these bytes).
    pub(super) async fn payload(
        &self,
        agent: &AgentId,
        tier: &Tier,
        txn: TxnId,
    ) -> Result<Vec<u8>, String> {
        let settings = &self.parts.payload;
        let mut recipient = None;
        if let Some(directory) = &settings.recipient {
            let fields = match directory
                .directory
                .recipient(agent, &directory.fields)
                .await
            {
                Ok(Some(fields)) => fields,
                Ok(None) => return Err("the agent is not in the recipient directory".to_owned()),
                // The reason names no agent: alerts leave the machine.
                Err(DirectoryError::MissingField { .. }) => {
                    return Err("the recipient directory entry lacks a configured field".to_owned());
                }
                Err(DirectoryError::Unavailable { reason }) => {
                    return Err(format!("the recipient directory is unavailable: {reason}"));
                }
            };
            recipient = Some(Recipient {
                cipher: &directory.cipher,
                fields,
            });
        }
        issue_payload(
            &settings.pseudonyms,
            agent,
            tier.reward_type(),
            tier.cost(),
            self.now(),
            &settings.metadata,
            recipient.as_ref().map(|r| (r, txn)),
            &settings.policy,
        )
        .map_err(|e| e.to_string())
    }
}
