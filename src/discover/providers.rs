//! The built-in provider table (`fixtures/providers.toml`, compiled in).

use std::sync::OnceLock;

use serde::Deserialize;

use super::{Candidate, Ctx, Found, Note, Notes, SourceKind, Trail};
use crate::account::Address;
use crate::model::{Protocol, Security};

const TABLE: &str = include_str!("../../fixtures/providers.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub id: String,
    pub name: String,
    /// Where the settings come from.
    pub doc: String,
    #[serde(default)]
    pub domains: Vec<String>,
    /// MX host patterns (`*` matches any run of characters).
    #[serde(default)]
    pub mx: Vec<String>,
    #[serde(default)]
    pub auth: Vec<String>,
    /// When set, the host depends on the account and cannot be known: this says what to do.
    #[serde(default)]
    pub host_unknown: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    pub servers: Vec<ProviderServer>,
    /// What `--oauth2` signs in with at this provider, when no flag names it.
    #[serde(default)]
    pub oauth2: Option<ProviderOAuth2>,
}

/// A provider's OAuth2 defaults: `{tenant}` in a URL stands for `--oauth2-tenant`, else
/// `tenant`. No client id: none is embedded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderOAuth2 {
    pub issuer: String,
    #[serde(default)]
    pub tenant: Option<String>,
    pub scopes: Vec<String>,
    /// The flow its scopes allow, when only one does (Google refuses its mail scope in the
    /// device flow).
    #[serde(default)]
    pub flow: Option<crate::oauth2::Flow>,
    /// The endpoints, when the issuer's metadata cannot be used as RFC 8414 says (Microsoft's
    /// names a templated issuer).
    #[serde(default)]
    pub endpoints: Option<ProviderEndpoints>,
    /// The scope each protocol's servers need in the token (`imap`, `pop3`, `smtp`).
    #[serde(default)]
    pub protocol_scopes: std::collections::BTreeMap<crate::model::Protocol, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEndpoints {
    pub authorization: String,
    pub token: String,
    #[serde(default)]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderServer {
    #[serde(deserialize_with = "from_str")]
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    #[serde(deserialize_with = "from_str")]
    pub security: Security,
    pub username: UsernameForm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsernameForm {
    /// The full address.
    Address,
    /// The part before the @.
    Local,
}

#[derive(Deserialize)]
struct File {
    provider: Vec<Provider>,
}

fn from_str<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr<Err = String>,
{
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// The table. Parsed once; a broken table is a build mistake caught by the unit tests.
pub fn all() -> &'static [Provider] {
    static T: OnceLock<Vec<Provider>> = OnceLock::new();
    T.get_or_init(|| {
        toml::from_str::<File>(TABLE)
            .map(|f| f.provider)
            .unwrap_or_else(|e| panic!("fixtures/providers.toml is invalid: {e}"))
    })
}

/// Providers hosting this address domain.
pub fn by_domain(domain: &str) -> Vec<&'static Provider> {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    all()
        .iter()
        .filter(|p| p.domains.iter().any(|x| x.eq_ignore_ascii_case(&d)))
        .collect()
}

/// Providers whose MX patterns match this MX host.
pub fn by_mx(host: &str) -> Vec<&'static Provider> {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    all()
        .iter()
        .filter(|p| p.mx.iter().any(|pat| glob(&pat.to_ascii_lowercase(), &h)))
        .collect()
}

/// A server host the built-in table names: a well-known provider's own server, safe to
/// receive credentials however the provider was recognised (an MX record pointing at Microsoft
/// can at worst send the password to Microsoft, whose certificate is then verified).
pub fn is_provider_host(host: &str) -> bool {
    let h = host.trim_end_matches('.');
    all()
        .iter()
        .flat_map(|p| p.servers.iter())
        .any(|s| s.host.eq_ignore_ascii_case(h))
}

