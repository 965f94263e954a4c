//! DNSSEC validation of discovery's DNS answers, against a real NSD serving zones signed during
//! the test (`support::nsd`), with the parent zone `test.` as the trust anchor. Everything
//! stays on 127.0.0.0/8: NSD on 127.0.0.1, the test Dovecot on 127.0.0.2.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use assert_cmd::Command;
use mailcheck::net::resolver::{Dnssec, LookupError, Resolver, TrustAnchor};
use serde_json::Value;

use crate::support::nsd::{Nsd, Zone};
use crate::support::schema::assert_schema;
use crate::support::servers::{MailServers, SNI_SELF_SIGNED};

/// The SRV record every domain below publishes, to the test Dovecot's IMAPS port.
fn srv(port: u16) -> String {
    format!("_imaps._tcp SRV 0 1 {port} mail.provider.test.")
}

/// One NSD for the module: `signed.test` (validated, its SRV target in `provider.test`),
/// `tampered.test` (its SRV changed after signing), `plain.test` (an unsigned delegation).
fn nsd() -> &'static Nsd {
    static NSD: OnceLock<Nsd> = OnceLock::new();
    NSD.get_or_init(|| {
        let port = MailServers::get().imaps;
        Nsd::start(
            "test",
            vec![
                Zone::signed("provider.test").with("mail A 127.0.0.2"),
                Zone::signed("signed.test").with(srv(port)),
                Zone::signed("tampered.test").with(srv(port)).tampered(
                    format!("SRV\t0 1 {port} "),
                    format!("SRV\t0 1 {} ", port + 1),
                ),
                Zone::unsigned("plain.test").with(srv(port)),
            ],
        )
        .unwrap_or_else(|e| panic!("starting NSD: {e}"))
    })
}

