//! The Kudos ledger on PostgreSQL: several workers, one ledger.
//!
//! # Overview
//!
//! [`PostgresStore`] implements the store ports (a [`RunStore`](kudos_ledger::RunStore)) for when one machine is not enough, or a service runs
//! more than one instance. Every append is one short transaction whose first statement is a
//! conditional version bump on the account's row (`UPDATE … WHERE version = $expected`, or an
//! `INSERT … ON CONFLICT DO NOTHING` for a new account): the database, not the process,
//! decides which of two concurrent writers wins, and the loser gets `Conflict` and retries
//! through the ledger. Leases on holds are conditional updates too — no advisory locks, which
//! CockroachDB lacks — and every transaction is retried on serialization failures and
//! deadlocks (SQLSTATE 40001, 40P01).
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use kudos_core::SystemClock;
//! use kudos_ledger::Ledger;
//! use kudos_store_postgres::{PostgresOptions, PostgresStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let options = PostgresOptions::default().max_connections(8).schema("kudos");
//! // Once per release, with a role that may change the schema (or `kudos migrate`):
//! PostgresStore::migrate("postgres://kudos_admin@db.internal/kudos", &options).await?;
//! // The service, whose role may only read and write rows:
//! let store = PostgresStore::open_with("postgres://kudos@db.internal/kudos", &options).await?;
//! let ledger = Ledger::new(store, Arc::new(SystemClock));
//! # let _ = ledger;
//! # Ok(())
//! # }
//! ```
//!
//! # Design notes
//!
//! - *Stores persist, they never decide.* Entries are stored as the JSON text the ledger
//!   made; the hold index rows are the views the ledger computed.
//! - *PostgreSQL-compatible distributed databases.* Only portable SQL is used (`ON CONFLICT`,
//!   `UNNEST`, `= ANY`, row-level conditional updates), transactions are short and never span a
//!   network call, and 40001/40P01 are retried with backoff, which CockroachDB's default
//!   SERIALIZABLE isolation requires. That is design, tested here on PostgreSQL only.
//! - *Runtime queries only*: nothing needs a database at build time.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::AgentId;
use kudos_ledger::{
    AppendItem, Entry, HoldState, HoldView, LedgerError, LedgerStore, ReversalState, ReversalView,
    Stored,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

mod anchor;
mod control;
mod ingest;
mod lease;
mod options;
mod schema;

pub use options::PostgresOptions;

pub use schema::{MIGRATIONS, MIGRATIONS_TABLE};

/// How many times a transaction is retried after a serialization failure or a deadlock.
pub const MAX_TRANSACTION_RETRIES: u32 = 8;

/// The ledger's store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    retries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// An error inside a transaction: a database error (maybe retryable) or the ledger's own.
enum TxError {
    Sql(sqlx::Error),
    Ledger(LedgerError),
}

impl From<sqlx::Error> for TxError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<LedgerError> for TxError {
    fn from(e: LedgerError) -> Self {
        Self::Ledger(e)
    }
}

fn retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}

pub(crate) fn store_err(what: &str) -> impl Fn(sqlx::Error) -> LedgerError + '_ {
    move |e| LedgerError::store(format!("postgres: {what}"), e)
}

fn json_err(what: &str) -> impl Fn(serde_json::Error) -> LedgerError + '_ {
    move |e| LedgerError::store(format!("postgres: {what}"), e)
}

impl PostgresStore {
    /// Connects to a `postgres://` URL with the default options and checks that the schema is
    /// current (it changes nothing: see [`migrate`](Self::migrate)).
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when the server cannot be reached, or the schema is not the one
    /// this release needs (out of date: the message names `kudos migrate`; newer: refused).
    pub async fn open(url: &str) -> Result<Self, LedgerError> {
        Self::open_with(url, &PostgresOptions::default()).await
    }

    /// Connects with `options`; applies pending migrations if `options.migrate`, else checks
    /// that the schema is current.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when the URL or schema name is invalid, the server cannot be
    /// reached or migrated, or the schema is not the one this release needs.
    pub async fn open_with(url: &str, options: &PostgresOptions) -> Result<Self, LedgerError> {
        let store = Self::connect(url, options).await?;
        if options.migrate {
            schema::migrate(&store.pool).await?;
        } else {
            schema::check(&store.pool).await?;
        }
        Ok(store)
    }

