//! The `kudos` binary, run as a user runs it: arguments in; stdout, stderr and exit code out.

mod audit;
mod canary;
mod check;
mod demo;
mod export;
mod genesys;
mod ledger;
mod points;
mod programme;
mod review;
mod run;
mod s3;
mod sim;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

pub(crate) fn kudos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kudos"))
        .args(args)
        .output()
        .unwrap()
}

/// The PostgreSQL server of `KUDOS_TEST_POSTGRES_URL`, or `None` (after saying so); CI sets
/// `KUDOS_REQUIRE_SERVICES`, and then a missing server fails the test instead of skipping it.
#[allow(
    clippy::print_stderr,
    reason = "a test that cannot run says so in the test output"
)]
pub(crate) fn postgres(what: &str) -> Option<String> {
    match std::env::var("KUDOS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("KUDOS_REQUIRE_SERVICES").is_some() => {
            panic!("KUDOS_REQUIRE_SERVICES is set and KUDOS_TEST_POSTGRES_URL is not: {what}")
        }
        _ => {
            eprintln!("KUDOS_TEST_POSTGRES_URL is not set: {what} did NOT run");
            None
        }
    }
}

/// Runs SQL on the server as its administrative user (psql, as an operator would).
pub(crate) fn psql(server: &str, sql: &str) {
    let out = Command::new("psql")
        .args([server, "-qc", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "{sql}: {}", text(&out.stderr));
}

/// A fresh schema on the server, migrated by the operator's role with `kudos migrate`, and a
/// role that may only read and write its rows (the operator guide's grants). Returns the
/// service's store URL; [`drop_schema`] cleans up.
pub(crate) fn service_schema(base: &str, schema: &str) -> String {
    let role = format!("{schema}_app");
    let sep = if base.contains('?') { '&' } else { '?' };
    psql(
        base,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kudos"))
        .args(["migrate", "--store-env", "KUDOS_TEST_ADMIN_URL"])
        .env(
            "KUDOS_TEST_ADMIN_URL",
            format!("{base}{sep}options=-csearch_path%3D{schema}"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    psql(
        base,
        &format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA {schema} TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};"
        ),
    );
    format!("{base}{sep}user={role}&options=-csearch_path%3D{schema}")
}

/// Drops a [`service_schema`] and its role.
pub(crate) fn drop_schema(base: &str, schema: &str) {
    psql(
        base,
        &format!(
            "DROP SCHEMA {schema} CASCADE; DROP OWNED BY {schema}_app; DROP ROLE {schema}_app;"
        ),
    );
}

/// A command's stdout as JSON values, a line each.
pub(crate) fn lines(out: &Output) -> Vec<serde_json::Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A fresh, empty directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
