//! `POST /v1/rewards/issue`: validation, idempotency by request id, and issuing (or
//! rejecting) the reward.
//!
//! The gate has recorded the request and checked downtime and the bearer token; the fault it
//! chose is applied here, after validation and the idempotency claim. A request answered by
//! the fault (an injected status, the end of a hang) or reset before processing gives up its
//! claim, so a retry is processed afresh.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error_response;
use crate::faults::Action;
use crate::gate::{ChosenFault, fault_before_processing};
use crate::server::ConnectionKill;
use crate::state::{IdempotencyKey, IdempotencySlot, Marketplace};
use crate::{IssuedReward, SimConfig, decrypt_recipient};

/// The issue body, as far as the simulator reads it.
#[derive(Deserialize)]
struct IssueBody {
    agent_id: String,
    reward_type: String,
    points_consumed: i64,
    #[allow(
        dead_code,
        reason = "required in the body; its value does not matter here"
    )]
    transaction_timestamp: String,
    recipient_enc: Option<String>,
}

/// An issue request that passed validation.
struct ValidIssue {
    /// `X-Integration-ID`: the client, which scopes the idempotency key.
    client: String,
    /// `X-Request-ID`: the idempotency key.
    request_id: String,
    /// The parsed body.
    body: IssueBody,
}

/// Why validation turned a request away: the error answer's status and message.
struct Refusal {
    status: StatusCode,
    message: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, message: &'static str) -> Self {
        Self { status, message }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error_response(self.status, self.message)
    }
}

/// Issues a reward, at most once per request id.
///
/// Like a real server, the simulator finishes a request whose client went away (killed,
/// timed out): the work runs in its own task, which dropping this handler does not cancel.
pub(super) async fn issue(
    State(marketplace): State<Arc<Marketplace>>,
    Extension(kill): Extension<ConnectionKill>,
    Extension(chosen): Extension<ChosenFault>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    tokio::spawn(process_issue(
        marketplace,
        kill,
        chosen,
        target,
        headers,
        body,
    ))
    .await
    .unwrap_or_else(|_| error_response(StatusCode::INTERNAL_SERVER_ERROR, "handler failed"))
}

/// Validates, claims the request id (or replays / refuses), applies the fault, issues.
async fn process_issue(
    marketplace: Arc<Marketplace>,
    kill: ConnectionKill,
    chosen: ChosenFault,
    target: String,
    headers: HeaderMap,
    payload: Bytes,
) -> Response {
    let request = match validate(&marketplace.config, &target, &headers, &payload) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let key = (request.client.clone(), request.request_id.clone());
    if let Some(response) = replay_or_claim(&marketplace, &key, &payload) {
        return response;
    }
    if chosen.action() == Some(&Action::Reset) {
        // The connection closes before processing and never returns here: give up the claim
        // first, so the request stays unprocessed and a retry is processed afresh (as a real
        // server whose connection reset before it read the request).
        marketplace.lock().idempotency.remove(&key);
    }
    if let Some(response) =
        fault_before_processing(&marketplace, chosen.fault.as_ref(), &kill).await
    {
        // Not processed: forget the claim so a retry is processed afresh.
        marketplace.lock().idempotency.remove(&key);
        return response;
    }
    let status = StatusCode::OK; // `REJECTED` included: it is an answer, not an error
    let Some(answer) = issue_or_reject(&marketplace, &request, chosen.action()) else {
        // Not processed: the funds do not cover it. A retry (once funded) is processed afresh.
        marketplace.lock().idempotency.remove(&key);
        let message = match &marketplace.config.answer_echo {
            Some(echo) => format!("insufficient funds {echo}"),
            None => "insufficient funds".to_owned(),
        };
        return error_response(StatusCode::PAYMENT_REQUIRED, &message);
    };
    marketplace.lock().idempotency.insert(
        key,
        IdempotencySlot::Done {
            payload: payload.to_vec(),
            status,
            answer: answer.clone(),
            at: tokio::time::Instant::now(),
        },
    );
    if chosen.action() == Some(&Action::DropAfterProcessing) {
        return kill.close_unanswered().await;
    }
    (status, Json(answer)).into_response()
}

