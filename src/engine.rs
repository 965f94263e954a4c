//! The one path from validated [`Settings`] to a report, for every front end: discover (when
//! the settings ask) → [`plan`] (targets, policy, who may receive the secret) → read the secret
//! the plan allows → probe every target (paced) → round trip → diagnose → the report.
//!
//! `probe` and `demo` call [`prepare`] and [`execute`]; `check`, `batch` and `serve` call
//! [`run_account`] / [`run_accounts`], which do the same and turn bad input into an UNKNOWN
//! account instead of an error.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::account::{self, Credential, Secret, SecretSource};
use crate::discover::cache::DiscoveryCache;
use crate::discover::{self, DiscoveryReport};
use crate::plan::{self, RunPlan};
use crate::probe::pace::Pacer;
use crate::probe::roundtrip;
use crate::probe::AuthGate;
use crate::probe::ProbeContext;
use crate::report::account::AccountResult;
use crate::report::{self, CredentialInfo, CredentialKind, RunInput, RunReport};
use crate::settings::{CredentialSpec, Origin, Settings};

/// What the runs of one process share: the pacer (connections per server host and in total),
/// the lockout gate (at most one failed login per server, account and secret) and discovery's
/// cache (each domain discovered once per run; `serve` bounds its lifetime).
#[derive(Clone, Default)]
pub struct Shared {
    pub pacer: Option<Arc<Pacer>>,
    pub gate: Arc<AuthGate>,
    /// Probes running now, by [`probe_key`]: a second request for the same account (ten
    /// scrapes at once) waits for the first one's result instead of probing again.
    pub in_flight: Arc<std::sync::Mutex<std::collections::HashMap<ProbeKey, InFlight>>>,
    /// Discovery answers, once per run (or cached with a lifetime in `serve`).
    pub discovery: Arc<DiscoveryCache>,
    /// Access tokens of checks-file OAuth2 grants, each kept until shortly before it expires.
    pub oauth2_tokens: Arc<crate::oauth2::grant::TokenCache>,
}

/// A probe that others may join. Held weakly: when every request waiting for it is gone (the
/// scrape clients disconnected), the probe is dropped and stops, as an unshared one would.
pub type InFlight = futures::future::WeakShared<futures::future::BoxFuture<'static, AccountResult>>;

/// Which accounts would make the same connections and try the same logins: the address (letter
/// case ignored), the servers and how they are reached, the selection and where the secret comes
/// from. Their names, expectations and deadlines may differ: each is judged on its own.
pub fn probe_key(s: &Settings) -> ProbeKey {
    ProbeKey {
        address: s.address.ascii().to_lowercase(),
        servers: s.servers.clone(),
        tls_name: s.tls_name.clone(),
        username: s.username.as_ref().map(|u| u.to_lowercase()),
        combinations: s.combinations.clone(),
        only: s.only.clone(),
        skip: s.skip.clone(),
        connect_to: s.connect_to.clone(),
        family: s.policy.family,
        ca_file: s.policy.ca_file.clone(),
        // `CredentialSpec`'s equality leaves an in-memory secret out; its digest tells two apart.
        given_secret: match &s.credential {
            CredentialSpec::Given(c, _) => Some(c.secret().digest()),
            _ => None,
        },
        credential: s.credential.clone(),
        round_trip: s.round_trip.clone(),
        each_address: s.each_address,
    }
}

/// See [`probe_key`]. No `Debug`: it holds a secret's digest.
#[derive(Clone, PartialEq, Eq)]
pub struct ProbeKey {
    address: String,
    servers: crate::settings::Servers,
    tls_name: Option<String>,
    username: Option<String>,
    combinations: Vec<crate::model::Combination>,
    only: Vec<crate::model::Selector>,
    skip: Vec<crate::model::Selector>,
    connect_to: Vec<crate::model::ConnectTo>,
    family: crate::model::IpFamily,
    ca_file: Option<std::path::PathBuf>,
    credential: CredentialSpec,
    given_secret: Option<[u8; 32]>,
    round_trip: Option<crate::settings::RoundTripSettings>,
    each_address: bool,
}

/// Hashes the address only: equal keys have equal addresses, and the other fields rarely
/// differ for one address.
impl std::hash::Hash for ProbeKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.address.hash(h);
    }
}

