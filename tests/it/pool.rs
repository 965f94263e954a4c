//! `--each-address` against the real Dovecot: the loopback DNS gives the server's name two
//! addresses, 127.0.0.2 (a good certificate) and 127.0.0.5 (the same IMAPS port, a certificate
//! for the same name that expired ten days ago: a `local` block in fixtures/dovecot).

use crate::discover_support::dns;
use crate::support;

use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use support::servers::{MailServers, POOL_NODE_IP};

/// `probe --each-address` of IMAPS on a name the test DNS resolves to both addresses.
fn probe(s: &MailServers, address: &str, password: &str, extra: &[&str]) -> Output {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut zone = dns::Zone::default();
    zone.a("pool.lab.test", &s.ip.to_string())
        .a("pool.lab.test", &POOL_NODE_IP.to_string());
    let server = rt.block_on(dns::DnsServer::start(zone));
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("MAILCHECK_PASSWORD", password)
        .args(["probe", address, "--server", &s.tls_name, "--no-prompt"])
        .args(["--dns-server", &server.addr.to_string(), "--each-address"])
        .args([
            "--ca-file",
            s.ca_pem.to_str().unwrap(),
            "--only",
            "imap/993",
        ])
        .args(["--timeout", "5s", "--connect-timeout", "2s"])
        .args([
            "--connect-to",
            &format!("{}:993:pool.lab.test:{}", s.tls_name, s.imaps),
        ])
        .args(extra);
    let out = cmd.output().unwrap();
    drop(server);
    out
}

fn json(out: &Output) -> Value {
    support::schema::json_of(out, "probe")
}

/// The result probed on `ip`.
fn at<'a>(doc: &'a Value, ip: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"]["address"] == ip)
        .unwrap_or_else(|| panic!("no result at {ip} in {doc:#}"))
}

#[test]
fn each_address_is_probed_and_the_expired_node_is_named() {
    let s = MailServers::get();
    let user = s.user("pooled");
    let out = probe(s, &user.address, &user.password, &["--format", "json"]);
    let doc = json(&out);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{doc:#}");
    let good = at(&doc, &s.ip.to_string());
    let bad = at(&doc, &POOL_NODE_IP.to_string());
    assert_eq!(good["id"], "imap/993/tls");
    assert_eq!(good["verdict"], "works", "{good:#}");
    assert_eq!(good["auth"]["status"], "succeeded", "{good:#}");
    assert_eq!(good["peer"], format!("{}:{}", s.ip, s.imaps));
    assert_eq!(bad["verdict"], "fails", "{bad:#}");
    assert_eq!(bad["reason"]["code"], "tls.cert-expired", "{bad:#}");
    assert_eq!(bad["auth"]["why"], "certificate-not-trusted", "{bad:#}");
    assert_eq!(bad["peer"], format!("{POOL_NODE_IP}:{}", s.imaps));
    // The split is named, and the summary says it as a helpdesk would.
    let split = &doc["addresses"][0];
    assert_eq!(split["combination"], "imap/993/tls", "{doc:#}");
    assert_eq!(split["addresses"], 2);
    assert_eq!(split["failing"][0]["address"], POOL_NODE_IP.to_string());
    assert_eq!(split["failing"][0]["reason"], "tls.cert-expired");
    let summary = doc["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "imap/993/tls: 1 of 2 addresses fails: {POOL_NODE_IP}: the server's certificate expired on"
        )),
        "{summary}"
    );
    // The recommended setting fails on one address of the server: a client meets it some of
    // the time, so the run is critical.
    assert_eq!(doc["status"], "critical", "{doc:#}");
    assert_eq!(out.status.code(), Some(2));
    // One successful login (the other address withheld the password: expired certificate).
    assert_eq!(s.successful_logins(&user.address), 1);

    // The table: one row per address, with the address.
    let out = probe(s, &user.address, &user.password, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("address"), "{text}");
    assert!(
        text.contains(&format!("imap/993/tls {POOL_NODE_IP}")),
        "{text}"
    );
    assert!(text.contains("1 of 2 addresses fails"), "{text}");

    // Prometheus: a series per address, none twice.
    let out = probe(
        s,
        &user.address,
        &user.password,
        &["--format", "prometheus"],
    );
    let prom = String::from_utf8_lossy(&out.stdout);
    let samples: Vec<&str> = prom
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .collect();
    let mut unique = samples.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), samples.len(), "{prom}");
    for (ip, up) in [(s.ip.to_string(), 1), (POOL_NODE_IP.to_string(), 0)] {
        let want = format!(
            "mailcheck_probe_success{{server=\"{}\",protocol=\"imap\",port=\"993\",security=\"tls\",address=\"{ip}\"}} {up}",
            s.tls_name
        );
        assert!(prom.lines().any(|l| l == want), "{want}\n{prom}");
    }

    // Nagios: a line and perfdata labels per address.
    let out = probe(s, &user.address, &user.password, &["--format", "nagios"]);
    let nagios = String::from_utf8_lossy(&out.stdout);
    assert!(nagios.starts_with("MAILCHECK CRITICAL"), "{nagios}");
    assert!(nagios.contains("'imap_993_127_0_0_5_tls'="), "{nagios}");
    assert!(
        nagios.contains(&format!("imap/993/tls at {POOL_NODE_IP}")),
        "{nagios}"
    );
}

/// The lockout rule holds per server, not per address: a wrong password is tried on one
/// address only; the other gets TLS, greeting and capabilities and skips the login.
/// (`--insecure`, so that the expired node may receive the credential too.)
#[test]
fn a_wrong_password_is_tried_on_one_address_only() {
    let s = MailServers::get();
    let user = s.user("poolwrong");
    let out = probe(
        s,
        &user.address,
        "not-the-password",
        &["--format", "json", "--insecure"],
    );
    let doc = json(&out);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{doc:#}");
    let status: Vec<&str> = results
        .iter()
        .map(|r| r["auth"]["status"].as_str().unwrap())
        .collect();
    assert!(status.contains(&"rejected"), "{doc:#}");
    let skipped: Vec<&Value> = results
        .iter()
        .filter(|r| r["auth"]["why"] == "skipped-after-rejection")
        .collect();
    assert_eq!(skipped.len(), 1, "{doc:#}");
    assert!(skipped[0]["capabilities"].is_object(), "{doc:#}");
    assert_eq!(
        s.failed_logins(&user.address),
        1,
        "{}",
        s.dovecot_log().display()
    );

    // With the right password, each address logs in once the first has been accepted.
    let out = probe(
        s,
        &user.address,
        &user.password,
        &["--format", "json", "--insecure"],
    );
    let doc = json(&out);
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["auth"]["status"], "succeeded", "{r:#}");
    }
    assert_eq!(s.successful_logins(&user.address), 2);
    assert_eq!(s.failed_logins(&user.address), 1);
}
