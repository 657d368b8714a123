//! A `RewardProvider` for a marketplace with another API: Tremendous-shaped orders
//! (`POST /orders` with an `external_id`, order statuses with spaces in them, `201` for a
//! replayed order and `409` for an `external_id` reused with other parameters, as Tremendous's
//! public API reference describes them). The run, the ledger and the audit trail do not change: only
//! the provider does.
//!
//! A small stand-in for the marketplace runs in-process, keeping Tremendous's idempotency
//! rules; the first order gets a `503` (the provider retries with the same bytes), the second
//! waits for approval (`PENDING APPROVAL`, in doubt) and is approved before the next run, which
//! settles it by looking the order up by its `external_id`. Before each issuing round the run
//! asks for the account's balance (`[funding]`): the provider reads Tremendous's `balance`
//! funding source (`GET /funding_sources`, `meta.available_cents`), and the run issues only
//! what it covers at the configured prices, with a low-balance alert below the floor.
//!
//! Run with:
//!
//! ```sh
//! cargo run -p kudos-examples --bin tremendous_provider
//! ```

#![allow(clippy::print_stdout, reason = "an example program talks to its user")]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kudos_client::{
    Outcome, Request, ReqwestTransport, ReverseOutcome, RewardProvider, StatusOutcome, Transport,
};
use kudos_core::{Clock, Day, Money, RewardType, SystemClock, TxnId};
use kudos_examples::{Error, SALES_RULES, fixtures, sales_export, scratch};
use kudos_ledger::MemoryStore;
use kudos_pipeline::{
    AuditLog, Controls, LogAlerts, NoProgress, Parts, PayloadSettings, Pipeline, RunConfig,
    RunOptions, Source,
};
use kudos_privacy::{ExposeSecret as _, Pseudonymizer, SecretString};
use kudos_rules::RuleSet;
use serde_json::{Value, json};

// ------------------------------------------------------------------ the provider

/// Tremendous orders for Kudos's rewards. The request body is derived from the hold's stored
/// payload, so every retry and every recovery sends the same bytes under the same
/// `external_id` (the hold's `TxnId`).
#[derive(Debug)]
struct TremendousProvider {
    base_url: String,
    api_key: SecretString,
    transport: Arc<dyn Transport>,
    /// Kudos reward type → (Tremendous product id, denomination in USD).
    products: HashMap<String, (String, f64)>,
}

impl TremendousProvider {
    async fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value), String> {
        let mut headers = vec![(
            "authorization".to_owned(),
            format!("Bearer {}", self.api_key.expose_secret()),
        )];
        if !body.is_empty() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        let request = Request {
            method,
            url: format!("{}{path}", self.base_url),
            headers,
            body,
        };
        let answer = self
            .transport
            .send(request)
            .await
            .map_err(|e| e.to_string())?;
        let body = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        Ok((answer.status, body))
    }

    /// Kudos's outcome for an order as Tremendous reports it.
    fn order_outcome(order: &Value) -> Outcome {
        let id = order["id"].as_str().unwrap_or_default().to_owned();
        match order["status"].as_str() {
            Some("EXECUTED") => Outcome::Issued { reward_id: id },
            Some(s @ ("FAILED" | "CANCELED")) => Outcome::Rejected {
                reason: s.to_owned(),
            },
            // OPEN, PENDING APPROVAL, PENDING INTERNAL PAYMENT APPROVAL, PENDING SETTLEMENT…
            other => Outcome::InDoubt {
                reason: format!("order {id} is {other:?}"),
            },
        }
    }
}

#[async_trait]
impl RewardProvider for TremendousProvider {
    async fn issue(&self, txn: TxnId, payload: &[u8]) -> Outcome {
        let Ok(ours) = serde_json::from_slice::<Value>(payload) else {
            return Outcome::NeedsReview {
                status: 0,
                reason: "unreadable stored payload".into(),
            };
        };
        let reward_type = ours["reward_type"].as_str().unwrap_or_default();
        let Some((product, denomination)) = self.products.get(reward_type) else {
            return Outcome::NeedsReview {
                status: 0,
                reason: format!("no product for {reward_type}"),
            };
        };
        // The recipient is the pseudonym: Tremendous LINK rewards need no e-mail address, and
        // the link goes to the agent through the contact centre's own channel.
        let order = json!({
            "external_id": txn.to_string(),
            "payment": {"funding_source_id": "balance"},
            "reward": {
                "products": [product],
                "value": {"denomination": denomination, "currency_code": "USD"},
                "recipient": {"name": ours["agent_id"]},
                "delivery": {"method": "LINK"},
            },
        });
        let body = order.to_string().into_bytes();
        let mut sent = false;
        for attempt in 0..3u64 {
            match self.send("POST", "/orders", body.clone()).await {
                // Tremendous: 200 created, 201 the same order replayed.
                Ok((200 | 201, answer)) => return Self::order_outcome(&answer["order"]),
                Ok((409, answer)) => {
                    return Outcome::NeedsReview {
                        status: 409,
                        reason: answer["errors"]["message"]
                            .as_str()
                            .unwrap_or("conflict")
                            .to_owned(),
                    };
                }
                Ok((429 | 500..=599, _)) | Err(_) => {
                    sent = true;
                    tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
                }
                Ok((status, answer)) => {
                    return Outcome::NeedsReview {
                        status,
                        reason: answer["errors"]["message"]
                            .as_str()
                            .unwrap_or("refused")
                            .to_owned(),
                    };
                }
            }
        }
        if sent {
            Outcome::InDoubt {
                reason: "no answer after 3 attempts".into(),
            }
        } else {
            Outcome::NotSent {
                reason: "unreachable".into(),
            }
        }
    }

