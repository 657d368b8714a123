//! Cell and field parsing shared by the formats: numbers, days, instants.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use kudos_core::{Day, MAX_METRIC_MAGNITUDE};

use crate::error::Why;

/// Parses a metric value from text: a decimal number, finite, within ±2^53.
///
/// Rust's float parser accepts `NaN`, `inf` and `infinity`; they are rejected here, as are
/// numbers too large to be exact (`1e300`) or to be finite (`1e400`).
pub(crate) fn parse_value(text: &str) -> Result<f64, Why> {
    let text = trim(text);
    if text.is_empty() {
        return Err(Why::plain("the value is empty"));
    }
    let value: f64 = match plain_decimal(text) {
        Some(v) => v,
        None => text
            .parse()
            .map_err(|_| Why::quoting("", clip(text), " is not a number"))?,
    };
    check_value(value)
        .map_err(|()| Why::quoting("", clip(text), " is not a finite number within ±2^53"))
}

/// The usual metric value — an optional sign, at most 15 digits, at most one decimal point —
/// read directly, or `None` for anything else (which `str::parse` then reads).
///
/// Exact: the digits make an integer below 2^53 and the point a power of ten below 10^16, both
/// exactly representable, and one IEEE division of the two rounds correctly — the fast path
/// of `str::parse` itself (Clinger's), without its general machinery. A property test checks
/// it against `str::parse`, bit for bit.
pub(crate) fn plain_decimal(text: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let b = text.as_bytes();
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let (mut mantissa, mut count, mut point) = (0u64, 0usize, None);
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                count += 1;
                if count > 15 {
                    return None;
                }
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    if count == 0 {
        return None;
    }
    let decimals = point.map_or(0, |p| digits.len() - p - 1);
    #[allow(
        clippy::cast_precision_loss,
        reason = "below 10^15, so below 2^53: exact"
    )]
    let value = mantissa as f64 / POW10[decimals];
    Some(if negative { -value } else { value })
}

/// `str::trim`, without its Unicode work for the usual cell that starts and ends with a
/// printable ASCII character.
pub(crate) fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// Checks a parsed number: finite and within ±2^53.
pub(crate) fn check_value(value: f64) -> Result<f64, ()> {
    if value.is_finite() && value.abs() <= MAX_METRIC_MAGNITUDE {
        Ok(value)
    } else {
        Err(())
    }
}

/// Shortens text quoted in an error, so a huge field does not make a huge message.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// Parses an RFC 3339 instant (`2026-03-02T05:00:00.000Z`, `2026-03-02T00:00:00-05:00`).
pub(crate) fn parse_instant(text: &str) -> Result<DateTime<Utc>, Why> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Why::quoting(
                "",
                clip(text),
                &format!(" is not an RFC 3339 timestamp ({e})"),
            )
        })
}

/// The day an instant falls on in `tz`. (The instant is a parsed one, not the input's text.)
pub(crate) fn local_day(instant: DateTime<Utc>, tz: Tz) -> Result<Day, Why> {
    Day::from_naive(instant.with_timezone(&tz).date_naive())
        .ok_or_else(|| Why::plain(format!("{instant} is outside years 1..=9999")))
}

/// A day cell of a wide CSV: `YYYY-MM-DD`; an RFC 3339 timestamp, whose local date in `tz` is
/// the day; or a timestamp without offset (`2026-03-02 00:00:00`), already local.
pub(crate) fn parse_day_cell(text: &str, tz: Tz) -> Result<Day, Why> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Why::plain("the day is empty"));
    }
    if text.len() == 10 {
        return Day::parse(text).map_err(|e| Why::core(&e));
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return local_day(instant.with_timezone(&Utc), tz);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, fmt) {
            return Day::from_naive(naive.date())
                .ok_or_else(|| Why::quoting("", clip(text), " is outside years 1..=9999"));
        }
    }
    Err(Why::quoting(
        "",
        clip(text),
        " is not a date (YYYY-MM-DD) or an RFC 3339 timestamp",
    ))
}

