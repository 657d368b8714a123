//! The Kudos ledger on embedded SQLite: the default [`LedgerStore`].
//!
//! # Overview
//!
//! [`SqliteStore`] keeps each account's entries in one SQLite file, with the hold index,
//! leases and the ingested-files list beside them. It runs in WAL mode with a busy timeout,
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
//!   is created by migrations embedded in the binary ([`MIGRATIONS`]).
//! - *Durability.* `synchronous = FULL`: a committed append survives a power cut, not only a
//!   crash of the process.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use kudos_core::{AgentId, TxnId};
use kudos_ledger::{
    AppendItem, Entry, HoldState, HoldView, Lease, LedgerError, LedgerStore, Stored,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

/// The schema, as numbered migrations applied in order at open; never edited once released.
pub const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE entries (
        agent TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (agent, seq)
    ) WITHOUT ROWID;
    CREATE INDEX entries_by_id ON entries (id);
    CREATE TABLE holds (
        txn TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        view TEXT NOT NULL,
        lease_owner TEXT,
        lease_until TEXT
    );
    CREATE INDEX holds_by_state ON holds (state, created_at, txn);
    CREATE TABLE ingested (
        hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        at TEXT NOT NULL
    );",
)];

/// How long a writer waits for another process's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The ledger's store on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn store_err(what: &str) -> impl Fn(sqlx::Error) -> LedgerError + '_ {
    move |e| LedgerError::store(format!("sqlite: {what}"), e)
}

fn json_err(what: &str) -> impl Fn(serde_json::Error) -> LedgerError + '_ {
    move |e| LedgerError::store(format!("sqlite: {what}"), e)
}

/// Whether SQLite said "busy" or "locked" (another connection holds the lock).
fn is_busy(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("5" | "6")))
}

/// Instants as fixed-width RFC 3339 text, so that text order is time order.
fn ts(t: DateTime<Utc>) -> String {
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
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| LedgerError::store(format!("sqlite: {url:?} is not a sqlite:// URL"), e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        // Several processes opening a new file at once race to switch it to WAL; SQLite
        // answers SQLITE_BUSY to the losers without waiting, so opening retries briefly.
        let mut wait = Duration::from_millis(10);
        let mut tries = 0;
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
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
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), LedgerError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_err("migrate"))?;
        sqlx::query("CREATE TABLE IF NOT EXISTS kudos_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(store_err("migrate"))?;
        let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM kudos_schema")
            .fetch_one(&mut *tx)
            .await
            .map_err(store_err("migrate"))?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                .execute(&mut *tx)
                .await
                .map_err(store_err("migrate"))?;
            sqlx::query(
                "INSERT INTO kudos_schema (version, applied_at) VALUES (?, datetime('now'))",
            )
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(store_err("migrate"))?;
        }
        tx.commit().await.map_err(store_err("migrate"))
    }
}

/// Rows per multi-row `INSERT` (at most 5 parameters a row, under SQLite's oldest limit of 999
/// parameters a statement). One statement per row cost a round trip to sqlx's connection
/// thread each, which was most of a batch's time.
const ROWS_PER_INSERT: usize = 190;

/// `?, ?, …`: `n` parameters, for an `IN (…)` list.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?, …), (?, ?, …), …`: `rows` groups of `columns` parameters.
fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", marks(columns));
    vec![row.as_str(); rows].join(", ")
}

/// A hold index row to write.
struct HoldRow {
    txn: String,
    agent: String,
    state: &'static str,
    created_at: String,
    view: String,
}

