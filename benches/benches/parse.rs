//! Parsing throughput of `kudos-wfm` against a raw `csv::ByteRecord` read of the same bytes,
//! measured in the same run. Prints MB/s and records/s for each, and the ratio.
//!
//! Run with: `cargo bench -p kudos-benches --bench parse`

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

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kudos_wfm::{Mapping, ParseOptions, Records};

/// Total time and iterations per benchmark, to print ratios after the group.
#[derive(Default)]
struct Totals {
    raw: (Duration, u64),
    fields: (Duration, u64),
    parse: (Duration, u64),
}

fn per_iter((d, n): (Duration, u64)) -> f64 {
    d.as_secs_f64() / n.max(1) as f64
}

/// Parses the bytes in place, as the raw read does (no copy timed on one side only).
fn parse_all(bytes: &'static [u8], options: &ParseOptions) -> u64 {
    // In place, and sized from the input's length as `kudos_wfm::open` is for a file.
    let records = Records::from_bytes("bench", bytes, options).unwrap();
    let mut n = 0;
    for r in records {
        black_box(r.unwrap());
        n += 1;
    }
    n
}

fn bench_file(
    c: &mut Criterion,
    name: &str,
    text: String,
    options: &ParseOptions,
    validate_fields: bool,
) {
    // Leaked once, so both sides read the same bytes in place, with no copy timed.
    let bytes: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
    let records = parse_all(bytes, options);
    let totals = RefCell::new(Totals::default());
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("raw csv::ByteRecord", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(kudos_benches::raw_byte_records(black_box(bytes)));
            }
            let d = start.elapsed();
            let mut t = totals.borrow_mut();
            t.raw.0 += d;
            t.raw.1 += iters;
            d
        });
    });
    if validate_fields {
        group.bench_function("raw + field validation", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(kudos_benches::validated_fields(black_box(bytes)));
                }
                let d = start.elapsed();
                let mut t = totals.borrow_mut();
                t.fields.0 += d;
                t.fields.1 += iters;
                d
            });
        });
    }
    group.bench_function("kudos-wfm", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(parse_all(black_box(bytes), options));
            }
            let d = start.elapsed();
            let mut t = totals.borrow_mut();
            t.parse.0 += d;
            t.parse.1 += iters;
            d
        });
    });
    group.finish();
    let t = totals.borrow();
    if t.raw.1 == 0 || t.parse.1 == 0 {
        // Filtered out on the command line: nothing to compare.
        return;
    }
    let (raw, parse) = (per_iter(t.raw), per_iter(t.parse));
    let mb = bytes.len() as f64 / 1e6;
    if validate_fields {
        let fields = per_iter(t.fields);
        println!(
            "{name}: raw + field validation {:.0} MB/s, {:.2}x raw | kudos-wfm / (raw + field validation) = {:.2}x",
            mb / fields,
            fields / raw,
            parse / fields
        );
    }
    println!(
        "{name}: {:.1} MB, {records} records | raw {:.0} MB/s | kudos-wfm {:.0} MB/s, {:.2} M records/s | ratio kudos-wfm / raw = {:.2}x",
        mb,
        mb / raw,
        mb / parse,
        records as f64 / parse / 1e6,
        parse / raw
    );
}

fn parse(c: &mut Criterion) {
    let canonical = kudos_benches::canonical_csv(1_000_000);
    bench_file(
        c,
        "canonical-csv 1M rows",
        canonical,
        &ParseOptions::default(),
        true,
    );
    let wide = kudos_benches::wide_csv(100_000);
    let preset = Mapping::resolve("genesys-agent-performance").unwrap();
    bench_file(
        c,
        "wide-csv 100k rows",
        wide,
        &ParseOptions::default().with_mapping(preset),
        false,
    );
}

criterion_group!(benches, parse);
criterion_main!(benches);
