//! `mailcheck serve`: a Prometheus exporter in the blackbox_exporter multi-target pattern.
//!
//! * `GET /probe?target=alice@example.com&module=NAME` runs one probe of the account and returns
//!   its metrics (`report::prometheus`). The module comes from the checks file (`[module.NAME]`);
//!   without one, a target that is an `[[account]]` of the file (by address or name) uses that
//!   account; any other target must be allowed by `--allow-target` ([`TargetPolicy`]), and is
//!   then discovered (as `probe` does) and probed without credentials.
//! * `GET /metrics`: the exporter's own health (probes served, in flight, bad requests).
//! * `GET /sd`: the checks file's accounts in Prometheus HTTP service-discovery format.
//!
//! Scrapes run concurrently; every connection of every scrape is paced by one shared
//! [`Pacer`] (per server host and in total). Each probe has a deadline below the scrape timeout
//! Prometheus announces (`X-Prometheus-Scrape-Timeout-Seconds`, minus 0.5 s), capped by
//! `--probe-timeout`. Credentials stay in the checks file's env/command references and are read
//! at each probe; a module with credentials must fix its server and username (see
//! `check::config`), so the `target` of a request can neither send a secret elsewhere nor try it
//! on other mailboxes. No label carries a secret.
//!
//! The listener is hyper's HTTP/1 connection under our own accept loop (axum::serve has no TLS
//! and no bounds): `--web-config` (exporter-toolkit format) adds TLS and basic auth on every
//! path, at most `--max-connections` are open (the oldest idle one makes room), and one not
//! running a request is closed after `--idle-timeout`. Every 4xx is counted.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::check::config::ChecksFile;
use crate::cli_monitor::ServeArgs;
use crate::engine::run_account;
use crate::outcome::Status;
use crate::probe::pace::Pacer;
use crate::report::account::AccountResult;
use crate::report::prometheus::{add_account, Families, Format};
use crate::settings::{Given, Origin, Settings, SettingsBuilder};

struct Exporter {
    config: Option<ChecksFile>,
    /// The pacer and the lockout gate every scrape shares.
    shared: crate::engine::Shared,
    max_probe: Duration,
    started: SystemTime,
    probes_ok: AtomicU64,
    probes_failed: AtomicU64,
    bad_requests: AtomicU64,
    in_flight: AtomicU64,
    refused_connections: AtomicU64,
    /// `--web-config`, replaced on SIGHUP; each request reads the one in force.
    web: RwLock<Arc<Web>>,
    conns: Connections,
    allowed: TargetPolicy,
}

pub fn serve(args: ServeArgs) -> Result<Status> {
    let config = args.config.as_deref().map(ChecksFile::load).transpose()?;
    let web = match &args.web_config {
        Some(p) => Web::load(p)?,
        None => Web::default(),
    };
    let file_patterns = config.iter().flat_map(|c| c.allow_targets.iter().cloned());
    let allowed = TargetPolicy::new(args.allow_target.iter().cloned().chain(file_patterns))?;
    raise_descriptor_limit();
    let state = Arc::new(Exporter {
        config,
        shared: crate::engine::Shared {
            pacer: Some(Arc::new(Pacer::new(args.per_host, Some(args.concurrency)))),
            // A refused secret is not tried again for the back-off, whoever scrapes; a changed
            // secret is tried at once.
            gate: Arc::new(crate::probe::AuthGate::with_backoff(args.auth_backoff)),
            discovery: Arc::new(crate::discover::cache::DiscoveryCache::new(
                crate::discover::cache::Keep::Bounded {
                    ceiling: crate::discover::cache::SERVE_CEILING,
                },
            )),
            ..Default::default()
        },
        max_probe: args.probe_timeout,
        started: SystemTime::now(),
        probes_ok: AtomicU64::new(0),
        probes_failed: AtomicU64::new(0),
        bad_requests: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        refused_connections: AtomicU64::new(0),
        web: RwLock::new(Arc::new(web)),
        conns: Connections::new(args.max_connections, args.idle_timeout),
        allowed,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if state.web().tls.is_some() {
            "https"
        } else {
            "http"
        };
        // Tests and service managers read this line to learn the port (with --listen ...:0).
        crate::app::note(format_args!(
            "mailcheck serve: listening on {scheme}://{addr}"
        ))?;
        if !addr.ip().is_loopback() && args.web_config.is_none() {
            crate::app::note(format_args!(
                "mailcheck serve: warning: listening on {addr} in plain HTTP without \
                 authentication: anyone who reaches it can make this machine probe mail \
                 servers; use --web-config (TLS, basic auth) or a loopback address"
            ))?;
        }
        if let Some(path) = args.web_config.clone() {
            tokio::spawn(reload_web_config(state.clone(), path));
        }
        let app = Router::new()
            .route("/", get(index))
            .route("/probe", get(probe))
            .route("/metrics", get(metrics))
            .route("/sd", get(service_discovery))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .with_state(state.clone());
        accept_loop(listener, state, app).await
    })?;
    Ok(Status::Ok)
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "mailcheck exporter\n\nGET /probe?target=ADDRESS&module=NAME  probe one account\nGET /metrics                          the exporter's own metrics\nGET /sd                               the checks file's accounts (Prometheus HTTP SD)\n",
    )
}