/// The instant a local day starts in `tz`: midnight, or the first hour that exists when a
/// daylight-saving change skips midnight.
fn local_day_start(date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    (0..4).find_map(|hour| {
        let time = NaiveTime::from_hms_opt(hour, 0, 0)?;
        tz.from_local_datetime(&date.and_time(time))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// Whether `[start, end)` is shorter than the local day (in `tz`) that `start` falls on. A
/// 23- or 25-hour daylight-saving day is a whole day.
pub(crate) fn shorter_than_local_day(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> bool {
    let date = start.with_timezone(&tz).date_naive();
    let day_len = date
        .succ_opt()
        .and_then(|next| Some(local_day_start(next, tz)? - local_day_start(date, tz)?))
        .unwrap_or(TimeDelta::days(1));
    end - start < day_len
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The direct read of plain decimals gives exactly what `str::parse` gives, and reads
        /// nothing `str::parse` would reject.
        #[test]
        fn plain_decimals_read_as_str_parse_reads_them(text in "[+-]?[0-9]{0,17}(\\.[0-9]{0,17})?|[+-.0-9eE]{0,8}") {
            if let Some(v) = plain_decimal(&text) {
                let std: f64 = text.parse().map_err(|_| TestCaseError::fail(format!("{text:?} read, but str::parse rejects it")))?;
                prop_assert_eq!(v.to_bits(), std.to_bits(), "{:?}", text);
            }
        }
    }

    #[test]
    fn plain_decimals_cover_the_usual_values() {
        for (text, want) in [
            ("92", 92.0),
            ("-3.25", -3.25),
            ("+0.1", 0.1),
            ("100.", 100.0),
            (".5", 0.5),
            ("-0", -0.0),
        ] {
            assert_eq!(
                plain_decimal(text).map(f64::to_bits),
                Some(f64::to_bits(want)),
                "{text}"
            );
        }
        for other in [
            "",
            ".",
            "-",
            "1e3",
            "1.2.3",
            "1234567890123456",
            "0x10",
            " 1",
        ] {
            assert_eq!(plain_decimal(other), None, "{other}");
        }
    }

    #[test]
    fn values_rust_would_accept_but_we_do_not() {
        for bad in [
            "NaN",
            "nan",
            "inf",
            "-infinity",
            "1e400",
            "1e300",
            "9007199254740993.5e3",
            "",
            "  ",
            "1,5",
            "0x10",
            "12abc",
        ] {
            assert!(parse_value(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_value(" 41 "), Ok(41.0));
        assert_eq!(parse_value("-1.5e2"), Ok(-150.0));
    }

    #[test]
    fn day_cells_take_the_local_date() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let cell = "2026-03-02T00:00:00.000-05:00";
        assert_eq!(parse_day_cell(cell, ny).unwrap().to_string(), "2026-03-02");
        assert_eq!(
            parse_day_cell(cell, Tz::UTC).unwrap().to_string(),
            "2026-03-02"
        );
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(
            parse_day_cell("2026-03-02T20:00:00Z", tokyo)
                .unwrap()
                .to_string(),
            "2026-03-03"
        );
        assert_eq!(
            parse_day_cell("2026-03-02 23:59:59", tokyo)
                .unwrap()
                .to_string(),
            "2026-03-02"
        );
        assert!(parse_day_cell("2026-02-30", ny).is_err());
        assert!(parse_day_cell("yesterday", ny).is_err());
    }

    #[test]
    fn daylight_saving_days_are_whole_days() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let t = |s: &str| parse_instant(s).unwrap();
        // 2026-03-08 is 23 hours long in New York.
        assert!(!shorter_than_local_day(
            t("2026-03-08T05:00:00Z"),
            t("2026-03-09T04:00:00Z"),
            ny
        ));
        assert!(shorter_than_local_day(
            t("2026-03-08T05:00:00Z"),
            t("2026-03-09T03:59:59Z"),
            ny
        ));
        // 2026-11-01 is 25 hours long.
        assert!(!shorter_than_local_day(
            t("2026-11-01T04:00:00Z"),
            t("2026-11-02T05:00:00Z"),
            ny
        ));
        assert!(shorter_than_local_day(
            t("2026-11-01T04:00:00Z"),
            t("2026-11-02T04:00:00Z"),
            ny
        ));
        assert!(shorter_than_local_day(
            t("2026-03-02T05:00:00Z"),
            t("2026-03-02T05:30:00Z"),
            ny
        ));
    }
}
