//! Checks of batches whose items are not all at their account's version.

use super::{accrual, fresh_agent, fresh_items};
use kudos_core::AgentId;

use crate::{AppendItem, Entry, LedgerError, LedgerStore};

/// In one batch, an item behind its account (stale), an item ahead of it (a version the
/// account never had) and an item for an account with history at its version, beside new
/// accounts: only the stale and the ahead items are `Conflict`s, and they write nothing, the
/// others are applied — with `append_many` and with `append_many_deferred` alike. A second item
/// for the stale item's account, at the account's real version, is applied: each item is
/// checked against the account as the items before it left it, as [`LedgerStore::append`] one
/// after the other would.
pub async fn stale_and_ahead_items_leave_the_rest_of_a_batch(store: &dyn LedgerStore) {
    for deferred in [false, true] {
        let tag = if deferred { "deferred" } else { "durable" };
        let agent = |name: &str| fresh_agent(&format!("mixed-{tag}-{name}"));
        let (new, stale, ahead, known, twice) = (
            agent("new"),
            agent("stale"),
            agent("ahead"),
            agent("known"),
            agent("twice"),
        );
        for (who, history) in [(&stale, 1), (&ahead, 1), (&known, 2)] {
            let entries: Vec<Entry> = (0..history)
                .map(|i| accrual(who, &format!("before-{i}"), 1))
                .collect();
            store
                .append(who, 0, &entries, &[], &[])
                .await
                .expect("an account's history");
        }
        let one = |who: &AgentId, rule: &str| [accrual(who, rule, 5)];
        let (e_new, e_stale, e_again, e_ahead, e_known, e_first, e_second) = (
            one(&new, "n"),
            one(&stale, "s"),
            one(&stale, "s2"),
            one(&ahead, "a"),
            one(&known, "k"),
            one(&twice, "t1"),
            one(&twice, "t2"),
        );
        let item = |agent, expected, entries| AppendItem {
            agent,
            expected,
            entries,
            holds: &[],
            reversals: &[],
        };
        let batch = [
            item(&new, 0, &e_new[..]),
            item(&stale, 0, &e_stale[..]),
            item(&ahead, 5, &e_ahead[..]),
            item(&known, 2, &e_known[..]),
            item(&twice, 0, &e_first[..]),
            item(&twice, 1, &e_second[..]),
            item(&stale, 1, &e_again[..]),
        ];
        let results = if deferred {
            store.append_many_deferred(&batch).await
        } else {
            store.append_many(&batch).await
        }
        .expect("a batch with stale items is not a store failure");
        let versions: Vec<Option<u64>> = results.iter().map(|r| r.as_ref().ok().copied()).collect();
        assert_eq!(
            versions,
            [Some(1), None, None, Some(3), Some(1), Some(2), Some(2)],
            "{tag}: only the stale and the ahead items are refused: {results:?}"
        );
        assert!(
            matches!(results[1], Err(LedgerError::Conflict { .. }))
                && matches!(results[2], Err(LedgerError::Conflict { .. })),
            "{tag}: the refusals are Conflicts: {results:?}"
        );
        let entries_of = |stored: crate::Stored| stored.entries;
        let loaded = store
            .load_many(&[
                new.clone(),
                stale.clone(),
                ahead.clone(),
                known.clone(),
                twice.clone(),
            ])
            .await
            .expect("load_many");
        let mut loaded = loaded.into_iter().map(entries_of);
        let mut next = || loaded.next().expect("one account per agent asked");
        assert_eq!(next(), e_new.to_vec(), "{tag}: the new account's entry");
        let stale_entries = next();
        assert_eq!(
            (stale_entries.len(), stale_entries.last()),
            (2, Some(&e_again[0])),
            "{tag}: the stale item wrote nothing, the one after it at the real version did"
        );
        assert_eq!(next().len(), 1, "{tag}: the ahead item wrote nothing");
        let known_entries = next();
        assert_eq!(
            (known_entries.len(), known_entries.last()),
            (3, Some(&e_known[0])),
            "{tag}: an account with history takes its item"
        );
        assert_eq!(
            next(),
            [e_first[0].clone(), e_second[0].clone()],
            "{tag}: two items for one account, in turn"
        );
    }
}

/// A batch longer than any one statement, with stale items among its first rows and among its
/// last: the stale items are `Conflict`s and write nothing, every other item is written whole
/// — however the store splits the batch into statements.
pub async fn stale_items_anywhere_in_a_long_batch_leave_the_rest(store: &dyn LedgerStore) {
    let agents: Vec<AgentId> = (0..600)
        .map(|i| fresh_agent(&format!("long-stale-{i}")))
        .collect();
    let stale = [0, 1, 298, 598, 599];
    let mut before = Vec::new();
    for &i in &stale {
        let entry = accrual(&agents[i], "before", 1);
        store
            .append(&agents[i], 0, std::slice::from_ref(&entry), &[], &[])
            .await
            .expect("a stale account's history");
        before.push(entry);
    }
    let entries: Vec<[Entry; 1]> = agents.iter().map(|a| [accrual(a, "now", 2)]).collect();
    let batch = fresh_items(&agents, &entries);
    for deferred in [false, true] {
        let results = if deferred {
            store.append_many_deferred(&batch).await
        } else {
            store.append_many(&batch).await
        }
        .expect("a long batch with stale items is not a store failure");
        let refused: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Err(LedgerError::Conflict { .. })))
            .map(|(i, _)| i)
            .collect();
        if deferred {
            // The first call wrote every fresh account: all are stale now.
            assert_eq!(
                refused.len(),
                agents.len(),
                "a batch written twice is refused"
            );
        } else {
            assert_eq!(refused, stale, "only the stale items are refused");
            assert!(
                results
                    .iter()
                    .enumerate()
                    .all(|(i, r)| stale.contains(&i) || matches!(r, Ok(1))),
                "every other item is written: {results:?}"
            );
        }
    }
    let loaded = store.load_many(&agents).await.expect("load_many");
    for (i, stored) in loaded.iter().enumerate() {
        let expected = match stale.iter().position(|&s| s == i) {
            Some(k) => vec![before[k].clone()],
            None => entries[i].to_vec(),
        };
        assert_eq!(stored.entries, expected, "account {i}'s entries");
    }
}