/// The provider whose OAuth2 defaults apply to an account: the one hosting its domain, else
/// one whose servers are among `hosts` (the servers probed), preferring a provider that hosts
/// any domain (Microsoft 365 rather than Outlook.com for outlook.office365.com).
pub fn oauth2_provider<'h>(
    domain: &str,
    hosts: impl IntoIterator<Item = &'h str>,
) -> Option<&'static Provider> {
    let with_oauth2 = |p: &&Provider| p.oauth2.is_some();
    if let Some(p) = by_domain(domain).into_iter().find(with_oauth2) {
        return Some(p);
    }
    let hosts: Vec<&str> = hosts.into_iter().map(|h| h.trim_end_matches('.')).collect();
    let mut serving: Vec<&'static Provider> = all()
        .iter()
        .filter(with_oauth2)
        .filter(|p| {
            p.servers
                .iter()
                .any(|s| hosts.iter().any(|h| s.host.eq_ignore_ascii_case(h)))
        })
        .collect();
    serving.sort_by_key(|p| p.mx.is_empty());
    serving.into_iter().next()
}

/// `*` matches any run of characters (dots included); everything else literally.
pub fn glob(pattern: &str, s: &str) -> bool {
    let p = pattern.as_bytes();
    let s = s.as_bytes();
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// The candidates of one provider for this address, plus notes.
pub(crate) fn candidates(
    p: &Provider,
    address: &Address,
    source: SourceKind,
    origin: &str,
    trusted: bool,
) -> (Vec<Candidate>, Vec<Note>) {
    let mut notes = Vec::new();
    if let Some(n) = &p.note {
        notes.push(Note::Provider {
            id: p.id.clone(),
            name: p.name.clone(),
            text: n.clone(),
        });
    }
    if let Some(ask) = &p.host_unknown {
        let documented: Vec<String> = p
            .servers
            .iter()
            .map(|s| format!("{} {}:{} {}", s.protocol, s.host, s.port, s.security))
            .collect();
        notes.push(Note::HostUnknown {
            id: p.id.clone(),
            name: p.name.clone(),
            text: ask.clone(),
            documented,
        });
        return (vec![], notes);
    }
    let c = p
        .servers
        .iter()
        .map(|s| Candidate {
            protocol: s.protocol,
            host: s.host.clone(),
            port: s.port,
            security: s.security,
            username: match s.username {
                UsernameForm::Address => address.ascii(),
                UsernameForm::Local => address.local.clone(),
            },
            auth: p.auth.clone(),
            source,
            origin: origin.to_string(),
            dnssec: None,
            trusted,
            notes: Notes::default(),
        })
        .collect();
    (c, notes)
}

/// Collect the candidates of several providers into one answer.
pub(crate) fn found(
    list: &[&Provider],
    address: &Address,
    source: SourceKind,
    origin: &str,
    trusted: bool,
) -> Found {
    let mut f = Found::default();
    let mut names = Vec::new();
    for p in list {
        let (c, n) = candidates(p, address, source, &format!("{origin}{}", p.id), trusted);
        f.candidates.extend(c);
        f.notes.extend(n);
        names.push(p.name.clone());
    }
    f.provider = (!names.is_empty()).then(|| names.join(" / "));
    f.detail = if names.is_empty() {
        "not a known provider".into()
    } else if f.candidates.is_empty() {
        format!(
            "{}: the server name depends on the account",
            names.join(" / ")
        )
    } else {
        format!(
            "{}: {} documented setting(s)",
            names.join(" / "),
            f.candidates.len()
        )
    };
    f
}

/// Source 1: the address's domain in the table.
pub(crate) async fn source(ctx: &Ctx, trail: &Trail) -> Found {
    trail.push(format!("built-in table: {}", ctx.address.domain));
    found(
        &by_domain(&ctx.address.domain),
        &ctx.address,
        SourceKind::ProviderTable,
        "built-in:",
        true,
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn provider_hosts_are_known() {
        assert!(is_provider_host("ssl0.ovh.net"));
        assert!(is_provider_host("SSL0.OVH.NET."));
        assert!(!is_provider_host("mail.example.com"));
        assert!(!is_provider_host("ovh.net"));
    }

    use super::*;

    #[test]
    fn table_loads_and_is_complete() {
        let t = all();
        for id in [
            "ovh-shared",
            "ovh-email-pro",
            "outlook-com",
            "microsoft-365",
            "gmail",
            "yahoo",
            "icloud",
            "fastmail",
        ] {
            assert!(t.iter().any(|p| p.id == id), "{id} missing");
        }
        for p in t {
            assert!(!p.servers.is_empty(), "{} has no server", p.id);
            assert!(
                !p.domains.is_empty() || !p.mx.is_empty(),
                "{} unreachable",
                p.id
            );
        }
        let ovh = t.iter().find(|p| p.id == "ovh-shared").unwrap();
        let mut ports: Vec<u16> = ovh.servers.iter().map(|s| s.port).collect();
        ports.sort();
        assert_eq!(ports, vec![110, 143, 465, 587, 993, 995]);
        assert!(ovh.servers.iter().all(|s| s.host == "ssl0.ovh.net"));
    }

    #[test]
    fn lookups() {
        assert_eq!(by_domain("GMAIL.com")[0].id, "gmail");
        assert_eq!(by_domain("hotmail.fr")[0].id, "outlook-com");
        assert!(by_domain("example.com").is_empty());
        assert_eq!(
            by_mx("example-com.mail.protection.outlook.com.")[0].id,
            "microsoft-365"
        );
        assert_eq!(by_mx("aspmx.l.google.com")[0].id, "gmail");
        let ovh: Vec<&str> = by_mx("mx1.mail.ovh.net")
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(ovh, vec!["ovh-shared", "ovh-email-pro"]);
        assert!(by_mx("mail.example.com").is_empty());
        assert!(by_mx("google.com.evil.example").is_empty());
    }

    #[test]
    fn oauth2_provider_by_domain_then_by_server() {
        let id = |d: &str, hosts: &[&str]| {
            oauth2_provider(d, hosts.iter().copied()).map(|p| p.id.as_str())
        };
        assert_eq!(id("hotmail.fr", &[]), Some("outlook-com"));
        assert_eq!(id("gmail.com", &[]), Some("gmail"));
        assert_eq!(
            id("contoso.com", &["OUTLOOK.office365.com."]),
            Some("microsoft-365")
        );
        assert_eq!(id("example.org", &["imap.gmail.com"]), Some("gmail"));
        assert_eq!(id("example.org", &["mail.example.org"]), None);
        // Yahoo is left out: no OAuth2 defaults known well enough to embed.
        assert_eq!(id("yahoo.com", &[]), None);
    }

    #[test]
    fn globbing() {
        assert!(glob("*.google.com", "aspmx.l.google.com"));
        assert!(!glob("*.google.com", "google.com"));
        assert!(glob("mx*.mail.ovh.net", "mx4.mail.ovh.net"));
        assert!(!glob("mx*.mail.ovh.net", "mx4.mail.ovh.net.evil"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXbY"));
    }

    #[test]
    fn icloud_username_forms_and_ovh_pro_note() {
        let a = Address::parse("jane@icloud.com").unwrap();
        let f = found(
            &by_domain("icloud.com"),
            &a,
            SourceKind::ProviderTable,
            "built-in:",
            true,
        );
        let imap = f
            .candidates
            .iter()
            .find(|c| c.protocol == Protocol::Imap)
            .unwrap();
        let smtp = f
            .candidates
            .iter()
            .find(|c| c.protocol == Protocol::Smtp)
            .unwrap();
        assert_eq!(imap.username, "jane");
        assert_eq!(smtp.username, "jane@icloud.com");
        assert!(!f.candidates.iter().any(|c| c.protocol == Protocol::Pop3));

        let b = Address::parse("bob@example.fr").unwrap();
        let f = found(&by_mx("mx3.mail.ovh.net"), &b, SourceKind::Mx, "x:", false);
        assert!(f.candidates.iter().all(|c| c.host == "ssl0.ovh.net"));
        assert_eq!(f.candidates.len(), 6);
        assert!(f
            .notes
            .iter()
            .map(|n| n.english())
            .any(|n| n.contains("proN.mail.ovh.net") && n.contains("--server")));
    }
}
