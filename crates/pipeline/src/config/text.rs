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
