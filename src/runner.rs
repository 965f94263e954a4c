//! One probe of one account, from validated settings to a [`RunReport`]: the path that
//! `probe`, `check`, `batch` and `serve` share.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::account::{Address, Credential, SecretSource};
use crate::discover::DiscoveryReport;
use crate::plan::{Combination, ConnectTo, Plan, Policy, Selector, Target, TargetSpec};
use crate::probe::pace::Pacer;
use crate::probe::ProbeContext;
use crate::report::{CredentialInfo, CredentialKind, RunInput, RunReport};

/// Everything one probe of one account needs, validated. Built by the CLI, a checks file or
/// the exporter; never holds clap types.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    pub address: Address,
    /// The logical server host (what the user types into the mail client).
    pub host: String,
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
        TargetSpec {
            host: &self.host,
            tls_name: self.tls_name.as_deref(),
            username: &self.username,
            combinations: &self.combinations,
            only: &self.only,
            skip: &self.skip,
            connect_to: &self.connect_to,
        }
        .targets()
    }

    pub fn credential_info(&self) -> CredentialInfo {
        CredentialInfo {
            kind: match &self.credential {
                Some(Credential::Password(_)) => CredentialKind::Password,
                Some(Credential::OAuth2Token(_)) => CredentialKind::Oauth2Token,
                None => CredentialKind::None,
            },
            source: self.credential_source,
        }
    }
}

/// Probe one account: every combination of its plan in parallel (paced by `pacer` when given),
/// then diagnosis. `Err` only for bad input (an unreadable CA file, an empty plan).
pub async fn probe_once(settings: &ProbeSettings, pacer: Option<Arc<Pacer>>) -> Result<RunReport> {
    let plan = settings.plan()?;
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let t0 = Instant::now();
    let mut ctx = ProbeContext::new(plan.policy.clone(), settings.credential.clone())?;
    ctx.pacer = pacer;
    let reports = crate::probe::run_with(Arc::new(ctx), plan.targets).await?;
    let discovery = settings.discovered.as_ref().map(|(_, d)| d.clone());
    let discovery_ms = discovery.as_ref().map_or(0, |d| d.elapsed_ms);
    let mut report = RunReport::build(
        RunInput {
            address: settings.address.to_string(),
            server: settings.host.clone(),
            started_at,
            elapsed_ms: discovery_ms + t0.elapsed().as_millis() as u64,
            credential: settings.credential_info(),
            cert_warn_days: settings.cert_warn_days,
        },
        reports,
    );
    report.discovery = discovery;
    Ok(report)
}
