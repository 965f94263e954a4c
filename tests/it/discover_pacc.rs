//! PACC (draft-ietf-mailmaint-pacc-02) end to end: a real nginx serves the document over https
//! (test CA), the loopback DNS responder publishes (or not) the digest, and `mailcheck`
//! discovers, trusts or refuses it; the servers it names are the real Dovecot and Postfix.
//! Every connection stays on 127.0.0.0/8: https goes to nginx by `--connect-to`, names
//! resolve through `--dns-server`.

use crate::discover_support;
use crate::support;

use assert_cmd::Command;
use base64::Engine as _;
use discover_support::nginx::Nginx;
use discover_support::{Lab, Routes, Zone};
use serde_json::Value;
use support::schema::assert_schema;
use support::servers::MailServers;

const WELL_KNOWN: &str = "/.well-known/user-agent-configuration.json";
const HOST: &str = "ua-auto-config.lab.test";
const TXT: &str = "_ua-auto-config.lab.test";

/// A PACC document naming `mail` for IMAP, POP3 and SMTP.
fn document(mail: &str) -> Vec<u8> {
    format!(
        r#"{{
  "protocols": {{
    "imap": {{"host": "{mail}"}},
    "pop3": {{"host": "{mail}"}},
    "smtp": {{"host": "{mail}"}},
    "jmap": {{"url": "https://jmap.lab.test/.well-known/jmap"}}
  }},
  "authentication": {{"password": true, "oauth-public": {{"issuer": "https://login.lab.test"}}}},
  "info": {{"provider": {{"name": "Lab PACC", "shortName": "Lab"}}}}
}}
"#
    )
    .into_bytes()
}

/// The TXT record's text for `body`, computed here with ring and base64 directly.
fn record(body: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    let d = base64::engine::general_purpose::STANDARD.encode(d.as_ref());
    format!("v=UAAC1; a=sha256; d={d}")
}

fn zone() -> Zone {
    let mut z = Zone::default();
    z.a(HOST, "127.0.0.1")
        .a("autoconfig.lab.test", "127.0.0.1")
        .a("mail.lab.test", "127.0.0.2");
    z
}

/// `mailcheck SUB ADDRESS` with the lab's DNS and CA, https sent to `nginx`.
fn mailcheck(lab: &Lab, nginx: &Nginx, sub: &str, address: &str) -> Command {
    let mut c = Command::cargo_bin("mailcheck").unwrap();
    c.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .args([sub, address])
        .args(["--dns-server", &lab.dns.addr.to_string()])
        .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
        .args(["--discovery-timeout", "3s"])
        .args(["--connect-to", &nginx.connect_to()]);
    c
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn source<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == name)
        .unwrap_or_else(|| panic!("no {name} source: {d:#}"))
}

/// The digest matches: PACC wins every protocol, and the real servers it names are probed on
/// the implicit-TLS ports it implies (moved to the test servers' ports by `--connect-to`).
#[test]
fn a_matching_digest_makes_pacc_win_and_its_servers_are_probed() {
    let s = MailServers::get();
    let user = s.user("pacc");
    let body = document(&s.tls_name);
    let mut z = zone();
    z.a(&s.tls_name, &s.ip.to_string())
        .txt(TXT, &[&record(&body)]);
    let lab = Lab::start(z, Routes::new());
    let nginx = Nginx::start(&lab.ca, &[HOST], &[(HOST, WELL_KNOWN, &body)]);
    let both = lab.ca_bundle_with(&s.ca_pem);
    let mut cmd = mailcheck(&lab, &nginx, "probe", &user.address);
    cmd.env("MAILCHECK_PASSWORD", &user.password)
        .args(["--no-prompt", "--format", "json"])
        .args(["--ca-file", both.path().to_str().unwrap()])
        .args(["--timeout", "5s", "--connect-timeout", "2s"]);
    for (port, to) in [(993, s.imaps), (995, s.pop3s), (465, s.smtps)] {
        cmd.args([
            "--connect-to",
            &format!("{}:{port}:{}:{to}", s.tls_name, s.ip),
        ]);
    }
    let out = cmd.output().unwrap();
    let v = json(&out);
    assert_schema("probe", &v);
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    let d = &v["discovery"];
    for p in ["imap", "pop3", "smtp"] {
        assert_eq!(d["winners"][p], "pacc", "{d:#}");
    }
    let pacc = source(d, "pacc");
    assert_eq!(pacc["status"], "answered");
    assert_eq!(
        pacc["detail"],
        format!("https://{HOST}{WELL_KNOWN}: 3 server(s), digest matches {TXT}")
    );
    assert_eq!(pacc["provider"], "Lab PACC");
    assert_eq!(pacc["oauth2"]["issuer"], "https://login.lab.test");
    assert_eq!(pacc["also_offered"][0]["kind"], "jmap");
    for c in d["selected"].as_array().unwrap() {
        assert_eq!(c["trusted"], true, "{c:#}");
        assert_eq!(c["security"], "tls", "{c:#}");
        assert_eq!(c["username"], user.address.as_str());
        assert_eq!(c["note_codes"], serde_json::json!(["pacc-digest"]), "{c:#}");
    }
    let results = v["results"].as_array().unwrap();
    let mut ports: Vec<u64> = results
        .iter()
        .map(|r| r["target"]["port"].as_u64().unwrap())
        .collect();
    ports.sort();
    assert_eq!(ports, [465, 993, 995]);
    for r in results {
        let id = &r["id"];
        assert_eq!(r["target"]["host"], s.tls_name.as_str(), "{id}");
        assert_eq!(r["verdict"], "works", "{id}: {r:#}");
        assert_eq!(r["auth"]["status"], "succeeded", "{id}: {r:#}");
        assert_eq!(r["tls"]["verification"]["status"], "valid", "{id}");
    }
    assert_eq!(
        v["recommendation"]["incoming"]["documented_by"], "pacc",
        "{v:#}"
    );
    assert_eq!(s.failed_logins(&user.address), 0);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&user.password));
    assert!(
        nginx.access_log().contains(&format!("GET {WELL_KNOWN} ")),
        "{}",
        nginx.access_log()
    );
}

