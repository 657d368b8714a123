//! The accrual gate: the issue step runs beside the accrue step, and loads an agent to decide
//! its reward only once the agent's events of this run are in the ledger (decision 0028).
//!
//! The accrue step appends its agents in batches, in agent order; the gate knows each agent's
//! place in that order and how many agents are appended. An agent without events this run is
//! ready at once. Should the accrue step fail, the gate says so, and the issue step
//! makes no hold after it: what it already sent is settled, and the run reports the failure.

use std::collections::HashMap;
use std::sync::OnceLock;

use kudos_core::AgentId;
use kudos_ledger::AccountCommands;
use tokio::sync::watch;

/// How far the accrue step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many agents (the first in the accrue step's order) are appended.
    Through(usize),
    /// Every agent is appended (or there was none).
    Finished,
    /// The step failed: no further agent will be appended.
    Failed,
}

/// See the module doc.
#[derive(Debug)]
pub(super) struct Gate {
    /// Each agent's place in the accrue step's order (set once, before the two steps start).
    place: OnceLock<HashMap<AgentId, usize>>,
    state: watch::Sender<State>,
}

impl Default for Gate {
    /// A gate with nothing to wait for.
    fn default() -> Self {
        Self {
            place: OnceLock::new(),
            state: watch::Sender::new(State::Finished),
        }
    }
}

impl Gate {
    /// Closes the gate over `accruals`, to be appended in this order.
    pub(super) fn close(&self, accruals: &[AccountCommands]) {
        let place = accruals
            .iter()
            .enumerate()
            .map(|(i, work)| (work.agent.clone(), i))
            .collect();
        if self.place.set(place).is_ok() && !accruals.is_empty() {
            self.state.send_replace(State::Through(0));
        }
    }

    /// The first `n` agents are appended.
    pub(super) fn appended(&self, n: usize) {
        self.state.send_if_modified(|state| match state {
            State::Through(before) if *before < n => {
                *state = State::Through(n);
                true
            }
            _ => false,
        });
    }

    /// The accrue step ended: every agent appended (`ok`), or failed.
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
            .place
            .get()
            .and_then(|place| agents.iter().filter_map(|a| place.get(a)).max())
            .copied();
        let Some(needed) = needed else {
            return !self.failed();
        };
        self.wait_for(needed + 1).await
    }

    /// Waits until the first agents are appended (the accrue step's first batch), or the step
    /// ended: when the issue step begins. `false` when the accrue step failed first.
    pub(super) async fn wait_first(&self) -> bool {
        self.wait_for(1).await
    }

    /// Waits until `n` agents are appended, or the step ended.
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
        gate.close(&accruals); // appended in batches of two: [0, 1], [2, 3], [4]
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
        gate.appended(2);
        assert_eq!(wait(vec![agent(1), agent(9)]).await, Some(true));
        assert_eq!(
            wait(vec![agent(0), agent(2)]).await,
            None,
            "agent 2 is in batch 1"
        );
        gate.appended(4);
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
        gate.close(&accruals);
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
        closed_on_nothing.close(&[]);
        assert!(closed_on_nothing.wait_first().await);
    }
}
