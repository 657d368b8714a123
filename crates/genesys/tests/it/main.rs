//! `kudos-genesys` against the Genesys Cloud simulator over real HTTP: the token, the
//! aggregate queries and their intervals, staging, a repeated pull, rate limits, server
//! errors, refused credentials — and what a staged file becomes through the parsers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use kudos_core::{Day, SystemClock};
use kudos_genesys::{AggregateKind, Endpoints, GenesysApi, GenesysError, Staging, pull_aggregates};
use kudos_privacy::SecretSource;
use kudos_sim::genesys::{GenesysConfig, GenesysSimulator};
use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("genesys-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn day(s: &str) -> Day {
    Day::parse(s).unwrap()
}

fn new_york() -> Tz {
    "America/New_York".parse().unwrap()
}

fn api(sim: &GenesysSimulator, dir: &Path, secret: &str) -> GenesysApi {
    std::fs::write(dir.join("secret"), format!("{secret}\n")).unwrap();
    let transport = Arc::new(
        kudos_client::ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
            .unwrap(),
    );
    GenesysApi::new(
        Endpoints::explicit(&sim.base_url(), &sim.base_url()).unwrap(),
        "genesys-sim-client",
        SecretSource::File(dir.join("secret")),
        transport,
        Arc::new(SystemClock),
    )
    .unwrap()
    .backoff(Duration::from_millis(20))
}

/// `kinds` for the days `first..=last` in New York, stamped on the system clock.
async fn pull(
    api: &GenesysApi,
    staging: &Staging,
    kinds: &[AggregateKind],
    first: Day,
    last: Day,
) -> Result<kudos_genesys::PullReport, GenesysError> {
    pull_aggregates(api, staging, kinds, first, last, new_york(), &SystemClock).await
}

fn staged(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_pull_stages_each_answer_and_a_repeat_with_the_items_reordered_writes_nothing() {
    let sim = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let dir = scratch("pull");
    let api = api(&sim, &dir, "genesys-sim-secret");
    let staging = Staging::open(dir.join("staging")).unwrap();
    let kinds = [AggregateKind::Surveys, AggregateKind::Conversations];
    let report = pull(&api, &staging, &kinds, day("2026-03-02"), day("2026-03-03"))
        .await
        .unwrap();
    assert_eq!(
        (report.written.len(), report.unchanged),
        (2, 0),
        "{report:?}"
    );
    assert_eq!(
        report.written[0].interval,
        "2026-03-02T05:00:00.000Z/2026-03-04T05:00:00.000Z"
    );
    // The query asked for what docs/genesys.md says: P1D, the zone, grouped by user.
    let query: Value = serde_json::from_str(&sim.requests()[0].body).unwrap();
    assert_eq!(query["granularity"], "P1D");
    assert_eq!(query["timeZone"], "America/New_York");
    assert_eq!(query["groupBy"][0], "userId");

    // The staged file is what Genesys returned, and the parsers read it like an export.
    let files = staged(staging.dir());
    assert_eq!(files.len(), 2);
    let options = kudos_wfm::ParseOptions {
        time_zone: new_york(),
        ..Default::default()
    };
    let records: Vec<_> = kudos_wfm::open(&files[0], &options)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.metric.as_str() == "oSurveyTotalScore.avg" && r.day == day("2026-03-02")),
        "{records:?}"
    );

    // Again: the simulator returns the same data in another order; nothing new is written.
    let again = pull(&api, &staging, &kinds, day("2026-03-02"), day("2026-03-03"))
        .await
        .unwrap();
    assert_eq!((again.written.len(), again.unchanged), (0, 2), "{again:?}");
    assert_eq!(staged(staging.dir()), files);
    assert_eq!(sim.tokens_issued(), 1, "the token is cached");
}