/// The result of `from`'s probe, for another account with the same [`probe_key`]: its own
/// name, address as typed, and expectations.
fn for_account(from: &AccountResult, settings: &Settings) -> AccountResult {
    match &from.report {
        Some(report) => {
            let mut report = report.clone();
            report.address = settings.address.to_string();
            AccountResult::judge(&settings.name, report, settings.expectations.clone())
        }
        None => AccountResult {
            account: settings.name.clone(),
            address: settings.address.to_string(),
            thresholds: settings.expectations.clone(),
            ..from.clone()
        },
    }
}

/// A planned run with the secret it may use, ready for [`execute`].
pub struct Prepared {
    pub run: RunPlan,
    pub credential: Option<Credential>,
    pub source: SecretSource,
    /// What the report says of the run's OAuth2 sign-in, when it signed in.
    pub oauth2: Option<crate::oauth2::OAuth2Info>,
}

/// Discover (when the settings ask for it), plan, and read the secret the plan allows. `Err`
/// for bad input: nothing discovered, a selection that leaves nothing, an unreadable secret.
pub async fn prepare(settings: &Settings) -> Result<Prepared> {
    prepare_with(settings, None, None).await
}

/// [`prepare`], discovering through the process's `cache` when there is one, and taking an
/// OAuth2 grant's token from the process's `tokens`.
async fn prepare_with(
    settings: &Settings,
    cache: Option<Arc<DiscoveryCache>>,
    tokens: Option<Arc<crate::oauth2::grant::TokenCache>>,
) -> Result<Prepared> {
    let started = report::Stopped::clock();
    let discovery = match plan::discovery_config(settings) {
        Some(cfg) => {
            let found = discover::discover_with(&settings.address, &cfg, cache).await?;
            if found.selected.is_empty() {
                bail!("{}", nothing_found(&found, &settings.address_origin));
            }
            Some(found)
        }
        None => None,
    };
    let run = plan::plan(settings, discovery)?;
    let spec = run.credential.clone();
    let address = settings.address.ascii();
    let prompt_for = settings.username.clone().unwrap_or_else(|| address.clone());
    let hidden = settings.hidden_env.clone();
    let (credential, source, oauth2) = match &spec {
        // A sign-in: once per run, before any connection, through the run's HTTP settings.
        CredentialSpec::OAuth2(o) => {
            let lang = crate::i18n::Lang::current();
            // A failed sign-in stops the run; `probe --format json` reports it as one.
            let stop = |e: crate::oauth2::SignInError| {
                report::Stopped::new(&run, &started, e.reason_info(lang), e.explain(lang))
            };
            use crate::oauth2::sources;
            let hosts = || run.plan.targets.iter().map(|t| t.host.as_str());
            let domain = &settings.address.domain;
            let resolved = match sources::resolve(o, domain, hosts(), run.discovery.as_ref()) {
                // Nothing names an issuer and the user asked: a mail server may (RFC 7628).
                Err(crate::oauth2::SignInError::NoIssuer { .. }) if o.ask_server => {
                    let ctx = ProbeContext::new(run.plan.policy.clone(), None)?;
                    let hint = crate::probe::issuer_hint::ask(&ctx, &run.plan.targets).await;
                    let mut offers = sources::offers(o, domain, hosts(), run.discovery.as_ref());
                    offers.extend(
                        hint.and_then(|h| sources::Offer::from_server(h.server, &h.configuration)),
                    );
                    sources::resolve_offers(o, &offers)
                }
                other => other,
            }
            .map_err(stop)?;
            let client = oauth2_http(settings)?;
            let signed = crate::oauth2::sign_in(o, &resolved, client, lang)
                .await
                .map_err(stop)?;
            (
                Some(Credential::OAuth2Token(signed.token)),
                signed.info.flow.source(),
                Some(signed.info),
            )
        }
        // A checks file's grant: the secrets it names read now, the token cached per process.
        CredentialSpec::OAuth2Grant(g) => {
            let (g, address, hidden) = (g.clone(), address.clone(), hidden.clone());
            let secrets = tokio::task::spawn_blocking({
                let g = g.clone();
                move || crate::oauth2::grant::read_secrets(&g, &address, &hidden)
            })
            .await
            .context("reading the credential")??;
            let client = oauth2_http(settings)?;
            let tokens = tokens.unwrap_or_default();
            let signed = tokens
                .token(&g, secrets, client)
                .await
                .map_err(|e| anyhow::Error::new(GrantFailed::of(&e)))?;
            (
                Some(Credential::OAuth2Token(signed.token)),
                signed.info.flow.source(),
                Some(signed.info),
            )
        }
        _ => {
            let (credential, source) =
                tokio::task::spawn_blocking(move || obtain(&spec, &address, &prompt_for, &hidden))
                    .await
                    .context("reading the credential")??;
            (credential, source, None)
        }
    };
    // An interactive source may give nothing (no variable set, no terminal to ask on).
    if run.round_trip.is_some() && credential.is_none() {
        bail!("--round-trip needs a password or token: MAILCHECK_PASSWORD, --password-stdin, --password-command or --oauth2-token-command");
    }
    Ok(Prepared {
        run,
        credential,
        source,
        oauth2,
    })
}

