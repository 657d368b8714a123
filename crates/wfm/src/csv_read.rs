//! The CSV reader under `canonical-csv` and `wide-csv`: what the `csv` crate reads, with a fast
//! path for the usual row.
//!
//! A row with no quote — nearly every row of an export — is split where it lies in the read
//! buffer, eight bytes at a time, and its fields handed on as ranges of the buffer (no copy); a CR
//! or LF ends it, as either ends a record for `csv_core`. A row with a quote is read by
//! `csv_core`, the `csv` crate's own parser, set up as `csv::ReaderBuilder::new()
//! .delimiter(d).flexible(true).has_headers(false)` sets it up: quotes and doubled quotes, CR, LF
//! or CRLF line ends, a quoted field over several lines. As there, empty lines are skipped and a
//! UTF-8 byte order mark at the very start is dropped. A property test reads random input both
//! ways, field by field and line by line.
//!
//! The reader counts line feeds itself, so a record's line is the line its first byte is on.

use std::io::Read;

use csv_core::ReadRecordResult;

/// Bytes read from the input at a time.
const CHUNK: usize = 64 * 1024;
/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// Reads CSV records from a byte stream.
pub(crate) struct CsvReader {
    input: Box<dyn Read + Send>,
    /// Bytes read; `buf[start..end]` are not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Whether the input has ended.
    eof: bool,
    /// Whether nothing was consumed yet (a byte order mark may start the input).
    fresh: bool,
    /// Whether rows without quotes are split directly: not when the delimiter is itself a
    /// quote or a line end.
    fast: bool,
    delimiter: u8,
    /// The parser for every other row.
    core: csv_core::Reader,
    /// The line of `buf[start]`: line feeds consumed, plus one.
    line: u64,
    /// Scratch space for `core`: a record's fields, and where each ends.
    out: Vec<u8>,
    ends: Vec<usize>,
    /// The record read last: its bytes are `buf[row.0..row.1]`, or `out[..row.1]` when `core`
    /// read it (`quoted`); `bounds` are its fields' ranges within them.
    row: (usize, usize),
    quoted: bool,
    bounds: Vec<(usize, usize)>,
}

/// The record read last: its fields, borrowed from the reader.
#[derive(Clone, Copy)]
pub(crate) struct Row<'a> {
    text: &'a [u8],
    bounds: &'a [(usize, usize)],
}

