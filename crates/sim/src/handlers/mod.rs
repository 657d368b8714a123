//! The HTTP surface: the router, and one handler per endpoint.
//!
//! Each marketplace route sits behind the [`Gate`] (recording, downtime, bearer token,
//! faults); the router below says what each asks of it. The handlers then do only their
//! endpoint's own work:
//!
//! | route | handler | gate |
//! |---|---|---|
//! | `POST /oauth/token` | [`token::token`] | no bearer (checks HTTP Basic itself, after the fault) |
//! | `POST /v1/rewards/issue` | [`issue::issue`] | bearer; the fault after validation and the idempotency claim |
//! | `POST /v1/rewards/{request_id}/reverse` | [`rewards::reverse`] | bearer; the fault after the `X-Request-ID` check |
//! | `GET /v1/rewards/{request_id}` | [`rewards::lookup`] | bearer; the body is not read |
//! | `GET /v1/account/balance` | [`rewards::balance`] | bearer; the body is not read |
//! | `GET /v1/rewards?from=&to=` | [`rewards::list`] | bearer; the body is not read |
//! | `GET /_sim/requests`, `GET /_sim/rewards` | [`inspect`] | none: not recorded, never faulted |

mod inspect;
mod issue;
mod rewards;
mod token;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::gate::{BodyRecording, Credential, FaultTiming, Gate};
use crate::state::Marketplace;

/// Every route, each marketplace route behind its gate.
pub(crate) fn router(marketplace: &Arc<Marketplace>) -> Router {
    let token_gate = Gate {
        path: "/oauth/token",
        credential: Credential::CheckedByHandler,
        body: BodyRecording::Recorded,
        fault: FaultTiming::AtTheGate,
    };
    let issue_gate = Gate {
        path: "/v1/rewards/issue",
        credential: Credential::Bearer,
        body: BodyRecording::Recorded,
        fault: FaultTiming::ByTheHandler,
    };
    let reverse_gate = Gate {
        path: "/v1/rewards/{request_id}/reverse",
        credential: Credential::Bearer,
        body: BodyRecording::Recorded,
        fault: FaultTiming::ByTheHandler,
    };
    let lookup_gate = Gate {
        path: "/v1/rewards/{request_id}",
        credential: Credential::Bearer,
        body: BodyRecording::NotRead,
        fault: FaultTiming::AtTheGate,
    };
    let balance_gate = Gate {
        path: "/v1/account/balance",
        credential: Credential::Bearer,
        body: BodyRecording::NotRead,
        fault: FaultTiming::AtTheGate,
    };
    let list_gate = Gate {
        path: "/v1/rewards",
        credential: Credential::Bearer,
        body: BodyRecording::NotRead,
        fault: FaultTiming::AtTheGate,
    };
    Router::new()
        .route(
            list_gate.path,
            list_gate.guard(marketplace, get(rewards::list)),
        )
        .route(
            balance_gate.path,
            balance_gate.guard(marketplace, get(rewards::balance)),
        )
        .route(
            token_gate.path,
            token_gate.guard(marketplace, post(token::token)),
        )
        .route(
            issue_gate.path,
            issue_gate.guard(marketplace, post(issue::issue)),
        )
        .route(
            reverse_gate.path,
            reverse_gate.guard(marketplace, post(rewards::reverse)),
        )
        .route(
            lookup_gate.path,
            lookup_gate.guard(marketplace, get(rewards::lookup)),
        )
        .route("/_sim/requests", get(inspect::requests))
        .route("/_sim/rewards", get(inspect::rewards))
        .with_state(Arc::clone(marketplace))
}

/// A JSON error answer: `{"error": message}` with `status`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
