//! Where a sign-in's issuer, endpoints, client id, scopes and flow come from, resolved once
//! discovery has run. Each setting is taken from the first source that names it:
//!
//! 1. the flags (or the checks file);
//! 2. the built-in provider table's `oauth2` entry of the account's provider (its domain, else
//!    the servers probed): Microsoft, Google;
//! 3. the discovered `<oAuth2>` (autoconfig, ISPDB) or PACC `oauth-public` issuer, from a
//!    document that came over a trusted channel (https, valid certificate): an issuer named
//!    over plain http could send the user to sign in anywhere;
//! 4. for the endpoints, the issuer's metadata ([`super::metadata`]); for the client id,
//!    dynamic registration at the issuer ([`super::register`]); for the scopes, the server's
//!    default.
//!
//! A client id or scopes belong to their issuer: a source's are used only with the issuer it
//! names (or, for a flag, when it names the same issuer). An `<oAuth2>` with `authURL` /
//! `tokenURL` and no issuer names its endpoints directly: they are used as they are, without
//! metadata (no device flow, no registration: the browser flow with a named client).

use super::{Flow, Metadata, MetadataKind, OAuth2Settings, SettingSource, SignInError};
use crate::discover::autoconfig::OAuth2Config;
use crate::discover::providers::{self, Provider};
use crate::discover::{DiscoveryReport, SourceKind};
use crate::model::Protocol;
use crate::settings::Given;

/// A resolved value and where it came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: SettingSource,
}

impl<T: Clone> From<&Given<T>> for Sourced<T> {
    fn from(g: &Given<T>) -> Sourced<T> {
        Sourced {
            value: g.value.clone(),
            source: (&g.origin).into(),
        }
    }
}

/// Endpoints a source names itself, used instead of the issuer's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedEndpoints {
    pub kind: MetadataKind,
    pub authorization: Option<String>,
    pub token: String,
    pub device: Option<String>,
}

impl NamedEndpoints {
    /// As if the issuer's metadata said them (no registration endpoint: none is named).
    pub fn as_metadata(&self, issuer: &str) -> Metadata {
        Metadata {
            issuer: issuer.to_string(),
            token_endpoint: self.token.clone(),
            device_authorization_endpoint: self.device.clone(),
            authorization_endpoint: self.authorization.clone(),
            registration_endpoint: None,
            token_endpoint_auth_methods_supported: None,
        }
    }
}

/// What the sign-in uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub issuer: Sourced<String>,
    /// `None`: from the issuer's metadata.
    pub endpoints: Option<NamedEndpoints>,
    /// `None`: registered at the issuer, if it allows.
    pub client_id: Option<Sourced<String>>,
    pub scopes: Sourced<Vec<String>>,
    /// `None`: device when the issuer offers it, else browser.
    pub flow: Option<Flow>,
}

/// What one source (after the flags) says of the sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub source: SettingSource,
    pub issuer: Option<String>,
    pub endpoints: Option<NamedEndpoints>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub flow: Option<Flow>,
}

impl Offer {
    /// A provider's table entry, its `{tenant}` filled with `tenant` or the entry's default.
    pub fn from_provider(p: &Provider, tenant: Option<&str>) -> Option<Offer> {
        let o = p.oauth2.as_ref()?;
        let tenant = tenant.or(o.tenant.as_deref()).unwrap_or_default();
        let fill = |url: &str| url.replace("{tenant}", tenant);
        Some(Offer {
            source: SettingSource::ProviderTable(p.id.clone()),
            issuer: Some(fill(&o.issuer)),
            endpoints: o.endpoints.as_ref().map(|e| NamedEndpoints {
                kind: MetadataKind::ProviderTable,
                authorization: Some(fill(&e.authorization)),
                token: fill(&e.token),
                device: e.device.as_deref().map(fill),
            }),
            client_id: None,
            scopes: o.scopes.clone(),
            flow: o.flow,
        })
    }