/// The request's own checks, in order: `X-Integration-ID` (non-empty, the configured one if
/// set), `X-Request-ID` (non-empty), `Idempotency-Key` (if sent, the request id, quotes
/// allowed), `X-Signature` (if a signing secret is set: `v2` over the request, within the
/// timestamp tolerance), then the body.
fn validate(
    config: &SimConfig,
    target: &str,
    headers: &HeaderMap,
    payload: &[u8],
) -> Result<ValidIssue, Refusal> {
    let integration = headers
        .get("x-integration-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if integration.is_empty()
        || config
            .integration_id
            .as_deref()
            .is_some_and(|wanted| wanted != integration)
    {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "missing or unknown X-Integration-ID",
        ));
    }
    let Some(request_id) = headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
    else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "missing X-Request-ID",
        ));
    };
    if let Some(key) = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        && key.trim_matches('"') != request_id
    {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "Idempotency-Key differs from X-Request-ID",
        ));
    }
    if let Some(secret) = &config.signing_secret {
        let check = crate::verify::SignatureCheck {
            secret,
            method: "POST",
            target,
            now: config.clock.now().timestamp(),
            tolerance_secs: config.signature_tolerance_secs,
            accept_v1_only: config.accept_signature_v1_only,
        };
        if let Err(reason) = check.verify(headers, payload) {
            return Err(Refusal::new(StatusCode::UNAUTHORIZED, reason));
        }
    }
    let Ok(body) = serde_json::from_slice::<IssueBody>(payload) else {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "malformed body"));
    };
    Ok(ValidIssue {
        client: integration.to_owned(),
        request_id,
        body,
    })
}

/// Idempotency: the stored answer for a repeat of a finished request (while its key is
/// kept), `409` for a repeat of one in progress, `422` for the id reused with another
/// payload; otherwise claims the id (in progress) and returns `None`.
fn replay_or_claim(
    marketplace: &Marketplace,
    key: &IdempotencyKey,
    payload: &[u8],
) -> Option<Response> {
    let mut state = marketplace.lock();
    if let Some(IdempotencySlot::Done { at, .. }) = state.idempotency.get(key)
        && !marketplace.key_kept(*at)
    {
        state.idempotency.remove(key); // past its retention: forgotten
    }
    let reused = || {
        error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency key reused with another payload",
        )
    };
    match state.idempotency.get(key) {
        Some(IdempotencySlot::Done {
            payload: stored,
            status,
            answer,
            ..
        }) => Some(if stored.as_slice() == payload {
            (*status, Json(answer.clone())).into_response()
        } else {
            reused()
        }),
        Some(IdempotencySlot::InProgress { payload: stored }) => {
            Some(if stored.as_slice() == payload {
                error_response(
                    StatusCode::CONFLICT,
                    "a request with this key is in progress",
                )
            } else {
                reused()
            })
        }
        None => {
            state.idempotency.insert(
                key.clone(),
                IdempotencySlot::InProgress {
                    payload: payload.to_vec(),
                },
            );
            None
        }
    }
}

/// Processes a claimed request and returns the answer: `REJECTED` when the reward type is out
/// of stock or the fault says so; `None` (answered `402`) when the account's funds do not
/// cover its price; otherwise the reward is issued (stock and price taken, recipient
/// decrypted if sent) and answered `ISSUED`, or `PENDING` if the fault says so.
fn issue_or_reject(
    marketplace: &Marketplace,
    request: &ValidIssue,
    action: Option<&Action>,
) -> Option<Value> {
    let ValidIssue {
        request_id, body, ..
    } = request;
    let mut state = marketplace.lock();
    let stock = state.stock.get(&body.reward_type).copied();
    if action == Some(&Action::PendingThenFailed) {
        state.failed.insert(request_id.clone());
        return Some(json!({ "request_id": request_id, "reward_id": null, "status": "PENDING" }));
    }
    if action == Some(&Action::Rejected) || stock == Some(0) {
        let reason = if stock == Some(0) {
            "out of stock"
        } else {
            "rejected (injected)"
        };
        let reason = match &marketplace.config.answer_echo {
            Some(echo) => format!("{reason} {echo}"),
            None => reason.to_owned(),
        };
        return Some(
            json!({ "request_id": request_id, "reward_id": null, "status": "REJECTED", "reason": reason }),
        );
    }
    if let (Some(balance), Some(price)) = (
        state.balance.as_ref(),
        marketplace.config.prices.get(&body.reward_type),
    ) {
        let left = balance.checked_sub(price);
        match left {
            Some(left) if left.units() >= 0 => state.balance = Some(left),
            _ => return None,
        }
    }
    if let Some(left) = state.stock.get_mut(&body.reward_type) {
        *left -= 1;
    }
    let reward_id = format!("rw-{:06}", state.rewards.len() + 1);
    let recipient =
        body.recipient_enc
            .as_deref()
            .map(|sealed| match &marketplace.config.recipient_key {
                Some(key) => decrypt_recipient(key, request_id, sealed),
                None => Err("no recipient key configured".to_owned()),
            });
    state
        .changed
        .insert(request_id.clone(), (tokio::time::Instant::now(), None));
    state.rewards.push(IssuedReward {
        request_id: request_id.clone(),
        reward_id: reward_id.clone(),
        agent_id: body.agent_id.clone(),
        reward_type: body.reward_type.clone(),
        points_consumed: body.points_consumed,
        status: "ISSUED".to_owned(),
        issued_on: marketplace
            .config
            .clock
            .now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string(),
        recipient,
    });
    let shown = if action == Some(&Action::Pending) {
        "PENDING"
    } else {
        "ISSUED"
    };
    Some(json!({ "request_id": request_id, "reward_id": reward_id, "status": shown }))
}
