//! The canonical JSON (RFC 8785, JCS) that audit hashes cover, written straight from a record
//! or a value: keys in the order of their UTF-16 code units, no whitespace, strings escaped
//! as JCS escapes them, integers up to 2^53 as themselves. What only a full JCS serializer
//! gets right (fractions, exponents, integers past 2^53) goes to `serde_json_canonicalizer`,
//! number by number, so the bytes are always the ones it would write for the whole record
//! (the tests compare the two on any value), without its cost per key: a run writes three
//! records a reward.

use serde_json::Value;
use uuid::Uuid;

use super::AuditRecord;

/// The largest integer JCS writes as itself (every integer up to it is an exact double).
const EXACT: u64 = 1 << 53;

/// Appends the canonical JSON of `record` without its `hash` (what the hash covers).
///
/// The fields are written by name, in canonical order; a field added to [`AuditRecord`] must
/// be added here too (`the_record_is_written_as_the_canonicalizer_writes_it` fails until it is).
pub(super) fn record(record: &AuditRecord, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    out.extend_from_slice(br#"{"data":"#);
    value(&record.data, out)?;
    out.extend_from_slice(br#","event":"#);
    string(&record.event, out)?;
    if let Some(key) = &record.key {
        out.extend_from_slice(br#","key":"#);
        string(key, out)?;
    }
    if let Some(link) = &record.link {
        out.extend_from_slice(br#","link":{"run_id":"#);
        uuid(link.run_id, out);
        out.extend_from_slice(br#","seq":"#);
        unsigned(link.seq, out)?;
        out.push(b'}');
    }
    out.extend_from_slice(br#","prev":"#);
    string(&record.prev, out)?;
    out.extend_from_slice(br#","run_id":"#);
    uuid(record.run_id, out);
    out.extend_from_slice(br#","seq":"#);
    unsigned(record.seq, out)?;
    if let Some(v) = record.v {
        out.extend_from_slice(br#","v":"#);
        unsigned(u64::from(v), out)?;
    }
    out.push(b'}');
    Ok(())
}

/// Appends the canonical JSON of `v`.
pub(super) fn value(v: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => number(n, out)?,
        Value::String(s) => string(s, out)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Whatever order the map keeps (sorted, or insertion order under serde_json's
            // `preserve_order`), the canonical order is by UTF-16 code units.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| utf16_order(a.0, b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(key, out)?;
                out.push(b':');
                value(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Keys in the order of their UTF-16 code units. Below U+E000 that is the order of their
/// UTF-8 bytes (the lead byte of U+E000 and above is 0xEE or more); past it, a surrogate pair
/// (U+10000 and above) sorts before U+E000–U+FFFF, so those keys are compared as UTF-16.
fn utf16_order(a: &str, b: &str) -> std::cmp::Ordering {
    let plain = |s: &str| s.bytes().all(|c| c < 0xEE);
    if plain(a) && plain(b) {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// A string as JCS escapes it: `"`, `\` and the controls below U+0020 (the short forms
/// `\b \t \n \f \r`, the rest `\u00xx` in lowercase hex), nothing else — as `serde_json`
/// writes strings.
fn string(s: &str, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    serde_json::to_writer(&mut *out, s)
}

fn unsigned(n: u64, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    if n <= EXACT {
        serde_json::to_writer(&mut *out, &n)
    } else {
        jcs(&n, out)
    }
}

fn number(n: &serde_json::Number, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    if let Some(u) = n.as_u64() {
        return unsigned(u, out);
    }
    match n.as_i64() {
        Some(i) if i.unsigned_abs() <= EXACT => serde_json::to_writer(&mut *out, &i),
        _ => jcs(n, out),
    }
}

/// What only a full JCS serializer writes right: a number as the nearest double, in the
/// shortest form that reads back as it.
fn jcs<T: serde::Serialize>(v: &T, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    out.extend_from_slice(&serde_json_canonicalizer::to_vec(v)?);
    Ok(())
}

fn uuid(id: Uuid, out: &mut Vec<u8>) {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.push(b'"');
    out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Link;
    use proptest::prelude::*;

    fn canonicalizer(v: &Value) -> Vec<u8> {
        serde_json_canonicalizer::to_vec(v).unwrap()
    }

    fn ours(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        value(v, &mut out).unwrap();
        out
    }

    /// Keys and strings from the characters where orders and escapes differ: controls,
    /// quotes, backslashes, the solidus, DEL, U+E000–U+FFFF and beyond the BMP.
    fn text() -> impl Strategy<Value = String> {
        let chars = prop_oneof![
            (0x20u32..0x7f).prop_map(|c| char::from_u32(c).unwrap_or('a')),
            (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('a')),
            Just('"'),
            Just('\\'),
            Just('/'),
            Just('\u{7f}'),
            Just('é'),
            Just('\u{d7ff}'),
            Just('\u{e000}'),
            Just('\u{ffee}'),
            Just('\u{10000}'),
            Just('😀'),
        ];
        prop::collection::vec(chars, 0..6).prop_map(|cs| cs.into_iter().collect())
    }

    fn numbers() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (EXACT - 1000..=EXACT + 1000).prop_map(Value::from),
            (-(1i64 << 53) - 1000..=-(1i64 << 53) + 1000).prop_map(Value::from),
            Just(Value::from(EXACT)),
            Just(Value::from(EXACT + 1)),
            Just(Value::from(-(1i64 << 53))),
            Just(Value::from(-(1i64 << 53) - 1)),
            Just(Value::from(u64::MAX)),
            Just(Value::from(i64::MIN)),
            (-1e25f64..1e25).prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            Just(Value::from(0.1)),
            Just(Value::from(-0.0)),
            Just(Value::from(1e21)),
            Just(Value::from(1e-7)),
        ]
    }

    fn values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            numbers(),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(text(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_value_is_written_as_the_canonicalizer_writes_it(v in values()) {
            prop_assert_eq!(String::from_utf8(ours(&v)).unwrap(), String::from_utf8(canonicalizer(&v)).unwrap());
        }

        #[test]
        fn the_record_is_written_as_the_canonicalizer_writes_it(
            data in values(),
            event in text(),
            seq in prop_oneof![1u64..1000, Just(EXACT + 1), Just(u64::MAX)],
            keyed in any::<bool>(),
            linked in any::<bool>(),
            v in prop::option::of(1u32..4),
            prev in text(),
        ) {
            let record = AuditRecord {
                v,
                run_id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
                seq,
                prev,
                link: linked.then_some(Link { run_id: Uuid::from_u128(7), seq: seq / 3 }),
                event,
                data,
                key: keyed.then(|| "00ff00ff00ff00ff".to_owned()),
                hash: "not covered".to_owned(),
            };
            // As the hash was taken before: the record as a value, without its hash.
            let mut whole = serde_json::to_value(&record).unwrap();
            whole.as_object_mut().unwrap().remove("hash");
            let mut out = Vec::new();
            super::record(&record, &mut out).unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(canonicalizer(&whole)).unwrap());
        }
    }

    #[test]
    fn keys_past_the_bmp_sort_before_the_last_of_it() {
        // U+1F600 is a surrogate pair (0xD83D…), which sorts before U+E000 in UTF-16 though
        // its code point is larger.
        let v: Value = serde_json::json!({"\u{e000}": 1, "😀": 2, "z": 3, "a": [1.5, 10_000_000_000_000_000_000u64]});
        assert_eq!(
            String::from_utf8(ours(&v)).unwrap(),
            "{\"a\":[1.5,10000000000000000000],\"z\":3,\"😀\":2,\"\u{e000}\":1}"
        );
        assert_eq!(ours(&v), canonicalizer(&v));
    }
}
