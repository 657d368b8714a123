//! `kudos.toml`: every key of `docs/reference/configuration.md` loads; mistakes and missing secrets name their key.

use std::path::{Path, PathBuf};

use kudos_pipeline::{AuditTarget, ClientCertificate, ClientIdSetting, Config, StoreConfig};
use kudos_privacy::SecretSource;

const EXAMPLE: &str = r#"
[run]
time_zone = "UTC"
max_in_flight = 16
max_bad_row_ratio = 0.01
max_rewards_per_agent_per_run = 10
reversal_window_days = 30
reversal_min_debt = 0
in_doubt_review_after_runs = 3
lease_secs = 60
[[source]]
path = "exports/*.json"
format = "auto"
time_zone = "America/New_York"
[rules]
path = "rules.toml"
[store]
url = "sqlite://kudos.db"
max_connections = 8
[marketplace]
base_url = "https://rewards.example.com"
integration_id = "GENESYS-WFM-INTEGRATION-01"
connect_timeout_secs = 10
read_timeout_secs = 45
max_retries = 3
breaker_open_after_secs = 300
requests_per_second = 0
metadata = { source_platform = "Genesys Cloud CX", wfm_export_version = "v2.1" }
[marketplace.oauth]
token_url = "https://rewards.example.com/oauth/token"
client_id_env = "KUDOS_CLIENT_ID"
client_secret_env = "KUDOS_CLIENT_SECRET"
[marketplace.signing]
secret_env = "KUDOS_SIGNING_SECRET"
[marketplace.tls]
client_cert_file = "client.pem"
client_key_file = "client-key.pem"
[privacy]
pseudonym_key_env = "KUDOS_PSEUDONYM_KEY"
[audit]
path = "audit.jsonl"
[alerts]
webhook_url = ""
"#;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("kudos.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_documented_example_loads_with_paths_relative_to_the_file() {
    let p = write("example", EXAMPLE);
    let dir = p.parent().unwrap();
    let c = Config::load(&p).unwrap();
    assert_eq!(c.rules, dir.join("rules.toml"));
    assert_eq!(
        c.sources[0].path,
        dir.join("exports/*.json").display().to_string()
    );
    assert_eq!(
        c.store.url,
        format!("sqlite://{}", dir.join("kudos.db").display())
    );
    assert_eq!(c.audit, AuditTarget::File(dir.join("audit.jsonl")));
    assert_eq!(
        c.marketplace.tls,
        Some(ClientCertificate {
            certificate_file: dir.join("client.pem"),
            key_file: dir.join("client-key.pem"),
        })
    );
    assert_eq!(
        c.marketplace.client_id,
        ClientIdSetting::Source(SecretSource::Env("KUDOS_CLIENT_ID".into()))
    );
    assert_eq!(
        c.marketplace
            .metadata
            .get("wfm_export_version")
            .map(String::as_str),
        Some("v2.1")
    );
    assert_eq!((c.run.max_in_flight, c.run.lease_secs), (16, 60));
}

#[test]
fn a_missing_secret_is_a_clear_error_at_start_naming_the_key() {
    let text = EXAMPLE
        .replace("KUDOS_CLIENT_SECRET", "KUDOS_TEST_UNSET_CLIENT_SECRET_1")
        .replace(
            "client_id_env = \"KUDOS_CLIENT_ID\"",
            "client_id = \"kudos\"",
        );
    let c = Config::load(&write("missing", &text)).unwrap();
    let err = c.check_secrets().unwrap_err().to_string();
    assert!(err.ends_with("marketplace.oauth.client_secret: secret: environment variable KUDOS_TEST_UNSET_CLIENT_SECRET_1 is not set"), "{err}");
}

#[test]
fn secrets_from_files_are_read_relative_to_the_config() {
    let text = EXAMPLE
        .replace(
            "client_id_env = \"KUDOS_CLIENT_ID\"",
            "client_id = \"kudos\"",
        )
        .replace(
            "client_secret_env = \"KUDOS_CLIENT_SECRET\"",
            "client_secret_file = \"secrets/client\"",
        )
        .replace(
            "secret_env = \"KUDOS_SIGNING_SECRET\"",
            "secret_file = \"secrets/signing\"",
        )
        .replace(
            "pseudonym_key_env = \"KUDOS_PSEUDONYM_KEY\"",
            "pseudonym_key_file = \"secrets/pseudonym\"",
        );
    let p = write("files", &text);
    let dir = p.parent().unwrap();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    for f in ["client", "signing", "pseudonym"] {
        std::fs::write(dir.join("secrets").join(f), format!("{f}-value\n")).unwrap();
    }
    Config::load(&p).unwrap().check_secrets().unwrap();
}