/// A digest that is not the document's: the source says so, its servers are not used, and the
/// next source (the domain's autoconfig, from the same nginx) wins.
#[test]
fn a_mismatch_is_reported_and_the_next_source_wins() {
    let body = document("pacc-only.lab.test");
    let mut z = zone();
    z.txt(TXT, &[&record(b"another document")]);
    let autoconfig = br#"<clientConfig version="1.1"><emailProvider id="lab.test">
  <domain>lab.test</domain>
  <incomingServer type="imap"><hostname>mail.lab.test</hostname><port>993</port>
    <socketType>SSL</socketType><username>%EMAILADDRESS%</username></incomingServer>
</emailProvider></clientConfig>"#;
    let lab = Lab::start(z, Routes::new());
    let nginx = Nginx::start(
        &lab.ca,
        &[HOST, "autoconfig.lab.test"],
        &[
            (HOST, WELL_KNOWN, &body),
            ("autoconfig.lab.test", "/mail/config-v1.1.xml", autoconfig),
        ],
    );
    let out = mailcheck(&lab, &nginx, "discover", "alice@lab.test")
        .args(["--ca-file", lab.ca_file.path().to_str().unwrap()])
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_schema("discover", &v);
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    let d = &v["discovery"];
    let pacc = source(d, "pacc");
    assert_eq!(pacc["status"], "failed", "{pacc:#}");
    let detail = pacc["detail"].as_str().unwrap();
    let ours = record(&body);
    let ours = ours.rsplit("d=").next().unwrap();
    assert!(
        detail.contains(&format!("its SHA-256 {ours} does not match {TXT}"))
            && detail.ends_with(": document not used"),
        "{detail}"
    );
    assert_eq!(pacc["candidates"], serde_json::json!([]));
    assert_eq!(d["winners"]["imap"], "autoconfig", "{d:#}");
    assert!(!d["selected"].to_string().contains("pacc-only"), "{d:#}");
}

/// The record split into several strings (as DNS does past 255 bytes), after another TXT
/// record of the name: still the digest. The table reports PACC and what its trust rests on.
#[test]
fn a_record_split_in_strings_matches_and_the_table_tells_the_trust() {
    let body = document("mail.lab.test");
    let rec = record(&body);
    let (a, b) = rec.split_at(30);
    let mut z = zone();
    z.txt(TXT, &["v=spf1 -all"]).txt(TXT, &[a, b]);
    let lab = Lab::start(z, Routes::new());
    let nginx = Nginx::start(&lab.ca, &[HOST], &[(HOST, WELL_KNOWN, &body)]);
    let out = mailcheck(&lab, &nginx, "discover", "alice@lab.test")
        .args(["--ca-file", lab.ca_file.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("PACC"), "{text}");
    assert!(text.contains("PACC (trusted)"), "{text}");
    assert!(
        text.contains("digest matches _ua-auto-config.lab.test"),
        "{text}"
    );
    assert!(
        text.contains(
            "PACC: matches the SHA-256 digest published at _ua-auto-config.lab.test \
             (DNS without DNSSEC validation)"
        ),
        "{text}"
    );
    assert!(text.contains("mail.lab.test:993"), "{text}");
    assert!(text.contains("mail.lab.test:465"), "{text}");
}

/// No TXT record at all: the document is not used, and SRV (lower) names the server.
#[test]
fn without_a_txt_record_the_document_is_not_used() {
    let body = document("pacc-only.lab.test");
    let mut z = zone();
    z.srv("_imaps._tcp.lab.test", 0, 0, 993, "mail.lab.test");
    let lab = Lab::start(z, Routes::new());
    let nginx = Nginx::start(&lab.ca, &[HOST], &[(HOST, WELL_KNOWN, &body)]);
    let out = mailcheck(&lab, &nginx, "discover", "alice@lab.test")
        .args(["--ca-file", lab.ca_file.path().to_str().unwrap()])
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_schema("discover", &v);
    let d = &v["discovery"];
    let pacc = source(d, "pacc");
    assert_eq!(pacc["status"], "failed", "{pacc:#}");
    assert_eq!(
        pacc["detail"],
        format!("https://{HOST}{WELL_KNOWN}: no TXT record at {TXT}: document not used")
    );
    assert_eq!(
        pacc["queried"],
        serde_json::json!([
            format!("GET https://{HOST}{WELL_KNOWN}"),
            format!("TXT {TXT}")
        ])
    );
    assert_eq!(d["winners"]["imap"], "srv", "{d:#}");
    assert!(
        lab.dns.log().contains(&format!("TXT {TXT}")),
        "{:?}",
        lab.dns.log()
    );
}
