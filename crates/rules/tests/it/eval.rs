//! Evaluation at the edges: conditions, rounding, bands, caps, overflow.

use kudos_rules::{RuleError, RuleSet};

use crate::record;

fn points(rules: &str, metric: &str, value: f64) -> Vec<i64> {
    let set = RuleSet::from_toml(rules).unwrap();
    set.evaluate(&record(metric, value))
        .unwrap()
        .iter()
        .map(|e| e.points().get())
        .collect()
}

#[test]
fn every_rule_on_the_metric_yields_an_event_even_at_zero() {
    let rules = "[[rule]]\nid = 'top'\nmetric = 'csat'\nwhen = { gte = 90 }\npoints = 10\n[[rule]]\nid = 'low'\nmetric = 'csat'\nwhen = { lt = 50 }\npoints = -5\n[[rule]]\nid = 'other'\nmetric = 'aht'\npoints = 1";
    assert_eq!(points(rules, "csat", 95.0), [10, 0]);
    assert_eq!(
        points(rules, "csat", 90.0),
        [10, 0],
        "gte includes its bound"
    );
    assert_eq!(points(rules, "csat", 40.0), [0, -5]);
    assert_eq!(points(rules, "unrelated", 40.0), Vec::<i64>::new());
}

#[test]
fn conditions_combine_and_between_is_inclusive() {
    let rules =
        "[[rule]]\nid = 'r'\nmetric = 'm'\nwhen = { between = [10, 20], ne = 15 }\npoints = 1";
    assert_eq!(points(rules, "m", 10.0), [1]);
    assert_eq!(points(rules, "m", 20.0), [1]);
    assert_eq!(points(rules, "m", 15.0), [0]);
    assert_eq!(points(rules, "m", 20.000_001), [0]);
}

#[test]
fn rounding_modes() {
    let rule = |mode: &str| {
        format!("[[rule]]\nid = 'r'\nmetric = 'm'\nper_unit = 0.5\nrounding = '{mode}'")
    };
    for (mode, value, want) in [
        ("nearest", 5.0, 3),
        ("nearest", -5.0, -3),
        ("nearest", 4.9, 2),
        ("floor", 5.0, 2),
        ("floor", -5.0, -3),
        ("ceil", 5.0, 3),
        ("ceil", -5.0, -2),
    ] {
        assert_eq!(
            points(&rule(mode), "m", value),
            [want],
            "{mode} of {value} × 0.5"
        );
    }
    assert_eq!(
        points(
            "[[rule]]\nid = 'r'\nmetric = 'm'\nper_unit = -100",
            "m",
            2.5
        ),
        [-250],
        "nearest is the default"
    );
}

#[test]
fn bands_include_from_and_exclude_to() {
    let rules = "[[rule]]\nid = 'aht'\nmetric = 'm'\nbands = [{ from = 0, to = 240, points = 10 }, { from = 240, to = 300, points = 5 }]";
    assert_eq!(points(rules, "m", 0.0), [10]);
    assert_eq!(points(rules, "m", 239.999), [10]);
    assert_eq!(points(rules, "m", 240.0), [5]);
    assert_eq!(points(rules, "m", 300.0), [0], "outside every band: zero");
    assert_eq!(points(rules, "m", -1.0), [0]);
}

#[test]
fn max_points_caps_both_ways() {
    let rules = "[[rule]]\nid = 'r'\nmetric = 'm'\nper_unit = 10\nmax_points = 50";
    assert_eq!(points(rules, "m", 7.0), [50]);
    assert_eq!(points(rules, "m", -7.0), [-50]);
    assert_eq!(points(rules, "m", 3.0), [30]);
}

#[test]
fn points_beyond_the_integer_range_are_an_error_naming_the_rule_and_agent() {
    let set = RuleSet::from_toml("[[rule]]\nid = 'huge'\nmetric = 'm'\nper_unit = 1e10").unwrap();
    let err = set.evaluate(&record("m", 9.0e15)).unwrap_err();
    assert!(matches!(err, RuleError::Overflow { .. }));
    assert_eq!(
        err.to_string(),
        "rule huge: agent u-1, day 2026-03-02: value 9000000000000000 gives points beyond the integer range"
    );
    let capped =
        RuleSet::from_toml("[[rule]]\nid = 'huge'\nmetric = 'm'\nper_unit = 1e10\nmax_points = 5")
            .unwrap();
    assert!(
        capped.evaluate(&record("m", 9.0e15)).is_err(),
        "the cap applies after rounding, to a number that exists"
    );
}

#[test]
fn the_key_is_agent_day_rule_metric_dims() {
    let set = RuleSet::from_toml("[aliases]\ncsat = 'oSurveyTotalScore.avg'\n[[rule]]\nid = 'r'\nmetric = 'csat'\npoints = 1").unwrap();
    let mut rec = record("oSurveyTotalScore.avg", 1.0);
    rec.dims.insert("queue".into(), "sales".into());
    let e = &set.evaluate(&rec).unwrap()[0];
    let k = e.key();
    assert_eq!(
        (
            k.agent.as_str(),
            k.day.to_string(),
            k.rule.as_str(),
            k.metric.as_str()
        ),
        ("u-1", "2026-03-02".to_owned(), "r", "oSurveyTotalScore.avg")
    );
    assert_eq!(k.dims.get("queue").map(String::as_str), Some("sales"));
}
