//! Opening a source (its format detected by `detect`), and the [`Records`] iterator.

use std::collections::VecDeque;
use std::fmt;
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono_tz::Tz;
use kudos_core::MetricRecord;

use crate::detect::detect_and_open;
use crate::error::Why;
use crate::rows::{RowSource, Step};
use crate::seen::{Found, Seen, fingerprint};
use crate::{Format, Mapping, RowError, WfmError};

/// How to read a source.
///
/// ```
/// use kudos_wfm::{Format, ParseOptions};
/// let options = ParseOptions::default()
///     .with_format(Format::GenesysAdherence)
///     .with_time_zone("America/New_York")?;
/// assert_eq!(options.time_zone.name(), "America/New_York");
/// # Ok::<(), kudos_wfm::WfmError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// The format; [`Format::Auto`] detects it from content.
    pub format: Format,
    /// The IANA zone days are computed in (default UTC).
    pub time_zone: Tz,
    /// The wide-CSV mapping. Required for [`Format::WideCsv`]; with [`Format::Auto`] a CSV
    /// that is not canonical is read with it.
    pub mapping: Option<Arc<Mapping>>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            format: Format::Auto,
            time_zone: Tz::UTC,
            mapping: None,
        }
    }
}

impl ParseOptions {
    /// Sets the format.
    #[must_use]
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets the time zone by IANA name.
    ///
    /// # Errors
    ///
    /// [`WfmError::TimeZone`] for an unknown name.
    pub fn with_time_zone(mut self, name: &str) -> Result<Self, WfmError> {
        self.time_zone = name.parse().map_err(|_| WfmError::TimeZone {
            name: name.to_owned(),
        })?;
        Ok(self)
    }

    /// Sets the wide-CSV mapping.
    #[must_use]
    pub fn with_mapping(mut self, mapping: Mapping) -> Self {
        self.mapping = Some(Arc::new(mapping));
        self
    }
}

/// Something worth an operator's attention that did not reject a row (an unknown column that
/// a preset ignores, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The 1-based line.
    pub line: u64,
    /// The column, when there is one.
    pub column: Option<String>,
    /// What happened.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

/// What reading a source produced so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseReport {
    /// The format the source was read as.
    pub format: Format,
    /// Records yielded.
    pub records: u64,
    /// Rows rejected (each was yielded as a [`WfmError::Row`]).
    pub rejected_rows: u64,
    /// Records dropped because an identical record was already read from this source.
    pub duplicates: u64,
    /// Whether a file error ended the reading early.
    pub file_error: bool,
    /// Warnings.
    pub warnings: Vec<Warning>,
}

/// Opens a file and reads it as `options` say.
///
/// # Errors
///
/// A file error ([`WfmError::is_file_error`]): the file cannot be read, is empty, is in no
/// known format, or its header is unusable.
pub fn open(path: impl AsRef<Path>, options: &ParseOptions) -> Result<Records, WfmError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| WfmError::Io {
        file: name.clone(),
        error,
    })?;
    let size = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let mut records = Records::from_reader(&name, file, options)?;
    records.size = size;
    Ok(records)
}

/// The records of one source: an iterator of `Result<MetricRecord, WfmError>`.
///
/// A [`WfmError::Row`] item is a rejected row; iteration goes on after it. Any other error is
/// a file error and is the last item. Within the source, a record identical to an earlier one
/// (same agent, day, metric, dims and value) is dropped; one with the same identity and
/// another value rejects its row.
///
/// Memory: CSV and JSON Lines are streamed (32 rows at a time); single JSON documents
/// (canonical arrays and Genesys downloads) are held in memory while they are read. Either
/// way the reader remembers 16 bytes per distinct (agent, day, metric, dims) to find
/// duplicates, in a table at most three quarters full (so 21–43 bytes each).
pub struct Records {
    rows: Box<dyn RowSource>,
    /// The source's name, as records and errors give it.
    source: String,
    /// The rows read ahead of the one being yielded; a good row's records are in `staged`.
    steps: VecDeque<Staged>,
    /// The records of the good rows read ahead, in order, each with its fingerprint (0 once
    /// checked and found a duplicate to drop).
    staged: VecDeque<(MetricRecord, u64)>,
    /// How many records at the front of `staged` are checked, to be yielded (or dropped).
    checked: usize,
    /// Scratch space for a row source.
    buf: Vec<MetricRecord>,
    seen: Seen,
    /// Randomly seeded per source, so crafted input cannot aim for fingerprint collisions.
    hasher: foldhash::quality::RandomState,
    /// Scratch space for `dedup`, reused from row to row.
    inserted: Vec<u64>,
    report: ParseReport,
    done: bool,
    /// The input's length in bytes, when known (a file, bytes in memory), until the duplicate
    /// index is sized from it.
    size: Option<u64>,
    /// Bytes taken from the input so far (by the row source and its buffers).
    taken: Arc<AtomicU64>,
    /// Records fingerprinted so far.
    fingerprinted: u64,
}

