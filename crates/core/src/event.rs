//! Point events and their deterministic keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};
use uuid::Uuid;

use crate::{AgentId, Day, MetricName, Points, RuleId};

/// The namespace of event ids (UUID v5). Changing it would change every event id, so it never
/// changes.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6b75_646f_732e_6576_656e_742e_6b65_7931);

/// What an event is about: one rule applied to one metric of one agent on one day, with the
/// record's dimensions.
///
/// A restated record yields the same key, so the ledger can post the difference instead of
/// counting it twice. The key's [`id`](EventKey::id) is a UUID v5 of its parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventKey {
    /// The agent.
    pub agent: AgentId,
    /// The day of the record.
    pub day: Day,
    /// The rule that produced the event.
    pub rule: RuleId,
    /// The metric the rule read.
    pub metric: MetricName,
    /// The record's dimensions.
    pub dims: BTreeMap<String, String>,
}

impl EventKey {
    /// Builds a key.
    #[must_use]
    pub fn new(
        agent: AgentId,
        day: Day,
        rule: RuleId,
        metric: MetricName,
        dims: BTreeMap<String, String>,
    ) -> Self {
        Self {
            agent,
            day,
            rule,
            metric,
            dims,
        }
    }

    /// The key's id: UUID v5 over an unambiguous encoding of its parts (each part
    /// length-prefixed, dimensions in key order), so the same key always has the same id and
    /// no two keys share one.
    ///
    /// ```
    /// # use kudos_core::*;
    /// let key = |rule: &str| -> Result<EventKey, CoreError> {
    ///     Ok(EventKey::new(AgentId::new("u1")?, Day::parse("2026-03-02")?, RuleId::new(rule)?,
    ///         MetricName::new("csat")?, Default::default()))
    /// };
    /// assert_eq!(key("a")?.id(), key("a")?.id());
    /// assert_ne!(key("a")?.id(), key("b")?.id());
    /// # Ok::<(), CoreError>(())
    /// ```
    #[must_use]
    pub fn id(&self) -> Uuid {
        finish(
            agent_prefix(&self.agent),
            self.day,
            &self.rule,
            &self.metric,
            &self.dims,
        )
    }
}

/// UUID v5 (RFC 9562): SHA-1 over the namespace and the name, hashed as it is built (with the
/// CPU's SHA instructions where it has them; `Uuid::new_v5` gives the same id). The name's
/// parts are each length-prefixed. This is the part every key of one agent shares.
fn agent_prefix(agent: &AgentId) -> Sha1 {
    let mut hasher = Sha1::new();
    hasher.update(EVENT_NAMESPACE.as_bytes());
    part(&mut hasher, b"kudos.event.v1");
    part(&mut hasher, agent.as_str().as_bytes());
    hasher
}

fn part(hasher: &mut Sha1, bytes: &[u8]) {
    // A part is at most a few hundred bytes (names are length-checked), so u32 suffices;
    // saturating keeps this total even if that ever changed.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hasher.update(len.to_be_bytes());
    hasher.update(bytes);
}

/// The rest of a key's name after its agent's prefix (its day, rule, metric and dimensions),
/// and the id.
fn finish(
    mut hasher: Sha1,
    day: Day,
    rule: &RuleId,
    metric: &MetricName,
    dims: &BTreeMap<String, String>,
) -> Uuid {
    part(&mut hasher, &day.ascii());
    part(&mut hasher, rule.as_str().as_bytes());
    part(&mut hasher, metric.as_str().as_bytes());
    part(
        &mut hasher,
        &u32::try_from(dims.len()).unwrap_or(u32::MAX).to_be_bytes(),
    );
    for (k, v) in dims {
        part(&mut hasher, k.as_bytes());
        part(&mut hasher, v.as_bytes());
    }
    let hash = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// The ids of one agent's event keys, as [`EventKey::id`] gives them, for less work when an
/// agent has many: the hashing of what every key of the agent shares — for a usual agent id,
/// the first of the two SHA-1 blocks an id takes — is done once, here.
///
/// ```
/// # use kudos_core::*;
/// let agent = AgentId::new("a1b2c3d4-0000-4000-8000-000000000001")?;
/// let ids = AgentKeyIds::new(agent.clone());
/// let key = EventKey::new(agent, Day::parse("2026-03-02")?, RuleId::new("csat-top")?,
///     MetricName::new("csat")?, Default::default());
/// assert_eq!(ids.id(&key), key.id());
/// # Ok::<(), CoreError>(())
/// ```
#[derive(Clone)]
pub struct AgentKeyIds {
    agent: AgentId,
    prefix: Sha1,
}

impl AgentKeyIds {
    /// The ids of `agent`'s keys.
    #[must_use]
    pub fn new(agent: AgentId) -> Self {
        let prefix = agent_prefix(&agent);
        Self { agent, prefix }
    }

    /// `key`'s id: [`EventKey::id`], whoever's key it is (another agent's is hashed whole).
    #[must_use]
    pub fn id(&self, key: &EventKey) -> Uuid {
        if key.agent == self.agent {
            finish(
                self.prefix.clone(),
                key.day,
                &key.rule,
                &key.metric,
                &key.dims,
            )
        } else {
            key.id()
        }
    }

    /// The id of this agent's key with these parts: the [`EventKey::id`] of
    /// `EventKey::new(agent, day, rule, metric, dims)`, without making the key.
    #[must_use]
    pub fn id_of(
        &self,
        day: Day,
        rule: &RuleId,
        metric: &MetricName,
        dims: &BTreeMap<String, String>,
    ) -> Uuid {
        finish(self.prefix.clone(), day, rule, metric, dims)
    }
}

impl std::fmt::Debug for AgentKeyIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentKeyIds")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

/// Points earned (or, when negative, taken) by one rule for one record.
///
/// A record whose rule predicate fails still yields an event, with zero points, so that a
/// restated record can take back what it once earned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PointEvent {
    key: EventKey,
    points: Points,
}

