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

pub use kudos_ledger::schema::Migrated;
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

/// How to open a store: the pool size and whether opening may migrate a PostgreSQL schema
/// (`[store] max_connections`, `[store] migrate`).
///
/// ```
/// let options = kudos_store::StoreOptions::new(4).migrate(true);
/// assert!(options.migrate && options.max_connections == 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// The pool size for a database.
    pub max_connections: u32,
    /// Apply pending PostgreSQL migrations when opening (SQLite always does: the file is the
    /// ledger's own).
    pub migrate: bool,
}

impl StoreOptions {
    /// A pool of up to `max_connections`; opening does not migrate PostgreSQL.
    #[must_use]
    pub const fn new(max_connections: u32) -> Self {
        Self {
            max_connections,
            migrate: false,
        }
    }

    /// Whether opening applies pending PostgreSQL migrations.
    #[must_use]
    pub const fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }
}

/// Opens the store `url` names, with a pool of up to `max_connections` for a database. A
/// PostgreSQL schema is checked, not changed: see [`migrate`].
///
/// # Errors
///
/// [`LedgerError::Store`] when the scheme is unknown (or not built in), or the store cannot
/// be opened, its schema is out of date (the message names `kudos migrate`) or newer than
/// this release.
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn RunStore>, LedgerError> {
    open_with(url, StoreOptions::new(max_connections)).await
}

/// Opens the store `url` names with `options`.
///
/// # Errors
///
/// As [`open`].
pub async fn open_with(url: &str, options: StoreOptions) -> Result<Arc<dyn RunStore>, LedgerError> {
    if url == "memory://" || url == "memory:" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(
            kudos_store_sqlite::SqliteStore::open_with(url, options.max_connections).await?,
        ));
    }
    #[cfg(feature = "postgres")]
    if is_postgres(url) {
        let pg = kudos_store_postgres::PostgresOptions::default()
            .max_connections(options.max_connections)
            .migrate(options.migrate);
        return Ok(Arc::new(
            kudos_store_postgres::PostgresStore::open_with(url, &pg).await?,
        ));
    }
    let _ = options;
    Err(unsupported(url))
}

/// Applies the pending schema migrations of the store `url` names (sqlx's migrator: versioned,
/// checksummed, under a lock on PostgreSQL) and reports the version before and after — what
/// `kudos migrate` runs. A memory store has no schema (`0 → 0`).
///
/// # Errors
///
/// [`LedgerError::Store`] when the scheme is unknown, the store cannot be reached, the role
/// may not change the schema, a migration fails (rolled back), or a newer release migrated it.
pub async fn migrate(url: &str) -> Result<Migrated, LedgerError> {
    if url == "memory://" || url == "memory:" {
        return Ok(Migrated::new(0, 0));
    }
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        return kudos_store_sqlite::SqliteStore::migrate(url).await;
    }
    #[cfg(feature = "postgres")]
    if is_postgres(url) {
        return kudos_store_postgres::PostgresStore::migrate(
            url,
            &kudos_store_postgres::PostgresOptions::default(),
        )
        .await;
    }
    Err(unsupported(url))
}

#[cfg(feature = "postgres")]
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The error for a scheme this build does not open: it names the scheme, never the URL.
fn unsupported(url: &str) -> LedgerError {
    let scheme = url.split(':').next().unwrap_or_default();
    LedgerError::Store {
        message: format!(
            "unsupported store URL scheme {scheme:?} (this build has {})",
            SCHEMES.join(", ")
        ),
        source: None,
    }
}

/// The schemes this build opens.
pub const SCHEMES: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite://",
    #[cfg(feature = "postgres")]
    "postgres://",
    "memory://",
];
