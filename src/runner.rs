//! One probe of one account, from validated settings to a [`RunReport`]: the path that
//! `probe`, `check`, `batch` and `serve` share.

use std::sync::Arc;

use anyhow::{bail, Result};

use crate::account::{Address, Credential, SecretSource};
use crate::discover::DiscoveryReport;
use crate::plan::{Combination, ConnectTo, Plan, Policy, Protocol, Selector, Target, TargetSpec};
use crate::probe::pace::Pacer;
use crate::report::RunReport;

/// Everything one probe of one account needs, validated. Built by the CLI, a checks file or
/// the exporter; never holds clap types.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    pub address: Address,
    /// The logical server host (what the user types into the mail client).
    pub host: String,
    /// Hosts that replace `host` for one protocol (`imap_server`, `pop3_server`, `smtp_server`
    /// of a checks file: providers with `imap.` and `smtp.` hosts).
    pub protocol_hosts: Vec<(Protocol, String)>,
    pub tls_name: Option<String>,
    pub username: String,
    pub combinations: Vec<Combination>,
    pub only: Vec<Selector>,
    pub skip: Vec<Selector>,
    pub connect_to: Vec<ConnectTo>,
    pub policy: Policy,
    pub cert_warn_days: i64,
    /// The secret (never shown: `Secret` redacts itself) and where it came from.
    pub credential: Option<Credential>,
    pub credential_source: SecretSource,
    /// Targets found by discovery, and its report: they replace `host`'s documented matrix.
    pub discovered: Option<(Vec<Target>, DiscoveryReport)>,
}

impl ProbeSettings {
    /// The plan this account's probe runs; an error if the selectors leave nothing.
    pub fn plan(&self) -> Result<Plan> {
        if self.host.is_empty() {
            bail!("the server name is empty");
        }
        let targets = match &self.discovered {
            Some((targets, _)) => targets.clone(),
            None => self.documented_targets(),
        };
        if targets.is_empty() {
            bail!("--only/--skip leave no combination to probe");
        }
        Ok(Plan {
            targets,
            policy: self.policy.clone(),
        })
    }

    fn documented_targets(&self) -> Vec<Target> {
        let host_of = |p: Protocol| {
            self.protocol_hosts
                .iter()
                .find(|(q, _)| *q == p)
                .map_or(self.host.as_str(), |(_, h)| h.as_str())
        };
        // One TargetSpec per protocol, each on its own host; plan order kept.
        let mut targets: Vec<Target> = vec![];
        for c in &self.combinations {
            targets.extend(
                TargetSpec {
                    host: host_of(c.protocol),
                    tls_name: self.tls_name.as_deref(),
                    username: &self.username,
                    combinations: std::slice::from_ref(c),
                    only: &self.only,
                    skip: &self.skip,
                    connect_to: &self.connect_to,
                }
                .targets(),
            );
        }
        targets
    }

    /// The job `app::execute` runs: the plan, the credential and the report's labels.
    pub fn job(&self) -> Result<crate::app::Job> {
        Ok(crate::app::Job {
            address: self.address.to_string(),
            server: self.host.clone(),
            plan: self.plan()?,
            credential: self.credential.clone(),
            source: self.credential_source,
            cert_warn_days: self.cert_warn_days,
            discovery: self.discovered.as_ref().map(|(_, d)| d.clone()),
            round_trip: None,
        })
    }
}

/// Probe one account: every combination of its plan in parallel (paced by `pacer` when given),
/// then diagnosis, through the same path as `probe` ([`crate::app::execute_paced`]). `Err` only
/// for bad input (an unreadable CA file, an empty plan).
pub async fn probe_once(settings: &ProbeSettings, pacer: Option<Arc<Pacer>>) -> Result<RunReport> {
    crate::app::execute_paced(settings.job()?, pacer).await
}
