//! One validated [`Settings`] per account, whatever the front end: `probe`/`demo` flags, a
//! checks file (`check`), an address list (`batch`) or an exporter request (`serve`). Each front
//! end only translates its own syntax into a [`SettingsBuilder`] (typed values, each with the
//! [`Origin`] it came from); every default and every validation lives here, once, and an error
//! names the flag or the file position it is about.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::account::{Address, Credential, CredentialRequest, SecretSource};
use crate::model::{
    Combination, ConnectTo, Direction, IpFamily, Limits, LoginMethod, Policy, Protocol, Security,
    Selector,
};
use crate::net::resolver::{NameServer, Resolver};

/// The Thunderbird ISPDB, asked when nothing closer to the domain answers.
pub const DEFAULT_ISPDB_URL: &str = "https://autoconfig.thunderbird.net/v1.1/";
/// Deadline of each discovery source.
pub const DEFAULT_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(8);
/// Days before expiry from which a certificate is a warning.
pub const DEFAULT_CERT_WARN_DAYS: i64 = 21;

/// The warning level in days: the one given, else the default raised to the critical level
/// (`--cert-crit-days 30` alone must not read as "critical before warning").
pub fn cert_warn_days(given: Option<i64>, critical: Option<i64>) -> i64 {
    given.unwrap_or_else(|| DEFAULT_CERT_WARN_DAYS.max(critical.unwrap_or(i64::MIN)))
}

