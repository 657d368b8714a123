//! The model checks, once a seed has run to quiet: points, rewards, reversals, operators,
//! personal data and the audit chains.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use kudos_core::{AgentId, Day};
use kudos_ledger::AuditAnchors as _;
use kudos_ledger::{Account, HoldState, LedgerStore, ReversalState};
use kudos_pipeline::{AuditEvent, AuditLog, AuditRecord, verify_file};

use super::scenario::Scenario;
use super::{COST, Covered};
use crate::run::{World, agent};

/// Every check; the first broken one, named.
pub(super) async fn check(
    w: &World,
    s: &Scenario,
    trails: &[&Path],
    covered: &mut Covered,
) -> Result<(), String> {
    let rewards = w.sim.rewards();
    let status: HashMap<String, String> = rewards
        .iter()
        .map(|r| (r.request_id.clone(), r.status.clone()))
        .collect();
    operators_agree_with_the_marketplace(trails, &status)?;
    // The model's points per agent.
    let mut earned: HashMap<u32, i64> = HashMap::new();
    for ((a, _, metric), v) in &s.finals {
        #[allow(clippy::cast_possible_truncation, reason = "whole numbers")]
        let v = *v as i64;
        let points = match metric.as_str() {
            "sales" | "answered" => v,
            "penalties" => -10 * v,
            _ => 0,
        };
        *earned.entry(*a).or_default() += points;
    }
    covered.rewards = rewards.iter().filter(|r| r.status == "ISSUED").count() as u64;
    covered.reversed = rewards.iter().filter(|r| r.status == "REVERSED").count() as u64;
    let live: HashSet<String> = rewards
        .iter()
        .filter(|r| r.status == "ISSUED")
        .map(|r| r.request_id.clone())
        .collect();
    let day = Day::parse("2026-03-31").unwrap();
    let mut committed = HashSet::new();
    for a in 1..=s.agents {
        let id = AgentId::new(agent(a)).unwrap();
        let stored = w.store.load(&id).await.map_err(|e| e.to_string())?;
        let account = Account::from_entries(id, stored.entries).map_err(|e| e.to_string())?;
        let mine: Vec<_> = account
            .holds()
            .values()
            .filter(|h| h.state == HoldState::Committed && h.reversed_by.is_none())
            .collect();
        committed.extend(mine.iter().map(|h| h.txn.to_string()));
        // Every reversal the marketplace performed is in the ledger.
        for hold in account.holds().values() {
            let at_marketplace = status.get(&hold.txn.to_string()).map(String::as_str);
            if at_marketplace == Some("REVERSED") && hold.reversed_by.is_none() {
                return Err(format!(
                    "agent {a}: the marketplace reversed {} but the ledger has it {} and not reversed",
                    hold.txn,
                    hold.state.name()
                ));
            }
        }
        for reversal in account.reversals().values() {
            covered.reversals += 1;
            if reversal.state.is_unresolved() {
                return Err(format!(
                    "agent {a}: reversal {} is still {} after the quiet runs",
                    reversal.txn,
                    reversal.state.name()
                ));
            }
        }
        let balance = account.balance(day).balance.get();
        let total = earned.get(&a).copied().unwrap_or(0);
        let paid = COST * i64::try_from(mine.len()).unwrap();
        if total != balance + paid {
            if std::env::var_os("KUDOS_SIM_DEBUG").is_some() {
                #[allow(
                    clippy::print_stderr,
                    reason = "asked for: the account, to debug a seed"
                )]
                for e in account.entries() {
                    eprintln!("{} {:?}", e.at, e.op);
                }
            }
            return Err(format!(
                "agent {a}: earned {total} but balance {balance} + rewards {paid}: points created or lost"
            ));
        }
        if balance >= COST {
            return Err(format!("agent {a}: balance {balance} still earns a reward"));
        }
        // In debt, every reward kept is one the marketplace could not reverse (ended not
        // reversed, as it said).
        if balance < 0
            && let Some(kept) = mine.iter().find(|h| {
                account
                    .reversal_of(h.txn)
                    .is_none_or(|r| r.state != ReversalState::NotReversed)
            })
        {
            return Err(format!(
                "agent {a}: in debt ({balance}) with reward {} neither clawed back nor refused",
                kept.txn
            ));
        }
    }
    if committed != live {
        return Err(format!(
            "the ledger's committed holds and the marketplace's live rewards differ: {} vs {}",
            committed.len(),
            live.len()
        ));
    }
    let requests = w.sim.requests();
    covered.requests = requests.len() as u64;
    for r in &requests {
        if r.body.contains('@') || s.names.iter().any(|n| r.body.contains(n.as_str())) {
            return Err(format!("personal data sent: {}", r.body));
        }
        if (1..=s.agents).any(|a| r.body.contains(&agent(a))) {
            return Err(format!("an agent id sent: {}", r.body));
        }
    }
    // Every trail verifies against the anchors its runs left in the store, crashes included.
    for trail in trails {
        let anchors = w
            .store
            .anchors(&AuditLog::trail_name(trail))
            .await
            .map_err(|e| e.to_string())?;
        let report = verify_file(trail, &[super::audit_key()], Some(&anchors))
            .map_err(|e| format!("{}: {e}", trail.display()))?;
        if report.runs > 0 && (anchors.is_empty() || report.anchored_runs != Some(anchors.len())) {
            return Err(format!(
                "{}: not every run anchored: {report:?}",
                trail.display()
            ));
        }
        if report.keyed_runs != report.runs {
            return Err(format!("{}: unkeyed runs: {report:?}", trail.display()));
        }
    }
    Ok(())
}

/// No operator action on record contradicts the marketplace's final records: a hold settled
/// issued has a reward there, one settled not issued has none; a reversal settled reversed is
/// reversed there, one settled not reversed is not.
fn operators_agree_with_the_marketplace(
    trails: &[&Path],
    status: &HashMap<String, String>,
) -> Result<(), String> {
    for trail in trails {
        let text = std::fs::read_to_string(trail).map_err(|e| e.to_string())?;
        for line in text.lines() {
            let record: AuditRecord = serde_json::from_str(line).map_err(|e| e.to_string())?;
            let Ok(event) = AuditEvent::from_record(&record) else {
                continue;
            };
            match event {
                AuditEvent::ReviewSettled { txn_id, issued, .. } => {
                    let there = status.contains_key(&txn_id.to_string());
                    if issued != there {
                        return Err(format!(
                            "an operator settled hold {txn_id} as issued: {issued}; the marketplace says {there}"
                        ));
                    }
                }
                AuditEvent::ReversalSettled { of, reversed, .. } => {
                    let there = status.get(&of.to_string()).map(String::as_str) == Some("REVERSED");
                    if reversed != there {
                        return Err(format!(
                            "an operator settled the reversal of {of} as reversed: {reversed}; the marketplace says {there}"
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}
