//! The ledger's port on SQLite: entries keyed by (agent, seq) and the hold index.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::AgentId;
use kudos_ledger::{
    AppendItem, Entry, HoldState, HoldView, LedgerError, LedgerStore, ReversalState, ReversalView,
    Stored,
};
use sqlx::Row;
use uuid::Uuid;

use crate::{SqliteStore, Writer, json_err, marks, store_err, ts};

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
        self.append_on(Writer::Durable, batch).await
    }

    async fn append_many_deferred(
        &self,
        batch: &[AppendItem<'_>],
    ) -> Result<Vec<Result<u64, LedgerError>>, LedgerError> {
        // Committed by the connection with `synchronous = NORMAL`: the log is not synced at the
        // commit, but by the next durable commit of any connection (the same WAL file).
        self.append_on(Writer::Deferred, batch).await
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
