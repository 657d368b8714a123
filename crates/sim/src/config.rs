//! How the simulator behaves: [`SimConfig`], fixed when it starts (only the fault plan can be
//! replaced later, with [`Simulator::set_faults`](crate::Simulator::set_faults)).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use kudos_core::{Clock, Money, SystemClock};

use crate::FaultPlan;

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// The client id the token endpoint accepts.
    pub client_id: String,
    /// The client secret the token endpoint accepts.
    pub client_secret: String,
    /// How long tokens live.
    pub token_ttl_secs: u64,
    /// The integration id required in `X-Integration-ID` (`None`: any non-empty value).
    pub integration_id: Option<String>,
    /// When set, `X-Signature` is required on issue requests and checked with this secret:
    /// its `v2` (over method, path, idempotency key, request id, timestamp and body), and its
    /// timestamp within [`signature_tolerance_secs`](Self::signature_tolerance_secs).
    pub signing_secret: Option<String>,
    /// How far a signature's timestamp may be from [`SimConfig::clock`], either way (default
    /// 300 s: wider than any clock skew the seeded simulation models, 60 s).
    pub signature_tolerance_secs: u64,
    /// Accept a signature with `v1` only (a client of the first version), which does not bind
    /// the request id: a captured request can then be replayed under another key.
    pub accept_signature_v1_only: bool,
    /// When set, `recipient_enc` is decrypted with this secret (see
    /// [`decrypt_recipient`](crate::decrypt_recipient)) and the result recorded with the reward.
    pub recipient_key: Option<String>,
    /// Rewards available per reward type; a type not listed is unlimited.
    pub inventory: HashMap<String, u64>,
    /// The fault plan.
    pub faults: FaultPlan,
    /// How long a completed issue request's idempotency key is kept (`None`: for ever). A
    /// repeat after that is processed afresh — a second reward — as real marketplaces do
    /// after their retention (24 hours to 90 days). Keys are scoped per client
    /// (`X-Integration-ID`). [`Simulator::expire_idempotency_keys`](crate::Simulator::expire_idempotency_keys)
    /// ends every kept key at once.
    pub idempotency_retention_secs: Option<u64>,
    /// Eventual consistency: for this long after a reward is issued, lookups do not see it
    /// (`404`); after it is reversed, they still say `ISSUED`.
    pub lookup_lag_ms: u64,
    /// At most this many `/v1` requests a second (`None`: no limit); the rest get `429` with
    /// `Retry-After` as an HTTP date (the start of the next second, on [`SimConfig::clock`]).
    pub rate_limit_per_sec: Option<u32>,
    /// Text added to every `REJECTED` reason and injected error message the simulator
    /// answers — a marketplace that quotes back what it knows (a recipient's e-mail, say):
    /// for testing that answers are scrubbed before they are logged, audited or alerted.
    pub answer_echo: Option<String>,
    /// The clock of `Retry-After` dates and of signature timestamps (the client's, in a
    /// simulation on a manual clock).
    pub clock: Arc<dyn Clock>,
    /// The account's funds (`None`: unlimited, and `GET /v1/account/balance` answers `404`).
    /// Each reward issued takes its price; one the funds cannot cover is answered `402`,
    /// unprocessed.
    pub balance: Option<Money>,
    /// What each reward type costs the account (a type not listed costs nothing).
    pub prices: HashMap<String, Money>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "kudos-sim-client".to_owned(),
            client_secret: "kudos-sim-secret".to_owned(),
            token_ttl_secs: 3600,
            integration_id: None,
            signing_secret: None,
            signature_tolerance_secs: 300,
            accept_signature_v1_only: false,
            recipient_key: None,
            inventory: HashMap::new(),
            faults: FaultPlan::default(),
            idempotency_retention_secs: None,
            lookup_lag_ms: 0,
            rate_limit_per_sec: None,
            answer_echo: None,
            clock: Arc::new(SystemClock),
            balance: None,
            prices: HashMap::new(),
        }
    }
}
