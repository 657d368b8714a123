//! Ledger entries: what is appended to an account, and never changed.

use chrono::{DateTime, Utc};
use kudos_core::{Day, EventKey, Points, RewardType, TierId, TxnId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The namespace of the ids Kudos derives for hold transitions (UUID v5).
const TRANSITION_NAMESPACE: Uuid = Uuid::from_u128(0x6b75_646f_732e_686f_6c64_2e74_7261_6e31);

/// One appended operation. An account's state is a function of its entries in append order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The operation's id: the accrual's key id, the adjustment's id, the hold's `TxnId`, or
    /// an id derived from the hold for its transitions. Operations are idempotent by id
    /// (accruals by key and points, see [`Op::Accrual`]).
    pub id: Uuid,
    /// When it was appended (by the ledger's clock).
    #[serde(serialize_with = "serialize_at")]
    pub at: DateTime<Utc>,
    /// What it does.
    pub op: Op,
}

/// An entry's instant as chrono writes it (RFC 3339, `Z`, the fraction of a second in 0, 3,
/// 6 or 9 digits as needed), formatted in a buffer: chrono's own `Serialize` writes it a
/// character at a time through serde_json's escaping writer, a fifth of an entry's encoding.
/// Instants outside years 0–9999, and leap seconds, go to chrono.
fn serialize_at<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match rfc3339(at, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        None => serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    }
}

/// `at` in `buf` as [`serialize_at`] writes it, or `None` outside its fast case.
fn rfc3339<'b>(at: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
    use chrono::{Datelike as _, Timelike as _};
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let nano = at.nanosecond();
    if nano >= 1_000_000_000 {
        return None;
    }
    let (fraction, width) = if nano == 0 {
        (0, 0)
    } else if nano.is_multiple_of(1_000_000) {
        (nano / 1_000_000, 3)
    } else if nano.is_multiple_of(1_000) {
        (nano / 1_000, 6)
    } else {
        (nano, 9)
    };
    // At most 4 + 5 × 3 + 10 + 1 = 30 bytes: every index below is in the buffer.
    let mut n = digits(buf, 0, year, 4);
    for (separator, value) in [
        (b'-', at.month()),
        (b'-', at.day()),
        (b'T', at.hour()),
        (b':', at.minute()),
        (b':', at.second()),
    ] {
        buf[n] = separator;
        n = digits(buf, n + 1, value, 2);
    }
    if width > 0 {
        buf[n] = b'.';
        n = digits(buf, n + 1, fraction, width);
    }
    buf[n] = b'Z';
    std::str::from_utf8(&buf[..=n]).ok()
}

/// Writes `value`'s last `width` decimal digits at `at`; returns the index after them.
fn digits(buf: &mut [u8], at: usize, mut value: u32, width: usize) -> usize {
    for slot in buf[at..at + width].iter_mut().rev() {
        // A decimal digit, 0 to 9.
        *slot = b'0' + u8::try_from(value % 10).unwrap_or(0);
        value /= 10;
    }
    at + width
}

/// A hold's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Made, and waiting for an operator's approval (`kudos review approve`): its points are
    /// reserved, and nothing has been sent. Approval moves it to `open`; rejection releases it.
    AwaitingApproval,
    /// Made (or approved), not yet answered.
    Open,
    /// The marketplace may have issued the reward; re-driven at the next run.
    InDoubt,
    /// Needs an operator (`kudos review`); never re-driven automatically.
    Review,
    /// The reward was issued: the points are consumed.
    Committed,
    /// The reward was not issued: the points went back.
    Released,
}

impl HoldState {
    /// The name used in output and in `--state`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "awaiting_approval",
            Self::Open => "open",
            Self::InDoubt => "in_doubt",
            Self::Review => "review",
            Self::Committed => "committed",
            Self::Released => "released",
        }
    }

    /// Whether the hold is still unresolved (awaiting approval, open, in doubt or in review):
    /// it blocks new holds for its agent.
    #[must_use]
    pub const fn is_unresolved(self) -> bool {
        matches!(
            self,
            Self::AwaitingApproval | Self::Open | Self::InDoubt | Self::Review
        )
    }

    /// All states, in lifecycle order.
    pub const ALL: [Self; 6] = [
        Self::AwaitingApproval,
        Self::Open,
        Self::InDoubt,
        Self::Review,
        Self::Committed,
        Self::Released,
    ];
}

