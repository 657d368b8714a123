//! Checking a payload before it leaves.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::PrivacyError;

/// Whether a text contains something shaped like an e-mail address (`local@domain.tld`).
#[must_use]
pub fn looks_like_email(text: &str) -> bool {
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ',' | ';' | '(' | ')')
    })
    .any(|word| {
        let Some((local, domain)) = word.split_once('@') else {
            return false;
        };
        !local.is_empty() && domain.split('.').filter(|p| !p.is_empty()).count() >= 2
    })
}

/// Whether a whole value is shaped like a phone number: an optional `+`, then digits with
/// spaces, dots, dashes or parentheses, 7 to 15 digits in all — and not a `YYYY-MM-DD` date.
#[must_use]
pub fn looks_like_phone(text: &str) -> bool {
    let t = text.trim();
    let body = t.strip_prefix('+').unwrap_or(t);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return false;
    }
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let is_date = body.len() == 10 && body.as_bytes()[4] == b'-' && body.as_bytes()[7] == b'-';
    (7..=15).contains(&digits) && !is_date
}

/// The fields a reward request may carry, and the one that may carry personal data sealed.
#[derive(Debug, Clone)]
pub struct PayloadPolicy {
    allowed: BTreeSet<String>,
    sealed_field: String,
}

impl Default for PayloadPolicy {
    /// The reward API (`docs/reference/issuing.md#marketplace-api`): `agent_id`, `reward_type`, `points_consumed`,
    /// `transaction_timestamp`, `metadata.source_platform`, `metadata.wfm_export_version`, and
    /// `recipient_enc` (sealed).
    fn default() -> Self {
        Self::new(
            [
                "agent_id",
                "reward_type",
                "points_consumed",
                "transaction_timestamp",
                "metadata.source_platform",
                "metadata.wfm_export_version",
            ],
            "recipient_enc",
        )
    }
}

impl PayloadPolicy {
    /// A policy allowing these field paths (`a.b` for nested objects) plus the sealed field.
    pub fn new<'a>(allowed: impl IntoIterator<Item = &'a str>, sealed_field: &str) -> Self {
        Self {
            allowed: allowed.into_iter().map(str::to_owned).collect(),
            sealed_field: sealed_field.to_owned(),
        }
    }

    /// Allows one more field path (an extra `metadata` key, say).
    #[must_use]
    pub fn allow(mut self, path: &str) -> Self {
        self.allowed.insert(path.to_owned());
        self
    }

    /// Checks a payload: every field must be allowed (or be the sealed field), and no value
    /// outside the sealed field may look like an e-mail address or a phone number.
    ///
    /// # Errors
    ///
    /// [`PrivacyError::Refused`] naming the first field at fault (never its value).
    pub fn check(&self, payload: &Value) -> Result<(), PrivacyError> {
        let Value::Object(map) = payload else {
            return Err(PrivacyError::Refused {
                field: "(payload)".to_owned(),
                reason: "not a JSON object".to_owned(),
            });
        };
        for (key, value) in map {
            if *key == self.sealed_field {
                if !value.is_string() {
                    return Err(PrivacyError::Refused {
                        field: key.clone(),
                        reason: "the sealed field must be a string".to_owned(),
                    });
                }
                continue;
            }
            self.check_value(key, value)?;
        }
        Ok(())
    }

    fn check_value(&self, path: &str, value: &Value) -> Result<(), PrivacyError> {
        let refuse = |reason: &str| {
            Err(PrivacyError::Refused {
                field: path.to_owned(),
                reason: reason.to_owned(),
            })
        };
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    self.check_value(&format!("{path}.{k}"), v)?;
                }
                Ok(())
            }
            _ if !self.allowed.contains(path) => refuse("it is not in the allow-list"),
            Value::String(s) if looks_like_email(s) => refuse("it looks like an e-mail address"),
            Value::String(s) if looks_like_phone(s) => refuse("it looks like a phone number"),
            Value::Array(items) => {
                for item in items {
                    if let Value::String(s) = item
                        && (looks_like_email(s) || looks_like_phone(s))
                    {
                        return refuse("an element looks like personal data");
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
