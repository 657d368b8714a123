//! [`Background`]: a source read on a thread of its own, so that reading and whatever the
//! caller does with the records run side by side.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use kudos_core::MetricRecord;

use crate::{ParseReport, Records, WfmError};

/// What one item of a source is.
type Item = Result<MetricRecord, WfmError>;

/// Items handed over at a time: enough that the hand-over costs nothing per record.
const BATCH: usize = 1024;
/// Batches in flight: the reading thread stops this far ahead of the caller, so memory stays
/// bounded however slow the caller is.
const IN_FLIGHT: usize = 4;

enum Message {
    Batch(Vec<Item>),
    /// The last message: the complete report.
    Done(ParseReport),
}

/// The records of a source, read on a thread of its own ([`Records::in_background`]): the same
/// items in the same order as the [`Records`] it came from.
///
/// The thread reads at most a few thousand records ahead of the caller, and stops when this is
/// dropped. Should it stop unexpectedly, the last item is a file error saying so.
///
/// ```
/// use kudos_wfm::{ParseOptions, Records};
///
/// let csv = "agent_id,date,metric,value\nu-1,2026-03-02,csat,92\nu-2,2026-03-02,csat,x\n";
/// let mut records =
///     Records::from_reader("inline.csv", csv.as_bytes(), &ParseOptions::default())?.in_background();
/// assert_eq!(records.next().unwrap()?.value, 92.0);
/// assert!(records.next().unwrap().is_err()); // the rejected row, as Records yields it
/// assert!(records.next().is_none());
/// assert_eq!((records.report().records, records.report().rejected_rows), (1, 1));
/// # Ok::<(), kudos_wfm::WfmError>(())
/// ```
pub struct Background {
    inner: Inner,
    report: ParseReport,
}

enum Inner {
    Thread {
        rx: Receiver<Message>,
        batch: std::vec::IntoIter<Item>,
        done: bool,
        file: String,
    },
    /// The thread could not be started: read here instead.
    Here(Box<Records>),
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl Records {
    /// Reads the rest of this source on a thread of its own, handing the records over in
    /// batches. On a machine with a second core, a caller that does real work per record
    /// (writing it out, applying rules) then takes about the longer of the two times rather
    /// than their sum. Where no thread can be started, the source is read on the caller's.
    #[must_use]
    pub fn in_background(self) -> Background {
        let report = self.report().clone();
        let file = self.source_name().to_owned();
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(self)));
        let taken = std::sync::Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("kudos-wfm-read".to_owned())
            .spawn(move || {
                let records = taken.lock().ok().and_then(|mut s| s.take());
                if let Some(records) = records {
                    read(records, &tx);
                }
            });
        // A failed spawn drops the closure unrun, leaving the records in the slot.
        let here = match spawned {
            Ok(_) => None,
            Err(_) => slot.lock().ok().and_then(|mut s| s.take()),
        };
        let inner = match here {
            Some(records) => Inner::Here(Box::new(records)),
            None => Inner::Thread {
                rx,
                batch: Vec::new().into_iter(),
                done: false,
                file,
            },
        };
        Background { inner, report }
    }
}

/// The reading thread: batches until the source ends or the caller hangs up.
fn read(mut records: Records, tx: &SyncSender<Message>) {
    loop {
        let batch: Vec<Item> = records.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            let _ = tx.send(Message::Done(records.report().clone()));
            return;
        }
        // Blocks while the channel is full; fails once the caller has hung up.
        if tx.send(Message::Batch(batch)).is_err() {
            return;
        }
    }
}

impl Background {
    /// What was read so far: complete once the iterator has returned `None`.
    #[must_use]
    pub fn report(&self) -> &ParseReport {
        match &self.inner {
            Inner::Here(records) => records.report(),
            Inner::Thread { .. } => &self.report,
        }
    }
}

impl Iterator for Background {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let (rx, batch, done, file) = match &mut self.inner {
            Inner::Here(records) => return records.next(),
            Inner::Thread {
                rx,
                batch,
                done,
                file,
            } => (rx, batch, done, file),
        };
        loop {
            if let Some(item) = batch.next() {
                match &item {
                    Ok(_) => self.report.records += 1,
                    Err(WfmError::Row(_)) => self.report.rejected_rows += 1,
                    Err(_) => self.report.file_error = true,
                }
                return Some(item);
            }
            if *done {
                return None;
            }
            match rx.recv() {
                Ok(Message::Batch(next)) => *batch = next.into_iter(),
                Ok(Message::Done(report)) => {
                    self.report = report;
                    *done = true;
                    return None;
                }
                Err(_) => {
                    *done = true;
                    self.report.file_error = true;
                    return Some(Err(WfmError::Io {
                        file: file.clone(),
                        error: std::io::Error::other("the thread reading it stopped unexpectedly"),
                    }));
                }
            }
        }
    }
}
