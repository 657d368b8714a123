//! The client's decision parts: the outcome table, the schedule, the breaker.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use kudos_client::{BreakerState, CircuitBreaker, Outcome, Verdict, classify};
use kudos_core::ManualClock;

#[test]
fn the_status_table_of_the_reference() {
    for s in [200, 201] {
        assert_eq!(classify(s), Verdict::Answered);
    }
    for s in [500, 502, 503, 504, 408, 429] {
        assert_eq!(classify(s), Verdict::Retry, "{s}");
    }
    assert_eq!(classify(401), Verdict::RefreshToken);
    for s in [400, 403, 404, 422] {
        assert_eq!(classify(s), Verdict::Review, "{s}");
    }
    for s in [409, 202, 301, 418, 501, 599] {
        assert_eq!(
            classify(s),
            Verdict::InDoubt,
            "{s}: unlisted statuses may have issued the reward"
        );
    }
}

#[test]
fn only_rejections_and_unsent_requests_may_release_points() {
    let may = |o: Outcome| o.may_have_issued();
    assert!(may(Outcome::Issued {
        reward_id: "r".into()
    }));
    assert!(may(Outcome::InDoubt {
        reason: "timeout".into()
    }));
    assert!(may(Outcome::NeedsReview {
        status: 422,
        reason: "x".into()
    }));
    assert!(!may(Outcome::Rejected {
        reason: "out of stock".into()
    }));
    assert!(!may(Outcome::NotSent {
        reason: "circuit open".into()
    }));
}

#[test]
fn the_breaker_opens_after_a_failure_period_and_probes_once() {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-04T06:00:00Z").unwrap());
    let breaker = CircuitBreaker::new(
        clock.clone(),
        TimeDelta::seconds(300),
        TimeDelta::seconds(30),
    );
    breaker.record_failure();
    clock.advance(TimeDelta::seconds(299));
    breaker.record_failure();
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "failing for 299 s: still closed"
    );
    clock.advance(TimeDelta::seconds(1));
    breaker.record_failure();
    assert_eq!(
        breaker.state(),
        BreakerState::Open,
        "300 s without a success: open"
    );
    assert!(!breaker.allow(), "nothing is sent while open");
    clock.advance(TimeDelta::seconds(30));
    assert!(breaker.allow(), "one probe after the probe delay");
    assert!(!breaker.allow(), "only one");
    breaker.record_failure();
    assert_eq!(
        breaker.state(),
        BreakerState::Open,
        "a failed probe opens it again"
    );
    clock.advance(TimeDelta::seconds(30));
    assert!(breaker.allow());
    breaker.record_success();
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert!(breaker.allow());
}

#[test]
fn a_success_resets_the_failure_period() {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-04T06:00:00Z").unwrap());
    let breaker = CircuitBreaker::new(
        clock.clone(),
        TimeDelta::seconds(300),
        TimeDelta::seconds(30),
    );
    breaker.record_failure();
    clock.advance(TimeDelta::seconds(200));
    breaker.record_success();
    clock.advance(TimeDelta::seconds(200));
    breaker.record_failure();
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "the run of failures started again at the last failure"
    );
}

#[test]
fn a_probe_that_never_reports_back_does_not_wedge_the_breaker() {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-04T06:00:00Z").unwrap());
    let breaker = CircuitBreaker::new(clock.clone(), TimeDelta::seconds(0), TimeDelta::seconds(30));
    breaker.record_failure();
    clock.advance(TimeDelta::seconds(30));
    assert!(breaker.allow(), "the probe goes");
    clock.advance(TimeDelta::seconds(29));
    assert!(!breaker.allow(), "its answer is awaited");
    clock.advance(TimeDelta::seconds(1));
    assert!(
        breaker.allow(),
        "no answer after the probe delay: another probe"
    );
}

#[test]
fn signatures_match_the_published_stripe_style_vector() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/rewards/signing_vectors.json"
    ))
    .unwrap();
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    let v = &vectors["stripe_style"];
    let header = kudos_client::signature_header(
        v["made_up_secret"].as_str().unwrap(),
        v["timestamp"].as_i64().unwrap(),
        v["raw_body"].as_str().unwrap().as_bytes(),
    );
    assert_eq!(header, v["expected_header"].as_str().unwrap());
}

#[test]
fn the_rate_limit_spaces_requests_and_zero_means_unlimited() {
    use kudos_client::RateLimit;
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-04T06:00:00Z").unwrap());
    let one_per_second = RateLimit::new(clock.clone(), 1);
    assert!(one_per_second.try_acquire().is_ok());
    assert_eq!(
        one_per_second.try_acquire(),
        Err(TimeDelta::seconds(1)),
        "the next slot is a second away"
    );
    clock.advance(TimeDelta::milliseconds(400));
    assert_eq!(
        one_per_second.clone().try_acquire(),
        Err(TimeDelta::milliseconds(600)),
        "clones share the budget"
    );
    clock.advance(TimeDelta::milliseconds(600));
    assert!(one_per_second.try_acquire().is_ok());
    let unlimited = RateLimit::new(clock, 0);
    assert!((0..1000).all(|_| unlimited.try_acquire().is_ok()));
}

