//! A scriptable mail server on loopback: IMAP, POP3 and SMTP, implicit TLS and STARTTLS,
//! certificates from a CA made at start, one user, and scenarios that reproduce the
//! misconfigurations and hostile behaviours mailcheck must diagnose.
//!
//! It serves `mailcheck lab` (for people), `mailcheck demo` (probe it in-process) and the
//! integration tests. It records what each connection received, with secrets replaced by a
//! flag, so a test can prove that no credential went where it must not.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! use mailcheck::lab::{Lab, LabConfig, Scenario};
//! let lab = Lab::start(LabConfig { scenario: Scenario::CertExpired, ..LabConfig::default() }).await?;
//! let args = lab.probe_args(); // --server, --ca-file, --connect-to ... for `mailcheck probe`
//! # drop(args);
//! # Ok(()) }
//! ```

mod certs;
pub mod console;
mod dialect;
mod scenario;
mod session;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::account::{Credential, Secret};
use crate::model::{Combination, ConnectTo, Limits, Policy, Protocol, Security};
use crate::plan::{Plan, TargetSpec};

pub use scenario::Scenario;
pub use session::{GARBAGE, HUGE_LINE_BYTES};

/// The server name the lab's certificates are made for (and the `--server` to probe).
pub const TLS_NAME: &str = "mail.lab.test";
/// The lab user's address.
pub const ADDRESS: &str = "alice@lab.test";
/// Lines kept per connection in [`Received::lines`] (the count goes on).
const MAX_RECORDED_LINES: usize = 200;

#[derive(Debug, Clone)]
pub struct LabConfig {
    pub scenario: Scenario,
    /// Where to listen: 127.0.0.1 by default, or ::1.
    pub ip: IpAddr,
    /// The first of six consecutive ports, one per documented combination in the documented
    /// order (imap/993 first); `None`: ports chosen by the OS.
    pub base_port: Option<u16>,
    /// Pause between bytes in `slowloris`.
    pub trickle: Duration,
    /// How long a connection may stay silent before the lab closes it.
    pub idle: Duration,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            scenario: Scenario::Good,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: None,
            trickle: Duration::from_secs(1),
            idle: Duration::from_secs(60),
        }
    }
}

/// The lab's one account. The password is generated at each start.
#[derive(Debug, Clone)]
pub struct User {
    pub address: String,
    pub password: Secret,
}

/// One listening port and the documented combination it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Service {
    pub combination: Combination,
    pub addr: SocketAddr,
}

/// A line the lab received; login arguments and SASL responses are never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceivedLine {
    /// TLS was active when the line arrived.
    pub tls: bool,
    pub line: String,
}

/// What one connection received and how it ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Received {
    /// The lab's real port.
    pub port: u16,
    pub combination: Option<Combination>,
    pub peer: Option<SocketAddr>,
    /// A TLS session was established (implicit or after STARTTLS).
    pub tls: bool,
    /// The first lines (up to 200), secrets replaced.
    pub lines: Vec<ReceivedLine>,
    pub line_count: u64,
    /// AUTHENTICATE / AUTH / LOGIN / PASS commands.
    pub auth_commands: u32,
    /// A secret (password, SASL credentials) reached the lab on this connection.
    pub credentials_seen: bool,
    /// ... and it did so while the connection was not TLS.
    pub credentials_in_plaintext: bool,
    pub logged_in: bool,
    pub bytes_sent: u64,
    /// The client went away while the lab was still writing.
    pub aborted_by_client: bool,
    /// The client sent bytes after STARTTLS and before the handshake (they were discarded).
    pub pipelined_after_starttls: bool,
    /// What the lab did or met (a TLS failure, a deliberate reset...).
    pub note: Option<String>,
    /// The connection is over.
    pub finished: bool,
}

impl Received {
    fn push_line(&mut self, tls: bool, line: String) {
        self.line_count += 1;
        if self.lines.len() < MAX_RECORDED_LINES {
            self.lines.push(ReceivedLine { tls, line });
        }
    }

    fn mark_credentials(&mut self, tls: bool) {
        self.credentials_seen = true;
        self.credentials_in_plaintext |= !tls;
    }
}

/// The connection log, shared by the sessions.
#[derive(Clone, Default)]
pub(crate) struct Log {
    entries: Arc<Mutex<Vec<Received>>>,
    active: Arc<AtomicUsize>,
    idle: Arc<Notify>,
}

impl Log {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Received>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self, port: u16, combination: Combination, peer: Option<SocketAddr>) -> usize {
        let mut v = self.lock();
        v.push(Received {
            port,
            combination: Some(combination),
            peer,
            ..Received::default()
        });
        v.len() - 1
    }

    fn update(&self, idx: usize, f: impl FnOnce(&mut Received)) {
        if let Some(r) = self.lock().get_mut(idx) {
            f(r);
        }
    }
}