/// The HTTP client of the run's OAuth2 requests: its resolver, TLS trust and `--connect-to`.
fn oauth2_http(settings: &Settings) -> Result<reqwest::Client> {
    let mut http = discover::DiscoveryConfig::new(settings.policy.resolver.clone());
    http.ca_file = settings.policy.ca_file.clone();
    http.connect_to = settings.connect_to.clone();
    crate::oauth2::http_client(&http)
}

/// An OAuth2 grant refused or failed: the run's error, with its reason code for the
/// monitoring formats (`mailcheck_failure_info{reason=...}`).
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct GrantFailed {
    pub reason: crate::outcome::Reason,
    text: String,
}

impl GrantFailed {
    fn of(e: &crate::oauth2::SignInError) -> GrantFailed {
        GrantFailed {
            reason: e.reason(),
            text: e.explain(crate::i18n::Lang::current()),
        }
    }
}

/// Why discovery gave nothing: the cause first, in one sentence, then one line per source,
/// then how this front end names a server.
fn nothing_found(r: &DiscoveryReport, origin: &Origin) -> String {
    let lang = crate::i18n::Lang::current();
    let hint = crate::i18n::t(
        lang,
        match origin {
            Origin::Flag(_) => "discovery-name-server-flag",
            _ => "discovery-name-server-file",
        },
    );
    match crate::report::discovery::failure_text(r, lang) {
        Some(text) => format!("{}\n{hint}", text.trim_end()),
        None => {
            let none = crate::i18n::text(
                lang,
                "discovery-none-for",
                &crate::params![("domain", r.domain.as_str())],
            );
            format!("{none} {hint}")
        }
    }
}

/// Read the secret a spec names. Blocking: it may run a command or prompt on the terminal.
/// A command gets `MAILCHECK_ADDRESS`, and none of `hidden` (the other secrets' variables).
pub fn obtain(
    spec: &CredentialSpec,
    address: &str,
    prompt_for: &str,
    hidden: &[String],
) -> Result<(Option<Credential>, SecretSource)> {
    let env = |name: &str| -> Result<Secret> {
        account::env_secret(name)?
            .with_context(|| format!("the environment variable {name} is not set or empty"))
    };
    let command = |cmd: &str| {
        account::run_secret_command(
            cmd,
            account::CommandInput::Null,
            &[("MAILCHECK_ADDRESS", address)],
            hidden,
        )
    };
    Ok(match spec {
        CredentialSpec::None => (None, SecretSource::None),
        CredentialSpec::Given(c, source) => (Some(c.clone()), *source),
        // Signed in by `prepare_with`, asynchronously, before it would come here.
        CredentialSpec::OAuth2(_) | CredentialSpec::OAuth2Grant(_) => {
            bail!("an OAuth2 sign-in is not a secret to read")
        }
        CredentialSpec::Interactive(req) => account::obtain(req, prompt_for)?,
        CredentialSpec::PasswordEnv(n) => (
            Some(Credential::Password(env(n)?)),
            SecretSource::Environment,
        ),
        CredentialSpec::OAuth2TokenEnv(n) => (
            Some(Credential::OAuth2Token(env(n)?)),
            SecretSource::Environment,
        ),
        CredentialSpec::PasswordCommand(c) => {
            let s = command(c)
                .context("password_command")?
                .context("password_command printed no password")?;
            (Some(Credential::Password(s)), SecretSource::Command)
        }
        CredentialSpec::OAuth2TokenCommand(c) => {
            let s = command(c)
                .context("oauth2_token_command")?
                .context("oauth2_token_command printed no token")?;
            (Some(Credential::OAuth2Token(s)), SecretSource::Command)
        }
        CredentialSpec::LookupCommand(c) => match command(c).context("--password-command")? {
            Some(s) => (Some(Credential::Password(s)), SecretSource::Command),
            None => (None, SecretSource::None),
        },
    })
}

