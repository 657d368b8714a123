//! The run's and the marketplace client's figures through the `metrics` facade, as a host
//! service's recorder sees them: rewards by outcome, retries, request latency by endpoint and
//! status, token refreshes, the breaker, the run's end — under the documented names, with no
//! agent, token or value in any label.

use kudos_core::Clock as _;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use crate::run::{World, agent, faults};

/// A metric as the recorder saw it: name, labels, value.
type Seen = (String, Vec<(String, String)>, DebugValue);

fn find<'a>(seen: &'a [Seen], name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    seen.iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
}

fn counter(seen: &[Seen], name: &str, labels: &[(&str, &str)]) -> u64 {
    match find(seen, name, labels) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

#[test]
#[allow(
    clippy::float_cmp,
    clippy::cast_precision_loss,
    reason = "gauges of whole numbers (Unix seconds far below 2^52, counts), set as they are read"
)]
fn a_run_reports_through_the_metrics_facade_under_the_documented_names() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // A runtime on this thread, so the thread's recorder sees the run, the client and the
    // in-process simulator alike.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (summary, now) = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let w = World::new(
                "telemetry",
                faults(
                    "[[fault]]\npath = '/v1/rewards/issue'\nnth = [1]\naction = 'status'\nstatus = 503\n\
                     [[fault]]\npath = '/v1/rewards/issue'\nnth = [3]\naction = 'rejected'",
                ),
            )
            .await;
            w.export(
                "d.csv",
                &[
                    (1, "2026-03-02", 100.0),
                    (2, "2026-03-02", 100.0),
                    (3, "2026-03-02", 100.0),
                ],
            );
            let summary = w.run("2026-03-10").await;
            // A dry run reports nothing.
            w.try_run(&w.pipeline(), "2026-03-11", true).await.unwrap();
            (summary, w.clock.now())
        })
    });
    assert_eq!((summary.issued, summary.rejected), (2, 1), "{summary:?}");
    let seen: Vec<Seen> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, value)
        })
        .collect();

    use kudos_client::telemetry as client;
    use kudos_pipeline::telemetry as run;
    assert_eq!(
        counter(&seen, run::REWARDS_TOTAL, &[("outcome", "issued")]),
        2
    );
    assert_eq!(
        counter(&seen, run::REWARDS_TOTAL, &[("outcome", "rejected")]),
        1
    );
    assert_eq!(
        counter(&seen, run::REWARDS_TOTAL, &[("outcome", "in_doubt")]),
        0
    );
    assert_eq!(counter(&seen, run::RECORDS_TOTAL, &[]), 3);
    assert_eq!(
        counter(&seen, run::RUNS_TOTAL, &[("outcome", "finished")]),
        1,
        "the dry run is not counted"
    );
    match find(&seen, run::RUN_LAST_SUCCESS_TIMESTAMP_SECONDS, &[]) {
        #[allow(
            clippy::float_cmp,
            reason = "a whole number of seconds, set as it is read"
        )]
        Some(DebugValue::Gauge(v)) => assert_eq!(v.into_inner(), now.timestamp() as f64),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        find(&seen, run::RUN_DURATION_SECONDS, &[]),
        Some(DebugValue::Histogram(h)) if h.len() == 1
    ));
    match find(&seen, run::HOLDS, &[("state", "in_doubt")]) {
        Some(DebugValue::Gauge(v)) => assert_eq!(v.into_inner(), 0.0),
        other => panic!("{other:?}"),
    }

    // The client: each attempt by endpoint and status, the 503 retried, a token fetched.
    assert_eq!(
        counter(
            &seen,
            client::REQUESTS_TOTAL,
            &[("endpoint", "issue"), ("status", "503")]
        ),
        1
    );
    assert_eq!(
        counter(
            &seen,
            client::RETRIES_TOTAL,
            &[("endpoint", "issue"), ("reason", "status_5xx")]
        ),
        1
    );
    assert!(matches!(
        find(&seen, client::REQUEST_DURATION_SECONDS, &[("endpoint", "issue"), ("status", "200")]),
        Some(DebugValue::Histogram(h)) if h.len() == 3
    ));
    assert!(counter(&seen, client::TOKEN_REFRESHES_TOTAL, &[("outcome", "ok")]) >= 1);
    assert!(find(&seen, client::BREAKER_STATE, &[]).is_some());

    // Only documented names, and no label carries an agent (or anything but a fixed word).
    for (name, labels, _) in &seen {
        assert!(
            run::NAMES.contains(&name.as_str()) || client::NAMES.contains(&name.as_str()),
            "an undocumented metric: {name}"
        );
        for (key, value) in labels {
            assert!(
                ["outcome", "state", "endpoint", "status", "reason"].contains(&key.as_str()),
                "{name}: label {key}"
            );
            assert!(
                value.len() <= 20 && !value.contains(&agent(1)[..8]),
                "{name}: {key}={value}"
            );
        }
    }
}