mod payload {
    use std::collections::BTreeMap;

    use kudos_client::{Recipient, issue_payload};
    use kudos_core::{AgentId, ManualClock, Points, RewardType, TxnId};
    use kudos_privacy::{PayloadPolicy, Pseudonymizer, RecipientCipher, SecretString};

    fn metadata(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = [
            ("source_platform", "Genesys Cloud CX"),
            ("wfm_export_version", "v2.1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        m.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        m
    }

    #[test]
    fn the_body_has_the_contract_shape_and_no_personal_data() {
        let p = Pseudonymizer::new(SecretString::from("pseudonym-key"));
        let agent = AgentId::new("a1b2c3d4-0000-4000-8000-000000000001").unwrap();
        let at = kudos_core::Clock::now(&ManualClock::at_rfc3339("2026-03-04T06:00:00Z").unwrap());
        let bytes = issue_payload(
            &p,
            &agent,
            &RewardType::new("gift_card_50_usd").unwrap(),
            Points::new(500),
            at,
            &metadata(&[]),
            None,
            &PayloadPolicy::default(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"agent_id":"359a6c6ac0eacd2fc5e3414b8f23b25f291d2ede0a8b21608b191fe7c7fee3f9","reward_type":"gift_card_50_usd","points_consumed":500,"transaction_timestamp":"2026-03-04T06:00:00Z","metadata":{"source_platform":"Genesys Cloud CX","wfm_export_version":"v2.1"}}"#
        );
    }

    #[test]
    fn recipient_fields_travel_only_sealed_and_other_fields_are_refused() {
        let p = Pseudonymizer::new(SecretString::from("k"));
        let agent = AgentId::new("u-1").unwrap();
        let at = kudos_core::Clock::now(&ManualClock::at_rfc3339("2026-03-04T06:00:00Z").unwrap());
        let cipher = RecipientCipher::new(&SecretString::from("recipient-key")).unwrap();
        let recipient = Recipient {
            cipher: &cipher,
            fields: serde_json::json!({"email": "jordan.reyes@example.com"}),
        };
        let txn = TxnId::from_uuid(uuid::Uuid::from_u128(7));
        let rt = RewardType::new("r").unwrap();
        let bytes = issue_payload(
            &p,
            &agent,
            &rt,
            Points::new(5),
            at,
            &metadata(&[]),
            Some((&recipient, txn)),
            &PayloadPolicy::default(),
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains("jordan") && !text.contains('@'), "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            cipher
                .open(&txn.to_string(), body["recipient_enc"].as_str().unwrap())
                .unwrap()["email"],
            "jordan.reyes@example.com"
        );
        let err = issue_payload(
            &p,
            &agent,
            &rt,
            Points::new(5),
            at,
            &metadata(&[("team_lead", "Sam")]),
            None,
            &PayloadPolicy::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to send field metadata.team_lead: it is not in the allow-list"
        );
        let err = issue_payload(
            &p,
            &agent,
            &rt,
            Points::new(5),
            at,
            &metadata(&[("source_platform", "ops@example.com")]),
            None,
            &PayloadPolicy::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to send field metadata.source_platform: it looks like an e-mail address"
        );
    }
}

mod token {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::TimeDelta;
    use kudos_client::TokenSource;
    use kudos_core::ManualClock;
    use kudos_privacy::{ExposeSecret, SecretSource};
    use kudos_sim::{SimConfig, Simulator};

    fn secret_file(name: &str, value: &str) -> std::path::PathBuf {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("client-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, value).unwrap();
        path
    }

    fn source(sim: &Simulator, file: &std::path::Path, clock: Arc<ManualClock>) -> TokenSource {
        TokenSource::new(
            &sim.token_url(),
            "kudos-sim-client",
            SecretSource::File(file.to_owned()),
            clock,
            Duration::from_secs(10),
            Duration::from_secs(45),
        )
        .unwrap()
    }

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::at_rfc3339("2026-03-04T06:00:00Z").unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hundred_concurrent_callers_cause_one_token_fetch() {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let tokens = Arc::new(source(
            &sim,
            &secret_file("concurrent", "kudos-sim-secret"),
            clock(),
        ));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let tokens = tokens.clone();
                tokio::spawn(
                    async move { tokens.token().await.unwrap().expose_secret().to_owned() },
                )
            })
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for t in tasks {
            seen.insert(t.await.unwrap());
        }
        assert_eq!(seen.len(), 1, "everyone got the same token");
        assert_eq!(tokens.fetches(), 1);
        assert_eq!(
            sim.requests()
                .iter()
                .filter(|r| r.path == "/oauth/token")
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn the_token_is_refreshed_before_it_expires() {
        let sim = Simulator::start(SimConfig {
            token_ttl_secs: 100,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let clock = clock();
        let tokens = source(
            &sim,
            &secret_file("refresh", "kudos-sim-secret"),
            clock.clone(),
        );
        let first = tokens.token().await.unwrap();
        clock.advance(TimeDelta::seconds(79));
        assert_eq!(
            tokens.token().await.unwrap().expose_secret(),
            first.expose_secret(),
            "still fresh at 79 % of its life"
        );
        clock.advance(TimeDelta::seconds(1));
        assert_ne!(
            tokens.token().await.unwrap().expose_secret(),
            first.expose_secret(),
            "refreshed at 80 %, before it expires"
        );
        assert_eq!(tokens.fetches(), 2);
    }

    #[tokio::test]
    async fn a_rotated_secret_file_is_picked_up_and_errors_name_no_secret() {
        let sim = Simulator::start(SimConfig {
            client_secret: "new-secret".into(),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let file = secret_file("rotate", "old-secret");
        let tokens = source(&sim, &file, clock());
        let err = tokens.token().await.unwrap_err().to_string();
        assert!(
            err.starts_with("token: the token endpoint refused"),
            "{err}"
        );
        assert!(!err.contains("old-secret"), "{err}");
        std::fs::write(&file, "new-secret\n").unwrap();
        assert!(
            tokens.token().await.is_ok(),
            "the rotated secret is read at the next refresh, no restart"
        );
        let debug = format!("{tokens:?}");
        assert!(
            !debug.contains("new-secret") && !debug.contains("sim-token"),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn a_stale_token_is_dropped_after_a_401() {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let tokens = source(&sim, &secret_file("stale", "kudos-sim-secret"), clock());
        let first = tokens.token().await.unwrap();
        tokens.invalidate(&first).await;
        let second = tokens.token().await.unwrap();
        assert_ne!(first.expose_secret(), second.expose_secret());
        tokens.invalidate(&first).await;
        assert_eq!(
            tokens.token().await.unwrap().expose_secret(),
            second.expose_secret(),
            "invalidating an old token keeps the new one"
        );
    }

    #[tokio::test]
    async fn redirects_are_not_followed_on_the_token_call() {
        // A server that answers every request with a redirect to the real token endpoint.
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let target = sim.token_url();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        let tokens = TokenSource::new(
            &format!("http://{addr}/oauth/token"),
            "kudos-sim-client",
            SecretSource::File(secret_file("redirect", "kudos-sim-secret")),
            clock(),
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(tokens.token().await.is_err());
        assert!(
            sim.requests().is_empty(),
            "the credentials never reached the redirect target"
        );
    }
}

mod provider {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use kudos_client::{
        HttpProviderConfig, HttpRewardProvider, Outcome, Recipient, ReqwestTransport,
        ReverseOutcome, RewardProvider, StatusOutcome, TokenSource, issue_payload,
    };
    use kudos_core::{AgentId, Clock, Points, RewardType, SystemClock, TxnId};
    use kudos_privacy::{
        PayloadPolicy, Pseudonymizer, RecipientCipher, SecretSource, SecretString,
    };
    use kudos_sim::{FaultPlan, SimConfig, Simulator};

    fn file(name: &str, value: &str) -> std::path::PathBuf {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("provider-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, value).unwrap();
        path
    }

    struct Setup {
        sim: Simulator,
        provider: HttpRewardProvider,
    }

    async fn setup(
        name: &str,
        sim: SimConfig,
        tweak: impl FnOnce(&mut HttpProviderConfig),
    ) -> Setup {
        let sim = Simulator::start(sim).await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tokens = Arc::new(
            TokenSource::new(
                &sim.token_url(),
                "kudos-sim-client",
                SecretSource::File(file(name, "kudos-sim-secret")),
                clock.clone(),
                Duration::from_secs(2),
                Duration::from_secs(2),
            )
            .unwrap(),
        );
        let mut config = HttpProviderConfig::new(sim.base_url(), "GENESYS-WFM-INTEGRATION-01")
            .backoff(Duration::from_millis(5), Duration::from_millis(50))
            .max_retries(3);
        tweak(&mut config);
        let transport = Arc::new(
            ReqwestTransport::new(Duration::from_secs(2), Duration::from_millis(500)).unwrap(),
        );
        Setup {
            sim,
            provider: HttpRewardProvider::new(config, transport, tokens, clock),
        }
    }

    fn payload(agent: &str) -> Vec<u8> {
        let p = Pseudonymizer::new(SecretString::from("pseudonym-key"));
        let meta: BTreeMap<String, String> =
            [("source_platform".to_owned(), "Genesys Cloud CX".to_owned())].into();
        issue_payload(
            &p,
            &AgentId::new(agent).unwrap(),
            &RewardType::new("gift_card_50_usd").unwrap(),
            Points::new(500),
            SystemClock.now(),
            &meta,
            None,
            &PayloadPolicy::default(),
        )
        .unwrap()
    }

    fn txn(n: u128) -> TxnId {
        TxnId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn faults(text: &str) -> SimConfig {
        SimConfig {
            faults: FaultPlan::from_toml(text).unwrap(),
            ..SimConfig::default()
        }
    }

    fn issue_requests(sim: &Simulator) -> Vec<kudos_sim::RecordedRequest> {
        sim.requests()
            .into_iter()
            .filter(|r| r.path == "/v1/rewards/issue")
            .collect()
    }

    fn header<'a>(r: &'a kudos_sim::RecordedRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An integrator's own schedule: exactly two quick retries.
    #[derive(Debug)]
    struct TwoQuickRetries;

    impl kudos_client::Schedule for TwoQuickRetries {
        fn delays(&self) -> Box<dyn Iterator<Item = Duration> + Send> {
            Box::new([Duration::from_millis(1); 2].into_iter())
        }
    }

    #[tokio::test]
    async fn a_schedule_of_ones_own_sets_the_retries() {
        let s = setup("own-schedule", faults("[[fault]]\npath = '/v1/rewards/issue'\nprobability = 1.0\naction = 'status'\nstatus = 503"), |c| c.max_retries = 9).await;
        let provider = s.provider.with_schedule(Arc::new(TwoQuickRetries));
        let outcome = provider.issue(txn(7), &payload("u-7")).await;
        assert!(matches!(outcome, Outcome::InDoubt { .. }), "{outcome:?}");
        assert_eq!(
            issue_requests(&s.sim).len(),
            3,
            "the first request and two retries, not max_retries = 9"
        );
    }

    #[tokio::test]
    async fn retries_keep_the_same_request_id_and_end_issued() {
        let s = setup("retries", faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1, 2]\naction = 'status'\nstatus = 503"), |_| {}).await;
        let outcome = s.provider.issue(txn(1), &payload("u-1")).await;
        assert!(matches!(outcome, Outcome::Issued { .. }), "{outcome:?}");
        let sent = issue_requests(&s.sim);
        assert_eq!(sent.len(), 3);
        for r in &sent {
            assert_eq!(header(r, "x-request-id"), Some(txn(1).to_string().as_str()));
            assert_eq!(
                header(r, "idempotency-key"),
                Some(format!("\"{}\"", txn(1)).as_str()),
                "a quoted string, the same every time"
            );
            assert_eq!(
                header(r, "x-integration-id"),
                Some("GENESYS-WFM-INTEGRATION-01")
            );
        }
        assert_eq!(sent[0].body, sent[2].body, "the same bytes on every retry");
    }

    #[tokio::test]
    async fn process_then_drop_ends_in_one_reward() {
        let s = setup("drop", faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'drop_after_processing'"), |_| {}).await;
        let outcome = s.provider.issue(txn(2), &payload("u-1")).await;
        assert!(matches!(outcome, Outcome::Issued { .. }), "{outcome:?}");
        assert_eq!(
            s.sim.rewards().len(),
            1,
            "the retry got the original answer, not a second reward"
        );
    }

    #[tokio::test]
    async fn rejected_is_not_success_and_pending_is_in_doubt_until_looked_up() {
        let s = setup("rejected", faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'rejected'\n[[fault]]\npath = '/v1/rewards/issue'\nnth = [2]\naction = 'pending'"), |_| {}).await;
        assert!(matches!(
            s.provider.issue(txn(3), &payload("u-1")).await,
            Outcome::Rejected { .. }
        ));
        let pending = s.provider.issue(txn(4), &payload("u-2")).await;
        assert!(
            matches!(pending, Outcome::InDoubt { .. }) && pending.may_have_issued(),
            "{pending:?}"
        );
        assert!(
            matches!(
                s.provider.status(txn(4)).await,
                StatusOutcome::Issued { .. }
            ),
            "a later lookup resolves it"
        );
        assert_eq!(s.provider.status(txn(99)).await, StatusOutcome::NotFound);
    }

    #[tokio::test]
    async fn a_409_is_in_doubt_and_a_422_needs_review_without_retry() {
        let s = setup("409", faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 409\n[[fault]]\npath = '/v1/rewards/issue'\nnth = [2]\naction = 'status'\nstatus = 422"), |_| {}).await;
        assert!(matches!(
            s.provider.issue(txn(5), &payload("u-1")).await,
            Outcome::InDoubt { .. }
        ));
        assert!(matches!(
            s.provider.issue(txn(6), &payload("u-1")).await,
            Outcome::NeedsReview { status: 422, .. }
        ));
        assert_eq!(issue_requests(&s.sim).len(), 2, "neither was retried");
    }

    #[tokio::test]
    async fn a_429_waits_for_retry_after() {
        let s = setup("429", faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 429\nretry_after_secs = 1"), |c| c.backoff_cap = Duration::from_secs(5)).await;
        assert!(matches!(
            s.provider.issue(txn(7), &payload("u-1")).await,
            Outcome::Issued { .. }
        ));
        assert_eq!(
            s.provider.slept(),
            Duration::from_secs(1),
            "waited exactly what Retry-After said"
        );
    }

    #[tokio::test]
    async fn exhausted_retries_are_in_doubt_and_hangs_are_network_errors() {
        let s = setup("exhausted", faults("[[fault]]\npath = '/v1/rewards/issue'\nprobability = 1.0\naction = 'status'\nstatus = 503"), |c| c.max_retries = 2).await;
        let outcome = s.provider.issue(txn(8), &payload("u-1")).await;
        assert!(
            matches!(&outcome, Outcome::InDoubt { reason } if reason.contains("after 3 attempts")),
            "{outcome:?}"
        );
        assert_eq!(issue_requests(&s.sim).len(), 3);

        // A hang outlasts the read timeout: the call retries with the same id, and the
        // marketplace, still holding the first request, answers 409 — in doubt, never released.
        let h = setup(
            "hang",
            faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'hang'"),
            |_| {},
        )
        .await;
        let outcome = h.provider.issue(txn(9), &payload("u-1")).await;
        assert!(
            matches!(&outcome, Outcome::InDoubt { reason } if reason.contains("409")),
            "{outcome:?}"
        );
        assert_eq!(issue_requests(&h.sim).len(), 2, "the timeout was retried");
    }

    #[tokio::test]
    async fn nothing_listening_is_not_sent_and_an_open_breaker_sends_nothing() {
        let s = setup("refused", SimConfig::default(), |c| {
            c.base_url = "http://127.0.0.1:9".into();
            c.max_retries = 1;
        })
        .await;
        assert!(
            matches!(
                s.provider.issue(txn(10), &payload("u-1")).await,
                Outcome::NotSent { .. }
            ),
            "connection refused: certainly not sent"
        );

        let b = setup("breaker", faults("[[fault]]\npath = '/v1/rewards/issue'\nprobability = 1.0\naction = 'status'\nstatus = 503"), |c| {
            c.breaker_open_after = Duration::ZERO;
            c.max_retries = 5;
        })
        .await;
        let first = b.provider.issue(txn(11), &payload("u-1")).await;
        assert!(
            matches!(&first, Outcome::InDoubt { reason } if reason.contains("breaker")),
            "its first attempt reached the marketplace, so the open breaker leaves it in doubt: {first:?}"
        );
        let before = issue_requests(&b.sim).len();
        assert!(matches!(
            b.provider.issue(txn(12), &payload("u-1")).await,
            Outcome::NotSent { .. }
        ));
        assert_eq!(
            issue_requests(&b.sim).len(),
            before,
            "an open breaker sends nothing"
        );
    }

    #[tokio::test]
    async fn a_request_processed_then_cut_off_is_in_doubt_even_when_the_breaker_opens() {
        // The marketplace issues the reward and drops the connection; the breaker (open after
        // any failure) then stops the retry. Before, the call ended "not sent", and an
        // operator settling it as not issued would release the points of a reward that exists.
        let s = setup(
            "dropped-then-open",
            faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'drop_after_processing'"),
            |c| c.breaker_open_after = Duration::ZERO,
        )
        .await;
        let outcome = s.provider.issue(txn(20), &payload("u-20")).await;
        assert!(matches!(outcome, Outcome::InDoubt { .. }), "{outcome:?}");
        assert_eq!(s.sim.rewards().len(), 1, "the reward exists");
        assert!(outcome.may_have_issued());
    }

    #[tokio::test]
    async fn a_retry_after_as_an_http_date_is_waited_for() {
        let s = setup(
            "retry-after-date",
            faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 429\nretry_after_secs = 2\nretry_after_as_date = true"),
            |_| {},
        )
        .await;
        let outcome = s.provider.issue(txn(21), &payload("u-21")).await;
        assert!(matches!(outcome, Outcome::Issued { .. }), "{outcome:?}");
        let sent = issue_requests(&s.sim);
        assert_eq!(sent.len(), 2);
        assert!(
            s.provider.slept() >= Duration::from_millis(500),
            "the date (two seconds ahead, to the second) was read as a wait of more than a second; the schedule's own delays are at most 50 ms: {:?}",
            s.provider.slept()
        );
    }

    #[tokio::test]
    async fn a_retry_after_past_the_deadline_ends_the_call_instead_of_waiting() {
        let s = setup(
            "retry-after-deadline",
            faults("[[fault]]\npath = '/v1/rewards/issue'\nprobability = 1.0\naction = 'status'\nstatus = 429\nretry_after_secs = 3600"),
            |c| c.deadline = Duration::from_secs(2),
        )
        .await;
        let outcome = s.provider.issue(txn(22), &payload("u-22")).await;
        assert!(
            matches!(&outcome, Outcome::InDoubt { reason } if reason.contains("deadline")),
            "{outcome:?}"
        );
        assert_eq!(
            s.provider.slept(),
            Duration::ZERO,
            "an hour's Retry-After is not waited, even in part"
        );
        assert_eq!(issue_requests(&s.sim).len(), 1);
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_limit_is_not_read_and_is_in_doubt() {
        let app = axum::Router::new()
            .route(
                "/oauth/token",
                axum::routing::post(|| async {
                    axum::Json(serde_json::json!({"access_token": "t", "token_type": "bearer", "expires_in": 3600}))
                }),
            )
            .route(
                "/v1/rewards/issue",
                axum::routing::post(|| async { vec![b'x'; kudos_client::MAX_ANSWER_BYTES + 1] }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let base = format!("http://{addr}");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tokens = Arc::new(
            TokenSource::new(
                &format!("{base}/oauth/token"),
                "kudos-sim-client",
                SecretSource::File(file("huge", "kudos-sim-secret")),
                clock.clone(),
                Duration::from_secs(2),
                Duration::from_secs(2),
            )
            .unwrap(),
        );
        let provider = HttpRewardProvider::new(
            HttpProviderConfig::new(base, "GENESYS-WFM-INTEGRATION-01").max_retries(0),
            Arc::new(
                ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(2)).unwrap(),
            ),
            tokens,
            clock,
        );
        let outcome = provider.issue(txn(23), &payload("u-23")).await;
        assert!(
            matches!(&outcome, Outcome::InDoubt { reason } if reason.contains("larger than")),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn signatures_verify_and_recipients_decrypt_at_the_simulator() {
        let sim = SimConfig {
            signing_secret: Some("sign-me".into()),
            recipient_key: Some("recipient-key".into()),
            ..SimConfig::default()
        };
        let s = setup("signed", sim, |c| {
            c.signing = Some(SecretSource::File(file("signing", "sign-me")))
        })
        .await;
        let cipher = RecipientCipher::new(&SecretString::from("recipient-key")).unwrap();
        let recipient = Recipient {
            cipher: &cipher,
            fields: serde_json::json!({"email": "jordan.reyes@example.com"}),
        };
        let p = Pseudonymizer::new(SecretString::from("pseudonym-key"));
        let meta = BTreeMap::new();
        let body = issue_payload(
            &p,
            &AgentId::new("u-1").unwrap(),
            &RewardType::new("r").unwrap(),
            Points::new(5),
            SystemClock.now(),
            &meta,
            Some((&recipient, txn(13))),
            &PayloadPolicy::default(),
        )
        .unwrap();
        assert!(matches!(
            s.provider.issue(txn(13), &body).await,
            Outcome::Issued { .. }
        ));
        assert_eq!(
            s.sim.rewards()[0].recipient,
            Some(Ok(serde_json::json!({"email": "jordan.reyes@example.com"})))
        );
        // No personal data or secret in anything the marketplace received outside recipient_enc.
        for r in s.sim.requests() {
            let text = format!(
                "{:?}{}",
                r.headers,
                r.body.replace(r#""recipient_enc":"#, "")
            );
            for leak in ["jordan", "sign-me", "recipient-key", "pseudonym-key"] {
                assert!(!text.contains(leak), "{leak} in {} {}", r.path, text);
            }
        }
    }

    /// An attacker who captured a signed issue request replays it under another request id and
    /// idempotency key (a second reward), strips its `v2`, or replays it later: all refused.
    #[tokio::test]
    async fn a_captured_signed_request_cannot_be_replayed_under_another_key() {
        let sim = SimConfig {
            signing_secret: Some("sign-me".into()),
            ..SimConfig::default()
        };
        let s = setup("replayed", sim, |c| {
            c.signing = Some(SecretSource::File(file("signing", "sign-me")))
        })
        .await;
        assert!(matches!(
            s.provider.issue(txn(31), &payload("u-31")).await,
            Outcome::Issued { .. }
        ));
        let captured = s
            .sim
            .requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.headers.iter().any(|(n, _)| n == "x-signature"))
            .unwrap();
        let header = |name: &str| {
            captured
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let signature = header("x-signature");
        assert!(
            signature.contains(",v1=") && signature.contains(",v2="),
            "{signature}"
        );
        let http = reqwest::Client::new();
        let replay = |request_id: &str, signature: &str| {
            http.post(format!("{}{}", s.sim.base_url(), captured.path))
                .header("authorization", header("authorization"))
                .header("x-integration-id", header("x-integration-id"))
                .header("content-type", "application/json")
                .header("x-request-id", request_id)
                .header("idempotency-key", format!("\"{request_id}\""))
                .header("x-signature", signature)
                .body(captured.body.clone())
                .send()
        };
        let other = txn(32).to_string();
        let answer = replay(&other, &signature).await.unwrap();
        assert_eq!(answer.status(), 401, "replayed under another key");
        let v1_only = signature.split(",v2=").next().unwrap().to_owned();
        let answer = replay(&other, &v1_only).await.unwrap();
        assert_eq!(answer.status(), 401, "v2 stripped");
        assert!(answer.text().await.unwrap().contains("v2 required"));
        // The same request, re-signed correctly but 10 minutes old.
        let stale = kudos_client::signature_header_v2(
            "sign-me",
            &kudos_client::SignedParts {
                method: "POST",
                path: &captured.path,
                idempotency_key: &format!("\"{other}\""),
                request_id: &other,
                unix_seconds: SystemClock.now().timestamp() - 600,
                body: captured.body.as_bytes(),
            },
        );
        let answer = replay(&other, &stale).await.unwrap();
        assert_eq!(answer.status(), 401, "outside the tolerance");
        assert_eq!(
            s.sim.rewards().len(),
            1,
            "one reward, whatever was replayed"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hundred_concurrent_issues_fetch_one_token_and_print_no_secret() {
        let s = setup("hundred", SimConfig::default(), |_| {}).await;
        let provider = Arc::new(s.provider);
        let tasks: Vec<_> = (0..100u128)
            .map(|i| {
                let provider = provider.clone();
                tokio::spawn(async move {
                    provider
                        .issue(txn(1000 + i), &payload(&format!("u-{i}")))
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await.unwrap(), Outcome::Issued { .. }));
        }
        assert_eq!(s.sim.rewards().len(), 100);
        assert_eq!(
            s.sim
                .requests()
                .iter()
                .filter(|r| r.path == "/oauth/token")
                .count(),
            1,
            "one token fetch for 100 requests"
        );
        let debug = format!("{provider:?}");
        assert!(
            !debug.contains("kudos-sim-secret") && !debug.contains("sim-token"),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn the_rate_limit_spaces_requests() {
        let s = setup("rate", SimConfig::default(), |c| c.requests_per_second = 5).await;
        for i in 0..4 {
            assert!(matches!(
                s.provider.issue(txn(2000 + i), &payload("u-1")).await,
                Outcome::Issued { .. }
            ));
        }
        assert!(
            s.provider.slept() >= Duration::from_millis(300),
            "four requests at 5/s are 600 ms apart in all, and each takes far less than 100 ms: {:?}",
            s.provider.slept()
        );
        assert_eq!(issue_requests(&s.sim).len(), 4);
    }

    #[tokio::test]
    async fn reversal_and_a_401_after_a_token_refresh() {
        let s = setup("reverse", SimConfig::default(), |_| {}).await;
        assert!(matches!(
            s.provider.issue(txn(14), &payload("u-1")).await,
            Outcome::Issued { .. }
        ));
        assert_eq!(
            s.provider.reverse(txn(15), txn(14), b"{}").await,
            ReverseOutcome::Reversed
        );
        assert!(matches!(
            s.provider.reverse(txn(16), txn(404), b"{}").await,
            ReverseOutcome::Refused { status: 404, .. }
        ));
        let t = setup("401", faults("[[fault]]\npath = '/v1/rewards/issue'\nnth = [1, 2]\naction = 'status'\nstatus = 401"), |_| {}).await;
        let outcome = t.provider.issue(txn(17), &payload("u-1")).await;
        assert!(
            matches!(outcome, Outcome::NeedsReview { status: 401, .. }),
            "one refresh, then review: {outcome:?}"
        );
        assert_eq!(
            t.sim
                .requests()
                .iter()
                .filter(|r| r.path == "/oauth/token")
                .count(),
            2,
            "the token was refreshed once"
        );
    }
}

mod seam {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use kudos_client::{
        Answer, HttpProviderConfig, HttpRewardProvider, Outcome, Request, RewardProvider,
        TokenSource, Transport, TransportError,
    };
    use kudos_core::{Clock, SystemClock, TxnId};
    use kudos_privacy::SecretSource;
    use kudos_sim::{SimConfig, Simulator};

    mockall::mock! {
        #[derive(Debug)]
        pub Net {}
        #[async_trait]
        impl Transport for Net {
            async fn send(&self, request: Request) -> Result<Answer, TransportError>;
        }
    }

    #[tokio::test]
    async fn an_open_breaker_never_reaches_the_transport() {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("seam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret"), "kudos-sim-secret").unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tokens = Arc::new(
            TokenSource::new(
                &sim.token_url(),
                "kudos-sim-client",
                SecretSource::File(dir.join("secret")),
                clock.clone(),
                Duration::from_secs(2),
                Duration::from_secs(2),
            )
            .unwrap(),
        );
        let mut net = MockNet::new();
        // Exactly one call reaches the transport: the failure that opens the breaker.
        net.expect_send()
            .times(1)
            .returning(|_| Err(TransportError::MayHaveBeenSent("reset".into())));
        let config = HttpProviderConfig::new("http://unused", "i")
            .max_retries(0)
            .breaker_open_after(Duration::ZERO);
        let provider = HttpRewardProvider::new(config, Arc::new(net), tokens, clock);
        let txn = TxnId::from_uuid(uuid::Uuid::from_u128(1));
        assert!(matches!(
            provider.issue(txn, b"{}").await,
            Outcome::InDoubt { .. }
        ));
        for _ in 0..5 {
            assert!(matches!(
                provider.issue(txn, b"{}").await,
                Outcome::NotSent { .. }
            ));
        }
    }

    #[tokio::test]
    async fn a_signing_secret_lost_after_the_first_attempt_leaves_the_call_in_doubt() {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("seam-signing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret"), "kudos-sim-secret").unwrap();
        std::fs::write(dir.join("signing"), "sign-me").unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tokens = Arc::new(
            TokenSource::new(
                &sim.token_url(),
                "kudos-sim-client",
                SecretSource::File(dir.join("secret")),
                clock.clone(),
                Duration::from_secs(2),
                Duration::from_secs(2),
            )
            .unwrap(),
        );
        // The first attempt may have reached the marketplace (no answer came); meanwhile the
        // signing secret's file goes away (a rotation gone wrong).
        let mut net = MockNet::new();
        let signing = dir.join("signing");
        net.expect_send().times(1).returning(move |_| {
            std::fs::remove_file(&signing).unwrap();
            Err(TransportError::MayHaveBeenSent("reset".into()))
        });
        let config = HttpProviderConfig::new("http://unused", "i")
            .backoff(Duration::from_millis(1), Duration::from_millis(2))
            .max_retries(3)
            .signing(Some(SecretSource::File(dir.join("signing"))));
        let provider = HttpRewardProvider::new(config, Arc::new(net), tokens, clock);
        let outcome = provider
            .issue(TxnId::from_uuid(uuid::Uuid::from_u128(2)), b"{}")
            .await;
        assert!(
            matches!(outcome, Outcome::InDoubt { .. }),
            "an earlier attempt may have issued it: {outcome:?}"
        );
    }
}

#[test]
fn a_client_certificate_loads_and_garbage_is_refused() {
    use kudos_client::ReqwestTransport;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tls");
    let cert = std::fs::read(dir.join("client.pem")).unwrap();
    let key = std::fs::read(dir.join("client-key.pem")).unwrap();
    let t = Duration::from_secs(1);
    assert!(ReqwestTransport::with_client_certificate(t, t, &cert, &key).is_ok());
    let err = ReqwestTransport::with_client_certificate(t, t, b"not pem", b"either")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "configuration: client certificate: not a PEM certificate and private key"
    );
}

mod transport_seam;

mod schedules {
    use std::time::Duration;

    use kudos_client::{BackonSchedule, Schedule};

    #[test]
    fn backon_is_the_budget_and_the_deadline_and_replays_from_its_seed() {
        let s = BackonSchedule::new(
            Duration::from_millis(100),
            Duration::from_secs(5),
            4,
            Duration::from_secs(60),
            42,
        );
        let a: Vec<Duration> = s.delays().collect();
        assert_eq!(a.len(), 4, "max_retries is the budget");
        assert_eq!(
            a,
            BackonSchedule::new(
                Duration::from_millis(100),
                Duration::from_secs(5),
                4,
                Duration::from_secs(60),
                42
            )
            .delays()
            .collect::<Vec<_>>(),
            "the same seed, the same delays"
        );
        assert!(
            a.windows(2).all(|w| w[1] >= w[0] / 2),
            "growing, give or take the jitter: {a:?}"
        );
        let tight = BackonSchedule::new(
            Duration::from_secs(1),
            Duration::from_secs(5),
            100,
            Duration::from_secs(4),
            1,
        );
        let total: Duration = tight.delays().sum();
        assert!(
            total <= Duration::from_secs(4),
            "the deadline bounds the waiting: {total:?}"
        );
    }

    #[cfg(feature = "backoff")]
    #[test]
    fn a_backoff_crate_schedule_is_accepted() {
        let eb = backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(Duration::from_millis(10))
            .with_max_elapsed_time(Some(Duration::from_millis(50)))
            .build();
        let s = kudos_client::BackoffCrateSchedule(eb);
        let d: Vec<Duration> = s.delays().take(1000).collect();
        assert!(
            !d.is_empty() && d.len() < 1000,
            "it ends when max_elapsed_time passes: {}",
            d.len()
        );
    }
}
