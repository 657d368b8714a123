//! A bounded, concurrent, aggregating queue in front of a slow alert sink (the webhook): no
//! alert holds up issuing, and a storm becomes one alert per kind per run with a count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::{Notify, Semaphore, mpsc};
use uuid::Uuid;

use crate::{Alert, AlertKind, AlertSink};

/// How a [`QueuedAlerts`] delivers.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// The most alerts waiting; more are dropped (the log has them) and counted.
    pub capacity: usize,
    /// The most deliveries at once.
    pub concurrency: usize,
    /// Each delivery's deadline.
    pub deadline: Duration,
    /// How long [`AlertSink::flush`] waits for the queue to drain at the end of a run.
    pub flush_deadline: Duration,
    /// How many transaction ids an aggregated alert lists.
    pub txn_ids: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            capacity: 256,
            concurrency: 4,
            deadline: Duration::from_secs(15),
            flush_deadline: Duration::from_secs(20),
            txn_ids: 5,
        }
    }
}

/// What a run's later alerts of one kind add up to.
#[derive(Debug, Default)]
struct Tally {
    count: u64,
    txn_ids: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    inner: Arc<dyn AlertSink>,
    settings: QueueSettings,
    /// Alerts queued or being delivered.
    pending: AtomicUsize,
    drained: Notify,
    dropped: AtomicUsize,
}

impl Shared {
    fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drained.notify_waiters();
        }
    }
}

/// Marks one queued alert done when dropped.
struct Done(Arc<Shared>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// Delivers alerts to `inner` from a bounded queue, several at once, each within its
/// deadline. The first alert of each kind in a run goes at once; later ones of that kind are
/// counted and sent as one alert at the end of the run ([`AlertSink::flush`]) with the count
/// and the first transaction ids. [`alert`](AlertSink::alert) never waits for delivery.
#[derive(Debug)]
pub struct QueuedAlerts {
    shared: Arc<Shared>,
    sender: OnceLock<mpsc::Sender<Alert>>,
    seen: Mutex<HashMap<(Uuid, AlertKind), Tally>>,
}

impl QueuedAlerts {
    /// A queue in front of `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn AlertSink>, settings: QueueSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                inner,
                settings,
                pending: AtomicUsize::new(0),
                drained: Notify::new(),
                dropped: AtomicUsize::new(0),
            }),
            sender: OnceLock::new(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Alerts dropped because the queue was full.
    #[must_use]
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The queue's sender, its delivery task started on first use (inside a runtime).
    fn sender(&self) -> &mpsc::Sender<Alert> {
        self.sender.get_or_init(|| {
            let (tx, mut rx) = mpsc::channel::<Alert>(self.shared.settings.capacity.max(1));
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let slots = Arc::new(Semaphore::new(shared.settings.concurrency.max(1)));
                while let Some(alert) = rx.recv().await {
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        break;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        // Counted done however the delivery ends (a sink that panics too).
                        let _done = Done(shared.clone());
                        let delivery = shared.inner.alert(&alert);
                        if tokio::time::timeout(shared.settings.deadline, delivery)
                            .await
                            .is_err()
                        {
                            tracing::error!(
                                target: "kudos::alert",
                                kind = alert.kind.name(),
                                "an alert was not delivered within its deadline (the log has it)"
                            );
                        }
                        drop(slot);
                    });
                }
            });
            tx
        })
    }

    fn enqueue(&self, alert: Alert) {
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        if self.sender().try_send(alert).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            self.shared.done();
            tracing::error!(
                target: "kudos::alert",
                "the alert queue is full: an alert was dropped (the log has it)"
            );
        }
    }
}

#[async_trait]
impl AlertSink for QueuedAlerts {
    async fn alert(&self, alert: &Alert) {
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(tally) = seen.get_mut(&(alert.run_id, alert.kind)) {
                tally.count += 1;
                if tally.txn_ids.len() < self.shared.settings.txn_ids
                    && let Some(txn) = alert.data.get("txn_id").and_then(|t| t.as_str())
                {
                    tally.txn_ids.push(txn.to_owned());
                }
                return;
            }
            seen.insert((alert.run_id, alert.kind), Tally::default());
        }
        self.enqueue(alert.clone());
    }

    async fn flush(&self, run_id: Uuid) {
        let mut tallies: Vec<(AlertKind, Tally)> = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let kinds: Vec<(Uuid, AlertKind)> = seen
                .keys()
                .filter(|(run, _)| *run == run_id)
                .copied()
                .collect();
            kinds
                .into_iter()
                .filter_map(|key| seen.remove(&key).map(|tally| (key.1, tally)))
                .filter(|(_, tally)| tally.count > 0)
                .collect()
        };
        tallies.sort_by_key(|(kind, _)| kind.name());
        for (kind, tally) in tallies {
            self.enqueue(Alert {
                kind,
                run_id,
                message: format!(
                    "{} more {} alerts in this run after the first (see the log and the audit trail)",
                    tally.count,
                    kind.name()
                ),
                data: json!({"aggregated": true, "count": tally.count, "txn_ids": tally.txn_ids}),
            });
        }
        let drained = async {
            loop {
                let notified = self.shared.drained.notified();
                if self.shared.pending.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(self.shared.settings.flush_deadline, drained)
            .await
            .is_err()
        {
            tracing::error!(
                target: "kudos::alert",
                "alerts were still being delivered when the run ended (the log has them)"
            );
        }
    }
}
