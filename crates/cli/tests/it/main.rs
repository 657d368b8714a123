//! The `kudos` binary, run as a user runs it: arguments in; stdout, stderr and exit code out.

mod audit;
mod canary;
mod check;
mod demo;
mod export;
mod ledger;
mod points;
mod review;
mod run;
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
