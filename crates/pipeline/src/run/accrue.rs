//! The accrue step: every agent's point events appended to the ledger in batches (in agent
//! order, the issue step following each batch through the gate), then each file recorded in
//! the ingest log (whole, or through the run's day).

use std::sync::Arc;

use futures_util::StreamExt as _;

use kudos_ledger::{AccountCommands, Command, IngestMark, IngestRecord, LedgerError};
use serde_json::json;
use tracing::Instrument as _;

use super::ingest::Ingested;
use super::lease::AbortOnDrop;
use super::{BATCH, Count, PipelineError, Run, error::redact};
use crate::{AlertKind, AuditEvent};

/// What accruing one agent's commands one by one did.
#[derive(Debug, Default)]
struct Tally {
    /// Entries appended.
    appended: u64,
    /// Commands refused: their points cannot be represented (rejected rows).
    unrepresentable: u64,
    /// Commands refused for another reason (the file is read again next run).
    failed: u64,
}

impl Run<'_> {
    pub(super) async fn accrue(&self, ingested: Ingested) -> Result<(), PipelineError> {
        let Ingested { files, accruals } = ingested;
        self.progress
            .step("accrue", Some(u64::try_from(accruals.len()).unwrap_or(0)));
        let mut failed = 0u64;
        let mut unrepresentable = 0u64;
        let mut accruals = accruals.into_iter();
        let mut chunks = std::iter::from_fn(|| {
            let chunk: Vec<AccountCommands> = accruals.by_ref().take(BATCH).collect();
            (!chunk.is_empty()).then_some(chunk)
        });
        // The first batch alone, so that the issue step can begin as soon as possible; then
        // three at once, taken in order: the next two's ledger work (loading, planning,
        // encoding) runs while one's rows are written (the store writes one batch at a time),
        // so that the writer does not wait for the next batch (decision 0036).
        let first = chunks.next();
        let execute = |chunk| self.execute_apart(chunk);
        let mut batches = futures_util::stream::iter(first)
            .map(execute)
            .buffered(1)
            .chain(futures_util::stream::iter(chunks).map(execute).buffered(3));
        let mut done = 0;
        while let Some(executed) = batches.next().await {
            let (chunk, results) = executed?;
            let chunk = &chunk;
            let mut appended = 0u64;
            for (work, result) in chunk.iter().zip(results) {
                match result {
                    Ok(applied) => {
                        appended += applied.iter().filter(|a| a.appended).count() as u64;
                    }
                    // Points the account cannot represent: take the agent's events one by
                    // one, and reject the rows that cannot be taken (not a failure: running
                    // again would refuse them again).
                    Err(LedgerError::Overflow { .. }) => {
                        let tally = self.accrue_one_by_one(work).await?;
                        appended += tally.appended;
                        unrepresentable += tally.unrepresentable;
                        failed += tally.failed;
                    }
                    Err(e) => {
                        failed += 1;
                        self.alert(
                            AlertKind::LedgerError,
                            format!("cannot accrue for an agent: {}", redact(&e, &work.agent)),
                            json!({"agent": self.pseudonym(&work.agent)}),
                        )
                        .await;
                    }
                }
            }
            self.audit(AuditEvent::Accrued {
                agents: chunk.len() as u64,
                entries: appended,
            })
            .await?;
            // The issue step, beside this one, may now decide these agents' rewards. (It
            // takes over the progress bar once the first batch is in.)
            done += chunk.len();
            self.accrual.appended(done);
        }
        if unrepresentable > 0 {
            // Counted as taken by the ingest step; rejected after all.
            self.counts.remove(Count::Records, unrepresentable);
            self.totals.remove(Count::Records, unrepresentable);
            self.add(Count::RejectedRows, unrepresentable);
            self.alert(
                AlertKind::RejectedRows,
                format!(
                    "{unrepresentable} rows rejected: their points would take a balance past what \
                     64 bits can hold (see the log for agent pseudonym, day and rule)"
                ),
                json!({"rejected_rows": unrepresentable}),
            )
            .await;
        }
        // A file whose accruals failed is taken again, whole, by the next run.
        if failed > 0 {
            return Ok(());
        }
        // Every file's mark at once (all or nothing): a run reading the same files at the
        // same time sees all of this run's files taken, or none (see the ingest step).
        let records: Vec<IngestRecord> = files
            .iter()
            .map(|file| IngestRecord {
                hash: file.hash.clone(),
                name: file.name.clone(),
                // Taken through the run's day when rows wait for a later one.
                mark: if file.future > 0 {
                    IngestMark::Through(self.as_of)
                } else {
                    IngestMark::Whole
                },
            })
            .collect();
        self.store.record_ingests(&records, self.now()).await?;
        for file in files {
            let event = if file.future > 0 {
                AuditEvent::FileIngestedInPart {
                    file: file.name,
                    sha256: file.hash.clone(),
                    records: file.records,
                    rejected_rows: file.rejected,
                    future_rows: file.future,
                    through: self.as_of,
                }
            } else {
                AuditEvent::FileIngested {
                    file: file.name,
                    sha256: file.hash.clone(),
                    records: file.records,
                    rejected_rows: file.rejected,
                }
            };
            self.audit(event).await?;
        }
        Ok(())
    }

    /// Runs a batch of accruals in a task of its own: the ledger's work for it (loading,
    /// planning, encoding) then runs on another of the runtime's threads than the issue
    /// step's beside it. Returns the batch with its results.
    async fn execute_apart(
        &self,
        chunk: Vec<AccountCommands>,
    ) -> Result<
        (
            Vec<AccountCommands>,
            Vec<Result<Vec<kudos_ledger::Applied>, LedgerError>>,
        ),
        PipelineError,
    > {
        let ledger = Arc::clone(&self.ledger);
        let mut task = AbortOnDrop(tokio::spawn(
            async move {
                // Deferred: the files' ingest marks, recorded durably after every batch, make
                // them durable (decision 0029); a file not marked is read again.
                let results = ledger.execute_many_deferred(&chunk).await;
                (chunk, results)
            }
            .in_current_span(),
        ));
        match (&mut task.0).await {
            Ok((chunk, results)) => Ok((chunk, results?)),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(LedgerError::Store {
                message: "the accrual's task was stopped".into(),
                source: None,
            }
            .into()),
        }
    }

    /// Accrues one agent's commands one at a time, after the batch was refused for points
    /// the account cannot represent: each command refused for that reason is a rejected row
    /// (logged by pseudonym, day and rule).
    async fn accrue_one_by_one(&self, work: &AccountCommands) -> Result<Tally, PipelineError> {
        let mut tally = Tally::default();
        for command in &work.commands {
            match self.ledger.execute(&work.agent, command.clone()).await {
                Ok(applied) => tally.appended += u64::from(applied.appended),
                Err(LedgerError::Overflow { .. }) => {
                    tally.unrepresentable += 1;
                    if let Command::Accrue { event, .. } = command {
                        let key = event.key();
                        tracing::warn!(
                            agent = %self.pseudonym(&work.agent),
                            day = %key.day,
                            rule = %key.rule,
                            metric = %key.metric,
                            points = event.points().get(),
                            "rejected row: its points would take the agent's balance past what 64 bits can hold"
                        );
                    }
                }
                Err(e @ LedgerError::Store { .. }) => return Err(e.into()),
                Err(e) => {
                    tally.failed += 1;
                    self.alert(
                        AlertKind::LedgerError,
                        format!("cannot accrue for an agent: {}", redact(&e, &work.agent)),
                        json!({"agent": self.pseudonym(&work.agent)}),
                    )
                    .await;
                }
            }
        }
        Ok(tally)
    }
}
