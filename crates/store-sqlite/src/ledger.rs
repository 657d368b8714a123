//! The ledger's port on SQLite: entries keyed by (agent, seq) and the hold index.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::{AgentId, TxnId};
use kudos_ledger::{
    AppendItem, Entry, HoldState, HoldView, LedgerError, LedgerStore, Op, ReversalState,
    ReversalView, Stored,
};
use sqlx::{ConnectOptions as _, Connection as _, Row, SqliteConnection};
use uuid::Uuid;

use crate::{
    HOLD_ROWS_PER_INSERT, ROWS_PER_INSERT, SqliteStore, json_err, marks, placeholders, store_err,
    ts,
};

/// A hold index row to write (a hold's, or a reversal's: `kind`).
struct HoldRow {
    txn: String,
    agent: String,
    kind: &'static str,
    state: &'static str,
    /// Whether the ledger says the hold is unresolved (what leases filter on).
    unresolved: bool,
    created_at: String,
    view: String,
}

/// The room an entry's body starts with (an accrual's is about 270 bytes).
const BODY_CAPACITY: usize = 320;

/// Entries encoded between two yields to the runtime while the version query runs.
const ENCODE_STEP: usize = 64;

/// Each item's entry bodies, in order: encoded while the version query runs on SQLite's
/// connection thread, yielding every [`ENCODE_STEP`] entries so that the query's next step
/// is sent as soon as the one before it answers.
async fn encode_bodies(batch: &[AppendItem<'_>]) -> Result<Vec<Vec<String>>, LedgerError> {
    let mut bodies = Vec::with_capacity(batch.len());
    let mut encoded = 0usize;
    for item in batch {
        let mut item_bodies = Vec::with_capacity(item.entries.len());
        for entry in item.entries {
            // An accrual's body is about 270 bytes: one allocation, not one per doubling.
            let mut body = Vec::with_capacity(BODY_CAPACITY);
            serde_json::to_writer(&mut body, entry)
                .map_err(json_err("an entry does not encode"))?;
            item_bodies.push(
                String::from_utf8(body)
                    .map_err(|e| LedgerError::store("sqlite: an entry's body is not UTF-8", e))?,
            );
            encoded += 1;
            if encoded.is_multiple_of(ENCODE_STEP) {
                tokio::task::yield_now().await;
            }
        }
        bodies.push(item_bodies);
    }
    Ok(bodies)
}

/// Each account's version (its entry count), in a few queries inside the write transaction.
async fn versions_of(
    tx: &mut SqliteConnection,
    batch: &[AppendItem<'_>],
) -> Result<HashMap<String, i64>, LedgerError> {
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
    Ok(versions)
}

/// The versions a batch is written at.
enum Versions {
    /// Counted inside the write transaction ([`versions_of`]; accounts with no entries absent).
    Counted(HashMap<String, i64>),
    /// As the first item for each account expects, for the `(agent, seq)` key to prove: a
    /// stale item's first entry meets a place already taken ([`Placed::Taken`]), and an item
    /// from the future was refused before ([`follow_on`]).
    Expected,
}

/// What writing a batch came to.
enum Placed {
    /// Written (uncommitted): each item's new version, or its `Conflict`.
    Written(Vec<Result<u64, LedgerError>>),
    /// An entry's place `(agent, seq)` was taken: an item was stale. The transaction holds part
    /// of the batch and is to be rolled back.
    Taken,
}

/// Whether SQLite refused a row for a unique key (an entry's `(agent, seq)` taken).
fn is_taken(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// Whether the batch can be written at the versions its items expect ([`Versions::Expected`]):
/// every item has entries, and each account that the first item for it expects to have
/// entries has its last one (place `expected - 1`), so that none is behind. Point lookups on
/// the `(agent, seq)` key, however long an account's history, and none for new accounts.
async fn follow_on(
    tx: &mut SqliteConnection,
    batch: &[AppendItem<'_>],
) -> Result<bool, LedgerError> {
    let mut seen = HashSet::with_capacity(batch.len());
    let mut last: Vec<(&str, i64)> = Vec::new();
    for item in batch {
        if item.entries.is_empty() {
            return Ok(false);
        }
        if !seen.insert(item.agent.as_str()) {
            continue;
        }
        match i64::try_from(item.expected) {
            Ok(0) => {}
            Ok(expected) => last.push((item.agent.as_str(), expected - 1)),
            Err(_) => return Ok(false),
        }
    }
    for chunk in last.chunks(PAIRS_PER_QUERY) {
        let sql = format!(
            "SELECT COUNT(*) FROM (VALUES {}) AS v
             JOIN entries e ON e.agent = v.column1 AND e.seq = v.column2",
            placeholders(chunk.len(), 2)
        );
        let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
        for (agent, seq) in chunk {
            query = query.bind(*agent).bind(*seq);
        }
        let found = query
            .fetch_one(&mut *tx)
            .await
            .map_err(store_err("append"))?;
        if usize::try_from(found).ok() != Some(chunk.len()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// (agent, seq) pairs per lookup in [`follow_on`] (two parameters each, under SQLite's oldest
/// limit of 999 parameters a statement).
const PAIRS_PER_QUERY: usize = 499;

/// One multi-row `INSERT` of entry rows (agent, seq, id, body), its values bound by move;
/// `None` for no rows.
fn entries_insert(
    rows: Vec<(&str, i64, Uuid, String)>,
) -> Option<sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>> {
    if rows.is_empty() {
        return None;
    }
    let sql = format!(
        "INSERT INTO entries (agent, seq, id, body) VALUES {}",
        placeholders(rows.len(), 4)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (agent, seq, id, body) in rows {
        query = query
            .bind(agent.to_owned())
            .bind(seq)
            .bind(id.as_bytes().to_vec())
            .bind(body);
    }
    Some(query)
}

/// Writes a batch inside an open write transaction: each item whose account is still at the
/// version it expects (by `versions`, and for a later item of the same account by the items
/// before it) is written; the others get [`LedgerError::Conflict`] and write nothing. `bodies`
/// are each item's entries encoded ([`encode_bodies`]). Entries and hold index rows go in
/// multi-row statements; the next statement's values are bound while SQLite runs the one before.
async fn write_batch(
    tx: &mut SqliteConnection,
    batch: &[AppendItem<'_>],
    versions: Versions,
    bodies: Vec<Vec<String>>,
) -> Result<Placed, LedgerError> {
    let mut out = Vec::with_capacity(batch.len());
    // Each account's version after the items written so far.
    let mut after: HashMap<&str, i64> = HashMap::with_capacity(batch.len());
    let mut entries: Vec<(&str, i64, Uuid, String)> =
        Vec::with_capacity(bodies.iter().map(Vec::len).sum());
    // Adjustments' ids, which `find` answers from a table of their own.
    let mut adjustments: Vec<(Uuid, &str)> = Vec::new();
    let mut holds: Vec<HoldRow> = Vec::new();
    // A hold written twice in one batch is written once, as its last view.
    let mut hold_at: HashMap<TxnId, usize> = HashMap::new();
    for (item, item_bodies) in batch.iter().zip(bodies) {
        let current = match (after.get(item.agent.as_str()), &versions) {
            (Some(&version), _) => version,
            (None, Versions::Counted(counted)) => {
                counted.get(item.agent.as_str()).copied().unwrap_or(0)
            }
            (None, Versions::Expected) => i64::try_from(item.expected).unwrap_or(-1),
        };
        let conflict = || LedgerError::Conflict {
            agent: item.agent.clone(),
            expected: item.expected,
        };
        if u64::try_from(current).ok() != Some(item.expected) {
            out.push(Err(conflict()));
            continue;
        }
        let mut seq = current;
        for (entry, body) in item.entries.iter().zip(item_bodies) {
            entries.push((item.agent.as_str(), seq, entry.id, body));
            if matches!(entry.op, Op::Adjustment { .. }) {
                adjustments.push((entry.id, item.agent.as_str()));
            }
            seq += 1;
        }
        for hold in item.holds {
            let row = HoldRow {
                txn: hold.txn.to_string(),
                agent: hold.agent.to_string(),
                kind: "hold",
                state: hold.state.name(),
                unresolved: hold.is_unresolved(),
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
        for reversal in item.reversals {
            let row = HoldRow {
                txn: reversal.txn.to_string(),
                agent: reversal.agent.to_string(),
                kind: "reversal",
                state: reversal.state.name(),
                unresolved: reversal.is_unresolved(),
                created_at: ts(reversal.created_at),
                view: serde_json::to_string(reversal)
                    .map_err(json_err("a reversal does not encode"))?,
            };
            match hold_at.get(&reversal.txn) {
                Some(&i) => holds[i] = row,
                None => {
                    hold_at.insert(reversal.txn, holds.len());
                    holds.push(row);
                }
            }
        }
        // A second item for the same account in this batch sees the first one's entries.
        after.insert(item.agent.as_str(), seq);
        out.push(u64::try_from(seq).map_err(|_| conflict()));
    }
    // Each INSERT's values are bound while the one before it runs.
    let mut rows = entries.into_iter();
    let mut next = entries_insert(rows.by_ref().take(ROWS_PER_INSERT).collect());
    while let Some(query) = next.take() {
        let (done, following) = futures_util::future::join(query.execute(&mut *tx), async {
            entries_insert(rows.by_ref().take(ROWS_PER_INSERT).collect())
        })
        .await;
        match done {
            Ok(_) => next = following,
            Err(e) if is_taken(&e) => return Ok(Placed::Taken),
            Err(e) => return Err(store_err("append")(e)),
        }
    }
    for chunk in adjustments.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT OR IGNORE INTO entry_ids (id, agent) VALUES {}",
            placeholders(chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, agent) in chunk {
            query = query.bind(id.as_bytes().as_slice()).bind(*agent);
        }
        query.execute(&mut *tx).await.map_err(store_err("append"))?;
    }
    // The rows' strings are moved into the statement, not copied (a view is a hold's JSON).
    let mut holds = holds.into_iter().peekable();
    while holds.peek().is_some() {
        let chunk: Vec<HoldRow> = holds.by_ref().take(HOLD_ROWS_PER_INSERT).collect();
        let sql = format!(
            "INSERT INTO holds (txn, agent, kind, state, unresolved, created_at, view) VALUES {}
             ON CONFLICT (txn) DO UPDATE SET state = excluded.state,
                 unresolved = excluded.unresolved, view = excluded.view",
            placeholders(chunk.len(), 7)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for h in chunk {
            query = query
                .bind(h.txn)
                .bind(h.agent)
                .bind(h.kind)
                .bind(h.state)
                .bind(h.unresolved)
                .bind(h.created_at)
                .bind(h.view);
        }
        query.execute(&mut *tx).await.map_err(store_err("append"))?;
    }
    Ok(Placed::Written(out))
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
        reversals: &[ReversalView],
    ) -> Result<u64, LedgerError> {
        let item = AppendItem {
            agent,
            expected,
            entries,
            holds,
            reversals,
        };
        self.append_many(&[item]).await?.pop().unwrap_or_else(|| {
            Err(LedgerError::Store {
                message: "sqlite: append gave no result for its item".into(),
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
        // The bodies are encoded while the turn and a connection are awaited.
        let (locked, bodies) = futures_util::future::join(
            async {
                let turn = self.write_turn().await;
                let connection = self.pool.acquire().await.map_err(store_err("append"))?;
                Ok::<_, LedgerError>((turn, connection))
            },
            encode_bodies(batch),
        )
        .await;
        let (_turn, mut connection) = locked?;
        append_in(&mut connection, batch, bodies?).await
    }

    async fn append_many_deferred(
        &self,
        batch: &[AppendItem<'_>],
    ) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        // Committed by the connection with `synchronous = NORMAL`: the log is not synced at the
        // commit, but by the next durable commit of any connection (the same WAL file). The
        // bodies are encoded while the turn is awaited (another batch being written).
        let (mut turn, bodies) =
            futures_util::future::join(self.write_turn(), encode_bodies(batch)).await;
        let bodies = bodies?;
        let connection = match turn.take() {
            Some(connection) => connection,
            None => self
                .deferred
                .connect()
                .await
                .map_err(store_err("open the deferred writer"))?,
        };
        // Kept for the next batch unless it failed: a connection that met an error is closed.
        let connection = turn.insert(connection);
        let written = append_in(connection, batch, bodies).await;
        if written.is_err() {
            turn.take();
        }
        written
    }

    async fn find(&self, id: Uuid) -> Result<Option<AgentId>, LedgerError> {
        // Holds and reversals from the hold index, adjustments from their own; any other id
        // (an accrual's key, a transition's, a reversal older than the hold index's reversal
        // rows) by a scan of the entries: no index is kept over every entry id (schema 6).
        let bytes = id.as_bytes().as_slice();
        let mut agent = self
            .agent_where("SELECT agent FROM holds WHERE txn = ?", id.to_string())
            .await?;
        if agent.is_none() {
            agent = self
                .agent_where("SELECT agent FROM entry_ids WHERE id = ?", bytes)
                .await?;
        }
        if agent.is_none() {
            agent = self
                .agent_where("SELECT agent FROM entries WHERE id = ? LIMIT 1", bytes)
                .await?;
        }
        agent
            .map(|a| {
                AgentId::new(a)
                    .map_err(|e| LedgerError::store("sqlite: a stored agent id is invalid", e))
            })
            .transpose()
    }

    async fn holds(&self, state: Option<HoldState>) -> Result<Vec<HoldView>, LedgerError> {
        let rows = match state {
            Some(s) => sqlx::query(
                "SELECT view FROM holds WHERE kind = 'hold' AND state = ? ORDER BY created_at, txn",
            )
            .bind(s.name())
            .fetch_all(&self.pool)
            .await,
            None => {
                sqlx::query("SELECT view FROM holds WHERE kind = 'hold' ORDER BY created_at, txn")
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
            "SELECT view FROM holds WHERE kind = 'hold' AND state = ? AND created_at >= ?
             ORDER BY created_at, txn",
        )
        .bind(state.name())
        .bind(ts(since))
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
                    "SELECT view FROM holds WHERE kind = 'reversal' AND state = ?
                     ORDER BY created_at, txn",
                )
                .bind(s.name())
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT view FROM holds WHERE kind = 'reversal' ORDER BY created_at, txn",
                )
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(store_err("reversals"))?;
        rows.iter()
            .map(|row| {
                serde_json::from_str::<ReversalView>(row.get::<&str, _>(0))
                    .map_err(json_err("a reversal does not decode"))
            })
            .collect()
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

/// Appends `batch` in a write transaction of `connection` (this process's turn held), its
/// entries' `bodies` already encoded. The batch is written first at the versions its items
/// expect, which the `(agent, seq)` key proves ([`Versions::Expected`]); if an item was stale,
/// that is undone and the batch written again at the versions counted, each stale item a
/// `Conflict`. Either way the versions are checked inside the transaction that writes.
async fn append_in(
    connection: &mut SqliteConnection,
    batch: &[AppendItem<'_>],
    bodies: Vec<Vec<String>>,
) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
    let mut tx = connection
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_err("append"))?;
    let bodies = if follow_on(&mut tx, batch).await? {
        match write_batch(&mut tx, batch, Versions::Expected, bodies).await? {
            Placed::Written(out) => {
                tx.commit().await.map_err(store_err("append"))?;
                return Ok(out);
            }
            Placed::Taken => {
                tx.rollback().await.map_err(store_err("append"))?;
                tx = connection
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(store_err("append"))?;
                encode_bodies(batch).await?
            }
        }
    } else {
        bodies
    };
    let versions = versions_of(&mut tx, batch).await?;
    match write_batch(&mut tx, batch, Versions::Counted(versions), bodies).await? {
        Placed::Written(out) => {
            tx.commit().await.map_err(store_err("append"))?;
            Ok(out)
        }
        Placed::Taken => Err(LedgerError::Store {
            message: "sqlite: an entry's place was taken at the version counted in the same \
                      transaction (the account's entries are not numbered 0, 1, 2, …)"
                .into(),
            source: None,
        }),
    }
}

/// The port's helpers.
impl SqliteStore {
    /// The `agent` the one-parameter query `sql` finds for `key`, if any (`find`'s lookups).
    async fn agent_where<'q, T>(
        &self,
        sql: &'static str,
        key: T,
    ) -> Result<Option<String>, LedgerError>
    where
        T: 'q + Send + sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        sqlx::query_scalar(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err("find"))
    }
}

fn decode_holds(rows: &[sqlx::sqlite::SqliteRow]) -> Result<Vec<HoldView>, LedgerError> {
    rows.iter()
        .map(|row| {
            serde_json::from_str::<HoldView>(row.get::<&str, _>(0))
                .map_err(json_err("a hold does not decode"))
        })
        .collect()
}
