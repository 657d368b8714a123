//! Recipient directories: only the configured fields, never printed.

use kudos_core::AgentId;
use kudos_pipeline::{DirectoryError, FileDirectory, RecipientDirectory};
use serde_json::json;

fn file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("directory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn csv_and_json_directories_give_only_the_configured_fields() {
    let csv = FileDirectory::load(&file(
        "agents.csv",
        "agent_id,email,name,phone\nu-1,jo@example.com,\"Reyes, Jo\",+1 555 0100\n",
    ))
    .unwrap();
    let json = FileDirectory::load(&file("agents.json", r#"[{"agent_id": "u-1", "email": "jo@example.com", "name": "Reyes, Jo", "phone": "+1 555 0100"}]"#)).unwrap();
    let keyed = FileDirectory::load(&file(
        "keyed.json",
        r#"{"u-1": {"email": "jo@example.com", "name": "Reyes, Jo"}}"#,
    ))
    .unwrap();
    let fields = vec!["email".to_owned()];
    for d in [&csv as &dyn RecipientDirectory, &json, &keyed] {
        assert_eq!(
            d.recipient(&AgentId::new("u-1").unwrap(), &fields)
                .await
                .unwrap(),
            Some(json!({"email": "jo@example.com"}))
        );
        assert_eq!(
            d.recipient(&AgentId::new("u-2").unwrap(), &fields)
                .await
                .unwrap(),
            None
        );
        let debug = format!("{d:?}");
        assert!(
            !debug.contains("jo@example.com") && !debug.contains("Reyes"),
            "{debug}"
        );
    }
    let err = csv
        .recipient(&AgentId::new("u-1").unwrap(), &["address".to_owned()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::MissingField { field, .. } if field == "address"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "agent u-1: recipient field address is missing or empty in the directory"
    );
}

#[test]
fn bad_directories_are_named_without_their_content() {
    let err =
        FileDirectory::load(&file("noid.csv", "user,email\nu-1,jo@example.com\n")).unwrap_err();
    assert!(
        err.ends_with("noid.csv: the header has no agent_id column"),
        "{err}"
    );
    let err = FileDirectory::load(&file("bad.json", "{\"u-1\": \"jo@example.com\"}")).unwrap_err();
    assert!(
        err.ends_with("the entry of an agent is not an object") && !err.contains("jo@"),
        "{err}"
    );
}
