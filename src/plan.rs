//! The planner: validated [`Settings`] and what discovery found become the one [`RunPlan`] the
//! engine executes — the targets, the policy, and the credential decision (which servers may
//! receive the secret) — the same for every front end.

use std::time::Duration;

use crate::discover::{DiscoveryConfig, DiscoveryReport};
use crate::model::{
    Combination, ConnectTo, Direction, IpFamily, Policy, Protocol, Selector, Target,
};
use crate::settings::{CredentialSpec, Origin, Servers, Settings};

/// Everything the engine needs: the targets and the rules.
#[derive(Debug, Clone)]
pub struct Plan {
    pub targets: Vec<Target>,
    pub policy: Policy,
}

/// Build targets for one host: the documented matrix, filtered by selectors, redirected by
/// `--connect-to` rules.
pub struct TargetSpec<'a> {
    pub host: &'a str,
    pub tls_name: Option<&'a str>,
    pub username: &'a str,
    pub combinations: &'a [Combination],
    pub only: &'a [Selector],
    pub skip: &'a [Selector],
    pub connect_to: &'a [ConnectTo],
}

impl TargetSpec<'_> {
    pub fn targets(&self) -> Vec<Target> {
        self.combinations
            .iter()
            .filter(|c| self.only.is_empty() || self.only.iter().any(|s| s.matches(c)))
            .filter(|c| !self.skip.iter().any(|s| s.matches(c)))
            .map(|c| {
                let (connect_host, connect_port) =
                    ConnectTo::resolve(self.connect_to, self.host, c.port);
                Target {
                    host: self.host.to_string(),
                    combination: *c,
                    connect_host,
                    connect_port,
                    tls_name: self.tls_name.unwrap_or(self.host).to_string(),
                    username: self.username.to_string(),
                    address: None,
                }
            })
            .collect()
    }
}

/// `--round-trip`: what the engine sends and where it looks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTripPlan {
    /// The account's address (sender of the message), ASCII domain.
    pub from: String,
    /// The recipient: the account itself, or `--round-trip-to`. The message is looked for in
    /// the account's own mailbox either way (another address must lead back to it).
    pub to: String,
    /// How long to wait for the message once the outgoing server has accepted it.
    pub timeout: Duration,
    /// Leave the message in the mailbox (`--keep`).
    pub keep: bool,
}

/// One account's run as the engine executes it: the plan, the credential decision and the
/// labels of the report.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The address as the user typed it (for the report).
    pub address: String,
    /// The logical server name (for the report).
    pub server: String,
    pub plan: Plan,
    /// Where the secret comes from, when every planned server may receive it; `None` when
    /// there is none or it is withheld.
    pub credential: CredentialSpec,
    /// Discovered hosts outside the address's domain, named by an untrusted channel, that made
    /// the credential be withheld (empty when it was not).
    pub withheld_from: Vec<String>,
    pub cert_warn_days: i64,
    /// How the servers were found, when they were.
    pub discovery: Option<DiscoveryReport>,
    pub round_trip: Option<RoundTripPlan>,
    /// `--each-address`: the engine makes one target per address of each target's connect
    /// host ([`each_address`]) before probing.
    pub each_address: bool,
}

/// Bad input found while planning: the selection leaves nothing, or the round trip lacks a
/// side or its credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// The discovery an account needs before it can be planned, if any.
pub fn discovery_config(settings: &Settings) -> Option<DiscoveryConfig> {
    match &settings.servers {
        Servers::Discover(d) => Some(DiscoveryConfig {
            resolver: settings.policy.resolver.clone(),
            ca_file: settings.policy.ca_file.clone(),
            ispdb_url: d.ispdb_url.clone(),
            timeout: d.timeout,
            connect_to: settings.connect_to.clone(),
        }),
        Servers::Named { .. } => None,
    }
}

