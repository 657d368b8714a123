//! Streaming: records come out before the input ends, so memory does not grow with rows.

use std::io::Read;

use kudos_wfm::{ParseOptions, Records};

/// An endless export that fails if more than `limit` bytes are ever read from it.
struct Endless {
    header: Option<Vec<u8>>,
    row: Vec<u8>,
    served: usize,
    limit: usize,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.served > self.limit {
            return Err(std::io::Error::other(
                "read past the limit: the parser is not streaming",
            ));
        }
        let chunk = self.header.take().unwrap_or_else(|| self.row.repeat(64));
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        // Keep any unserved tail for the next call by re-queuing it as the "header".
        if n < chunk.len() {
            self.header = Some(chunk[n..].to_vec());
        }
        self.served += n;
        Ok(n)
    }
}

fn first_records(header: &str, row: &str, n: usize) -> Vec<String> {
    let input = Endless {
        header: Some(header.as_bytes().to_vec()),
        row: row.as_bytes().to_vec(),
        served: 0,
        limit: 4 << 20,
    };
    let records = Records::from_reader("endless", input, &ParseOptions::default()).unwrap();
    records
        .take(n)
        .map(|r| r.map(|r| r.metric.to_string()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn canonical_csv_streams() {
    let got = first_records(
        "agent_id,date,metric,value\n",
        "u-1,2026-03-02,calls,1\nu-2,2026-03-02,calls,2\n",
        2,
    );
    assert_eq!(got, ["calls", "calls"]);
}

#[test]
fn json_lines_stream() {
    let row = "{\"agent_id\":\"u-1\",\"date\":\"2026-03-02\",\"metric\":\"calls\",\"value\":1}\n";
    assert_eq!(first_records(row, row, 1), ["calls"]);
}

#[test]
fn wide_csv_streams() {
    let header = "\"Agent Id\",\"Interval Start\",\"Answered\"\n";
    assert_eq!(first_records(header, "u-1,2026-03-02,3\n", 1), ["answered"]);
}
