//! The accrual gate: the issue step runs beside the accrue step, and loads an agent to decide
//! its reward only once the agent's events of this run are in the ledger (decision 0028).
//!
//! The accrue step appends its agents in batches, in agent order; the gate knows which batch
//! holds each agent's events and how many batches are appended. An agent without events this
//! run is ready at once. Should the accrue step fail, the gate says so, and the issue step
//! makes no hold after it: what it already sent is settled, and the run reports the failure.

use std::collections::HashMap;
use std::sync::OnceLock;

use kudos_core::AgentId;
use kudos_ledger::AccountCommands;
use tokio::sync::watch;

/// How far the accrue step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The batches before this one are appended.
    Through(usize),
    /// Every batch is appended (or there was none).
    Finished,
    /// The step failed: no further batch will be appended.
    Failed,
}

/// See the module doc.
#[derive(Debug)]
pub(super) struct Gate {
    /// Which batch holds each agent's events (set once, before the two steps start).
    batch_of: OnceLock<HashMap<AgentId, usize>>,
    state: watch::Sender<State>,
}

impl Default for Gate {
    /// A gate with nothing to wait for.
    fn default() -> Self {
        Self {
            batch_of: OnceLock::new(),
            state: watch::Sender::new(State::Finished),
        }
    }
}

impl Gate {
    /// Closes the gate over `accruals`, appended `batch` agents at a time in this order.
    pub(super) fn close(&self, accruals: &[AccountCommands], batch: usize) {
        let batch = batch.max(1);
        let batch_of = accruals
            .iter()
            .enumerate()
            .map(|(i, work)| (work.agent.clone(), i / batch))
            .collect();
        if self.batch_of.set(batch_of).is_ok() && !accruals.is_empty() {
            self.state.send_replace(State::Through(0));
        }
    }

    /// The batches before `n` are appended.
    pub(super) fn appended(&self, n: usize) {
        self.state.send_if_modified(|state| match state {
            State::Through(before) if *before < n => {
                *state = State::Through(n);
                true
            }
            _ => false,
        });
    }

    /// The accrue step ended: every batch appended (`ok`), or failed.
    pub(super) fn end(&self, ok: bool) {
        self.state
            .send_replace(if ok { State::Finished } else { State::Failed });
    }

    /// Whether the accrue step failed.
    pub(super) fn failed(&self) -> bool {
        *self.state.borrow() == State::Failed
    }

    /// Waits until every one of `agents` has its events of this run appended. `false` when
    /// the accrue step failed first: then no hold is to be made.
    pub(super) async fn wait(&self, agents: &[AgentId]) -> bool {
        let needed = self
            .batch_of
            .get()
            .and_then(|batch_of| agents.iter().filter_map(|a| batch_of.get(a)).max())
            .copied();
        let Some(needed) = needed else {
            return !self.failed();
        };
        self.wait_for(needed + 1).await
    }

    /// Waits until the first batch is appended (or the step ended): when the issue step
    /// begins. `false` when the accrue step failed first.
    pub(super) async fn wait_first(&self) -> bool {
        self.wait_for(1).await
    }

    /// Waits until `n` batches are appended, or the step ended.
    async fn wait_for(&self, n: usize) -> bool {
        let mut rx = self.state.subscribe();
        let reached = rx
            .wait_for(|state| match state {
                State::Through(done) => *done >= n,
                State::Finished | State::Failed => true,
            })
            .await
            .map(|state| *state);
        // The sender lives as long as the run: a closed channel cannot happen; read it as failed.
        !matches!(reached, Ok(State::Failed) | Err(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(n: usize) -> AgentId {
        AgentId::new(format!("agent-{n:03}")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn work(n: usize) -> AccountCommands {
        AccountCommands::new(agent(n), Vec::new())
    }

    #[tokio::test]
    async fn an_agent_waits_for_its_own_batch_and_no_longer() {
        let gate = Gate::default();
        let accruals: Vec<_> = (0..5).map(work).collect();
        gate.close(&accruals, 2); // batches: [0, 1], [2, 3], [4]
        let wait = |agents: Vec<AgentId>| {
            let gate = &gate;
            async move {
                tokio::time::timeout(std::time::Duration::from_millis(20), gate.wait(&agents))
                    .await
                    .ok()
            }
        };
        // Not accrued this run: ready at once.
        assert_eq!(wait(vec![agent(9)]).await, Some(true));
        assert_eq!(
            wait(vec![agent(1)]).await,
            None,
            "batch 0 is not appended yet"
        );
        gate.appended(1);
        assert_eq!(wait(vec![agent(1), agent(9)]).await, Some(true));
        assert_eq!(
            wait(vec![agent(0), agent(2)]).await,
            None,
            "agent 2 is in batch 1"
        );
        gate.appended(2);
        assert_eq!(wait(vec![agent(3)]).await, Some(true));
        assert_eq!(wait(vec![agent(4)]).await, None);
        gate.end(true);
        assert_eq!(wait(vec![agent(4)]).await, Some(true));
        assert!(!gate.failed());
    }

    #[tokio::test]
    async fn a_failed_accrual_stops_every_waiter() {
        let gate = Gate::default();
        let accruals: Vec<_> = (0..4).map(work).collect();
        gate.close(&accruals, 2);
        let waiters = [agent(3)];
        // Both wait (the first batch is not in), then the step fails.
        let (waited, first, ()) = tokio::join!(gate.wait(&waiters), gate.wait_first(), async {
            tokio::task::yield_now().await;
            gate.end(false);
        });
        assert!(!waited, "the agent's batch will never be appended");
        assert!(!first);
        // An agent without events this run is not issued to either once it failed.
        assert!(!gate.wait(&[agent(9)]).await);
        assert!(gate.failed());
    }

    #[tokio::test]
    async fn a_gate_with_nothing_to_wait_for_is_open() {
        let gate = Gate::default();
        assert!(gate.wait_first().await);
        assert!(gate.wait(&[agent(1)]).await);
        let closed_on_nothing = Gate::default();
        closed_on_nothing.close(&[], 1000);
        assert!(closed_on_nothing.wait_first().await);
    }
}
