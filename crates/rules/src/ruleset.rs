//! Reading and validating a rule set.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use kudos_core::{Day, MetricName, Points, RewardType, RuleId, Tier, TierId};
use serde::Deserialize;

use crate::RuleError;

/// How `per_unit` points are rounded to an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Toward negative infinity.
    Floor,
    /// Toward positive infinity.
    Ceil,
    /// To the nearest integer, halves away from zero (the default).
    #[default]
    Nearest,
}

/// One condition on a record's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// `value == x`
    Eq(f64),
    /// `value != x`
    Ne(f64),
    /// `value > x`
    Gt(f64),
    /// `value >= x`
    Gte(f64),
    /// `value < x`
    Lt(f64),
    /// `value <= x`
    Lte(f64),
    /// `lo <= value <= hi`
    Between(f64, f64),
}

impl Condition {
    /// Whether `value` meets the condition.
    #[must_use]
    #[allow(
        clippy::float_cmp,
        reason = "eq and ne are exact comparisons, as the rule author wrote them"
    )]
    pub fn holds(&self, value: f64) -> bool {
        match *self {
            Self::Eq(x) => value == x,
            Self::Ne(x) => value != x,
            Self::Gt(x) => value > x,
            Self::Gte(x) => value >= x,
            Self::Lt(x) => value < x,
            Self::Lte(x) => value <= x,
            Self::Between(lo, hi) => lo <= value && value <= hi,
        }
    }
}

/// A band of values worth fixed points: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Lowest value in the band.
    pub from: f64,
    /// First value above the band.
    pub to: f64,
    /// Points for a value in the band.
    pub points: i64,
}

/// How a matching record becomes points.
#[derive(Debug, Clone, PartialEq)]
pub enum PointForm {
    /// Fixed points per matching record.
    Fixed(i64),
    /// `value × per_unit`, rounded.
    PerUnit {
        /// Points per unit of the metric.
        per_unit: f64,
        /// The rounding.
        rounding: Rounding,
    },
    /// Points by band (outside every band: zero), sorted by `from`.
    Bands(Vec<Band>),
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its id: unique, part of every event key it makes.
    pub id: RuleId,
    /// The record metric it applies to (the alias resolved).
    pub metric: MetricName,
    /// All conditions must hold; none means always.
    pub when: Vec<Condition>,
    /// How points are computed.
    pub form: PointForm,
    /// A cap on one event's absolute points, after rounding.
    pub max_points: Option<i64>,
}

/// A validated rule set: window, aliases, rules and tiers.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) window_days: u32,
    pub(crate) aliases: BTreeMap<String, MetricName>,
    pub(crate) rules: Vec<Rule>,
    /// Seeded fast hashing: looked up once per record (SipHash showed in the profile of
    /// `kudos points`), and filled from the rule file only, so input cannot grow it.
    pub(crate) by_metric: HashMap<MetricName, Vec<usize>, foldhash::fast::RandomState>,
    /// Sorted by threshold, then id.
    pub(crate) tiers: Vec<Tier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    window_days: Option<i64>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
    #[serde(default, rename = "tier")]
    tiers: Vec<RawTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Option<String>,
    metric: Option<String>,
    when: Option<RawWhen>,
    points: Option<i64>,
    per_unit: Option<f64>,
    rounding: Option<Rounding>,
    bands: Option<Vec<RawBand>>,
    max_points: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    eq: Option<f64>,
    ne: Option<f64>,
    gt: Option<f64>,
    gte: Option<f64>,
    lt: Option<f64>,
    lte: Option<f64>,
    between: Option<[f64; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    from: f64,
    to: f64,
    points: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    id: Option<String>,
    reward_type: Option<String>,
    threshold: Option<i64>,
    cost: Option<i64>,
}

/// The default window, in days, when a rule set does not say.
pub const DEFAULT_WINDOW_DAYS: u32 = 90;

struct Check<'a> {
    file: &'a str,
}

