//! How the ledger's appends are written: a batch's rows, the versions they are written at, and
//! the commands that carry them to SQLite's connection thread.
//!
//! A batch is written first at the versions its items expect. The `(agent, seq)` key proves
//! them: a stale item's first entry meets a place already taken, and an item ahead of its
//! account is found beforehand by a point lookup of its last expected entry. Everything is
//! encoded and bound before this process's turn to write is taken, and the rows go in at most
//! two commands (each a round trip to the connection's thread, which waits idle in between).
//! If an item was stale, that is undone and the batch written again at the versions counted
//! inside the transaction, each stale item a `Conflict`.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use kudos_core::{AgentId, TxnId};
use kudos_ledger::{AppendItem, LedgerError, Op};
use sqlx::{ConnectOptions as _, Connection as _, Row, SqliteConnection};
use uuid::Uuid;

use crate::{
    HOLD_ROWS_PER_INSERT, ROWS_PER_INSERT, SqliteStore, Writer, json_err, marks, placeholders,
    store_err, ts,
};

/// A command to SQLite's connection: one or more statements, with their values.
type Command = sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// What [`LedgerStore::append_many`](kudos_ledger::LedgerStore::append_many) answers.
type Answers = Vec<Result<u64, LedgerError>>;

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

/// Each item's entry bodies, in order.
fn encode_bodies(batch: &[AppendItem<'_>]) -> Result<Vec<Vec<String>>, LedgerError> {
    batch
        .iter()
        .map(|item| {
            item.entries
                .iter()
                .map(|entry| {
                    // An accrual's body is about 270 bytes: one allocation, not one per doubling.
                    let mut body = Vec::with_capacity(BODY_CAPACITY);
                    serde_json::to_writer(&mut body, entry)
                        .map_err(json_err("an entry does not encode"))?;
                    String::from_utf8(body)
                        .map_err(|e| LedgerError::store("sqlite: an entry's body is not UTF-8", e))
                })
                .collect()
        })
        .collect()
}

/// The versions a batch is written at.
enum Versions {
    /// Counted inside the write transaction ([`versions_of`]; accounts with no entries absent).
    Counted(HashMap<String, i64>),
    /// As the first item for each account expects, for the `(agent, seq)` key to prove.
    Expected,
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

/// (agent, seq) pairs per lookup in [`follow_on`] (two parameters each, under SQLite's oldest
/// limit of 999 parameters a statement).
const PAIRS_PER_QUERY: usize = 499;

/// Whether the batch can be written at the versions its items expect ([`Versions::Expected`]):
/// every item has entries, and each account that the first item for it expects to have
/// entries has its last one (place `expected - 1`), so that none is behind. Point lookups on
/// the `(agent, seq)` key, however long an account's history, and none for new accounts. An
/// account's entries are never removed, so what this finds still holds inside the write
/// transaction: it is asked on a reader, before the turn to write.
async fn follow_on(pool: &sqlx::SqlitePool, batch: &[AppendItem<'_>]) -> Result<bool, LedgerError> {
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
        let found = query.fetch_one(pool).await.map_err(store_err("append"))?;
        if usize::try_from(found).ok() != Some(chunk.len()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A batch's rows: what each item comes to, and the rows of those written.
struct Rows<'a> {
    answers: Answers,
    /// (agent, seq, id, body).
    entries: Vec<(&'a str, i64, Uuid, String)>,
    /// Adjustments' ids, which `find` answers from a table of their own.
    adjustments: Vec<(Uuid, &'a str)>,
    holds: Vec<HoldRow>,
}

/// The batch's rows at `versions`: each item whose account is at the version it expects (by
/// `versions`, and for a later item of the same account by the items before it) is written;
/// the others get [`LedgerError::Conflict`] and write nothing. `bodies` are each item's
/// entries encoded ([`encode_bodies`]).
fn rows_of<'a>(
    batch: &'a [AppendItem<'a>],
    versions: &Versions,
    bodies: Vec<Vec<String>>,
) -> Result<Rows<'a>, LedgerError> {
    let mut rows = Rows {
        answers: Vec::with_capacity(batch.len()),
        entries: Vec::with_capacity(bodies.iter().map(Vec::len).sum()),
        adjustments: Vec::new(),
        holds: Vec::new(),
    };
    // Each account's version after the items written so far.
    let mut after: HashMap<&str, i64> = HashMap::with_capacity(batch.len());
    // A hold written twice in one batch is written once, as its last view.
    let mut hold_at: HashMap<TxnId, usize> = HashMap::new();
    for (item, item_bodies) in batch.iter().zip(bodies) {
        let current = match (after.get(item.agent.as_str()), versions) {
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
            rows.answers.push(Err(conflict()));
            continue;
        }
        let mut seq = current;
        for (entry, body) in item.entries.iter().zip(item_bodies) {
            rows.entries
                .push((item.agent.as_str(), seq, entry.id, body));
            if matches!(entry.op, Op::Adjustment { .. }) {
                rows.adjustments.push((entry.id, item.agent.as_str()));
            }
            seq += 1;
        }
        let views = item.holds.iter().map(|hold| {
            hold_row(
                serde_json::to_string(hold),
                (hold.txn, &hold.agent, "hold"),
                hold.state.name(),
                hold.is_unresolved(),
                hold.created_at,
            )
        });
        let reversals = item.reversals.iter().map(|reversal| {
            hold_row(
                serde_json::to_string(reversal),
                (reversal.txn, &reversal.agent, "reversal"),
                reversal.state.name(),
                reversal.is_unresolved(),
                reversal.created_at,
            )
        });
        for view in views.chain(reversals) {
            let (txn, row) = view?;
            match hold_at.get(&txn) {
                Some(&i) => rows.holds[i] = row,
                None => {
                    hold_at.insert(txn, rows.holds.len());
                    rows.holds.push(row);
                }
            }
        }
        // A second item for the same account in this batch sees the first one's entries.
        after.insert(item.agent.as_str(), seq);
        rows.answers
            .push(u64::try_from(seq).map_err(|_| conflict()));
    }
    Ok(rows)
}

/// A hold index row for `view` (a hold's or a reversal's JSON), with its transaction id.
fn hold_row(
    view: serde_json::Result<String>,
    (txn, agent, kind): (TxnId, &AgentId, &'static str),
    state: &'static str,
    unresolved: bool,
    created_at: DateTime<Utc>,
) -> Result<(TxnId, HoldRow), LedgerError> {
    Ok((
        txn,
        HoldRow {
            txn: txn.to_string(),
            agent: agent.to_string(),
            kind,
            state,
            unresolved,
            created_at: ts(created_at),
            view: view.map_err(json_err("a hold index row does not encode"))?,
        },
    ))
}

/// A full-size `INSERT` of entries ([`ROWS_PER_INSERT`] rows).
static FULL_INSERT: LazyLock<String> = LazyLock::new(|| entries_insert(ROWS_PER_INSERT));

/// An `INSERT` of `rows` entries.
fn entries_insert(rows: usize) -> String {
    format!(
        "INSERT INTO entries (agent, seq, id, body) VALUES {};\n",
        placeholders(rows, 4)
    )
}

/// The rows as at most two commands: the full-size entry statements (after `BEGIN IMMEDIATE`
/// when `transaction`), then the rest — the last entry statement, the adjustments' ids and the
/// hold index rows (then `COMMIT`). Each command's text depends only on how many statements
/// of each kind and size it holds, so that sqlx's statement cache keeps them prepared from one
/// batch to the next: a 190-row `INSERT` costs about half as much to prepare as to run. The
/// values are moved in, not copied.
fn commands(rows: Rows<'_>, transaction: bool) -> (Vec<Command>, Answers) {
    let Rows {
        answers,
        entries,
        adjustments,
        holds,
    } = rows;
    let full = entries.len() / ROWS_PER_INSERT;
    let rest = entries.len() % ROWS_PER_INSERT;
    let mut head = String::new();
    let mut tail = String::new();
    if transaction {
        head.push_str("BEGIN IMMEDIATE;\n");
    }
    for _ in 0..full {
        head.push_str(&FULL_INSERT);
    }
    if rest > 0 {
        tail.push_str(&entries_insert(rest));
    }
    for chunk in adjustments.chunks(ROWS_PER_INSERT) {
        tail.push_str(&format!(
            "INSERT OR IGNORE INTO entry_ids (id, agent) VALUES {};\n",
            placeholders(chunk.len(), 2)
        ));
    }
    for chunk in holds.chunks(HOLD_ROWS_PER_INSERT) {
        tail.push_str(&format!(
            "INSERT INTO holds (txn, agent, kind, state, unresolved, created_at, view) VALUES {}
             ON CONFLICT (txn) DO UPDATE SET state = excluded.state,
                 unresolved = excluded.unresolved, view = excluded.view;\n",
            placeholders(chunk.len(), 7)
        ));
    }
    if transaction {
        tail.push_str("COMMIT;\n");
    }
    // A head of `BEGIN` alone goes with the tail: one round trip.
    if full == 0 {
        head.push_str(&tail);
        tail.clear();
    }
    // Without a transaction around them, no statements are no command.
    if head.is_empty() {
        return (Vec::new(), answers);
    }
    let mut entries = entries.into_iter();
    let mut first = sqlx::query(sqlx::AssertSqlSafe(head));
    for (agent, seq, id, body) in entries.by_ref().take(full * ROWS_PER_INSERT) {
        first = bind_entry(first, agent, seq, id, body);
    }
    let mut out = Vec::with_capacity(2);
    // The rest of the values go in the last command.
    let mut last = if tail.is_empty() {
        first
    } else {
        out.push(first);
        sqlx::query(sqlx::AssertSqlSafe(tail))
    };
    for (agent, seq, id, body) in entries {
        last = bind_entry(last, agent, seq, id, body);
    }
    for (id, agent) in adjustments {
        last = last.bind(id.as_bytes().to_vec()).bind(agent.to_owned());
    }
    for h in holds {
        last = last
            .bind(h.txn)
            .bind(h.agent)
            .bind(h.kind)
            .bind(h.state)
            .bind(h.unresolved)
            .bind(h.created_at)
            .bind(h.view);
    }
    out.push(last);
    (out, answers)
}

/// `query` with an entry row's values bound (moved in; the agent and the id copied).
fn bind_entry(query: Command, agent: &str, seq: i64, id: Uuid, body: String) -> Command {
    query
        .bind(agent.to_owned())
        .bind(seq)
        .bind(id.as_bytes().to_vec())
        .bind(body)
}

/// A batch ready to write.
enum Prepared {
    /// Its commands at the versions its items expect, in a transaction of their own.
    Expected(Vec<Command>, Answers),
    /// To be written at the versions counted (an item is behind, or has no entries), with
    /// its entries' bodies.
    Counted(Vec<Vec<String>>),
}

impl SqliteStore {
    /// Appends `batch` on `writer`'s connection, as this module says.
    pub(crate) async fn append_on(
        &self,
        writer: Writer,
        batch: &[AppendItem<'_>],
    ) -> Result<Answers, LedgerError> {
        let bodies = encode_bodies(batch)?;
        let prepared = if follow_on(&self.pool, batch).await? {
            let (commands, answers) = commands(rows_of(batch, &Versions::Expected, bodies)?, true);
            Prepared::Expected(commands, answers)
        } else {
            Prepared::Counted(bodies)
        };
        let mut turn = self.write_turn().await;
        let slot = turn.connection(writer);
        let mut connection = match slot.take() {
            Some(connection) => connection,
            None => self
                .writer_options(writer)
                .connect()
                .await
                .map_err(store_err("open a writer"))?,
        };
        let written = write(&mut connection, batch, prepared).await;
        // A connection that met an error is closed (rolling back what it had begun).
        if written.is_ok() {
            *turn.connection(writer) = Some(connection);
            drop(turn);
            self.checkpoints
                .appended(batch.iter().map(|item| item.entries.len()).sum());
        }
        written
    }
}

/// Writes a prepared batch on `connection`, this process's turn to write held.
async fn write(
    connection: &mut SqliteConnection,
    batch: &[AppendItem<'_>],
    prepared: Prepared,
) -> Result<Answers, LedgerError> {
    let bodies = match prepared {
        Prepared::Expected(commands, answers) => {
            let mut taken = false;
            for command in commands {
                match command.execute(&mut *connection).await {
                    Ok(_) => {}
                    Err(e) if is_taken(&e) => {
                        taken = true;
                        break;
                    }
                    Err(e) => return Err(store_err("append")(e)),
                }
            }
            if !taken {
                return Ok(answers);
            }
            // The commands stopped at the taken place, inside their transaction.
            sqlx::query("ROLLBACK")
                .execute(&mut *connection)
                .await
                .map_err(store_err("append"))?;
            encode_bodies(batch)?
        }
        Prepared::Counted(bodies) => bodies,
    };
    let mut tx = connection
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_err("append"))?;
    let versions = versions_of(&mut tx, batch).await?;
    let (commands, answers) =
        commands(rows_of(batch, &Versions::Counted(versions), bodies)?, false);
    for command in commands {
        command.execute(&mut *tx).await.map_err(|e| {
            if is_taken(&e) {
                LedgerError::store(
                    "sqlite: an entry's place was taken at the version counted in the same \
                     transaction (the account's entries are not numbered 0, 1, 2, …)",
                    e,
                )
            } else {
                store_err("append")(e)
            }
        })?;
    }
    tx.commit().await.map_err(store_err("append"))?;
    Ok(answers)
}

/// Whether SQLite refused a row for a unique key (an entry's `(agent, seq)` taken).
fn is_taken(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}
