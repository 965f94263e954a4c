//! Name resolution shared by discovery (SRV, MX, HTTP host names) and by the probe's TCP
//! connect.
//!
//! Two modes:
//! - **system** (the default): addresses through the operating system (`getaddrinfo`, so
//!   `/etc/hosts` and nsswitch apply, as before), SRV and MX through hickory configured from
//!   `/etc/resolv.conf`;
//! - **one name server** (`--dns-server IP[:PORT]`): every query — addresses, SRV, MX — goes to
//!   that server and nowhere else: no hosts file, no search domains, no system fallback. Tests
//!   use it to keep every lookup on loopback.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::{
    DnsUdpSocket, RuntimeProvider, TokioRuntimeProvider, TokioTime,
};
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{RData, RecordType};
use serde::Serialize;
use tokio::io::Interest;

/// Why a lookup gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LookupError {
    /// The name does not exist, or has no record of the asked type.
    NotFound {
        detail: String,
        /// The name itself does not exist (NXDOMAIN), rather than having no record of the
        /// asked type: discovery tells "no such domain" from "publishes nothing" by it.
        #[serde(skip)]
        no_such_name: bool,
    },
    /// No answer in time.
    TimedOut,
    /// Nothing listens where the name server should be (ICMP port unreachable on UDP, a TCP
    /// reset): as silent as a timeout, but known at once.
    Refused { detail: String },
    /// Anything else (server failure, malformed answer, no resolver configured).
    Failed { detail: String },
}

impl LookupError {
    /// The name server said nothing at all: no answer in time, or nothing listening.
    pub fn is_silence(&self) -> bool {
        matches!(self, LookupError::TimedOut | LookupError::Refused { .. })
    }

    fn not_found(detail: impl Into<String>) -> LookupError {
        LookupError::NotFound {
            detail: detail.into(),
            no_such_name: false,
        }
    }
}

impl std::error::Error for LookupError {}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotFound { detail, .. } => f.write_str(detail),
            LookupError::TimedOut => f.write_str("no answer in time"),
            LookupError::Refused { detail } | LookupError::Failed { detail } => f.write_str(detail),
        }
    }
}

/// One SRV record, as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Without the trailing dot; `"."` (the root) means "service not offered" (RFC 2782).
    pub target: String,
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxRecord {
    pub preference: u16,
    /// Without the trailing dot.
    pub exchange: String,
}

/// A `--dns-server` value: `IP` or `IP:PORT` (`[v6]:PORT` for IPv6 with a port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameServer(pub SocketAddr);

impl FromStr for NameServer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(NameServer(sa));
        }
        if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(NameServer(SocketAddr::new(ip, 53)));
        }
        Err(format!(
            "{s:?} is not a name server address (IP, IP:PORT or [IPv6]:PORT)"
        ))
    }
}

/// hickory's resolver, on a runtime where a refused UDP query is known at once.
type Dns = hickory_resolver::Resolver<ConnectedUdp>;

/// Cheap to clone; one per run, shared by discovery and every probe.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

enum Inner {
    System {
        /// Built on first SRV/MX query (reading `/etc/resolv.conf` is I/O).
        dns: OnceLock<Result<Dns, String>>,
        timeout: Duration,
    },
    Server {
        server: SocketAddr,
        dns: Dns,
    },
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Resolver({})", self.describe())
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::system()
    }
}

impl Resolver {
    /// The operating system's resolver.
    pub fn system() -> Resolver {
        Resolver {
            inner: Arc::new(Inner::System {
                dns: OnceLock::new(),
                timeout: Duration::from_secs(5),
            }),
        }
    }

    /// Every query to `server` only (UDP, then TCP on truncation), each attempt bounded by
    /// `timeout`.
    pub fn with_server(server: SocketAddr, timeout: Duration) -> Resolver {
        let mut udp = ConnectionConfig::udp();
        udp.port = server.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = server.port();
        let ns = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
        let config = ResolverConfig::from_name_servers(vec![ns]);
        let mut builder =
            hickory_resolver::Resolver::builder_with_config(config, ConnectedUdp::default());
        let opts = builder.options_mut();
        opts.use_hosts_file = ResolveHosts::Never;
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.ndots = 0;
        let dns = builder
            .build()
            .expect("a resolver with one name server and no TLS always builds");
        Resolver {
            inner: Arc::new(Inner::Server { server, dns }),
        }
    }

    /// `--dns-server` given or not.
    pub fn from_option(server: Option<SocketAddr>, timeout: Duration) -> Resolver {
        match server {
            Some(s) => Resolver::with_server(s, timeout),
            None => Resolver::system(),
        }
    }

    /// The name server in use, if one was given.
    pub fn server(&self) -> Option<SocketAddr> {
        match &*self.inner {
            Inner::Server { server, .. } => Some(*server),
            Inner::System { .. } => None,
        }
    }

