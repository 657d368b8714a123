//! The audit trail on a real S3-compatible server (`.ci/run` starts one and sets object_store's
//! `AWS_*` environment and `KUDOS_TEST_S3_BUCKET`): `kudos run` with `[audit] url =
//! "s3://…"` appends without rewriting, and `kudos audit verify` reads it back and catches a
//! record rewritten in place.

use futures_util::TryStreamExt as _;
use kudos_sim::SimConfig;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutPayload};
use serde_json::Value;

use crate::run::Setup;
use crate::text;

/// The bucket on the S3 server, or `None` (after saying so) without one; with
/// `KUDOS_REQUIRE_SERVICES` (CI) a missing server fails the test.
#[allow(
    clippy::print_stderr,
    reason = "a test that cannot run says so in the test output"
)]
fn bucket() -> Option<String> {
    match std::env::var("KUDOS_TEST_S3_BUCKET") {
        Ok(bucket) if !bucket.is_empty() => Some(bucket),
        _ if std::env::var_os("KUDOS_REQUIRE_SERVICES").is_some() => {
            panic!("KUDOS_REQUIRE_SERVICES is set and KUDOS_TEST_S3_BUCKET is not")
        }
        _ => {
            eprintln!("KUDOS_TEST_S3_BUCKET is not set: the S3 audit trail test did NOT run");
            None
        }
    }
}

/// Every object under `prefix`: its path, ETag and bytes, in path order.
async fn objects(store: &dyn ObjectStore, prefix: &Path) -> Vec<(Path, Option<String>, Vec<u8>)> {
    let mut metas: Vec<_> = store.list(Some(prefix)).try_collect().await.unwrap();
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in metas {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((meta.location, meta.e_tag, bytes.to_vec()));
    }
    out
}

fn verify(s: &Setup) -> (Option<i32>, Value, String) {
    let out = s
        .command(&["audit", "verify", "--config", "kudos.toml"])
        .output()
        .unwrap();
    let report = text(&out.stdout)
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or(Value::Null);
    (out.status.code(), report, text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_on_s3_is_appended_never_rewritten_and_verifies() {
    let Some(bucket) = bucket() else { return };
    let prefix = format!("kudos-cli-{}-{}", std::process::id(), uuid::Uuid::now_v7());
    let s = Setup::new("s3-audit", SimConfig::default(), "").await;
    std::fs::write(
        s.dir.join("audit.key"),
        "an-audit-key-of-32-bytes-or-more\n",
    )
    .unwrap();
    let config = std::fs::read_to_string(s.dir.join("kudos.toml")).unwrap();
    let config = config.replace(
        "[audit]\npath = \"audit.jsonl\"\n",
        &format!(
            "[audit]\nurl = \"s3://{bucket}/{prefix}\"\nkey_file = \"audit.key\"\ntrail = \"s3-test\"\n"
        ),
    );
    std::fs::write(s.dir.join("kudos.toml"), config).unwrap();
    let store = AmazonS3Builder::from_env()
        .with_bucket_name(&bucket)
        .build()
        .unwrap();
    let prefix = Path::from(prefix.as_str());

    // `kudos check` reaches the bucket with the environment's credentials, writing nothing.
    let out = s
        .command(&["check", "--config", "kudos.toml"])
        .output()
        .unwrap();
    let audit_line = text(&out.stdout)
        .lines()
        .find(|l| l.contains("\"audit\""))
        .unwrap_or_default()
        .to_owned();
    assert!(
        audit_line.contains("\"ok\":true") && audit_line.contains("object storage answers"),
        "{audit_line}\n{}",
        text(&out.stderr)
    );
    assert!(
        objects(&store, &prefix).await.is_empty(),
        "check wrote nothing"
    );

    s.export("d1.csv", &[(1, 150.0), (2, 150.0), (3, 40.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(summary["issued"].as_u64(), Some(2), "{summary}");
    let first = objects(&store, &prefix).await;
    assert!(
        first.len() >= 2,
        "a run writes several times, each a new object: {:?}",
        first.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let (code, report, stderr) = verify(&s);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["runs"].as_u64(), Some(1), "{report}");
    assert_eq!(report["keyed_runs"].as_u64(), Some(1), "{report}");
    assert_eq!(report["anchored_runs"].as_u64(), Some(1), "{report}");

    // A second run adds objects and leaves every object of the first exactly as it was.
    s.export("d2.csv", &[(3, 100.0)]);
    let (out, summary) = s.run().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(summary["issued"].as_u64(), Some(1), "{summary}");
    let second = objects(&store, &prefix).await;
    assert!(second.len() > first.len());
    for (path, etag, bytes) in &first {
        let now = second
            .iter()
            .find(|(p, _, _)| p == path)
            .unwrap_or_else(|| panic!("{path} is gone"));
        assert_eq!((&now.1, &now.2), (etag, bytes), "{path} was rewritten");
    }
    let (code, report, stderr) = verify(&s);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["runs"].as_u64(), Some(2), "{report}");
    let lines: usize = second
        .iter()
        .map(|(_, _, b)| b.iter().filter(|c| **c == b'\n').count())
        .sum();
    assert_eq!(report["records"].as_u64(), Some(lines as u64), "{report}");

    // The server enforces the sink's create-only writes (`If-None-Match: *`): a second write
    // under a name already taken is refused, not stored over the first.
    let taken = store
        .put_opts(
            &first[0].0,
            PutPayload::from_static(b"over\n"),
            PutMode::Create.into(),
        )
        .await;
    assert!(
        matches!(taken, Err(object_store::Error::AlreadyExists { .. })),
        "{taken:?}"
    );

    // Someone with write access to the bucket rewrites a record in place: verify names it.
    let (victim, _, bytes) = &first[1];
    let forged =
        String::from_utf8(bytes.clone())
            .unwrap()
            .replacen("\"points\":", "\"points\":1", 1);
    let forged = if forged.as_bytes() == bytes.as_slice() {
        String::from_utf8(bytes.clone())
            .unwrap()
            .replacen("\"seq\":", "\"seq\":1", 1)
    } else {
        forged
    };
    store
        .put(victim, PutPayload::from(forged.into_bytes()))
        .await
        .unwrap();
    let (code, _, stderr) = verify(&s);
    assert_eq!(code, Some(1), "a rewritten record went unnoticed: {stderr}");
    assert!(stderr.contains(victim.as_ref()), "{stderr}");
    assert!(
        !stderr.contains("an-audit-key") && !stderr.contains("AWS_SECRET"),
        "{stderr}"
    );

    // Deleting the last run's last object is caught by its anchor.
    store
        .put(victim, PutPayload::from(bytes.clone()))
        .await
        .unwrap();
    assert_eq!(verify(&s).0, Some(0), "restored");
    let last = &second.last().unwrap().0;
    store.delete(last).await.unwrap();
    let (code, _, stderr) = verify(&s);
    assert_eq!(code, Some(1), "a deleted write went unnoticed: {stderr}");
}
