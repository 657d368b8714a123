//! Opens the Kudos store a URL names.
//!
//! # Overview
//!
//! [`open`] turns a `[store] url` into a [`RunStore`] — the ledger's port with the run's
//! leases and ingest log — so a service, the `kudos` command and the examples read the same
//! setting the same way:
//!
//! | URL | store |
//! |---|---|
//! | `sqlite://PATH` | [`kudos_store_sqlite::SqliteStore`] (feature `sqlite`, default) |
//! | `postgres://…`, `postgresql://…` | [`kudos_store_postgres::PostgresStore`] (feature `postgres`, default) |
//! | `memory://` | [`kudos_ledger::MemoryStore`], empty, gone when the process ends |
//!
//! # Example
//!
//! ```
//! use kudos_ledger::LedgerStore as _;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let store = kudos_store::open("memory://", 8).await?;
//! assert!(store.agents().await?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - *An edge crate.* It only chooses among stores; each store keeps its own options
//!   (`PostgresOptions` for a schema, say) for an integrator who needs more than a URL.
//! - *Errors never echo the URL*: it may carry a password. They name the scheme; to show a URL,
//!   print [`redacted`] of it.

use std::sync::Arc;

use kudos_ledger::{LedgerError, MemoryStore, RunStore};

/// `url` with its password replaced by `***` — the user information's
/// (`postgres://kudos:***@db/kudos`) and a `password` parameter's — for messages and logs. A URL
/// without one is returned as it is.
///
/// ```
/// assert_eq!(
///     kudos_store::redacted("postgres://kudos:s3cret@db:5432/kudos"),
///     "postgres://kudos:***@db:5432/kudos"
/// );
/// assert_eq!(kudos_store::redacted("sqlite://kudos.db"), "sqlite://kudos.db");
/// ```
#[must_use]
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The authority ends at the first '/' (a password's own '?' or '#' stays in it); its user
    // information ends at its last '@'.
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    // A password given as a parameter (`?password=…`, as PostgreSQL URLs allow).
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Opens the store `url` names, with a pool of up to `max_connections` for a database.
///
/// # Errors
///
/// [`LedgerError::Store`] when the scheme is unknown (or not built in), or the store cannot
/// be opened or migrated.
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn RunStore>, LedgerError> {
    if url == "memory://" || url == "memory:" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(
            kudos_store_sqlite::SqliteStore::open_with(url, max_connections).await?,
        ));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = kudos_store_postgres::PostgresOptions {
            max_connections,
            ..Default::default()
        };
        return Ok(Arc::new(
            kudos_store_postgres::PostgresStore::open_with(url, &options).await?,
        ));
    }
    let _ = max_connections;
    let scheme = url.split(':').next().unwrap_or_default();
    Err(LedgerError::Store {
        message: format!(
            "unsupported store URL scheme {scheme:?} (this build has {})",
            SCHEMES.join(", ")
        ),
        source: None,
    })
}

/// The schemes this build opens.
pub const SCHEMES: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite://",
    #[cfg(feature = "postgres")]
    "postgres://",
    "memory://",
];
