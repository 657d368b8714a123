//! Fault plans: which requests misbehave, and how. Deterministic for a given seed and
//! request order.
//!
//! Which fault a request gets is decided as it arrives, in `state` (the per-path counters and
//! the seeded draws live there); what the fault does, in `gate` and, for the parts that come
//! after processing, in the issue and reverse handlers.

use serde::Deserialize;

use crate::SimError;

/// What a faulty request gets instead of (or besides) normal processing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Answer with this HTTP status (and `Retry-After` for 429) without processing.
    Status,
    /// Wait `delay_ms` (kept to within tens of microseconds, not rounded up to the next
    /// millisecond as tokio's timer would), then process normally.
    Delay,
    /// Never answer (past any client's read timeout).
    Hang,
    /// Close the connection without answering, before processing.
    Reset,
    /// Process (issue the reward), then close the connection without answering.
    DropAfterProcessing,
    /// Answer `200` with `"status":"REJECTED"` (as when inventory runs out).
    Rejected,
    /// Issue the reward but answer `200` with `"status":"PENDING"`; a later lookup says `ISSUED`.
    Pending,
    /// Answer `200` with `"status":"PENDING"` and never issue: a later lookup says `FAILED`
    /// (a pending reward that ended without being issued).
    PendingThenFailed,
    /// On reverse: answer `200` with `"status":"NOT_REVERSIBLE"` and leave the reward issued
    /// (as when it was already redeemed); repeats of the reversal get the same answer.
    NotReversible,
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// The request path it applies to (`/v1/rewards/issue`, `/oauth/token`…). A path with
    /// `{id}` matches any request id (`/v1/rewards/{id}/reverse`).
    pub path: String,
    /// 1-based numbers of the requests on that path that misbehave.
    #[serde(default)]
    pub nth: Vec<u64>,
    /// Or: the chance that each request on that path misbehaves (drawn from the plan's seed).
    pub probability: Option<f64>,
    /// What happens.
    pub action: Action,
    /// For `status`.
    pub status: Option<u16>,
    /// For `status` 429: the `Retry-After` seconds.
    pub retry_after_secs: Option<u64>,
    /// For `status`: send `Retry-After` as an HTTP date `retry_after_secs` from now (the
    /// other form RFC 9110 allows) instead of as seconds.
    #[serde(default)]
    pub retry_after_as_date: bool,
    /// For `delay`.
    pub delay_ms: Option<u64>,
}

/// A window during which every `/v1` request gets `503`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Downtime {
    /// Start, in seconds after the simulator started.
    pub from_secs: f64,
    /// End (exclusive), in seconds after the simulator started.
    pub until_secs: f64,
}

/// A fault plan (`FAULTS.toml`).
///
/// ```toml
/// seed = 7
/// [[fault]]
/// path = "/v1/rewards/issue"
/// nth = [1]
/// action = "status"
/// status = 503
/// [[fault]]
/// path = "/v1/rewards/issue"
/// probability = 0.1
/// action = "drop_after_processing"
/// [[downtime]]
/// from_secs = 30
/// until_secs = 45
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// The seed of `probability` draws.
    #[serde(default)]
    pub seed: u64,
    /// The faults, tried in order; the first that matches a request applies.
    #[serde(default, rename = "fault")]
    pub faults: Vec<Fault>,
    /// Downtime windows.
    #[serde(default, rename = "downtime")]
    pub downtime: Vec<Downtime>,
}

impl FaultPlan {
    /// Parses and checks a plan.
    ///
    /// # Errors
    ///
    /// [`SimError::Faults`] naming the fault and field at fault.
    pub fn from_toml(text: &str) -> Result<Self, SimError> {
        let plan: Self = toml::from_str(text)
            .map_err(|e| SimError::Faults(e.to_string().trim_end().replace('\n', " ")))?;
        for (i, f) in plan.faults.iter().enumerate() {
            let at = |m: &str| SimError::Faults(format!("fault #{}: {m}", i + 1));
            if f.nth.is_empty() == f.probability.is_none() {
                return Err(at("give either nth or probability"));
            }
            if let Some(p) = f.probability
                && !(0.0..=1.0).contains(&p)
            {
                return Err(at("probability must be between 0 and 1"));
            }
            match f.action {
                Action::Status if !f.status.is_some_and(|s| (100..=599).contains(&s)) => {
                    return Err(at("action status needs status = 100..599"));
                }
                Action::Delay if f.delay_ms.is_none() => {
                    return Err(at("action delay needs delay_ms"));
                }
                _ => {}
            }
        }
        Ok(plan)
    }
}

/// The fault plan's generator: the same seed, the same draws.
pub(crate) type Rng = kudos_core::SeededRng;

/// Whether a fault's path pattern matches a request path.
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| *a == "{id}" || a == b)
}
