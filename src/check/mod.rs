//! Many accounts, judged against expectations: the checks file (`check`), address lists
//! (`batch`) and the exporter's modules (`serve`) all become [`AccountSpec`]s, run paced and
//! concurrently, and come back as [`AccountResult`]s that every monitoring format renders.

pub mod cli;
pub mod config;
pub mod expect;
pub mod output;

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::account::{Credential, Secret, SecretSource};
use crate::diagnose::Status;
use crate::probe::pace::Pacer;
use crate::report::RunReport;
use crate::runner::{probe_once, ProbeSettings};
use expect::{ExpectationResult, Expectations};

/// Where an account's secret comes from. Names an environment variable or a command, never
/// the secret itself; read at run time (each scrape, each run), so rotation needs no restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSpec {
    None,
    PasswordEnv(String),
    PasswordCommand(String),
    OAuth2TokenEnv(String),
    OAuth2TokenCommand(String),
    /// `batch --password-command`: run with `MAILCHECK_ADDRESS`; no output means no password.
    LookupCommand(String),
}

impl CredentialSpec {
    pub fn is_some(&self) -> bool {
        *self != CredentialSpec::None
    }

    /// Read the secret. Blocking (may run a command).
    pub fn obtain(&self, address: &str) -> Result<(Option<Credential>, SecretSource)> {
        let env = |name: &str| -> Result<Secret> {
            std::env::var(name)
                .ok()
                .and_then(Secret::new)
                .with_context(|| format!("the environment variable {name} is not set or empty"))
        };
        Ok(match self {
            CredentialSpec::None => (None, SecretSource::None),
            CredentialSpec::PasswordEnv(n) => (
                Some(Credential::Password(env(n)?)),
                SecretSource::Environment,
            ),
            CredentialSpec::OAuth2TokenEnv(n) => (
                Some(Credential::OAuth2Token(env(n)?)),
                SecretSource::Environment,
            ),
            CredentialSpec::PasswordCommand(c) => {
                let s = secret_command(c, address)
                    .context("password_command")?
                    .context("password_command printed no password")?;
                (Some(Credential::Password(s)), SecretSource::Command)
            }
            CredentialSpec::OAuth2TokenCommand(c) => {
                let s = secret_command(c, address)
                    .context("oauth2_token_command")?
                    .context("oauth2_token_command printed no token")?;
                (Some(Credential::OAuth2Token(s)), SecretSource::Command)
            }
            CredentialSpec::LookupCommand(c) => {
                match secret_command(c, address).context("--password-command")? {
                    Some(s) => (Some(Credential::Password(s)), SecretSource::Command),
                    None => (None, SecretSource::None),
                }
            }
        })
    }
}

/// Run `sh -c CMD` with `MAILCHECK_ADDRESS` set; the first line of its output is the secret
/// (`None` when it prints nothing). Its stderr is ours; its stdout is never shown.
fn secret_command(cmd: &str, address: &str) -> Result<Option<Secret>> {
    crate::account::run_secret_command(
        cmd,
        crate::account::CommandInput::Null,
        &[("MAILCHECK_ADDRESS", address)],
        &[],
    )
}

/// How an account without a server finds its servers (the same discovery as `probe`).
#[derive(Debug, Clone)]
pub struct DiscoverySpec {
    pub ispdb_url: String,
    /// Deadline of each discovery source.
    pub timeout: std::time::Duration,
    /// Send credentials to discovered servers outside the address's domain even when an
    /// untrusted channel named them (`--trust-discovered`).
    pub trust_discovered: bool,
    /// A login name that replaces the discovered ones (`username`).
    pub username: Option<String>,
}

/// One account to check.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    /// The checks file's `name` (default: the address).
    pub name: String,
    /// Settings without the secret; [`CredentialSpec`] fills it in at run time.
    pub settings: ProbeSettings,
    pub credential: CredentialSpec,
    pub expectations: Expectations,
    /// Discover the servers first (no server given); `settings.host` is then the domain.
    pub discovery: Option<DiscoverySpec>,
}

/// The result of one account: its report, its judged expectations and its status.
#[derive(Debug, Clone, Serialize)]
pub struct AccountResult {
    pub account: String,
    pub address: String,
    pub status: Status,
    pub exit_code: u8,
    pub expectations: Vec<ExpectationResult>,
    /// Why the account could not be probed (its credential could not be read...): status
    /// unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<RunReport>,
    /// Thresholds, for the performance data of the Nagios format.
    #[serde(skip)]
    pub thresholds: Expectations,
}

impl AccountResult {
    pub fn judge(name: &str, report: RunReport, expectations: Expectations) -> AccountResult {
        let results = expect::evaluate(name, &report, &expectations);
        let status = expect::status(&report, &expectations, &results);
        AccountResult {
            account: name.to_string(),
            address: report.address.clone(),
            status,
            exit_code: status.exit_code(),
            expectations: results,
            error: None,
            report: Some(report),
            thresholds: expectations,
        }
    }

    /// A single `probe` run, judged by its thresholds only.
    pub fn from_probe(report: RunReport, thresholds: Expectations) -> AccountResult {
        let name = report.address.clone();
        AccountResult::judge(&name, report, thresholds)
    }

    pub fn failed(spec: &AccountSpec, error: &anyhow::Error) -> AccountResult {
        AccountResult {
            account: spec.name.clone(),
            address: spec.settings.address.to_string(),
            status: Status::Unknown,
            exit_code: Status::Unknown.exit_code(),
            expectations: vec![],
            error: Some(format!("{error:#}")),
            report: None,
            thresholds: spec.expectations.clone(),
        }
    }
}

