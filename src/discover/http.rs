//! The HTTP(S) client of discovery: reqwest over rustls with the ring provider, trusting the
//! public roots plus `--ca-file`; host names resolved through the run's [`Resolver`] (so
//! `--dns-server` applies, and never the system resolver when it is given); `--connect-to`
//! applied as curl does; redirects followed by hand (at most [`MAX_REDIRECTS`], each hop
//! recorded, any http hop making the answer untrusted); bodies capped at [`BODY_LIMIT`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{redirect, Client, StatusCode};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;

use super::DiscoveryConfig;
use crate::net::resolver::Resolver;
use crate::plan::ConnectTo;

/// Largest document accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Most redirects followed for one GET.
pub const MAX_REDIRECTS: usize = 3;

/// A finished exchange.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Every URL asked, the last one answered.
    pub chain: Vec<String>,
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
    /// Every hop was https (with a certificate that verified: otherwise there is no answer).
    pub trusted: bool,
}

impl Fetched {
    pub fn final_url(&self) -> &str {
        self.chain.last().map(String::as_str).unwrap_or("")
    }
}

pub struct Http {
    https: Client,
    http: Client,
    timeout: Duration,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

/// Host names → addresses through our resolver, after `--connect-to`. The port returned is the
/// scheme's default unless a rule moves it; reqwest puts an explicit URL port over it.
struct Bridge {
    resolver: Resolver,
    rules: Vec<ConnectTo>,
    default_port: u16,
}

impl Resolve for Bridge {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.resolver.clone();
        let (host, port) = ConnectTo::resolve(&self.rules, name.as_str(), self.default_port);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = resolver.lookup_addrs(&host, port).await.map_err(
                |e| -> Box<dyn std::error::Error + Send + Sync> {
                    format!("cannot resolve {host}: {e}").into()
                },
            )?;
            let it: Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

fn tls_config(ca_file: Option<&Path>) -> anyhow::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in load_certificates(path)? {
            roots
                .add(cert)
                .with_context(|| format!("a certificate of {} is not a CA", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// PEM bundle, or a single DER certificate (as `--ca-file` accepts for the probes).
fn load_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject;
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read CA file {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot parse PEM in CA file {}", path.display()))?;
    if !certs.is_empty() {
        return Ok(certs);
    }
    if bytes.first() == Some(&0x30) {
        return Ok(vec![CertificateDer::from(bytes)]);
    }
    anyhow::bail!("no certificate found in CA file {}", path.display())
}

impl Http {
    pub fn new(cfg: &DiscoveryConfig) -> anyhow::Result<Http> {
        let tls = tls_config(cfg.ca_file.as_deref())?;
        let timeout = cfg.step_timeout();
        let build = |default_port: u16| -> anyhow::Result<Client> {
            Client::builder()
                .tls_backend_preconfigured(tls.clone())
                .dns_resolver(Arc::new(Bridge {
                    resolver: cfg.resolver.clone(),
                    rules: cfg.connect_to.clone(),
                    default_port,
                }))
                .redirect(redirect::Policy::none())
                .no_proxy()
                .connect_timeout(timeout)
                .timeout(timeout)
                .user_agent(concat!("mailcheck/", env!("CARGO_PKG_VERSION")))
                .build()
                .context("building the HTTP client")
        };
        Ok(Http {
            https: build(443)?,
            http: build(80)?,
            timeout,
        })
    }

    fn client(&self, url: &reqwest::Url) -> Result<&Client, String> {
        match url.scheme() {
            "https" => Ok(&self.https),
            "http" => Ok(&self.http),
            s => Err(format!("unsupported URL scheme {s:?}")),
        }
    }

    /// One request, no redirect followed.
    async fn once(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<String>,
    ) -> Result<(u16, Option<String>, Vec<u8>), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL {url:?}: {e}"))?;
        let client = self.client(&parsed)?;
        let mut req = client.request(method, parsed);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
                .body(b);
        }
        let fut = async {
            let mut resp = req.send().await.map_err(describe)?;
            let status = resp.status();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if resp.content_length().is_some_and(|n| n > BODY_LIMIT as u64) {
                return Err(format!("document larger than {BODY_LIMIT} bytes"));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(describe)? {
                if body.len() + chunk.len() > BODY_LIMIT {
                    return Err(format!("document larger than {BODY_LIMIT} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status.as_u16(), location, body))
        };
        // The client's own timeout covers the request; this one also bounds resolution.
        match tokio::time::timeout(self.timeout + Duration::from_millis(100), fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    /// GET, following redirects by hand.
    pub async fn get(&self, url: &str) -> Result<Fetched, String> {
        let mut chain = vec![url.to_string()];
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let (status, location, body) = self.once(reqwest::Method::GET, &current, None).await?;
            let is_redirect = StatusCode::from_u16(status).is_ok_and(|s| s.is_redirection());
            match (is_redirect, location) {
                (true, Some(loc)) => {
                    let next = reqwest::Url::parse(&current)
                        .and_then(|base| base.join(&loc))
                        .map_err(|e| format!("bad redirect {loc:?}: {e}"))?;
                    current = next.to_string();
                    chain.push(current.clone());
                }
                (_, location) => {
                    let trusted = chain.iter().all(|u| u.starts_with("https://"));
                    return Ok(Fetched {
                        chain,
                        status,
                        location,
                        body,
                        trusted,
                    });
                }
            }
        }
        Err(format!(
            "more than {MAX_REDIRECTS} redirects: {}",
            chain.join(" -> ")
        ))
    }

    /// GET without following a redirect (Autodiscover's http redirect form).
    pub async fn get_no_follow(&self, url: &str) -> Result<Fetched, String> {
        let (status, location, body) = self.once(reqwest::Method::GET, url, None).await?;
        Ok(Fetched {
            chain: vec![url.to_string()],
            status,
            location,
            body,
            trusted: url.starts_with("https://"),
        })
    }

    /// POST an XML body; redirects are not followed (Autodiscover handles its own).
    pub async fn post_xml(&self, url: &str, body: String) -> Result<Fetched, String> {
        let (status, location, body) = self.once(reqwest::Method::POST, url, Some(body)).await?;
        Ok(Fetched {
            chain: vec![url.to_string()],
            status,
            location,
            body,
            trusted: url.starts_with("https://"),
        })
    }
}

/// What [`describe`] puts first for a certificate or handshake failure.
pub const TLS_FAILURE: &str = "TLS failure";
/// What [`describe`] puts first when nothing could be reached.
pub const CANNOT_CONNECT: &str = "cannot connect";

/// Whether an error of this client (as [`describe`] words it, maybe after a `URL: ` prefix)
/// only says that nothing is there: no such host, nothing listening. A TLS failure is not
/// that: a server answered, and its certificate or handshake is wrong.
pub fn is_unreachable(e: &str) -> bool {
    e.starts_with(CANNOT_CONNECT) || e.contains(&format!(": {CANNOT_CONNECT}"))
}

/// The rustls error somewhere in an error's causes. hyper wraps it in an `io::Error`, whose
/// `source()` skips the wrapped error, so each `io::Error` is opened by hand.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(t) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| tls_error(inner))
        {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// reqwest's error, with its causes (the TLS or DNS reason is in the chain). reqwest reports a
/// refused certificate as a connect error; it is told apart here, as [`TLS_FAILURE`].
fn describe(e: reqwest::Error) -> String {
    if let Some(t) = tls_error(&e) {
        // "invalid peer certificate: UnknownIssuer", "received fatal alert: ...".
        return format!("{TLS_FAILURE}: {t}");
    }
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        CANNOT_CONNECT.to_string()
    } else {
        "request failed".to_string()
    };
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    let mut last = String::new();
    while let Some(inner) = src {
        let text = inner.to_string();
        if text != last && !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        last = text;
        src = inner.source();
    }
    s
}
