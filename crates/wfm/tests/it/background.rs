//! `Records::in_background`: the same items, in the same order, with the same report — read
//! on a thread that stays a bounded distance ahead and stops when the caller lets go.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kudos_wfm::{ParseOptions, Records};

use crate::lines;

/// A reader that serves `bytes`, then fails: a file that cannot be read to its end.
struct FailsAtTheEnd(std::io::Cursor<Vec<u8>>);

impl Read for FailsAtTheEnd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("the disk went away")),
            n => Ok(n),
        }
    }
}

#[test]
fn the_same_items_in_the_same_order_with_the_same_report() {
    // Many batches' worth, with identical duplicates (dropped), conflicting ones and bad values
    // (rejected rows) throughout, and a read error at the end.
    let mut csv = String::from("agent_id,date,metric,value\n");
    for i in 0..12_000 {
        let agent = i % 700;
        // Rows 7,000 on repeat the identities of the first 7,000: most with the same value,
        // every eleventh with another.
        let value = match (i % 997, i % 11) {
            (13, _) => "x".to_owned(),
            (_, 0) => (i % 51).to_string(),
            _ => (i % 50).to_string(),
        };
        csv.push_str(&format!(
            "u-{agent},2026-03-{:02},calls,{value}\n",
            1 + i / 700 % 10
        ));
    }
    let open = || {
        Records::from_reader(
            "mixed.csv",
            FailsAtTheEnd(std::io::Cursor::new(csv.clone().into_bytes())),
            &ParseOptions::default(),
        )
        .unwrap()
    };
    let mut here = open();
    let want = lines(here.by_ref());
    let mut background = open().in_background();
    let got = lines(background.by_ref());
    assert_eq!(got, want);
    assert!(want.iter().any(|l| l.contains("conflicting duplicate")));
    assert!(want.iter().any(|l| l.contains("is not a number")));
    assert!(
        want.last()
            .is_some_and(|l| l.contains("mixed.csv: cannot read")),
        "{:?}",
        want.last()
    );
    assert_eq!(background.report(), here.report());
    assert!(here.report().duplicates > 0 && here.report().file_error);
}

/// An endless export, one agent per row, that counts what it served and says when it is
/// dropped.
struct Endless {
    served: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
    rows: usize,
    pending: Vec<u8>,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.len() < buf.len().min(4096) {
            self.pending
                .extend_from_slice(format!("u-{},2026-03-02,calls,1\n", self.rows).as_bytes());
            self.rows += 1;
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.served.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn the_thread_stays_a_bounded_distance_ahead_and_stops_when_dropped() {
    let (served, dropped) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let input = Endless {
        served: Arc::clone(&served),
        dropped: Arc::clone(&dropped),
        rows: 0,
        pending: b"agent_id,date,metric,value\n".to_vec(),
    };
    let mut records = Records::from_reader("endless", input, &ParseOptions::default())
        .unwrap()
        .in_background();
    assert!(records.next().is_some_and(|r| r.is_ok()));
    drop(records);
    // The thread notices at its next hand-over, and drops the input as it ends.
    let mut waited = 0;
    while !dropped.load(Ordering::SeqCst) {
        assert!(waited < 3000, "the reading thread did not stop");
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    // A few batches of rows (about 25 bytes each) and the readers' buffers, however long the
    // thread ran before the caller let go: not the endless input.
    let served = served.load(Ordering::SeqCst);
    assert!(served < 1 << 20, "read {served} bytes ahead");
}
