//! Passkeys (WebAuthn): whether they are offered, and the relying party they are bound
//! to — a domain, derived from the issuer, that browsers check against the page's origin.

use url::{Host, Url};

use super::parser::Parser;

/// Where passkeys belong: the relying-party id (a domain: the issuer's host or a parent
/// of it), the one origin pages are served from (the issuer's), and the name
/// authenticators show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub origin: Url,
    pub name: String,
}

/// Passkeys on (with their relying party) or off (and why).
#[derive(Clone, Debug)]
pub struct PasskeySettings {
    pub relying_party: Option<RelyingParty>,
    /// Why passkeys are off, for the start-up log (`None` when they are on).
    pub off_because: Option<String>,
}

impl PasskeySettings {
    pub(super) fn parse(p: &mut Parser, issuer: &str, production: bool) -> Self {
        let enabled = p.flag("PASSKEYS", true);
        let rp_id: Option<String> = p.value("PASSKEY_RP_ID", None, |v| {
            let id = v.trim_end_matches('.').to_ascii_lowercase();
            match Host::parse(&id) {
                Ok(Host::Domain(_)) if !id.is_empty() => Ok(Some(id)),
                _ => Err("must be a domain name, such as example.com".into()),
            }
        });
        if !enabled {
            return Self::off("GATEHOUSE_PASSKEYS is false");
        }
        let Ok(origin) = Url::parse(issuer) else {
            // The issuer's own problem is reported where it is read.
            return Self::off("the issuer is not a URL");
        };
        let host = match origin.host() {
            Some(Host::Domain(host)) => host.to_ascii_lowercase(),
            _ => {
                let why = "passkeys need the issuer's host to be a domain name (WebAuthn has \
                           no relying party for an IP address); set GATEHOUSE_ISSUER to a \
                           name, or GATEHOUSE_PASSKEYS=false";
                if production {
                    p.problem("PASSKEYS", why);
                }
                return Self::off(why);
            }
        };
        let id = rp_id.unwrap_or_else(|| host.clone());
        if host != id && !host.ends_with(&format!(".{id}")) {
            p.problem(
                "PASSKEY_RP_ID",
                format!(
                    "`{id}` is neither the issuer's host `{host}` nor a domain it is under: \
                     browsers would refuse every passkey"
                ),
            );
            return Self::off("GATEHOUSE_PASSKEY_RP_ID does not fit the issuer");
        }
        let mut origin = origin;
        origin.set_path("");
        Self {
            relying_party: Some(RelyingParty {
                id,
                name: host,
                origin,
            }),
            off_because: None,
        }
    }

    fn off(why: &str) -> Self {
        Self {
            relying_party: None,
            off_because: Some(why.to_string()),
        }
    }
}
