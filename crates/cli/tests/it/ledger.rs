//! `kudos ledger`: balance, history, holds, adjust — over a real SQLite file.

use std::sync::Arc;

use kudos_core::{AgentId, Day, ManualClock, Points, RewardType, Tier, TierId, TxnId};
use kudos_ledger::{Command, Ledger};
use kudos_store_sqlite::SqliteStore;

use crate::{kudos, lines, scratch, text};

#[test]
fn adjust_then_balance_and_history() {
    let dir = scratch("adjust");
    let store = format!("sqlite://{}", dir.join("kudos.db").display());
    let out = kudos(&[
        "ledger",
        "--create",
        "adjust",
        "u-1",
        "100",
        "--day",
        "2026-10-01",
        "--reason",
        "welcome",
        "--store",
        &store,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let entry = &lines(&out)[0];
    assert_eq!(
        (
            entry["kind"].as_str(),
            entry["points"].as_i64(),
            entry["day"].as_str()
        ),
        (Some("adjustment"), Some(100), Some("2026-10-01"))
    );
    assert_eq!(
        entry["expires"].as_str(),
        Some("2026-12-30"),
        "the default window is 90 days"
    );
    assert!(
        entry["id"].as_str().is_some_and(|id| id.len() == 36),
        "a fresh id is printed"
    );

    let penalty = [
        "ledger",
        "--create",
        "adjust",
        "u-1",
        "-130",
        "--day",
        "2026-10-02",
        "--reason",
        "penalty",
        "--id",
        "6f1c2a4e-0000-4000-8000-000000000001",
        "--store",
        &store,
    ];
    let first = kudos(&penalty);
    assert_eq!(first.status.code(), Some(0));
    let again = kudos(&penalty);
    assert_eq!(
        again.status.code(),
        Some(0),
        "a retry with the same id is fine"
    );
    assert_eq!(lines(&first), lines(&again), "and prints the first result");

    let out = kudos(&[
        "ledger",
        "--create",
        "balance",
        "u-1",
        "--as-of",
        "2026-10-05",
        "--store",
        &store,
    ]);
    assert_eq!(
        lines(&out)[0],
        serde_json::json!({"agent_id": "u-1", "available": 0, "reserved": 0, "debt": 30, "balance": -30})
    );
    let history = lines(&kudos(&[
        "ledger", "--create", "history", "u-1", "--store", &store,
    ]));
    assert_eq!(history.len(), 2, "the retry appended nothing");
    assert_eq!(
        history[1]["id"].as_str(),
        Some("6f1c2a4e-0000-4000-8000-000000000001")
    );
}

#[test]
fn reusing_an_id_for_another_adjustment_is_refused_naming_both() {
    let dir = scratch("reuse");
    let store = format!("sqlite://{}", dir.join("kudos.db").display());
    let adjust = |points: &str| {
        kudos(&[
            "ledger",
            "--create",
            "adjust",
            "u-1",
            points,
            "--day",
            "2026-10-01",
            "--reason",
            "r",
            "--id",
            "00000000-0000-4000-8000-000000000009",
            "--store",
            &store,
        ])
    };
    assert_eq!(adjust("5").status.code(), Some(0));
    let out = adjust("6");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("adjustment of 5") && stderr.contains("adjustment of 6"),
        "{stderr}"
    );
}

#[test]
fn holds_are_listed_sorted_by_agent_and_filtered_by_state() {
    let dir = scratch("holds");
    let url = format!("sqlite://{}", dir.join("kudos.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let txns = runtime.block_on(async {
        let clock = Arc::new(ManualClock::at_rfc3339("2026-10-02T06:00:00Z").unwrap());
        let ledger = Ledger::new(SqliteStore::open(&url).await.unwrap(), clock.clone());
        let day = Day::parse("2026-10-02").unwrap();
        let tier = Tier::new(
            TierId::new("gift-card-50").unwrap(),
            RewardType::new("gift_card_50_usd").unwrap(),
            Points::new(500),
            None,
        )
        .unwrap();
        let mut txns = Vec::new();
        for agent in ["u-b", "u-a"] {
            let agent = AgentId::new(agent).unwrap();
            let id = uuid::Uuid::from_u128(txns.len() as u128 + 1);
            ledger
                .execute(
                    &agent,
                    Command::Adjust {
                        id,
                        day,
                        points: Points::new(600),
                        expires: day.add_days(90).unwrap(),
                        reason: "seed".into(),
                    },
                )
                .await
                .unwrap();
            let txn = TxnId::generate(clock.as_ref());
            ledger
                .execute(
                    &agent,
                    Command::Hold {
                        txn,
                        day,
                        tier: tier.clone(),
                        payload: b"{}".to_vec(),
                    },
                )
                .await
                .unwrap();
            txns.push(txn);
        }
        ledger
            .execute(
                &AgentId::new("u-b").unwrap(),
                Command::Commit { txn: txns[0] },
            )
            .await
            .unwrap();
        txns
    });
    let all = lines(&kudos(&["ledger", "--create", "holds", "--store", &url]));
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["agent_id"].as_str(), Some("u-a"), "sorted by agent");
    let keys: Vec<&str> = all[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "agent_id",
            "attempts",
            "cost",
            "created_at",
            "kind",
            "state",
            "tier",
            "txn_id"
        ]
    );
    let open = lines(&kudos(&[
        "ledger", "--create", "holds", "--state", "open", "--store", &url,
    ]));
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0]["txn_id"].as_str(),
        Some(txns[1].to_string().as_str())
    );
    let balance = lines(&kudos(&[
        "ledger",
        "--create",
        "balance",
        "u-a",
        "--as-of",
        "2026-10-02",
        "--store",
        &url,
    ]));
    assert_eq!(
        (
            balance[0]["available"].as_i64(),
            balance[0]["reserved"].as_i64()
        ),
        (Some(100), Some(500))
    );
}

