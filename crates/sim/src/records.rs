//! What the simulator keeps for inspection: every request received ([`RecordedRequest`]) and
//! every reward issued ([`IssuedReward`]). Tests read them through
//! [`Simulator::requests`](crate::Simulator::requests) and
//! [`Simulator::rewards`](crate::Simulator::rewards), or over HTTP at `GET /_sim/requests` and
//! `GET /_sim/rewards`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Arrival order, from 1.
    pub seq: u64,
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// Every header, lowercase names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, as text (lossy for non-UTF-8 bytes).
    pub body: String,
}

/// A reward the simulator issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedReward {
    /// The request id (the client's `TxnId`).
    pub request_id: String,
    /// The reward id the simulator gave it.
    pub reward_id: String,
    /// The `agent_id` sent (a pseudonym, if the client behaves).
    pub agent_id: String,
    /// The reward type.
    pub reward_type: String,
    /// Points consumed, as sent.
    pub points_consumed: i64,
    /// `ISSUED` or `REVERSED`.
    pub status: String,
    /// The day it was issued (UTC, on [`SimConfig::clock`](crate::SimConfig::clock)).
    pub issued_on: String,
    /// Whether the request carried `recipient_enc` and, with a recipient key configured, what
    /// decrypting it gave: `Some(Ok(json))` decrypted, `Some(Err(reason))` could not.
    pub recipient: Option<Result<Value, String>>,
}
