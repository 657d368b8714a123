//! Precise delays for the `delay` fault.
//!
//! Tokio's timer counts whole milliseconds and rounds every deadline up to the next tick, then
//! parks for a whole number of milliseconds: `sleep(5 ms)` took 6.2 ms on average on the
//! benchmark machine, so a simulator configured with 5 ms of latency answered in 6.2. A delay
//! here is kept by a thread of its own, which parks on the OS's high-resolution timer (to
//! within a few tens of microseconds) and wakes each waiting request at its deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// A handle on the delay thread; the thread ends when the last handle is dropped and every
/// pending deadline has passed.
#[derive(Debug, Clone)]
pub(crate) struct Delays {
    tx: mpsc::Sender<Wake>,
}

/// One waiter: the instant it wakes at, and how to wake it.
#[derive(Debug)]
struct Wake {
    at: Instant,
    waker: oneshot::Sender<()>,
}

impl Delays {
    /// Starts the thread. If the OS refuses a thread, delays fall back to tokio's timer.
    pub(crate) fn start() -> Option<Self> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("kudos-sim-delays".into())
            .spawn(move || run(&rx))
            .ok()?;
        Some(Self { tx })
    }

    /// Waits until `deadline`.
    pub(crate) async fn until(this: Option<&Self>, deadline: tokio::time::Instant) {
        let (tx, rx) = oneshot::channel();
        match this {
            Some(d)
                if d.tx
                    .send(Wake {
                        at: deadline.into_std(),
                        waker: tx,
                    })
                    .is_ok() =>
            {
                let _ = rx.await;
            }
            _ => tokio::time::sleep_until(deadline).await,
        }
    }
}

fn run(rx: &mpsc::Receiver<Wake>) {
    let mut due: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut waiting: HashMap<u64, oneshot::Sender<()>> = HashMap::new();
    let mut seq = 0u64;
    let mut open = true;
    loop {
        #[allow(
            clippy::disallowed_methods,
            reason = "the simulator's latency is real time, read where it is kept"
        )]
        let now = Instant::now();
        while let Some(&Reverse((at, id))) = due.peek() {
            if at > now {
                break;
            }
            due.pop();
            if let Some(tx) = waiting.remove(&id) {
                let _ = tx.send(()); // the request may have gone; nothing to wake then
            }
        }
        let next = due
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(now));
        let received = match (next, open) {
            (None, false) => return,
            (Some(wait), false) => {
                std::thread::sleep(wait);
                continue;
            }
            (None, true) => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            (Some(wait), true) => rx.recv_timeout(wait.max(Duration::from_micros(1))),
        };
        match received {
            Ok(Wake { at, waker }) => {
                seq += 1;
                due.push(Reverse((at, seq)));
                waiting.insert(seq, waker);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_request_wakes_before_its_deadline() {
        let delays = Delays::start();
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for ms in [30u64, 10, 20, 10] {
            let deadline = start + Duration::from_millis(ms);
            let d = delays.clone();
            tasks.push(tokio::spawn(async move {
                Delays::until(d.as_ref(), deadline).await;
                (deadline, tokio::time::Instant::now())
            }));
        }
        for t in tasks {
            let (deadline, woke) = t.await.expect("task");
            assert!(woke >= deadline, "woke before its deadline");
        }
    }
}
