//! The one error type of `kudos-rules`.

/// What is wrong with a rule set, or with evaluating one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The rule file cannot be read.
    #[error("{file}: cannot read")]
    Io {
        /// The file.
        file: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The text is not valid TOML, or has a key the format does not know.
    #[error("{file}: {message}")]
    Toml {
        /// The file (or `<inline>`).
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A rule, alias or tier is invalid; names it and the field at fault.
    #[error("{file}: {place}: {field}: {reason}")]
    Invalid {
        /// The file (or `<inline>`).
        file: String,
        /// `rule "csat-top"`, `rule #3`, `tier "gift-card-50"`, `aliases.csat`, …
        place: String,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A record's points do not fit in the integer range.
    #[error(
        "rule {rule}: agent {agent}, day {day}: value {value} gives points beyond the integer range"
    )]
    Overflow {
        /// The rule.
        rule: String,
        /// The agent.
        agent: String,
        /// The day.
        day: String,
        /// The record's value.
        value: f64,
    },
    /// A day computation (expiry) left the calendar.
    #[error("day {day} + {window_days} days is out of range")]
    DayOutOfRange {
        /// The day.
        day: String,
        /// The window.
        window_days: u32,
    },
}
