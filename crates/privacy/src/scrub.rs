//! Scrubbing text that came from outside (a marketplace's answer) before it is logged, audited
//! or alerted: what the personal-data detector flags is replaced, control characters become
//! spaces, and the text is clipped.

use crate::{looks_like_email, looks_like_phone};

/// What a scrubbed word or run of words becomes.
pub const SCRUBBED: &str = "[redacted]";

/// Whether a character can be part of an e-mail address or a number as one token.
fn in_token(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '@')
}

/// Whether a token is a number as phones and cards are written (digits, `+`, `-`, `.`).
fn numeric(token: &str) -> bool {
    token.chars().any(|c| c.is_ascii_digit())
        && token
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
}

/// Whether a separator may sit inside a phone number (`+1 (555) 010 4477`).
fn joins_numbers(sep: &str) -> bool {
    !sep.is_empty() && sep.chars().all(|c| matches!(c, ' ' | '(' | ')'))
}

fn is_date(token: &str) -> bool {
    let b = token.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-'
}

/// `text` with every part the personal-data detector flags replaced by [`SCRUBBED`]: an
/// e-mail address, and a number of 7 or more digits (a phone number — also written across
/// spaces and parentheses — or a card or account number), wherever it stands (`tel:+1…`,
/// `id=555…`, inside JSON). Control characters become spaces, and the text is clipped to
/// `max_chars` characters (an ellipsis marks a cut). Dates (`2026-03-02`) are kept. Names
/// cannot be recognised and are not removed — which is why requests carry none for an answer
/// to echo.
///
/// ```
/// use kudos_privacy::scrub;
/// assert_eq!(
///     scrub("no stock for jordan.reyes@example.com (+1 555 010 4477)", 200),
///     "no stock for [redacted] ([redacted])"
/// );
/// assert_eq!(scrub("out of stock", 200), "out of stock");
/// ```
#[must_use]
pub fn scrub(text: &str, max_chars: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // Tokens and the separators between them, in order.
    let mut parts: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut kind = None;
    for (i, c) in clean.char_indices() {
        let t = in_token(c);
        if kind != Some(t) {
            if let Some(was) = kind {
                parts.push((was, &clean[start..i]));
            }
            start = i;
            kind = Some(t);
        }
    }
    if let Some(was) = kind {
        parts.push((was, &clean[start..]));
    }
    let mut out = String::with_capacity(clean.len());
    let mut i = 0;
    while i < parts.len() {
        let (is_token, part) = parts[i];
        if !is_token {
            out.push_str(part);
            i += 1;
            continue;
        }
        if numeric(part) {
            // The longest run of numbers joined by spaces or parentheses.
            let mut end = i;
            while end + 2 < parts.len()
                && joins_numbers(parts[end + 1].1)
                && parts[end + 2].0
                && numeric(parts[end + 2].1)
            {
                end += 2;
            }
            let digits: usize = parts[i..=end]
                .iter()
                .filter(|(t, _)| *t)
                .map(|(_, p)| p.chars().filter(char::is_ascii_digit).count())
                .sum();
            if digits >= 7 && !(end == i && is_date(part)) {
                out.push_str(SCRUBBED);
            } else {
                for (_, p) in &parts[i..=end] {
                    out.push_str(p);
                }
            }
            i = end + 1;
            continue;
        }
        if looks_like_email(part) || looks_like_phone(part) {
            out.push_str(SCRUBBED);
        } else {
            out.push_str(part);
        }
        i += 1;
    }
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() <= max_chars {
        return out;
    }
    let mut clipped: String = out.chars().take(max_chars).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_detector_flags_is_replaced_and_the_rest_kept() {
        let cases = [
            ("order 12 for <a@b.co>, ok", "order 12 for <[redacted]>, ok"),
            ("call 555-010-4477 now", "call [redacted] now"),
            ("card 4111111111111111", "card [redacted]"),
            ("card 4111-1111-1111-1111", "card [redacted]"),
            (r#"{"error":"+15550104477"}"#, r#"{"error":"[redacted]"}"#),
            (
                "tel:+1-555-010-4477; id=5550104477",
                "tel:[redacted]; id=[redacted]",
            ),
            ("+1 (555) 010 4477", "[redacted]"),
            ("line1\nline2\u{7}", "line1 line2"),
            ("status 404 on 2026-03-02", "status 404 on 2026-03-02"),
            (
                "rw-000123 at 2026-03-02T06:00:00Z",
                "rw-000123 at 2026-03-02T06:00:00Z",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(scrub(text, 100), want, "{text}");
        }
        assert_eq!(scrub("abcdef", 3), "abc…");
    }
}
