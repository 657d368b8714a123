//! How a run shows its progress: a bar on a terminal, log lines otherwise.

/// Shows the run's progress (a bar on a terminal, log lines otherwise). Every method has a
/// default that does nothing.
pub trait Progress: Send + Sync {
    /// A step begins; `total` items, when known.
    fn step(&self, name: &'static str, total: Option<u64>) {
        let _ = (name, total);
    }
    /// `n` items of the step are done.
    fn advance(&self, n: u64) {
        let _ = n;
    }
    /// A step that ran beside the next one has finished (the accrue step, which the issue step
    /// runs beside).
    fn finished(&self, name: &'static str) {
        let _ = name;
    }
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