    /// Applies pending migrations (creating `options.schema` if missing) and reports the
    /// schema version before and after: what `kudos migrate` runs. sqlx's migrator takes an
    /// advisory lock on the database, so concurrent migrations take turns.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when the server cannot be reached, the role may not change the
    /// schema, a migration fails (rolled back), or a newer release migrated the schema.
    pub async fn migrate(
        url: &str,
        options: &PostgresOptions,
    ) -> Result<kudos_ledger::schema::Migrated, LedgerError> {
        let options = options.clone().migrate(true).max_connections(1);
        let store = Self::connect(url, &options).await?;
        let done = schema::migrate(&store.pool).await;
        store.pool.close().await;
        done
    }

    /// The pool on `url`, the schema created first when `options.migrate`.
    async fn connect(url: &str, options: &PostgresOptions) -> Result<Self, LedgerError> {
        let mut connect: PgConnectOptions = url.parse().map_err(|e| {
            LedgerError::store("postgres: the store URL is not a postgres:// URL", e)
        })?;
        if let Some(schema) = &options.schema {
            if schema.is_empty()
                || !schema
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(LedgerError::Store {
                    message: format!(
                        "postgres: schema name {schema:?} must be letters, digits and _"
                    ),
                    source: None,
                });
            }
            if options.migrate {
                Self::create_schema(&connect, schema).await?;
            }
            connect = connect.options([("search_path", schema.as_str())]);
        }
        if options.serializable {
            connect = connect.options([("default_transaction_isolation", "serializable")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect)
            .await
            .map_err(store_err("cannot connect"))?;
        Ok(Self {
            pool,
            retries: std::sync::Arc::default(),
        })
    }

    /// `CREATE SCHEMA IF NOT EXISTS`, on a connection of its own.
    async fn create_schema(connect: &PgConnectOptions, schema: &str) -> Result<(), LedgerError> {
        let setup = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(connect.clone())
            .await
            .map_err(store_err("cannot connect"))?;
        // Only when missing: a role may own the tables without the right to create schemas.
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema)
                .fetch_one(&setup)
                .await
                .map_err(store_err("cannot read the schemas"))?;
        if exists {
            setup.close().await;
            return Ok(());
        }
        // A concurrent creation by another process is fine: IF NOT EXISTS, and retried once.
        let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
        if sqlx::query(sqlx::AssertSqlSafe(create.clone()))
            .execute(&setup)
            .await
            .is_err()
        {
            sqlx::query(sqlx::AssertSqlSafe(create))
                .execute(&setup)
                .await
                .map_err(store_err("cannot create the schema"))?;
        }
        setup.close().await;
        Ok(())
    }

    /// How many transactions were retried after a serialization failure or deadlock (a counter
    /// an integrator can export).
    #[must_use]
    pub fn transaction_retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Runs `$body` (which uses `$tx`, an open transaction, and yields `Result<T, TxError>`) and
/// commits, retrying the whole transaction on serialization failures and deadlocks.
macro_rules! in_transaction {
    ($store:expr, $what:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let mut $tx = $store.pool.begin().await.map_err(store_err($what))?;
            let result: Result<_, TxError> = $body;
            let result = match result {
                Ok(value) => $tx.commit().await.map(|()| value).map_err(TxError::Sql),
                Err(e) => {
                    let _ = $tx.rollback().await;
                    Err(e)
                }
            };
            match result {
                Ok(value) => break Ok(value),
                Err(TxError::Sql(e)) if retryable(&e) && attempt < MAX_TRANSACTION_RETRIES => {
                    attempt += 1;
                    $store
                        .retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
                }
                Err(TxError::Sql(e)) => break Err(store_err($what)(e)),
                Err(TxError::Ledger(e)) => break Err(e),
            }
        }
    }};
}