/// Writes a batch inside an open write transaction: each item whose account is still at the
/// version it expects (in `versions`, which the items written update) is written; the others
/// get [`LedgerError::Conflict`] and write nothing. Entries and hold index rows go in
/// multi-row statements.
async fn write_batch(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    batch: &[AppendItem<'_>],
    mut versions: HashMap<String, i64>,
) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
    let mut out = Vec::with_capacity(batch.len());
    let mut entries: Vec<(&str, i64, String, String)> = Vec::new();
    let mut holds: Vec<HoldRow> = Vec::new();
    // A hold written twice in one batch is written once, as its last view.
    let mut hold_at: HashMap<TxnId, usize> = HashMap::new();
    for item in batch {
        let current = versions.get(item.agent.as_str()).copied().unwrap_or(0);
        let conflict = || LedgerError::Conflict {
            agent: item.agent.clone(),
            expected: item.expected,
        };
        if u64::try_from(current).ok() != Some(item.expected) {
            out.push(Err(conflict()));
            continue;
        }
        let mut seq = current;
        for entry in item.entries {
            let body =
                serde_json::to_string(entry).map_err(json_err("an entry does not encode"))?;
            entries.push((item.agent.as_str(), seq, entry.id.to_string(), body));
            seq += 1;
        }
        for hold in item.holds {
            let row = HoldRow {
                txn: hold.txn.to_string(),
                agent: hold.agent.to_string(),
                state: hold.state.name(),
                created_at: ts(hold.created_at),
                view: serde_json::to_string(hold).map_err(json_err("a hold does not encode"))?,
            };
            match hold_at.get(&hold.txn) {
                Some(&i) => holds[i] = row,
                None => {
                    hold_at.insert(hold.txn, holds.len());
                    holds.push(row);
                }
            }
        }
        // A second item for the same account in this batch sees the first one's entries.
        versions.insert(item.agent.to_string(), seq);
        out.push(u64::try_from(seq).map_err(|_| conflict()));
    }
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO entries (agent, seq, id, body) VALUES {}",
            placeholders(chunk.len(), 4)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (agent, seq, id, body) in chunk {
            query = query
                .bind(*agent)
                .bind(*seq)
                .bind(id.as_str())
                .bind(body.as_str());
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(store_err("append"))?;
    }
    for chunk in holds.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO holds (txn, agent, state, created_at, view) VALUES {}
             ON CONFLICT (txn) DO UPDATE SET state = excluded.state, view = excluded.view",
            placeholders(chunk.len(), 5)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for h in chunk {
            query = query
                .bind(h.txn.as_str())
                .bind(h.agent.as_str())
                .bind(h.state)
                .bind(h.created_at.as_str())
                .bind(h.view.as_str());
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(store_err("append"))?;
    }
    Ok(out)
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn load(&self, agent: &AgentId) -> Result<Stored, LedgerError> {
        let rows = sqlx::query("SELECT body FROM entries WHERE agent = ? ORDER BY seq")
            .bind(agent.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("load"))?;
        let entries = rows
            .iter()
            .map(|row| {
                serde_json::from_str::<Entry>(row.get::<&str, _>(0))
                    .map_err(json_err("an entry does not decode"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let version = entries.len() as u64;
        Ok(Stored { entries, version })
    }

    async fn append(
        &self,
        agent: &AgentId,
        expected: u64,
        entries: &[Entry],
        holds: &[HoldView],
    ) -> Result<u64, LedgerError> {
        let item = AppendItem {
            agent,
            expected,
            entries,
            holds,
        };
        self.append_many(&[item]).await?.pop().unwrap_or_else(|| {
            Err(LedgerError::Store {
                message: "sqlite: append gave no result for its item".into(),
                may_have_written: false,
                source: None,
            })
        })
    }

    async fn load_many(&self, agents: &[AgentId]) -> Result<Vec<Stored>, LedgerError> {
        let mut rows = Vec::new();
        for chunk in agents.chunks(500) {
            let sql = format!(
                "SELECT agent, body FROM entries WHERE agent IN ({}) ORDER BY agent, seq",
                marks(chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for agent in chunk {
                query = query.bind(agent.as_str());
            }
            for row in query
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("load"))?
            {
                let entry = serde_json::from_str::<Entry>(row.get::<&str, _>(1))
                    .map_err(json_err("an entry does not decode"))?;
                rows.push((row.get::<String, _>(0), entry));
            }
        }
        Ok(Stored::group(agents, rows))
    }

    async fn append_many(
        &self,
        batch: &[AppendItem<'_>],
    ) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_err("append"))?;
        // Every account's version in a few queries, under the write lock.
        let mut versions: HashMap<String, i64> = HashMap::with_capacity(batch.len());
        for chunk in batch.chunks(500) {
            let sql = format!(
                "SELECT agent, COUNT(*) FROM entries WHERE agent IN ({}) GROUP BY agent",
                marks(chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for item in chunk {
                query = query.bind(item.agent.as_str());
            }
            for row in query
                .fetch_all(&mut *tx)
                .await
                .map_err(store_err("append"))?
            {
                versions.insert(row.get(0), row.get(1));
            }
        }
        let out = write_batch(&mut tx, batch, versions).await?;
        tx.commit().await.map_err(store_err("append"))?;
        Ok(out)
    }

    async fn find(&self, id: Uuid) -> Result<Option<AgentId>, LedgerError> {
        let agent: Option<String> =
            sqlx::query_scalar("SELECT agent FROM entries WHERE id = ? LIMIT 1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err("find"))?;
        agent
            .map(|a| {
                AgentId::new(a)
                    .map_err(|e| LedgerError::store("sqlite: a stored agent id is invalid", e))
            })
            .transpose()
    }

    async fn holds(&self, state: Option<HoldState>) -> Result<Vec<HoldView>, LedgerError> {
        let rows = match state {
            Some(s) => {
                sqlx::query("SELECT view FROM holds WHERE state = ? ORDER BY created_at, txn")
                    .bind(s.name())
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT view FROM holds ORDER BY created_at, txn")
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(store_err("holds"))?;
        rows.iter()
            .map(|row| {
                serde_json::from_str::<HoldView>(row.get::<&str, _>(0))
                    .map_err(json_err("a hold does not decode"))
            })
            .collect()
    }

    async fn lease(
        &self,
        txn: TxnId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let done = sqlx::query(
            "UPDATE holds SET lease_owner = ?, lease_until = ?
             WHERE txn = ? AND state IN ('open', 'in_doubt', 'review')
               AND (lease_owner IS NULL OR lease_until <= ? OR lease_owner = ?)",
        )
        .bind(owner)
        .bind(ts(until))
        .bind(txn.to_string())
        .bind(ts(now))
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(store_err("lease"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn lease_many(
        &self,
        txns: &[TxnId],
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<bool>, LedgerError> {
        // One write transaction (one sync to disk) and a statement per few hundred holds.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_err("lease"))?;
        let mut leased = std::collections::HashSet::with_capacity(txns.len());
        for chunk in txns.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "UPDATE holds SET lease_owner = ?, lease_until = ?
                 WHERE txn IN ({}) AND state IN ('open', 'in_doubt', 'review')
                   AND (lease_owner IS NULL OR lease_until <= ? OR lease_owner = ?)
                 RETURNING txn",
                marks(chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .bind(owner)
                .bind(ts(until));
            for txn in chunk {
                query = query.bind(txn.to_string());
            }
            leased.extend(
                query
                    .bind(ts(now))
                    .bind(owner)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_err("lease"))?,
            );
        }
        tx.commit().await.map_err(store_err("lease"))?;
        Ok(txns
            .iter()
            .map(|t| leased.contains(&t.to_string()))
            .collect())
    }

    async fn lease_of(&self, txn: TxnId) -> Result<Option<Lease>, LedgerError> {
        let row: Option<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT lease_owner, lease_until FROM holds WHERE txn = ?")
                .bind(txn.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err("lease_of"))?;
        let Some((Some(owner), Some(until))) = row else {
            return Ok(None);
        };
        let until = DateTime::parse_from_rfc3339(&until)
            .map_err(|e| LedgerError::store("sqlite: a stored lease time is invalid", e))?
            .with_timezone(&Utc);
        Ok(Some(Lease { owner, until }))
    }

    async fn ingested(&self, content_hash: &str) -> Result<bool, LedgerError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM ingested WHERE hash = ?")
            .bind(content_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("ingested"))?;
        Ok(found.is_some())
    }

    async fn mark_ingested(
        &self,
        content_hash: &str,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO ingested (hash, name, at) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(content_hash)
        .bind(name)
        .bind(ts(at))
        .execute(&self.pool)
        .await
        .map_err(store_err("mark_ingested"))?;
        Ok(())
    }

    async fn agents(&self) -> Result<Vec<AgentId>, LedgerError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT agent FROM entries ORDER BY agent")
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("agents"))?;
        rows.into_iter()
            .map(|a| {
                AgentId::new(a)
                    .map_err(|e| LedgerError::store("sqlite: a stored agent id is invalid", e))
            })
            .collect()
    }
}
