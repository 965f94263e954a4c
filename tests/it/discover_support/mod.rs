//! Fixtures for the discovery tests: a test CA (made at run time with rcgen, never written to
//! the repository), a loopback DNS responder and a loopback web server, all running on a
//! background tokio runtime owned by [`Lab`], so blocking tests (assert_cmd) can use them.

#![allow(dead_code)]

pub mod dns;
pub mod mail;
pub mod nginx;
pub mod web;

use std::io::Write as _;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub use dns::{DnsServer, Zone};
pub use web::{route, Reply, Routes, WebServer};

pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

pub struct Leaf {
    pub der: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    /// The same certificate and key in PEM, for servers configured by files (nginx).
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new() -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CommonName, "Discovery Test CA");
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            der: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let leaf = self.leaf(names);
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der], leaf.key)
            .unwrap(),
        )
    }

    /// The CA certificate in a temp file, for `--ca-file`.
    pub fn file(&self) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(self.pem.as_bytes()).unwrap();
        f.flush().unwrap();
        f
    }
}

/// Names the test web server's certificate covers.
pub const WEB_NAMES: &[&str] = &[
    "autoconfig.lab.test",
    "lab.test",
    "autodiscover.lab.test",
    "ispdb.test",
    "autoconfig.mailhost.test",
    "mailhost.test",
    "autoconfig.mail.mailhost.test",
    "mail.mailhost.test",
    "adsrv.lab.test",
    "autodiscover.other.test",
    "autoconfig.xn--bcher-kva.test",
    "xn--bcher-kva.test",
];

/// DNS + web server + CA, on a runtime of their own.
pub struct Lab {
    pub rt: tokio::runtime::Runtime,
    pub ca: Ca,
    pub ca_file: tempfile::NamedTempFile,
    pub dns: DnsServer,
    pub web: WebServer,
}

impl Lab {
    /// Every name in `WEB_NAMES` that the test wants served must also get an A record in
    /// `zone` (the tests use 127.0.0.1).
    pub fn start(zone: Zone, routes: Routes) -> Lab {
        Lab::start_with(zone, |_, _| routes)
    }

    /// Like [`Lab::start`], with the routes made once the runtime and CA exist (so that
    /// servers started by `make` can be named in the documents served).
    pub fn start_with(
        zone: Zone,
        make: impl FnOnce(&tokio::runtime::Runtime, &Ca) -> Routes,
    ) -> Lab {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ca = Ca::new();
        let routes = make(&rt, &ca);
        let tls = ca.server_config(WEB_NAMES);
        let (dns, web) = rt.block_on(async {
            (
                DnsServer::start(zone).await,
                WebServer::start(routes, tls).await,
            )
        });
        let ca_file = ca.file();
        Lab {
            rt,
            ca,
            ca_file,
            dns,
            web,
        }
    }

    /// A lab whose only web document is `doc`, the https autoconfig of lab.test
    /// (`https://autoconfig.lab.test/mail/config-v1.1.xml`).
    pub fn serving_autoconfig(zone: Zone, doc: &str) -> Lab {
        let mut routes = Routes::new();
        routes.insert(
            route(
                "GET",
                "https",
                "autoconfig.lab.test",
                "/mail/config-v1.1.xml",
            ),
            Reply::xml(doc),
        );
        Lab::start(zone, routes)
    }

    /// The web server's CA and the PEM file `other` (the mail servers' CA) in one file, for
    /// the one `--ca-file` both discovery and the probe use.
    pub fn ca_bundle_with(&self, other: &std::path::Path) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let other = std::fs::read_to_string(other).unwrap();
        write!(f, "{}{other}", self.ca.pem).unwrap();
        f.flush().unwrap();
        f
    }

    /// `--connect-to` rules sending every https (443) and http (80) connection to the test
    /// web server's ports; host names still resolve through the test DNS.
    pub fn connect_to(&self) -> Vec<String> {
        vec![
            format!(":443::{}", self.web.https.port()),
            format!(":80::{}", self.web.http.port()),
        ]
    }
}