    /// `system` or the `--dns-server` address, for reports.
    pub fn describe(&self) -> String {
        match self.server() {
            Some(s) => s.to_string(),
            None => "system".into(),
        }
    }

    /// A lookup of `name`/`t` on the name server in use.
    async fn lookup(
        &self,
        name: &str,
        t: RecordType,
    ) -> Result<hickory_resolver::lookup::Lookup, LookupError> {
        let name = fqdn(name);
        match &*self.inner {
            Inner::Server { dns, .. } => dns.lookup(name.as_str(), t).await,
            Inner::System { .. } => self.system_dns()?.lookup(name.as_str(), t).await,
        }
        .map_err(net_error)
    }

    fn system_dns(&self) -> Result<&Dns, LookupError> {
        match &*self.inner {
            Inner::Server { .. } => unreachable!("only asked in system mode"),
            Inner::System { dns, timeout } => dns
                .get_or_init(|| {
                    let mut b = Dns::builder(ConnectedUdp::default())
                        .map_err(|e| format!("cannot read the system DNS configuration: {e}"))?;
                    b.options_mut().timeout = *timeout;
                    b.build().map_err(|e| e.to_string())
                })
                .as_ref()
                .map_err(|e| LookupError::Failed { detail: e.clone() }),
        }
    }

    /// Addresses of `host` (a name or an IP literal) with `port`, duplicates removed, in the
    /// order the resolver gave them.
    pub async fn lookup_addrs(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, LookupError> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let mut out: Vec<SocketAddr> = Vec::new();
        match &*self.inner {
            Inner::System { .. } => {
                let it = tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|e| LookupError::not_found(e.to_string()))?;
                for a in it {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
            Inner::Server { dns, .. } => {
                let name = fqdn(host);
                let lookup = dns.lookup_ip(name.as_str()).await.map_err(net_error)?;
                for ip in lookup.iter() {
                    let a = SocketAddr::new(ip, port);
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
        }
        if out.is_empty() {
            return Err(LookupError::not_found(format!("{host} has no address")));
        }
        Ok(out)
    }

    /// SRV records of `name` (e.g. `_imaps._tcp.example.com`), as served (not sorted).
    pub async fn srv(&self, name: &str) -> Result<Vec<SrvRecord>, LookupError> {
        let lookup = self.lookup(name, RecordType::SRV).await?;
        let v: Vec<SrvRecord> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some(SrvRecord {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target: host_of(&s.target.to_ascii()),
                }),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            return Err(LookupError::not_found(format!("no SRV record for {name}")));
        }
        Ok(v)
    }

    /// TXT records of `name`, each as its character-strings (RFC 1035 §3.3.14), as served.
    pub async fn txt(&self, name: &str) -> Result<Vec<Vec<Vec<u8>>>, LookupError> {
        let lookup = self.lookup(name, RecordType::TXT).await?;
        let v: Vec<Vec<Vec<u8>>> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(t.txt_data.iter().map(|s| s.to_vec()).collect()),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            return Err(LookupError::not_found(format!("no TXT record for {name}")));
        }
        Ok(v)
    }

    /// MX records of `domain`, most preferred first (lowest preference; ties keep server order).
    pub async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, LookupError> {
        let lookup = self.lookup(domain, RecordType::MX).await?;
        let mut v: Vec<MxRecord> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(m) => Some(MxRecord {
                    preference: m.preference,
                    exchange: host_of(&m.exchange.to_ascii()),
                }),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            return Err(LookupError::not_found(format!("no MX record for {domain}")));
        }
        v.sort_by_key(|m| m.preference);
        Ok(v)
    }
}

/// Absolute form: no search domain is ever appended.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// `mail.example.com.` → `mail.example.com`; the root stays `"."`.
fn host_of(ascii: &str) -> String {
    if ascii == "." || ascii.is_empty() {
        ".".into()
    } else {
        ascii.trim_end_matches('.').to_ascii_lowercase()
    }
}

fn net_error(e: NetError) -> LookupError {
    if e.is_no_records_found() || e.is_nx_domain() {
        LookupError::NotFound {
            detail: if e.is_nx_domain() {
                "no such name (NXDOMAIN)".into()
            } else {
                "no record of that type".into()
            },
            no_such_name: e.is_nx_domain(),
        }
    } else if matches!(e, NetError::Timeout) {
        LookupError::TimedOut
    } else if refused(&e) {
        LookupError::Refused {
            detail: "refused: nothing listens at the name server".into(),
        }
    } else {
        LookupError::Failed {
            detail: e.to_string(),
        }
    }
}

