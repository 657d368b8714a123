//! Tidy: the house rules of `docs/ARCHITECTURE.md` that a machine can check, checked.
//!
//! - No source file under `crates/*/src` is longer than [`MAX_LINES`] lines.
//! - Every Rust file of the workspace starts with a module doc (`//!`).
//! - No test is ignored or expects a panic.
//! - Every third-party dependency's version is set once, in the root `Cargo.toml`.
//! - Nothing in the repository points to a document outside it.

use std::path::{Path, PathBuf};

/// The most lines a source file under `crates/*/src` may have.
const MAX_LINES: usize = 700;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// Every file under `dir` (recursively) whose name ends with one of `suffixes`, skipping
/// build output and VCS folders.
fn files(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "corpus" | "artifacts") {
                    stack.push(path);
                }
            } else if suffixes.iter().any(|s| name.ends_with(s)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The workspace's Rust sources: crates, examples, benches, fuzz targets and this crate.
fn rust_files() -> Vec<PathBuf> {
    ["crates", "examples", "benches", "fuzz", "xtask"]
        .iter()
        .flat_map(|d| files(&root().join(d), &[".rs"]))
        .collect()
}

#[test]
fn no_source_file_is_over_the_line_limit() {
    let long: Vec<String> = files(&root().join("crates"), &[".rs"])
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "src"))
        .filter_map(|p| {
            let lines = read(&p).lines().count();
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines", relative(&p)))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by responsibility (at most {MAX_LINES} lines each):\n{}",
        long.join("\n")
    );
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let missing: Vec<String> = rust_files()
        .into_iter()
        .filter(|p| {
            let text = read(p);
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            !first.starts_with("//!")
        })
        .map(|p| relative(&p))
        .collect();
    assert!(
        missing.is_empty(),
        "these files need a `//!` doc first:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_test_is_ignored_or_expects_a_panic() {
    // Spelled in pieces so that this file does not find itself.
    let banned = [concat!("#[", "ignore"), concat!("should", "_panic")];
    let found: Vec<String> = rust_files()
        .into_iter()
        .flat_map(|p| {
            let text = read(&p);
            banned
                .iter()
                .filter(|b| text.contains(*b))
                .map(|b| format!("{}: {b}", relative(&p)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The dependency tables of a manifest: `(table header, line)` for each entry.
fn dependency_lines(manifest: &str) -> Vec<(String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            table = trimmed.to_owned();
            continue;
        }
        if table.contains("dependencies") && !trimmed.is_empty() && !trimmed.starts_with('#') {
            out.push((table.clone(), trimmed.to_owned()));
        }
    }
    out
}

#[test]
fn every_dependency_version_is_set_once_in_the_workspace() {
    let manifests: Vec<PathBuf> = ["crates", "examples", "benches", "xtask"]
        .iter()
        .flat_map(|d| files(&root().join(d), &["Cargo.toml"]))
        .collect();
    assert!(manifests.len() > 10, "found the members' manifests");
    let mut own_versions = Vec::new();
    for manifest in &manifests {
        for (table, line) in dependency_lines(&read(manifest)) {
            // `name.workspace = true` or `name = { workspace = true, … }`; a crate's own path
            // (the ledger's tests take its `testkit` feature so) sets no version.
            if line.contains("workspace = true")
                || (line.contains("path = \".\"") && !line.contains("version"))
            {
                continue;
            }
            own_versions.push(format!("{} {table}: {line}", relative(manifest)));
        }
    }
    assert!(
        own_versions.is_empty(),
        "set these versions in the root Cargo.toml's [workspace.dependencies]:\n{}",
        own_versions.join("\n")
    );
}

#[test]
fn nothing_points_to_a_document_outside_the_repository() {
    // Spelled in pieces so that this file does not find itself.
    let outside = [
        concat!("DESIGN", ".md"),
        concat!("design", " document"),
        concat!("design", " doc "),
        concat!("the design", "'s"),
        concat!("shared", "/research"),
        concat!("research", "/"),
        concat!("CONVENTIONS", ".md"),
        concat!("the integration", " guide"),
        concat!("of_the", "_design"),
        concat!("this session", "'s"),
        concat!("first session", "'s"),
    ];
    let mut texts: Vec<PathBuf> = rust_files();
    for dir in [
        "crates", "examples", "benches", "docs", "fixtures", "fuzz", ".ci",
    ] {
        texts.extend(files(&root().join(dir), &[".md", ".toml", ".sh", "run"]));
    }
    texts.extend(
        ["README.md", "Cargo.toml", "clippy.toml"]
            .iter()
            .map(|f| root().join(f)),
    );
    let mut found = Vec::new();
    for path in texts {
        let text = read(&path);
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            let section_sign = line.char_indices().any(|(i, c)| {
                c == '§' && line[i + c.len_utf8()..].starts_with(|d: char| d.is_ascii_digit())
            });
            if section_sign || outside.iter().any(|o| lower.contains(&o.to_lowercase())) {
                found.push(format!("{}:{}: {}", relative(&path), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "point these to docs/ (the reference is docs/reference/):\n{}",
        found.join("\n")
    );
}

/// Every `pub enum …Error` in the library crates, with the lines just above it.
fn error_enums() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for path in files(&root().join("crates"), &[".rs"]) {
        if !path.components().any(|c| c.as_os_str() == "src") {
            continue;
        }
        let text = read(&path);
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_error_enum = trimmed
                .strip_prefix("pub enum ")
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|name| name.ends_with("Error"));
            if is_error_enum {
                let above = lines[n.saturating_sub(4)..n]
                    .iter()
                    .map(|l| l.trim().to_owned())
                    .collect();
                out.push((format!("{}:{}", relative(&path), n + 1), above));
            }
        }
    }
    out
}

#[test]
fn every_error_enum_is_non_exhaustive() {
    let enums = error_enums();
    assert!(enums.len() >= 10, "found the error enums: {}", enums.len());
    let open: Vec<String> = enums
        .into_iter()
        .filter(|(_, above)| !above.iter().any(|l| l == "#[non_exhaustive]"))
        .map(|(place, _)| place)
        .collect();
    assert!(
        open.is_empty(),
        "error enums grow without a breaking change only if #[non_exhaustive]:\n{}",
        open.join("\n")
    );
}

#[test]
fn no_error_message_repeats_its_source() {
    // `Display` says what went wrong here; the source follows in the error chain.
    let repeated: Vec<String> = files(&root().join("crates"), &[".rs"])
        .into_iter()
        .flat_map(|path| {
            read(&path)
                .lines()
                .enumerate()
                .filter(|(_, line)| line.contains("#[error(") && line.contains("{source}"))
                .map(|(n, line)| format!("{}:{}: {}", relative(&path), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(repeated.is_empty(), "{}", repeated.join("\n"));
}