/// Counts a connection as active for as long as it lives (also when its task is aborted).
struct ActiveGuard {
    log: Log,
    idx: usize,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.log.update(self.idx, |r| r.finished = true);
        if self.log.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.log.idle.notify_waiters();
        }
    }
}

/// A port that swallows connection attempts: a listener whose accept queue is full (filled by
/// the lab itself and never accepted), so the kernel drops further SYNs and the client's
/// connect times out, as behind a filtering firewall.
pub struct Blackhole {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _held: Vec<TcpStream>,
}

impl Blackhole {
    pub async fn bind(ip: IpAddr) -> Result<Blackhole> {
        Blackhole::bind_at(SocketAddr::new(ip, 0)).await
    }

    /// A blackhole on a given address (port 0: chosen by the OS).
    pub async fn bind_at(addr: SocketAddr) -> Result<Blackhole> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }?;
        socket
            .bind(addr)
            .with_context(|| format!("listening on {addr}"))?;
        // Backlog 0: the kernel keeps at most one established connection waiting.
        let listener = socket.listen(0)?;
        let addr = listener.local_addr()?;
        let mut held = Vec::new();
        for _ in 0..16 {
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(s)) => held.push(s),
                Ok(Err(e)) => bail!("filling the accept queue of {addr}: {e}"),
                // The queue is full: SYNs are dropped now.
                Err(_) => {
                    return Ok(Blackhole {
                        addr,
                        _listener: listener,
                        _held: held,
                    })
                }
            }
        }
        bail!("the accept queue of {addr} never filled up")
    }
}