/// Probe the plan, run the round trip on the same connections' settings, diagnose, assemble
/// the report. Every target's probe is paced and its logins gated by what `shared` holds for
/// the process.
pub async fn execute(prepared: Prepared, shared: &Shared) -> Result<RunReport> {
    let Prepared {
        run,
        credential,
        source,
        oauth2,
    } = prepared;
    let kind = match &credential {
        Some(Credential::Password(_)) => CredentialKind::Password,
        Some(Credential::OAuth2Token(_)) => CredentialKind::Oauth2Token,
        None => CredentialKind::None,
    };
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let t0 = Instant::now();
    let ctx = {
        let mut ctx = ProbeContext::new(run.plan.policy.clone(), credential)?;
        ctx.pacer = shared.pacer.clone();
        ctx.gate = shared.gate.clone();
        if let Some(o) = &oauth2 {
            ctx.oauth2_missing_scopes =
                crate::oauth2::sources::missing_scopes(&o.issuer, &o.scopes_granted);
        }
        Arc::new(ctx)
    };
    let targets = if run.each_address {
        plan::each_address(run.plan.targets.clone(), &run.plan.policy).await
    } else {
        run.plan.targets.clone()
    };
    let reports = crate::probe::run_with(ctx.clone(), targets).await?;
    // What the discovered sources publish is documentation: diagnosis checks it.
    let options = report::ReportOptions {
        lang: crate::i18n::Lang::current(),
        documented: run
            .discovery
            .as_ref()
            .map(crate::diagnose::DocumentedSetting::from_discovery)
            .unwrap_or_default(),
    };
    let diagnosis = crate::diagnose::diagnose(
        reports,
        run.cert_warn_days,
        &options.documented,
        options.lang,
    );
    // The round trip runs after the probe, on the combinations diagnosis ranks best, with the
    // same context: the run's credential, TLS trust, resolver and targets (with their
    // --connect-to mapping).
    let round_trip = match &run.round_trip {
        None => None,
        Some(rt) => {
            let (outgoing, incoming) = crate::diagnose::round_trip_legs(&diagnosis.items);
            Some(roundtrip::run(&ctx, rt, outgoing, incoming).await)
        }
    };
    let discovery_ms = run.discovery.as_ref().map_or(0, |d| d.elapsed_ms);
    let mut report = RunReport::assemble(
        RunInput {
            address: run.address,
            server: run.server,
            started_at,
            elapsed_ms: discovery_ms + t0.elapsed().as_millis() as u64,
            credential: CredentialInfo {
                kind,
                source,
                oauth2,
            },
            cert_warn_days: run.cert_warn_days,
        },
        diagnosis,
        &options,
    );
    report.discovery = run.discovery;
    Ok(match round_trip {
        Some(rt) => report.with_round_trip(rt),
        None => report,
    })
}

/// Check one account: prepare, execute (paced), judge its expectations. Bad input and
/// unreadable secrets make it UNKNOWN, with the reason.
/// Concurrent calls for accounts with one [`probe_key`] share one probe.
pub async fn run_account(settings: &Settings, shared: &Shared) -> AccountResult {
    use futures::FutureExt;
    let key = probe_key(settings);
    let (probe, mine) = {
        let mut running = shared.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        match running.get(&key).and_then(|w| w.upgrade()) {
            Some(p) => (p, false),
            None => {
                let (own, shared_too) = (settings.clone(), shared.clone());
                let p = async move { run_account_alone(&own, &shared_too).await }
                    .boxed()
                    .shared();
                if let Some(weak) = p.downgrade() {
                    running.insert(key.clone(), weak);
                }
                (p, true)
            }
        }
    };
    let result = probe.await;
    if mine {
        shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        result
    } else {
        for_account(&result, settings)
    }
}