    /// A discovered `<oAuth2>` or PACC issuer. An issuer written as a bare host name (as
    /// Thunderbird's ISPDB does) is taken as `https://HOST`. Endpoints are used only without an
    /// issuer, and need a token URL.
    pub fn from_discovered(c: &OAuth2Config, source: SettingSource) -> Option<Offer> {
        let issuer = c.issuer.as_deref().map(|i| {
            if i.contains("://") {
                i.to_string()
            } else {
                format!("https://{i}")
            }
        });
        let endpoints = match (&issuer, &c.token_url) {
            (None, Some(token)) => Some(NamedEndpoints {
                kind: MetadataKind::Autoconfig,
                authorization: c.auth_url.clone(),
                token: token.clone(),
                device: None,
            }),
            _ => None,
        };
        if issuer.is_none() && endpoints.is_none() {
            return None;
        }
        Some(Offer {
            source,
            issuer,
            endpoints,
            client_id: c.client_id.clone(),
            scopes: c.scope.clone(),
            flow: None,
        })
    }

    /// A mail server's `openid-configuration` (RFC 7628 §3.2.2) names the issuer whose
    /// OpenID Connect metadata it is: the URL without `/.well-known/openid-configuration`.
    pub fn from_server(server: String, configuration: &str) -> Option<Offer> {
        let issuer = configuration.strip_suffix("/.well-known/openid-configuration")?;
        Some(Offer {
            source: SettingSource::Server(server),
            issuer: Some(issuer.to_string()),
            endpoints: None,
            client_id: None,
            scopes: vec![],
            flow: None,
        })
    }

    /// The issuer it names, or for named endpoints alone, its token endpoint.
    fn authority(&self) -> Option<&str> {
        self.issuer
            .as_deref()
            .or(self.endpoints.as_ref().map(|e| e.token.as_str()))
    }
}

/// The endpoints the provider table names for `issuer` when it is one of a provider's, its
/// `{tenant}` filled from the URL. Microsoft's metadata names a templated issuer, which RFC 8414
/// §3.3 refuses: an issuer given by a flag or a checks file must use the table's endpoints too.
pub fn table_endpoints(issuer: &str) -> Option<NamedEndpoints> {
    let (p, tenant) = table_entry(issuer)?;
    Offer::from_provider(p, Some(tenant))?.endpoints
}

/// The provider whose table issuer `issuer` is, with the tenant its URL fills in.
fn table_entry(issuer: &str) -> Option<(&'static Provider, &str)> {
    let issuer = issuer.trim_end_matches('/');
    providers::all().iter().find_map(|p| {
        let o = p.oauth2.as_ref()?;
        let template = o.issuer.trim_end_matches('/');
        let (before, after) = template.split_once("{tenant}").unwrap_or((template, ""));
        let tenant = issuer.strip_prefix(before)?.strip_suffix(after)?;
        (!tenant.contains('/')).then_some((p, tenant))
    })
}

