//! The gate: the one middleware in front of every marketplace route (everything but `/_sim`).
//!
//! For each request, in this order, it
//!
//! 1. records the request — method, path, headers and (if the route reads one) body — and,
//!    under the same lock, decides whether a downtime window is open and which fault of the
//!    plan, if any, the request gets ([`Marketplace::arrive`]);
//! 2. answers `503` in downtime, and `429` over the rate limit (`/v1/…` paths only);
//! 3. answers `401` without a live bearer token, on routes that ask for one;
//! 4. applies the fault's part that replaces or delays processing (an injected status, a
//!    delay, a hang, a reset: [`fault_before_processing`]), on routes that take it at the gate;
//! 5. hands the request on with the chosen fault attached ([`ChosenFault`]), for the parts a
//!    handler applies after processing (`drop_after_processing`, `rejected`, `pending`) and for
//!    routes that apply the rest themselves.
//!
//! Routes differ in what they ask of it ([`Gate`]): the token endpoint checks HTTP Basic
//! itself, after the fault; issue and reverse apply their fault after their own checks;
//! reward lookup never reads its body.
//!
//! A request the router or an extractor turns away (unknown path, wrong method, an
//! undecodable request id, a body over the size limit) never reaches the gate and is not
//! recorded.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use tokio::time::Instant;

use crate::delay::Delays;
use crate::faults::{Action, Fault};
use crate::handlers::error_response;
use crate::server::ConnectionKill;
use crate::state::Marketplace;

/// What a route asks of the gate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gate {
    /// The route's path pattern (`/v1/rewards/{request_id}`): where the router mounts it, and
    /// what the recorded path is made from.
    pub(crate) path: &'static str,
    /// Which credential the gate checks.
    pub(crate) credential: Credential,
    /// Whether the gate reads and records the body.
    pub(crate) body: BodyRecording,
    /// Where the fault's before-processing part is applied.
    pub(crate) fault: FaultTiming,
}

/// Which credential the gate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// A live `Authorization: Bearer` token from the token endpoint; `401` otherwise.
    Bearer,
    /// None: the handler checks its own (the token endpoint's HTTP Basic).
    CheckedByHandler,
}

/// Whether the gate reads and records the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyRecording {
    /// Read it (within axum's body limit, as the `Bytes` extractor does) and record it.
    Recorded,
    /// Leave it unread and record an empty body (a route that takes no body).
    NotRead,
}

/// Where the fault's before-processing part ([`fault_before_processing`]) is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultTiming {
    /// At the gate, before the handler runs.
    AtTheGate,
    /// By the handler, after checks of its own.
    ByTheHandler,
}

/// The fault the plan chose for a request, if any; the gate attaches it to every request it
/// lets through (read it with `Extension<ChosenFault>`).
#[derive(Debug, Clone)]
pub(crate) struct ChosenFault {
    /// The fault, if the request got one.
    pub(crate) fault: Option<Fault>,
}

impl ChosenFault {
    /// The fault's action, if the request got one.
    pub(crate) fn action(&self) -> Option<&Action> {
        self.fault.as_ref().map(|fault| &fault.action)
    }
}

/// A gated route's middleware state: the marketplace and what the route asks.
#[derive(Debug, Clone)]
struct GatedRoute {
    marketplace: Arc<Marketplace>,
    gate: Gate,
}

impl Gate {
    /// `route` behind this gate, to be mounted at [`Gate::path`] (as a route layer: requests
    /// the router turns away skip it).
    pub(crate) fn guard(
        self,
        marketplace: &Arc<Marketplace>,
        route: MethodRouter<Arc<Marketplace>>,
    ) -> MethodRouter<Arc<Marketplace>> {
        let gated = GatedRoute {
            marketplace: Arc::clone(marketplace),
            gate: self,
        };
        route.route_layer(middleware::from_fn_with_state(gated, admit))
    }
}