#[tokio::test]
async fn a_range_over_the_limit_is_cut_at_local_midnights_across_the_clock_change() {
    let sim = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let dir = scratch("range");
    let api = api(&sim, &dir, "genesys-sim-secret");
    let staging = Staging::open(dir.join("staging")).unwrap();
    pull(
        &api,
        &staging,
        &[AggregateKind::Users],
        day("2026-03-02"),
        day("2026-03-12"),
    )
    .await
    .unwrap();
    let intervals: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["interval"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // 7 days, then 4; the second starts at the local midnight after the 23-hour 8 March.
    assert_eq!(
        intervals,
        [
            "2026-03-02T05:00:00.000Z/2026-03-09T04:00:00.000Z",
            "2026-03-09T04:00:00.000Z/2026-03-13T04:00:00.000Z",
        ]
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_waited_out_and_retried() {
    let sim = GenesysSimulator::start(GenesysConfig {
        too_many_requests: vec![1],
        unavailable: vec![2],
        ..GenesysConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("retry");
    let api = api(&sim, &dir, "genesys-sim-secret");
    let staging = Staging::open(dir.join("staging")).unwrap();
    let report = pull(
        &api,
        &staging,
        &[AggregateKind::Evaluations],
        day("2026-03-02"),
        day("2026-03-03"),
    )
    .await
    .unwrap();
    assert_eq!(report.written.len(), 1);
    assert_eq!(sim.requests().len(), 3, "429, 503, then the answer");
}

#[tokio::test]
async fn failures_name_the_endpoint_and_interval_and_never_a_secret_or_token() {
    let sim = GenesysSimulator::start(GenesysConfig {
        unavailable: (1..=10).collect(),
        ..GenesysConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("fail");
    let staging = Staging::open(dir.join("staging")).unwrap();
    let pull = |api: GenesysApi| {
        let staging = &staging;
        async move {
            pull(
                &api,
                staging,
                &[AggregateKind::Surveys],
                day("2026-03-02"),
                day("2026-03-02"),
            )
            .await
            .unwrap_err()
        }
    };
    // Refused credentials: a token error, without the secret.
    let e = pull(api(&sim, &dir, "not-the-secret")).await;
    assert!(matches!(e, GenesysError::Token(_)), "{e}");
    assert!(!e.to_string().contains("not-the-secret"), "{e}");
    // A server that keeps failing: the endpoint, the interval and the attempts.
    let e = pull(api(&sim, &dir, "genesys-sim-secret"))
        .await
        .to_string();
    assert!(
        e.contains("POST /api/v2/analytics/surveys/aggregates/query")
            && e.contains("2026-03-02T05:00:00.000Z/2026-03-03T05:00:00.000Z")
            && e.contains("gave up after 6 attempts"),
        "{e}"
    );
    assert!(
        !e.contains("genesys-sim-token") && !e.contains("genesys-sim-secret"),
        "{e}"
    );
    assert!(staged(staging.dir()).is_empty(), "nothing half-written");
}

#[tokio::test]
async fn a_request_budget_keeps_requests_under_the_per_minute_limit() {
    let sim = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let dir = scratch("budget");
    let clock = Arc::new(SystemClock);
    let api = api(&sim, &dir, "genesys-sim-secret").requests_per_minute(2);
    let staging = Staging::open(dir.join("staging")).unwrap();
    // Two queries fit; a third would wait most of a minute, so stop it after a moment.
    let pull = pull_aggregates(
        &api,
        &staging,
        &[
            AggregateKind::Surveys,
            AggregateKind::Conversations,
            AggregateKind::Users,
        ],
        day("2026-03-02"),
        day("2026-03-03"),
        new_york(),
        clock.as_ref(),
    );
    let timed_out = tokio::time::timeout(Duration::from_millis(1500), pull).await;
    assert!(timed_out.is_err(), "the third query waited for the budget");
    assert_eq!(sim.requests().len(), 2);
}

#[tokio::test]
async fn a_pull_interrupted_and_repeated_stages_everything_once() {
    // The second query fails on every attempt (requests 2 to 7); later requests succeed.
    let sim = GenesysSimulator::start(GenesysConfig {
        unavailable: (2..=7).collect(),
        ..GenesysConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("interrupted");
    let api = api(&sim, &dir, "genesys-sim-secret");
    let staging = Staging::open(dir.join("staging")).unwrap();
    let kinds = [AggregateKind::Surveys, AggregateKind::Conversations];
    let pull = || pull(&api, &staging, &kinds, day("2026-03-02"), day("2026-03-03"));
    let e = pull().await.unwrap_err();
    assert!(e.to_string().contains("conversations"), "{e}");
    let after_first = staged(staging.dir());
    assert_eq!(
        after_first.len(),
        1,
        "what was pulled before the failure stays"
    );

    let report = pull().await.unwrap();
    assert_eq!(
        (report.written.len(), report.unchanged),
        (1, 1),
        "{report:?}"
    );
    let after_second = staged(staging.dir());
    assert_eq!(after_second.len(), 2);
    assert_eq!(after_second[0], after_first[0], "nothing staged twice");
    assert!(
        after_second[1]
            .to_str()
            .unwrap()
            .ends_with("-conversations-2026-03-02-2026-03-03.json")
    );
    // No temporary file is left behind.
    assert!(
        std::fs::read_dir(staging.dir()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp"))
    );
}

#[tokio::test]
async fn the_users_directory_reads_every_page_and_keeps_only_the_fields_asked_for() {
    let sim = GenesysSimulator::start(GenesysConfig {
        users: 250,
        ..GenesysConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("users");
    let api = api(&sim, &dir, "genesys-sim-secret");
    let users = kudos_genesys::user_fields(&api, &["email".to_owned()])
        .await
        .unwrap();
    assert_eq!(users.len(), 250);
    let one = &users["a1b2c3d4-0000-4000-8000-000000000001"];
    assert_eq!(one.len(), 1, "only the field asked for: {:?}", one.keys());
    assert_eq!(one["email"], "agent.1@example.com");
    let pages: Vec<String> = sim.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(pages, ["GET", "GET", "GET"], "three pages of 100");
}

#[tokio::test]
async fn adherence_is_a_bulk_job_polled_until_complete_and_its_download_staged() {
    use kudos_genesys::{JobPolling, management_units, pull_adherence};
    let sim = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let dir = scratch("adherence");
    let api = api(&sim, &dir, "genesys-sim-secret");
    let staging = Staging::open(dir.join("staging")).unwrap();
    let units = management_units(&api).await.unwrap();
    assert_eq!(units.len(), 1);
    let polling = JobPolling::new(Duration::from_millis(10), Duration::from_secs(10));
    // The sample covers 8 and 9 March in New York: the 23-hour day, then a whole one.
    let pull = || {
        pull_adherence(
            &api,
            &staging,
            &units,
            day("2026-03-08"),
            day("2026-03-09"),
            new_york(),
            polling,
        )
    };
    let report = pull().await.unwrap();
    assert_eq!(report.written.len(), 1, "{report:?}");
    let submitted: Value = serde_json::from_str(
        &sim.requests()
            .iter()
            .find(|r| r.path.ends_with("/historical/bulk"))
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(
        submitted["items"][0]["startDate"],
        "2026-03-08T05:00:00.000Z"
    );
    assert_eq!(submitted["items"][0]["endDate"], "2026-03-10T04:00:00.000Z");
    let polls = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/bulk/jobs"))
        .count();
    assert_eq!(polls, 3, "Processing twice, then Complete");

    // The download (fetched without the token: the simulator refuses one) parses as adherence,
    // each day on its local date.
    let options = kudos_wfm::ParseOptions {
        time_zone: new_york(),
        ..Default::default()
    };
    let records: Vec<_> = kudos_wfm::open(&report.written[0].path, &options)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let days: std::collections::BTreeSet<Day> = records.iter().map(|r| r.day).collect();
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        [day("2026-03-08"), day("2026-03-09")]
    );

    // Again: nothing new.
    let again = pull().await.unwrap();
    assert_eq!((again.written.len(), again.unchanged), (0, 1));
}

#[tokio::test]
async fn an_adherence_job_that_never_completes_is_an_error_naming_it() {
    use kudos_genesys::{JobPolling, pull_adherence};
    let sim = GenesysSimulator::start(GenesysConfig {
        polls_to_complete: 1000,
        ..GenesysConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("adherence-slow");
    let api = api(&sim, &dir, "genesys-sim-secret");
    let staging = Staging::open(dir.join("staging")).unwrap();
    let e = pull_adherence(
        &api,
        &staging,
        &["unit-1".to_owned()],
        day("2026-03-08"),
        day("2026-03-09"),
        new_york(),
        JobPolling::new(Duration::from_millis(10), Duration::from_millis(200)),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("adherence of unit unit-1") && e.contains("not complete"),
        "{e}"
    );
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let sim = GenesysSimulator::start(GenesysConfig {
        token_ttl_secs: 1,
        ..GenesysConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("renew");
    let api = api(&sim, &dir, "genesys-sim-secret");
    let staging = Staging::open(dir.join("staging")).unwrap();
    let pull = || {
        pull(
            &api,
            &staging,
            &[AggregateKind::Surveys],
            day("2026-03-02"),
            day("2026-03-02"),
        )
    };
    pull().await.unwrap();
    // Past 80 % of its one-second life the cached token is not used again: a new one is
    // fetched before the old one expires, and no request is refused.
    tokio::time::sleep(Duration::from_millis(900)).await;
    pull().await.unwrap();
    assert_eq!(sim.tokens_issued(), 2);
    assert_eq!(
        sim.requests().len(),
        2,
        "no request was refused and retried"
    );
}

#[tokio::test]
async fn under_a_seeded_storm_of_429s_and_503s_every_pull_stages_what_a_calm_one_does() {
    // The calm pull, for reference.
    let calm = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let dir = scratch("storm-calm");
    let api_calm = api(&calm, &dir, "genesys-sim-secret");
    let staging_calm = Staging::open(dir.join("staging")).unwrap();
    let kinds = AggregateKind::ALL;
    pull(
        &api_calm,
        &staging_calm,
        &kinds,
        day("2026-03-02"),
        day("2026-03-03"),
    )
    .await
    .unwrap();
    let expected: Vec<Value> = staged(staging_calm.dir())
        .iter()
        .map(|p| canonical(&std::fs::read(p).unwrap()))
        .collect();
    for seed in 1..=3 {
        let stormy = GenesysSimulator::start(GenesysConfig {
            fault_rate: 0.4,
            fault_seed: seed,
            ..GenesysConfig::default()
        })
        .await
        .unwrap();
        let dir = scratch(&format!("storm-{seed}"));
        let api = api(&stormy, &dir, "genesys-sim-secret");
        let staging = Staging::open(dir.join("staging")).unwrap();
        let report = pull(&api, &staging, &kinds, day("2026-03-02"), day("2026-03-03"))
            .await
            .unwrap();
        assert_eq!(report.written.len(), kinds.len(), "seed {seed}");
        let got: Vec<Value> = staged(staging.dir())
            .iter()
            .map(|p| canonical(&std::fs::read(p).unwrap()))
            .collect();
        assert_eq!(got, expected, "seed {seed}: the same data, each kind once");
        assert!(
            stormy.requests().len() > kinds.len(),
            "seed {seed}: the storm really hit"
        );
    }
}

/// A response with every array sorted, so two answers in different orders compare equal.
fn canonical(bytes: &[u8]) -> Value {
    fn sort(v: Value) -> Value {
        match v {
            Value::Array(items) => {
                let mut items: Vec<Value> = items.into_iter().map(sort).collect();
                items.sort_by_key(std::string::ToString::to_string);
                Value::Array(items)
            }
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            other => other,
        }
    }
    sort(serde_json::from_slice(bytes).unwrap())
}

#[tokio::test]
async fn a_job_is_its_creators_alone_and_an_empty_answer_is_reported() {
    use kudos_genesys::JobPolling;
    let sim = GenesysSimulator::start(GenesysConfig {
        other_client: Some(("rotated-client".into(), "rotated-secret".into())),
        ..GenesysConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("creator");
    let first = api(&sim, &dir, "genesys-sim-secret");
    let body = first
        .post_json(
            "/api/v2/workforcemanagement/adherence/historical/bulk",
            &serde_json::json!({"timeZone": "America/New_York", "items": [{
                "managementUnitId": "unit-1",
                "startDate": "2026-04-01T04:00:00.000Z",
                "endDate": "2026-04-02T04:00:00.000Z"}]}),
            "submit",
        )
        .await
        .unwrap();
    let job: Value = serde_json::from_slice(&body).unwrap();
    let path = format!(
        "/api/v2/workforcemanagement/adherence/historical/bulk/jobs/{}",
        job["job"]["id"].as_str().unwrap()
    );
    // Another client of the same organisation (a rotated one, say) cannot read it.
    std::fs::write(dir.join("rotated"), "rotated-secret\n").unwrap();
    let transport = Arc::new(
        kudos_client::ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
            .unwrap(),
    );
    let rotated = GenesysApi::new(
        Endpoints::explicit(&sim.base_url(), &sim.base_url()).unwrap(),
        "rotated-client",
        SecretSource::File(dir.join("rotated")),
        transport,
        Arc::new(SystemClock),
    )
    .unwrap();
    let e = rotated.get_json(&path, "poll").await.unwrap_err();
    assert!(matches!(e, GenesysError::Api { status: 404, .. }), "{e}");
    assert!(first.get_json(&path, "poll").await.is_ok());

    // A pull of days with no data stages the empty answer and says so.
    let staging = Staging::open(dir.join("staging")).unwrap();
    let report = kudos_genesys::pull_adherence(
        &first,
        &staging,
        &["unit-1".to_owned()],
        day("2026-04-01"),
        day("2026-04-01"),
        new_york(),
        JobPolling::new(Duration::from_millis(10), Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(report.empty.len(), 1, "{report:?}");
    assert!(report.empty[0].contains("unit-1"), "{report:?}");
}
