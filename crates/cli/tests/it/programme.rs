//! The programme owner's commands as an operator types them, against the simulator over real
//! HTTP: `[budget]`, `[approval]`, `[prices]` and `[funding]` read from `kudos.toml`;
//! `kudos pause` / `resume`; `kudos review approve` / `reject`; `kudos statement`;
//! `kudos report spend`.

use kudos_core::Money;
use kudos_sim::SimConfig;

use crate::run::{Setup, agent, last_line, n};
use crate::{lines, text};

/// `kudos report spend` over March.
async fn spend(s: &Setup) -> std::process::Output {
    s.kudos(&[
        "report",
        "spend",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--config",
        "kudos.toml",
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_from_kudos_toml_holds_back_what_it_cannot_afford_and_exits_3() {
    let s = Setup::new(
        "programme-budget",
        SimConfig::default(),
        "[budget]\nmax_points_per_day = 200\n[prices]\ngift_card_small = \"10.00 USD\"",
    )
    .await;
    s.export("a.csv", &[(1, 100.0), (2, 100.0), (3, 100.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!((n(&summary, "issued"), n(&summary, "waiting")), (2, 1));
    assert!(
        text(&out.stderr).contains("budget_exceeded"),
        "the alert is logged: {}",
        text(&out.stderr)
    );
    assert_eq!(s.sim.rewards().len(), 2);

    // The spend report counts it in points and money, and the marketplace agrees.
    let report = spend(&s).await;
    assert_eq!(report.status.code(), Some(0), "{}", text(&report.stderr));
    let all = lines(&report);
    let small = &all[0];
    assert_eq!(small["kind"], "reward_type");
    assert_eq!(small["issued"]["count"], 2);
    assert_eq!(small["issued"]["amount"], "20.00 USD");
    assert_eq!(small["waiting"]["count"], 1);
    let total = all.last().unwrap();
    assert_eq!(total["kind"], "total");
    assert_eq!(total["issued"]["amounts"]["USD"], "20.00 USD");
    assert_eq!(
        (total["looked_up"].as_u64(), total["disagreements"].as_u64()),
        (Some(2), Some(0))
    );

    // The marketplace voids one: the report names it and exits 3.
    let voided = s.sim.rewards()[0].request_id.clone();
    assert!(s.sim.void_reward(&voided));
    let report = spend(&s).await;
    assert_eq!(report.status.code(), Some(3), "{}", text(&report.stderr));
    let disagreement = lines(&report)
        .into_iter()
        .find(|l| l["kind"] == "disagreement")
        .unwrap();
    assert_eq!(disagreement["txn_id"], voided.as_str());
    assert_eq!(
        (
            disagreement["ledger"].as_str(),
            disagreement["marketplace"].as_str()
        ),
        (Some("committed"), Some("reversed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_programme_keys_are_named_with_their_line() {
    for (extra, key) in [
        (
            "[prices]\ngift_card_small = \"ten dollars\"",
            "prices.gift_card_small",
        ),
        (
            "[budget]\nmax_points_per_day = -5",
            "budget.max_points_per_day",
        ),
        (
            "[funding]\nlow_balance_below = \"5 usd\"",
            "funding.low_balance_below",
        ),
        (
            "[approval]\nabove = 5",
            "unknown field `above`, expected `above_cost`",
        ),
        ("[prices]\nmug = \"3.00 USD\"", "prices"),
    ] {
        let s = Setup::new("programme-keys", SimConfig::default(), extra).await;
        let out = s
            .kudos(&["run", "--config", "kudos.toml", "--as-of", "2026-03-10"])
            .await;
        assert_eq!(out.status.code(), Some(1), "{extra}");
        let err = text(&out.stderr);
        assert!(err.contains(key), "{extra}: {err}");
        assert!(
            !err.contains("ten dollars") && !err.contains("5 usd"),
            "a configuration error names the key, never the value: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_the_spending_resume_starts_it_and_both_are_on_the_trail() {
    let s = Setup::new("programme-pause", SimConfig::default(), "").await;
    let paused = s
        .kudos(&["pause", "--config", "kudos.toml", "--operator", "dana"])
        .await;
    assert_eq!(paused.status.code(), Some(1), "a reason is required");
    assert!(text(&paused.stderr).contains("--reason"));
    let paused = s
        .kudos(&[
            "pause",
            "--reason",
            "rule change under review",
            "--operator",
            "dana",
            "--config",
            "kudos.toml",
        ])
        .await;
    assert_eq!(paused.status.code(), Some(0), "{}", text(&paused.stderr));
    let line = last_line(&paused);
    assert_eq!(
        (line["paused"].as_bool(), line["by"].as_str()),
        (Some(true), Some("dana"))
    );
    assert_eq!(line["reason"], "rule change under review");

    s.export("a.csv", &[(1, 250.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(summary["paused"], true);
    assert_eq!((n(&summary, "records"), n(&summary, "holds")), (1, 0));
    assert!(
        s.sim
            .requests()
            .iter()
            .all(|r| r.path != "/v1/rewards/issue")
    );

    let resumed = s
        .kudos(&["resume", "--operator", "dana", "--config", "kudos.toml"])
        .await;
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    let line = last_line(&resumed);
    assert_eq!(line["paused"], false);
    assert_eq!(line["was"]["reason"], "rule change under review");
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(n(&summary, "issued"), 2);

    let trail = std::fs::read_to_string(s.dir.join("audit.jsonl")).unwrap();
    assert!(trail.contains("\"event\":\"paused\""), "{trail}");
    assert!(trail.contains("\"event\":\"resumed\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reward_above_the_approval_amount_waits_for_review_approve() {
    let s = Setup::new(
        "programme-approval",
        SimConfig::default(),
        "[approval]\nabove_cost = 50",
    )
    .await;
    s.export("a.csv", &[(1, 100.0), (2, 100.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(
        (n(&summary, "holds"), n(&summary, "awaiting_approval")),
        (2, 2)
    );
    assert!(
        s.sim
            .requests()
            .iter()
            .all(|r| r.path != "/v1/rewards/issue")
    );
    let list = s.kudos(&["review", "list", "--config", "kudos.toml"]).await;
    let holds = lines(&list);
    assert_eq!(holds.len(), 2);
    assert!(holds.iter().all(|h| h["state"] == "awaiting_approval"));
    let txn = |i: usize| holds[i]["txn_id"].as_str().unwrap().to_owned();

    let approved = s
        .kudos(&[
            "review",
            "approve",
            &txn(0),
            "--operator",
            "erin",
            "--config",
            "kudos.toml",
        ])
        .await;
    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}",
        text(&approved.stderr)
    );
    assert_eq!(last_line(&approved)["state"], "open");
    let rejected = s
        .kudos(&[
            "review",
            "reject",
            &txn(1),
            "--operator",
            "erin",
            "--config",
            "kudos.toml",
        ])
        .await;
    assert_eq!(
        rejected.status.code(),
        Some(0),
        "{}",
        text(&rejected.stderr)
    );
    assert_eq!(last_line(&rejected)["state"], "released");
    let again = s
        .kudos(&["review", "approve", &txn(1), "--config", "kudos.toml"])
        .await;
    assert_eq!(
        again.status.code(),
        Some(1),
        "a rejected reward cannot be approved"
    );

    let (_, summary) = s.run().await;
    assert_eq!(n(&summary, "recovered"), 1, "{summary}");
    let issued: Vec<String> = s.sim.rewards().into_iter().map(|r| r.request_id).collect();
    assert_eq!(
        issued,
        [txn(0)],
        "the approved one, once; the rejected one never"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_adds_up_to_the_ledger_balance_and_expiring_points_are_listed_by_pseudonym() {
    let s = Setup::new(
        "programme-statement",
        SimConfig {
            balance: Some(Money::parse("10.00 USD").unwrap()),
            prices: [(
                "gift_card_small".to_owned(),
                Money::parse("10.00 USD").unwrap(),
            )]
            .into(),
            ..SimConfig::default()
        },
        "[prices]\ngift_card_small = \"10.00 USD\"\n[funding]\nlow_balance_below = \"50.00 USD\"",
    )
    .await;
    s.export("a.csv", &[(1, 250.0), (2, 100.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // Agent 1's first reward takes the $10; its second and agent 2's wait for funds.
    assert_eq!(
        (n(&summary, "issued"), n(&summary, "waiting")),
        (1, 2),
        "{summary}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("low_balance") && stderr.contains("insufficient_funds"),
        "{stderr}"
    );

    let statement = s
        .kudos(&[
            "statement",
            &agent(1),
            "--to",
            "2026-03-10",
            "--config",
            "kudos.toml",
        ])
        .await;
    assert_eq!(
        statement.status.code(),
        Some(0),
        "{}",
        text(&statement.stderr)
    );
    let all = lines(&statement);
    let closing = all.last().unwrap();
    assert_eq!(closing["kind"], "closing");
    let sum: i64 = all[..all.len() - 1]
        .iter()
        .map(|l| l["points"].as_i64().unwrap())
        .sum::<i64>()
        + closing["later"].as_i64().unwrap();
    assert_eq!(Some(sum), closing["balance"].as_i64(), "{all:?}");
    let balance = s
        .kudos(&[
            "ledger",
            "balance",
            &agent(1),
            "--as-of",
            "2026-03-10",
            "--store",
            "sqlite://kudos.db",
        ])
        .await;
    assert_eq!(
        last_line(&balance)["balance"].as_i64(),
        closing["balance"].as_i64(),
        "{}",
        text(&balance.stderr)
    );
    assert_eq!(all[0]["kind"], "earned");
    assert_eq!(all[0]["rule"], "sales");

    // Points from 2026-03-02 expire 90 days later: within 90 days of the 10th, not of 30.
    let soon = s
        .kudos(&[
            "statement",
            "--expiring-within",
            "90",
            "--to",
            "2026-03-10",
            "--config",
            "kudos.toml",
        ])
        .await;
    assert_eq!(soon.status.code(), Some(0), "{}", text(&soon.stderr));
    let who = lines(&soon);
    assert_eq!(who.len(), 2, "{who:?}");
    for line in &who {
        let pseudonym = line["agent"].as_str().unwrap();
        assert_eq!(pseudonym.len(), 64, "by pseudonym, never the agent id");
        assert!(!text(&soon.stdout).contains(&agent(1)));
    }
    assert!(
        who.iter().any(|l| l["waiting"]["reason"] == "funds"),
        "{who:?}"
    );
    let none = s
        .kudos(&[
            "statement",
            "--expiring-within",
            "30",
            "--to",
            "2026-03-10",
            "--config",
            "kudos.toml",
        ])
        .await;
    assert!(lines(&none).is_empty());
    let unknown = s
        .kudos(&["statement", &agent(9), "--config", "kudos.toml"])
        .await;
    assert_eq!(unknown.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_two_processes_share_the_budget_and_the_pause_switch() {
    let Some(base) = crate::postgres("the PostgreSQL programme test") else {
        return;
    };
    let schema = format!("kudos_cli_programme_{}", std::process::id());
    let url = crate::service_schema(&base, &schema);
    let s = Setup::with_store(
        "pg-programme",
        SimConfig::default(),
        "[budget]\nmax_points_per_day = 1000",
        &url,
    )
    .await;
    let rows: Vec<(u32, f64)> = (1..=30).map(|a| (a, 300.0)).collect();
    s.export("d.csv", &rows);

    // Paused: a run accrues and sends nothing.
    let paused = s
        .kudos(&[
            "pause",
            "--reason",
            "checking the export",
            "--config",
            "kudos.toml",
        ])
        .await;
    assert_eq!(paused.status.code(), Some(0), "{}", text(&paused.stderr));
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(
        (summary["paused"].as_bool(), n(&summary, "holds")),
        (Some(true), 0)
    );
    let resumed = s.kudos(&["resume", "--config", "kudos.toml"]).await;
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));

    // Two processes at once against a budget of ten rewards: ten, between them.
    let (a, b) = s.two_runs().await;
    let issued = n(&last_line(&a), "issued") + n(&last_line(&b), "issued");
    assert_eq!(issued, 10, "{} {}", text(&a.stdout), text(&b.stdout));
    assert_eq!(s.sim.rewards().len(), 10);
    crate::drop_schema(&base, &schema);
}
