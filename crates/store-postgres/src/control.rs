//! The programme's controls on PostgreSQL: budget claims and the points each bucket counts
//! (every claim and give-back in a transaction under one advisory lock, so workers on one
//! database never take a bucket past its limit between them), the rewards waiting, the pause
//! switch.

use std::collections::HashMap;

use async_trait::async_trait;
use kudos_core::{AgentId, Day, Points, TxnId};
use kudos_ledger::{
    BudgetClaim, ClaimView, ControlStore, LedgerError, Pause, Waiting, control_text, decide_claims,
};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{PostgresStore, store_err};

/// The advisory lock every budget transaction takes ("kudos" and 1): claims and give-backs
/// from every worker go one at a time. Advisory locks need no grant.
const BUDGET_LOCK: i64 = 0x6b75_646f_7300_0001;

impl PostgresStore {
    async fn budget_tx(&self, what: &str) -> Result<Transaction<'static, Postgres>, LedgerError> {
        let mut tx = self.pool.begin().await.map_err(store_err(what))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(BUDGET_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(store_err(what))?;
        Ok(tx)
    }
}

#[async_trait]
impl ControlStore for PostgresStore {
    async fn claim_budget(&self, claims: &[BudgetClaim]) -> Result<Vec<bool>, LedgerError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let what = "claim_budget";
        let mut tx = self.budget_tx(what).await?;
        let txns: Vec<Uuid> = claims.iter().map(|c| *c.txn.as_uuid()).collect();
        let known: std::collections::HashSet<Uuid> =
            sqlx::query_scalar("SELECT txn FROM kudos_budget_claims WHERE txn = ANY($1)")
                .bind(&txns)
                .fetch_all(&mut *tx)
                .await
                .map_err(store_err(what))?
                .into_iter()
                .collect();
        let mut buckets: Vec<String> = claims
            .iter()
            .flat_map(|c| c.limits.iter().map(|l| l.bucket.clone()))
            .collect();
        buckets.sort_unstable();
        buckets.dedup();
        let mut spent: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
            "SELECT bucket, points FROM kudos_budget_spent WHERE bucket = ANY($1)",
        )
        .bind(&buckets)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_err(what))?
        .into_iter()
        .collect();
        let before = spent.clone();
        let granted = decide_claims(claims, &mut spent, |txn| known.contains(txn.as_uuid()));
        let (mut c_txn, mut c_day, mut c_view) = (Vec::new(), Vec::new(), Vec::new());
        let mut added = std::collections::HashSet::new();
        for (claim, ok) in claims.iter().zip(&granted) {
            let txn = *claim.txn.as_uuid();
            if !*ok || known.contains(&txn) || !added.insert(txn) {
                continue;
            }
            c_txn.push(txn);
            c_day.push(claim.day.to_string());
            c_view.push(control_text::encode(
                "a budget claim",
                &ClaimView::of(claim),
            )?);
        }
        if !c_txn.is_empty() {
            sqlx::query(
                "INSERT INTO kudos_budget_claims (txn, day, returned, view)
                 SELECT t, d, FALSE, v FROM UNNEST($1::UUID[], $2::TEXT[], $3::TEXT[]) AS u(t, d, v)",
            )
            .bind(&c_txn)
            .bind(&c_day)
            .bind(&c_view)
            .execute(&mut *tx)
            .await
            .map_err(store_err(what))?;
        }
        let (mut s_bucket, mut s_points) = (Vec::new(), Vec::new());
        for (bucket, points) in &spent {
            if before.get(bucket) != Some(points) {
                s_bucket.push(bucket.clone());
                s_points.push(*points);
            }
        }
        if !s_bucket.is_empty() {
            sqlx::query(
                "INSERT INTO kudos_budget_spent (bucket, points)
                 SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[])
                 ON CONFLICT (bucket) DO UPDATE SET points = excluded.points",
            )
            .bind(&s_bucket)
            .bind(&s_points)
            .execute(&mut *tx)
            .await
            .map_err(store_err(what))?;
        }
        tx.commit().await.map_err(store_err(what))?;
        Ok(granted)
    }

    async fn return_budget(&self, txns: &[TxnId]) -> Result<u64, LedgerError> {
        if txns.is_empty() {
            return Ok(0);
        }
        let what = "return_budget";
        let mut tx = self.budget_tx(what).await?;
        let ids: Vec<Uuid> = txns.iter().map(|t| *t.as_uuid()).collect();
        let views: Vec<String> = sqlx::query_scalar(
            "UPDATE kudos_budget_claims SET returned = TRUE
             WHERE txn = ANY($1) AND NOT returned RETURNING view",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_err(what))?;
        let mut back: HashMap<String, i64> = HashMap::new();
        for view in &views {
            let claim: ClaimView = control_text::decode("a budget claim", view)?;
            for bucket in claim.buckets {
                *back.entry(bucket).or_insert(0) += claim.points.get();
            }
        }
        let (buckets, points): (Vec<String>, Vec<i64>) = back.into_iter().unzip();
        if !buckets.is_empty() {
            sqlx::query(
                "UPDATE kudos_budget_spent s SET points = GREATEST(s.points - u.p, 0)
                 FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS u(b, p) WHERE s.bucket = u.b",
            )
            .bind(&buckets)
            .bind(&points)
            .execute(&mut *tx)
            .await
            .map_err(store_err(what))?;
        }
        tx.commit().await.map_err(store_err(what))?;
        Ok(views.len() as u64)
    }

    async fn budget_spent(&self, bucket: &str) -> Result<Points, LedgerError> {
        let points: Option<i64> =
            sqlx::query_scalar("SELECT points FROM kudos_budget_spent WHERE bucket = $1")
                .bind(bucket)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err("budget_spent"))?;
        Ok(Points::new(points.unwrap_or(0)))
    }

    async fn budget_claims(&self, since: Day) -> Result<Vec<ClaimView>, LedgerError> {
        let rows: Vec<(String, bool)> = sqlx::query_as(
            "SELECT view, returned FROM kudos_budget_claims WHERE day >= $1 ORDER BY made, txn",
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
            sqlx::query_scalar("SELECT view FROM kudos_waiting ORDER BY since, agent")
                .fetch_all(&self.pool)
                .await
                .map_err(store_err("waiting"))?;
        rows.iter()
            .map(|v| control_text::decode("a waiting reward", v))
            .collect()
    }

    async fn set_waiting(&self, wait: &[Waiting], done: &[AgentId]) -> Result<(), LedgerError> {
        let what = "set_waiting";
        let mut tx = self.pool.begin().await.map_err(store_err(what))?;
        let done: Vec<&str> = done.iter().map(AgentId::as_str).collect();
        if !done.is_empty() {
            sqlx::query("DELETE FROM kudos_waiting WHERE agent = ANY($1)")
                .bind(&done)
                .execute(&mut *tx)
                .await
                .map_err(store_err(what))?;
        }
        for w in wait {
            let view = control_text::encode("a waiting reward", w)?;
            // An agent already waiting keeps its first day (in the row and in its view).
            sqlx::query(
                "INSERT INTO kudos_waiting (agent, since, view) VALUES ($1, $2, $3)
                 ON CONFLICT (agent) DO UPDATE SET
                     view = jsonb_set(excluded.view::jsonb, '{since}',
                         to_jsonb(LEAST(kudos_waiting.since, excluded.since)))::text,
                     since = LEAST(kudos_waiting.since, excluded.since)",
            )
            .bind(w.agent.as_str())
            .bind(w.since.to_string())
            .bind(view)
            .execute(&mut *tx)
            .await
            .map_err(store_err(what))?;
        }
        tx.commit().await.map_err(store_err(what))
    }

    async fn pause_state(&self) -> Result<Option<Pause>, LedgerError> {
        let value: Option<String> =
            sqlx::query_scalar("SELECT value FROM kudos_controls WHERE name = 'pause'")
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err("pause_state"))?;
        control_text::pause(value)
    }

    async fn set_pause(&self, pause: Option<&Pause>) -> Result<Option<Pause>, LedgerError> {
        let what = "set_pause";
        let mut tx = self.pool.begin().await.map_err(store_err(what))?;
        let old: Option<String> =
            sqlx::query_scalar("SELECT value FROM kudos_controls WHERE name = 'pause' FOR UPDATE")
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_err(what))?;
        match pause {
            Some(pause) => {
                let value = control_text::encode("the pause switch", pause)?;
                sqlx::query(
                    "INSERT INTO kudos_controls (name, value) VALUES ('pause', $1)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(store_err(what))?;
            }
            None => {
                sqlx::query("DELETE FROM kudos_controls WHERE name = 'pause'")
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err(what))?;
            }
        }
        tx.commit().await.map_err(store_err(what))?;
        control_text::pause(old)
    }

    async fn try_lock(
        &self,
        name: &str,
        owner: &str,
        length: std::time::Duration,
    ) -> Result<bool, LedgerError> {
        let micros = i64::try_from(length.as_micros()).unwrap_or(i64::MAX);
        let granted: Option<String> = sqlx::query_scalar(
            "INSERT INTO kudos_locks (name, owner, until)
             VALUES ($1, $2, now() + make_interval(secs => $3::DOUBLE PRECISION / 1000000))
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
             WHERE kudos_locks.until <= now() OR kudos_locks.owner = excluded.owner
             RETURNING owner",
        )
        .bind(name)
        .bind(owner)
        .bind(micros)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err("try_lock"))?;
        Ok(granted.is_some())
    }

    async fn unlock(&self, name: &str, owner: &str) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM kudos_locks WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(store_err("unlock"))?;
        Ok(())
    }
}