/// Whether nothing listens at the name server: the refusal [`ConnectedUdp`] surfaces, or a
/// TCP reset. hickory's pool reports a server whose every connection failed at once as
/// `NoConnections`, the I/O error dropped.
fn refused(e: &NetError) -> bool {
    if matches!(e, NetError::NoConnections) {
        return true;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            ) {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// hickory's tokio runtime, with each UDP query socket connected to the name server. hickory
/// sends from an unconnected socket, on which Linux never reports the ICMP "port unreachable"
/// a closed port answers with: a `--dns-server` where nothing listens then cost a full timeout
/// per query. On a connected socket the refusal becomes the socket's pending error.
#[derive(Clone, Default)]
struct ConnectedUdp(TokioRuntimeProvider);

/// A UDP socket connected to the name server, whose receive also ends on the socket's error.
/// tokio wakes a pending `recv_from` on readability only, and an ICMP error makes the socket
/// "in error", not readable: the wait for [`Interest::ERROR`] is what sees it.
struct RefusableUdp(tokio::net::UdpSocket);

impl DnsUdpSocket for RefusableUdp {
    type Time = TokioTime;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<(usize, SocketAddr)>> {
        let mut buf = tokio::io::ReadBuf::new(buf);
        let from = ready!(self.0.poll_recv_from(cx, &mut buf))?;
        Poll::Ready(Ok((buf.filled().len(), from)))
    }

    // What `#[async_trait]` makes of `async fn recv_from`: the one hickory awaits.
    fn recv_from<'a, 'b, 'f>(
        &'a self,
        buf: &'b mut [u8],
    ) -> Pin<Box<dyn Future<Output = std::io::Result<(usize, SocketAddr)>> + Send + 'f>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            tokio::select! {
                r = self.0.recv_from(buf) => r,
                e = self.0.ready(Interest::ERROR) => {
                    e?;
                    Err(self.0.take_error()?.unwrap_or_else(|| {
                        std::io::Error::from(std::io::ErrorKind::ConnectionRefused)
                    }))
                }
            }
        })
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        _target: SocketAddr,
    ) -> Poll<std::io::Result<usize>> {
        // `target` is the server the socket is connected to; `sendto` with an address on a
        // connected socket is refused by the BSDs (EISCONN), a plain send is not.
        self.0.poll_send(cx, buf)
    }
}

impl RuntimeProvider for ConnectedUdp {
    type Handle = <TokioRuntimeProvider as RuntimeProvider>::Handle;
    type Timer = <TokioRuntimeProvider as RuntimeProvider>::Timer;
    type Udp = RefusableUdp;
    type Tcp = <TokioRuntimeProvider as RuntimeProvider>::Tcp;

    fn create_handle(&self) -> Self::Handle {
        self.0.create_handle()
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = std::io::Result<Self::Tcp>>>> {
        self.0.connect_tcp(server_addr, bind_addr, timeout)
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = std::io::Result<Self::Udp>>>> {
        Box::pin(async move {
            let socket = tokio::net::UdpSocket::bind(local_addr).await?;
            socket.connect(server_addr).await?;
            Ok(RefusableUdp(socket))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_server_forms() {
        assert_eq!(
            "127.0.0.1".parse::<NameServer>().unwrap().0,
            "127.0.0.1:53".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            "127.0.0.1:5353".parse::<NameServer>().unwrap().0.port(),
            5353
        );
        assert_eq!(
            "[::1]:5353".parse::<NameServer>().unwrap().0,
            "[::1]:5353".parse::<SocketAddr>().unwrap()
        );
        assert_eq!("::1".parse::<NameServer>().unwrap().0.port(), 53);
        assert!("dns.example".parse::<NameServer>().is_err());
    }

    #[tokio::test]
    async fn ip_literals_need_no_lookup() {
        // A server on a port where nothing listens: an IP literal must not query it.
        let r = Resolver::with_server("127.0.0.1:9".parse().unwrap(), Duration::from_millis(200));
        assert_eq!(
            r.lookup_addrs("127.0.0.7", 25).await.unwrap(),
            vec!["127.0.0.7:25".parse().unwrap()]
        );
        assert_eq!(
            r.lookup_addrs("[::1]", 25).await.unwrap(),
            vec!["[::1]:25".parse().unwrap()]
        );
    }

    #[tokio::test]
    async fn a_closed_name_server_port_is_refused_at_once() {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = Resolver::with_server(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(5),
        );
        let t0 = std::time::Instant::now();
        let e = r.mx("example.test").await.unwrap_err();
        assert!(matches!(e, LookupError::Refused { .. }), "{e:?}");
        assert!(e.is_silence());
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    }

    #[test]
    fn host_names_lose_the_root_dot() {
        assert_eq!(host_of("Mail.Example.com."), "mail.example.com");
        assert_eq!(host_of("."), ".");
    }
}
