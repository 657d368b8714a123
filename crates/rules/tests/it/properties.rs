//! Properties: order independence, stable ids, points without keys, caps, rounding bounds.

use std::collections::BTreeMap;

use kudos_core::{AgentId, Day, MetricName, MetricRecord, Origin};
use kudos_rules::RuleSet;
use proptest::prelude::*;

const RULES: &str = r#"
[[rule]]
id = "fixed"
metric = "a"
when = { gte = 10 }
points = 7
[[rule]]
id = "per-unit"
metric = "a"
per_unit = -1.5
rounding = "floor"
max_points = 40
[[rule]]
id = "bands"
metric = "b"
bands = [{ from = 0, to = 100, points = 3 }, { from = 100, to = 1000, points = -2 }]
"#;

fn rec() -> impl Strategy<Value = MetricRecord> {
    (
        0u8..5,
        0i64..10,
        prop_oneof![Just("a"), Just("b"), Just("c")],
        -1e6f64..1e6,
    )
        .prop_map(|(a, d, m, v)| {
            MetricRecord::new(
                AgentId::new(format!("u-{a}")).unwrap(),
                Day::parse("2026-03-01").unwrap().add_days(d).unwrap(),
                MetricName::new(m).unwrap(),
                v,
                BTreeMap::new(),
                Origin {
                    source: "p".into(),
                    line: 1,
                },
            )
            .unwrap()
        })
}

proptest! {
    #[test]
    fn evaluation_is_order_independent_and_ids_are_stable(mut records in proptest::collection::vec(rec(), 0..40), seed in any::<u64>()) {
        let set = RuleSet::from_toml(RULES).unwrap();
        let run = |rs: &[MetricRecord]| {
            let mut out: Vec<(uuid::Uuid, i64)> = rs.iter().flat_map(|r| set.evaluate(r).unwrap()).map(|e| (e.id(), e.points().get())).collect();
            out.sort_unstable();
            out
        };
        let first = run(&records);
        // A deterministic shuffle from the seed.
        let n = records.len();
        let mut s = seed | 1;
        for i in (1..n).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            records.swap(i, usize::try_from(s % (i as u64 + 1)).unwrap());
        }
        prop_assert_eq!(first, run(&records));
    }

    /// `points_into` is `evaluate_into` without the keys: the same rules in the same order,
    /// the same points, and each event's key made from the record and the rule it names.
    #[test]
    fn points_into_is_evaluation_without_the_keys(record in rec()) {
        let set = RuleSet::from_toml(RULES).unwrap();
        let events = set.evaluate(&record).unwrap();
        let mut points = Vec::new();
        set.points_into(&record, &mut points).unwrap();
        prop_assert_eq!(points.len(), events.len());
        for ((rule, points), event) in points.into_iter().zip(&events) {
            let rule = &set.rules()[rule];
            prop_assert_eq!(points, event.points());
            prop_assert_eq!(&rule.id, &event.key().rule);
            prop_assert_eq!(&rule.metric, &event.key().metric);
            let ids = kudos_core::AgentKeyIds::new(record.agent.clone());
            prop_assert_eq!(ids.id_of(record.day, &rule.id, &rule.metric, &record.dims), event.id());
        }
    }

    #[test]
    fn caps_bound_every_event_and_rounding_stays_within_one(value in -1e9f64..1e9) {
        let set = RuleSet::from_toml(RULES).unwrap();
        let rule = &set.rules()[1];
        let p = rule.points_for(value).unwrap();
        prop_assert!(p.abs() <= 40);
        let exact = value * -1.5;
        if exact.abs() < 40.0 {
            let pf = f64::from(i32::try_from(p).unwrap());
            prop_assert!(exact - 1.0 < pf && pf <= exact, "floor of {} is {}", exact, p);
        }
    }

    #[test]
    fn nearest_rounds_halves_away_from_zero(n32 in -1_000_000i32..1_000_000) {
        let set = RuleSet::from_toml("[[rule]]\nid = 'h'\nmetric = 'm'\nper_unit = 0.5").unwrap();
        let p = set.rules()[0].points_for(f64::from(n32)).unwrap();
        let n = i64::from(n32);
        let want = if n % 2 == 0 { n / 2 } else if n > 0 { n / 2 + 1 } else { n / 2 - 1 };
        prop_assert_eq!(p, want);
    }
}