    async fn status(&self, txn: TxnId) -> StatusOutcome {
        // Tremendous looks an order up by its external_id too.
        match self
            .send("GET", &format!("/orders/{txn}"), Vec::new())
            .await
        {
            Ok((404, _)) => StatusOutcome::NotFound,
            Ok((200, answer)) => match Self::order_outcome(&answer["order"]) {
                Outcome::Issued { reward_id } => StatusOutcome::Issued { reward_id },
                Outcome::Rejected { reason } => StatusOutcome::Rejected { reason },
                other => StatusOutcome::Unknown {
                    reason: format!("{other:?}"),
                },
            },
            Ok((status, _)) => StatusOutcome::Unknown {
                reason: format!("status {status}"),
            },
            Err(e) => StatusOutcome::Unknown { reason: e },
        }
    }

    async fn balance(&self) -> Result<Option<Money>, String> {
        // Tremendous: the `balance` funding source's available cents, in USD.
        let (status, answer) = self.send("GET", "/funding_sources", Vec::new()).await?;
        if status != 200 {
            return Err(format!("funding sources answered {status}"));
        }
        let balance = answer["funding_sources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|source| source["method"] == "balance")
            .and_then(|source| source["meta"]["available_cents"].as_i64());
        let Some(cents) = balance else {
            return Ok(None); // no balance funding source: the run cannot judge funds
        };
        Money::new(&format!("{}.{:02}", cents / 100, cents % 100), "USD")
            .map(Some)
            .map_err(|e| e.to_string())
    }

    async fn reverse(&self, _reversal: TxnId, of: TxnId, _payload: &[u8]) -> ReverseOutcome {
        // Tremendous cancels only rewards whose delivery failed; a redeemed one gets 422.
        let order = match self.send("GET", &format!("/orders/{of}"), Vec::new()).await {
            Ok((200, order)) => order,
            // Nothing was cancelled yet: the lookup only reads.
            Ok((status, _)) => {
                return ReverseOutcome::NotSent {
                    reason: format!("order lookup answered {status}"),
                };
            }
            Err(e) => return ReverseOutcome::NotSent { reason: e },
        };
        let reward = order["order"]["rewards"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match self
            .send("POST", &format!("/rewards/{reward}/cancel"), b"{}".to_vec())
            .await
        {
            Ok((200, _)) => ReverseOutcome::Reversed,
            Ok((422, _)) => ReverseOutcome::NotReversible,
            Ok((status, _)) if (400..500).contains(&status) && status != 429 => {
                ReverseOutcome::Refused {
                    status,
                    reason: format!("status {status}"),
                }
            }
            // A 5xx, a 429 or a lost answer: the cancel may have happened.
            Ok((status, _)) => ReverseOutcome::InDoubt {
                reason: format!("status {status}"),
            },
            Err(e) => ReverseOutcome::InDoubt { reason: e },
        }
    }
}

// ------------------------------------------------------------------ a stand-in marketplace

#[derive(Default)]
struct Market {
    orders: HashMap<String, (Vec<u8>, Value)>,
    posts: u32,
    /// The balance funding source, in cents: each order takes its $10.
    balance_cents: i64,
}

/// The funding sources: the balance, and a card the API cannot pay with.
async fn funding_sources(State(market): State<Shared>) -> Response {
    let cents = lock(&market).balance_cents;
    axum::Json(json!({"funding_sources": [
        {"id": "GCTHLCMFVYMD", "method": "balance", "usage_permissions": ["api_orders"],
         "status": "active", "meta": {"available_cents": cents, "pending_cents": 0}},
        {"id": "CC1", "method": "credit_card", "status": "active", "meta": {}}
    ]}))
    .into_response()
}

type Shared = Arc<Mutex<Market>>;

fn lock(m: &Shared) -> std::sync::MutexGuard<'_, Market> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn create(
    State(market): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer TEST_api_key") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut m = lock(&market);
    m.posts += 1;
    if m.posts == 1 {
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    let Ok(order) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let external_id = order["external_id"].as_str().unwrap_or_default().to_owned();
    if let Some((stored, answer)) = m.orders.get(&external_id) {
        return if stored.as_slice() == body.as_ref() {
            (StatusCode::CREATED, axum::Json(answer.clone())).into_response()
        } else {
            let conflict = std::fs::read_to_string(
                fixtures().join("rewards/tremendous_error_409_external_id_conflict.json"),
            )
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .unwrap_or(Value::Null);
            (StatusCode::CONFLICT, axum::Json(conflict)).into_response()
        };
    }
    let n = m.orders.len() + 1;
    // The second order needs an approver.
    let status = if n == 2 {
        "PENDING APPROVAL"
    } else {
        "EXECUTED"
    };
    let answer = json!({"order": {
        "id": format!("ORD{n:08}"), "external_id": external_id, "status": status, "channel": "API",
        "rewards": [{"id": format!("RWD{n:08}"), "value": order["reward"]["value"],
            "recipient": order["reward"]["recipient"], "delivery": {"method": "LINK", "status": "SUCCEEDED"}}],
    }});
    m.balance_cents -= 1000;
    m.orders
        .insert(external_id, (body.to_vec(), answer.clone()));
    (StatusCode::OK, axum::Json(answer)).into_response()
}

async fn lookup(State(market): State<Shared>, Path(id): Path<String>) -> Response {
    match lock(&market).orders.get(&id) {
        Some((_, answer)) => axum::Json(answer.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn cancel() -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"errors": {"message": "reward already redeemed"}})),
    )
        .into_response()
}

