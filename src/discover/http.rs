//! The HTTP(S) client of discovery: reqwest over rustls with the ring provider, trusting the
//! public roots plus `--ca-file`; host names resolved through the run's [`Resolver`] (so
//! `--dns-server` applies, and never the system resolver when it is given); `--connect-to`
//! applied as curl does; redirects followed by hand, in one place ([`Http::follow`], for the
//! GETs and the Autodiscover POST: each hop recorded, any http hop making the answer
//! untrusted); bodies capped at [`BODY_LIMIT`]. Failures are an [`HttpError`], whose variants
//! callers match (absent, TLS, redirect refused...) and whose text is the reports' detail.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{redirect, Client};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;

use super::cache::{self, DiscoveryCache, Scope};
use super::DiscoveryConfig;
use crate::model::ConnectTo;
use crate::net::resolver::{LookupError, Resolver};

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
    /// How long the answer may be kept, as its `Cache-Control` says ([`cache::cache_control`]).
    pub cache_for: Option<Duration>,
}

impl Fetched {
    pub fn final_url(&self) -> &str {
        self.chain.last().map(String::as_str).unwrap_or("")
    }

    /// The body of a 200 answer; any other status is [`HttpError::Status`].
    pub fn ok(&self) -> Result<&[u8], HttpError> {
        match self.status {
            200 => Ok(&self.body),
            status => Err(HttpError::Status { status }),
        }
    }
}

/// Why a request gave no usable answer. `Display` is the detail the reports show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("bad URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("unsupported URL scheme {scheme:?}")]
    UnsupportedScheme { scheme: String },
    /// The server answered, with another status than the caller wanted.
    #[error("HTTP {status}")]
    Status { status: u16 },
    /// The certificate or the handshake was refused: a server is there, and is wrong.
    #[error("{TLS_FAILURE}: {reason}")]
    Tls {
        /// rustls's words: "invalid peer certificate: UnknownIssuer".
        reason: String,
    },
    /// Nothing to talk to: the name did not resolve, or nothing listened.
    #[error("{detail}")]
    Unreachable {
        detail: String,
        /// The resolver's own error, when the host name is what failed.
        lookup: Option<LookupError>,
    },
    /// No answer in time.
    #[error("{detail}")]
    Timeout { detail: String },
    #[error("document larger than {BODY_LIMIT} bytes")]
    TooLarge,
    /// The chain of redirects went past its limit: every URL asked, and the next one.
    #[error("more than {limit} redirects: {}", chain.join(" -> "))]
    TooManyRedirects { limit: usize, chain: Vec<String> },
    #[error("HTTP {status} without a Location")]
    RedirectWithoutLocation { status: u16 },
    #[error("bad redirect {location:?}: {reason}")]
    BadRedirect { location: String, reason: String },
    /// A redirect of a request carrying the address to a URL that is not https.
    #[error("HTTP {status} to non-https {to}, refused (the address would go out in clear)")]
    RedirectRefused { status: u16, to: String },
    /// The answer came, but is no document of the kind asked for.
    #[error("{reason}")]
    BadBody { reason: String },
    /// Anything else reqwest reports.
    #[error("{detail}")]
    Failed { detail: String },
}

impl HttpError {
    /// Nothing is there: a 404, a host that does not resolve, nothing listening. Not a fault
    /// of the domain's setup, unlike a TLS failure (a server answered, and its certificate or
    /// handshake is wrong) or a broken document. A silent DNS server leaves a host unresolved
    /// too: [`super::Obstacle::of_http`] tells that apart for the conclusion.
    pub fn is_absent(&self) -> bool {
        match self {
            HttpError::Status { status } => *status == 404,
            HttpError::Unreachable { .. } => true,
            _ => false,
        }
    }
}

/// Which answers are redirects to follow: the ones that say "ask there instead". 303 is
/// followed with the same method: Autodiscover servers that answer the POST with it want it
/// posted again.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Where an answer sends the request next: `None` when it is not a redirect.
pub fn next_hop(current: &str, fetched: &Fetched) -> Result<Option<reqwest::Url>, HttpError> {
    if !is_redirect(fetched.status) {
        return Ok(None);
    }
    let Some(location) = &fetched.location else {
        return Err(HttpError::RedirectWithoutLocation {
            status: fetched.status,
        });
    };
    reqwest::Url::parse(current)
        .and_then(|base| base.join(location))
        .map(Some)
        .map_err(|e| HttpError::BadRedirect {
            location: location.clone(),
            reason: e.to_string(),
        })
}

/// How a chain of redirects may go on.
pub struct Redirects<'a> {
    /// Most redirects in the whole chain.
    pub limit: usize,
    /// Redirects already taken: Autodiscover counts its redirect answers here too.
    pub taken: &'a mut usize,
    /// Refuse a redirect to a URL that is not https (the request carries the address).
    pub https_only: bool,
    /// Told of each redirect taken: its status and the next URL.
    pub on_hop: &'a mut (dyn FnMut(u16, &str) + Send),
}

