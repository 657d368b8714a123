//! The clawback step: an agent in debt past `reversal_min_debt` (found while the issue step
//! loads every account) has its latest committed redemption (within `reversal_window_days`)
//! that was never asked to be reversed recorded as a reversal — with its request bytes, before anything is sent — leased, and sent. What the
//! marketplace answers is settled in `reversal`; a reversal left open or in doubt is re-driven
//! by the next run's recover step, whatever the debt is by then.

use chrono::TimeDelta;
use std::sync::PoisonError;

use kudos_core::{AgentId, Points, TxnId};
use kudos_ledger::{Account, Command, HoldState, LedgerError, reversal_view};
use serde_json::json;
use tracing::Instrument as _;

use super::reversal::reversal_id;
use super::{Count, PipelineError, Run, error::redact};
use crate::{AlertKind, AuditEvent};

/// The body of every reversal request: fixed, and recorded with the reversal.
pub(super) const REVERSAL_BODY: &[u8] = br#"{"reason":"points_clawback"}"#;

/// An agent found in debt, with the redemption to reverse.
pub(super) struct Debtor {
    agent: AgentId,
    /// The latest committed redemption within the window never asked to be reversed.
    of: TxnId,
    debt: Points,
}

impl Run<'_> {
    /// Notes `account` for clawback if it is in debt past `reversal_min_debt` and has a
    /// redemption to reverse. The issue step calls it for every account its first round
    /// loads (every agent), so that finding debtors costs no pass of its own over the
    /// ledger: an agent in debt affords no tier, so issuing never touches it.
    pub(super) fn note_debtor(&self, agent: &AgentId, account: &Account) {
        if account.debt().get() <= self.parts.settings.reversal_min_debt {
            return;
        }
        let window = TimeDelta::days(i64::from(self.parts.settings.reversal_window_days));
        let now = self.now();
        let candidate = account
            .holds()
            .values()
            .filter(|h| h.state == HoldState::Committed && h.reversed_by.is_none())
            .filter(|h| account.reversal_of(h.txn).is_none())
            .filter(|h| h.committed_at.is_some_and(|at| now - at < window))
            .max_by_key(|h| h.committed_at);
        let Some(hold) = candidate else { return };
        let mut debtors = self.debtors.lock().unwrap_or_else(PoisonError::into_inner);
        if debtors.iter().all(|d| d.agent != *agent) {
            debtors.push(Debtor {
                agent: agent.clone(),
                of: hold.txn,
                debt: account.debt(),
            });
        }
    }

    /// Requests the reversals of the debtors the issue step noted (none when paused: the
    /// issue step then loads no account).
    pub(super) async fn clawback(&self) -> Result<(), PipelineError> {
        let debtors =
            std::mem::take(&mut *self.debtors.lock().unwrap_or_else(PoisonError::into_inner));
        self.progress.step("clawback", Some(debtors.len() as u64));
        if self.paused().is_some() {
            return Ok(()); // paused: no new reversal is requested
        }
        for Debtor { agent, of, debt } in debtors {
            let reversal = reversal_id(of);
            let span = tracing::info_span!("reversal", txn = %reversal, of = %of, agent = %self.pseudonym(&agent));
            self.reverse(&agent, of, reversal, debt)
                .instrument(span)
                .await?;
            self.progress.advance(1);
        }
        Ok(())
    }

    /// Records a reversal of `of` (open, with its request bytes), leases it, and sends it.
    async fn reverse(
        &self,
        agent: &AgentId,
        of: TxnId,
        reversal: TxnId,
        debt: Points,
    ) -> Result<(), PipelineError> {
        let who = self.pseudonym(agent);
        let recorded = self
            .ledger
            .execute(
                agent,
                Command::RequestReversal {
                    txn: reversal,
                    of,
                    day: self.as_of,
                    debt,
                    payload: REVERSAL_BODY.to_vec(),
                },
            )
            .await;
        match recorded {
            Ok(applied) if applied.appended => self.bump(Count::ReversalsRequested),
            Ok(_) => {}
            Err(e @ LedgerError::Store { .. }) => return Err(e.into()),
            Err(e) => {
                self.alert(
                    AlertKind::LedgerError,
                    format!(
                        "cannot record reversal {reversal} of {of}: {}",
                        redact(&e, agent)
                    ),
                    json!({"txn_id": reversal, "of": of, "agent": who}),
                )
                .await;
                return Ok(());
            }
        }
        self.audit(AuditEvent::ReversalRequested {
            txn_id: reversal,
            of,
            agent: who,
            debt: debt.get(),
        })
        .await?;
        let granted = self.lease_new_holds(&[reversal]).await?;
        if granted.first() != Some(&true) {
            return Ok(()); // another run's recovery has it: it sends it
        }
        let account = self.ledger.account(agent).await?;
        let Some(view) = reversal_view(&account, reversal) else {
            return Ok(());
        };
        self.send_reversal(&view, REVERSAL_BODY, 1, false).await
    }
}
