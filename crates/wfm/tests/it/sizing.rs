//! `Records::from_bytes` (and `open`, for a file) size the duplicate index from the input's
//! length once the first megabytes are read: what is read, dropped and rejected is exactly
//! what reading without the length gives, across the moment the index is resized.

use kudos_wfm::{ParseOptions, Records};

use crate::lines;

#[test]
fn a_sized_index_finds_the_same_duplicates_and_conflicts() {
    // 300,000 rows, about 8 MB: the first 200,000 distinct, the last 100,000 repeating the
    // first 100,000's identities — with the same value (dropped), or every thirteenth with
    // another (a rejected row). The index is sized once 4 MiB are read, among the distinct
    // rows: identities read before it are looked up after it.
    let mut csv = String::from("agent_id,date,metric,value\n");
    for i in 0..300_000u32 {
        let n = i % 200_000;
        let value = if i >= 200_000 && i % 13 == 0 {
            n % 7 + 100
        } else {
            n % 7
        };
        csv.push_str(&format!(
            "u-{},2026-03-{:02},calls,{value}\n",
            n % 20_000,
            1 + n / 20_000
        ));
    }
    assert!(csv.len() > 6 << 20, "{} bytes", csv.len());
    let options = ParseOptions::default();
    let mut sized = Records::from_bytes("rows.csv", csv.clone().into_bytes(), &options).unwrap();
    let mut plain = Records::from_reader("rows.csv", std::io::Cursor::new(csv), &options).unwrap();
    let (sized_lines, plain_lines) = (lines(sized.by_ref()), lines(plain.by_ref()));
    assert_eq!(sized_lines.len(), plain_lines.len());
    assert!(
        sized_lines == plain_lines,
        "the same items in the same order"
    );
    let report = sized.report();
    assert_eq!(report, plain.report());
    let conflicts = (200_000..300_000u32).filter(|i| i % 13 == 0).count() as u64;
    assert_eq!(
        (report.records, report.duplicates, report.rejected_rows),
        (200_000, 100_000 - conflicts, conflicts)
    );
}