#[derive(Clone)]
pub struct Http {
    https: Client,
    http: Client,
    timeout: Duration,
    /// The process's cache, and what of this client's settings its answers depend on.
    memo: Option<(Arc<DiscoveryCache>, Scope)>,
    /// Set when an answer came from the cache.
    served_from_cache: Arc<AtomicBool>,
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
                |error| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(Unresolved { host, error })
                },
            )?;
            let it: Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// A host name the resolver could not turn into addresses; found again in reqwest's error
/// chain, so that a silent DNS server is told from a host that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {host}: {error}")]
struct Unresolved {
    host: String,
    error: LookupError,
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

/// A reqwest client as discovery's: the public roots and `--ca-file`, names through our
/// resolver after `--connect-to` (`default_port` when the URL has none), no redirects followed,
/// no proxy. Also the OAuth2 sign-in's (`crate::oauth2`).
pub fn client(
    cfg: &DiscoveryConfig,
    default_port: u16,
    timeout: Duration,
) -> anyhow::Result<Client> {
    Client::builder()
        .tls_backend_preconfigured(tls_config(cfg.ca_file.as_deref())?)
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
}

/// A failed request in words, its TLS or DNS cause included.
pub fn describe_error(e: reqwest::Error) -> String {
    describe(e).to_string()
}

impl Http {
    /// A client; with `cache`, every request is asked of it first (see [`cache`]).
    pub fn new(cfg: &DiscoveryConfig, cache: Option<Arc<DiscoveryCache>>) -> anyhow::Result<Http> {
        let timeout = cfg.step_timeout();
        let scope = Scope {
            resolver: cfg.resolver.server(),
            ca_file: cfg.ca_file.clone(),
            connect_to: cfg.connect_to.iter().map(|r| format!("{r:?}")).collect(),
        };
        Ok(Http {
            https: client(cfg, 443, timeout)?,
            http: client(cfg, 80, timeout)?,
            timeout,
            memo: cache.map(|c| (c, scope)),
            served_from_cache: Arc::default(),
        })
    }

    /// Whether any answer this client gave came from the cache.
    pub fn served_from_cache(&self) -> bool {
        self.served_from_cache.load(Ordering::Relaxed)
    }

    fn client(&self, url: &reqwest::Url) -> Result<&Client, HttpError> {
        match url.scheme() {
            "https" => Ok(&self.https),
            "http" => Ok(&self.http),
            s => Err(HttpError::UnsupportedScheme {
                scheme: s.to_string(),
            }),
        }
    }

    /// One request, no redirect followed; through the cache when there is one.
    async fn once(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<String>,
    ) -> Result<Fetched, HttpError> {
        let Some((cache, scope)) = &self.memo else {
            return self.request(method, url, body).await;
        };
        let fetch = {
            let this = self.clone();
            let (method, url, body) = (method.clone(), url.to_string(), body.clone());
            async move { this.request(method, &url, body).await }
        };
        let (answer, cached) = cache
            .answer(scope, &method, url, body.as_deref(), fetch)
            .await;
        if cached {
            self.served_from_cache.store(true, Ordering::Relaxed);
        }
        answer
    }