impl Check<'_> {
    fn err(&self, place: &str, field: &str, reason: impl Into<String>) -> RuleError {
        RuleError::Invalid {
            file: self.file.to_owned(),
            place: place.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    fn finite(&self, place: &str, field: &str, x: f64) -> Result<f64, RuleError> {
        if x.is_finite() {
            Ok(x)
        } else {
            Err(self.err(place, field, format!("{x} is not a finite number")))
        }
    }
}

impl RuleSet {
    /// Reads and validates a rule file.
    ///
    /// # Errors
    ///
    /// [`RuleError::Io`], or as [`from_toml`](Self::from_toml), with the file's name.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, RuleError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| RuleError::Io {
            file: file.clone(),
            error,
        })?;
        Self::parse(&file, &text)
    }

    /// Parses and validates a rule set written in TOML.
    ///
    /// # Errors
    ///
    /// [`RuleError::Toml`] for invalid TOML or an unknown key (with its line), and
    /// [`RuleError::Invalid`] naming the rule, alias or tier and the field at fault: an empty or
    /// duplicate id, two point forms or none, `rounding` without `per_unit`, overlapping or
    /// empty bands, NaN or infinite bounds, an alias pointing at another alias, a tier without
    /// a reward type, `cost > threshold`, …
    pub fn from_toml(text: &str) -> Result<Self, RuleError> {
        Self::parse("<inline>", text)
    }

    fn parse(file: &str, text: &str) -> Result<Self, RuleError> {
        let raw: RawSet = toml::from_str(text).map_err(|e| RuleError::Toml {
            file: file.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let c = Check { file };
        let window_days = match raw.window_days {
            None => DEFAULT_WINDOW_DAYS,
            Some(w) => u32::try_from(w)
                .ok()
                .filter(|w| (1..=36_500).contains(w))
                .ok_or_else(|| {
                    c.err(
                        "rule set",
                        "window_days",
                        format!("{w} is not between 1 and 36500"),
                    )
                })?,
        };

        let mut aliases = BTreeMap::new();
        for (name, target) in &raw.aliases {
            let place = format!("aliases.{name}");
            MetricName::new(name).map_err(|e| c.err(&place, "name", e.to_string()))?;
            if raw.aliases.contains_key(target) {
                return Err(c.err(
                    &place,
                    "target",
                    format!("points at another alias ({target:?}); aliases name record metrics"),
                ));
            }
            let target =
                MetricName::new(target).map_err(|e| c.err(&place, "target", e.to_string()))?;
            aliases.insert(name.clone(), target);
        }

        let mut rules: Vec<Rule> = Vec::new();
        let mut by_metric: HashMap<MetricName, Vec<usize>, foldhash::fast::RandomState> =
            HashMap::default();
        for (i, r) in raw.rules.into_iter().enumerate() {
            let mut place = format!("rule #{}", i + 1);
            let id = r.id.ok_or_else(|| c.err(&place, "id", "missing"))?;
            let id = RuleId::new(&id).map_err(|e| c.err(&place, "id", e.to_string()))?;
            place = format!("rule {:?}", id.as_str());
            if let Some(first) = rules.iter().position(|x| x.id == id) {
                return Err(c.err(
                    &place,
                    "id",
                    format!("duplicate: rule #{} has the same id", first + 1),
                ));
            }
            let named_metric = r.metric.ok_or_else(|| c.err(&place, "metric", "missing"))?;
            let metric = match aliases.get(&named_metric) {
                Some(target) => target.clone(),
                None => MetricName::new(&named_metric)
                    .map_err(|e| c.err(&place, "metric", e.to_string()))?,
            };

            let mut when = Vec::new();
            if let Some(w) = r.when {
                let conds = [
                    (w.eq, "eq", Condition::Eq as fn(f64) -> Condition),
                    (w.ne, "ne", Condition::Ne),
                    (w.gt, "gt", Condition::Gt),
                    (w.gte, "gte", Condition::Gte),
                    (w.lt, "lt", Condition::Lt),
                    (w.lte, "lte", Condition::Lte),
                ];
                for (x, name, make) in conds {
                    if let Some(x) = x {
                        when.push(make(c.finite(&place, &format!("when.{name}"), x)?));
                    }
                }
                if let Some([lo, hi]) = w.between {
                    let (lo, hi) = (
                        c.finite(&place, "when.between", lo)?,
                        c.finite(&place, "when.between", hi)?,
                    );
                    if lo > hi {
                        return Err(c.err(
                            &place,
                            "when.between",
                            format!("[{lo}, {hi}] is empty: the low bound is above the high one"),
                        ));
                    }
                    when.push(Condition::Between(lo, hi));
                }
                if when.is_empty() {
                    return Err(c.err(
                        &place,
                        "when",
                        "no condition (leave `when` out for always)",
                    ));
                }
            }

            let forms = usize::from(r.points.is_some())
                + usize::from(r.per_unit.is_some())
                + usize::from(r.bands.is_some());
            if forms != 1 {
                return Err(c.err(
                    &place,
                    "points",
                    format!("{forms} point forms; give exactly one of points, per_unit or bands"),
                ));
            }
            if r.rounding.is_some() && r.per_unit.is_none() {
                return Err(c.err(&place, "rounding", "only applies to per_unit"));
            }
            let form = if let Some(p) = r.points {
                PointForm::Fixed(p)
            } else if let Some(per_unit) = r.per_unit {
                let per_unit = c.finite(&place, "per_unit", per_unit)?;
                if per_unit == 0.0 {
                    return Err(c.err(
                        &place,
                        "per_unit",
                        "is zero: every record would get 0 points",
                    ));
                }
                PointForm::PerUnit {
                    per_unit,
                    rounding: r.rounding.unwrap_or_default(),
                }
            } else {
                let mut bands = Vec::new();
                for (j, b) in r.bands.unwrap_or_default().into_iter().enumerate() {
                    let field = format!("bands[{j}]");
                    let (from, to) = (
                        c.finite(&place, &field, b.from)?,
                        c.finite(&place, &field, b.to)?,
                    );
                    if from >= to {
                        return Err(c.err(&place, &field, format!("[{from}, {to}) is empty")));
                    }
                    bands.push(Band {
                        from,
                        to,
                        points: b.points,
                    });
                }
                if bands.is_empty() {
                    return Err(c.err(&place, "bands", "no band"));
                }
                bands.sort_by(|a, b| a.from.total_cmp(&b.from));
                if let Some(w) = bands.windows(2).find(|w| w[1].from < w[0].to) {
                    return Err(c.err(
                        &place,
                        "bands",
                        format!(
                            "[{}, {}) and [{}, {}) overlap",
                            w[0].from, w[0].to, w[1].from, w[1].to
                        ),
                    ));
                }
                PointForm::Bands(bands)
            };
            if let Some(m) = r.max_points
                && m <= 0
            {
                return Err(c.err(&place, "max_points", format!("{m} is not above zero")));
            }
            by_metric
                .entry(metric.clone())
                .or_default()
                .push(rules.len());
            rules.push(Rule {
                id,
                metric,
                when,
                form,
                max_points: r.max_points,
            });
        }

        let mut tiers: Vec<Tier> = Vec::new();
        for (i, t) in raw.tiers.into_iter().enumerate() {
            let mut place = format!("tier #{}", i + 1);
            let id = t.id.ok_or_else(|| c.err(&place, "id", "missing"))?;
            let id = TierId::new(&id).map_err(|e| c.err(&place, "id", e.to_string()))?;
            place = format!("tier {:?}", id.as_str());
            if tiers.iter().any(|x| *x.id() == id) {
                return Err(c.err(&place, "id", "duplicate"));
            }
            let reward_type = t.reward_type.ok_or_else(|| {
                c.err(
                    &place,
                    "reward_type",
                    "missing: the marketplace needs to know what to issue",
                )
            })?;
            let reward_type = RewardType::new(&reward_type)
                .map_err(|e| c.err(&place, "reward_type", e.to_string()))?;
            let threshold = t
                .threshold
                .ok_or_else(|| c.err(&place, "threshold", "missing"))?;
            if threshold <= 0 {
                return Err(c.err(
                    &place,
                    "threshold",
                    format!("{threshold} is not above zero"),
                ));
            }
            if let Some(cost) = t.cost {
                if cost <= 0 {
                    return Err(c.err(&place, "cost", format!("{cost} is not above zero")));
                }
                if cost > threshold {
                    return Err(c.err(
                        &place,
                        "cost",
                        format!("{cost} is above the threshold {threshold}: a hold could overdraw"),
                    ));
                }
            }
            let tier = Tier::new(
                id,
                reward_type,
                Points::new(threshold),
                t.cost.map(Points::new),
            )
            .map_err(|e| c.err(&place, "threshold", e.to_string()))?;
            tiers.push(tier);
        }
        tiers.sort_by(|a, b| (a.threshold(), a.id()).cmp(&(b.threshold(), b.id())));
        Ok(Self {
            window_days,
            aliases,
            rules,
            by_metric,
            tiers,
        })
    }

    /// Days a lot stays live.
    #[must_use]
    pub fn window_days(&self) -> u32 {
        self.window_days
    }

    /// When points earned on `day` expire: `day + window_days`.
    ///
    /// # Errors
    ///
    /// [`RuleError::DayOutOfRange`] past year 9999.
    pub fn expiry(&self, day: Day) -> Result<Day, RuleError> {
        day.add_days(i64::from(self.window_days))
            .map_err(|_| RuleError::DayOutOfRange {
                day: day.to_string(),
                window_days: self.window_days,
            })
    }

    /// The rules, in file order.
    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The aliases: canonical name → record metric.
    #[must_use]
    pub fn aliases(&self) -> &BTreeMap<String, MetricName> {
        &self.aliases
    }

    /// The tiers, by threshold.
    #[must_use]
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// The highest tier whose threshold `balance` reaches.
    #[must_use]
    pub fn tier_for(&self, balance: Points) -> Option<&Tier> {
        self.tiers.iter().rev().find(|t| t.threshold() <= balance)
    }
}
