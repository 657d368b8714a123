//! The Kudos ledger on embedded SQLite: the default store (a [`RunStore`](kudos_ledger::RunStore)).
//!
//! # Overview
//!
//! [`SqliteStore`] keeps each account's entries in one SQLite file, with the hold index,
//! and the run's leases and ingest log beside them: it implements the ledger's
//! [`LedgerStore`](kudos_ledger::LedgerStore) and the run's [`LeaseStore`](kudos_ledger::LeaseStore) and
//! [`IngestLog`](kudos_ledger::IngestLog). It runs in WAL mode with a busy timeout,
//! so several processes sharing one file wait for each other instead of failing, and every
//! append is one `BEGIN IMMEDIATE` transaction: the version check, the entries and the hold
//! index update commit together or not at all.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use kudos_core::*;
//! use kudos_ledger::{Command, Ledger};
//! use kudos_store_sqlite::SqliteStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let dir = std::env::temp_dir().join(format!("kudos-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let store = SqliteStore::open(&format!("sqlite://{}", dir.join("kudos.db").display())).await?;
//! let ledger = Ledger::new(store, Arc::new(SystemClock));
//! let agent = AgentId::new("a1b2c3d4-0000-4000-8000-000000000001")?;
//! let day = Day::parse("2026-10-01")?;
//! let id = uuid::Uuid::from_u128(1);
//! ledger.execute(&agent, Command::Adjust { id, day, points: Points::new(40), expires: day.add_days(90)?, reason: "welcome".into() }).await?;
//! assert_eq!(ledger.account(&agent).await?.balance(day).available, Points::new(40));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design notes
//!
//! - *Stores persist, they never decide.* Entries are stored as the JSON the ledger made, in
//!   append order; the ledger folds them. The hold index rows are the views the ledger
//!   computed.
//! - *Runtime queries only.* No database is needed to build (no `sqlx` macros), and the schema
//!   is created by migrations embedded in the binary ([`MIGRATIONS`]), applied by sqlx's
//!   migrator when the file opens (checksummed, recorded in [`MIGRATIONS_TABLE`]): a new
//!   ledger file needs no extra step. A file written by an earlier release is converted when
//!   it opens, keeping every entry; a file a newer release migrated is refused.
//! - *Durability.* `synchronous = FULL`: a committed append survives a power cut, not only a
//!   crash of the process. The exception is `append_many_deferred` (the run's accruals, which
//!   its files' ingest marks follow): written by a connection with `synchronous = NORMAL`, it
//!   survives a crash of the process, and a power cut once any durable write follows it.
//! - *Checkpoints off the writer's turn.* The store copies the write-ahead log into the
//!   database file itself, from a task beside its writers, instead of leaving it to the
//!   `COMMIT` that passes SQLite's 1,000 pages; past 16 MB it lets the log start over.
//!   [`SqliteStore::checkpoint`] copies it at once (as far as no reader still needs it), for a
//!   caller that wants the file whole.

mod anchor;
mod append;
mod checkpoint;
mod control;
mod ingest;
mod lease;
mod ledger;
mod schema;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use kudos_core::{Clock, SystemClock};
use kudos_ledger::LedgerError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

pub use schema::{MIGRATIONS, MIGRATIONS_TABLE};

/// How long a writer waits for another process's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The ledger's store on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// How the pool's connections, and the writer of durable appends, connect.
    options: SqliteConnectOptions,
    /// The lease clock: the store owns it (see [`LeaseStore`](kudos_ledger::LeaseStore)).
    clock: Arc<dyn Clock>,
    /// This process's turn to write to the file (shared by the store's clones): see
    /// [`SqliteStore::begin_write`]. It holds the ledger's writers' connections.
    writer: Arc<tokio::sync::Mutex<Writers>>,
    /// The store's own checkpoints, off the writers' turn (see [`checkpoint`]).
    checkpoints: Arc<checkpoint::Checkpoints>,
}

/// Which of the ledger's writers an append goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// `append_many`: committed with `synchronous = FULL`.
    Durable,
    /// `append_many_deferred`: committed with `synchronous = NORMAL`, so that its commits do
    /// not wait for the disk.
    Deferred,
}

/// The connections the ledger's appends are written on, each opened when first used and kept
/// with the turn to write, so that an append takes no connection from the pool (whose every
/// return costs a round trip to test the connection).
#[derive(Debug, Default)]
pub(crate) struct Writers {
    durable: Option<SqliteConnection>,
    deferred: Option<SqliteConnection>,
}

impl Writers {
    /// `writer`'s connection, if open.
    pub(crate) fn connection(&mut self, writer: Writer) -> &mut Option<SqliteConnection> {
        match writer {
            Writer::Durable => &mut self.durable,
            Writer::Deferred => &mut self.deferred,
        }
    }
}

/// This process's turn to write, with the ledger's writers (see [`SqliteStore::write_turn`]).
pub(crate) type Turn = tokio::sync::OwnedMutexGuard<Writers>;

