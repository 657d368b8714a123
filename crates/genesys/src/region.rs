//! Where an organisation's Genesys Cloud lives: the API host and the login host of its
//! region, from the region's domain (`mypurecloud.com`) or from explicit URLs (tests, proxies).

use crate::GenesysError;

/// The region domains Genesys Cloud documents (the API host is `api.<domain>`, the login host
/// `login.<domain>`).
pub const REGIONS: &[&str] = &[
    "mypurecloud.com",
    "use2.us-gov-pure.cloud",
    "usw2.pure.cloud",
    "cac1.pure.cloud",
    "sae1.pure.cloud",
    "mypurecloud.ie",
    "euw2.pure.cloud",
    "mypurecloud.de",
    "euc2.pure.cloud",
    "mec1.pure.cloud",
    "aps1.pure.cloud",
    "mypurecloud.jp",
    "apne2.pure.cloud",
    "apne3.pure.cloud",
    "mypurecloud.com.au",
];

/// The two base URLs of a Genesys Cloud organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `https://api.mypurecloud.com`.
    pub api: String,
    /// `https://login.mypurecloud.com`.
    pub login: String,
}

impl Endpoints {
    /// The endpoints of a region named by its domain (`mypurecloud.com`, `cac1.pure.cloud`…).
    ///
    /// ```
    /// let e = kudos_genesys::Endpoints::region("mypurecloud.ie")?;
    /// assert_eq!(e.api, "https://api.mypurecloud.ie");
    /// assert_eq!(e.token_url(), "https://login.mypurecloud.ie/oauth/token");
    /// assert!(kudos_genesys::Endpoints::region("oauth.genesyscloud.com").is_err());
    /// # Ok::<(), kudos_genesys::GenesysError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`GenesysError::Config`] for a domain that is not a Genesys Cloud region.
    pub fn region(domain: &str) -> Result<Self, GenesysError> {
        let domain = domain.trim().trim_end_matches('/').to_ascii_lowercase();
        if !REGIONS.contains(&domain.as_str()) {
            return Err(GenesysError::Config(format!(
                "genesys.region: {domain:?} is not a Genesys Cloud region (one of {})",
                REGIONS.join(", ")
            )));
        }
        Ok(Self {
            api: format!("https://api.{domain}"),
            login: format!("https://login.{domain}"),
        })
    }

    /// Explicit base URLs (`api_url`, `login_url`): `https://`, or `http://` to a loopback
    /// address only (a local simulator), so a token never travels in clear over a network.
    ///
    /// # Errors
    ///
    /// [`GenesysError::Config`] naming the key of a URL that is not one of those.
    pub fn explicit(api: &str, login: &str) -> Result<Self, GenesysError> {
        Ok(Self {
            api: checked("genesys.api_url", api)?,
            login: checked("genesys.login_url", login)?,
        })
    }

    /// The OAuth token endpoint.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.login)
    }
}

/// `url` (named `key` in errors) if it is `https://` or loopback `http://`, without
/// credentials; the error never quotes the URL.
pub(crate) fn safe_url(key: &str, url: &str) -> Result<String, GenesysError> {
    checked(key, url)
}

/// `url` without a trailing slash, if it is `https://` or loopback `http://`.
fn checked(key: &str, url: &str) -> Result<String, GenesysError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| GenesysError::Config(format!("{key}: not a URL ({e})")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    let ok = match parsed.scheme() {
        "https" => parsed.host().is_some(),
        "http" => loopback,
        _ => false,
    };
    if !ok || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(GenesysError::Config(format!(
            "{key}: an https:// URL without credentials (http:// only to a loopback address)"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_urls_must_be_https_or_loopback() {
        assert!(Endpoints::explicit("http://127.0.0.1:8080/", "http://localhost:9").is_ok());
        assert_eq!(
            Endpoints::explicit("https://api.example.com/", "https://login.example.com")
                .unwrap()
                .api,
            "https://api.example.com"
        );
        for bad in [
            "http://api.example.com",
            "ftp://127.0.0.1",
            "https://user:pw@api.example.com",
            "not a url",
        ] {
            let e = Endpoints::explicit(bad, "https://login.example.com").unwrap_err();
            assert!(e.to_string().contains("genesys.api_url"), "{e}");
            assert!(!e.to_string().contains("pw@"), "{e}");
        }
    }
}
