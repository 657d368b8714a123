//! Every mistake is an error naming the rule (or tier, or alias) and the field.

use kudos_rules::RuleSet;

fn err(text: &str) -> String {
    RuleSet::from_toml(text).unwrap_err().to_string()
}

#[test]
fn mistakes_are_named() {
    let cases = [
        (
            "[[rule]]\nmetric = 'm'\npoints = 1",
            "<inline>: rule #1: id: missing",
        ),
        (
            "[[rule]]\nid = ''\nmetric = 'm'\npoints = 1",
            "rule #1: id: rule id is empty",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\npoints = 1\n[[rule]]\nid = 'a'\nmetric = 'n'\npoints = 2",
            "rule \"a\": id: duplicate: rule #1 has the same id",
        ),
        (
            "[[rule]]\nid = 'a'\npoints = 1",
            "rule \"a\": metric: missing",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'",
            "rule \"a\": points: 0 point forms",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\npoints = 1\nper_unit = 2.0",
            "rule \"a\": points: 2 point forms",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\npoints = 1\nrounding = 'floor'",
            "rule \"a\": rounding: only applies to per_unit",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\nper_unit = 0",
            "rule \"a\": per_unit: is zero",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\nper_unit = nan",
            "rule \"a\": per_unit: NaN is not a finite number",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\nwhen = { gte = nan }\npoints = 1",
            "rule \"a\": when.gte: NaN is not a finite number",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\nwhen = { between = [5, 1] }\npoints = 1",
            "rule \"a\": when.between: [5, 1] is empty",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\nwhen = {}\npoints = 1",
            "rule \"a\": when: no condition",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\nbands = [{ from = 0, to = 10, points = 1 }, { from = 5, to = 20, points = 2 }]",
            "rule \"a\": bands: [0, 10) and [5, 20) overlap",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\nbands = [{ from = 3, to = 3, points = 1 }]",
            "rule \"a\": bands[0]: [3, 3) is empty",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\nbands = []",
            "rule \"a\": bands: no band",
        ),
        (
            "[[rule]]\nid = 'a'\nmetric = 'm'\npoints = 1\nmax_points = 0",
            "rule \"a\": max_points: 0 is not above zero",
        ),
        (
            "[aliases]\ncsat = 'score'\nscore = 'oSurveyTotalScore.avg'",
            "aliases.csat: target: points at another alias",
        ),
        (
            "window_days = 0",
            "rule set: window_days: 0 is not between 1 and 36500",
        ),
        (
            "[[tier]]\nid = 't'\nthreshold = 500",
            "tier \"t\": reward_type: missing",
        ),
        (
            "[[tier]]\nid = 't'\nreward_type = 'r'\nthreshold = 500\ncost = 600",
            "tier \"t\": cost: 600 is above the threshold 500",
        ),
        (
            "[[tier]]\nid = 't'\nreward_type = 'r'\nthreshold = 0",
            "tier \"t\": threshold: 0 is not above zero",
        ),
        (
            "[[tier]]\nid = 't'\nreward_type = 'r'\nthreshold = 5\n[[tier]]\nid = 't'\nreward_type = 'r'\nthreshold = 9",
            "tier \"t\": id: duplicate",
        ),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(got.contains(want), "{text:?}\n  got: {got}\n want: {want}");
    }
}

#[test]
fn unknown_keys_and_wrong_types_are_toml_errors_with_a_line() {
    let got = err("[[rule]]\nid = 'a'\nmetric = 'm'\npionts = 1\n");
    assert!(
        got.contains("unknown field `pionts`") && got.contains("line 4"),
        "{got}"
    );
    let got = err("[[rule]]\nid = 'a'\nmetric = 'm'\npoints = 10.5\n");
    assert!(got.contains("line 4"), "{got}");
}

#[test]
fn metric_names_are_open_and_aliases_resolve() {
    let rules = RuleSet::from_toml(
        "[aliases]\naht = 'tHandle.avg'\n[[rule]]\nid = 'a'\nmetric = 'aht'\npoints = 1\n[[rule]]\nid = 'b'\nmetric = 'anything.a.parser.emits'\npoints = 1",
    )
    .unwrap();
    assert_eq!(rules.rules()[0].metric.as_str(), "tHandle.avg");
    assert_eq!(rules.rules()[1].metric.as_str(), "anything.a.parser.emits");
    assert_eq!(rules.window_days(), 90, "the default window");
}

#[test]
fn tiers_are_ordered_and_the_highest_reached_is_chosen() {
    let rules = RuleSet::from_toml(
        "[[tier]]\nid = 'big'\nreward_type = 'r100'\nthreshold = 1000\ncost = 900\n[[tier]]\nid = 'small'\nreward_type = 'r50'\nthreshold = 500",
    )
    .unwrap();
    let tier = |b: i64| {
        rules
            .tier_for(kudos_core::Points::new(b))
            .map(|t| t.id().to_string())
    };
    assert_eq!(tier(499), None);
    assert_eq!(tier(500).as_deref(), Some("small"));
    assert_eq!(tier(999).as_deref(), Some("small"));
    assert_eq!(tier(1000).as_deref(), Some("big"));
    assert_eq!(rules.tiers()[1].cost().get(), 900);
}
