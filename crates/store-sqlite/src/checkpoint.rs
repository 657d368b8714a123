//! Checkpoints: copying SQLite's write-ahead log into the database file.
//!
//! SQLite does it on its own inside the `COMMIT` that takes the log past 1,000 pages, on the
//! committing connection: the writer then copies pages and waits for the disk on its turn to
//! write, which was about 110 ms of a 100,000-agent accrual's 370. The store runs them itself
//! instead, on a pool connection, beside its writers (decision 0037):
//!
//! - every `ENTRIES_PER_CHECKPOINT` entries the ledger's appends wake a task that runs a
//!   passive checkpoint (it copies what no reader still needs, without holding up writers);
//! - a log seldom starts over while a checkpoint runs beside a writer that does not pause (a
//!   write starts it over only when it begins with all of it copied), so once the log holds
//!   `LOG_RESTART_PAGES` pages the task copies the rest holding this process's turn to write,
//!   and the next write starts the log over;
//! - every connection keeps SQLite's own checkpoint as a safety net, at `AUTOCHECKPOINT_PAGES`
//!   pages (for when the task cannot run: its runtime gone, another process checkpointing).
//!   SQLite's trigger counts the whole log, not the commit's own pages: at its default of
//!   1,000, any small write through the pool (a lease, a budget claim) would copy what the
//!   task had not yet, holding the turn to write.
//!
//! The start-over is best effort: a reader whose read began before the copy ended (another
//! process's, a `sqlite3` shell) keeps the log from starting over until the next try, and
//! another process's writers are not held up by this one's turn. The log is typically under
//! 20 MB; the safety net copies it at about 40 MB.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kudos_ledger::LedgerError;
use sqlx::SqlitePool;
use tokio::sync::{Mutex, mpsc};

use crate::{BUSY_TIMEOUT, SqliteStore, Writers, store_err};

/// Pages the store's connections let the log hold before they copy it into the file
/// themselves (SQLite's default is 1,000).
pub(crate) const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Pages in the log past which the store's checkpoint lets the log start over (16 MB of
/// 4 KiB pages).
const LOG_RESTART_PAGES: i64 = 4_000;

/// Entries appended between two of the store's checkpoints (a few hundred pages).
const ENTRIES_PER_CHECKPOINT: usize = 4_000;

/// The store's checkpoints: a task, spawned when the store opens, that runs one each time it
/// is woken, and ends (with its pool handle and the writers' connections) the next time it
/// is polled after the last clone of the store is dropped.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    /// Entries appended since the task was last woken.
    entries: AtomicUsize,
    /// Wakes the task (a full channel: a checkpoint is already due).
    wake: mpsc::Sender<()>,
    /// Held while one of the store's checkpoints runs. SQLite lets one connection checkpoint
    /// at a time and answers "busy" to another at once: [`SqliteStore::checkpoint`] waits
    /// here for the task's to end, then runs its own.
    running: Arc<Mutex<()>>,
}

impl Checkpoints {
    /// Starts the task on `pool`; `writers` is this process's turn to write.
    pub(crate) fn start(pool: SqlitePool, writers: Arc<Mutex<Writers>>) -> Self {
        let (wake, woken) = mpsc::channel::<()>(1);
        let running = Arc::new(Mutex::new(()));
        // sqlx needs a Tokio runtime to open the store, so there is one; were there none, the
        // task would not start and the writers' own checkpoints would do its work.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(checkpointing(pool, writers, woken, Arc::clone(&running)));
        }
        Self {
            entries: AtomicUsize::new(0),
            wake,
            running,
        }
    }

    /// Counts `entries` appended, waking the task when enough are.
    pub(crate) fn appended(&self, entries: usize) {
        let before = self.entries.fetch_add(entries, Ordering::Relaxed);
        if before + entries >= ENTRIES_PER_CHECKPOINT {
            self.entries.store(0, Ordering::Relaxed);
            // Full: a checkpoint is already due. Closed: the task's runtime is gone, and the
            // writers' own checkpoints take over.
            let _ = self.wake.try_send(());
        }
    }
}

/// The task: a passive checkpoint each time it is woken, and the rest copied holding the turn
/// to write (`writers`) once the log is long, so that it starts over; `running` is held
/// meanwhile.
async fn checkpointing(
    pool: SqlitePool,
    writers: Arc<Mutex<Writers>>,
    mut woken: mpsc::Receiver<()>,
    running: Arc<Mutex<()>>,
) {
    while woken.recv().await.is_some() {
        let _running = running.lock().await;
        // Best effort: a checkpoint that fails (the pool closed, another process's in
        // progress) leaves the log to the next one, or to the writers' own.
        let Ok(Passive { pages, .. }) = passive(&pool).await else {
            continue;
        };
        if pages >= LOG_RESTART_PAGES {
            let _turn = writers.lock().await;
            let _ = passive(&pool).await;
        }
    }
}

/// What a passive checkpoint reported.
struct Passive {
    /// Whether another connection was checkpointing (nothing was done).
    busy: bool,
    /// Pages in the log.
    pages: i64,
}

/// A passive checkpoint on `pool`.
async fn passive(pool: &SqlitePool) -> Result<Passive, sqlx::Error> {
    let (busy, pages, _copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok(Passive {
        busy: busy != 0,
        pages,
    })
}

impl SqliteStore {
    /// Copies what SQLite's write-ahead log holds into the database file now, as far as no
    /// reader still needs it (a passive checkpoint: writers are not held up). The store does
    /// this on its own as appends fill the log; this is for a caller that wants it done at a
    /// moment of its choosing: before copying the database file alone, or, in the ledger
    /// bench, to count the copying that appends leave for later. It waits for a checkpoint
    /// already running, this store's or another process's, to end.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Store`] when SQLite fails, or another process's checkpoint still runs
    /// after [`BUSY_TIMEOUT`] of waiting between tries.
    pub async fn checkpoint(&self) -> Result<(), LedgerError> {
        let _running = self.checkpoints.running.lock().await;
        let mut waited = Duration::ZERO;
        let wait = Duration::from_millis(10);
        while passive(&self.pool)
            .await
            .map_err(store_err("checkpoint"))?
            .busy
        {
            if waited >= BUSY_TIMEOUT {
                return Err(LedgerError::store(
                    "sqlite: checkpoint",
                    std::io::Error::other("another connection's checkpoint did not end"),
                ));
            }
            tokio::time::sleep(wait).await;
            waited += wait;
        }
        Ok(())
    }
}
