//! `kudos review` on a reversal, as an operator runs it: a clawback the marketplace cannot
//! make waits in the queue beside the holds, and is settled there — checked against the
//! marketplace, with the hold's flags refused.

use kudos_sim::{FaultPlan, SimConfig};
use serde_json::Value;

use crate::run::{Setup, last_line, n};
use crate::text;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_in_review_is_listed_beside_the_holds_and_settled_as_the_marketplace_says() {
    let plan = "[[fault]]\npath = '/v1/rewards/{id}/reverse'\nnth = [1]\naction = 'not_reversible'";
    let s = Setup::new(
        "review-reversal",
        SimConfig {
            faults: FaultPlan::from_toml(plan).unwrap(),
            ..SimConfig::default()
        },
        "",
    )
    .await;
    s.export("a.csv", &[(1, 100.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(n(&summary, "issued"), 1);
    // The source restates the day: the agent owes the reward's points; the marketplace cannot
    // reverse it.
    s.export("b.csv", &[(1, 0.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(3), "needs attention: {summary}");
    assert_eq!(
        (
            n(&summary, "reversals_requested"),
            n(&summary, "reversals_review")
        ),
        (1, 1)
    );

    let list = s.kudos(&["review", "list", "--config", "kudos.toml"]).await;
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    let lines: Vec<Value> = text(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let reversal = &lines[0];
    assert_eq!(reversal["kind"], "reversal");
    assert_eq!(reversal["state"], "review");
    assert_eq!(reversal["debt"], 100);
    assert_eq!(
        reversal["reverses"].as_str().unwrap(),
        s.sim.rewards()[0].request_id,
        "it names the redemption, as the marketplace knows it"
    );
    let txn = reversal["txn_id"].as_str().unwrap().to_owned();
    let settle = |flag: &'static str| {
        let txn = txn.clone();
        let s = &s;
        async move {
            s.kudos(&[
                "review",
                "settle",
                &txn,
                flag,
                "--operator",
                "dana",
                "--config",
                "kudos.toml",
            ])
            .await
        }
    };
    // A hold's verdict on a reversal names the right one.
    let wrong_kind = settle("--issued").await;
    assert_eq!(wrong_kind.status.code(), Some(1));
    assert!(
        text(&wrong_kind.stderr)
            .contains("is a reversal: settle it with --reversed or --not-reversed"),
        "{}",
        text(&wrong_kind.stderr)
    );
    // The marketplace kept the reward: "reversed" is refused, saying what it said.
    let refused = settle("--reversed").await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("the marketplace says the reward")
            && text(&refused.stderr).contains("is issued"),
        "{}",
        text(&refused.stderr)
    );
    let ended = settle("--not-reversed").await;
    assert_eq!(ended.status.code(), Some(0), "{}", text(&ended.stderr));
    assert_eq!(last_line(&ended)["state"], "not_reversed");
    let list = s.kudos(&["review", "list", "--config", "kudos.toml"]).await;
    assert!(list.stdout.is_empty(), "{}", text(&list.stdout));
    let balance = s
        .kudos(&[
            "ledger",
            "--config",
            "kudos.toml",
            "balance",
            &crate::run::agent(1),
            "--as-of",
            "2026-03-10",
        ])
        .await;
    assert_eq!(last_line(&balance)["debt"], 100, "the debt stays");
    let trail = std::fs::read_to_string(s.dir.join("audit.jsonl")).unwrap();
    assert!(trail.contains("\"event\":\"review_refused\""));
    assert!(trail.contains("\"event\":\"reversal_settled\""));
    assert!(trail.contains("\"operator\":\"dana\""));
}
