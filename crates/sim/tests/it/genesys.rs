//! The Genesys Cloud simulator: its samples are the repository's fixtures, it checks what a
//! query must carry, and it answers the same data in another order from call to call.

use kudos_sim::genesys::{GenesysConfig, GenesysSimulator};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[test]
fn the_samples_are_the_fixtures_byte_for_byte() {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let names = ["conversations", "surveys", "evaluations", "users"]
        .map(|kind| format!("analytics_{kind}_aggregates_response.json"));
    for name in names
        .iter()
        .cloned()
        .chain(["wfm_historical_adherence_bulk.json".to_owned()])
    {
        assert_eq!(
            std::fs::read(crate_dir.join("data/genesys").join(&name)).unwrap(),
            std::fs::read(crate_dir.join("../../fixtures/genesys").join(&name)).unwrap(),
            "crates/sim/data/genesys/{name} differs from fixtures/genesys/{name}: copy it again"
        );
    }
}

async fn token(client: &Client, base: &str) -> String {
    let answer: Value = client
        .post(format!("{base}/oauth/token"))
        .basic_auth("genesys-sim-client", Some("genesys-sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn queries_are_checked_and_answered_in_a_changing_order() {
    let sim = GenesysSimulator::start(GenesysConfig::default())
        .await
        .unwrap();
    let client = Client::new();
    let base = sim.base_url();
    let url = format!("{base}/api/v2/analytics/surveys/aggregates/query");
    let query = json!({
        "interval": "2026-03-02T05:00:00.000Z/2026-03-04T05:00:00.000Z",
        "granularity": "P1D", "timeZone": "America/New_York", "groupBy": ["userId"],
    });
    // No token: 401.
    let r = client.post(&url).json(&query).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let token = token(&client, &base).await;
    let ask = |body: Value| client.post(&url).bearer_auth(&token).json(&body).send();
    let first = ask(query.clone()).await.unwrap().text().await.unwrap();
    let second = ask(query.clone()).await.unwrap().text().await.unwrap();
    assert_ne!(first, second, "the order changes between calls");
    let sorted = |text: &str| {
        let v: Value = serde_json::from_str(text).unwrap();
        let mut groups: Vec<String> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["group"]["userId"].as_str().unwrap().to_owned())
            .collect();
        groups.sort();
        groups
    };
    assert_eq!(sorted(&first), sorted(&second));
    assert_eq!(sorted(&first).len(), 3);
    // A day outside the sample's: no results. A query without a user group, or longer than
    // the limit: 400.
    let empty: Value = ask(json!({
        "interval": "2026-04-01T04:00:00.000Z/2026-04-02T04:00:00.000Z",
        "granularity": "P1D", "timeZone": "America/New_York", "groupBy": ["userId"],
    }))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(empty["results"], json!([]));
    for bad in [
        json!({"interval": "2026-03-02T05:00:00.000Z/2026-03-04T05:00:00.000Z",
               "granularity": "P1D", "timeZone": "America/New_York", "groupBy": ["queueId"]}),
        json!({"interval": "2026-01-01T05:00:00.000Z/2026-03-04T05:00:00.000Z",
               "granularity": "P1D", "timeZone": "America/New_York", "groupBy": ["userId"]}),
    ] {
        assert_eq!(ask(bad).await.unwrap().status(), StatusCode::BAD_REQUEST);
    }
}