#[test]
fn mistakes_name_their_key() {
    let cases = [
        (
            EXAMPLE.replace("lease_secs = 60", "lease_secs = 60\nlease_sec = 5"),
            "unknown field `lease_sec`",
        ),
        (
            EXAMPLE.replace("time_zone = \"UTC\"", "time_zone = \"Mars/Olympus\""),
            ":3: run.time_zone: not an IANA time zone name",
        ),
        (
            EXAMPLE.replace("max_in_flight = 16", "max_in_flight = 0"),
            "run.max_in_flight: must be at least 1",
        ),
        (
            EXAMPLE.replace(
                "client_secret_env = \"KUDOS_CLIENT_SECRET\"",
                "client_secret_env = \"A\"\nclient_secret_file = \"b\"",
            ),
            "marketplace.oauth.client_secret: give either client_secret_env or client_secret_file, not both",
        ),
        (
            EXAMPLE.replace("client_secret_env = \"KUDOS_CLIENT_SECRET\"", ""),
            "marketplace.oauth.client_secret: missing: give client_secret_env or client_secret_file",
        ),
        (
            EXAMPLE.replace(
                "pseudonym_key_env = \"KUDOS_PSEUDONYM_KEY\"",
                "pseudonym_key_env = \"P\"\nrecipient_fields = [\"email\"]",
            ),
            "privacy.recipient_fields: recipient fields travel only encrypted",
        ),
        (
            EXAMPLE.replace("client_key_file = \"client-key.pem\"", ""),
            "marketplace.tls: give both client_cert_file and client_key_file",
        ),
    ];
    for (text, want) in cases {
        let err = Config::load(&write("mistake", &text))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}\n want: {want}");
        assert!(!err.contains("Mars"), "a value is never repeated: {err}");
    }
    let err = Config::load(Path::new("/nonexistent/kudos.toml"))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "/nonexistent/kudos.toml: cannot read");
}

#[test]
fn the_store_table_loads_alone_without_secrets_and_resolves_a_relative_file() {
    // Commands that touch only the ledger read `[store]` and nothing else: no secret needed.
    let p = write(
        "store-only",
        "[store]\nurl = \"sqlite://ledger/kudos.db\"\nmax_connections = 3\n[marketplace]\nbase_url = \"https://x\"\n",
    );
    let dir = p.parent().unwrap();
    let store = StoreConfig::load(&p).unwrap();
    assert_eq!(
        store.url,
        format!("sqlite://{}", dir.join("ledger/kudos.db").display())
    );
    assert_eq!(store.max_connections, 3);
    let none = write("no-store", "[run]\nlease_secs = 60\n");
    assert_eq!(
        StoreConfig::load(&none).unwrap().url,
        format!(
            "sqlite://{}",
            none.parent().unwrap().join("kudos.db").display()
        ),
        "the default store, as kudos run has it"
    );
    let zero = write("zero-pool", "[store]\nmax_connections = 0\n");
    assert!(
        StoreConfig::load(&zero)
            .unwrap_err()
            .to_string()
            .contains("store.max_connections"),
    );
}

#[test]
fn a_toml_mistake_names_its_line_and_key_never_the_value() {
    // A secret pasted where a `_env` / `_file` key belongs, and a value of the wrong type: the
    // parser's own message quoted the line (and the value) into logs and alerts.
    let pasted = EXAMPLE.replace(
        "client_secret_env = \"KUDOS_CLIENT_SECRET\"",
        "client_secret = \"canary-s3cret\"",
    );
    let line = 1 + pasted[..pasted.find("client_secret =").unwrap()]
        .matches('\n')
        .count();
    let err = Config::load(&write("pasted-secret", &pasted))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("line {line}")) && err.contains("unknown field `client_secret`"),
        "{err}"
    );
    assert!(!err.contains("canary"), "{err}");
    let typed = EXAMPLE.replace("max_in_flight = 16", "max_in_flight = \"canary-type\"");
    let err = Config::load(&write("wrong-type", &typed))
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid type: string \"…\""), "{err}");
    assert!(!err.contains("canary"), "{err}");
    // A quote inside the value does not end its elision.
    let escaped = EXAMPLE.replace(
        "max_in_flight = 16",
        "max_in_flight = \"pre\\\"canary-after-quote\"",
    );
    let err = Config::load(&write("escaped", &escaped))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("canary"), "{err}");
}

#[test]
fn plain_http_is_refused_for_any_host_but_loopback() {
    let with = |from: &str, to: &str| Config::load(&write("http", &EXAMPLE.replace(from, to)));
    let base = "base_url = \"https://rewards.example.com\"";
    for (from, to, key) in [
        (
            base,
            "base_url = \"http://rewards.example.com\"",
            "marketplace.base_url",
        ),
        (
            base,
            "base_url = \"http://kudos:canary@rewards.example.com\"",
            "marketplace.base_url",
        ),
        (
            "webhook_url = \"\"",
            "webhook_url = \"http://hooks.example.com/kudos\"",
            "alerts.webhook_url",
        ),
        // Another host dressed up as loopback: the HTTP client would connect to example.com.
        (
            base,
            "base_url = \"http://rewards.example.com?@127.0.0.1/\"",
            "marketplace.base_url",
        ),
        (
            base,
            "base_url = \"http://rewards.example.com#@127.0.0.1/\"",
            "marketplace.base_url",
        ),
        (
            base,
            "base_url = \"http://rewards.example.com\\\\@127.0.0.1/\"",
            "marketplace.base_url",
        ),
    ] {
        let err = with(from, to).unwrap_err().to_string();
        assert!(err.contains(&format!("{key}: http:// is refused")), "{err}");
        assert!(
            !err.contains("canary") && !err.contains("example.com"),
            "{err}"
        );
    }
    for loopback in [
        "http://127.0.0.1:8787",
        "http://localhost:8787/",
        "http://[::1]:8787",
        "HTTP://127.0.0.2",
    ] {
        let config = with(base, &format!("base_url = \"{loopback}\""));
        assert!(config.is_ok(), "{loopback}: {config:?}");
    }
    // The token URL is checked too.
    let text = EXAMPLE.replace(
        "token_url = \"https://rewards.example.com/oauth/token\"",
        "token_url = \"http://auth.example.com/token\"",
    );
    let err = Config::load(&write("http-token", &text))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("marketplace.oauth.token_url: http:// is refused"),
        "{err}"
    );
}