/// Discover the account's servers into `settings.discovered`. Returns whether its credential
/// may be sent: not to servers outside the address's domain that an untrusted channel named,
/// unless the account trusts discovery (as `probe` decides).
async fn discover_into(settings: &mut ProbeSettings, d: &DiscoverySpec) -> Result<bool> {
    use crate::discover::{self, DiscoveryConfig, TargetOptions};
    let cfg = DiscoveryConfig {
        resolver: settings.policy.resolver.clone(),
        ca_file: settings.policy.ca_file.clone(),
        ispdb_url: d.ispdb_url.clone(),
        timeout: d.timeout,
        connect_to: settings.connect_to.clone(),
    };
    let mut found = discover::discover(&settings.address, &cfg).await?;
    if found.selected.is_empty() {
        let why: Vec<String> = found
            .sources
            .iter()
            .map(|s| format!("{}: {} ({})", s.source.name(), s.status.name(), s.detail))
            .collect();
        bail!(
            "no server found for {}: {}; name one with `server`",
            found.domain,
            why.join("; ")
        );
    }
    let targets = discover::targets(
        &found,
        &TargetOptions {
            tls_name: settings.tls_name.as_deref(),
            username: d.username.as_deref(),
            only: &settings.only,
            skip: &settings.skip,
            connect_to: &settings.connect_to,
        },
    );
    let mut risky: Vec<String> = found
        .selected
        .iter()
        .filter(|c| !c.trusted && !discover::within(&c.host, &found.domain))
        .map(|c| c.host.clone())
        .collect();
    risky.dedup();
    let withhold = !risky.is_empty() && !d.trust_discovered;
    if withhold {
        found.notes.push(discover::Note::CredentialsWithheld {
            hosts: risky,
            domain: found.domain.clone(),
            hint: discover::TrustHint::Config,
        });
    }
    settings.discovered = Some((targets, found));
    Ok(!withhold)
}

/// Check one account: discover its servers if it names none, read its credential, probe
/// (paced), judge.
pub async fn run_account(spec: &AccountSpec, pacer: Option<Arc<Pacer>>) -> AccountResult {
    let mut settings = spec.settings.clone();
    let mut cred = spec.credential.clone();
    if let Some(d) = &spec.discovery {
        match discover_into(&mut settings, d).await {
            Ok(true) => {}
            Ok(false) => cred = CredentialSpec::None,
            Err(e) => return AccountResult::failed(spec, &e),
        }
    }
    let address = settings.address.ascii();
    let obtained = tokio::task::spawn_blocking(move || cred.obtain(&address))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
    match obtained {
        Ok((credential, source)) => {
            settings.credential = credential;
            settings.credential_source = source;
        }
        Err(e) => return AccountResult::failed(spec, &e),
    }
    match probe_once(&settings, pacer).await {
        Ok(report) => AccountResult::judge(&spec.name, report, spec.expectations.clone()),
        Err(e) => AccountResult::failed(spec, &e),
    }
}

/// Check every account, at most `concurrency` at once, paced by `pacer`; `on_result` gets each
/// result (with its index in `specs`) as it finishes and decides what to keep. Only
/// `concurrency` accounts exist as tasks at a time: a long list costs its specs, not its
/// results (a streamed format keeps none of them).
pub async fn run_accounts(
    specs: Vec<AccountSpec>,
    concurrency: usize,
    pacer: Arc<Pacer>,
    mut on_result: impl FnMut(usize, AccountResult),
) {
    use futures::StreamExt;
    // The stream is lazy: `buffer_unordered` spawns the next task only when a slot is free.
    let mut running = futures::stream::iter(specs.into_iter().enumerate())
        .map(|(i, spec)| {
            let pacer = pacer.clone();
            async move {
                let task = tokio::spawn({
                    let spec = spec.clone();
                    async move { run_account(&spec, Some(pacer)).await }
                });
                // A panicking account must not take the others with it: it is UNKNOWN, as
                // an account that could not be probed.
                let r = task.await.unwrap_or_else(|e| {
                    AccountResult::failed(&spec, &anyhow::anyhow!("internal error: {e}"))
                });
                (i, r)
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((i, r)) = running.next().await {
        on_result(i, r);
    }
}

/// Counts of account statuses: all a streamed format's closing summary needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub warning: usize,
    pub critical: usize,
    pub unknown: usize,
}

impl Tally {
    pub fn of(results: &[AccountResult]) -> Tally {
        let mut t = Tally::default();
        for r in results {
            t.add(r.status);
        }
        t
    }

    pub fn add(&mut self, s: Status) {
        match s {
            Status::Ok => self.ok += 1,
            Status::Warning => self.warning += 1,
            Status::Critical => self.critical += 1,
            Status::Unknown => self.unknown += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.ok + self.warning + self.critical + self.unknown
    }

    /// The worst status counted (ok when none).
    pub fn overall(&self) -> Status {
        [
            (self.unknown, Status::Unknown),
            (self.critical, Status::Critical),
            (self.warning, Status::Warning),
        ]
        .into_iter()
        .find(|(n, _)| *n > 0)
        .map_or(Status::Ok, |(_, s)| s)
    }
}

/// The status of many accounts: the worst of them (ok when there are none).
pub fn overall(results: &[AccountResult]) -> Status {
    results
        .iter()
        .map(|r| r.status)
        .fold(Status::Ok, expect::worst)
}