impl std::str::FromStr for HoldState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|h| h.name() == s)
            .ok_or_else(|| format!("unknown hold state {s:?} (expected awaiting_approval, open, in_doubt, review, committed or released)"))
    }
}

/// A reversal's state (a clawback's request to void a committed reward).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalState {
    /// Recorded, its request not yet answered.
    Open,
    /// The marketplace may have reversed the reward; re-driven at the next run.
    InDoubt,
    /// Needs an operator (`kudos review settle TXN --reversed | --not-reversed`): the
    /// marketplace could not reverse it, or the run could not find out.
    Review,
    /// The marketplace reversed the reward: its points went back.
    Reversed,
    /// The reward stays issued (an operator said so): the debt stays.
    NotReversed,
}

impl ReversalState {
    /// The name used in output and in `--state`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InDoubt => "in_doubt",
            Self::Review => "review",
            Self::Reversed => "reversed",
            Self::NotReversed => "not_reversed",
        }
    }

    /// Whether the reversal is still unresolved (open, in doubt or in review): it is re-driven
    /// by every run (in review, by an operator).
    #[must_use]
    pub const fn is_unresolved(self) -> bool {
        matches!(self, Self::Open | Self::InDoubt | Self::Review)
    }

    /// All states, in lifecycle order.
    pub const ALL: [Self; 5] = [
        Self::Open,
        Self::InDoubt,
        Self::Review,
        Self::Reversed,
        Self::NotReversed,
    ];
}

impl std::str::FromStr for ReversalState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| {
            format!(
                "unknown reversal state {s:?} (expected open, in_doubt, review, reversed or not_reversed)"
            )
        })
    }
}

/// What an entry does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Op {
    /// The points a rule gave for a record, by key. The first time a key is seen, positive
    /// points make a lot (after paying debt) and negative points are a deduction; a later
    /// accrual of the same key with other points posts the difference (a restatement).
    Accrual {
        /// The event key.
        key: EventKey,
        /// The event's points now (not the difference).
        points: Points,
        /// When a lot made by these points expires (exclusive).
        expires: Day,
    },
    /// An operator's adjustment: positive points make a lot on `day` (after paying debt),
    /// negative ones are a deduction on `day`.
    Adjustment {
        /// The day it counts on.
        day: Day,
        /// The points.
        points: Points,
        /// When a lot made by it expires (exclusive).
        expires: Day,
        /// Why (for the audit trail).
        reason: String,
    },
    /// A hold (`LOCKED_FOR_REDEMPTION`): reserves `cost` from the lots live on `day`, oldest
    /// first, before the reward request is sent. Carries what issuing and recovery need.
    Hold {
        /// The reward request's idempotency key (also the entry id).
        txn: TxnId,
        /// The run's day.
        day: Day,
        /// The tier.
        tier: TierId,
        /// The marketplace reward type.
        reward_type: RewardType,
        /// The points reserved.
        cost: Points,
        /// The request payload, fixed now, sent unchanged by every retry and recovery.
        #[serde(with = "hex_bytes")]
        payload: Vec<u8>,
    },
    /// A hold that is not resolved changed state (to in doubt or review) or was sent again.
    Mark {
        /// The hold.
        txn: TxnId,
        /// Its new state: `open`, `in_doubt` or `review`.
        state: HoldState,
        /// How many times its request has been sent so far.
        attempts: u32,
    },
    /// The reward was issued: the reserved points are consumed.
    Commit {
        /// The hold.
        txn: TxnId,
    },
    /// The reward was not issued: the reserved points return to their lots (paying debt
    /// first; points returning to a lot expired on `day` are gone).
    Release {
        /// The hold.
        txn: TxnId,
        /// The day of the release.
        day: Day,
    },
    /// A reversal of a committed redemption (clawback), recorded before its request leaves:
    /// open until the marketplace's answer (or a lookup, or an operator) settles it. Carries
    /// the request body, fixed now, sent unchanged by every retry.
    ReversalRequest {
        /// The reversal request's own idempotency key (also the entry id).
        txn: TxnId,
        /// The redemption it would reverse.
        of: TxnId,
        /// The run's day.
        day: Day,
        /// The agent's debt when it was asked for (for the audit trail and review).
        debt: Points,
        /// The request body.
        #[serde(with = "hex_bytes")]
        payload: Vec<u8>,
    },
    /// An unresolved reversal changed state (to in doubt or review) or was sent again.
    ReversalMark {
        /// The reversal.
        txn: TxnId,
        /// Its new state: `open`, `in_doubt` or `review`.
        state: ReversalState,
        /// How many times its request has been sent so far.
        attempts: u32,
    },
    /// The reversal did not happen and will not be re-driven (an operator settled it
    /// `--not-reversed`): the redemption stays, and so does the debt.
    ReversalEnd {
        /// The reversal.
        txn: TxnId,
    },
    /// The marketplace confirmed the reversal of a committed redemption (clawback), or voided
    /// the reward itself: its cost returns to the lots it came from, paying debt first.
    Reversal {
        /// The reversal request's own idempotency key (also the entry id).
        txn: TxnId,
        /// The redemption it reverses.
        of: TxnId,
        /// The day of the reversal.
        day: Day,
    },
}