/// The one planner: validated settings and what discovery found (for settings that discover)
/// become the targets, the policy and the credential decision. Credentials go to discovered
/// servers outside the address's domain only when the channel that named them is trusted, the
/// server is a built-in provider's own, or the settings say to trust discovery.
pub fn plan(
    settings: &Settings,
    mut discovery: Option<DiscoveryReport>,
) -> Result<RunPlan, PlanError> {
    let targets = match (&settings.servers, &discovery) {
        (Servers::Named { host, per_protocol }, _) => {
            let host_of = |p: Protocol| {
                per_protocol
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map_or(host.as_str(), |(_, h)| h.as_str())
            };
            let username = settings
                .username
                .clone()
                .unwrap_or_else(|| settings.address.ascii());
            // One TargetSpec per combination, each on its protocol's host; plan order kept.
            let mut targets: Vec<Target> = vec![];
            for c in &settings.combinations {
                targets.extend(
                    TargetSpec {
                        host: host_of(c.protocol),
                        tls_name: settings.tls_name.as_deref(),
                        username: &username,
                        combinations: std::slice::from_ref(c),
                        only: &settings.only,
                        skip: &settings.skip,
                        connect_to: &settings.connect_to,
                    }
                    .targets(),
                );
            }
            targets
        }
        (Servers::Discover(_), Some(found)) => discovered_targets(settings, found),
        (Servers::Discover(_), None) => {
            return Err(PlanError(
                "the servers must be discovered before this account can be planned".into(),
            ))
        }
    };
    if targets.is_empty() {
        return Err(PlanError(
            "--only/--skip leave no combination to probe".into(),
        ));
    }
    let has = |d: Direction| {
        targets
            .iter()
            .any(|t| t.combination.protocol.direction() == d)
    };
    if settings.round_trip.is_some() && (!has(Direction::Outgoing) || !has(Direction::Incoming)) {
        return Err(PlanError("--round-trip needs an outgoing (smtp) and an incoming (imap or pop3) combination; --only/--skip leave none on one side".into()));
    }

    let trust = match &settings.servers {
        Servers::Discover(d) => d.trust_discovered,
        Servers::Named { .. } => true,
    };
    let mut risky: Vec<String> = discovery
        .as_ref()
        .map(|d| {
            d.selected
                .iter()
                .filter(|c| {
                    !c.trusted
                        && !crate::discover::within(&c.host, &d.domain)
                        && !crate::discover::providers::is_provider_host(&c.host)
                })
                .map(|c| c.host.clone())
                .collect()
        })
        .unwrap_or_default();
    risky.dedup();
    let withhold = !risky.is_empty() && !trust;
    if withhold {
        if let Some(d) = discovery.as_mut() {
            d.notes.push(crate::discover::Note::CredentialsWithheld {
                hosts: risky.clone(),
                domain: d.domain.clone(),
                hint: match settings.address_origin {
                    Origin::Flag(_) => crate::discover::TrustHint::Cli,
                    _ => crate::discover::TrustHint::Config,
                },
            });
        }
    }
    let credential = if withhold {
        CredentialSpec::None
    } else {
        settings.credential.clone()
    };
    if settings.round_trip.is_some() && !credential.is_some() {
        return Err(PlanError(if withhold {
            "--round-trip: credentials are withheld from the discovered servers (see above: --trust-discovered or --server HOST)".into()
        } else {
            "--round-trip needs a password or token: MAILCHECK_PASSWORD, --password-stdin, --password-command or --oauth2-token-command".into()
        }));
    }
    let round_trip = settings.round_trip.as_ref().map(|rt| RoundTripPlan {
        from: settings.address.ascii(),
        to: rt.to.clone().unwrap_or_else(|| settings.address.ascii()),
        timeout: rt.timeout,
        keep: rt.keep,
    });
    Ok(RunPlan {
        address: settings.address.to_string(),
        server: settings.server().to_string(),
        plan: Plan {
            targets,
            policy: settings.policy.clone(),
        },
        credential,
        withheld_from: if withhold { risky } else { vec![] },
        cert_warn_days: settings.cert_warn_days,
        discovery,
        round_trip,
        each_address: settings.each_address,
    })
}

/// `--each-address`: every target once per address its connect host resolves to (through the
/// run's resolver, in the allowed families), in plan order, addresses in the resolver's order.
/// The targets keep their host, so the pacer (per connect host) and the lockout gate (per
/// server and account) still see one server. A target whose host does not resolve stays as it
/// is: its probe reports the lookup's failure.
pub async fn each_address(targets: Vec<Target>, policy: &Policy) -> Vec<Target> {
    let mut resolved: std::collections::HashMap<(String, u16), Vec<std::net::IpAddr>> =
        Default::default();
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let key = (t.connect_host.to_ascii_lowercase(), t.connect_port);
        if !resolved.contains_key(&key) {
            let lookup = policy
                .resolver
                .lookup_addrs(&t.connect_host, t.connect_port);
            let addrs = match tokio::time::timeout(policy.limits.connect_timeout, lookup).await {
                Ok(Ok(a)) => a
                    .into_iter()
                    .map(|a| a.ip())
                    .filter(|ip| match policy.family {
                        IpFamily::Any => true,
                        IpFamily::V4 => ip.is_ipv4(),
                        IpFamily::V6 => ip.is_ipv6(),
                    })
                    .collect(),
                _ => vec![],
            };
            resolved.insert(key.clone(), addrs);
        }
        match resolved[&key].as_slice() {
            [] => out.push(t),
            addrs => out.extend(addrs.iter().map(|ip| t.at(*ip))),
        }
    }
    out
}

/// The selected candidates as probe targets: one per candidate (host and port as discovered,
/// even when the port is not a documented one), filtered by `--only`/`--skip`, redirected by
/// `--connect-to`; `--tls-name` and `--username` replace what discovery says.
fn discovered_targets(settings: &Settings, found: &DiscoveryReport) -> Vec<Target> {
    found
        .selected
        .iter()
        .filter(|c| crate::settings::selected(&settings.only, &settings.skip, &c.combination()))
        .map(|c| {
            let (connect_host, connect_port) =
                ConnectTo::resolve(&settings.connect_to, &c.host, c.port);
            Target {
                host: c.host.clone(),
                combination: c.combination(),
                connect_host,
                connect_port,
                tls_name: settings.tls_name.clone().unwrap_or_else(|| c.host.clone()),
                username: settings
                    .username
                    .clone()
                    .unwrap_or_else(|| c.username.clone()),
                address: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_logical_host_and_port() {
        let rules: Vec<ConnectTo> = vec!["::127.0.0.2:".parse().unwrap()];
        let only: Vec<Selector> = vec!["imap".parse().unwrap()];
        let t = TargetSpec {
            host: "mail.example.com",
            tls_name: None,
            username: "a@example.com",
            combinations: &Combination::DOCUMENTED,
            only: &only,
            skip: &[],
            connect_to: &rules,
        }
        .targets();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].host, "mail.example.com");
        assert_eq!(t[0].combination.port, 993);
        assert_eq!(t[0].connect_host, "127.0.0.2");
        assert_eq!(t[0].connect_port, 993);
        assert_eq!(t[0].tls_name, "mail.example.com");
    }
}
