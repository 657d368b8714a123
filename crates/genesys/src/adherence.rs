//! WFM historical adherence through the bulk route: submit a job per management unit and
//! stretch of days, poll it (by the same client: a job is visible only to its creator) with
//! backoff until it is complete, download every presigned URL at once, stage each download.

use std::time::Duration;

use chrono_tz::Tz;
use kudos_core::{Clock, Day};
use serde_json::{Value, json};

use crate::{GenesysApi, GenesysError, PullReport, Staging, stretches_of};

/// The most days one adherence job spans (31; 7 with exceptions, which Kudos does not ask
/// for) — `docs/genesys.md`, section 4.
pub const MAX_ADHERENCE_DAYS: i64 = 31;

/// How a pull waits for adherence jobs.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct JobPolling {
    /// The first wait between polls (doubled each time, at most a minute).
    pub first_wait: Duration,
    /// A job not complete after this long is an error.
    pub give_up_after: Duration,
}

impl Default for JobPolling {
    fn default() -> Self {
        Self {
            first_wait: Duration::from_secs(2),
            give_up_after: Duration::from_secs(30 * 60),
        }
    }
}

impl JobPolling {
    /// Polls starting `first_wait` apart, giving up after `give_up_after`.
    #[must_use]
    pub const fn new(first_wait: Duration, give_up_after: Duration) -> Self {
        Self {
            first_wait,
            give_up_after,
        }
    }
}

/// Every management unit the client can see (`GET /api/v2/workforcemanagement/managementunits`).
///
/// # Errors
///
/// A [`GenesysError`] of the request, or [`GenesysError::Body`] for an answer without units.
pub async fn management_units(api: &GenesysApi) -> Result<Vec<String>, GenesysError> {
    let path = "/api/v2/workforcemanagement/managementunits";
    let body = api.get_json(path, "management units").await?;
    let value: Value = serde_json::from_slice(&body).map_err(|_| GenesysError::Body {
        endpoint: format!("GET {path}"),
        context: "management units".into(),
    })?;
    let units = value["entities"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|u| u["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(units)
}

/// Pulls WFM historical adherence for the days `first..=last` in `time_zone`, for `units`,
/// into `staging`: one bulk job per unit and stretch of at most [`MAX_ADHERENCE_DAYS`] days,
/// each download staged as `adherence-<unit>-<n>` (stamped on the client's clock).
///
/// # Errors
///
/// [`GenesysError::Job`] for a job that failed or did not complete in time; any error of
/// the requests or of the staging directory. Files staged before it stay.
pub async fn pull_adherence(
    api: &GenesysApi,
    staging: &Staging,
    units: &[String],
    first: Day,
    last: Day,
    time_zone: Tz,
    polling: JobPolling,
) -> Result<PullReport, GenesysError> {
    let clock = api.clock();
    let submit = "/api/v2/workforcemanagement/adherence/historical/bulk";
    let mut report = PullReport::default();
    for stretch in stretches_of(first, last, MAX_ADHERENCE_DAYS)? {
        let interval = stretch.interval(time_zone);
        let (start, end) = stretch.bounds(time_zone);
        for unit in units {
            let context = format!("adherence of unit {unit} {interval}");
            let query = json!({
                "timeZone": time_zone.name(),
                "items": [{
                    "managementUnitId": unit,
                    "startDate": start,
                    "endDate": end,
                    "includeExceptions": false,
                }],
            });
            let body = api.post_json(submit, &query, &context).await?;
            let job = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["job"]["id"].as_str().map(str::to_owned))
                .ok_or_else(|| GenesysError::Body {
                    endpoint: format!("POST {submit}"),
                    context: context.clone(),
                })?;
            let urls = wait_for(api, &job, &context, polling, clock).await?;
            for (n, url) in urls.iter().enumerate() {
                let bytes = api.download(url, &context).await?;
                if crate::is_empty(&bytes) {
                    report.empty.push(context.clone());
                }
                let kind = format!("adherence-{unit}-{}", n + 1);
                match staging.stage(
                    &kind,
                    stretch.first,
                    stretch.last,
                    &interval,
                    &bytes,
                    clock.now(),
                )? {
                    Some(file) => report.written.push(file),
                    None => report.unchanged += 1,
                }
            }
        }
    }
    Ok(report)
}

/// Polls job `id` until it is complete; its download URLs.
async fn wait_for(
    api: &GenesysApi,
    id: &str,
    context: &str,
    polling: JobPolling,
    clock: &dyn Clock,
) -> Result<Vec<String>, GenesysError> {
    let path = format!("/api/v2/workforcemanagement/adherence/historical/bulk/jobs/{id}");
    let started = clock.now();
    let mut wait = polling.first_wait;
    loop {
        let body = api.get_json(&path, context).await?;
        let value: Value = serde_json::from_slice(&body).map_err(|_| GenesysError::Body {
            endpoint: "GET /api/v2/workforcemanagement/adherence/historical/bulk/jobs".into(),
            context: context.to_owned(),
        })?;
        match value["job"]["status"].as_str() {
            Some("Complete") => {
                return Ok(value["downloadUrls"]
                    .as_array()
                    .map(|u| {
                        u.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default());
            }
            Some("Error") => {
                return Err(GenesysError::Job {
                    context: context.to_owned(),
                    reason: "Genesys says the job failed".into(),
                });
            }
            _ => {}
        }
        let waited = (clock.now() - started).to_std().unwrap_or_default();
        if waited + wait > polling.give_up_after {
            return Err(GenesysError::Job {
                context: context.to_owned(),
                reason: format!(
                    "not complete after {} s of polling",
                    polling.give_up_after.as_secs()
                ),
            });
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(60));
    }
}
