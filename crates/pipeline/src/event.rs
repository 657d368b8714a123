//! What the audit trail records: one typed event per state change, with stable names.
//!
//! Each [`AuditEvent`] is written as an [`AuditRecord`](crate::AuditRecord) whose `event` is
//! [`AuditEvent::name`] and whose `data` is [`AuditEvent::data`]; readers (the demo, tests, an
//! auditor's tool) get it back with [`AuditEvent::from_record`]. Names and fields are part of
//! the JSON Lines format (`docs/reference/run.md#audit-trail`): new events and fields may be
//! added; none is renamed. Fields carry ids, pseudonyms and figures — never an agent id,
//! personal data or a secret.

use kudos_core::{Day, Points, RewardType, TierId, TxnId};
use kudos_ledger::{ContentHash, HoldState, ReversalState};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{AuditRecord, Summary};

/// One state change of a run, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEvent {
    /// The run began.
    RunStarted {
        /// The run's day.
        as_of: Day,
        /// Whether it was a dry run (a dry run writes no record; kept for sinks that do).
        dry_run: bool,
    },
    /// The run ended; its summary.
    RunFinished(Summary),
    /// The run stopped before issuing (a file error, too many rejected rows).
    RunStopped {
        /// Why.
        reason: String,
        /// What it had done.
        summary: Summary,
    },
    /// A hold of an earlier run is being re-driven.
    HoldRecovering {
        /// The hold.
        txn_id: TxnId,
        /// The agent's pseudonym.
        agent: String,
        /// Its state before.
        state: HoldState,
        /// Requests sent for it so far.
        attempts: u32,
    },
    /// A hold's stored request is sent again (the marketplace has no record of it).
    RequestSent {
        /// The hold.
        txn_id: TxnId,
        /// This attempt's number.
        attempt: u32,
        /// Always true: a re-send of the stored bytes.
        resend: bool,
    },
    /// A file was taken whole.
    FileIngested {
        /// The path as the run saw it.
        file: String,
        /// Its content hash (lowercase hex SHA-256).
        sha256: ContentHash,
        /// Records taken.
        records: u64,
        /// Rows rejected.
        rejected_rows: u64,
    },
    /// A file was taken through the run's day; its later rows wait.
    FileIngestedInPart {
        /// The path as the run saw it.
        file: String,
        /// Its content hash (lowercase hex SHA-256).
        sha256: ContentHash,
        /// Records taken.
        records: u64,
        /// Rows rejected.
        rejected_rows: u64,
        /// Rows dated after the run's day.
        future_rows: u64,
        /// The day it was taken through.
        through: Day,
    },
    /// A batch of accounts accrued.
    Accrued {
        /// Accounts in the batch.
        agents: u64,
        /// Entries appended (an event already recorded appends none).
        entries: u64,
    },
    /// A clawback's reversal is about to be requested.
    ReversalRequested {
        /// The reversal's id.
        txn_id: TxnId,
        /// The redemption it reverses.
        of: TxnId,
        /// The agent's pseudonym.
        agent: String,
        /// The agent's debt.
        debt: i64,
    },
    /// The marketplace reversed it, and the ledger recorded it.
    ReversalConfirmed {
        /// The reversal's id.
        txn_id: TxnId,
        /// The redemption it reversed.
        of: TxnId,
    },
    /// The marketplace cannot reverse the redemption.
    ReversalRefused {
        /// The reversal's id.
        txn_id: TxnId,
        /// The redemption.
        of: TxnId,
    },
    /// The reversal request failed.
    ReversalFailed {
        /// The reversal's id.
        txn_id: TxnId,
        /// The redemption.
        of: TxnId,
        /// What happened.
        reason: String,
    },
    /// A reversal was marked in doubt or for review.
    ReversalMarked {
        /// The reversal's id.
        txn_id: TxnId,
        /// The redemption.
        of: TxnId,
        /// Its new state.
        state: ReversalState,
        /// Requests sent for it so far.
        attempts: u32,
    },
    /// A reversal an earlier run left open or in doubt is being re-driven.
    ReversalRecovering {
        /// The reversal's id.
        txn_id: TxnId,
        /// The redemption.
        of: TxnId,
        /// Its state.
        state: ReversalState,
        /// Requests sent for it so far.
        attempts: u32,
    },
    /// An operator re-drove a reversal (`kudos review retry`): looked the redemption up, and
    /// sent the reversal again if the reward is still issued.
    ReversalRetry {
        /// The reversal's id.
        txn_id: TxnId,
        /// The redemption.
        of: TxnId,
        /// The agent's pseudonym.
        agent: String,
        /// Its state before.
        state: ReversalState,
        /// Who.
        operator: String,
    },
    /// An operator settled a reversal (`kudos review settle --reversed | --not-reversed`).
    ReversalSettled {
        /// The reversal's id.
        txn_id: TxnId,
        /// The redemption.
        of: TxnId,
        /// The agent's pseudonym.
        agent: String,
        /// Its state before.
        state: ReversalState,
        /// What the operator said.
        reversed: bool,
        /// Who.
        operator: String,
        /// What the marketplace said of the redemption when asked first.
        marketplace: String,
        /// Whether the operator overrode a marketplace that disagreed (`--force`).
        forced: bool,
    },
    /// A hold was made (before its request is sent).
    HoldMade {
        /// The hold.
        txn_id: TxnId,
        /// The agent's pseudonym.
        agent: String,
        /// The tier.
        tier: TierId,
        /// The tier's reward type.
        reward_type: RewardType,
        /// The points reserved.
        cost: Points,
        /// The day it was made on.
        day: Day,
    },
    /// The marketplace answered (or nothing could be sent).
    RewardAnswered {
        /// The hold.
        txn_id: TxnId,
        /// What the answer was.
        outcome: AnswerKind,
        /// The reward id, or what happened.
        reason: String,
        /// Requests sent for the hold so far.
        attempts: u32,
    },
    /// The hold was committed: the reward was issued.
    HoldCommitted {
        /// The hold.
        txn_id: TxnId,
    },
    /// The hold was released: its points went back.
    HoldReleased {
        /// The hold.
        txn_id: TxnId,
    },
    /// The hold was marked in doubt or for review.
    HoldMarked {
        /// The hold.
        txn_id: TxnId,
        /// Its new state.
        state: HoldState,
        /// Requests sent for it so far.
        attempts: u32,
    },
    /// An operator re-sent a hold's request (`kudos review retry`).
    ReviewRetry {
        /// The hold.
        txn_id: TxnId,
        /// The agent's pseudonym.
        agent: String,
        /// Its state before.
        state: HoldState,
        /// Who (`--operator`, by default the login name; empty in trails of 0.1.0).
        #[serde(default)]
        operator: String,
    },
    /// An operator settled a hold (`kudos review settle`).
    ReviewSettled {
        /// The hold.
        txn_id: TxnId,
        /// The agent's pseudonym.
        agent: String,
        /// Its state before.
        state: HoldState,
        /// What the operator said.
        issued: bool,
        /// Who (`--operator`, by default the login name; empty in trails of 0.1.0).
        #[serde(default)]
        operator: String,
        /// What the marketplace said when asked first (`issued`, `rejected`, `not_found`,
        /// `unknown`; empty in trails of 0.1.0).
        #[serde(default)]
        marketplace: String,
        /// Whether the operator overrode a marketplace that disagreed (`--force`).
        #[serde(default)]
        forced: bool,
    },
    /// An operator's action was refused: the marketplace contradicts it, or a re-send is no
    /// longer safe. Nothing changed.
    ReviewRefused {
        /// The hold or reversal.
        txn_id: TxnId,
        /// Who.
        operator: String,
        /// `retry`, `settle --issued`, `settle --not-issued`, `settle --reversed` or
        /// `settle --not-reversed`.
        action: String,
        /// Why.
        reason: String,
    },
    /// An operator approved a reward that waited for an approval (`kudos review approve`):
    /// the next run sends it. When is the record's time.
    ReviewApproved {
        /// The hold.
        txn_id: TxnId,
        /// The agent's pseudonym.
        agent: String,
        /// The points it reserves.
        cost: Points,
        /// Who.
        operator: String,
    },
    /// An operator rejected a reward that waited for an approval (`kudos review reject`): its
    /// hold was released, its points returned.
    ReviewRejected {
        /// The hold.
        txn_id: TxnId,
        /// The agent's pseudonym.
        agent: String,
        /// The points it returned.
        cost: Points,
        /// Who.
        operator: String,
    },
    /// An operator paused the programme (`kudos pause`).
    Paused {
        /// Why.
        reason: String,
        /// Who.
        operator: String,
    },
    /// An operator resumed the programme (`kudos resume`).
    Resumed {
        /// Who.
        operator: String,
        /// The reason the pause had been given (empty if it was not paused).
        reason: String,
    },
}

