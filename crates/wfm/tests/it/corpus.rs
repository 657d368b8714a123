//! Replays the fuzz seed corpus (`fuzz/corpus/*`) and the shipped fixtures through every
//! parser, with deterministic mutations (truncations, byte flips, inserted delimiters): no
//! input may panic a parser, and the report must count exactly what was yielded.

use std::path::Path;

use kudos_wfm::{Format, Mapping, ParseOptions, Records, WfmError};

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn mutations(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![seed.to_vec()];
    let n = seed.len();
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ n as u64;
    let mut next = |m: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % (m.max(1) as u64)).unwrap()
    };
    for k in 1..8 {
        out.push(seed[..n * k / 8].to_vec());
    }
    for special in [b'"', b',', b'\n', b'{', b'[', b']', b'\\', 0xff, b'}', b':'] {
        let mut m = seed.to_vec();
        let at = next(n + 1);
        m.insert(at, special);
        out.push(m);
        let mut m = seed.to_vec();
        if n > 0 {
            let at = next(n);
            m[at] = special;
        }
        out.push(m);
    }
    out
}

fn exhaust(bytes: Vec<u8>, options: &ParseOptions) {
    let Ok(mut records) = Records::from_reader("corpus", std::io::Cursor::new(bytes), options)
    else {
        return;
    };
    let (mut ok, mut rows, mut fatal) = (0u64, 0u64, 0);
    for item in records.by_ref() {
        match item {
            Ok(_) => ok += 1,
            Err(WfmError::Row(_)) => rows += 1,
            Err(_) => fatal += 1,
        }
    }
    let rep = records.report();
    assert_eq!(
        (rep.records, rep.rejected_rows, u64::from(rep.file_error)),
        (ok, rows, fatal)
    );
    assert!(fatal <= 1);
}

#[test]
fn no_input_panics_any_parser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut seeds = Vec::new();
    files_under(&root.join("fuzz/corpus"), &mut seeds);
    let from_corpus = seeds.len();
    files_under(&root.join("fixtures"), &mut seeds);
    assert!(from_corpus >= 6, "the fuzz seed corpus is missing");
    let preset = Mapping::resolve("genesys-agent-performance").unwrap();
    let mut runs = 0;
    for seed in &seeds {
        let bytes = std::fs::read(seed).unwrap();
        for input in mutations(&bytes) {
            for format in Format::ALL {
                for tz in ["UTC", "Pacific/Chatham"] {
                    let options = ParseOptions::default()
                        .with_format(format)
                        .with_time_zone(tz)
                        .unwrap()
                        .with_mapping(preset.clone());
                    exhaust(input.clone(), &options);
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 1000, "{runs}");
}