impl<'a> Row<'a> {
    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.bounds.len()
    }

    /// The bytes the fields are ranges of (with the delimiters between them, or without).
    pub(crate) fn as_slice(&self) -> &'a [u8] {
        self.text
    }

    /// Field `i`'s range within [`as_slice`](Self::as_slice).
    pub(crate) fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        self.bounds.get(i).map(|&(from, to)| from..to)
    }

    /// Field `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.range(i).and_then(|r| self.text.get(r))
    }

    /// The fields in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + use<'a, '_> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl CsvReader {
    /// A reader of `input`, fields separated by `delimiter`.
    pub(crate) fn new(input: Box<dyn Read + Send>, delimiter: u8) -> Self {
        Self::with_chunk(input, delimiter, CHUNK)
    }

    fn with_chunk(input: Box<dyn Read + Send>, delimiter: u8, chunk: usize) -> Self {
        let mut core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
        // `csv_core` drops a byte order mark at the start of the first input it is given, which
        // here may be a row in the middle of the file: that is done below, at the true start,
        // and this line end (skipped, as any before a record) marks `core` as having read.
        let _ = core.read_record(b"\n", &mut [0; 1], &mut [0; 1]);
        Self {
            input,
            buf: vec![0; chunk.max(1)],
            start: 0,
            end: 0,
            eof: false,
            fresh: true,
            fast: ![b'"', b'\r', b'\n'].contains(&delimiter),
            delimiter,
            core,
            line: 1,
            out: vec![0; 1024],
            ends: vec![0; 64],
            row: (0, 0),
            quoted: false,
            bounds: Vec::new(),
        }
    }

    /// Reads the next record ([`row`](Self::row) then has it), returning the line it starts on;
    /// `None` at the end.
    ///
    /// # Errors
    ///
    /// The input's read errors.
    pub(crate) fn read(&mut self) -> std::io::Result<Option<u64>> {
        self.bounds.clear();
        self.row = (0, 0);
        self.quoted = false;
        if !self.skip_line_ends()? {
            return Ok(None);
        }
        let line = self.line;
        if self.fast && self.read_plain()? {
            return Ok(Some(line));
        }
        self.quoted = true;
        Ok(self.read_quoted()?.then_some(line))
    }

    /// The record read last.
    pub(crate) fn row(&self) -> Row<'_> {
        let text = if self.quoted {
            self.out.get(..self.row.1)
        } else {
            self.buf.get(self.row.0..self.row.1)
        };
        Row {
            text: text.unwrap_or_default(),
            bounds: &self.bounds,
        }
    }

    /// Consumes the line ends before a record (empty lines, and the LF of a CRLF after a record
    /// `csv_core` read), and the byte order mark at the start. False at the end of the input.
    fn skip_line_ends(&mut self) -> std::io::Result<bool> {
        loop {
            if self.fresh && (self.end - self.start >= BOM.len() || self.eof) {
                self.fresh = false;
                if self.buf[self.start..self.end].starts_with(BOM) {
                    self.start += BOM.len();
                }
            }
            if !self.fresh {
                while let Some(&b) = self.buf[self.start..self.end].first() {
                    match b {
                        b'\n' => self.line += 1,
                        b'\r' => {}
                        _ => return Ok(true),
                    }
                    self.start += 1;
                }
            }
            if !self.fill()? && self.start == self.end {
                return Ok(false);
            }
        }
    }

    /// Reads a row that has no quote, up to its line end (a LF, a CR, or the end of the input)
    /// — each ends a record as it does for `csv_core`, and the line ends after it are skipped
    /// before the next; false (nothing consumed) for a row with a quote.
    ///
    /// Eight bytes at a time: each is compared with the delimiter, the quote, CR and LF at once.
    fn read_plain(&mut self) -> std::io::Result<bool> {
        let (mut from, mut scan) = (0, 0);
        loop {
            let rest = &self.buf[self.start..self.end];
            let mut end = None;
            'words: while let Some(chunk) = rest.get(scan..scan + 8) {
                let mut found = specials(chunk, self.delimiter);
                while found != 0 {
                    let at = scan + (found.trailing_zeros() / 8) as usize;
                    found &= found - 1;
                    match rest[at] {
                        b if b == self.delimiter => {
                            self.bounds.push((from, at));
                            from = at + 1;
                        }
                        b'"' => {
                            self.bounds.clear();
                            return Ok(false);
                        }
                        _ => {
                            end = Some(at);
                            break 'words;
                        }
                    }
                }
                scan += 8;
            }
            if end.is_none() && self.eof {
                // The last few bytes, one by one; the input's end ends the row.
                for (at, &b) in rest.iter().enumerate().skip(scan) {
                    if b == self.delimiter {
                        self.bounds.push((from, at));
                        from = at + 1;
                    } else if b == b'"' {
                        self.bounds.clear();
                        return Ok(false);
                    } else if b == b'\r' || b == b'\n' {
                        end = Some(at);
                        break;
                    }
                }
                if end.is_none() {
                    end = Some(rest.len());
                }
            }
            let Some(at) = end else {
                self.fill()?;
                continue;
            };
            self.bounds.push((from, at));
            self.row = (self.start, self.start + at);
            match rest.get(at) {
                Some(b'\n') => {
                    self.line += 1;
                    self.start += at + 1;
                }
                Some(_) => self.start += at + 1,
                None => self.start += at,
            }
            return Ok(true);
        }
    }

    /// Reads a record with `csv_core`. False if there was none (which cannot be: the record
    /// starts with a byte that is not a line end).
    fn read_quoted(&mut self) -> std::io::Result<bool> {
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            // An empty input tells `csv_core` the input has ended: given only at the end.
            if self.start == self.end {
                self.fill()?;
            }
            let input = &self.buf[self.start..self.end];
            let (result, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.out[outlen..], &mut self.ends[endlen..]);
            self.line += memchr::memchr_iter(b'\n', &input[..nin]).count() as u64;
            self.start += nin;
            outlen += nout;
            endlen += nend;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let len = self.out.len();
                    self.out.resize(len * 2, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(len * 2, 0);
                }
                ReadRecordResult::Record => {
                    let mut from = 0;
                    for &at in &self.ends[..endlen] {
                        self.bounds.push((from, at));
                        from = at;
                    }
                    self.row = (0, outlen);
                    return Ok(true);
                }
                ReadRecordResult::End => return Ok(false),
            }
        }
    }

    /// Reads more input after what is not yet consumed (moved to the front; the buffer grows
    /// when it is full of one row). False when the input has ended.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let len = self.buf.len();
            self.buf.resize(len * 2, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The high bit of each of the eight bytes of `chunk` that is the delimiter, a quote, a CR or
/// a LF, and no other bit: exact for every byte (no carry crosses from one byte to the next).
fn specials(chunk: &[u8], delimiter: u8) -> u64 {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let Ok(eight) = <[u8; 8]>::try_from(chunk) else {
        return 0;
    };
    let word = u64::from_le_bytes(eight);
    // For one byte value: a byte of `x` is zero where the word has it; adding 0x7f to its low
    // seven bits sets its high bit unless it was zero, and or-ing `x` sets it for 0x80.
    let not_equal = |byte: u8| {
        let x = word ^ (LOW * u64::from(byte));
        ((x & LOW7) + LOW7) | x
    };
    !((not_equal(delimiter) & not_equal(b'"') & not_equal(b'\r') & not_equal(b'\n')) | LOW7)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::CsvReader;

    /// Gives at most `step` bytes a read, so that rows straddle every buffer boundary.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// The records and lines as the `csv` crate reads them, each record's line being the line
    /// of its first byte: past the line ends from where `csv` says it starts (with CRLF, the LF
    /// before it; with empty lines before it, the first of them; the byte order mark, for the
    /// first).
    fn by_csv(bytes: &[u8], delimiter: u8) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(bytes);
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while rdr.read_byte_record(&mut rec).unwrap_or(false) {
            let at = rec.position().map_or(0, csv::Position::byte);
            let mut at = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
            if at == 0 && bytes.starts_with(super::BOM) {
                at = super::BOM.len();
            }
            while bytes.get(at).is_some_and(|b| *b == b'\n' || *b == b'\r') {
                at += 1;
            }
            let feeds = bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64;
            out.push((feeds + 1, rec.iter().map(<[u8]>::to_vec).collect()));
        }
        out
    }

    fn by_us(bytes: &[u8], delimiter: u8, step: usize, chunk: usize) -> Vec<(u64, Vec<Vec<u8>>)> {
        let input = Trickle {
            bytes: bytes.to_vec(),
            at: 0,
            step,
        };
        let mut rdr = CsvReader::with_chunk(Box::new(input), delimiter, chunk);
        let mut out = Vec::new();
        while let Ok(Some(line)) = rdr.read() {
            let row = rdr.row();
            let fields: Vec<Vec<u8>> = row.iter().map(<[u8]>::to_vec).collect();
            assert_eq!(fields.len(), row.len());
            out.push((line, fields));
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Random input over the bytes that matter (delimiters, quotes, CR, LF, a byte order
        /// mark, multi-byte text) reads to the same records on the same lines as the `csv`
        /// crate reads, whatever the buffer and read sizes.
        #[test]
        fn reads_as_the_csv_crate_reads(
            parts in prop::collection::vec(prop::sample::select(vec![
                &b"a"[..], b"bc", b",", b";", b"\"", b"\"\"", b"\r", b"\n", b"\r\n",
                b"\xef\xbb\xbf", "é".as_bytes(), b" ", b"\n\n", b"a1b2c3d4-0000-4000",
            ]), 0..60),
            delimiter in prop::sample::select(vec![b',', b';', b'"', b'\n', b'\r']),
            step in 1usize..9,
            chunk in 1usize..12,
        ) {
            let bytes: Vec<u8> = parts.concat();
            prop_assert_eq!(by_us(&bytes, delimiter, step, chunk), by_csv(&bytes, delimiter));
            prop_assert_eq!(by_us(&bytes, delimiter, 1 << 16, 1 << 16), by_csv(&bytes, delimiter));
        }
    }

    proptest! {
        /// Any bytes at all read as the `csv` crate reads them (and never panic).
        #[test]
        fn any_bytes_read_as_the_csv_crate_reads(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            step in 1usize..70,
        ) {
            prop_assert_eq!(by_us(&bytes, b',', step, 64), by_csv(&bytes, b','));
        }
    }

    #[test]
    fn a_plain_file_reads_row_by_row_with_its_lines() {
        let bytes = b"\xef\xbb\xbfagent_id,date\nu-1,2026-03-02\n\nu-2,\"2026-03-03\"\r\nu-3,x";
        let rows = by_us(bytes, b',', 1 << 16, 1 << 16);
        let want: Vec<(u64, Vec<Vec<u8>>)> = vec![
            (1, vec![b"agent_id".to_vec(), b"date".to_vec()]),
            (2, vec![b"u-1".to_vec(), b"2026-03-02".to_vec()]),
            (4, vec![b"u-2".to_vec(), b"2026-03-03".to_vec()]),
            (5, vec![b"u-3".to_vec(), b"x".to_vec()]),
        ];
        assert_eq!(rows, want);
        assert_eq!(by_csv(bytes, b','), want);
    }
}
