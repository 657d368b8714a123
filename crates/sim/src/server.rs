//! The server: [`Simulator`] binds a port and runs the accept loop; each connection is served
//! in a task of its own, which also listens for its [`ConnectionKill`] so a handler can close
//! the connection without answering (the `reset` and `drop_after_processing` faults).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::response::Response;
use axum::{Extension, Router};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::handlers;
use crate::state::Marketplace;
use crate::{FaultPlan, IssuedReward, RecordedRequest, SimConfig, SimError};

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    marketplace: Arc<Marketplace>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Binds and starts serving.
    ///
    /// # Errors
    ///
    /// [`SimError::Bind`] when the address is taken.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        let bind_error = |error| SimError::Bind {
            addr: config.addr.to_string(),
            error,
        };
        let listener = TcpListener::bind(config.addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let marketplace = Arc::new(Marketplace::new(config));
        let router = handlers::router(&marketplace);
        let accept_loop = tokio::spawn(accept_loop(listener, router));
        Ok(Self {
            addr,
            marketplace,
            accept_loop,
        })
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the marketplace's base URL.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR/oauth/token`.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// Every request received so far (except `/_sim/…`), in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.marketplace.lock().requests.clone()
    }

    /// Every reward issued so far.
    #[must_use]
    pub fn rewards(&self) -> Vec<IssuedReward> {
        self.marketplace.lock().rewards.clone()
    }

    /// Voids an issued reward as the marketplace or someone else would (a cancelled order, a
    /// bounced delivery): its lookups then say `REVERSED`. Returns whether it was issued.
    pub fn void_reward(&self, request_id: &str) -> bool {
        let mut state = self.marketplace.lock();
        match state
            .rewards
            .iter_mut()
            .find(|reward| reward.request_id == request_id)
        {
            Some(reward) => {
                reward.status = "REVERSED".to_owned();
                if let Some(changed) = state.changed.get_mut(request_id) {
                    changed.1 = Some(tokio::time::Instant::now());
                }
                true
            }
            None => false,
        }
    }

    /// The account's funds left (`None`: unlimited).
    pub fn balance(&self) -> Option<kudos_core::Money> {
        self.marketplace.lock().balance.clone()
    }

    /// Sets the account's funds (a top-up, or a drain): rewards the old funds could not cover
    /// are issued when asked again.
    pub fn set_balance(&self, balance: Option<kudos_core::Money>) {
        self.marketplace.lock().balance = balance;
    }

    /// Forgets every completed issue request's idempotency key, as the marketplace does once
    /// its retention has passed: a repeat is then processed afresh (a second reward). Rewards
    /// and their lookups stay. Returns how many keys were forgotten.
    pub fn expire_idempotency_keys(&self) -> usize {
        let mut state = self.marketplace.lock();
        let before = state.idempotency.len();
        state
            .idempotency
            .retain(|_, slot| matches!(slot, crate::state::IdempotencySlot::InProgress { .. }));
        before - state.idempotency.len()
    }

    /// Replaces the fault plan (request counters restart at 1, draws at the new seed).
    pub fn set_faults(&self, plan: FaultPlan) {
        self.marketplace.lock().replace_fault_plan(plan);
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.accept_loop.abort();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// Accepts connections until aborted, serving each in a task of its own; a failed accept is
/// skipped.
async fn accept_loop(listener: TcpListener, router: Router) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, router.clone()));
    }
}

/// Serves one connection (HTTP/1.1, keep-alive) until the client closes it or a handler fires
/// its [`ConnectionKill`]; then the connection is dropped, unanswered.
async fn serve_connection(stream: TcpStream, router: Router) {
    let (sender, killed) = oneshot::channel();
    let kill = ConnectionKill::new(sender);
    let service = hyper_util::service::TowerToHyperService::new(router.layer(Extension(kill)));
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = killed => {} // dropping the connection closes it unanswered
    }
}

/// Lets a handler close its connection without answering. Every request carries one (as an
/// axum extension) for the connection it arrived on.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionKill {
    sender: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

impl ConnectionKill {
    /// A kill switch that signals its connection's task through `sender`.
    fn new(sender: oneshot::Sender<()>) -> Self {
        Self {
            sender: Arc::new(Mutex::new(Some(sender))),
        }
    }

    /// Closes the connection unanswered. Never returns: the connection's task drops the
    /// request being handled along with the connection.
    pub(crate) async fn close_unanswered(&self) -> Response {
        if let Some(sender) = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = sender.send(());
        }
        std::future::pending::<Response>().await
    }
}
