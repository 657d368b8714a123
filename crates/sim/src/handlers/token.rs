//! `POST /oauth/token`: the client-credentials grant, with HTTP Basic client authentication.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::error_response;
use crate::state::Marketplace;

/// Issues a bearer token that lives `token_ttl_secs` to a client that authenticates with the
/// configured id and secret (`401 invalid_client` otherwise) and asks for
/// `grant_type=client_credentials` (`400 unsupported_grant_type` otherwise).
pub(super) async fn token(
    State(marketplace): State<Arc<Marketplace>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let credentials = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok());
    let expected = format!(
        "{}:{}",
        marketplace.config.client_id, marketplace.config.client_secret
    );
    if credentials.as_deref() != Some(expected.as_str()) {
        return error_response(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let form = String::from_utf8_lossy(&body);
    if !form
        .split('&')
        .any(|field| field == "grant_type=client_credentials")
    {
        return error_response(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let ttl_secs = marketplace.config.token_ttl_secs;
    let token = marketplace
        .lock()
        .issue_token(Duration::from_secs(ttl_secs));
    Json(json!({ "access_token": token, "token_type": "bearer", "expires_in": ttl_secs }))
        .into_response()
}