/// The scopes the provider table says a protocol's servers need (`imap`, `pop3`, `smtp`) and
/// that `granted` lacks, for a token of `issuer`: why such a token is refused there.
pub fn missing_scopes(issuer: &str, granted: &[String]) -> Vec<(Protocol, String)> {
    let Some(o) = table_entry(issuer).and_then(|(p, _)| p.oauth2.as_ref()) else {
        return vec![];
    };
    o.protocol_scopes
        .iter()
        .filter(|(_, scope)| !granted.iter().any(|g| g == *scope))
        .map(|(protocol, scope)| (*protocol, scope.clone()))
        .collect()
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Resolves the sign-in's settings from the flags in `s` and the `offers`, in priority order.
pub fn resolve_offers(s: &OAuth2Settings, offers: &[Offer]) -> Result<Resolved, SignInError> {
    let (issuer, chosen) = match &s.issuer {
        Some(flag) => {
            let chosen = offers.iter().position(|o| {
                o.issuer
                    .as_deref()
                    .is_some_and(|i| same_issuer(i, &flag.value))
            });
            (Sourced::from(flag), chosen)
        }
        None => {
            let i = offers.iter().position(|o| o.authority().is_some()).ok_or(
                SignInError::NoIssuer {
                    asked: s.ask_server,
                },
            )?;
            let o = &offers[i];
            let value = o.authority().unwrap_or_default().to_string();
            (
                Sourced {
                    value,
                    source: o.source.clone(),
                },
                Some(i),
            )
        }
    };
    // The offers that speak for this issuer: the one that named it, and any naming the same.
    let agreeing: Vec<&Offer> = offers
        .iter()
        .enumerate()
        .filter(|(i, o)| {
            Some(*i) == chosen
                || o.issuer
                    .as_deref()
                    .is_some_and(|x| same_issuer(x, &issuer.value))
        })
        .map(|(_, o)| o)
        .collect();
    let client_id = s.client_id.as_ref().map(Sourced::from).or_else(|| {
        agreeing.iter().find_map(|o| {
            o.client_id.clone().map(|value| Sourced {
                value,
                source: o.source.clone(),
            })
        })
    });
    let scopes = if s.scopes.value.is_empty() {
        agreeing
            .iter()
            .find(|o| !o.scopes.is_empty())
            .map(|o| Sourced {
                value: o.scopes.clone(),
                source: o.source.clone(),
            })
            .unwrap_or_else(|| Sourced::from(&s.scopes))
    } else {
        Sourced::from(&s.scopes)
    };
    Ok(Resolved {
        endpoints: agreeing
            .iter()
            .find_map(|o| o.endpoints.clone())
            .or_else(|| table_endpoints(&issuer.value)),
        flow: s.flow.or_else(|| agreeing.iter().find_map(|o| o.flow)),
        issuer,
        client_id,
        scopes,
    })
}

/// The offers for an account: its provider's table entry (by `domain`, else the servers in
/// `hosts`), then the first trusted discovered document that publishes an `<oAuth2>`.
pub fn offers<'h>(
    s: &OAuth2Settings,
    domain: &str,
    hosts: impl IntoIterator<Item = &'h str>,
    discovery: Option<&DiscoveryReport>,
) -> Vec<Offer> {
    let tenant = s.tenant.as_ref().map(|t| t.value.as_str());
    let provider =
        providers::oauth2_provider(domain, hosts).and_then(|p| Offer::from_provider(p, tenant));
    let discovered = discovery
        .into_iter()
        .flat_map(|d| &d.sources)
        .find_map(|src| {
            let config = src.published.oauth2.as_ref()?;
            let by = src.published.by.as_ref().filter(|b| b.trusted)?;
            let source = match src.source {
                SourceKind::Pacc => SettingSource::Pacc(by.url.clone()),
                _ => SettingSource::Autoconfig(by.url.clone()),
            };
            Offer::from_discovered(config, source)
        });
    provider.into_iter().chain(discovered).collect()
}

