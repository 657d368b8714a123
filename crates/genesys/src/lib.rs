//! Kudos's Genesys Cloud source: the data pulled straight from the Platform API.
//!
//! # Overview
//!
//! [`GenesysApi`] speaks to one organisation: OAuth client credentials against its region's
//! login host ([`Endpoints`]), every request through the reward client's
//! [`Transport`](kudos_client::Transport) (rustls, timeouts, a client certificate), a budget
//! under the per-token limit, `429` waited out as `Retry-After` says, `5xx` retried.
//! [`pull_aggregates`] asks the analytics aggregate queries for a range of days — `P1D`
//! buckets grouped by user in the business unit's time zone, the range cut into
//! [`stretches`] — and [`Staging`] keeps each response as the raw JSON Genesys returned, one
//! file per response, named in pull order, so that the existing `genesys-aggregates` parser,
//! ingestion by content hash, restatement and the audit trail work on it unchanged. A pull of
//! the same days that returns the same data, in any order, writes nothing. [`pull_adherence`]
//! runs WFM historical adherence as bulk jobs (submit, poll, download every presigned URL);
//! [`user_fields`] reads the users API for recipient fields, held in memory only.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use kudos_core::{Day, SystemClock};
//! use kudos_genesys::*;
//! use kudos_privacy::SecretSource;
//!
//! # async fn pull() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Arc::new(SystemClock);
//! let transport = Arc::new(kudos_client::ReqwestTransport::new(
//!     std::time::Duration::from_secs(10),
//!     std::time::Duration::from_secs(60),
//! )?);
//! let api = GenesysApi::new(
//!     Endpoints::region("mypurecloud.com")?,
//!     "my-oauth-client-id",
//!     SecretSource::Env("GENESYS_CLIENT_SECRET".into()),
//!     transport,
//!     clock.clone(),
//! )?;
//! let staging = Staging::open("genesys/")?;
//! let report = pull_aggregates(
//!     &api,
//!     &staging,
//!     &[AggregateKind::Surveys, AggregateKind::Conversations],
//!     Day::parse("2026-03-02")?,
//!     Day::parse("2026-03-08")?,
//!     "America/New_York".parse()?,
//!     clock.as_ref(),
//! )
//! .await?;
//! println!("{} file(s) written, {} unchanged", report.written.len(), report.unchanged);
//! # Ok(())
//! # }
//! ```
//!
//! # Design notes
//!
//! - *Raw responses, staged.* Nothing is translated here: the parsers of `kudos-wfm` read
//!   the files, as they read an export a user downloaded, so a replay from the staging
//!   directory is exactly what the run saw.
//! - *No secret out.* Tokens go only in the `Authorization` header to the configured hosts;
//!   errors name the endpoint and the interval, never a token or a response's data.

mod adherence;
mod aggregates;
mod api;
mod error;
mod region;
mod staging;
mod users;

pub use adherence::{JobPolling, MAX_ADHERENCE_DAYS, management_units, pull_adherence};
pub use aggregates::{AggregateKind, MAX_DAYS_PER_QUERY, Stretch, stretches, stretches_of};
pub use api::{DEFAULT_REQUESTS_PER_MINUTE, GenesysApi, MAX_ATTEMPTS};
pub use error::GenesysError;
pub use region::{Endpoints, REGIONS};
pub use staging::{StagedFile, Staging};
pub use users::{USERS_PAGE_SIZE, user_fields};

use chrono_tz::Tz;
use kudos_core::{Clock, Day};

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullReport {
    /// The files it wrote, in the order written.
    pub written: Vec<StagedFile>,
    /// Responses that said what the last file for the same kind and days said (not written).
    pub unchanged: usize,
    /// What came back with no data at all (`surveys 2026-03-02T05:00:00.000Z/…`): worth a
    /// look — a role missing a permission or a division answers with nothing, not an error.
    pub empty: Vec<String>,
}

/// Whether a staged response carries no data: no `results` (aggregates) and no
/// `userResults` (adherence).
fn is_empty(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        let none = |k: &str| {
            v.get(k)
                .is_none_or(|x| x.as_array().is_none_or(Vec::is_empty))
        };
        none("results") && none("userResults")
    })
}

/// Pulls `kinds` of analytics aggregates for the days `first..=last` in `time_zone` into
/// `staging`: one query per kind and [`Stretch`], each answer staged.
///
/// # Errors
///
/// The first [`GenesysError`] of a query or of the staging directory; the files staged
/// before it stay (a repeated pull writes only what changed).
pub async fn pull_aggregates(
    api: &GenesysApi,
    staging: &Staging,
    kinds: &[AggregateKind],
    first: Day,
    last: Day,
    time_zone: Tz,
    clock: &dyn Clock,
) -> Result<PullReport, GenesysError> {
    let mut report = PullReport::default();
    for stretch in stretches(first, last)? {
        let interval = stretch.interval(time_zone);
        for kind in kinds {
            let query = kind.query(&interval, time_zone);
            let context = format!("{} {interval}", kind.name());
            let body = api.post_json(&kind.path(), &query, &context).await?;
            if is_empty(&body) {
                report.empty.push(context.clone());
            }
            match staging.stage(
                kind.name(),
                stretch.first,
                stretch.last,
                &interval,
                &body,
                clock.now(),
            )? {
                Some(file) => report.written.push(file),
                None => report.unchanged += 1,
            }
        }
    }
    Ok(report)
}