/// Bytes read before the records per byte so far are taken as the whole input's.
const SAMPLE: u64 = 4 << 20;

/// The input, counting the bytes taken from it.
struct Counted {
    inner: Box<dyn Read + Send>,
    taken: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A row read ahead.
enum Staged {
    /// A good row, with this many records in `staged`.
    Row(usize),
    /// A rejected row.
    Bad(RowError),
    /// The file error that ended the reading.
    Fatal(WfmError),
}

/// How many rows are read ahead, so that their duplicate lookups are in flight together (see
/// [`Seen`]).
const AHEAD: usize = 32;

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("report", &self.report)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Records {
    /// Reads from any byte stream; `source` names it in records and errors.
    ///
    /// # Errors
    ///
    /// A file error, as for [`open`].
    pub fn from_reader(
        source: &str,
        input: impl Read + Send + 'static,
        options: &ParseOptions,
    ) -> Result<Self, WfmError> {
        let taken = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            inner: Box::new(input),
            taken: Arc::clone(&taken),
        };
        let (rows, format, warnings) = detect_and_open(source, Box::new(counted), options)?;
        Ok(Self {
            rows,
            source: source.to_owned(),
            steps: VecDeque::new(),
            staged: VecDeque::new(),
            checked: 0,
            buf: Vec::new(),
            seen: Seen::default(),
            hasher: foldhash::quality::RandomState::default(),
            inserted: Vec::new(),
            report: ParseReport {
                format,
                warnings,
                ..ParseReport::default()
            },
            done: false,
            size: None,
            taken,
            fingerprinted: 0,
        })
    }

