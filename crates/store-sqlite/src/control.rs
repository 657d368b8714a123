//! The programme's controls on SQLite: budget claims and the points each bucket counts (one
//! `BEGIN IMMEDIATE` transaction per batch of claims, so concurrent claims are serialised by
//! the database's write lock), the rewards waiting, the pause switch.

use std::collections::HashMap;

use async_trait::async_trait;
use kudos_core::{AgentId, Day, Points, TxnId};
use kudos_ledger::{
    BudgetClaim, ClaimView, ControlStore, LedgerError, Pause, Waiting, control_text, decide_claims,
};

use crate::{ROWS_PER_INSERT, SqliteStore, marks, store_err};

#[async_trait]
impl ControlStore for SqliteStore {
    async fn claim_budget(&self, claims: &[BudgetClaim]) -> Result<Vec<bool>, LedgerError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let (_turn, mut tx) = self
            .begin_write()
            .await
            .map_err(store_err("claim_budget"))?;
        let txns: Vec<String> = claims.iter().map(|c| c.txn.to_string()).collect();
        let mut known = std::collections::HashSet::new();
        for chunk in txns.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "SELECT txn FROM budget_claims WHERE txn IN ({})",
                marks(chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for txn in chunk {
                query = query.bind(txn);
            }
            known.extend(
                query
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_err("claim_budget"))?,
            );
        }
        let mut buckets: Vec<&str> = claims
            .iter()
            .flat_map(|c| c.limits.iter().map(|l| l.bucket.as_str()))
            .collect();
        buckets.sort_unstable();
        buckets.dedup();
        let mut spent: HashMap<String, i64> = HashMap::new();
        for chunk in buckets.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "SELECT bucket, points FROM budget_spent WHERE bucket IN ({})",
                marks(chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql));
            for bucket in chunk {
                query = query.bind(*bucket);
            }
            spent.extend(
                query
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_err("claim_budget"))?,
            );
        }
        let before = spent.clone();
        let granted = decide_claims(claims, &mut spent, |txn| known.contains(&txn.to_string()));
        let mut added = std::collections::HashSet::new();
        for (claim, ok) in claims.iter().zip(&granted) {
            let txn = claim.txn.to_string();
            if !*ok || known.contains(&txn) || !added.insert(txn.clone()) {
                continue;
            }
            let view = control_text::encode("a budget claim", &ClaimView::of(claim))?;
            sqlx::query("INSERT INTO budget_claims (txn, day, returned, view) VALUES (?, ?, 0, ?)")
                .bind(&txn)
                .bind(claim.day.to_string())
                .bind(view)
                .execute(&mut *tx)
                .await
                .map_err(store_err("claim_budget"))?;
        }
        for (bucket, points) in &spent {
            if before.get(bucket) != Some(points) {
                sqlx::query(
                    "INSERT INTO budget_spent (bucket, points) VALUES (?, ?)
                     ON CONFLICT (bucket) DO UPDATE SET points = excluded.points",
                )
                .bind(bucket)
                .bind(points)
                .execute(&mut *tx)
                .await
                .map_err(store_err("claim_budget"))?;
            }
        }
        tx.commit().await.map_err(store_err("claim_budget"))?;
        Ok(granted)
    }

    async fn return_budget(&self, txns: &[TxnId]) -> Result<u64, LedgerError> {
        let (_turn, mut tx) = self
            .begin_write()
            .await
            .map_err(store_err("return_budget"))?;
        let mut given = 0;
        for chunk in txns.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "UPDATE budget_claims SET returned = 1 WHERE txn IN ({}) AND returned = 0 RETURNING view",
                marks(chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for txn in chunk {
                query = query.bind(txn.to_string());
            }
            let views = query
                .fetch_all(&mut *tx)
                .await
                .map_err(store_err("return_budget"))?;
            for view in views {
                let claim: ClaimView = control_text::decode("a budget claim", &view)?;
                for bucket in &claim.buckets {
                    sqlx::query(
                        "UPDATE budget_spent SET points = MAX(points - ?, 0) WHERE bucket = ?",
                    )
                    .bind(claim.points.get())
                    .bind(bucket)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err("return_budget"))?;
                }
                given += 1;
            }
        }
        tx.commit().await.map_err(store_err("return_budget"))?;
        Ok(given)
    }

    async fn budget_spent(&self, bucket: &str) -> Result<Points, LedgerError> {
        let points: Option<i64> =
            sqlx::query_scalar("SELECT points FROM budget_spent WHERE bucket = ?")
                .bind(bucket)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err("budget_spent"))?;
        Ok(Points::new(points.unwrap_or(0)))
    }

    async fn budget_claims(&self, since: Day) -> Result<Vec<ClaimView>, LedgerError> {
        let rows: Vec<(String, bool)> = sqlx::query_as(
            "SELECT view, returned FROM budget_claims WHERE day >= ? ORDER BY rowid",
        )
        .bind(since.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(store_err("budget_claims"))?;
        rows.into_iter()
            .map(|(view, returned)| control_text::claim(&view, returned))
            .collect()
    }

    async fn waiting(&self) -> Result<Vec<Waiting>, LedgerError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT view FROM waiting ORDER BY since, agent")
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("waiting"))?;
        rows.iter()
            .map(|v| control_text::decode("a waiting reward", v))
            .collect()
    }

    async fn set_waiting(&self, wait: &[Waiting], done: &[AgentId]) -> Result<(), LedgerError> {
        let (_turn, mut tx) = self.begin_write().await.map_err(store_err("set_waiting"))?;
        for agent in done {
            sqlx::query("DELETE FROM waiting WHERE agent = ?")
                .bind(agent.as_str())
                .execute(&mut *tx)
                .await
                .map_err(store_err("set_waiting"))?;
        }
        for w in wait {
            let old: Option<String> =
                sqlx::query_scalar("SELECT since FROM waiting WHERE agent = ?")
                    .bind(w.agent.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_err("set_waiting"))?;
            let since = old
                .and_then(|d| Day::parse(&d).ok())
                .map_or(w.since, |d| d.min(w.since));
            let w = Waiting { since, ..w.clone() };
            let view = control_text::encode("a waiting reward", &w)?;
            sqlx::query(
                "INSERT INTO waiting (agent, since, view) VALUES (?, ?, ?)
                 ON CONFLICT (agent) DO UPDATE SET since = excluded.since, view = excluded.view",
            )
            .bind(w.agent.as_str())
            .bind(since.to_string())
            .bind(view)
            .execute(&mut *tx)
            .await
            .map_err(store_err("set_waiting"))?;
        }
        tx.commit().await.map_err(store_err("set_waiting"))
    }

    async fn pause_state(&self) -> Result<Option<Pause>, LedgerError> {
        let value: Option<String> =
            sqlx::query_scalar("SELECT value FROM controls WHERE name = 'pause'")
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err("pause_state"))?;
        control_text::pause(value)
    }

    async fn set_pause(&self, pause: Option<&Pause>) -> Result<Option<Pause>, LedgerError> {
        let (_turn, mut tx) = self.begin_write().await.map_err(store_err("set_pause"))?;
        let old: Option<String> =
            sqlx::query_scalar("SELECT value FROM controls WHERE name = 'pause'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_err("set_pause"))?;
        match pause {
            Some(pause) => {
                let value = control_text::encode("the pause switch", pause)?;
                sqlx::query(
                    "INSERT INTO controls (name, value) VALUES ('pause', ?)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(store_err("set_pause"))?;
            }
            None => {
                sqlx::query("DELETE FROM controls WHERE name = 'pause'")
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err("set_pause"))?;
            }
        }
        tx.commit().await.map_err(store_err("set_pause"))?;
        control_text::pause(old)
    }

    async fn try_lock(
        &self,
        name: &str,
        owner: &str,
        length: std::time::Duration,
    ) -> Result<bool, LedgerError> {
        let now = self.clock.now();
        let until = now + chrono::TimeDelta::from_std(length).unwrap_or(chrono::TimeDelta::MAX / 2);
        let _turn = self.write_turn().await;
        let granted: Option<String> = sqlx::query_scalar(
            "INSERT INTO locks (name, owner, until) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
             WHERE locks.until <= ? OR locks.owner = excluded.owner
             RETURNING owner",
        )
        .bind(name)
        .bind(owner)
        .bind(crate::ts(until))
        .bind(crate::ts(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("try_lock"))?;
        Ok(granted.is_some())
    }

    async fn unlock(&self, name: &str, owner: &str) -> Result<(), LedgerError> {
        let _turn = self.write_turn().await;
        sqlx::query("DELETE FROM locks WHERE name = ? AND owner = ?")
            .bind(name)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(store_err("unlock"))?;
        Ok(())
    }
}