/// What a marketplace answer (or a call that got none) was, as `reward_answered` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AnswerKind {
    /// Issued.
    Issued,
    /// Rejected (the points go back).
    Rejected,
    /// May have been issued.
    InDoubt,
    /// Needs an operator.
    Review,
    /// Nothing reached the marketplace.
    NotSent,
    /// `402`: the marketplace account had not the funds; nothing was issued.
    Unfunded,
}

impl AnswerKind {
    /// The name the audit trail and the log use (`issued`, `rejected`, `in_doubt`, `review`,
    /// `not_sent`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Rejected => "rejected",
            Self::InDoubt => "in_doubt",
            Self::Review => "review",
            Self::NotSent => "not_sent",
            Self::Unfunded => "unfunded",
        }
    }
}

impl AuditEvent {
    /// The event's stable name (the record's `event`).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::RunStarted { .. } => "run_started",
            Self::RunFinished(_) => "run_finished",
            Self::RunStopped { .. } => "run_stopped",
            Self::HoldRecovering { .. } => "hold_recovering",
            Self::RequestSent { .. } => "request_sent",
            Self::FileIngested { .. } => "file_ingested",
            Self::FileIngestedInPart { .. } => "file_ingested_in_part",
            Self::Accrued { .. } => "accrued",
            Self::ReversalRequested { .. } => "reversal_requested",
            Self::ReversalConfirmed { .. } => "reversal_confirmed",
            Self::ReversalRefused { .. } => "reversal_refused",
            Self::ReversalFailed { .. } => "reversal_failed",
            Self::ReversalMarked { .. } => "reversal_marked",
            Self::ReversalRecovering { .. } => "reversal_recovering",
            Self::ReversalSettled { .. } => "reversal_settled",
            Self::ReversalRetry { .. } => "reversal_retry",
            Self::HoldMade { .. } => "hold_made",
            Self::RewardAnswered { .. } => "reward_answered",
            Self::HoldCommitted { .. } => "hold_committed",
            Self::HoldReleased { .. } => "hold_released",
            Self::HoldMarked { .. } => "hold_marked",
            Self::ReviewRetry { .. } => "review_retry",
            Self::ReviewSettled { .. } => "review_settled",
            Self::ReviewRefused { .. } => "review_refused",
            Self::ReviewApproved { .. } => "review_approved",
            Self::ReviewRejected { .. } => "review_rejected",
            Self::Paused { .. } => "paused",
            Self::Resumed { .. } => "resumed",
        }
    }

    /// The event's details (the record's `data`).
    #[must_use]
    pub fn data(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut tagged)) => tagged.remove("data").unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// The event a record holds.
    ///
    /// # Errors
    ///
    /// When the record's event is not one of these (an unknown name, or fields missing).
    pub fn from_record(record: &AuditRecord) -> Result<Self, serde_json::Error> {
        Self::from_parts(&record.event, &record.data)
    }

    /// The event from a record's `event` and `data`.
    ///
    /// # Errors
    ///
    /// As [`AuditEvent::from_record`].
    pub fn from_parts(event: &str, data: &Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({"event": event, "data": data}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn txn(n: u128) -> TxnId {
        TxnId::from_uuid(Uuid::from_u128(n))
    }

    /// The JSON each event writes is what the run wrote before the events were typed: these
    /// pin names and fields, so an old trail reads back and a new one reads the same.
    #[test]
    fn events_write_the_stable_names_and_fields() {
        let day = Day::parse("2026-03-04").unwrap();
        let cases = [
            (
                AuditEvent::RunStarted {
                    as_of: day,
                    dry_run: false,
                },
                "run_started",
                json!({"as_of": "2026-03-04", "dry_run": false}),
            ),
            (
                AuditEvent::HoldMade {
                    txn_id: txn(1),
                    agent: "ab12".into(),
                    tier: TierId::new("small").unwrap(),
                    reward_type: RewardType::new("gift_card_small").unwrap(),
                    cost: Points::new(100),
                    day,
                },
                "hold_made",
                json!({"txn_id": txn(1), "agent": "ab12", "tier": "small",
                    "reward_type": "gift_card_small", "cost": 100, "day": "2026-03-04"}),
            ),
            (
                AuditEvent::HoldMarked {
                    txn_id: txn(2),
                    state: HoldState::InDoubt,
                    attempts: 3,
                },
                "hold_marked",
                json!({"txn_id": txn(2), "state": "in_doubt", "attempts": 3}),
            ),
            (
                AuditEvent::FileIngestedInPart {
                    file: "exports/a.csv".into(),
                    sha256: ContentHash::from_hex(&"00".repeat(32)).unwrap(),
                    records: 4,
                    rejected_rows: 1,
                    future_rows: 2,
                    through: day,
                },
                "file_ingested_in_part",
                json!({"file": "exports/a.csv", "sha256": "00".repeat(32), "records": 4,
                    "rejected_rows": 1, "future_rows": 2, "through": "2026-03-04"}),
            ),
            (
                AuditEvent::RunFinished(Summary::default()),
                "run_finished",
                serde_json::to_value(Summary::default()).unwrap(),
            ),
        ];
        for (event, name, data) in cases {
            assert_eq!(event.name(), name);
            assert_eq!(event.data(), data, "{name}");
            assert_eq!(AuditEvent::from_parts(name, &data).unwrap(), event);
        }
        assert!(AuditEvent::from_parts("no_such_event", &json!({})).is_err());
    }
}