/// A 4xx with a one-line reason; [`handle`] counts every 4xx it answers.
fn refuse(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    let line = msg.to_string().replace(['\r', '\n'], " ");
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{line}\n"),
    )
        .into_response()
}

fn bad_request(msg: impl std::fmt::Display) -> Response {
    refuse(StatusCode::BAD_REQUEST, msg)
}

async fn not_found() -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        "no such path: GET /probe, /metrics or /",
    )
}

async fn method_not_allowed() -> Response {
    refuse(StatusCode::METHOD_NOT_ALLOWED, "only GET is served")
}

/// The settings of one request: a module's, an account's (by name or address), or, for a
/// target the checks file does not describe, discovery as `probe` does it with the file's
/// `[defaults]` and no credential.
pub fn request_settings(
    config: Option<&ChecksFile>,
    q: &HashMap<String, String>,
) -> Result<Settings> {
    let target = q
        .get("target")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .context("missing parameter: target (a mail address)")?;
    let module = q.get("module").map(|m| m.trim()).filter(|m| !m.is_empty());
    match (config, module) {
        (Some(cfg), Some(m)) => cfg.module_settings(m, target),
        (None, Some(m)) => {
            anyhow::bail!("module {m:?}: the exporter runs without a checks file (--config)")
        }
        (Some(cfg), None) => {
            match cfg
                .accounts
                .iter()
                .find(|a| a.name == target || a.address.ascii().eq_ignore_ascii_case(target))
            {
                Some(a) => Ok(a.clone()),
                None => cfg.bare_settings(target),
            }
        }
        (None, None) => Ok(SettingsBuilder {
            address: Some(Given::new(target.to_string(), Origin::Query("target"))),
            ..SettingsBuilder::default()
        }
        .build()?),
    }
}

/// Which targets a request may name. The checks file's accounts (by name or address) and the
/// modules that name their server (or whose `[defaults]` do) are always allowed: the file
/// decides where the exporter connects. Any other target (a module that discovers, or no module
/// and no account) must match an `--allow-target` / `allow_targets` glob, on the address or on
/// its domain; otherwise `/probe?target=anyone@anywhere` would make the exporter resolve, fetch
/// and connect wherever that domain's DNS and autoconfig point.
pub struct TargetPolicy {
    globs: globset::GlobSet,
}

impl TargetPolicy {
    pub fn new(patterns: impl IntoIterator<Item = String>) -> Result<TargetPolicy> {
        let mut set = globset::GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::GlobBuilder::new(p.trim())
                .case_insensitive(true)
                .build()
                .with_context(|| format!("allowed target {p:?}"))?;
            set.add(glob);
        }
        Ok(TargetPolicy {
            globs: set.build()?,
        })
    }

    fn matches(&self, target: &str) -> bool {
        let domain = target.rsplit_once('@').map_or(target, |(_, d)| d);
        self.globs.is_match(target) || self.globs.is_match(domain)
    }

    /// Called after the request's settings were built, so that a malformed request gets its
    /// own reason first.
    pub fn check(
        &self,
        config: Option<&ChecksFile>,
        q: &HashMap<String, String>,
    ) -> Result<(), String> {
        let target = q.get("target").map_or("", |t| t.trim());
        let module = q.get("module").map(|m| m.trim()).filter(|m| !m.is_empty());
        let named = match (config, module) {
            (Some(cfg), Some(m)) => cfg.modules.get(m).is_some_and(|m| m.names_server()),
            (Some(cfg), None) => cfg
                .accounts
                .iter()
                .any(|a| a.name == target || a.address.ascii().eq_ignore_ascii_case(target)),
            (None, _) => false,
        };
        if named || self.matches(target) {
            return Ok(());
        }
        Err(match module {
            Some(m) => format!(
                "target {target:?}: module {m:?} names no server, and the target matches no --allow-target"
            ),
            None => format!(
                "target {target:?} is no account of the checks file and matches no --allow-target"
            ),
        })
    }
}

