//! How the configuration reports what it read without repeating it: TOML mistakes by line
//! and column with quoted values elided, and which URLs count as loopback.

/// Whether a URL's host is a loopback address (`localhost`, `127.0.0.0/8`, `::1`), as the
/// URL parser that the HTTP client uses reads it — so user information, a query or a
/// backslash cannot make another host look like loopback.
pub(super) fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A TOML error as `line L, column C: what`, without the file's text: the parser's own
/// rendering quotes the offending line, which may hold a secret (`client_secret = "…"`), and
/// its messages quote values (`invalid type: string "…"`), which are replaced by `"…"`.
pub(super) fn toml_message(error: &toml::de::Error, text: &str) -> String {
    let mut quoted = false;
    let mut escaped = false;
    let mut what = String::new();
    for c in error.message().trim_end().replace('\n', " ").chars() {
        // Inside a quoted value, `\"` is part of the value: it neither ends the quote nor shows.
        if quoted && (escaped || c == '\\') {
            escaped = !escaped && c == '\\';
            continue;
        }
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                what.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                what.push('"');
            }
            (_, true) => {}
            (c, false) => what.push(c),
        }
    }
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

/// The 1-based line a dotted key (`run.time_zone`, `marketplace.oauth.client_secret`) is on:
/// the line of its leaf in its table (a secret's leaf also as `<leaf>_env` / `<leaf>_file`),
/// or the table's header for a key that names a table. `None` when the key is not in the file
/// (a default, an array of tables).
pub(super) fn line_of(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            current = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            if current == key {
                return Some(i + 1);
            }
            continue;
        }
        let Some((name, _)) = trimmed.split_once('=') else {
            continue;
        };
        let name = name.trim().trim_matches('"');
        let in_table = current == table;
        let matches = name == leaf
            || name
                .strip_prefix(leaf)
                .is_some_and(|rest| rest == "_env" || rest == "_file");
        if in_table && matches {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn keys_are_found_on_their_line_in_their_table() {
        let text = "[run]\ntime_zone = \"Mars/Olympus\"\n\n[marketplace.oauth]\nclient_secret_env = \"X\"\n[audit]\npath = \"a\"\n";
        assert_eq!(line_of(text, "run.time_zone"), Some(2));
        assert_eq!(line_of(text, "marketplace.oauth.client_secret"), Some(5));
        assert_eq!(line_of(text, "audit"), Some(6));
        assert_eq!(line_of(text, "run.lease_secs"), None);
        assert_eq!(line_of(text, "audit.time_zone"), None);
    }
}
