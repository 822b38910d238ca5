//! Which URLs a watch may deliver to (docs/NOTIFY.md, *Webhook URLs*): the admin's allow-list
//! kept in the store, or, while it is empty, the default, which refuses addresses inside
//! private networks. Checked when a watch is created (by every face, through
//! [`crate::Store::add_watch`]) and again before every attempt, so a URL that is not allowed is
//! never posted to. Pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::watch::WatchError;

/// One allowed prefix: an http(s) URL; a webhook URL is allowed when its scheme, host and port
/// are the entry's and its path starts with the entry's path (`https://hooks.example.org/`
/// allows every path on that host; `https://hooks.example.org/dossier/` only those below).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct AllowEntry(String);

impl AllowEntry {
    /// Parses an entry: an http or https URL with a host and without user, query or fragment.
    ///
    /// # Errors
    /// [`WatchError::Url`] naming what is wrong.
    pub fn parse(s: &str) -> Result<AllowEntry, WatchError> {
        let bad = |why: &str| WatchError::Url {
            url: s.to_owned(),
            why: why.to_owned(),
        };
        let url = Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(bad("an allowed prefix is an http or https URL with a host"));
        }
        if !url.username().is_empty() || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "an allowed prefix has no user, query or fragment (scheme, host, port and path only)",
            ));
        }
        Ok(AllowEntry(url.to_string()))
    }

    /// The entry as stored (normalised: `https://hooks.example.org` is `https://hooks.example.org/`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn allows(&self, url: &Url) -> bool {
        let Ok(entry) = Url::parse(&self.0) else {
            return false;
        };
        entry.scheme() == url.scheme()
            && entry.host() == url.host()
            && entry.port_or_known_default() == url.port_or_known_default()
            && url.path().starts_with(entry.path())
    }
}

/// The webhook URLs watches may deliver to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "policy", content = "allow", rename_all = "snake_case")]
pub enum WebhookPolicy {
    /// No allow-list is set: any http(s) URL except one whose host is an address inside a
    /// private network — private (RFC 1918, IPv6 unique-local), link-local (cloud metadata
    /// services live there), shared (RFC 6598), unspecified, multicast or broadcast. Loopback
    /// is allowed (a receiver beside the notifier); names are not resolved.
    Default,
    /// Only URLs under one of these prefixes.
    Listed(Vec<AllowEntry>),
}

impl WebhookPolicy {
    /// The policy of an allow-list ([`WebhookPolicy::Default`] when it is empty).
    #[must_use]
    pub fn of(entries: Vec<AllowEntry>) -> WebhookPolicy {
        if entries.is_empty() {
            WebhookPolicy::Default
        } else {
            WebhookPolicy::Listed(entries)
        }
    }

    /// Whether a watch may deliver to `url`.
    ///
    /// # Errors
    /// [`WatchError::NotAllowed`] saying why not (or [`WatchError::Url`] for a URL that does
    /// not parse).
    pub fn check(&self, url: &str) -> Result<(), WatchError> {
        let parsed = Url::parse(url).map_err(|e| WatchError::Url {
            url: url.to_owned(),
            why: e.to_string(),
        })?;
        let refused = |why: String| WatchError::NotAllowed {
            url: url.to_owned(),
            why,
        };
        match self {
            WebhookPolicy::Listed(entries) => {
                if entries.iter().any(|e| e.allows(&parsed)) {
                    Ok(())
                } else {
                    Err(refused(format!(
                        "it is under none of the allowed prefixes ({})",
                        entries
                            .iter()
                            .map(AllowEntry::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
            WebhookPolicy::Default => {
                let ip = match parsed.host() {
                    Some(Host::Ipv4(a)) => IpAddr::V4(a),
                    Some(Host::Ipv6(a)) => IpAddr::V6(a),
                    _ => return Ok(()),
                };
                match private(ip) {
                    Some(what) => Err(refused(format!(
                        "{ip} is {what} address, refused while no allow-list is set"
                    ))),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What kind of non-public address `ip` is, if it is one the default refuses.
fn private(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => private_v4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => private_v4(v4),
            None => private_v6(a),
        },
    }
}

fn private_v4(a: Ipv4Addr) -> Option<&'static str> {
    let [x, y, ..] = a.octets();
    if a.is_private() {
        Some("a private")
    } else if a.is_link_local() {
        Some("a link-local")
    } else if x == 100 && (64..128).contains(&y) {
        Some("a shared (carrier-grade NAT)")
    } else if a.is_unspecified() || x == 0 {
        Some("an unspecified")
    } else if a.is_multicast() || a.is_broadcast() {
        Some("a multicast or broadcast")
    } else {
        None
    }
}

fn private_v6(a: Ipv6Addr) -> Option<&'static str> {
    let first = a.segments()[0];
    if first & 0xfe00 == 0xfc00 {
        Some("a unique-local (private)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local")
    } else if a.is_unspecified() {
        Some("an unspecified")
    } else if a.is_multicast() {
        Some("a multicast")
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_refuses_private_networks_and_allows_the_rest() {
        let d = WebhookPolicy::Default;
        for ok in [
            "https://hooks.example.org/x",
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://localhost/hook",
            "https://93.184.215.14/",
            "http://10.example.org/",
        ] {
            d.check(ok).unwrap();
        }
        for bad in [
            "http://10.0.0.5/hook",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://0.0.0.0:80/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://224.0.0.1/",
        ] {
            let e = d.check(bad).unwrap_err();
            assert!(
                matches!(&e, WatchError::NotAllowed { why, .. } if why.contains("no allow-list")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_list_allows_only_its_prefixes() {
        let list = WebhookPolicy::of(vec![
            AllowEntry::parse("https://hooks.example.org").unwrap(),
            AllowEntry::parse("http://10.0.0.5:9000/dossier/").unwrap(),
        ]);
        assert_eq!(
            WebhookPolicy::of(vec![]),
            WebhookPolicy::Default,
            "an empty list is the default"
        );
        for ok in [
            "https://hooks.example.org/a/b",
            "https://hooks.example.org:443/",
            "http://10.0.0.5:9000/dossier/x",
        ] {
            list.check(ok).unwrap();
        }
        for bad in [
            "http://hooks.example.org/a",
            "https://hooks.example.org.evil.test/",
            "https://hooks.example.org:8443/",
            "http://10.0.0.5:9000/other",
            "http://10.0.0.5:9001/dossier/",
            "http://127.0.0.1/",
        ] {
            let e = list.check(bad).unwrap_err();
            assert!(
                e.to_string().contains("none of the allowed prefixes"),
                "{bad}: {e}"
            );
        }
        for bad in ["ftp://x/", "https://u:p@x/", "https://x/?q", "not a url"] {
            assert!(AllowEntry::parse(bad).is_err(), "{bad}");
        }
    }
}