/// `GET /sd`: the checks file's accounts as Prometheus HTTP service discovery, one group each.
/// The target is the account's name (unique in the file; `/probe?target=` takes it), the labels
/// say which account and address it is.
async fn service_discovery(State(state): State<Arc<Exporter>>) -> Response {
    let groups: Vec<serde_json::Value> = state
        .config
        .iter()
        .flat_map(|c| c.accounts.iter())
        .map(|a| {
            serde_json::json!({
                "targets": [a.name],
                "labels": {"account": a.name, "address": a.address.ascii()},
            })
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::Value::Array(groups).to_string(),
    )
        .into_response()
}

/// The query's parameters, each with its first value, as blackbox_exporter takes them.
pub fn first_values(pairs: Vec<(String, String)>) -> HashMap<String, String> {
    let mut q = HashMap::new();
    for (k, v) in pairs {
        q.entry(k).or_insert(v);
    }
    q
}

/// The probe's deadline: below the scrape timeout Prometheus announces, at most --probe-timeout.
/// A header that is not a positive number of seconds is refused; a huge one is only capped.
fn deadline(state: &Exporter, headers: &HeaderMap) -> Result<Duration, String> {
    let Some(v) = headers.get("x-prometheus-scrape-timeout-seconds") else {
        return Ok(state.max_probe);
    };
    let secs = v
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or("X-Prometheus-Scrape-Timeout-Seconds: not a positive number of seconds")?;
    // Compared before converting: Duration::from_secs_f64 panics past u64::MAX seconds.
    let max = state.max_probe.as_secs_f64();
    Ok(Duration::from_secs_f64(((secs - 0.5).max(0.5)).min(max)))
}

/// Counts one probe in flight for as long as it lives. A guard, not a pair of calls: axum
/// drops the handler's future when the scrape client disconnects, and the count must still
/// come down.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(n: &'a AtomicU64) -> InFlight<'a> {
        n.fetch_add(1, Ordering::Relaxed);
        InFlight(n)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn probe(
    State(state): State<Arc<Exporter>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(pairs)) => first_values(pairs),
        Err(e) => return bad_request(e.body_text()),
    };
    let mut settings = match request_settings(state.config.as_ref(), &q) {
        Ok(s) => s,
        Err(e) => return bad_request(format!("{e:#}")),
    };
    if let Err(e) = state.allowed.check(state.config.as_ref(), &q) {
        return refuse(StatusCode::FORBIDDEN, e);
    }
    let deadline = match deadline(&state, &headers) {
        Ok(d) => d,
        Err(e) => return bad_request(e),
    };
    // Each combination's own deadline leaves room for the engine's backstop and the answer.
    let limits = &mut settings.policy.limits;
    // Absolute, so that time spent queued behind other scrapes' probes of the same host counts:
    // combinations that cannot start in time come back as `probe.deadline`, each with its own
    // series, instead of the whole answer being lost to the timeout below.
    limits.finish_by =
        Some(std::time::Instant::now() + deadline.saturating_sub(Duration::from_millis(250)));
    limits.target_timeout = limits.target_timeout.min(deadline.mul_f64(0.75));
    limits.step_timeout = limits.step_timeout.min(limits.target_timeout);
    limits.connect_timeout = limits.connect_timeout.min(limits.target_timeout);

    let in_flight = InFlight::enter(&state.in_flight);
    let result = match tokio::time::timeout(deadline, run_account(&settings, &state.shared)).await {
        Ok(r) => r,
        Err(_) => AccountResult::failed(
            &settings,
            &anyhow::anyhow!("the probe did not finish within {deadline:?}"),
        ),
    };
    drop(in_flight);
    if matches!(result.status, Status::Ok | Status::Warning) {
        state.probes_ok.fetch_add(1, Ordering::Relaxed);
    } else {
        state.probes_failed.fetch_add(1, Ordering::Relaxed);
    }
    let mut f = Families::default();
    add_account(&mut f, &result, None);
    f.add(
        "mailcheck_probe_deadline_seconds",
        "gauge",
        "The deadline this probe ran under.",
        &[],
        deadline.as_secs_f64(),
    );
    exposition(&f, &headers)
}

