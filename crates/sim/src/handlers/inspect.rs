//! The `/_sim` inspection routes: what the simulator recorded, as JSON. They are not gated:
//! not recorded themselves, never faulted, no token needed.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use crate::state::Marketplace;
use crate::{IssuedReward, RecordedRequest};

/// `GET /_sim/requests`: every gated request received, in arrival order.
pub(super) async fn requests(
    State(marketplace): State<Arc<Marketplace>>,
) -> Json<Vec<RecordedRequest>> {
    Json(marketplace.lock().requests.clone())
}

/// `GET /_sim/rewards`: every reward issued.
pub(super) async fn rewards(
    State(marketplace): State<Arc<Marketplace>>,
) -> Json<Vec<IssuedReward>> {
    Json(marketplace.lock().rewards.clone())
}