/// The middleware: see the module doc.
async fn admit(State(route): State<GatedRoute>, request: Request, next: Next) -> Response {
    let GatedRoute { marketplace, gate } = route;
    let (mut parts, body) = request.into_parts();
    // What the handler's own extractors would take, in the same order and with the same
    // rejections: a request an extractor turns away is answered as axum answers it, and not
    // recorded.
    let kill = match Extension::<ConnectionKill>::from_request_parts(&mut parts, &()).await {
        Ok(Extension(kill)) => kill,
        Err(rejection) => return rejection.into_response(),
    };
    let path = match routed_path(gate.path, &mut parts).await {
        Ok(path) => path,
        Err(rejection) => return rejection.into_response(),
    };
    let (body, recorded_body) = match gate.body {
        BodyRecording::Recorded => {
            let whole = Request::from_parts(parts.clone(), body);
            match Bytes::from_request(whole, &()).await {
                Ok(bytes) => (Body::from(bytes.clone()), bytes),
                Err(rejection) => return rejection.into_response(),
            }
        }
        BodyRecording::NotRead => (body, Bytes::new()),
    };

    let arrival = marketplace.arrive(&parts.method, &path, &parts.headers, &recorded_body);
    if arrival.in_downtime {
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "down for maintenance");
    }
    if let Some(date) = arrival.rate_limited {
        let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, "rate limited");
        if let Ok(value) = date.parse() {
            response.headers_mut().insert("retry-after", value);
        }
        return response;
    }
    if gate.credential == Credential::Bearer && !bearer_token_is_live(&marketplace, &parts.headers)
    {
        return error_response(StatusCode::UNAUTHORIZED, "invalid or expired token");
    }
    if gate.fault == FaultTiming::AtTheGate
        && let Some(response) =
            fault_before_processing(&marketplace, arrival.fault.as_ref(), &kill).await
    {
        return response;
    }
    parts.extensions.insert(ChosenFault {
        fault: arrival.fault,
    });
    next.run(Request::from_parts(parts, body)).await
}

/// The path as routed and recorded: the route's pattern with each parameter replaced by its
/// percent-decoded value (`/v1/rewards/{request_id}` → `/v1/rewards/txn-1`). Fault paths
/// match against this. Fails as the `Path` extractor does (an id that is not UTF-8).
async fn routed_path(pattern: &str, parts: &mut Parts) -> Result<String, PathRejection> {
    let Path(parameters) = Path::<Vec<(String, String)>>::from_request_parts(parts, &()).await?;
    Ok(parameters
        .iter()
        .fold(pattern.to_owned(), |path, (name, value)| {
            path.replace(&format!("{{{name}}}"), value)
        }))
}

/// Whether the request carries `Authorization: Bearer <token>` with a live token.
fn bearer_token_is_live(marketplace: &Marketplace, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| marketplace.lock().token_is_live(token))
}

/// Applies the part of a fault that comes before processing: answers an injected status (with
/// `Retry-After` if set), waits out a delay, hangs, or resets the connection. Returns the
/// response to send instead of processing, or `None` to process (no fault, a delay that has
/// passed, or a fault that acts after processing).
pub(crate) async fn fault_before_processing(
    marketplace: &Marketplace,
    fault: Option<&Fault>,
    kill: &ConnectionKill,
) -> Option<Response> {
    let fault = fault?;
    match fault.action {
        Action::Status => {
            let status = StatusCode::from_u16(fault.status.unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = match &marketplace.config.answer_echo {
                Some(echo) => format!("injected fault {echo}"),
                None => "injected fault".to_owned(),
            };
            let mut response = error_response(status, &message);
            if let Some(secs) = fault.retry_after_secs {
                let text = if fault.retry_after_as_date {
                    let at = marketplace.config.clock.now()
                        + chrono::TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
                    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
                } else {
                    secs.to_string()
                };
                if let Ok(value) = text.parse() {
                    response.headers_mut().insert("retry-after", value);
                }
            }
            Some(response)
        }
        Action::Delay => {
            let deadline = Instant::now() + Duration::from_millis(fault.delay_ms.unwrap_or(0));
            Delays::until(marketplace.delays.as_ref(), deadline).await;
            None
        }
        Action::Hang => {
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            Some(error_response(StatusCode::GATEWAY_TIMEOUT, "hung"))
        }
        Action::Reset => Some(kill.close_unanswered().await),
        Action::DropAfterProcessing
        | Action::Rejected
        | Action::Pending
        | Action::PendingThenFailed
        | Action::NotReversible => None,
    }
}