#[test]
fn several_kudos_processes_on_one_file_lose_no_update() {
    let dir = scratch("processes");
    let store = format!("sqlite://{}", dir.join("kudos.db").display());
    let children: Vec<_> = (0..6)
        .map(|p| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..8 {
                    let out = kudos(&[
                        "ledger",
                        "--create",
                        "adjust",
                        "u-shared",
                        &format!("{}", p * 8 + i + 1),
                        "--day",
                        "2026-10-01",
                        "--reason",
                        "load",
                        "--store",
                        &store,
                    ]);
                    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
                }
            })
        })
        .collect();
    for c in children {
        c.join().unwrap();
    }
    let balance = lines(&kudos(&[
        "ledger",
        "--create",
        "balance",
        "u-shared",
        "--as-of",
        "2026-10-01",
        "--store",
        &store,
    ]));
    assert_eq!(
        balance[0]["available"].as_i64(),
        Some(48 * 49 / 2),
        "1 + 2 + … + 48: every adjustment counted once"
    );
    assert_eq!(
        lines(&kudos(&[
            "ledger", "--create", "history", "u-shared", "--store", &store
        ]))
        .len(),
        48
    );
}

#[test]
fn the_store_comes_from_the_config_file_relative_to_it() {
    let dir = scratch("config");
    std::fs::write(
        dir.join("kudos.toml"),
        "[store]\nurl = \"sqlite://ledger.db\"\n",
    )
    .unwrap();
    let config = dir.join("kudos.toml");
    let out = kudos(&[
        "ledger",
        "--create",
        "adjust",
        "u-1",
        "7",
        "--day",
        "2026-10-01",
        "--reason",
        "r",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        dir.join("ledger.db").exists(),
        "the database sits beside the config file"
    );
}

#[test]
fn bad_input_is_named() {
    let dir = scratch("bad");
    let store = format!("sqlite://{}", dir.join("kudos.db").display());
    let out = kudos(&[
        "ledger",
        "--create",
        "adjust",
        "u-1",
        "5",
        "--day",
        "2026-02-30",
        "--reason",
        "r",
        "--store",
        &store,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--day: \"2026-02-30\" is not a valid day"),
        "{}",
        text(&out.stderr)
    );
    let out = kudos(&[
        "ledger",
        "--create",
        "balance",
        "u-1",
        "--store",
        "mysql://db/kudos",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unsupported store URL scheme \"mysql\""));
    assert_eq!(
        kudos(&[
            "ledger", "--create", "holds", "--state", "lost", "--store", &store
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        kudos(&[
            "ledger", "--create", "adjust", "u-1", "5", "--store", &store
        ])
        .status
        .code(),
        Some(2),
        "--day and --reason are required"
    );
}

#[test]
fn the_ledger_verbs_work_on_postgres_once_kudos_migrate_ran() {
    let Some(server) = crate::postgres("the kudos ledger on PostgreSQL test") else {
        return;
    };
    // A fresh schema through the connection's options, so runs never collide.
    let schema = format!("kudos_cli_{}", std::process::id());
    let sep = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{sep}options=-csearch_path%3D{schema}");
    crate::psql(
        &server,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
    );
    // Before `kudos migrate`, the store refuses, naming the command.
    let out = kudos(&["ledger", "balance", "u-pg", "--store", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("kudos migrate"),
        "{}",
        text(&out.stderr)
    );
    // The URL from a variable, so a password would stay off the command line.
    let migrate = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kudos"))
            .args(["migrate", "--store-env", "KUDOS_TEST_MIGRATE_URL"])
            .env("KUDOS_TEST_MIGRATE_URL", url)
            .env_remove("KUDOS_CONFIG")
            .output()
            .unwrap()
    };
    let out = migrate(&url);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = lines(&out);
    assert_eq!(report[0]["from_version"].as_i64(), Some(0));
    let latest = report[0]["to_version"].as_i64().unwrap();
    assert!(latest >= 5, "{report:?}");
    let out = migrate(&url);
    assert_eq!(
        (
            lines(&out)[0]["from_version"].as_i64(),
            lines(&out)[0]["applied"].as_i64()
        ),
        (Some(latest), Some(0)),
        "a second migrate applies nothing"
    );
    let out = kudos(&[
        "ledger",
        "--create",
        "adjust",
        "u-pg",
        "75",
        "--day",
        "2026-10-01",
        "--reason",
        "r",
        "--store",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let balance = lines(&kudos(&[
        "ledger",
        "--create",
        "balance",
        "u-pg",
        "--as-of",
        "2026-10-01",
        "--store",
        &url,
    ]));
    assert_eq!(balance[0]["available"].as_i64(), Some(75));
    assert_eq!(
        lines(&kudos(&[
            "ledger", "--create", "history", "u-pg", "--store", &url
        ]))
        .len(),
        1
    );
    assert!(lines(&kudos(&["ledger", "--create", "holds", "--store", &url])).is_empty());
    crate::psql(&server, &format!("DROP SCHEMA {schema} CASCADE"));
}

#[test]
fn a_ledger_that_is_not_there_is_not_created_unless_asked() {
    let dir = scratch("no-ledger");
    let db = dir.join("kudos.db");
    let store = format!("sqlite://{}", db.display());
    // From the wrong directory, a balance would have been 0 from a new, empty file.
    let out = kudos(&["ledger", "balance", "u-1", "--store", &store]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no ledger at"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("--create"),
        "{}",
        text(&out.stderr)
    );
    assert!(!db.exists(), "nothing was created");
    let out = kudos(&["ledger", "balance", "u-1", "--store", &store, "--create"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(db.exists());
}