    /// Reads from bytes in memory; `source` names them in records and errors. As
    /// [`from_reader`](Self::from_reader), and, as [`open`] does for a file, the input's
    /// length sizes the duplicate index: once the first few megabytes are read, it is given
    /// room for the whole input at once (from the records per byte so far) instead of growing,
    /// and moving every identity it holds, on the way — a tenth of the parse of a file of a
    /// million rows. The room made is at most about four thirds of the input's length in
    /// bytes; past it, the index grows as it would have.
    ///
    /// # Errors
    ///
    /// A file error, as for [`open`].
    pub fn from_bytes<B>(source: &str, bytes: B, options: &ParseOptions) -> Result<Self, WfmError>
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        let size = bytes.as_ref().len() as u64;
        let mut records = Self::from_reader(source, Cursor::new(bytes), options)?;
        records.size = Some(size);
        Ok(records)
    }

    /// Sizes the duplicate index once [`SAMPLE`] bytes are read (see
    /// [`from_bytes`](Self::from_bytes)).
    fn size_index(&mut self) {
        let Some(size) = self.size else {
            return;
        };
        let taken = self.taken.load(Ordering::Relaxed);
        if taken < SAMPLE {
            return;
        }
        self.size = None;
        if taken >= size {
            // Read whole already (a document held in memory): nothing left to size for.
            return;
        }
        // The records per byte so far, over the whole input, and a twentieth more: the bytes
        // taken include what the readers have buffered and not yet parsed.
        let expected =
            u128::from(self.fingerprinted) * u128::from(size) * 21 / (u128::from(taken) * 20);
        // At most one record per 16 bytes of input: room for 16 bytes a record, at most
        // three quarters full, is then about four thirds of the input's length.
        let cap = u128::from(size / 16);
        self.seen
            .reserve(usize::try_from(expected.min(cap)).unwrap_or(usize::MAX));
    }

    /// What was read so far; complete once the iterator has returned `None`.
    #[must_use]
    pub fn report(&self) -> &ParseReport {
        &self.report
    }

    /// The source's name, as records and errors give it.
    pub(crate) fn source_name(&self) -> &str {
        &self.source
    }

    /// Reads up to [`AHEAD`] rows, fingerprints their records, and touches the slots their
    /// lookups will start at.
    fn read_ahead(&mut self) {
        for _ in 0..AHEAD {
            match self.rows.next_row(&mut self.buf) {
                None => {
                    self.done = true;
                    break;
                }
                Some(Step::Row) => {
                    self.steps.push_back(Staged::Row(self.buf.len()));
                    self.fingerprinted += self.buf.len() as u64;
                    for record in self.buf.drain(..) {
                        let fp = fingerprint(&self.hasher, &record);
                        self.staged.push_back((record, fp));
                    }
                }
                Some(Step::Bad(e)) => {
                    self.buf.clear();
                    self.steps.push_back(Staged::Bad(e));
                }
                Some(Step::Fatal(e)) => {
                    self.buf.clear();
                    self.steps.push_back(Staged::Fatal(e));
                    self.done = true;
                    break;
                }
            }
        }
        self.size_index();
        let touched = self
            .staged
            .iter()
            .fold(0, |acc, (_, fp)| acc ^ self.seen.touch(*fp));
        std::hint::black_box(touched);
    }

    /// Checks the next good row's `n` records against what was already read: drops identical
    /// duplicates, and rejects the row if one conflicts.
    fn dedup(&mut self, n: usize) -> Result<(), RowError> {
        self.inserted.clear();
        let mut conflict = None;
        for (record, fp) in self.staged.iter().take(n) {
            match self.seen.insert(*fp, record.value.to_bits()) {
                Found::Inserted => self.inserted.push(*fp),
                #[allow(clippy::float_cmp, reason = "identical means the same value, exactly")]
                Found::Present(bits) if f64::from_bits(bits) == record.value => {}
                Found::Present(bits) => {
                    conflict = Some((record, f64::from_bits(bits)));
                    break;
                }
            }
        }
        if let Some((record, was)) = conflict {
            for fp in &self.inserted {
                self.seen.remove(*fp);
            }
            // The dimensions are input text: they go in the cell. The agent id is personal data:
            // the line says which row it is.
            let identity = format!(
                "conflicting duplicate: day {}, metric {}",
                record.day, record.metric
            );
            let values = format!(
                " was already read with value {was}, here it is {}",
                record.value
            );
            let why = if record.dims.is_empty() {
                Why::plain(identity + &values)
            } else {
                Why::quoting_dims(&(identity + ", dims "), record.dims.clone(), &values)
            };
            let error = RowError::new(
                Arc::clone(&record.origin.source),
                record.origin.line,
                Some(record.metric.to_string()),
                why.reason,
                why.cell,
            );
            self.staged.drain(..n);
            return Err(error);
        }
        // The fingerprints this row inserted are its kept records', in order; the others are
        // duplicates, marked to be dropped.
        let mut inserted = self.inserted.iter().peekable();
        for (_, fp) in self.staged.iter_mut().take(n) {
            if inserted.next_if_eq(&&*fp).is_none() {
                *fp = 0;
                self.report.duplicates += 1;
            }
        }
        self.checked = n;
        Ok(())
    }
}

impl Iterator for Records {
    type Item = Result<MetricRecord, WfmError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            while self.checked > 0 {
                self.checked -= 1;
                match self.staged.pop_front() {
                    Some((record, fp)) if fp != 0 => {
                        self.report.records += 1;
                        return Some(Ok(record));
                    }
                    _ => {}
                }
            }
            if self.steps.is_empty() && !self.done {
                self.read_ahead();
            }
            match self.steps.pop_front()? {
                Staged::Fatal(e) => {
                    self.report.file_error = true;
                    return Some(Err(e));
                }
                Staged::Bad(e) => {
                    self.report.rejected_rows += 1;
                    return Some(Err(WfmError::Row(e)));
                }
                Staged::Row(n) => {
                    if let Err(e) = self.dedup(n) {
                        self.report.rejected_rows += 1;
                        return Some(Err(WfmError::Row(e)));
                    }
                }
            }
        }
    }
}
