//! Rule evaluation against parsing, measured in the same run: 1,000,000 records (the parse
//! bench's canonical CSV) against 10 rules, one per metric of the file.
//!
//! Run with: `cargo bench -p kudos-benches --bench rules`

#![allow(missing_docs, reason = "a bench binary")]
#![allow(
    clippy::disallowed_methods,
    reason = "benches time themselves with Instant"
)]
#![allow(
    clippy::cast_precision_loss,
    reason = "throughput figures are approximate by nature"
)]
#![allow(clippy::print_stdout, reason = "the bench prints its ratios")]

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kudos_core::MetricRecord;
use kudos_rules::RuleSet;
use kudos_wfm::{ParseOptions, Records};

/// Ten rules, one on each metric the generator writes, using every point form.
const RULES: &str = r#"
window_days = 90
[aliases]
aht = "tHandle.avg"
csat = "oSurveyTotalScore.avg"
[[rule]]
id = "aht"
metric = "aht"
bands = [{ from = 0, to = 300, points = 10 }, { from = 300, to = 600, points = 5 }]
[[rule]]
id = "talk"
metric = "tTalk.avg"
when = { lt = 500 }
points = 3
[[rule]]
id = "acw"
metric = "tAcw.avg"
per_unit = -0.01
rounding = "floor"
max_points = 5
[[rule]]
id = "csat"
metric = "csat"
when = { gte = 500 }
points = 10
[[rule]]
id = "adherence"
metric = "adherence_pct"
when = { between = [300, 700] }
points = 4
[[rule]]
id = "conformance"
metric = "conformance_pct"
per_unit = 0.05
[[rule]]
id = "answered"
metric = "answered"
per_unit = 0.1
max_points = 50
[[rule]]
id = "transfers"
metric = "transfers"
when = { gt = 800 }
points = -5
[[rule]]
id = "holds"
metric = "holds"
bands = [{ from = 0, to = 100, points = 1 }]
[[rule]]
id = "exceptions"
metric = "exception_count"
per_unit = -1
"#;

fn bench(c: &mut Criterion) {
    let bytes: &'static [u8] = Box::leak(
        kudos_benches::canonical_csv(1_000_000)
            .into_bytes()
            .into_boxed_slice(),
    );
    let options = ParseOptions::default();
    let records: Vec<MetricRecord> = Records::from_reader("bench", bytes, &options)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let rules = RuleSet::from_toml(RULES).unwrap();
    let totals = RefCell::new([(Duration::ZERO, 0u64); 2]);
    let mut events = 0usize;

    let mut group = c.benchmark_group("rules 1M records x 10 rules");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("parse (kudos-wfm)", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for r in Records::from_reader("bench", bytes, &options).unwrap() {
                    black_box(r.unwrap());
                }
            }
            let d = start.elapsed();
            let t = &mut totals.borrow_mut()[0];
            t.0 += d;
            t.1 += iters;
            d
        });
    });
    group.bench_function("evaluate (kudos-rules)", |b| {
        b.iter_custom(|iters| {
            let mut out = Vec::with_capacity(4);
            let start = Instant::now();
            for _ in 0..iters {
                events = 0;
                for r in &records {
                    out.clear();
                    rules.evaluate_into(black_box(r), &mut out).unwrap();
                    events += out.len();
                    black_box(&out);
                }
            }
            let d = start.elapsed();
            let t = &mut totals.borrow_mut()[1];
            t.0 += d;
            t.1 += iters;
            d
        });
    });
    group.finish();
    let t = totals.borrow();
    let per = |(d, n): (Duration, u64)| d.as_secs_f64() / n.max(1) as f64;
    let (parse, eval) = (per(t[0]), per(t[1]));
    println!(
        "{} records, {events} events: parse {:.0} ms, evaluate {:.0} ms ({:.2} M records/s), ratio evaluate / parse = {:.2}x",
        records.len(),
        parse * 1e3,
        eval * 1e3,
        records.len() as f64 / eval / 1e6,
        eval / parse
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
