//! The WFM routes of the Genesys simulator: management units, bulk historical adherence jobs
//! (visible only to the client that started them) and their presigned downloads.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{ADHERENCE_SAMPLE, Job, Shared, authorised, error, planned_fault};

/// The client id the bearer token of `headers` was issued to, if it is live.
fn caller(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    if !authorised(shared, headers) {
        return None;
    }
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    shared.lock().token_clients.get(token).cloned()
}

/// The position of job `job-<n>` in the list of jobs.
fn job_index(id: &str) -> Option<usize> {
    id.strip_prefix("job-")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| n.checked_sub(1))
}

/// The platform's answer to a missing or expired token.
pub(super) fn unauthorised() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "bad.credentials",
        "Invalid login credentials.",
    )
}

/// The management unit of the sample.
fn sample_unit() -> String {
    serde_json::from_str::<Value>(ADHERENCE_SAMPLE)
        .ok()
        .and_then(|v| v["managementUnitId"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(super) async fn management_units(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    let path = "/api/v2/workforcemanagement/managementunits";
    if let (_, Some(response)) = planned_fault(&shared, "GET", path, &Bytes::new()) {
        return response;
    }
    if caller(&shared, &headers).is_none() {
        return unauthorised();
    }
    Json(json!({
        "entities": [{ "id": sample_unit(), "name": "Sample unit" }],
        "pageSize": 25, "pageNumber": 1, "total": 1, "pageCount": 1,
    }))
    .into_response()
}

pub(super) async fn submit_adherence(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = "/api/v2/workforcemanagement/adherence/historical/bulk";
    if let (_, Some(response)) = planned_fault(&shared, "POST", path, &body) {
        return response;
    }
    let Some(client) = caller(&shared, &headers) else {
        return unauthorised();
    };
    let Ok(query) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "the body is not JSON",
        );
    };
    let item = &query["items"][0];
    let instant = |v: &Value| {
        v.as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(start), Some(end), Some(unit), true) = (
        instant(&item["startDate"]),
        instant(&item["endDate"]),
        item["managementUnitId"].as_str(),
        query["timeZone"].is_string(),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "timeZone and items[].managementUnitId, startDate and endDate are required",
        );
    };
    let limit = if item["includeExceptions"] == true {
        7
    } else {
        31
    };
    if end <= start || (end - start).num_days() > limit {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "the range is over the limit",
        );
    }
    let mut state = shared.lock();
    state.jobs.push(Job {
        creator: client,
        start,
        end,
        unit: unit.to_owned(),
        polls: 0,
    });
    let id = format!("job-{}", state.jobs.len());
    (
        StatusCode::ACCEPTED,
        Json(json!({ "job": { "id": id, "status": "Processing" }, "downloadUrls": null })),
    )
        .into_response()
}

pub(super) async fn poll_adherence(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = "/api/v2/workforcemanagement/adherence/historical/bulk/jobs";
    if let (_, Some(response)) = planned_fault(&shared, "GET", path, &Bytes::new()) {
        return response;
    }
    let Some(client) = caller(&shared, &headers) else {
        return unauthorised();
    };
    let index = job_index(&id);
    let mut state = shared.lock();
    // Only the client that started a job may read it.
    let Some(job) = index
        .and_then(|i| state.jobs.get_mut(i))
        .filter(|j| j.creator == client)
    else {
        return error(StatusCode::NOT_FOUND, "not.found", "no such job");
    };
    job.polls += 1;
    if job.polls <= shared.config.polls_to_complete {
        return Json(json!({ "job": { "id": id, "status": "Processing" } })).into_response();
    }
    Json(json!({
        "job": { "id": id, "status": "Complete" },
        "downloadUrls": [format!("http://{}/downloads/{id}/1?sig=presigned-{id}", headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1"))],
    }))
    .into_response()
}

pub(super) async fn download(
    State(shared): State<Arc<Shared>>,
    Path((id, _n)): Path<(String, u32)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    // A presigned URL carries its own signature: a bearer token sent to it is a leak.
    if headers.contains_key("authorization") {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "a presigned download takes no Authorization header",
        );
    }
    let index = job_index(&id);
    let expected = format!("sig=presigned-{id}");
    let job = index.and_then(|i| shared.lock().jobs.get(i).cloned());
    let (Some(job), true) = (job, uri.query() == Some(expected.as_str())) else {
        return error(StatusCode::FORBIDDEN, "forbidden", "bad signature");
    };
    let Ok(sample) = serde_json::from_str::<Value>(ADHERENCE_SAMPLE) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "sample");
    };
    let covers = |field: &str| {
        sample[field]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let fits = matches!((covers("startDate"), covers("endDate")), (Some(s), Some(e)) if job.start <= s && e <= job.end)
        && job.unit == sample["managementUnitId"];
    if fits {
        return (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            ADHERENCE_SAMPLE,
        )
            .into_response();
    }
    let at = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    Json(json!({
        "startDate": at(job.start),
        "endDate": at(job.end),
        "managementUnitId": job.unit,
        "userResults": [],
    }))
    .into_response()
}