/// Writes one account's entries and holds in an open transaction, if its version is the one
/// expected (checked and bumped by the database in one statement).
async fn write_in(
    tx: &mut Transaction<'static, Postgres>,
    item: &AppendItem<'_>,
) -> Result<u64, TxError> {
    let conflict = || LedgerError::Conflict {
        agent: item.agent.clone(),
        expected: item.expected,
    };
    let expected = i64::try_from(item.expected).map_err(|_| conflict())?;
    let count = i64::try_from(item.entries.len()).map_err(|_| conflict())?;
    let new = expected + count;
    let bumped = if expected == 0 {
        sqlx::query("INSERT INTO kudos_accounts (agent, version) VALUES ($1, $2) ON CONFLICT (agent) DO NOTHING")
            .bind(item.agent.as_str())
            .bind(new)
            .execute(&mut **tx)
            .await?
    } else {
        sqlx::query("UPDATE kudos_accounts SET version = $3 WHERE agent = $1 AND version = $2")
            .bind(item.agent.as_str())
            .bind(expected)
            .bind(new)
            .execute(&mut **tx)
            .await?
    };
    if bumped.rows_affected() != 1 {
        return Err(conflict().into());
    }
    let mut seqs = Vec::with_capacity(item.entries.len());
    let mut ids = Vec::with_capacity(item.entries.len());
    let mut bodies = Vec::with_capacity(item.entries.len());
    for (i, entry) in (expected..).zip(item.entries) {
        seqs.push(i);
        ids.push(entry.id);
        bodies.push(serde_json::to_string(entry).map_err(json_err("an entry does not encode"))?);
    }
    sqlx::query("INSERT INTO kudos_entries (agent, seq, id, body) SELECT $1, * FROM UNNEST($2::BIGINT[], $3::UUID[], $4::TEXT[])")
        .bind(item.agent.as_str())
        .bind(&seqs)
        .bind(&ids)
        .bind(&bodies)
        .execute(&mut **tx)
        .await?;
    let mut index = HoldColumns::default();
    index.push(item)?;
    index.upsert(tx).await?;
    u64::try_from(new).map_err(|_| conflict().into())
}

/// Hold index rows (holds' and reversals') as columns, for one `UNNEST` insert.
#[derive(Default)]
struct HoldColumns<'a> {
    txn: Vec<Uuid>,
    agent: Vec<&'a str>,
    kind: Vec<&'static str>,
    state: Vec<&'static str>,
    /// What leases filter on, as the ledger computed it.
    unresolved: Vec<bool>,
    created_at: Vec<DateTime<Utc>>,
    view: Vec<String>,
}

impl<'a> HoldColumns<'a> {
    /// Adds an item's hold and reversal index rows.
    fn push(&mut self, item: &AppendItem<'a>) -> Result<(), LedgerError> {
        for hold in item.holds {
            self.txn.push(*hold.txn.as_uuid());
            self.agent.push(item.agent.as_str());
            self.kind.push("hold");
            self.state.push(hold.state.name());
            self.unresolved.push(hold.is_unresolved());
            self.created_at.push(hold.created_at);
            self.view
                .push(serde_json::to_string(hold).map_err(json_err("a hold does not encode"))?);
        }
        for reversal in item.reversals {
            self.txn.push(*reversal.txn.as_uuid());
            self.agent.push(item.agent.as_str());
            self.kind.push("reversal");
            self.state.push(reversal.state.name());
            self.unresolved.push(reversal.is_unresolved());
            self.created_at.push(reversal.created_at);
            self.view.push(
                serde_json::to_string(reversal).map_err(json_err("a reversal does not encode"))?,
            );
        }
        Ok(())
    }

