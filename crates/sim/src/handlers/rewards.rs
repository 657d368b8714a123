//! The routes on one issued reward: `POST /v1/rewards/{request_id}/reverse` and
//! `GET /v1/rewards/{request_id}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::error_response;
use crate::faults::Action;
use crate::gate::{ChosenFault, fault_before_processing};
use crate::server::ConnectionKill;
use crate::state::{IdempotencySlot, Marketplace};

/// Reverses the reward issued for `request_id`, idempotently: a repeat gets the first answer
/// (a reward is reversed at most once, whatever key the repeat carries); an unknown id `404`;
/// `NOT_REVERSIBLE` when the fault says so. Requires an `X-Request-ID` (any value), checked before the fault is
/// applied.
pub(super) async fn reverse(
    State(marketplace): State<Arc<Marketplace>>,
    Extension(kill): Extension<ConnectionKill>,
    Extension(chosen): Extension<ChosenFault>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.get("x-request-id").is_none() {
        return error_response(StatusCode::BAD_REQUEST, "missing X-Request-ID");
    }
    if let Some(response) =
        fault_before_processing(&marketplace, chosen.fault.as_ref(), &kill).await
    {
        return response;
    }
    let answer = {
        let mut state = marketplace.lock();
        if let Some(first) = state.reversals.get(&request_id) {
            return Json(first.clone()).into_response();
        }
        let Some(reward) = state
            .rewards
            .iter_mut()
            .find(|reward| reward.request_id == request_id)
        else {
            return error_response(StatusCode::NOT_FOUND, "no such reward");
        };
        let answer = if chosen.action() == Some(&Action::NotReversible) {
            json!({ "request_id": request_id, "status": "NOT_REVERSIBLE" })
        } else {
            reward.status = "REVERSED".to_owned();
            if let Some(changed) = state.changed.get_mut(&request_id) {
                changed.1 = Some(tokio::time::Instant::now());
            }
            json!({ "request_id": request_id, "status": "REVERSED" })
        };
        state.reversals.insert(request_id, answer.clone());
        answer
    };
    if chosen.action() == Some(&Action::DropAfterProcessing) {
        return kill.close_unanswered().await;
    }
    Json(answer).into_response()
}

/// What became of `request_id`: the reward's current status if one was issued (a reward
/// answered `PENDING` is issued by now; a reversed one says so) — as far as lookups see it
/// yet (`lookup_lag_ms`); else the stored answer of this client's request (`REJECTED`, or
/// `FAILED` for a pending one that ended without a reward); `PENDING` while it is still
/// being processed; `404` if it was never received (or its key is forgotten and no reward
/// was issued).
pub(super) async fn lookup(
    State(marketplace): State<Arc<Marketplace>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let client = headers
        .get("x-integration-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let state = marketplace.lock();
    if let Some(reward) = state
        .rewards
        .iter()
        .find(|reward| reward.request_id == request_id)
    {
        let (issued, reversed) = marketplace.seen(&state, &request_id);
        if !issued {
            return error_response(StatusCode::NOT_FOUND, "no such request");
        }
        let status = if reward.status == "REVERSED" && !reversed {
            "ISSUED"
        } else {
            reward.status.as_str()
        };
        return Json(json!({
            "request_id": request_id, "reward_id": reward.reward_id, "status": status,
        }))
        .into_response();
    }
    match state.idempotency.get(&(client, request_id.clone())) {
        Some(IdempotencySlot::Done { status, answer, .. }) => {
            let mut answer = answer.clone();
            if state.failed.contains(&request_id) {
                answer["status"] = Value::String("FAILED".to_owned());
                answer["reason"] = Value::String("the reward could not be fulfilled".to_owned());
            }
            (*status, Json(answer)).into_response()
        }
        Some(IdempotencySlot::InProgress { .. }) => (
            StatusCode::OK,
            Json(json!({ "request_id": request_id, "status": "PENDING" })),
        )
            .into_response(),
        None => error_response(StatusCode::NOT_FOUND, "no such request"),
    }
}

/// The account's funds: `{"available":"1234.50","currency":"USD"}`, or `404` when the
/// simulator has no funds configured (unlimited).
pub(super) async fn balance(State(marketplace): State<Arc<Marketplace>>) -> Response {
    let Some(balance) = marketplace.lock().balance.clone() else {
        return error_response(StatusCode::NOT_FOUND, "no account balance");
    };
    let text = balance.to_string();
    let amount = text.split(' ').next().unwrap_or_default();
    Json(json!({ "available": amount, "currency": balance.currency() })).into_response()
}

/// The rewards issued from `from` to `to` (query parameters, `YYYY-MM-DD`, both days
/// included; either may be left out): `{"rewards":[{"request_id","reward_id","reward_type",
/// "status","issued_on"}]}`, in the order issued — what a finance team reconciles against.
pub(super) async fn list(
    State(marketplace): State<Arc<Marketplace>>,
    uri: axum::http::Uri,
) -> Response {
    let param = |name: &str| {
        uri.query()
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    let from = param("from").unwrap_or_else(|| "0000-00-00".to_owned());
    let to = param("to").unwrap_or_else(|| "9999-99-99".to_owned());
    let rewards: Vec<Value> = marketplace
        .lock()
        .rewards
        .iter()
        .filter(|r| r.issued_on >= from && r.issued_on <= to)
        .map(|r| {
            json!({"request_id": r.request_id, "reward_id": r.reward_id,
                "reward_type": r.reward_type, "status": r.status, "issued_on": r.issued_on})
        })
        .collect();
    Json(json!({ "rewards": rewards })).into_response()
}