/// A write transaction, with this process's turn to write: the transaction is dropped (or
/// committed) before the turn is given back.
pub(crate) type Write = (Turn, sqlx::Transaction<'static, sqlx::Sqlite>);

pub(crate) fn store_err(what: &str) -> impl Fn(sqlx::Error) -> LedgerError + '_ {
    move |e| LedgerError::store(format!("sqlite: {what}"), e)
}

pub(crate) fn json_err(what: &str) -> impl Fn(serde_json::Error) -> LedgerError + '_ {
    move |e| LedgerError::store(format!("sqlite: {what}"), e)
}

/// Whether SQLite said "busy" or "locked" (another connection holds the lock).
fn is_busy(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("5" | "6")))
}

/// Instants as fixed-width RFC 3339 text, so that text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://PATH` URL, with up to 8
    /// connections, and applies pending migrations.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when the file cannot be opened or migrated.
    pub async fn open(url: &str) -> Result<Self, LedgerError> {
        Self::open_with(url, 8).await
    }

    /// As [`open`](Self::open), with a pool of `max_connections`.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when the file cannot be opened or migrated.
    pub async fn open_with(url: &str, max_connections: u32) -> Result<Self, LedgerError> {
        let store = Self::connect(url, max_connections).await?;
        schema::migrate(&store.pool).await?;
        Ok(store)
    }

    /// Opens (creating if needed) the database at `url` and applies pending migrations,
    /// reporting the schema version before and after — what `kudos migrate` prints. Opening
    /// migrates too; this is for an operator who wants to see it done.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when the file cannot be opened or migrated, or a newer release
    /// migrated it.
    pub async fn migrate(url: &str) -> Result<kudos_ledger::schema::Migrated, LedgerError> {
        let store = Self::connect(url, 1).await?;
        let done = schema::migrate(&store.pool).await;
        store.pool.close().await;
        done
    }

    /// The pool on `url`, its file created if missing, the schema untouched.
    async fn connect(url: &str, max_connections: u32) -> Result<Self, LedgerError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| LedgerError::store(format!("sqlite: {url:?} is not a sqlite:// URL"), e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma(
                "wal_autocheckpoint",
                checkpoint::AUTOCHECKPOINT_PAGES.to_string(),
            );
        // Several processes opening a new file at once race to switch it to WAL; SQLite
        // answers SQLITE_BUSY to the losers without waiting, so opening retries briefly.
        let mut wait = Duration::from_millis(10);
        let mut tries = 0;
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                // A connection to a local file does not go stale: no round trip to test it
                // before each use.
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if is_busy(&e) && tries < 60 => {
                    tries += 1;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(250));
                }
                Err(e) => {
                    return Err(LedgerError::store(format!("sqlite: cannot open {url}"), e));
                }
            }
        };
        // In WAL mode every connection appends to the one log file, and a `FULL` commit syncs
        // that file whole: a durable write after a deferred one makes it durable too.
        let writer = Arc::new(tokio::sync::Mutex::new(Writers::default()));
        Ok(Self {
            checkpoints: Arc::new(checkpoint::Checkpoints::start(
                pool.clone(),
                Arc::clone(&writer),
            )),
            pool,
            options,
            clock: Arc::new(SystemClock),
            writer,
        })
    }

    /// This process's turn to write, then a `BEGIN IMMEDIATE` transaction. SQLite lets one
    /// connection write at a time, and a connection that finds the file locked sleeps in its
    /// busy handler (up to 100 ms a try) however soon the lock is free: writers of one
    /// process (a run's accrue and issue steps, side by side) queue here instead, each woken
    /// the moment the one before it is done. The busy handler is left to other processes.
    pub(crate) async fn begin_write(&self) -> Result<Write, sqlx::Error> {
        let turn = self.write_turn().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok((turn, tx))
    }

    /// How `writer` connects.
    pub(crate) fn writer_options(&self, writer: Writer) -> SqliteConnectOptions {
        match writer {
            Writer::Durable => self.options.clone(),
            Writer::Deferred => self.options.clone().synchronous(SqliteSynchronous::Normal),
        }
    }

    /// This process's turn to write, for a single-statement write (see
    /// [`begin_write`](Self::begin_write)), or with the ledger's writers.
    pub(crate) async fn write_turn(&self) -> Turn {
        Arc::clone(&self.writer).lock_owned().await
    }

    /// The store with its leases on `clock` instead of the system clock (a `ManualClock` in
    /// tests; one clock shared by every worker on this file).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// Rows per multi-row `INSERT` of entries, and holds per lease `UPDATE` (at most 5 parameters
/// a row, under SQLite's oldest limit of 999 parameters a statement). One statement per row
/// cost a round trip to sqlx's connection thread each, which was most of a batch's time.
pub(crate) const ROWS_PER_INSERT: usize = 190;

/// Hold index rows per multi-row `INSERT` (7 parameters a row, under the same limit).
pub(crate) const HOLD_ROWS_PER_INSERT: usize = 999 / 7;

/// `?, ?, …`: `n` parameters, for an `IN (…)` list.
pub(crate) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?, …), (?, ?, …), …`: `rows` groups of `columns` parameters.
pub(crate) fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", marks(columns));
    vec![row.as_str(); rows].join(", ")
}