// ------------------------------------------------------------------ the batch

#[tokio::main]
async fn main() -> Result<(), Error> {
    // $25 in the balance: two $10 rewards, below the $50 floor.
    let market: Shared = Arc::new(Mutex::new(Market {
        balance_cents: 2500,
        ..Market::default()
    }));
    let app = axum::Router::new()
        .route("/orders", post(create))
        .route("/orders/{id}", get(lookup))
        .route("/rewards/{id}/cancel", post(cancel))
        .route("/funding_sources", get(funding_sources))
        .with_state(market.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = scratch("tremendous")?;
    sales_export(
        &dir.join("exports/sales.csv"),
        &[
            ("a1b2c3d4-0000-4000-8000-000000000001", "2026-03-02", 130),
            ("a1b2c3d4-0000-4000-8000-000000000002", "2026-03-02", 110),
            ("a1b2c3d4-0000-4000-8000-000000000003", "2026-03-02", 40),
            ("a1b2c3d4-0000-4000-8000-000000000004", "2026-03-09", 100),
        ],
    )?;
    let provider = TremendousProvider {
        base_url,
        api_key: SecretString::from("TEST_api_key"),
        transport: Arc::new(ReqwestTransport::new(
            Duration::from_secs(10),
            Duration::from_secs(45),
        )?),
        products: HashMap::from([(
            "gift_card_10_usd".to_owned(),
            ("PRD9HX3M2B7C".to_owned(), 10.0),
        )]),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let pipeline = Pipeline::new(
        Parts::new(
            RuleSet::from_toml(SALES_RULES)?,
            Arc::new(MemoryStore::new()),
            Arc::new(provider),
            clock,
            PayloadSettings::new(Pseudonymizer::new(SecretString::from("pseudonym key"))),
        )
        .settings({
            let mut s = RunConfig::default();
            s.max_in_flight = 1;
            s
        })
        .sources(vec![Source {
            pattern: dir.join("exports/*.csv"),
            options: Default::default(),
        }])
        .alerts(Arc::new(LogAlerts))
        .controls(
            Controls::new()
                .prices(BTreeMap::from([(
                    RewardType::new("gift_card_10_usd")?,
                    Money::parse("10.00 USD")?,
                )]))
                .check_funds(Some(Money::parse("50.00 USD")?)),
        ),
    );
    let audit = dir.join("audit.jsonl");
    let day1 = pipeline
        .run(
            Box::new(AuditLog::open(&audit, uuid::Uuid::now_v7())?),
            RunOptions::new(Day::parse("2026-03-10")?),
            &NoProgress,
        )
        .await?;
    println!(
        "day 1: {} orders placed, {} executed, {} waiting for approval (in doubt), {} waiting for funds (a low_balance alert)",
        day1.holds, day1.issued, day1.in_doubt, day1.waiting
    );

    // An approver approves the pending order at Tremendous, and finance adds $100.
    {
        let mut m = lock(&market);
        for (_, answer) in m.orders.values_mut() {
            answer["order"]["status"] = json!("EXECUTED");
        }
        m.balance_cents += 10_000;
    }
    let day2 = pipeline
        .run(
            Box::new(AuditLog::open(&audit, uuid::Uuid::now_v7())?),
            RunOptions::new(Day::parse("2026-03-11")?),
            &NoProgress,
        )
        .await?;
    println!(
        "day 2: {} recovered by looking the order up by external_id; {} new order (what waited for funds)",
        day2.recovered, day2.holds
    );
    let m = lock(&market);
    println!(
        "marketplace: {} orders from {} POSTs (a 503 retried with the same bytes, no duplicate)",
        m.orders.len(),
        m.posts
    );
    assert_eq!(
        (
            day1.holds,
            day1.issued,
            day1.in_doubt,
            day1.waiting,
            day2.recovered,
            day2.issued,
            m.orders.len()
        ),
        (2, 1, 1, 1, 1, 2, 3)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