    /// One request on the wire.
    async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<String>,
    ) -> Result<Fetched, HttpError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| HttpError::BadUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
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
            let cache_for = resp
                .headers()
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .and_then(cache::cache_control);
            if resp.content_length().is_some_and(|n| n > BODY_LIMIT as u64) {
                return Err(HttpError::TooLarge);
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(describe)? {
                if body.len() + chunk.len() > BODY_LIMIT {
                    return Err(HttpError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched {
                chain: vec![url.to_string()],
                status: status.as_u16(),
                location,
                body,
                trusted: url.starts_with("https://"),
                cache_for,
            })
        };
        // The client's own timeout covers the request; this one also bounds resolution.
        match tokio::time::timeout(self.timeout + Duration::from_millis(100), fut).await {
            Ok(r) => r,
            Err(_) => Err(HttpError::Timeout {
                detail: format!("no answer within {} ms", self.timeout.as_millis()),
            }),
        }
    }

    /// `method` to `url`, following redirects as `redirects` allows: the one redirect
    /// follower of discovery, for the GETs and the Autodiscover POST.
    pub async fn follow(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<String>,
        redirects: Redirects<'_>,
    ) -> Result<Fetched, HttpError> {
        let Redirects {
            limit,
            taken,
            https_only,
            on_hop,
        } = redirects;
        let mut chain = vec![url.to_string()];
        loop {
            let current = chain.last().cloned().unwrap_or_default();
            let got = self.once(method.clone(), &current, body.clone()).await?;
            let Some(next) = next_hop(&current, &got)? else {
                let trusted = chain.iter().all(|u| u.starts_with("https://"));
                return Ok(Fetched {
                    chain,
                    trusted,
                    ..got
                });
            };
            if https_only && next.scheme() != "https" {
                return Err(HttpError::RedirectRefused {
                    status: got.status,
                    to: next.to_string(),
                });
            }
            chain.push(next.to_string());
            *taken += 1;
            if *taken > limit {
                return Err(HttpError::TooManyRedirects { limit, chain });
            }
            on_hop(got.status, next.as_str());
        }
    }

    /// GET, following at most [`MAX_REDIRECTS`] redirects.
    pub async fn get(&self, url: &str) -> Result<Fetched, HttpError> {
        let redirects = Redirects {
            limit: MAX_REDIRECTS,
            taken: &mut 0,
            https_only: false,
            on_hop: &mut |_, _| {},
        };
        self.follow(reqwest::Method::GET, url, None, redirects)
            .await
    }

    /// GET without following a redirect (Autodiscover's http redirect form).
    pub async fn get_no_follow(&self, url: &str) -> Result<Fetched, HttpError> {
        self.once(reqwest::Method::GET, url, None).await
    }
}

/// What [`describe`] puts first for a certificate or handshake failure.
pub const TLS_FAILURE: &str = "TLS failure";
/// What [`describe`] puts first when nothing could be reached (resolution included).
pub const CANNOT_CONNECT: &str = "cannot connect";

/// The first error of type `E` in an error's causes. hyper wraps errors in an `io::Error`,
/// whose `source()` skips the wrapped error, so each `io::Error` is opened by hand.
fn find_cause<'a, E: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<E>() {
            return Some(t);
        }
        if let Some(t) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| find_cause::<E>(inner))
        {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// reqwest's error, with its causes (the TLS or DNS reason is in the chain). reqwest reports a
/// refused certificate as a connect error; it is told apart here, as [`HttpError::Tls`].
fn describe(e: reqwest::Error) -> HttpError {
    if let Some(t) = find_cause::<rustls::Error>(&e) {
        // "invalid peer certificate: UnknownIssuer", "received fatal alert: ...".
        return HttpError::Tls {
            reason: t.to_string(),
        };
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
    if e.is_timeout() {
        HttpError::Timeout { detail: s }
    } else if e.is_connect() {
        HttpError::Unreachable {
            detail: s,
            lookup: find_cause::<Unresolved>(&e).map(|u| u.error.clone()),
        }
    } else {
        HttpError::Failed { detail: s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words are the reports' detail strings, as they read before the errors were typed.
    #[test]
    fn errors_read_as_the_details_always_did() {
        let cases = [
            (HttpError::Status { status: 404 }, "HTTP 404"),
            (
                HttpError::Tls {
                    reason: "invalid peer certificate: UnknownIssuer".into(),
                },
                "TLS failure: invalid peer certificate: UnknownIssuer",
            ),
            (HttpError::TooLarge, "document larger than 1048576 bytes"),
            (
                HttpError::TooManyRedirects {
                    limit: 3,
                    chain: vec!["https://a/".into(), "https://b/".into()],
                },
                "more than 3 redirects: https://a/ -> https://b/",
            ),
            (
                HttpError::RedirectRefused {
                    status: 307,
                    to: "http://b/x".into(),
                },
                "HTTP 307 to non-https http://b/x, refused (the address would go out in clear)",
            ),
            (
                HttpError::RedirectWithoutLocation { status: 302 },
                "HTTP 302 without a Location",
            ),
            (
                HttpError::UnsupportedScheme {
                    scheme: "ftp".into(),
                },
                "unsupported URL scheme \"ftp\"",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn only_nothing_there_is_absent() {
        assert!(HttpError::Status { status: 404 }.is_absent());
        assert!(HttpError::Unreachable {
            detail: "cannot connect".into(),
            lookup: None
        }
        .is_absent());
        assert!(!HttpError::Status { status: 500 }.is_absent());
        assert!(!HttpError::Tls { reason: "x".into() }.is_absent());
    }

    #[test]
    fn redirects_and_where_they_lead() {
        let answer = |status: u16, location: Option<&str>| Fetched {
            chain: vec![],
            status,
            location: location.map(str::to_string),
            body: vec![],
            trusted: true,
            cache_for: None,
        };
        let base = "https://a.test/x/y.xml";
        assert_eq!(next_hop(base, &answer(200, Some("/z"))), Ok(None));
        assert_eq!(next_hop(base, &answer(304, Some("/z"))), Ok(None));
        for status in [301, 302, 303, 307, 308] {
            assert_eq!(
                next_hop(base, &answer(status, Some("z.xml")))
                    .unwrap()
                    .map(String::from),
                Some("https://a.test/x/z.xml".to_string())
            );
        }
        assert_eq!(
            next_hop(base, &answer(302, None)),
            Err(HttpError::RedirectWithoutLocation { status: 302 })
        );
    }
}