impl Op {
    /// The kind, as `ledger history` prints it.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Accrual { .. } => "accrual",
            Self::Adjustment { .. } => "adjustment",
            Self::Hold { .. } => "hold",
            Self::Mark { .. } => "mark",
            Self::Commit { .. } => "commit",
            Self::Release { .. } => "release",
            Self::ReversalRequest { .. } => "reversal_request",
            Self::ReversalMark { .. } => "reversal_mark",
            Self::ReversalEnd { .. } => "reversal_end",
            Self::Reversal { .. } => "reversal",
        }
    }
}

/// The id of a hold transition: derived from the hold and the transition, so that the same
/// transition asked twice has the same id (and is a no-op), whoever asks.
#[must_use]
pub fn transition_id(txn: TxnId, transition: &str, attempts: u32) -> Uuid {
    let mut name = txn.as_uuid().as_bytes().to_vec();
    name.extend_from_slice(transition.as_bytes());
    name.extend_from_slice(&attempts.to_be_bytes());
    Uuid::new_v5(&TRANSITION_NAMESPACE, &name)
}

/// Payload bytes as lowercase hex in JSON (stores persist entries as JSON).
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            let _ = write!(out, "{b:02x}");
        }
        s.serialize_str(&out)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("hex payload has an odd length"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16)
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone as _};

    /// The entry's `at` as serialized, against chrono's own serialization of the instant.
    fn check(at: DateTime<Utc>) {
        let entry = Entry {
            id: Uuid::nil(),
            at,
            op: Op::ReversalEnd {
                txn: TxnId::from_uuid(Uuid::nil()),
            },
        };
        let ours = serde_json::to_value(&entry).unwrap()["at"].clone();
        let chrono = serde_json::to_value(at).unwrap();
        assert_eq!(ours, chrono, "{at:?}");
        let back: Entry = serde_json::from_str(&serde_json::to_string(&entry).unwrap()).unwrap();
        assert_eq!(back.at, at);
    }

    #[test]
    fn an_entrys_instant_is_written_as_chrono_writes_it() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        for date in [
            day(2026, 10, 2),
            day(0, 1, 1),
            day(9999, 12, 31),
            day(10_000, 1, 1),
            day(-1, 6, 15),
            day(1970, 1, 1),
        ] {
            for (h, m, s) in [(0, 0, 0), (6, 0, 0), (23, 59, 59), (9, 5, 7)] {
                for nano in [
                    0,
                    1,
                    7_000,
                    123_000_000,
                    123_456_000,
                    123_456_789,
                    999_999_999,
                    100_000,
                    1_000_000,
                ] {
                    let naive = date.and_hms_nano_opt(h, m, s, nano).unwrap();
                    check(Utc.from_utc_datetime(&naive));
                }
            }
        }
        // A leap second goes to chrono.
        let leap = day(2016, 12, 31)
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap();
        check(Utc.from_utc_datetime(&leap));
    }
}