    /// Upserts the rows with one statement (each transaction id once: the ledger computes one
    /// view per hold or reversal an item touches, and a batch's accounts are distinct).
    async fn upsert(&self, tx: &mut Transaction<'static, Postgres>) -> Result<(), TxError> {
        if self.txn.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO kudos_holds (txn, agent, kind, state, unresolved, created_at, view)
             SELECT * FROM UNNEST($1::UUID[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BOOLEAN[], $6::TIMESTAMPTZ[], $7::TEXT[])
             ON CONFLICT (txn) DO UPDATE SET state = excluded.state,
                 unresolved = excluded.unresolved, view = excluded.view",
        )
        .bind(&self.txn)
        .bind(&self.agent)
        .bind(&self.kind)
        .bind(&self.state)
        .bind(&self.unresolved)
        .bind(&self.created_at)
        .bind(&self.view)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// Writes a batch of distinct accounts with three set-based statements: bump every version that
/// still matches (in `order`, so concurrent batches lock rows in the same order), insert the
/// entries of the accounts bumped, upsert their holds. The others are `Conflict`.
async fn write_batch(
    tx: &mut Transaction<'static, Postgres>,
    batch: &[AppendItem<'_>],
    order: &[usize],
) -> Result<Vec<Result<u64, LedgerError>>, TxError> {
    let conflict = |item: &AppendItem<'_>| LedgerError::Conflict {
        agent: item.agent.clone(),
        expected: item.expected,
    };
    let (mut agents, mut expected, mut new) = (Vec::new(), Vec::new(), Vec::new());
    for &i in order {
        let item = &batch[i];
        let (Ok(e), Ok(n)) = (
            i64::try_from(item.expected),
            i64::try_from(item.expected + item.entries.len() as u64),
        ) else {
            return Err(conflict(item).into());
        };
        agents.push(item.agent.as_str());
        expected.push(e);
        new.push(n);
    }
    let bumped: Vec<String> = sqlx::query_scalar(
        "WITH input (agent, expected, new, ord) AS (SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) WITH ORDINALITY),
         upd AS (
             UPDATE kudos_accounts a SET version = i.new FROM input i
             WHERE a.agent = i.agent AND a.version = i.expected AND i.expected > 0
             RETURNING a.agent
         ),
         ins AS (
             INSERT INTO kudos_accounts (agent, version)
             SELECT agent, new FROM input WHERE expected = 0 ORDER BY ord
             ON CONFLICT (agent) DO NOTHING
             RETURNING agent
         )
         SELECT agent FROM upd UNION ALL SELECT agent FROM ins",
    )
    .bind(&agents)
    .bind(&expected)
    .bind(&new)
    .fetch_all(&mut **tx)
    .await?;
    let bumped: std::collections::HashSet<String> = bumped.into_iter().collect();

    let (mut e_agent, mut e_seq, mut e_id, mut e_body) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut holds = HoldColumns::default();
    let mut out = Vec::with_capacity(batch.len());
    for item in batch {
        if !bumped.contains(item.agent.as_str()) {
            out.push(Err(conflict(item)));
            continue;
        }
        let start = i64::try_from(item.expected).map_err(|_| conflict(item))?;
        for (seq, entry) in (start..).zip(item.entries) {
            e_agent.push(item.agent.as_str());
            e_seq.push(seq);
            e_id.push(entry.id);
            e_body
                .push(serde_json::to_string(entry).map_err(json_err("an entry does not encode"))?);
        }
        holds.push(item)?;
        out.push(Ok(item.expected + item.entries.len() as u64));
    }
    if !e_agent.is_empty() {
        sqlx::query("INSERT INTO kudos_entries (agent, seq, id, body) SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::UUID[], $4::TEXT[])")
            .bind(&e_agent)
            .bind(&e_seq)
            .bind(&e_id)
            .bind(&e_body)
            .execute(&mut **tx)
            .await?;
    }
    holds.upsert(tx).await?;
    Ok(out)
}

/// Hold index rows' views, as the ledger computed them.
fn decode_holds(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<HoldView>, LedgerError> {
    rows.iter()
        .map(|r| {
            serde_json::from_str::<HoldView>(r.get::<&str, _>(0))
                .map_err(json_err("a hold does not decode"))
        })
        .collect()
}

fn decode_entries<'r>(rows: impl Iterator<Item = &'r str>) -> Result<Vec<Entry>, LedgerError> {
    rows.map(|body| {
        serde_json::from_str::<Entry>(body).map_err(json_err("an entry does not decode"))
    })
    .collect()
}

fn agent_id(text: String) -> Result<AgentId, LedgerError> {
    AgentId::new(text).map_err(|e| LedgerError::store("postgres: a stored agent id is invalid", e))
}

#[async_trait]
impl LedgerStore for PostgresStore {
    async fn load(&self, agent: &AgentId) -> Result<Stored, LedgerError> {
        let rows = sqlx::query("SELECT body FROM kudos_entries WHERE agent = $1 ORDER BY seq")
            .bind(agent.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("load"))?;
        let entries = decode_entries(rows.iter().map(|r| r.get::<&str, _>(0)))?;
        let version = entries.len() as u64;
        Ok(Stored { entries, version })
    }

    async fn load_many(&self, agents: &[AgentId]) -> Result<Vec<Stored>, LedgerError> {
        let names: Vec<&str> = agents.iter().map(AgentId::as_str).collect();
        let fetched = sqlx::query(
            "SELECT agent, body FROM kudos_entries WHERE agent = ANY($1) ORDER BY agent, seq",
        )
        .bind(&names)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("load"))?;
        let mut rows = Vec::with_capacity(fetched.len());
        for row in fetched {
            let entry = serde_json::from_str::<Entry>(row.get::<&str, _>(1))
                .map_err(json_err("an entry does not decode"))?;
            rows.push((row.get::<String, _>(0), entry));
        }
        Ok(Stored::group(agents, rows))
    }

    async fn append(
        &self,
        agent: &AgentId,
        expected: u64,
        entries: &[Entry],
        holds: &[HoldView],
        reversals: &[ReversalView],
    ) -> Result<u64, LedgerError> {
        let item = AppendItem {
            agent,
            expected,
            entries,
            holds,
            reversals,
        };
        in_transaction!(self, "append", |tx| write_in(&mut tx, &item).await)
    }

    async fn append_many(
        &self,
        batch: &[AppendItem<'_>],
    ) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        // Accounts in a fixed order, so that two batches never wait on each other in a cycle.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| batch[a].agent.cmp(batch[b].agent));
        let unique = order
            .windows(2)
            .all(|w| batch[w[0]].agent != batch[w[1]].agent);
        in_transaction!(self, "append", |tx| {
            if unique {
                write_batch(&mut tx, batch, &order).await
            } else {
                // The same account twice in one batch: the later item must see the earlier one's
                // version, so go one by one.
                let mut out = Vec::with_capacity(batch.len());
                let mut failed = None;
                for item in batch {
                    match write_in(&mut tx, item).await {
                        Ok(v) => out.push(Ok(v)),
                        Err(TxError::Ledger(e @ LedgerError::Conflict { .. })) => out.push(Err(e)),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                match failed {
                    Some(e) => Err(e),
                    None => Ok(out),
                }
            }
        })
    }

    async fn find(&self, id: Uuid) -> Result<Option<AgentId>, LedgerError> {
        let agent: Option<String> =
            sqlx::query_scalar("SELECT agent FROM kudos_entries WHERE id = $1 LIMIT 1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err("find"))?;
        agent.map(agent_id).transpose()
    }

    async fn holds(&self, state: Option<HoldState>) -> Result<Vec<HoldView>, LedgerError> {
        let rows = match state {
            Some(s) => {
                sqlx::query(
                    "SELECT view FROM kudos_holds WHERE kind = 'hold' AND state = $1
                     ORDER BY created_at, txn",
                )
                .bind(s.name())
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT view FROM kudos_holds WHERE kind = 'hold' ORDER BY created_at, txn",
                )
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(store_err("holds"))?;
        decode_holds(&rows)
    }

    async fn holds_made_since(
        &self,
        state: HoldState,
        since: DateTime<Utc>,
    ) -> Result<Vec<HoldView>, LedgerError> {
        let rows = sqlx::query(
            "SELECT view FROM kudos_holds WHERE kind = 'hold' AND state = $1 AND created_at >= $2
             ORDER BY created_at, txn",
        )
        .bind(state.name())
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("holds"))?;
        decode_holds(&rows)
    }

    async fn reversals(
        &self,
        state: Option<ReversalState>,
    ) -> Result<Vec<ReversalView>, LedgerError> {
        let rows = match state {
            Some(s) => {
                sqlx::query(
                    "SELECT view FROM kudos_holds WHERE kind = 'reversal' AND state = $1
                     ORDER BY created_at, txn",
                )
                .bind(s.name())
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT view FROM kudos_holds WHERE kind = 'reversal'
                     ORDER BY created_at, txn",
                )
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(store_err("reversals"))?;
        rows.iter()
            .map(|r| {
                serde_json::from_str::<ReversalView>(r.get::<&str, _>(0))
                    .map_err(json_err("a reversal does not decode"))
            })
            .collect()
    }

    async fn agents(&self) -> Result<Vec<AgentId>, LedgerError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT agent FROM kudos_accounts")
            .fetch_all(&self.pool)
            .await
            .map_err(store_err("agents"))?;
        // Sorted here, by bytes: the database's collation may order text differently.
        let mut agents = rows
            .into_iter()
            .map(agent_id)
            .collect::<Result<Vec<_>, _>>()?;
        agents.sort();
        Ok(agents)
    }
}
