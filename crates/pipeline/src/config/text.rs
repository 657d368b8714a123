//! How the configuration reports what it read without repeating it: TOML mistakes by line
//! and column with quoted values elided, and which URLs count as loopback.

/// Whether the host of a URL's remainder (after `scheme://`) is a loopback address.
pub(super) fn is_loopback(rest: &str) -> bool {
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A TOML error as `line L, column C: what`, without the file's text: the parser's own
/// rendering quotes the offending line, which may hold a secret (`client_secret = "…"`), and
/// its messages quote values (`invalid type: string "…"`), which are replaced by `"…"`.
pub(super) fn toml_message(error: &toml::de::Error, text: &str) -> String {
    let mut quoted = false;
    let mut what = String::new();
    for c in error.message().trim_end().replace('\n', " ").chars() {
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
