//! The analytics aggregate queries Kudos pulls: one `P1D` query grouped by user per kind and
//! stretch of days, in the business unit's time zone, the range cut into stretches Genesys
//! accepts.

use chrono::{NaiveTime, TimeZone as _};
use chrono_tz::Tz;
use kudos_core::Day;
use serde_json::{Value, json};

use crate::GenesysError;

/// The most days one aggregate query spans. Kudos keeps well inside the Platform API's
/// interval limit *(the limit's exact value is unverified; a week of `P1D` buckets per
/// query is conservative)*.
pub const MAX_DAYS_PER_QUERY: i64 = 7;

/// An analytics aggregate query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AggregateKind {
    /// Conversations: handle, talk, hold and after-call work (AHT), answered.
    Conversations,
    /// Surveys: CSAT-like total score, NPS counts.
    Surveys,
    /// Evaluations: QA scores.
    Evaluations,
    /// Users: time in routing status and presence.
    Users,
}

impl AggregateKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [
        Self::Conversations,
        Self::Surveys,
        Self::Evaluations,
        Self::Users,
    ];

    /// Its name in `[genesys] pull` and in staged file names.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Conversations => "conversations",
            Self::Surveys => "surveys",
            Self::Evaluations => "evaluations",
            Self::Users => "users",
        }
    }

    /// The kind named `name`.
    ///
    /// # Errors
    ///
    /// [`GenesysError::Config`] naming the kinds there are.
    pub fn parse(name: &str) -> Result<Self, GenesysError> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                GenesysError::Config(format!(
                    "genesys.pull: {name:?} is not one of conversations, surveys, evaluations, users"
                ))
            })
    }

    /// The query's path.
    #[must_use]
    pub fn path(self) -> String {
        format!("/api/v2/analytics/{}/aggregates/query", self.name())
    }

    /// The metrics asked for (`docs/genesys.md`, section 5).
    #[must_use]
    pub const fn metrics(self) -> &'static [&'static str] {
        match self {
            Self::Conversations => &["tAnswered", "tHandle", "tTalk", "tHeld", "tAcw"],
            Self::Surveys => &[
                "nSurveyResponses",
                "oSurveyTotalScore",
                "nSurveyNpsResponses",
                "nSurveyNpsPromoters",
                "nSurveyNpsDetractors",
            ],
            Self::Evaluations => &["nEvaluations", "oTotalScore", "oTotalCriticalScore"],
            Self::Users => &[
                "tAgentRoutingStatus",
                "tOrganizationPresence",
                "tSystemPresence",
            ],
        }
    }

    /// The query body for `interval` in `time_zone`: `P1D` buckets grouped by user
    /// (conversations also by media type).
    #[must_use]
    pub fn query(self, interval: &str, time_zone: Tz) -> Value {
        let group_by: &[&str] = match self {
            Self::Conversations => &["userId", "mediaType"],
            _ => &["userId"],
        };
        json!({
            "interval": interval,
            "granularity": "P1D",
            "timeZone": time_zone.name(),
            "groupBy": group_by,
            "metrics": self.metrics(),
        })
    }
}

/// A stretch of whole days, `first` to `last` inclusive, as one query asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stretch {
    /// The first day.
    pub first: Day,
    /// The last day (inclusive).
    pub last: Day,
}

impl Stretch {
    /// The ISO 8601 interval from the first day's local midnight to the local midnight after
    /// the last day, in UTC with milliseconds (`2026-03-02T05:00:00.000Z/2026-03-04T05:00:00.000Z`):
    /// a day of 23 or 25 hours is whole.
    #[must_use]
    pub fn interval(self, time_zone: Tz) -> String {
        let (start, end) = self.bounds(time_zone);
        format!("{start}/{end}")
    }

    /// The interval's two ends: the first day's local midnight and the local midnight after
    /// the last day, as UTC instants with milliseconds.
    #[must_use]
    pub fn bounds(self, time_zone: Tz) -> (String, String) {
        let start = midnight(self.first, time_zone);
        let end = self.last.add_days(1).map_or_else(
            |_| midnight(self.last, time_zone),
            |d| midnight(d, time_zone),
        );
        (start, end)
    }
}

/// The UTC instant of `day`'s first local moment in `zone` (midnight, or the first moment
/// after a gap that swallows it).
fn midnight(day: Day, zone: Tz) -> String {
    let naive = day.naive();
    let local = (0..24)
        .find_map(|h| {
            zone.from_local_datetime(&naive.and_time(NaiveTime::from_hms_opt(h, 0, 0)?))
                .earliest()
        })
        .map(|t| t.with_timezone(&chrono::Utc));
    local.map_or_else(
        || format!("{naive}T00:00:00.000Z"),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

/// `first..=last` cut into stretches of at most [`MAX_DAYS_PER_QUERY`] days.
///
/// ```
/// use kudos_core::Day;
/// let s = kudos_genesys::stretches(Day::parse("2026-03-01")?, Day::parse("2026-03-10")?)?;
/// assert_eq!(s.len(), 2);
/// assert_eq!((s[1].first, s[1].last), (Day::parse("2026-03-08")?, Day::parse("2026-03-10")?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`GenesysError::Config`] when `last` is before `first`.
pub fn stretches(first: Day, last: Day) -> Result<Vec<Stretch>, GenesysError> {
    stretches_of(first, last, MAX_DAYS_PER_QUERY)
}

/// `first..=last` cut into stretches of at most `days` days.
///
/// # Errors
///
/// [`GenesysError::Config`] when `last` is before `first`.
pub fn stretches_of(first: Day, last: Day, days: i64) -> Result<Vec<Stretch>, GenesysError> {
    if last < first {
        return Err(GenesysError::Config(format!(
            "--end {last} is before --start {first}"
        )));
    }
    let mut out = Vec::new();
    let mut from = first;
    loop {
        let to = from.add_days(days.max(1) - 1).map_or(last, |d| d.min(last));
        out.push(Stretch {
            first: from,
            last: to,
        });
        match to.add_days(1) {
            Ok(next) if next <= last => from = next,
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stretch_across_the_spring_change_has_a_23_hour_day() {
        let d = |s| Day::parse(s).unwrap();
        let ny: Tz = "America/New_York".parse().unwrap();
        let s = Stretch {
            first: d("2026-03-08"),
            last: d("2026-03-08"),
        };
        assert_eq!(
            s.interval(ny),
            "2026-03-08T05:00:00.000Z/2026-03-09T04:00:00.000Z"
        );
        let s = Stretch {
            first: d("2026-03-02"),
            last: d("2026-03-03"),
        };
        assert_eq!(
            s.interval(ny),
            "2026-03-02T05:00:00.000Z/2026-03-04T05:00:00.000Z"
        );
    }

    #[test]
    fn a_range_is_cut_into_whole_stretches() {
        let d = |s| Day::parse(s).unwrap();
        let s = stretches(d("2026-03-01"), d("2026-03-01")).unwrap();
        assert_eq!(s.len(), 1);
        let s = stretches(d("2026-03-01"), d("2026-03-31")).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[4].last, d("2026-03-31"));
        assert!(
            s.windows(2)
                .all(|w| w[0].last.add_days(1).unwrap() == w[1].first)
        );
        assert!(stretches(d("2026-03-02"), d("2026-03-01")).is_err());
    }
}