/// A running lab. Dropping it stops every listener and connection and removes its files.
pub struct Lab {
    scenario: Scenario,
    services: Vec<Service>,
    user: User,
    ca_pem: String,
    ca_path: PathBuf,
    /// The lab CA's CRL (`cert-revoked` only), next to the CA.
    crl_path: Option<PathBuf>,
    password_path: PathBuf,
    log: Log,
    tasks: Vec<JoinHandle<()>>,
    _blackholes: Vec<Blackhole>,
    _dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn random_password() -> Result<Secret> {
    use base64::Engine as _;
    let mut bytes = [0u8; 18];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness for the lab password"))?;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Secret::new(text).context("empty password")
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

impl Lab {
    /// Generate the certificates and the user, bind the six ports and start serving.
    /// Must be called inside a multi-threaded tokio runtime that outlives the lab.
    pub async fn start(config: LabConfig) -> Result<Lab> {
        let dir = tempfile::Builder::new()
            .prefix("mailcheck-lab-")
            .tempdir()
            .context("creating the lab's directory")?;
        let certs = certs::generate(TLS_NAME, config.scenario.leaf())?;
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, &certs.ca_pem)
            .with_context(|| format!("writing {}", ca_path.display()))?;
        let crl_path = match &certs.crl_pem {
            Some(pem) => {
                let path = dir.path().join("ca.crl.pem");
                std::fs::write(&path, pem)
                    .with_context(|| format!("writing {}", path.display()))?;
                Some(path)
            }
            None => None,
        };
        let password = random_password()?;
        let password_path = dir.path().join("password");
        write_private(&password_path, &format!("{}\n", password.expose()))?;
        let log = Log::default();
        let shared = Arc::new(session::Shared {
            scenario: config.scenario,
            tls: tls::server_config(&certs, config.scenario)?,
            user: ADDRESS.to_string(),
            password: password.clone(),
            log: log.clone(),
            trickle: config.trickle,
            idle: config.idle,
        });
        let mut services = Vec::new();
        let mut tasks = Vec::new();
        let mut blackholes = Vec::new();
        let addrs = lab_addrs(config.ip, config.base_port)?;
        if config.scenario == Scenario::Blackhole {
            // Each one takes a short connect timeout to prove its queue is full: in parallel.
            let holes = futures::future::try_join_all(addrs.map(Blackhole::bind_at)).await?;
            for (combination, b) in Combination::DOCUMENTED.into_iter().zip(holes) {
                services.push(Service {
                    combination,
                    addr: b.addr,
                });
                blackholes.push(b);
            }
        } else {
            for (combination, at) in Combination::DOCUMENTED.into_iter().zip(addrs) {
                let listener = TcpListener::bind(at)
                    .await
                    .with_context(|| format!("listening on {at}"))?;
                let addr = listener.local_addr()?;
                services.push(Service { combination, addr });
                tasks.push(tokio::spawn(accept_loop(
                    listener,
                    shared.clone(),
                    combination,
                )));
            }
        }
        Ok(Lab {
            scenario: config.scenario,
            services,
            user: User {
                address: ADDRESS.to_string(),
                password,
            },
            ca_pem: certs.ca_pem,
            ca_path,
            crl_path,
            password_path,
            log,
            tasks,
            _blackholes: blackholes,
            _dir: dir,
        })
    }

    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// (documented combination, real port), in the documented order.
    pub fn ports(&self) -> Vec<(Combination, u16)> {
        self.services
            .iter()
            .map(|s| (s.combination, s.addr.port()))
            .collect()
    }

    /// The real address serving a protocol and security.
    pub fn addr(&self, protocol: Protocol, security: Security) -> SocketAddr {
        self.services
            .iter()
            .find(|s| s.combination.protocol == protocol && s.combination.security == security)
            .map(|s| s.addr)
            .expect("the lab serves every documented combination")
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The lab CA in PEM, for `--ca-file`.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// The lab CA's revocation list in PEM, for `--crl-file` (only `cert-revoked` has one).
    pub fn crl_path(&self) -> Option<&Path> {
        self.crl_path.as_deref()
    }

    /// A file (mode 0600) holding the user's password, for `--password-command "cat FILE"`.
    pub fn password_path(&self) -> &Path {
        &self.password_path
    }

    pub fn user(&self) -> &User {
        &self.user
    }

    pub fn tls_name(&self) -> &'static str {
        TLS_NAME
    }

    /// `--connect-to` rules sending each documented port of the lab name to the lab.
    pub fn connect_to_rules(&self) -> Vec<String> {
        self.services
            .iter()
            .map(|s| {
                let host = match s.addr.ip() {
                    IpAddr::V6(ip) => format!("[{ip}]"),
                    IpAddr::V4(ip) => ip.to_string(),
                };
                format!("{TLS_NAME}:{}:{host}:{}", s.combination.port, s.addr.port())
            })
            .collect()
    }

    pub fn connect_to(&self) -> Vec<ConnectTo> {
        self.connect_to_rules()
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect()
    }

    /// The arguments of `mailcheck probe ADDRESS` that aim it at the lab (no credentials).
    pub fn probe_args(&self) -> Vec<String> {
        let mut args = vec![
            "--server".to_string(),
            TLS_NAME.to_string(),
            "--ca-file".to_string(),
            self.ca_path.display().to_string(),
        ];
        if let Some(crl) = &self.crl_path {
            args.push("--crl-file".into());
            args.push(crl.display().to_string());
        }
        for r in self.connect_to_rules() {
            args.push("--connect-to".into());
            args.push(r);
        }
        args
    }

    /// The lab's credential, for in-process probes (`mailcheck demo`).
    pub fn credential(&self) -> Credential {
        Credential::Password(self.user.password.clone())
    }

    /// A plan probing the six combinations of the lab, trusting the lab CA (and checking its
    /// CRL when the scenario has one).
    pub fn plan(&self, limits: Limits, trace: bool) -> Plan {
        let rules = self.connect_to();
        let targets = TargetSpec {
            host: TLS_NAME,
            tls_name: None,
            username: &self.user.address,
            combinations: &Combination::DOCUMENTED,
            only: &[],
            skip: &[],
            connect_to: &rules,
        }
        .targets();
        Plan {
            targets,
            policy: Policy {
                limits,
                ca_file: Some(self.ca_path.clone()),
                crl_files: self.crl_path.iter().cloned().collect(),
                trace,
                ..Policy::default()
            },
        }
    }

    /// What every connection received so far, in the order they were accepted.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().clone()
    }

    /// Wait until no connection is being served (or `timeout`); true if idle.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.log.idle.notified();
                if self.log.active.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// The six addresses to listen on: `base`, `base + 1`... in the documented order, or port 0
/// each (the OS chooses).
fn lab_addrs(ip: IpAddr, base: Option<u16>) -> Result<[SocketAddr; 6]> {
    let count = Combination::DOCUMENTED.len() as u16;
    let first = match base {
        None => return Ok([SocketAddr::new(ip, 0); 6]),
        Some(0) => bail!("--base-port must be at least 1"),
        Some(b) if b.checked_add(count - 1).is_none() => {
            bail!("--base-port {b}: the lab needs {count} ports, up to 65535")
        }
        Some(b) => b,
    };
    Ok(std::array::from_fn(|i| {
        SocketAddr::new(ip, first + i as u16)
    }))
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<session::Shared>,
    combination: Combination,
) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let mut sessions = JoinSet::new();
    loop {
        while sessions.try_join_next().is_some() {}
        let Ok((tcp, _)) = listener.accept().await else {
            // Out of descriptors or the like: wait a little rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        let log = shared.log.clone();
        let idx = log.open(port, combination, tcp.peer_addr().ok());
        log.active.fetch_add(1, Ordering::SeqCst);
        sessions.spawn(async move {
            let guard = ActiveGuard { log, idx };
            session::handle(shared, combination, idx, tcp).await;
            drop(guard);
        });
    }
}
