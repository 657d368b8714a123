//! Scrubbing text that came from outside (a marketplace's answer) before it is logged, audited
//! or alerted: what the personal-data detector flags is replaced, control characters become
//! spaces, and the text is clipped.

use crate::{looks_like_email, looks_like_phone};

/// What a scrubbed word or run of words becomes.
pub const SCRUBBED: &str = "[redacted]";

fn phone_ish(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | '(' | ')'))
}

fn trim_punct(word: &str) -> &str {
    word.trim_matches(|c: char| {
        matches!(
            c,
            '"' | '\'' | '<' | '>' | ',' | ';' | ':' | '[' | ']' | '{' | '}' | '(' | ')'
        )
    })
}

/// `text` with every word the personal-data detector flags (an e-mail address; a phone
/// number, also written across several words; a number of 7 or more digits) replaced by
/// [`SCRUBBED`], control characters replaced by spaces, and clipped to `max_chars`
/// characters (an ellipsis marks a cut).
///
/// ```
/// use kudos_privacy::scrub;
/// assert_eq!(
///     scrub("no stock for jordan.reyes@example.com (+1 555 010 4477)", 200),
///     "no stock for [redacted] [redacted]"
/// );
/// assert_eq!(scrub("out of stock", 200), "out of stock");
/// ```
#[must_use]
pub fn scrub(text: &str, max_chars: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = clean.split_whitespace().collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        // A run of number-like words: a phone number written with spaces.
        let mut j = i;
        while j < words.len() && phone_ish(trim_punct(words[j])) {
            j += 1;
        }
        if j > i {
            let run = words[i..j]
                .iter()
                .map(|w| trim_punct(w))
                .collect::<Vec<_>>()
                .join(" ");
            let digits = run.chars().filter(char::is_ascii_digit).count();
            let long_number = digits >= 7 && run.chars().all(|c| c.is_ascii_digit() || c == ' ');
            if looks_like_phone(&run) || long_number {
                out.push(SCRUBBED);
            } else {
                out.extend_from_slice(&words[i..j]);
            }
            i = j;
            continue;
        }
        let word = words[i];
        let core = trim_punct(word);
        if looks_like_email(core) || looks_like_phone(core) {
            out.push(SCRUBBED);
        } else {
            out.push(word);
        }
        i += 1;
    }
    let joined = out.join(" ");
    if joined.chars().count() <= max_chars {
        return joined;
    }
    let mut clipped: String = joined.chars().take(max_chars).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_detector_flags_is_replaced_and_the_rest_kept() {
        assert_eq!(
            scrub("order 12 for <a@b.co>, ok", 100),
            "order 12 for [redacted] ok"
        );
        assert_eq!(scrub("call 555-010-4477 now", 100), "call [redacted] now");
        assert_eq!(scrub("card 4111111111111111", 100), "card [redacted]");
        assert_eq!(scrub("line1\nline2\u{7}", 100), "line1 line2");
        assert_eq!(
            scrub("status 404 on 2026-03-02", 100),
            "status 404 on 2026-03-02"
        );
        assert_eq!(scrub("abcdef", 3), "abc…");
    }
}