async fn run_account_alone(settings: &Settings, shared: &Shared) -> AccountResult {
    let run = async {
        let prepared = prepare_with(
            settings,
            Some(shared.discovery.clone()),
            Some(shared.oauth2_tokens.clone()),
        )
        .await?;
        execute(prepared, shared).await
    };
    match run.await {
        Ok(report) => AccountResult::judge(&settings.name, report, settings.expectations.clone()),
        Err(e) => AccountResult::failed(settings, &e),
    }
}

/// Check every account, at most `concurrency` at once, sharing `shared`; `on_result` gets each
/// result (with its index in `accounts`) as it finishes and decides what to keep. Only
/// `concurrency` accounts exist as tasks at a time: a long list costs its settings, not its
/// results (a streamed format keeps none of them).
pub async fn run_accounts(
    accounts: Vec<Settings>,
    concurrency: usize,
    shared: Shared,
    mut on_result: impl FnMut(usize, AccountResult),
) {
    use futures::StreamExt;
    // Accounts that would probe the same thing (an address listed twice, in other letter
    // cases, or in two accounts of a file) are probed once and reported for each.
    let mut first: std::collections::HashMap<ProbeKey, usize> = Default::default();
    let mut repeats: std::collections::HashMap<usize, Vec<(usize, Settings)>> = Default::default();
    let mut unique = vec![];
    for (i, settings) in accounts.into_iter().enumerate() {
        match first.entry(probe_key(&settings)) {
            std::collections::hash_map::Entry::Occupied(e) => {
                repeats.entry(*e.get()).or_default().push((i, settings));
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
                unique.push((i, settings));
            }
        }
    }
    drop(first);
    // The stream is lazy: `buffer_unordered` spawns the next task only when a slot is free.
    let mut running = futures::stream::iter(unique)
        .map(|(i, settings)| {
            let shared = shared.clone();
            async move {
                let task = tokio::spawn({
                    let settings = settings.clone();
                    async move { run_account(&settings, &shared).await }
                });
                // A panicking account must not take the others with it: it is UNKNOWN, as
                // an account that could not be probed.
                let r = task.await.unwrap_or_else(|e| {
                    AccountResult::failed(&settings, &anyhow::anyhow!("internal error: {e}"))
                });
                (i, r)
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((i, r)) = running.next().await {
        for (j, settings) in repeats.remove(&i).unwrap_or_default() {
            on_result(j, for_account(&r, &settings));
        }
        on_result(i, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{Credential, SecretSource};
    use crate::settings::{Given, SettingsBuilder};

    fn settings(address: &str, credential: CredentialSpec) -> Settings {
        SettingsBuilder {
            address: Some(Given::flag(address.to_string(), "ADDRESS")),
            server: Some(Given::flag("mail.example.com".into(), "--server")),
            credential: Some(credential),
            ..SettingsBuilder::default()
        }
        .build()
        .unwrap()
    }

    fn given(secret: &str) -> CredentialSpec {
        let secret = crate::account::Secret::new(secret.into()).unwrap();
        CredentialSpec::Given(Credential::Password(secret), SecretSource::Lab)
    }

    #[test]
    fn one_probe_per_address_and_secret() {
        let env = || CredentialSpec::PasswordEnv("PW".into());
        assert!(
            probe_key(&settings("a@example.com", env()))
                == probe_key(&settings("A@Example.COM", env()))
        );
        assert!(
            probe_key(&settings("a@example.com", env()))
                != probe_key(&settings("b@example.com", env()))
        );
        // Two in-memory secrets: the same one shares a probe, another one does not.
        assert!(
            probe_key(&settings("a@example.com", given("one")))
                == probe_key(&settings("a@example.com", given("one")))
        );
        assert!(
            probe_key(&settings("a@example.com", given("one")))
                != probe_key(&settings("a@example.com", given("two")))
        );
    }
}
