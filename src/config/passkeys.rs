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

#[cfg(test)]
mod tests {
    use crate::config::{Config, RawSettings};

    fn parsed(pairs: &[(&str, &str)]) -> Result<Config, Vec<String>> {
        Config::from_raw(&RawSettings::from_pairs(pairs.iter().copied()))
            .map_err(|e| e.0.iter().map(|p| p.variable.clone()).collect())
    }

    #[test]
    fn the_relying_party_is_the_issuers_host_and_origin() {
        let issuer = parsed(&[("GATEHOUSE_ISSUER", "https://id.example.com/")]).unwrap();
        let party = issuer.passkeys.relying_party.unwrap();
        assert_eq!(party.id, "id.example.com");
        assert_eq!(party.origin.as_str(), "https://id.example.com/");
        // A parent domain may be the relying party; a sibling or another domain not.
        let pairs = [
            ("GATEHOUSE_ISSUER", "https://id.example.com"),
            ("GATEHOUSE_PASSKEY_RP_ID", "Example.COM"),
        ];
        assert_eq!(
            parsed(&pairs).unwrap().passkeys.relying_party.unwrap().id,
            "example.com"
        );
        for other in ["example.net", "ample.com", "www.example.com", "10.0.0.1"] {
            let pairs = [
                ("GATEHOUSE_ISSUER", "https://id.example.com"),
                ("GATEHOUSE_PASSKEY_RP_ID", other),
            ];
            assert_eq!(
                parsed(&pairs).unwrap_err(),
                ["GATEHOUSE_PASSKEY_RP_ID"],
                "{other}"
            );
        }
    }

    #[test]
    fn an_ip_address_issuer_has_no_passkeys_and_production_refuses_it() {
        let development = parsed(&[("GATEHOUSE_ISSUER", "http://127.0.0.1:8080")]).unwrap();
        assert!(development.passkeys.relying_party.is_none());
        assert!(development.passkeys.off_because.is_some());
        let production = parsed(&[
            ("GATEHOUSE_ENV", "production"),
            ("GATEHOUSE_ISSUER", "https://192.0.2.10"),
        ])
        .unwrap_err();
        assert!(
            production.contains(&"GATEHOUSE_PASSKEYS".to_string()),
            "{production:?}"
        );
        // Passkeys off: nothing to refuse.
        let off = parsed(&[
            ("GATEHOUSE_ISSUER", "http://127.0.0.1:8080"),
            ("GATEHOUSE_PASSKEYS", "false"),
        ])
        .unwrap();
        assert!(off.passkeys.relying_party.is_none());
    }
}
