//! Property tests: whatever canonical CSV or JSON we write, we read back exactly.

use std::collections::BTreeMap;

use kudos_core::{AgentId, Day, MetricName};
use proptest::prelude::*;

use crate::{collect, options};

#[derive(Debug, Clone)]
struct Rec {
    agent: String,
    day: Day,
    metric: String,
    value: f64,
    dims: BTreeMap<String, String>,
}

fn text() -> impl Strategy<Value = String> {
    // Printable, including the characters CSV and JSON must quote or escape.
    "[a-zA-Z0-9 _.,;:\"'{}\\[\\]\\\\/é中-]{0,12}"
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("non-empty", |s| !s.is_empty() && !s.contains('@'))
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        text(),
        0i64..2_900_000,
        text(),
        prop_oneof![
            any::<i32>().prop_map(f64::from),
            -1e12f64..1e12,
            Just(0.0),
            Just(-0.5)
        ],
        proptest::collection::btree_map("[a-z_]{1,6}", text(), 0..3),
    )
        .prop_map(|(agent, d, metric, value, dims)| Rec {
            agent,
            day: Day::parse("1900-01-01").unwrap().add_days(d).unwrap(),
            metric,
            value,
            dims,
        })
}

fn check(written: &[Rec], read: &[kudos_core::MetricRecord]) -> Result<(), TestCaseError> {
    // Distinct identities only: a conflicting duplicate would (rightly) be rejected.
    prop_assert_eq!(written.len(), read.len());
    for (w, r) in written.iter().zip(read) {
        prop_assert_eq!(&r.agent, &AgentId::new(&w.agent).unwrap());
        prop_assert_eq!(r.day, w.day);
        prop_assert_eq!(&r.metric, &MetricName::new(&w.metric).unwrap());
        prop_assert_eq!(
            r.value.to_bits() == w.value.to_bits() || r.value == w.value,
            true
        );
        prop_assert_eq!(&r.dims, &w.dims);
    }
    Ok(())
}

fn distinct(recs: Vec<Rec>) -> Vec<Rec> {
    let mut seen = std::collections::HashSet::new();
    recs.into_iter()
        .filter(|r| seen.insert((r.agent.clone(), r.day, r.metric.clone(), r.dims.clone())))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn canonical_csv_round_trips(recs in proptest::collection::vec(rec(), 0..20).prop_map(distinct)) {
        let dim_names: std::collections::BTreeSet<String> = recs.iter().flat_map(|r| r.dims.keys().cloned()).collect();
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["agent_id".to_owned(), "date".into(), "metric".into(), "value".into()];
        header.extend(dim_names.iter().map(|d| format!("dim.{d}")));
        w.write_record(&header).unwrap();
        for r in &recs {
            let mut row = vec![r.agent.clone(), r.day.to_string(), r.metric.clone(), r.value.to_string()];
            row.extend(dim_names.iter().map(|d| r.dims.get(d).cloned().unwrap_or_default()));
            w.write_record(&row).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let (read, rows, file) = collect("p.csv", bytes, &options("canonical-csv", "UTC", None));
        prop_assert!(rows.is_empty(), "{:?}", rows);
        prop_assert!(file.is_none());
        check(&recs, &read)?;
    }

    #[test]
    fn canonical_json_round_trips_as_array_and_lines(recs in proptest::collection::vec(rec(), 0..20).prop_map(distinct)) {
        let objs: Vec<serde_json::Value> = recs.iter().map(|r| serde_json::json!({
            "agent_id": r.agent, "date": r.day.to_string(), "metric": r.metric, "value": r.value, "dims": r.dims,
        })).collect();
        let array = serde_json::to_vec_pretty(&objs).unwrap();
        let (read, rows, file) = collect("p.json", array, &options("canonical-json", "UTC", None));
        prop_assert!(rows.is_empty() && file.is_none(), "{:?} {:?}", rows, file);
        check(&recs, &read)?;
        let mut lines = Vec::new();
        for o in &objs {
            serde_json::to_writer(&mut lines, o).unwrap();
            lines.push(b'\n');
        }
        let (read, rows, file) = collect("p.jsonl", lines, &options("canonical-json", "UTC", None));
        prop_assert!(rows.is_empty() && file.is_none(), "{:?} {:?}", rows, file);
        check(&recs, &read)?;
    }
}