/// The families in the format the scraper's `Accept` asks for.
fn exposition(f: &Families, headers: &HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    (
        [(header::CONTENT_TYPE, format.content_type())],
        f.encode(format),
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<Exporter>>, headers: HeaderMap) -> Response {
    let mut f = Families::default();
    f.add(
        "mailcheck_exporter_build_info",
        "gauge",
        "The exporter's version.",
        &[("version".into(), env!("CARGO_PKG_VERSION").into())],
        1.0,
    );
    f.add(
        "mailcheck_exporter_start_time_seconds",
        "gauge",
        "When the exporter started, seconds since the Unix epoch.",
        &[],
        state
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs() as f64),
    );
    for (result, n) in [
        ("success", &state.probes_ok),
        ("failure", &state.probes_failed),
    ] {
        f.add(
            "mailcheck_exporter_probes_total",
            "counter",
            "Probes served, by result (success: the account is ok or warning).",
            &[("result".into(), result.into())],
            n.load(Ordering::Relaxed) as f64,
        );
    }
    f.add(
        "mailcheck_exporter_bad_requests_total",
        "counter",
        "Requests answered with a 4xx (no target, unknown module, bad address, no credentials...).",
        &[],
        state.bad_requests.load(Ordering::Relaxed) as f64,
    );
    f.add(
        "mailcheck_exporter_probes_in_flight",
        "gauge",
        "Probes running now.",
        &[],
        state.in_flight.load(Ordering::Relaxed) as f64,
    );
    f.add(
        "mailcheck_exporter_connections",
        "gauge",
        "Connections open now.",
        &[],
        state.conns.len() as f64,
    );
    f.add(
        "mailcheck_exporter_connections_refused_total",
        "counter",
        "Connections closed at once: --max-connections were all running a request.",
        &[],
        state.refused_connections.load(Ordering::Relaxed) as f64,
    );
    let modules = state.config.as_ref().map_or(0, |c| c.modules.len());
    f.add(
        "mailcheck_exporter_modules",
        "gauge",
        "Modules loaded from the checks file.",
        &[],
        modules as f64,
    );
    exposition(&f, &headers)
}

// ---- The listener: --web-config (TLS, basic auth), bounded and timed-out connections. ----

/// The exporter-toolkit web configuration file (the subset mailcheck implements; any other key
/// is refused rather than silently ignored).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    client_auth_type: ClientAuthType,
    #[serde(default)]
    min_version: TlsVersion,
}

/// exporter-toolkit's names (Go's tls.ClientAuthType). The two that accept a certificate
/// without verifying it are refused: they authenticate nobody.
#[derive(serde::Deserialize, Default, PartialEq)]
enum ClientAuthType {
    #[default]
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// rustls speaks TLS 1.2 and 1.3 only: an older minimum is 1.2.
#[derive(serde::Deserialize, Default, PartialEq)]
enum TlsVersion {
    TLS10,
    TLS11,
    #[default]
    TLS12,
    TLS13,
}

impl WebConfigFile {
    /// The file's text; the files it names are read later, by `tls_acceptor`.
    fn parse(text: &str) -> Result<WebConfigFile> {
        Ok(serde_norway::from_str(text)?)
    }

