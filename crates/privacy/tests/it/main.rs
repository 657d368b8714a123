//! `kudos-privacy`: pseudonyms, sealing, secrets, and the payload check.

use kudos_core::AgentId;
use kudos_privacy::{
    PayloadPolicy, PrivacyError, Pseudonymizer, RecipientCipher, SecretSource, SecretString,
    looks_like_email, looks_like_phone,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn agent(s: &str) -> AgentId {
    AgentId::new(s).unwrap()
}

#[test]
fn pseudonyms_are_lowercase_hex_hmac_sha256_of_the_user_id() {
    // Computed independently: Python's hmac.new(b"pseudonym-key", user_id, sha256).hexdigest().
    let p = Pseudonymizer::new(SecretString::from("pseudonym-key"));
    assert_eq!(
        p.pseudonym(&agent("a1b2c3d4-0000-4000-8000-000000000001")),
        "359a6c6ac0eacd2fc5e3414b8f23b25f291d2ede0a8b21608b191fe7c7fee3f9"
    );
}

proptest! {
    #[test]
    fn pseudonyms_are_stable_per_key_and_differ_across_keys(id in "[a-z0-9-]{1,40}", k1 in "[ -~]{1,32}", k2 in "[ -~]{1,32}") {
        prop_assume!(k1 != k2);
        let a = agent(id.trim_matches(' '));
        let (p1, p2) = (Pseudonymizer::new(SecretString::from(k1.clone())), Pseudonymizer::new(SecretString::from(k2)));
        prop_assert_eq!(p1.pseudonym(&a), Pseudonymizer::new(SecretString::from(k1)).pseudonym(&a));
        prop_assert_ne!(p1.pseudonym(&a), p2.pseudonym(&a));
        prop_assert!(p1.pseudonym(&a).chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn sealing_round_trips_and_fails_closed(name in "[a-zA-Z .'-]{1,30}", flip in 0usize..40) {
        let cipher = RecipientCipher::new(&SecretString::from("recipient-key")).unwrap();
        let recipient = json!({"email": "someone@example.com", "name": name});
        let sealed = cipher.seal("txn-1", &recipient).unwrap();
        prop_assert_eq!(cipher.open("txn-1", &sealed).unwrap(), recipient);
        prop_assert!(cipher.open("txn-2", &sealed).is_err(), "another request id");
        let other = RecipientCipher::new(&SecretString::from("another-key")).unwrap();
        prop_assert!(other.open("txn-1", &sealed).is_err(), "another key");
        use base64::Engine as _;
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(&sealed).unwrap();
        let i = flip % bytes.len();
        bytes[i] ^= 0x01;
        let tampered = base64::engine::general_purpose::STANDARD.encode(bytes);
        prop_assert!(cipher.open("txn-1", &tampered).is_err(), "tampered at byte {}", i);
    }

    #[test]
    fn an_email_anywhere_in_an_allowed_value_is_refused(before in "[a-zA-Z ]{0,12}", local in "[a-z0-9._]{1,12}", domain in "[a-z]{1,10}", after in "[a-zA-Z ]{0,12}") {
        let value = format!("{before} {local}@{domain}.com {after}");
        let payload = json!({"agent_id": "p", "reward_type": value});
        prop_assert!(PayloadPolicy::default().check(&payload).is_err());
    }

    #[test]
    fn phone_numbers_in_common_formats_are_refused(a in 200u32..999, b in 200u32..999, c in 1000u32..9999, fmt in 0usize..5) {
        let phone = match fmt {
            0 => format!("+1 ({a}) {b}-{c}"),
            1 => format!("{a}.{b}.{c}"),
            2 => format!("{a}{b}{c}"),
            3 => format!("+44 {a} {b} {c}"),
            _ => format!("({a}) {b} {c}"),
        };
        prop_assert!(looks_like_phone(&phone), "{}", phone);
        let payload = json!({"agent_id": "p", "metadata": {"source_platform": phone}});
        prop_assert!(PayloadPolicy::default().check(&payload).is_err());
    }

    #[test]
    fn pseudonyms_timestamps_and_dates_pass(id in "[a-z0-9-]{1,40}", secs in 0i64..4_000_000_000) {
        let p = Pseudonymizer::new(SecretString::from("k")).pseudonym(&agent(&id));
        let ts = kudos_core::ManualClock::new(chrono_like(secs)).now_rfc3339();
        let payload = json!({"agent_id": p, "reward_type": "gift_card_50_usd", "points_consumed": 500,
            "transaction_timestamp": ts, "metadata": {"wfm_export_version": "2026-03-04"}});
        prop_assert!(PayloadPolicy::default().check(&payload).is_ok(), "{}", payload);
    }
}

fn chrono_like(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, 0).unwrap()
}

trait NowRfc3339 {
    fn now_rfc3339(&self) -> String;
}

impl NowRfc3339 for kudos_core::ManualClock {
    fn now_rfc3339(&self) -> String {
        kudos_core::Clock::now(self).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

#[test]
fn sealed_recipients_open_at_the_simulator() {
    let sealed = RecipientCipher::new(&SecretString::from("shared"))
        .unwrap()
        .seal("txn-9", &json!({"email": "a@b.co"}))
        .unwrap();
    assert_eq!(
        kudos_sim::decrypt_recipient("shared", "txn-9", &sealed),
        Ok(json!({"email": "a@b.co"}))
    );
}

#[test]
fn fields_outside_the_allow_list_are_refused_by_name() {
    let policy = PayloadPolicy::default();
    let cases: [(Value, &str); 5] = [
        (
            json!({"agent_id": "p", "email": "x"}),
            "refusing to send field email: it is not in the allow-list",
        ),
        (
            json!({"agent_id": "p", "metadata": {"team_lead": "Sam"}}),
            "refusing to send field metadata.team_lead: it is not in the allow-list",
        ),
        (
            json!({"agent_id": "+1 555 010 0100"}),
            "refusing to send field agent_id: it looks like a phone number",
        ),
        (
            json!({"agent_id": "p", "recipient_enc": 5}),
            "refusing to send field recipient_enc: the sealed field must be a string",
        ),
        (
            json!(["not", "an", "object"]),
            "refusing to send field (payload): not a JSON object",
        ),
    ];
    for (payload, want) in cases {
        assert_eq!(policy.check(&payload).unwrap_err().to_string(), want);
    }
    let extended = PayloadPolicy::default().allow("metadata.region");
    assert!(
        extended
            .check(&json!({"metadata": {"region": "emea"}}))
            .is_ok()
    );
    assert!(
        policy
            .check(&json!({"agent_id": "p", "recipient_enc": "c2VhbGVk"}))
            .is_ok(),
        "the sealed field may carry anything"
    );
}

#[test]
fn detectors_do_not_fire_on_ordinary_values() {
    for ok in [
        "2026-03-04T06:00:00Z",
        "2026-03-04",
        "gift_card_50_usd",
        "v2.1",
        "Genesys Cloud CX",
        "500",
        "a1b2c3d4-0000-4000-8000-000000000001",
        "12345",
    ] {
        assert!(!looks_like_email(ok) && !looks_like_phone(ok), "{ok}");
    }
    assert!(looks_like_email("Contact: <jordan.reyes@example.com>"));
    assert!(
        !looks_like_email("user@localhost"),
        "a single-label domain is not an address one can mail"
    );
}

#[test]
fn secrets_come_from_files_and_the_environment_and_never_print() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("privacy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("client-secret");
    std::fs::write(&file, "first-secret\n").unwrap();
    let source = SecretSource::File(file.clone());
    use kudos_privacy::ExposeSecret as _;
    assert_eq!(
        source.read().unwrap().expose_secret(),
        "first-secret",
        "the trailing newline is not part of it"
    );
    std::fs::write(&file, "rotated-secret").unwrap();
    assert_eq!(
        source.read().unwrap().expose_secret(),
        "rotated-secret",
        "a rotated file is picked up on the next read"
    );
    let debug = format!(
        "{:?} {:?} {:?}",
        source.read().unwrap(),
        Pseudonymizer::new(source.read().unwrap()),
        RecipientCipher::new(&source.read().unwrap()).unwrap()
    );
    assert!(!debug.contains("rotated-secret"), "{debug}");
    std::fs::write(&file, "\n").unwrap();
    assert!(matches!(
        source.read(),
        Err(PrivacyError::EmptySecret { .. })
    ));
    let missing = SecretSource::Env("KUDOS_TEST_SURELY_UNSET_VARIABLE_42".into())
        .read()
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "secret: environment variable KUDOS_TEST_SURELY_UNSET_VARIABLE_42 is not set"
    );
    assert!(SecretSource::Env("PATH".into()).read().is_ok());
    let err = SecretSource::File(dir.join("absent"))
        .read()
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("secret: cannot read ") && err.ends_with("absent"),
        "{err}"
    );
}