/// [`resolve_offers`] with the [`offers`] of this account.
pub fn resolve<'h>(
    s: &OAuth2Settings,
    domain: &str,
    hosts: impl IntoIterator<Item = &'h str>,
    discovery: Option<&DiscoveryReport>,
) -> Result<Resolved, SignInError> {
    resolve_offers(s, &offers(s, domain, hosts, discovery))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Origin;

    fn settings() -> OAuth2Settings {
        OAuth2Settings {
            issuer: None,
            client_id: None,
            scopes: Given::new(vec![], Origin::Builtin),
            tenant: None,
            timeout: super::super::DEFAULT_TIMEOUT,
            flow: None,
            open_browser: false,
            ask_server: false,
            client_secret_env: None,
        }
    }

    fn autoconfig(issuer: Option<&str>, client: Option<&str>, scope: &[&str]) -> Offer {
        Offer::from_discovered(
            &OAuth2Config {
                issuer: issuer.map(str::to_string),
                client_id: client.map(str::to_string),
                scope: scope.iter().map(|s| s.to_string()).collect(),
                ..OAuth2Config::default()
            },
            SettingSource::Autoconfig("https://autoconfig.example.com/mail/config-v1.1.xml".into()),
        )
        .unwrap()
    }

    fn provider(id: &str, tenant: Option<&str>) -> Offer {
        let p = providers::all().iter().find(|p| p.id == id).unwrap();
        Offer::from_provider(p, tenant).unwrap()
    }

    #[test]
    fn a_microsoft_issuer_from_a_flag_uses_the_tables_endpoints() {
        let e = table_endpoints("https://login.microsoftonline.com/contoso.example/v2.0/").unwrap();
        assert_eq!(
            e.token,
            "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"
        );
        assert_eq!(
            e.device.as_deref(),
            Some("https://login.microsoftonline.com/contoso.example/oauth2/v2.0/devicecode")
        );
        assert_eq!(
            table_endpoints("https://login.microsoftonline.com/a/b/v2.0"),
            None
        );
        assert_eq!(table_endpoints("https://auth.example.com"), None);
        // Google's metadata is usable: the table names no endpoints for it.
        assert_eq!(table_endpoints("https://accounts.google.com"), None);
    }

    #[test]
    fn the_scopes_a_token_lacks_are_named_per_protocol() {
        let issuer = "https://login.microsoftonline.com/contoso.example/v2.0";
        let granted = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let all = granted(&[
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/POP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send",
        ]);
        assert!(missing_scopes(issuer, &all).is_empty());
        let imap_only = granted(&["https://outlook.office.com/IMAP.AccessAsUser.All"]);
        assert_eq!(
            missing_scopes(issuer, &imap_only),
            [
                (
                    Protocol::Pop3,
                    "https://outlook.office.com/POP.AccessAsUser.All".to_string()
                ),
                (
                    Protocol::Smtp,
                    "https://outlook.office.com/SMTP.Send".to_string()
                ),
            ]
        );
        // An issuer the table does not know: nothing to say.
        assert!(missing_scopes("https://auth.example.com", &[]).is_empty());
    }

    #[test]
    fn flags_come_first() {
        let mut s = settings();
        s.issuer = Some(Given::flag(
            "https://auth.example.com".into(),
            "--oauth2-issuer",
        ));
        s.client_id = Some(Given::flag("mine".into(), "--oauth2-client-id"));
        s.scopes = Given::flag(vec!["mail".into()], "--oauth2-scope");
        s.flow = Some(Flow::Device);
        let offers = [
            provider("gmail", None),
            autoconfig(Some("https://auth.example.com"), Some("theirs"), &["x"]),
        ];
        let r = resolve_offers(&s, &offers).unwrap();
        let flag = |n: &str| SettingSource::Flag(n.into());
        assert_eq!(r.issuer.source, flag("--oauth2-issuer"));
        assert_eq!(r.client_id.unwrap().source, flag("--oauth2-client-id"));
        assert_eq!(r.scopes.value, ["mail"]);
        assert_eq!(r.scopes.source, flag("--oauth2-scope"));
        assert_eq!(r.flow, Some(Flow::Device));
        assert_eq!(r.endpoints, None);
    }

    #[test]
    fn the_provider_table_comes_before_discovery() {
        let offers = [
            provider("microsoft-365", None),
            autoconfig(Some("https://auth.example.com"), Some("theirs"), &["x"]),
        ];
        let r = resolve_offers(&settings(), &offers).unwrap();
        let table = SettingSource::ProviderTable("microsoft-365".into());
        assert_eq!(
            r.issuer.value,
            "https://login.microsoftonline.com/common/v2.0"
        );
        assert_eq!(r.issuer.source, table);
        assert_eq!(r.scopes.source, table);
        assert!(r.scopes.value.contains(&"offline_access".to_string()));
        // The autoconfig's client belongs to another issuer: not used.
        assert_eq!(r.client_id, None);
        let e = r.endpoints.unwrap();
        assert_eq!(e.kind, MetadataKind::ProviderTable);
        assert_eq!(
            e.device.as_deref(),
            Some("https://login.microsoftonline.com/common/oauth2/v2.0/devicecode")
        );
    }

    #[test]
    fn tenants_and_google_flow() {
        let r = resolve_offers(&settings(), &[provider("outlook-com", None)]).unwrap();
        assert_eq!(
            r.issuer.value,
            "https://login.microsoftonline.com/consumers/v2.0"
        );
        let r = resolve_offers(
            &settings(),
            &[provider("microsoft-365", Some("contoso.com"))],
        )
        .unwrap();
        assert_eq!(
            r.issuer.value,
            "https://login.microsoftonline.com/contoso.com/v2.0"
        );
        let r = resolve_offers(&settings(), &[provider("gmail", None)]).unwrap();
        assert_eq!(r.issuer.value, "https://accounts.google.com");
        assert_eq!(r.scopes.value, ["https://mail.google.com/"]);
        assert_eq!(r.flow, Some(Flow::Browser));
        // Google's metadata is used as it is.
        assert_eq!(r.endpoints, None);
    }

    #[test]
    fn discovered_issuer_client_and_scope() {
        let offers = [autoconfig(
            Some("auth.example.com"),
            Some("theirs"),
            &["a", "b"],
        )];
        let r = resolve_offers(&settings(), &offers).unwrap();
        assert_eq!(r.issuer.value, "https://auth.example.com");
        assert!(matches!(r.issuer.source, SettingSource::Autoconfig(_)));
        assert_eq!(r.client_id.unwrap().value, "theirs");
        assert_eq!(r.scopes.value, ["a", "b"]);
        // A flag naming the same issuer keeps the document's client; another issuer does not.
        let mut s = settings();
        s.issuer = Some(Given::flag(
            "https://auth.example.com/".into(),
            "--oauth2-issuer",
        ));
        assert!(resolve_offers(&s, &offers).unwrap().client_id.is_some());
        s.issuer = Some(Given::flag(
            "https://other.example".into(),
            "--oauth2-issuer",
        ));
        let r = resolve_offers(&s, &offers).unwrap();
        assert_eq!(r.client_id, None);
        assert_eq!(r.scopes.source, SettingSource::Default);
    }

    #[test]
    fn endpoints_without_an_issuer_are_used_directly() {
        let offer = Offer::from_discovered(
            &OAuth2Config {
                auth_url: Some("https://auth.example.com/authorize".into()),
                token_url: Some("https://auth.example.com/token".into()),
                client_id: Some("c".into()),
                ..OAuth2Config::default()
            },
            SettingSource::Autoconfig("https://example.com/doc".into()),
        )
        .unwrap();
        let r = resolve_offers(&settings(), &[offer]).unwrap();
        assert_eq!(r.issuer.value, "https://auth.example.com/token");
        let e = r.endpoints.unwrap();
        assert_eq!(e.kind, MetadataKind::Autoconfig);
        assert_eq!(e.device, None);
        assert_eq!(r.client_id.unwrap().value, "c");
    }

    #[test]
    fn nothing_names_an_issuer() {
        let e = resolve_offers(&settings(), &[]).unwrap_err();
        assert!(matches!(e, SignInError::NoIssuer { .. }));
        assert!(e.to_string().contains("--oauth2-issuer"), "{e}");
        // An <oAuth2> with only a client id names no issuer.
        assert!(Offer::from_discovered(
            &OAuth2Config {
                client_id: Some("c".into()),
                ..OAuth2Config::default()
            },
            SettingSource::Default
        )
        .is_none());
    }
}