    fn check_users(&self) -> Result<()> {
        for (user, hash) in &self.basic_auth_users {
            hash.parse::<bcrypt::HashParts>().map_err(|e| {
                anyhow::anyhow!("basic_auth_users: {user}: not a bcrypt hash ({e})")
            })?;
        }
        Ok(())
    }
}

/// Read a `--web-config` text as `serve` does, short of loading the TLS files it names: the
/// entry point of the fuzz target (fuzz/fuzz_targets/fuzz_web_config.rs).
pub fn read_web_config(text: &str) -> Result<()> {
    WebConfigFile::parse(text)?.check_users()
}

/// The web configuration in force.
#[derive(Default)]
struct Web {
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// User name to bcrypt hash.
    users: BTreeMap<String, String>,
    /// What an unknown user's password is verified against (and refused whatever the result),
    /// at the highest cost of `users`: a known and an unknown user then both cost one bcrypt,
    /// and the time of a 401 does not tell which user names exist.
    dummy: Option<String>,
    /// SHA-256 of `user:password` pairs that bcrypt accepted: bcrypt costs ~0.1 s of CPU by
    /// design, too much for every scrape.
    verified: Mutex<HashSet<Vec<u8>>>,
}

impl Web {
    fn load(path: &Path) -> Result<Web> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).with_context(|| format!("{shown}"))?;
        let file = WebConfigFile::parse(&text).with_context(|| format!("{shown}"))?;
        // Relative paths are relative to the web configuration, as in exporter-toolkit.
        let dir = path.parent().unwrap_or(Path::new("."));
        // HTTPS only: basic auth in clear would hand the password to anyone on the path.
        let tls = file
            .tls_server_config
            .as_ref()
            .with_context(|| {
                format!("{shown}: tls_server_config is missing: --web-config serves HTTPS only")
            })
            .and_then(|t| {
                tls_acceptor(t, dir).with_context(|| format!("{shown}: tls_server_config"))
            })?;
        file.check_users().with_context(|| format!("{shown}"))?;
        let mut web = Web::with_users(file.basic_auth_users)?;
        web.tls = Some(tls);
        Ok(web)
    }

    /// No TLS, these users (name to bcrypt hash, already checked) and their dummy hash.
    fn with_users(users: BTreeMap<String, String>) -> Result<Web> {
        let cost = users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max();
        let dummy = cost
            .map(|c| bcrypt::hash("mailcheck: no such user", c))
            .transpose()?;
        Ok(Web {
            tls: None,
            users,
            dummy,
            verified: Mutex::default(),
        })
    }

    /// Whether the request carries the credentials of a configured user (always, without
    /// users).
    async fn authorized(self: &Arc<Web>, headers: &HeaderMap) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some((user, password)) = basic_credentials(headers) else {
            return false;
        };
        let known = self.users.get(&user);
        let Some(hash) = known.or(self.dummy.as_ref()).cloned() else {
            return false;
        };
        let key = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{user}:{password}").as_bytes(),
        )
        .as_ref()
        .to_vec();
        if self.verified.lock().unwrap().contains(&key) {
            return true;
        }
        let verified = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or(false);
        let ok = verified && known.is_some();
        if ok {
            let mut v = self.verified.lock().unwrap();
            // Bounded: a handful of users, each with one password at a time.
            if v.len() >= 64 {
                v.clear();
            }
            v.insert(key);
        }
        ok
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let (user, password) = String::from_utf8(raw)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some((user, password))
}

