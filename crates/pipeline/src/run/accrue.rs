//! The accrue step: every agent's point events appended to the ledger in batches, then each
//! file recorded in the ingest log (whole, or through the run's day).

use kudos_ledger::{AccountCommands, IngestMark};
use serde_json::json;

use super::ingest::Ingested;
use super::{BATCH, PipelineError, Run, error::redact};
use crate::{AlertKind, AuditEvent};

impl Run<'_> {
    pub(super) async fn accrue(&self, ingested: Ingested) -> Result<(), PipelineError> {
        let Ingested { files, accruals } = ingested;
        self.progress
            .step("accrue", Some(u64::try_from(accruals.len()).unwrap_or(0)));
        let mut failed = 0u64;
        for chunk in accruals.chunks(BATCH) {
            let results = self.ledger.execute_many(chunk).await?;
            let mut appended = 0u64;
            for (AccountCommands { agent, .. }, result) in chunk.iter().zip(results) {
                match result {
                    Ok(applied) => {
                        appended += applied.iter().filter(|a| a.appended).count() as u64;
                    }
                    Err(e) => {
                        failed += 1;
                        self.alert(
                            AlertKind::LedgerError,
                            format!("cannot accrue for an agent: {}", redact(&e, agent)),
                            json!({"agent": self.pseudonym(agent)}),
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
            self.progress.advance(chunk.len() as u64);
        }
        // A file whose accruals failed is taken again, whole, by the next run.
        if failed > 0 {
            return Ok(());
        }
        for file in files {
            let now = self.now();
            if file.future > 0 {
                // Taken through the run's day; the rest waits (see the ingest step).
                self.store
                    .record_ingest(&file.hash, &file.name, IngestMark::Through(self.as_of), now)
                    .await?;
                self.audit(AuditEvent::FileIngestedInPart {
                    file: file.name,
                    sha256: file.hash.to_string(),
                    records: file.records,
                    rejected_rows: file.rejected,
                    future_rows: file.future,
                    through: self.as_of,
                })
                .await?;
                continue;
            }
            self.store
                .record_ingest(&file.hash, &file.name, IngestMark::Whole, now)
                .await?;
            self.audit(AuditEvent::FileIngested {
                file: file.name,
                sha256: file.hash.to_string(),
                records: file.records,
                rejected_rows: file.rejected,
            })
            .await?;
        }
        Ok(())
    }
}