#[test]
fn store_and_webhook_urls_come_from_a_variable_or_a_file_and_errors_never_show_them() {
    let dir = write("url-secrets", "").parent().unwrap().to_owned();
    std::fs::write(
        dir.join("hook-url"),
        "https://hooks.example.com/T0/s3cret-token\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("store-url"),
        "postgres://kudos:pw-s3cret@db/kudos\n",
    )
    .unwrap();
    let text = EXAMPLE
        .replace("url = \"sqlite://kudos.db\"", "url_file = \"store-url\"")
        .replace("[alerts]", "[alerts]\nwebhook_url_file = \"hook-url\"");
    let text = strip_webhook_url(&text);
    let config = Config::load(&write("url-secrets", &text)).unwrap();
    assert_eq!(config.store.url, "postgres://kudos:pw-s3cret@db/kudos");
    assert_eq!(
        config.webhook_url,
        "https://hooks.example.com/T0/s3cret-token"
    );
    assert_eq!(
        StoreConfig::load(&write("url-secrets", &text)).unwrap().url,
        "postgres://kudos:pw-s3cret@db/kudos"
    );
    // A variable that is not set, both forms at once, or a plain-http webhook from a file:
    // the key, never the URL.
    let unset = text.replace(
        "url_file = \"store-url\"",
        "url_env = \"KUDOS_TEST_UNSET_STORE_URL\"",
    );
    let err = Config::load(&write("url-secrets", &unset))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store.url: ") && err.contains("KUDOS_TEST_UNSET_STORE_URL"),
        "{err}"
    );
    let both = text.replace(
        "url_file = \"store-url\"",
        "url = \"sqlite://x.db\"\nurl_file = \"store-url\"",
    );
    let err = Config::load(&write("url-secrets", &both))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store.url: give one of url, url_env or url_file"),
        "{err}"
    );
    std::fs::write(
        dir.join("hook-url"),
        "http://hooks.example.com/T0/s3cret-token",
    )
    .unwrap();
    let err = Config::load(&write("url-secrets", &text))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("alerts.webhook_url: http:// is refused"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

/// The example without its own `webhook_url` line.
fn strip_webhook_url(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("webhook_url ="))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_genesys_table_adds_its_staging_directory_as_a_source_and_names_its_mistakes() {
    const GENESYS: &str = "[genesys]\nregion = \"mypurecloud.com\"\nclient_id = \"id\"\n\
        client_secret_env = \"GENESYS_SECRET\"\ntime_zone = \"America/New_York\"\nstaging = \"pulled\"\n";
    let p = write("genesys", &format!("{EXAMPLE}{GENESYS}"));
    let c = Config::load(&p).unwrap();
    let g = c.genesys.as_ref().unwrap();
    assert_eq!(g.pull, ["surveys", "conversations"], "the default");
    assert_eq!(g.staging, p.parent().unwrap().join("pulled"));
    let last = c.sources.last().unwrap();
    assert_eq!(
        (last.path.as_str(), last.time_zone.as_deref()),
        (
            p.parent().unwrap().join("pulled/*.json").to_str().unwrap(),
            Some("America/New_York")
        )
    );
    // Alone, for `kudos genesys pull`: nothing else of the file is needed.
    let alone = write("genesys-alone", GENESYS);
    assert!(kudos_pipeline::GenesysSettings::load(&alone).is_ok());

    for (change, says) in [
        (
            GENESYS.replace(
                "region = \"mypurecloud.com\"\n",
                "region = \"x\"\napi_url = \"https://a\"\n",
            ),
            "genesys.region: give region, or both api_url and login_url",
        ),
        (
            format!("{GENESYS}pull = [\"queues\"]\n"),
            "genesys.pull: \"queues\" is not one of",
        ),
        (
            GENESYS.replace("America/New_York", "Mars/Olympus"),
            "genesys.time_zone: not an IANA time zone",
        ),
        (
            GENESYS.replace("client_secret_env = \"GENESYS_SECRET\"\n", ""),
            "genesys.client_secret",
        ),
    ] {
        let p = write("genesys-bad", &change);
        let e = kudos_pipeline::GenesysSettings::load(&p)
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{e}");
    }
}