fn tls_acceptor(t: &TlsServerConfig, dir: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls::server::WebPkiClientVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let at = |p: &Path| dir.join(p);
    let certs = CertificateDer::pem_file_iter(at(&t.cert_file))
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cert_file {}", t.cert_file.display()))?;
    let key = PrivateKeyDer::from_pem_file(at(&t.key_file))
        .with_context(|| format!("key_file {}", t.key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if t.min_version == TlsVersion::TLS13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12, &rustls::version::TLS13]
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)?;
    let verify = matches!(
        t.client_auth_type,
        ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert
    );
    let builder = match (&t.client_auth_type, &t.client_ca_file) {
        (ClientAuthType::RequestClientCert | ClientAuthType::RequireAnyClientCert, _) => {
            anyhow::bail!(
                "client_auth_type: only NoClientCert, VerifyClientCertIfGiven and \
                 RequireAndVerifyClientCert are supported (the others accept any certificate)"
            )
        }
        (_, None) if verify => anyhow::bail!("client_auth_type needs client_ca_file"),
        (_, Some(ca)) if verify => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(at(ca))
                .with_context(|| format!("client_ca_file {}", ca.display()))?
            {
                roots.add(c.with_context(|| format!("client_ca_file {}", ca.display()))?)?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if t.client_auth_type == ClientAuthType::VerifyClientCertIfGiven {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(v.build()?)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

impl Exporter {
    fn web(&self) -> Arc<Web> {
        self.web.read().unwrap().clone()
    }
}

/// How often `--web-config` and the files it names are looked at for a change.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Reads `--web-config` again on SIGHUP, and when it or a file it names (certificate, key,
/// client CA) changes. Connections keep the TLS setup they were accepted with, so a scrape in
/// flight is not dropped; a bad file keeps the one in force (one line on stderr).
///
/// Changes are seen by comparing a digest of the files every [`WATCH_EVERY`], not through
/// inotify (`notify`): a poll also sees files replaced by rename or by a symlink swap (certbot,
/// Kubernetes secrets), which leave an inotify watch on the old inode, it needs no new crate, and
/// it costs a few small reads. A change is loaded once two polls in a row see the same new
/// digest, so that a file still being written is not read half-way.
async fn reload_web_config(state: Arc<Exporter>, path: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut loaded = web_digest(&path);
    let mut seen = loaded.clone();
    loop {
        let hangup = tokio::select! {
            Some(()) = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
            _ = tick.tick() => false,
        };
        let now = web_digest(&path);
        let settled = now != loaded && now == seen;
        seen = now.clone();
        if !(hangup || settled) {
            continue;
        }
        loaded = now;
        let (from, why) = (path.clone(), if hangup { "SIGHUP" } else { "changed" });
        // Loading reads files and runs bcrypt (the dummy hash): off the runtime's threads.
        match tokio::task::spawn_blocking(move || Web::load(&from)).await {
            Ok(Ok(web)) => {
                *state.web.write().unwrap() = Arc::new(web);
                eprintln!("mailcheck serve: reloaded {} ({why})", path.display());
            }
            Ok(Err(e)) => {
                eprintln!("mailcheck serve: kept the web configuration in force: {e:#}")
            }
            Err(e) => eprintln!("mailcheck serve: kept the web configuration in force: {e}"),
        }
    }
}

/// SHA-256 over `--web-config` and the files its `tls_server_config` names (a missing or
/// unreadable file counts as empty; loading it then says what is wrong).
fn web_digest(path: &Path) -> Vec<u8> {
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    let mut add = |bytes: &[u8]| {
        d.update(&(bytes.len() as u64).to_be_bytes());
        d.update(bytes);
    };
    let text = std::fs::read(path).unwrap_or_default();
    add(&text);
    let named = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| WebConfigFile::parse(t).ok())
        .and_then(|f| f.tls_server_config)
        .map(|t| [Some(t.cert_file), Some(t.key_file), t.client_ca_file])
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    for file in named.iter().flatten() {
        add(&std::fs::read(dir.join(file)).unwrap_or_default());
    }
    d.finish().as_ref().to_vec()
}

/// A common default of 1,024 descriptors is too few for the connections the exporter both
/// accepts and makes: use the hard limit.
fn raise_descriptor_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// One accepted connection, as the bound on connections sees it.
struct Slot {
    id: u64,
    /// Running a request: never evicted, never timed out here (the probe has its deadline).
    busy: AtomicBool,
    /// When the connection last became idle (accepted, or a response handed over).
    idle_since: Mutex<Instant>,
    evict: tokio::sync::Notify,
}

impl Slot {
    fn set_busy(&self, busy: bool) {
        *self.idle_since.lock().unwrap() = Instant::now();
        self.busy.store(busy, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Option<Duration> {
        (!self.busy.load(Ordering::Relaxed)).then(|| self.idle_since.lock().unwrap().elapsed())
    }
}

/// The open connections, oldest first: at most `max`, each closed after `idle_timeout`
/// without a request running.
struct Connections {
    max: usize,
    idle_timeout: Duration,
    next_id: AtomicU64,
    open: Mutex<VecDeque<Arc<Slot>>>,
}

impl Connections {
    fn new(max: usize, idle_timeout: Duration) -> Connections {
        Connections {
            max,
            idle_timeout,
            next_id: AtomicU64::new(0),
            open: Mutex::default(),
        }
    }

    /// A slot for a new connection; when all are taken, the oldest idle connection is closed
    /// for it (a flood of idle connections must not lock out a scrape), and with none idle the
    /// new connection is refused.
    fn admit(&self) -> Option<Arc<Slot>> {
        let mut open = self.open.lock().unwrap();
        if open.len() >= self.max {
            let idle = open.iter().position(|s| s.idle_for().is_some())?;
            let old = open.remove(idle)?;
            old.evict.notify_one();
        }
        let slot = Arc::new(Slot {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            busy: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
            evict: tokio::sync::Notify::new(),
        });
        open.push_back(slot.clone());
        Some(slot)
    }

    fn release(&self, id: u64) {
        self.open.lock().unwrap().retain(|s| s.id != id);
    }

    fn len(&self) -> usize {
        self.open.lock().unwrap().len()
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<Exporter>,
    app: Router,
) -> Result<()> {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of descriptors, most likely: wait for connections to close.
                eprintln!("mailcheck serve: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = state.conns.admit() else {
            state.refused_connections.fetch_add(1, Ordering::Relaxed);
            drop(tcp);
            continue;
        };
        let (state, app) = (state.clone(), app.clone());
        tokio::spawn(async move {
            let id = slot.id;
            let tls = state.web().tls.clone();
            let served = async {
                match tls {
                    None => serve_connection(tcp, &state, &app, &slot).await,
                    Some(acceptor) => {
                        // The handshake is part of the idle time the watchdog allows.
                        if let Ok(io) = acceptor.accept(tcp).await {
                            serve_connection(io, &state, &app, &slot).await;
                        }
                    }
                }
            };
            tokio::select! {
                _ = served => {}
                _ = slot.evict.notified() => {}
                _ = idle_watchdog(&slot, state.conns.idle_timeout) => {}
            }
            state.conns.release(id);
        });
    }
}

/// Resolves once the connection has been idle (or sending its request, or doing its TLS
/// handshake) for `timeout`.
async fn idle_watchdog(slot: &Slot, timeout: Duration) {
    let tick = (timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        tokio::time::sleep(tick).await;
        if slot.idle_for().is_some_and(|d| d >= timeout) {
            return;
        }
    }
}

async fn serve_connection<I>(io: I, state: &Arc<Exporter>, app: &Router, slot: &Arc<Slot>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| {
        let (state, app, slot) = (state.clone(), app.clone(), slot.clone());
        async move {
            slot.set_busy(true);
            let r = handle(&state, app, req).await;
            slot.set_busy(false);
            Ok::<_, Infallible>(r)
        }
    });
    // hyper drops the request's future, and so its probe, when the client closes the
    // connection mid-request.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
        .await;
}

/// One request: basic auth on every path, then the routes; every 4xx is counted.
async fn handle(
    state: &Exporter,
    app: Router,
    req: hyper::Request<hyper::body::Incoming>,
) -> Response {
    use tower::ServiceExt;
    let web = state.web();
    let resp = if web.authorized(req.headers()).await {
        app.oneshot(req.map(axum::body::Body::new))
            .await
            .unwrap_or_else(|e| match e {})
    } else {
        let mut r = refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized: basic auth required",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"mailcheck\""),
        );
        r
    };
    if resp.status().is_client_error() {
        state.bad_requests.fetch_add(1, Ordering::Relaxed);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderMap {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {b64}").parse().unwrap(),
        );
        h
    }

    /// An unknown user is verified against the dummy hash (at the users' highest cost) and
    /// refused whatever that verification says, even with the dummy's own password.
    #[test]
    fn an_unknown_user_costs_one_bcrypt_and_is_refused() {
        let users = BTreeMap::from([
            ("prom".to_string(), bcrypt::hash("right", 4).unwrap()),
            ("graf".to_string(), bcrypt::hash("other", 5).unwrap()),
        ]);
        let web = Arc::new(Web::with_users(users).unwrap());
        let dummy = web.dummy.as_ref().unwrap();
        assert_eq!(dummy.parse::<bcrypt::HashParts>().unwrap().get_cost(), 5);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let auth = |u: &str, p: &str| rt.block_on(web.authorized(&basic(u, p)));
        assert!(auth("prom", "right"));
        // Again, from the cache of verified pairs.
        assert!(auth("prom", "right"));
        assert!(auth("graf", "other"));
        assert!(!auth("prom", "other"));
        assert!(!auth("eve", "right"));
        assert!(!auth("eve", "mailcheck: no such user"));
        assert!(!rt.block_on(web.authorized(&HeaderMap::new())));
        // Without users there is no dummy, and every request passes.
        let open = Arc::new(Web::with_users(BTreeMap::new()).unwrap());
        assert!(open.dummy.is_none());
        assert!(rt.block_on(open.authorized(&HeaderMap::new())));
    }
}
