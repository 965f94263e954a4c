//! `mailcheck serve`: a Prometheus exporter in the blackbox_exporter multi-target pattern.
//!
//! * `GET /probe?target=alice@example.com&module=NAME` runs one probe of the account and returns
//!   its metrics (`report::prometheus`). The module comes from the checks file (`[module.NAME]`);
//!   without one, a target that is an `[[account]]` of the file (by address or name) uses that
//!   account; otherwise its servers are discovered (as `probe` does) and probed without
//!   credentials.
//! * `GET /metrics`: the exporter's own health (probes served, in flight, bad requests).
//!
//! Scrapes run concurrently; every connection of every scrape is paced by one shared
//! [`Pacer`] (per server host and in total). Each probe has a deadline below the scrape timeout
//! Prometheus announces (`X-Prometheus-Scrape-Timeout-Seconds`, minus 0.5 s), capped by
//! `--probe-timeout`. Credentials stay in the checks file's env/command references and are read
//! at each probe; a module with credentials must fix its server and username (see
//! `check::config`), so the `target` of a request can neither send a secret elsewhere nor try it
//! on other mailboxes. No label carries a secret.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
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
use crate::report::prometheus::{add_account, Families};
use crate::settings::{Given, Origin, Settings, SettingsBuilder};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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
}

pub fn serve(args: ServeArgs) -> Result<Status> {
    let config = args.config.as_deref().map(ChecksFile::load).transpose()?;
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
        // Tests and service managers read this line to learn the port (with --listen ...:0).
        crate::app::note(format_args!("mailcheck serve: listening on http://{addr}"))?;
        let app = Router::new()
            .route("/", get(index))
            .route("/probe", get(probe))
            .route("/metrics", get(metrics))
            .with_state(state);
        axum::serve(listener, app).await.context("serving HTTP")
    })?;
    Ok(Status::Ok)
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "mailcheck exporter\n\nGET /probe?target=ADDRESS&module=NAME  probe one account\nGET /metrics                          the exporter's own metrics\n",
    )
}

fn bad_request(state: &Exporter, msg: String) -> Response {
    state.bad_requests.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
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

/// The probe's deadline: below the scrape timeout Prometheus announces, at most --probe-timeout.
fn deadline(state: &Exporter, headers: &HeaderMap) -> Duration {
    let announced = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64((s - 0.5).max(0.5)));
    announced.map_or(state.max_probe, |a| a.min(state.max_probe))
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
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut settings = match request_settings(state.config.as_ref(), &q) {
        Ok(s) => s,
        Err(e) => return bad_request(&state, format!("{e:#}")),
    };
    let deadline = deadline(&state, &headers);
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
    let mut body = vec![];
    let _ = f.write(&mut body);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

async fn metrics(State(state): State<Arc<Exporter>>) -> Response {
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
        "Requests refused (no target, unknown module, bad address).",
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
    let modules = state.config.as_ref().map_or(0, |c| c.modules.len());
    f.add(
        "mailcheck_exporter_modules",
        "gauge",
        "Modules loaded from the checks file.",
        &[],
        modules as f64,
    );
    let mut body = vec![];
    let _ = f.write(&mut body);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}