/// Where a value came from, so that an error points at what the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag (`--ispdb-url`) or argument (`ADDRESS`).
    Flag(&'static str),
    /// A position in a file.
    File {
        path: String,
        line: usize,
        column: usize,
    },
    /// A parameter of an exporter request (`target`).
    Query(&'static str),
    /// A value no user wrote (a default, a built-in lab).
    Builtin,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(name) => f.write_str(name),
            Origin::File { path, line, column } => write!(f, "{path}:{line}:{column}"),
            Origin::Query(name) => f.write_str(name),
            Origin::Builtin => f.write_str("built-in setting"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Given<T> {
    pub fn new(value: T, origin: Origin) -> Given<T> {
        Given { value, origin }
    }

    pub fn flag(value: T, name: &'static str) -> Given<T> {
        Given::new(value, Origin::Flag(name))
    }

    fn err(&self, message: impl Into<String>) -> SettingsError {
        SettingsError {
            origin: self.origin.clone(),
            message: message.into(),
        }
    }
}

/// Bad input, located: `--ispdb-url: expected an http(s) URL`, `checks.toml:3:11: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct SettingsError {
    pub origin: Origin,
    pub message: String,
}

/// Where an account's secret comes from. Names a variable, a command or a source, never the
/// secret itself (but for [`CredentialSpec::Given`]); read after planning, once per run (each
/// scrape in `serve`), so rotation needs no restart and no secret is read for an account whose
/// servers may not receive it.
#[derive(Debug, Clone)]
pub enum CredentialSpec {
    None,
    PasswordEnv(String),
    PasswordCommand(String),
    OAuth2TokenEnv(String),
    OAuth2TokenCommand(String),
    /// `batch --password-command`: run with `MAILCHECK_ADDRESS`; no output means no password.
    LookupCommand(String),
    /// `probe`'s sources: `MAILCHECK_PASSWORD`/`MAILCHECK_OAUTH2_TOKEN`, `--password-stdin`,
    /// `--password-command`, `--oauth2-token-command`, or the prompt on a terminal.
    Interactive(CredentialRequest),
    /// A secret handed over in memory (the built-in lab's, for `demo`).
    Given(Credential, SecretSource),
    /// An OAuth2 sign-in at run time (`--oauth2`): the engine signs in once and uses the
    /// access token.
    OAuth2(Box<crate::oauth2::OAuth2Settings>),
    /// A checks file's unattended grant (`oauth2 = { grant = ... }`): an access token per run,
    /// from the process's token cache or the issuer.
    OAuth2Grant(Box<crate::oauth2::grant::GrantSettings>),
}

impl CredentialSpec {
    pub fn is_some(&self) -> bool {
        !matches!(self, CredentialSpec::None)
    }
}

/// Specs compare by where the secret comes from; two in-memory secrets compare by kind and
/// source only, never by the secret (which no comparison should need to read).
impl PartialEq for CredentialSpec {
    fn eq(&self, other: &Self) -> bool {
        use CredentialSpec as C;
        match (self, other) {
            (C::None, C::None) => true,
            (C::PasswordEnv(a), C::PasswordEnv(b))
            | (C::PasswordCommand(a), C::PasswordCommand(b))
            | (C::OAuth2TokenEnv(a), C::OAuth2TokenEnv(b))
            | (C::OAuth2TokenCommand(a), C::OAuth2TokenCommand(b))
            | (C::LookupCommand(a), C::LookupCommand(b)) => a == b,
            (C::Interactive(a), C::Interactive(b)) => a == b,
            (C::Given(a, s), C::Given(b, t)) => a.kind() == b.kind() && s == t,
            (C::OAuth2(a), C::OAuth2(b)) => a == b,
            (C::OAuth2Grant(a), C::OAuth2Grant(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for CredentialSpec {}

/// How an account without a named server finds its servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// Base URL of the ISPDB (the domain is appended).
    pub ispdb_url: String,
    /// Deadline of each discovery source.
    pub timeout: Duration,
    /// Send credentials to discovered servers outside the address's domain even when an
    /// untrusted channel named them (`--trust-discovered`, `trust_discovered`).
    pub trust_discovered: bool,
}

/// Which servers are probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Servers {
    /// Found from the address (provider table, autoconfig, SRV...).
    Discover(DiscoverySettings),
    /// The given host (or the address's domain with discovery off); some protocols may have a
    /// host of their own (`smtp_server`).
    Named {
        host: String,
        per_protocol: Vec<(Protocol, String)>,
    },
}

/// `--round-trip`: send a test message and wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTripSettings {
    /// The recipient (ASCII domain); the account itself when not given.
    pub to: Option<String>,
    pub timeout: Duration,
    pub keep: bool,
}

/// Everything one probe of one account needs, validated. No clap type, no TOML span.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The account's name in reports (checks file `name`; default: the address).
    pub name: String,
    pub address: Address,
    /// Where the address came from: a flag (`probe`, `batch`) or a file or request (`check`,
    /// `serve`), which decides how a note tells the user to trust discovery.
    pub address_origin: Origin,
    pub servers: Servers,
    /// `--tls-name`: replaces each server's name for SNI and the certificate check.
    pub tls_name: Option<String>,
    /// `--username`: replaces the login name (default: the address, or what discovery says).
    pub username: Option<String>,
    /// The combinations of a named server: the documented six, then any an expectation names.
    pub combinations: Vec<Combination>,
    pub only: Vec<Selector>,
    pub skip: Vec<Selector>,
    pub connect_to: Vec<ConnectTo>,
    pub policy: Policy,
    pub credential: CredentialSpec,
    /// Environment variables that hold other accounts' secrets: never passed to a command.
    pub hidden_env: Vec<String>,
    /// What the account is judged against (thresholds, expect/forbid).
    pub expectations: Expectations,
    /// The certificate warning level in days, resolved from the expectations.
    pub cert_warn_days: i64,
    pub round_trip: Option<RoundTripSettings>,
    /// `--each-address`, `each_address`: probe every address of each server, each on its own.
    pub each_address: bool,
}

impl Settings {
    /// The logical server name for the report: the named host, or the domain discovered for.
    pub fn server(&self) -> &str {
        match &self.servers {
            Servers::Named { host, .. } => host,
            Servers::Discover(_) => &self.address.domain,
        }
    }
}

/// Raw settings of one account as a front end read them, each with its origin. `build`
/// applies the defaults and validates.
/// Whether certificate days are judged against a warning level, and which.
#[derive(Debug, Clone, Default)]
pub enum CertWarn {
    /// Not judged (a checks file that names no level).
    #[default]
    Unjudged,
    /// The default level (the command line, whose monitoring formats always show the days).
    DefaultLevel,
    /// This many days.
    Days(Given<i64>),
}

impl CertWarn {
    /// The command line's: the given level, else the default one.
    pub fn flag(days: Option<i64>) -> CertWarn {
        days.map_or(CertWarn::DefaultLevel, |d| {
            CertWarn::Days(Given::flag(d, "--cert-warn-days"))
        })
    }
    fn given(&self) -> Option<&Given<i64>> {
        match self {
            CertWarn::Days(g) => Some(g),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SettingsBuilder {
    pub name: Option<String>,
    pub address: Option<Given<String>>,
    pub server: Option<Given<String>>,
    pub protocol_servers: Vec<(Protocol, Given<String>)>,
    /// Without a server: discover (default) or probe the domain itself.
    pub discover: Option<bool>,
    pub tls_name: Option<String>,
    pub username: Option<String>,
    pub ca_file: Option<Given<PathBuf>>,
    pub crl_files: Vec<Given<PathBuf>>,
    pub connect_to: Vec<ConnectTo>,
    pub only: Vec<Selector>,
    pub skip: Vec<Given<Selector>>,
    pub family: IpFamily,
    pub connect_timeout: Option<Duration>,
    pub timeout: Option<Duration>,
    pub deadline: Option<Duration>,
    pub insecure: bool,
    pub trace: bool,
    pub check_legacy_tls: bool,
    pub login_method: Option<LoginMethod>,
    pub dns_server: Option<NameServer>,
    /// `--dns-trust-anchor FILE`: DS or DNSKEY records replacing the root trust anchor.
    pub dns_trust_anchor: Option<Given<PathBuf>>,
    pub ispdb_url: Option<Given<String>>,
    pub discovery_timeout: Option<Duration>,
    pub trust_discovered: bool,
    pub each_address: bool,
    pub credential: Option<CredentialSpec>,
    pub expect: Vec<Subject>,
    pub forbid: Vec<Given<Subject>>,
    pub warn_response: Option<Given<Duration>>,
    pub max_response: Option<Given<Duration>>,
    pub warn_cert_days: CertWarn,
    pub min_cert_days: Option<Given<i64>>,
    pub round_trip: Option<RoundTripSettings>,
    pub round_trip_to: Option<Given<String>>,
}

impl SettingsBuilder {
    pub fn build(self) -> Result<Settings, SettingsError> {
        let address_given = self
            .address
            .clone()
            .unwrap_or(Given::new(String::new(), Origin::Builtin));
        let address =
            Address::parse(&address_given.value).map_err(|e| address_given.err(e.to_string()))?;

        let ca_file = match &self.ca_file {
            Some(p) if !p.value.is_file() => {
                return Err(p.err(format!("{}: no such file", p.value.display())))
            }
            Some(p) => Some(p.value.clone()),
            None => None,
        };
        let trust_anchor = match &self.dns_trust_anchor {
            Some(p) => Some(std::sync::Arc::new(
                crate::net::resolver::TrustAnchor::read(&p.value)
                    .map_err(|e| p.err(format!("{}: {e}", p.value.display())))?,
            )),
            None => None,
        };
        let mut crl_files = vec![];
        for p in &self.crl_files {
            crate::net::tls::TlsTrust::check_crl_files(ca_file.as_deref(), &[&p.value])
                .map_err(|e| p.err(format!("{e:#}")))?;
            crl_files.push(p.value.clone());
        }

        let defaults = Limits::default();
        let limits = Limits {
            connect_timeout: self.connect_timeout.unwrap_or(defaults.connect_timeout),
            step_timeout: self.timeout.unwrap_or(defaults.step_timeout),
            target_timeout: self.deadline.unwrap_or(defaults.target_timeout),
            ..defaults
        };

        // Expectations: the thresholds the right way round, expect and forbid apart.
        let forbid: Vec<Subject> = self.forbid.iter().map(|s| s.value).collect();
        if let Some(s) = self.forbid.iter().find(|s| self.expect.contains(&s.value)) {
            return Err(s.err(format!("{} is both expected and forbidden", s.value)));
        }
        let expectations = Expectations {
            expect: self.expect.clone(),
            forbid,
            response_warn: self.warn_response.as_ref().map(|v| v.value),
            response_crit: self.max_response.as_ref().map(|v| v.value),
            cert_warn_days: self.warn_cert_days.given().map(|v| v.value),
            cert_crit_days: self.min_cert_days.as_ref().map(|v| v.value),
        };
        if let (Some(w), Some(c)) = (&self.warn_response, &self.max_response) {
            if w.value > c.value {
                return Err(w.err(format!(
                    "the warning response time ({:?}) is above the critical one ({:?}); \
                     warning must come first",
                    w.value, c.value
                )));
            }
        }
        let cert_warn = cert_warn_days(expectations.cert_warn_days, expectations.cert_crit_days);
        let expectations = Expectations {
            cert_warn_days: match self.warn_cert_days {
                CertWarn::Unjudged => None,
                CertWarn::DefaultLevel | CertWarn::Days(_) => Some(cert_warn),
            },
            ..expectations
        };
        if let (Some(w), Some(c)) = (self.warn_cert_days.given(), &self.min_cert_days) {
            if w.value < c.value {
                return Err(w.err(format!(
                    "the certificate warning ({} days) is below the critical limit ({} days); \
                     warning must come first",
                    w.value, c.value
                )));
            }
        }

        // What the expectations name is always probed, whatever `only`/`skip` say.
        let needed = expectations.combinations();
        let mut only = self.only.clone();
        if !only.is_empty() {
            for c in &needed {
                only.push(c.id().parse().expect("a combination id is a selector"));
            }
        }
        for c in &needed {
            if let Some(s) = self.skip.iter().find(|s| s.value.matches(c)) {
                return Err(s.err(format!("skip leaves out {c}, which an expectation names")));
            }
        }
        let skip: Vec<Selector> = self.skip.iter().map(|s| s.value.clone()).collect();
        // Any port may be named in `expect`/`forbid` (a provider's IMAPS on 10993): what is
        // named is probed, after the documented matrix.
        let mut combinations = Combination::DOCUMENTED.to_vec();
        for c in needed {
            if !combinations.contains(&c) {
                combinations.push(c);
            }
        }

        // One host-name check for every front end (no port, no URL, RFC 1035 lengths).
        let host_of = |g: &Given<String>, what: &str| -> Result<String, SettingsError> {
            crate::account::check_host(what, g.value.trim()).map_err(|e| g.err(e.to_string()))?;
            Ok(g.value.trim().trim_end_matches('.').to_string())
        };
        let mut per_protocol = vec![];
        for (p, g) in &self.protocol_servers {
            let h = host_of(g, &format!("{p}_server"))?;
            if self.server.is_none() {
                return Err(g.err(format!(
                    "{p}_server needs `server` too (the host of the other protocols)"
                )));
            }
            per_protocol.push((*p, h));
        }
        let servers = match &self.server {
            Some(s) => Servers::Named {
                host: host_of(s, "server")?,
                per_protocol,
            },
            None if !self.discover.unwrap_or(true) => Servers::Named {
                host: address.domain.clone(),
                per_protocol,
            },
            None => {
                let ispdb_url = match &self.ispdb_url {
                    Some(u) => {
                        let url = u.value.trim();
                        if !(url.starts_with("https://") || url.starts_with("http://")) {
                            return Err(u.err(format!("{url:?}: expected an http(s) URL")));
                        }
                        url.to_string()
                    }
                    None => DEFAULT_ISPDB_URL.to_string(),
                };
                Servers::Discover(DiscoverySettings {
                    ispdb_url,
                    timeout: self.discovery_timeout.unwrap_or(DEFAULT_DISCOVERY_TIMEOUT),
                    trust_discovered: self.trust_discovered,
                })
            }
        };
        // A named server's matrix must keep a combination (a discovered one is filtered once
        // the candidates are known).
        if matches!(servers, Servers::Named { .. })
            && !combinations.iter().any(|c| selected(&only, &skip, c))
        {
            let origin = self
                .skip
                .first()
                .map(|s| s.origin.clone())
                .unwrap_or(address_given.origin.clone());
            return Err(SettingsError {
                origin,
                message: "--only/--skip leave no combination to probe".into(),
            });
        }

        let round_trip = match self.round_trip {
            None => None,
            Some(mut rt) => {
                if let Some(to) = &self.round_trip_to {
                    rt.to = Some(
                        Address::parse(&to.value)
                            .map_err(|e| to.err(e.to_string()))?
                            .ascii(),
                    );
                }
                if let Servers::Named { .. } = servers {
                    let has = |d: Direction| {
                        combinations
                            .iter()
                            .any(|c| c.protocol.direction() == d && selected(&only, &skip, c))
                    };
                    if !has(Direction::Outgoing) || !has(Direction::Incoming) {
                        return Err(SettingsError {
                            origin: Origin::Flag("--round-trip"),
                            message: "needs an outgoing (smtp) and an incoming (imap or pop3) \
                                      combination; --only/--skip leave none on one side"
                                .into(),
                        });
                    }
                }
                Some(rt)
            }
        };

        let policy = Policy {
            resolver: Resolver::from_option(self.dns_server.map(|n| n.0), limits.connect_timeout)
                .with_trust_anchor(trust_anchor),
            limits,
            family: self.family,
            ca_file,
            crl_files,
            insecure: self.insecure,
            trace: self.trace,
            check_legacy_tls: self.check_legacy_tls,
            login_method: self.login_method,
        };
        Ok(Settings {
            name: self.name.unwrap_or_else(|| address.to_string()),
            address,
            address_origin: address_given.origin,
            servers,
            tls_name: self.tls_name,
            username: self.username,
            combinations,
            only,
            skip,
            connect_to: self.connect_to,
            policy,
            credential: self.credential.unwrap_or(CredentialSpec::None),
            hidden_env: vec![],
            expectations,
            cert_warn_days: cert_warn,
            round_trip,
            each_address: self.each_address,
        })
    }
}

/// Whether `--only`/`--skip` keep a combination.
pub fn selected(only: &[Selector], skip: &[Selector], c: &Combination) -> bool {
    (only.is_empty() || only.iter().any(|s| s.matches(c))) && !skip.iter().any(|s| s.matches(c))
}

/// What an expectation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The combination works.
    Works(Combination),
    /// A password login is offered before TLS on this STARTTLS combination.
    PlaintextLogin(Combination),
}

impl Subject {
    pub fn combination(&self) -> Combination {
        match self {
            Subject::Works(c) | Subject::PlaintextLogin(c) => *c,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Works(c) => write!(f, "{}", c.id()),
            Subject::PlaintextLogin(c) => write!(f, "{}/plaintext-login", c.id()),
        }
    }
}

impl FromStr for Subject {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (sel, plaintext) = match s.strip_suffix("/plaintext-login") {
            Some(rest) => (rest, true),
            None => (s, false),
        };
        // Port 0 is no server's port: said at once, not found later as an unreachable server.
        if sel.split('/').any(|part| part.parse::<u16>() == Ok(0)) {
            return Err(format!("{s:?}: port 0 is not a port a server listens on"));
        }
        // A full protocol/port/security names that combination, documented port or not (a
        // discovered server may use another port); shorter forms pick a documented one.
        if let [p, port, sec] = sel.split('/').collect::<Vec<_>>().as_slice() {
            if let (Ok(p), Ok(port), Ok(sec)) = (p.parse(), port.parse::<u16>(), sec.parse()) {
                let c = Combination::new(p, port, sec);
                return match (plaintext, sec) {
                    (false, _) => Ok(Subject::Works(c)),
                    (true, Security::Starttls) => Ok(Subject::PlaintextLogin(c)),
                    (true, Security::Tls) => Err(format!(
                        "{s:?}: plaintext-login applies to a STARTTLS combination (imap/143, pop3/110, smtp/587)"
                    )),
                };
            }
        }
        let selector: Selector = sel.parse()?;
        let matching: Vec<Combination> = Combination::DOCUMENTED
            .iter()
            .copied()
            .filter(|c| selector.matches(c))
            .filter(|c| !plaintext || c.security == Security::Starttls)
            .collect();
        let known = Combination::DOCUMENTED
            .iter()
            .map(|c| c.id())
            .collect::<Vec<_>>()
            .join(", ");
        match matching.as_slice() {
            [c] if plaintext => Ok(Subject::PlaintextLogin(*c)),
            [c] => Ok(Subject::Works(*c)),
            [] if plaintext => Err(format!(
                "{s:?}: plaintext-login applies to a STARTTLS combination (imap/143, pop3/110, smtp/587)"
            )),
            [] => Err(format!("{s:?} names no combination; known: {known}")),
            _ => Err(format!(
                "{s:?} is ambiguous: it matches {}; name one combination",
                matching.iter().map(|c| c.id()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// Everything an account is judged against.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub expect: Vec<Subject>,
    pub forbid: Vec<Subject>,
    /// Any step slower than this: warning / critical.
    pub response_warn: Option<Duration>,
    pub response_crit: Option<Duration>,
    /// A certificate with fewer days left: warning / critical.
    pub cert_warn_days: Option<i64>,
    pub cert_crit_days: Option<i64>,
}

impl Expectations {
    /// Only thresholds, as `probe`/`batch` take them on the command line.
    pub fn thresholds(
        response_warn: Option<Duration>,
        response_crit: Option<Duration>,
        cert_warn_days: Option<i64>,
        cert_crit_days: Option<i64>,
    ) -> Expectations {
        Expectations {
            response_warn,
            response_crit,
            cert_warn_days,
            cert_crit_days,
            ..Expectations::default()
        }
    }

    /// With `expect`/`forbid` the user said what must hold: the status follows them (and the
    /// thresholds) only. Without, it follows the diagnosis (a secure incoming and outgoing
    /// setting work) and the thresholds.
    pub fn is_explicit(&self) -> bool {
        !self.expect.is_empty() || !self.forbid.is_empty()
    }

    /// The combinations the expectations need probed.
    pub fn combinations(&self) -> Vec<Combination> {
        let mut v: Vec<Combination> = self
            .expect
            .iter()
            .chain(&self.forbid)
            .map(|s| s.combination())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_parses() {
        let imap993 = Combination::new(Protocol::Imap, 993, Security::Tls);
        let imap143 = Combination::new(Protocol::Imap, 143, Security::Starttls);
        assert_eq!("imap/993/tls".parse(), Ok(Subject::Works(imap993)));
        assert_eq!("imap/993".parse(), Ok(Subject::Works(imap993)));
        assert_eq!(
            "imap/143/plaintext-login".parse(),
            Ok(Subject::PlaintextLogin(imap143))
        );
        assert_eq!(
            "imap/143/starttls/plaintext-login".parse(),
            Ok(Subject::PlaintextLogin(imap143))
        );
        assert_eq!(
            Subject::PlaintextLogin(imap143).to_string(),
            "imap/143/starttls/plaintext-login"
        );
        assert!("imap".parse::<Subject>().unwrap_err().contains("ambiguous"));
        assert!("imap/994"
            .parse::<Subject>()
            .unwrap_err()
            .contains("no combination"));
        // A full triple names any port (a discovered server's).
        assert_eq!(
            "imap/10993/tls".parse(),
            Ok(Subject::Works(Combination::new(
                Protocol::Imap,
                10993,
                Security::Tls
            )))
        );
        assert!("imap/993/plaintext-login"
            .parse::<Subject>()
            .unwrap_err()
            .contains("STARTTLS"));
        assert!("imap/993/bogus".parse::<Subject>().is_err());
        for zero in ["imap/0/tls", "imap/0", "smtp/0/starttls/plaintext-login"] {
            let e = zero.parse::<Subject>().unwrap_err();
            assert!(e.contains("port 0"), "{zero}: {e}");
        }
    }

    #[test]
    fn the_warning_level_defaults_to_21_days_or_the_critical_level() {
        assert_eq!(cert_warn_days(None, None), 21);
        assert_eq!(cert_warn_days(None, Some(7)), 21);
        assert_eq!(cert_warn_days(None, Some(30)), 30);
        assert_eq!(cert_warn_days(Some(10), Some(30)), 10); // refused later, as given
    }
}