impl PointEvent {
    /// An event for `key` worth `points`.
    #[must_use]
    pub fn new(key: EventKey, points: Points) -> Self {
        Self { key, points }
    }

    /// The event's key.
    #[must_use]
    pub fn key(&self) -> &EventKey {
        &self.key
    }

    /// The event's id: its key's id.
    #[must_use]
    pub fn id(&self) -> Uuid {
        self.key.id()
    }

    /// The agent.
    #[must_use]
    pub fn agent(&self) -> &AgentId {
        &self.key.agent
    }

    /// The day.
    #[must_use]
    pub fn day(&self) -> Day {
        self.key.day
    }

    /// The points.
    #[must_use]
    pub fn points(&self) -> Points {
        self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(agent: &str, dims: &[(&str, &str)]) -> EventKey {
        EventKey::new(
            AgentId::new(agent).unwrap(),
            Day::parse("2026-03-02").unwrap(),
            RuleId::new("r").unwrap(),
            MetricName::new("m").unwrap(),
            dims.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn ids_are_stable_across_releases() {
        // A changed id would make the ledger count every past event again. The expected value
        // was computed independently (Python: uuid v5 over the documented encoding).
        assert_eq!(
            key("a1b2c3d4-0000-4000-8000-000000000001", &[])
                .id()
                .to_string(),
            "83e5b648-bda0-59cf-b8ea-edcfd724268c"
        );
    }

    /// The id as the first releases computed it: the name built whole, then `Uuid::new_v5`.
    fn id_as_built_whole(key: &EventKey) -> Uuid {
        let mut buf = Vec::new();
        let mut part = |bytes: &[u8]| {
            buf.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
            buf.extend_from_slice(bytes);
        };
        part(b"kudos.event.v1");
        part(key.agent.as_str().as_bytes());
        part(key.day.to_string().as_bytes());
        part(key.rule.as_str().as_bytes());
        part(key.metric.as_str().as_bytes());
        part(&u32::try_from(key.dims.len()).unwrap().to_be_bytes());
        for (k, v) in &key.dims {
            part(k.as_bytes());
            part(v.as_bytes());
        }
        Uuid::new_v5(&EVENT_NAMESPACE, &buf)
    }

    proptest::proptest! {
        /// Hashing the name as it is built gives the id `Uuid::new_v5` gives, for any key.
        #[test]
        fn ids_are_uuid_v5_of_the_documented_name(
            agent in "[a-z0-9-]{1,40}",
            dims in proptest::collection::btree_map("[a-zA-Z ]{0,12}", "\\PC{0,70}", 0..4),
        ) {
            let dims: Vec<(&str, &str)> = dims.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let key = key(&agent, &dims);
            proptest::prop_assert_eq!(key.id(), id_as_built_whole(&key));
            // And through the agent's shared prefix, for its own keys and another's.
            let ids = AgentKeyIds::new(key.agent.clone());
            proptest::prop_assert_eq!(ids.id(&key), key.id());
            proptest::prop_assert_eq!(ids.id_of(key.day, &key.rule, &key.metric, &key.dims), key.id());
            let other = AgentId::new("someone-else").unwrap();
            proptest::prop_assert_eq!(AgentKeyIds::new(other).id(&key), key.id());
        }
    }

    #[test]
    fn parts_cannot_be_shifted_into_each_other() {
        assert_ne!(key("ab", &[("c", "d")]).id(), key("a", &[("bc", "d")]).id());
        assert_ne!(key("a", &[("k", "v1")]).id(), key("a", &[("k", "v2")]).id());
        assert_ne!(key("a", &[]).id(), key("a", &[("", "")]).id());
    }
}
