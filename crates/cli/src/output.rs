//! Writing to stdout (JSON Lines) and stderr (diagnostics).

use std::io::{self, Write};

/// Writes one diagnostic line to stderr, prefixed with `kudos: `.
pub(crate) fn diag(args: std::fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    // Nothing useful can be done if stderr itself is gone.
    let _ = writeln!(err, "kudos: {args}");
}

/// Writes `error` and its chain of sources on one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A fatal diagnostic (exit 1): any error, with its chain of sources, or a message.
pub(crate) struct Fatal(pub(crate) String);

impl<E: std::error::Error> From<E> for Fatal {
    fn from(e: E) -> Self {
        Self(error_chain(&e))
    }
}

/// A JSON Lines writer on stdout that stops quietly when the reader goes away (`| head`).
pub(crate) struct JsonLines {
    out: io::BufWriter<io::StdoutLock<'static>>,
    closed: bool,
}

impl JsonLines {
    pub(crate) fn stdout() -> Self {
        Self {
            out: io::BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
            closed: false,
        }
    }

    /// Writes one value as a line. Returns false once stdout is closed.
    pub(crate) fn write(&mut self, value: &impl serde::Serialize) -> io::Result<bool> {
        if self.closed {
            return Ok(false);
        }
        let result = serde_json::to_writer(&mut self.out, value)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        self.check(result)
    }

    /// Flushes stdout.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        if self.closed {
            return Ok(false);
        }
        let result = self.out.flush();
        self.check(result)
    }

    fn check(&mut self, result: io::Result<()>) -> io::Result<bool> {
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// A runtime on this thread, for a command's async work; when it cannot start, says so.
pub(crate) fn current_thread() -> Result<tokio::runtime::Runtime, crate::Outcome> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            diag(format_args!("error: cannot start the runtime: {e}"));
            crate::Outcome::Fatal
        })
}

/// Runs a command's `work` on a runtime on this thread: `Ok` is exit 0, a [`Fatal`] is
/// printed as `error: …` and is exit 1.
pub(crate) fn run_fatal(
    work: impl std::future::Future<Output = Result<(), Fatal>>,
) -> crate::Outcome {
    let runtime = match current_thread() {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    match runtime.block_on(work) {
        Ok(()) => crate::Outcome::Ok,
        Err(Fatal(message)) => {
            diag(format_args!("error: {message}"));
            crate::Outcome::Fatal
        }
    }
}
