//! `kudos points`: the example rule set on the shipped exports, `--as-of`, restatements
//! across files, and errors.

use std::path::Path;

use crate::{fixture, kudos, scratch, text};

fn rules() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/rules/genesys.toml")
        .display()
        .to_string()
}

fn samples() -> Vec<String> {
    [
        "analytics_conversations_aggregates_response.json",
        "analytics_surveys_aggregates_response.json",
        "wfm_historical_adherence_download.json",
    ]
    .iter()
    .map(|f| fixture(&format!("genesys/{f}")).display().to_string())
    .collect()
}

/// `kudos points` with a rule file of `rules` written in `dir`, as of 2026-03-10, on `files`.
fn points_with(dir: &Path, rules: &str, files: &[&Path]) -> std::process::Output {
    let path = dir.join("rules.toml");
    std::fs::write(&path, rules).unwrap();
    let mut args = vec![
        "points".to_owned(),
        "--rules".to_owned(),
        path.display().to_string(),
        "--as-of".to_owned(),
        "2026-03-10".to_owned(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    kudos(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn points(extra: &[&str], files: &[String]) -> std::process::Output {
    let rules = rules();
    let mut args = vec![
        "points",
        "--rules",
        rules.as_str(),
        "--time-zone",
        "America/New_York",
    ];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(String::as_str));
    kudos(&args)
}

#[test]
fn the_example_rules_on_the_sample_exports() {
    let out = points(&["--as-of", "2026-03-31"], &samples());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Worked by hand from the fixtures (see examples/rules/genesys.toml):
    // agent 1: AHT 306 s → 10, 292 s → 20; CSAT 90 → 30, 100 → 30; adherence 98.0 and 100 → 5 + 5;
    //          1 exception → −15.                                                        = 85
    // agent 2: AHT 401 s, 374 s → 0; CSAT 50, 70 → 0; adherence 97.1 → 5, 96.1 → 0;
    //          1 + 2 exceptions → −45.                                                   = −40
    // agent 3: AHT 231 s, 238 s → 20 + 20; CSAT 92.5, 90 → 30 + 30; adherence → 5 + 5;
    //          1 exception → −15.                                                        = 95
    assert_eq!(
        text(&out.stdout),
        concat!(
            r#"{"agent_id":"a1b2c3d4-0000-4000-8000-000000000001","balance":85,"tier":"coffee-voucher"}"#,
            "\n",
            r#"{"agent_id":"a1b2c3d4-0000-4000-8000-000000000002","balance":-40,"tier":null}"#,
            "\n",
            r#"{"agent_id":"a1b2c3d4-0000-4000-8000-000000000003","balance":95,"tier":"coffee-voucher"}"#,
            "\n",
        )
    );
}

#[test]
fn records_after_as_of_are_skipped() {
    let out = points(&["--as-of", "2026-03-02"], &samples());
    assert_eq!(out.status.code(), Some(0));
    let first = text(&out.stdout).lines().next().unwrap().to_owned();
    // Agent 1 on day 1 only: AHT 10 + CSAT 30 + adherence 5 − 15 for the exception.
    assert_eq!(
        first,
        r#"{"agent_id":"a1b2c3d4-0000-4000-8000-000000000001","balance":30,"tier":null}"#
    );
    assert!(text(&out.stderr).contains("records dated after 2026-03-02 were skipped"));
}

#[test]
fn a_later_file_restates_an_earlier_one() {
    let dir = scratch("restate");
    let first = dir.join("monday.csv");
    let second = dir.join("monday-restated.csv");
    std::fs::write(
        &first,
        "agent_id,date,metric,value\nu-1,2026-03-02,oSurveyTotalScore.avg,95\n",
    )
    .unwrap();
    std::fs::write(
        &second,
        "agent_id,date,metric,value\nu-1,2026-03-02,oSurveyTotalScore.avg,85\n",
    )
    .unwrap();
    let (a, b) = (first.display().to_string(), second.display().to_string());
    let out = points(&["--as-of", "2026-03-05"], &[a.clone(), b.clone()]);
    assert_eq!(
        text(&out.stdout),
        "{\"agent_id\":\"u-1\",\"balance\":10,\"tier\":null}\n",
        "excellent (30) restated to good (10)"
    );
    let out = points(&["--as-of", "2026-03-05"], &[b, a]);
    assert_eq!(
        text(&out.stdout),
        "{\"agent_id\":\"u-1\",\"balance\":30,\"tier\":null}\n",
        "files apply in the order given"
    );
}

#[test]
fn agents_with_only_zero_point_events_are_listed() {
    let dir = scratch("zero");
    let file = dir.join("aht.csv");
    std::fs::write(
        &file,
        "agent_id,date,metric,value\nu-slow,2026-03-02,tHandle.avg,900000\n",
    )
    .unwrap();
    let out = points(&["--as-of", "2026-03-05"], &[file.display().to_string()]);
    assert_eq!(
        text(&out.stdout),
        "{\"agent_id\":\"u-slow\",\"balance\":0,\"tier\":null}\n"
    );
}

#[test]
fn bad_rules_are_fatal_and_named_and_rejected_rows_exit_3() {
    let dir = scratch("bad-rules");
    let bad = dir.join("rules.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nid = 'x'\nmetric = 'm'\npoints = 1\nper_unit = 2\n",
    )
    .unwrap();
    let out = kudos(&[
        "points",
        "--rules",
        bad.to_str().unwrap(),
        "--as-of",
        "2026-03-31",
        &samples()[0],
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("rule \"x\": points: 2 point forms"),
        "{}",
        text(&out.stderr)
    );

    let nasty = fixture("nasty/canonical_bad_rows.csv")
        .display()
        .to_string();
    let out = points(&["--as-of", "2026-03-31"], &[nasty]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("rejected row: "));
}

#[test]
fn a_row_whose_points_the_balance_cannot_hold_is_rejected_and_the_rest_counts() {
    let dir = scratch("points-overflow");
    let file = dir.join("d.csv");
    // Agent 1: 5e18 points twice, beyond what a balance can hold the second time.
    std::fs::write(
        &file,
        "agent_id,date,metric,value\n\
         a1b2c3d4-0000-4000-8000-000000000001,2026-03-02,sales,5000000000000\n\
         a1b2c3d4-0000-4000-8000-000000000001,2026-03-03,sales,5000000000000\n\
         a1b2c3d4-0000-4000-8000-000000000002,2026-03-02,sales,0.0002\n",
    )
    .unwrap();
    let out = points_with(
        &dir,
        "[[rule]]\nid = 'sales'\nmetric = 'sales'\nper_unit = 1000000\n\n\
         [[tier]]\nid = 't'\nreward_type = 'r'\nthreshold = 100\n",
        &[&file],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "a rejected row: {stderr}");
    assert!(
        stderr.contains(&format!("rejected row: {}:3:", file.display())),
        "the row is named by file and line: {stderr}"
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["balance"], 5_000_000_000_000_000_000_i64);
    assert_eq!(lines[1]["balance"], 200);
}

/// What `kudos points` prints is what the ledger's own fold makes of the same events: each
/// record through `RuleSet::evaluate`, each event planned and applied with its key. (The
/// command hashes each key from its parts, on another thread than the one reading the file.)
/// Records told apart only by a dimension, a restatement of one of them in a later file, and
/// zero-point events are included.
#[test]
fn balances_are_the_ledgers_fold_of_the_same_events() {
    use kudos_ledger::{Account, Command, Entry, Plan};

    let dir = scratch("points-fold");
    let rules = "[[rule]]\nid = 'sales'\nmetric = 'sales'\nper_unit = 1\n\
         [[rule]]\nid = 'big'\nmetric = 'sales'\nwhen = { gte = 40 }\npoints = 10\n\
         [[rule]]\nid = 'aht'\nmetric = 'aht'\nbands = [{ from = 0, to = 240, points = 5 }]\n\
         [[tier]]\nid = 't'\nreward_type = 'r'\nthreshold = 50\n";
    let files = [
        (
            "monday.csv",
            "agent_id,date,metric,value,dim.queue\n\
             u-1,2026-03-02,sales,45,q1\n\
             u-1,2026-03-02,sales,10,q2\n\
             u-2,2026-03-02,aht,200,q1\n\
             u-1,2026-03-03,aht,300,q1\n\
             u-2,2026-03-03,sales,5,q1\n",
        ),
        (
            "monday-restated.csv",
            "agent_id,date,metric,value,dim.queue\n\
             u-1,2026-03-02,sales,30,q1\n\
             u-2,2026-03-02,aht,250,q1\n\
             u-3,2026-03-04,sales,50,q9\n",
        ),
    ]
    .map(|(name, rows)| {
        let file = dir.join(name);
        std::fs::write(&file, rows).unwrap();
        file
    });

    // The ledger's fold, event by event, keys and all.
    let ruleset = kudos_rules::RuleSet::from_toml(rules).unwrap();
    let mut accounts: std::collections::BTreeMap<String, Account> = Default::default();
    for file in &files {
        for record in kudos_wfm::open(file, &kudos_wfm::ParseOptions::default()).unwrap() {
            for event in ruleset.evaluate(&record.unwrap()).unwrap() {
                let expires = ruleset.expiry(event.day()).unwrap();
                let agent = event.agent().clone();
                let account = accounts
                    .entry(agent.to_string())
                    .or_insert_with(|| Account::new(agent));
                if let Plan::Append(id, op) =
                    account.plan(&Command::Accrue { event, expires }).unwrap()
                {
                    let at = chrono::DateTime::UNIX_EPOCH;
                    account.apply(Entry { id, at, op }).unwrap();
                }
            }
        }
    }
    let as_of = kudos_core::Day::parse("2026-03-10").unwrap();
    let folded: Vec<(String, i64)> = accounts
        .iter()
        .map(|(agent, account)| (agent.clone(), account.balance(as_of).balance.get()))
        .collect();
    // By hand: u-1 sales 45 + 10 (big) in q1, restated to 30 (no bonus), 10 in q2, AHT 300 s
    // → 0: 40. u-2 AHT 200 s → 5, restated to 250 s → 0; sales 5: 5. u-3 50 + 10: 60.
    let want = [("u-1", 40), ("u-2", 5), ("u-3", 60)].map(|(a, b)| (a.to_owned(), b));
    assert_eq!(folded, want);

    let out = points_with(&dir, rules, &[&files[0], &files[1]]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed: Vec<(String, i64)> = text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["agent_id"].as_str().unwrap().to_owned(),
                v["balance"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(printed, folded);
}
