//! Validated names and identifiers.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Clock, CoreError};

/// Checks the rules every Kudos name follows: not empty, at most `max` bytes, no control
/// characters and no whitespace at either end (so that two names that print alike are equal).
fn check_name(kind: &'static str, value: &str, max: usize) -> Result<(), CoreError> {
    if value.is_empty() {
        return Err(CoreError::Empty { kind });
    }
    if value.len() > max {
        return Err(CoreError::TooLong {
            kind,
            len: value.len(),
            max,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(CoreError::InvalidChars {
            kind,
            value: value.escape_debug().to_string(),
            reason: "contains a control character",
        });
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(CoreError::InvalidChars {
            kind,
            value: value.to_owned(),
            reason: "has whitespace at its start or end",
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $max:literal, $example:literal) => {
        $(#[$meta])*
        #[doc = ""]
        #[doc = concat!("Not empty, at most ", stringify!($max), " bytes, no control characters, no whitespace at either end.")]
        #[doc = ""]
        #[doc = "```"]
        #[doc = concat!("let v = kudos_core::", stringify!($name), "::new(\"", $example, "\")?;")]
        #[doc = concat!("assert_eq!(v.as_str(), \"", $example, "\");")]
        #[doc = concat!("assert!(kudos_core::", stringify!($name), "::new(\"\").is_err());")]
        #[doc = "# Ok::<(), kudos_core::CoreError>(())"]
        #[doc = "```"]
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        /// As its text, written from the shared value (no copy is made to write it).
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        /// From its text, validated as [`new`](Self::new) validates it (a borrowed string is
        /// copied once, into the shared value).
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Text;
                impl serde::de::Visitor<'_> for Text {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a string (", $kind, ")"))
                    }
                    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<$name, E> {
                        $name::new(value).map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(Text)
            }
        }

        impl $name {
            /// The longest value allowed, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Validates and wraps a value.
            ///
            /// # Errors
            ///
            /// [`CoreError::Empty`], [`CoreError::TooLong`] or [`CoreError::InvalidChars`].
            pub fn new(value: impl AsRef<str>) -> Result<Self, CoreError> {
                let value = value.as_ref();
                check_name($kind, value, $max)?;
                Ok(Self(Arc::from(value)))
            }

            /// The value as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = CoreError;
            fn try_from(value: String) -> Result<Self, CoreError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.to_string()
            }
        }

        impl std::str::FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, CoreError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

name_type!(
    /// The platform user id of an agent: in Genesys Cloud, the user UUID.
    ///
    /// It is never a name or an e-mail address; personal data is dropped before an `AgentId`
    /// is made. Outbound payloads carry a keyed pseudonym of it, never the id itself.
    AgentId,
    "agent id",
    256,
    "a1b2c3d4-0000-4000-8000-000000000001"
);
name_type!(
    /// The name of a metric as a parser emits it (`tHandle.avg`, `adherence_pct`, `answered`).
    ///
    /// Metric names are open: any name a parser emits is valid, and rules refer to them
    /// directly or through aliases.
    MetricName,
    "metric name",
    256,
    "tHandle.avg"
);
name_type!(
    /// The id of a points rule; part of every event key the rule produces.
    RuleId,
    "rule id",
    128,
    "csat-top"
);
name_type!(
    /// The id of a reward tier.
    TierId,
    "tier id",
    128,
    "gift-card-50"
);
name_type!(
    /// The marketplace's name for a kind of reward (`gift_card_50_usd`).
    RewardType,
    "reward type",
    128,
    "gift_card_50_usd"
);

/// The idempotency key of one reward request (or reversal): a UUID, version 7 when Kudos makes
/// it, so that ids sort by creation time.
///
/// It is written to the ledger with the hold before anything is sent, and every retry and
/// every recovery of that request sends the same id.
///
/// ```
/// use kudos_core::{ManualClock, TxnId};
/// let clock = ManualClock::at_rfc3339("2026-03-04T06:00:00Z")?;
/// let a = TxnId::generate(&clock);
/// let b: TxnId = a.to_string().parse()?;
/// assert_eq!(a, b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TxnId(Uuid);

impl TxnId {
    /// Wraps an existing UUID (one read back from a store, say).
    #[must_use]
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// A new version-7 id whose timestamp is the clock's now and whose remaining bits are random.
    #[must_use]
    pub fn generate(clock: &dyn Clock) -> Self {
        let now = clock.now();
        let secs = u64::try_from(now.timestamp()).unwrap_or(0);
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, now.timestamp_subsec_nanos());
        Self(Uuid::new_v7(ts))
    }

    /// The UUID.
    #[must_use]
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl std::str::FromStr for TxnId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| CoreError::InvalidTxnId {
                value: s.escape_debug().to_string(),
            })
    }
}

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxnId({})", self.0.hyphenated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_what_would_print_alike_or_break_lines() {
        assert_eq!(AgentId::new(""), Err(CoreError::Empty { kind: "agent id" }));
        assert!(matches!(
            AgentId::new(" a"),
            Err(CoreError::InvalidChars { .. })
        ));
        assert!(matches!(
            AgentId::new("a\n"),
            Err(CoreError::InvalidChars { .. })
        ));
        assert!(matches!(
            MetricName::new("x".repeat(257)),
            Err(CoreError::TooLong { len: 257, .. })
        ));
        assert_eq!(
            MetricName::new("tHandle.avg").map(|m| m.to_string()),
            Ok("tHandle.avg".to_owned())
        );
    }

    #[test]
    fn serde_goes_through_the_constructor() {
        let ok: AgentId = serde_json::from_str("\"u-1\"").unwrap();
        assert_eq!(ok.as_str(), "u-1");
        let err = serde_json::from_str::<AgentId>("\"\"").unwrap_err();
        assert!(err.to_string().contains("agent id is empty"), "{err}");
    }

    #[test]
    fn txn_ids_are_version_7_at_the_clock_time() {
        let clock = crate::ManualClock::at_rfc3339("2026-03-04T06:00:00Z").unwrap();
        let id = TxnId::generate(&clock);
        assert_eq!(id.as_uuid().get_version_num(), 7);
        let (secs, _) = id.as_uuid().get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_772_604_000);
        assert!("not-a-uuid".parse::<TxnId>().is_err());
    }
}