fn resolver(anchor: Option<&std::path::Path>) -> Resolver {
    let anchor = anchor.map(|p| Arc::new(TrustAnchor::read(p).unwrap()));
    Resolver::with_server(nsd().addr, Duration::from_secs(3)).with_trust_anchor(anchor)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn signed_answers_validate_from_a_ds_or_a_dnskey_anchor() {
    let nsd = nsd();
    for anchor in [&nsd.anchor_ds, &nsd.anchor_dnskey] {
        let r = resolver(Some(anchor));
        let a = block_on(r.srv("_imaps._tcp.signed.test")).unwrap();
        assert_eq!(a.dnssec, Dnssec::Validated, "{anchor:?}");
        assert_eq!(a.records[0].target, "mail.provider.test");
        let addrs = block_on(r.addrs("mail.provider.test", 993)).unwrap();
        assert_eq!(addrs.dnssec, Dnssec::Validated);
        assert_eq!(addrs.records, vec!["127.0.0.2:993".parse().unwrap()]);
    }
}

#[test]
fn an_unsigned_delegation_is_insecure_and_a_tampered_record_bogus() {
    let r = resolver(Some(&nsd().anchor_ds));
    let a = block_on(r.srv("_imaps._tcp.plain.test")).unwrap();
    assert_eq!(a.dnssec, Dnssec::Insecure);
    let e = block_on(r.srv("_imaps._tcp.tampered.test")).unwrap_err();
    assert!(matches!(e, LookupError::Bogus { .. }), "{e:?}");
    assert!(e.to_string().contains("bogus"), "{e}");
    // A proven absence is an absence.
    let e = block_on(r.srv("_pop3s._tcp.signed.test")).unwrap_err();
    assert!(matches!(e, LookupError::NotFound { .. }), "{e:?}");
}

/// Without an anchor for `test.`, the root's keys are asked of NSD, which does not serve the
/// root: nothing can be validated, and the answers stay usable, unchecked, as before.
#[test]
fn without_a_usable_anchor_answers_are_unchecked() {
    let r = resolver(None);
    let a = block_on(r.srv("_imaps._tcp.signed.test")).unwrap();
    assert_eq!(a.dnssec, Dnssec::Unchecked);
    let a = block_on(r.srv("_imaps._tcp.tampered.test")).unwrap();
    assert_eq!(a.dnssec, Dnssec::Unchecked);
}

fn mailcheck(sub: &str, address: &str) -> Command {
    let nsd = nsd();
    let mut c = Command::cargo_bin("mailcheck").unwrap();
    c.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .args([sub, address])
        .args(["--dns-server", &nsd.addr.to_string()])
        .args(["--dns-trust-anchor", nsd.anchor_ds.to_str().unwrap()])
        .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
        .args(["--discovery-timeout", "5s"]);
    c
}

fn discover_json(address: &str) -> Value {
    let out = mailcheck("discover", address)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_schema("discover", &v);
    v
}

fn srv_source(v: &Value) -> &Value {
    v["discovery"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "srv")
        .unwrap()
}

/// RFC 6186 §6: a validated SRV record vouches for its target, here outside the domain.
#[test]
fn discover_trusts_a_validated_srv_target_outside_the_domain() {
    let v = discover_json("alice@signed.test");
    let srv = srv_source(&v);
    assert_eq!(srv["status"], "answered", "{srv:#}");
    let c = &srv["candidates"][0];
    assert_eq!(c["host"], "mail.provider.test");
    assert_eq!(c["dnssec"], "validated", "{c:#}");
    assert_eq!(c["trusted"], true, "{c:#}");
    assert!(!c["note_codes"].to_string().contains("no-dnssec"), "{c:#}");
    assert_eq!(v["discovery"]["winners"]["imap"], "srv");
    // No TLSA record there: no DANE note.
    assert!(
        !v["discovery"]["selected"].to_string().contains("dane-tlsa"),
        "{v:#}"
    );

    // The unsigned domain's same record: insecure, untrusted, as before.
    let v = discover_json("alice@plain.test");
    let c = &srv_source(&v)["candidates"][0];
    assert_eq!(c["dnssec"], "insecure", "{c:#}");
    assert_eq!(c["trusted"], false, "{c:#}");
    assert!(c["note_codes"].to_string().contains("no-dnssec"), "{c:#}");
}

#[test]
fn discover_reports_a_bogus_srv_answer_and_does_not_use_it() {
    let v = discover_json("alice@tampered.test");
    let srv = srv_source(&v);
    assert_eq!(srv["status"], "failed", "{srv:#}");
    assert_eq!(srv["candidates"].as_array().unwrap().len(), 0, "{srv:#}");
    assert!(
        srv["note_codes"].to_string().contains("dnssec-bogus"),
        "{srv:#}"
    );
    assert!(srv["detail"].as_str().unwrap().contains("bogus"), "{srv:#}");
    assert!(v["discovery"]["winners"].get("imap").is_none(), "{v:#}");
}

/// The credential decision follows: the validated foreign target may get the password, the
/// unvalidated one may not (without --trust-discovered).
#[test]
fn credentials_go_to_a_validated_srv_target_only() {
    for (address, kind) in [
        ("alice@signed.test", "password"),
        ("alice@plain.test", "none"),
    ] {
        let out = mailcheck("probe", address)
            .env("MAILCHECK_PASSWORD", "dnssec-test-secret")
            .args(["--no-prompt", "--format", "json", "--connect-timeout", "2s"])
            .args(["--only", "imap"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("dnssec-test-secret"));
        let v: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_schema("probe", &v);
        assert_eq!(v["credential"]["kind"], kind, "{address}: {v:#}");
    }
}

/// SHA-256 of the SubjectPublicKeyInfo of the PEM certificate at `path` (TLSA 3 1 1 data).
fn spki_sha256(path: &std::path::Path) -> String {
    use rustls_pki_types::pem::PemObject;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let der = rustls_pki_types::CertificateDer::from_pem_file(path).unwrap();
    let (_, cert) = X509Certificate::from_der(der.as_ref()).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.tbs_certificate.subject_pki.raw);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `lab.test` signed, its SRV records pointing at the test Dovecot: IMAPS at
/// `selfsigned.lab.test` (Dovecot's self-signed certificate, named by a DANE-EE record), IMAP
/// with STARTTLS at `mail.lab.test` with a TLSA record naming another key, POP3S at
/// `mail.lab.test` with a DANE-EE record naming its (test-CA) key.
fn dane_nsd() -> &'static Nsd {
    static NSD: OnceLock<Nsd> = OnceLock::new();
    NSD.get_or_init(|| {
        let s = MailServers::get();
        let tls_dir = s.ca_pem.parent().unwrap();
        let server = spki_sha256(&tls_dir.join("server.crt"));
        let selfsigned = spki_sha256(&tls_dir.join(format!("{SNI_SELF_SIGNED}.crt")));
        let zone = Zone::signed("lab.test")
            .with("mail A 127.0.0.2")
            .with("selfsigned A 127.0.0.2")
            .with(format!(
                "_imaps._tcp SRV 0 1 {} selfsigned.lab.test.",
                s.imaps
            ))
            .with(format!("_imap._tcp SRV 0 1 {} mail.lab.test.", s.imap))
            .with(format!("_pop3s._tcp SRV 0 1 {} mail.lab.test.", s.pop3s))
            .with(format!(
                "_{}._tcp.selfsigned TLSA 3 1 1 {selfsigned}",
                s.imaps
            ))
            .with(format!(
                "_{}._tcp.mail TLSA 3 1 1 {}",
                s.imap,
                "00".repeat(32)
            ))
            .with(format!("_{}._tcp.mail TLSA 3 1 1 {server}", s.pop3s));
        Nsd::start("test", vec![zone]).unwrap_or_else(|e| panic!("starting NSD: {e}"))
    })
}

fn result<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result {id} in {doc:#}"))
}

/// DANE on every TLS combination of a DNSSEC-signed, SRV-only domain: a DANE-EE match makes a
/// self-signed certificate verified (the login goes ahead), a mismatch withholds the password
/// even from a certificate the CA vouches for, and a match is reported.
#[test]
fn dane_verifies_a_self_signed_certificate_and_a_mismatch_withholds_credentials() {
    let s = MailServers::get();
    let nsd = dane_nsd();
    let alice = s.user("alice");
    let out = Command::cargo_bin("mailcheck")
        .unwrap()
        .env("MAILCHECK_PASSWORD", &alice.password)
        .env("NO_COLOR", "1")
        .args(["probe", &alice.address, "--no-prompt", "--format", "json"])
        .args(["--dns-server", &nsd.addr.to_string()])
        .args(["--dns-trust-anchor", nsd.anchor_ds.to_str().unwrap()])
        .args(["--ca-file", s.ca_pem.to_str().unwrap()])
        .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
        .args(["--discovery-timeout", "5s", "--connect-timeout", "2s"])
        .args(["--only", "imap", "--only", "pop3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(&alice.password));
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_schema("probe", &doc);

    // The SRV targets were validated: the password may go to them.
    assert_eq!(doc["credential"]["kind"], "password", "{doc:#}");

    let imaps = result(&doc, &format!("imap/{}/tls", s.imaps));
    assert_eq!(
        imaps["tls"]["verification"]["status"], "self-signed",
        "{imaps:#}"
    );
    let dane = &imaps["tls"]["dane"];
    assert_eq!(dane["status"], "match", "{imaps:#}");
    assert_eq!(dane["usage"], 3);
    assert_eq!(
        dane["tlsa_name"],
        format!("_{}._tcp.selfsigned.lab.test", s.imaps)
    );
    assert_eq!(imaps["auth"]["status"], "succeeded", "{imaps:#}");

    let imap = result(&doc, &format!("imap/{}/starttls", s.imap));
    assert_eq!(imap["tls"]["verification"]["status"], "valid", "{imap:#}");
    assert_eq!(imap["tls"]["dane"]["status"], "mismatch", "{imap:#}");
    assert_eq!(imap["reason"]["code"], "tls.dane-mismatch", "{imap:#}");
    assert_eq!(imap["auth"]["why"], "certificate-not-trusted", "{imap:#}");

    let pop3s = result(&doc, &format!("pop3/{}/tls", s.pop3s));
    assert_eq!(pop3s["tls"]["verification"]["status"], "valid", "{pop3s:#}");
    assert_eq!(pop3s["tls"]["dane"]["status"], "match", "{pop3s:#}");
    assert_eq!(pop3s["auth"]["status"], "succeeded", "{pop3s:#}");
    assert_eq!(s.failed_logins(&alice.address), 0);
}

/// `mailcheck discover` on the DANE-protected, SRV-only domain: every SRV answer validated.
#[test]
fn discover_a_dane_protected_srv_only_domain() {
    let nsd = dane_nsd();
    let out = Command::cargo_bin("mailcheck")
        .unwrap()
        .env("NO_COLOR", "1")
        .args(["discover", "alice@lab.test", "--format", "json"])
        .args(["--dns-server", &nsd.addr.to_string()])
        .args(["--dns-trust-anchor", nsd.anchor_dnskey.to_str().unwrap()])
        .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
        .args(["--discovery-timeout", "5s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("discover", &v);
    let selected = v["discovery"]["selected"].as_array().unwrap();
    assert_eq!(selected.len(), 3, "{v:#}");
    for c in selected {
        assert_eq!(c["source"], "srv", "{c:#}");
        assert_eq!(c["dnssec"], "validated", "{c:#}");
        assert_eq!(c["trusted"], true, "{c:#}");
        // Each server's validated TLSA records are named: DANE protects it.
        let codes = c["note_codes"].as_array().unwrap();
        assert!(codes.contains(&Value::from("dane-tlsa")), "{c:#}");
        let name = format!("_{}._tcp.", c["port"]);
        assert!(
            c["notes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().starts_with(&name)
                    && n.as_str()
                        .unwrap()
                        .contains("one TLSA record, DNSSEC-validated")),
            "{c:#}"
        );
    }
    // The table says it too.
    let out = Command::cargo_bin("mailcheck")
        .unwrap()
        .env("NO_COLOR", "1")
        .args(["discover", "alice@lab.test"])
        .args(["--dns-server", &nsd.addr.to_string()])
        .args(["--dns-trust-anchor", nsd.anchor_dnskey.to_str().unwrap()])
        .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
        .args(["--discovery-timeout", "5s"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("TLSA record, DNSSEC-validated"), "{table}");
}

/// A trust anchor that cannot be used is bad input, named by where it was given.
#[test]
fn an_unusable_trust_anchor_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let not_records = dir.path().join("anchor");
    std::fs::write(&not_records, "test. IN A 127.0.0.1\n").unwrap();
    for (file, says) in [
        (dir.path().join("missing"), "cannot read it"),
        (not_records.clone(), "neither a DS nor a DNSKEY record"),
    ] {
        let out = Command::cargo_bin("mailcheck")
            .unwrap()
            .args(["discover", "alice@lab.test", "--dns-server", "127.0.0.1:9"])
            .arg("--dns-trust-anchor")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("--dns-trust-anchor"), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    // In a checks file: its file, line and column.
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[account]]\naddress = \"a@lab.test\"\ndns_server = \"127.0.0.1:9\"\ndns_trust_anchor = \"{}\"\n",
            not_records.display()
        ),
    )
    .unwrap();
    let out = Command::cargo_bin("mailcheck")
        .unwrap()
        .env_remove("MAILCHECK_PASSWORD")
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("bad.toml:4:"), "{stderr}");
    assert!(
        stderr.contains("neither a DS nor a DNSKEY record"),
        "{stderr}"
    );
}
