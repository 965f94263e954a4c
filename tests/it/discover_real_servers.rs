//! End to end: `mailcheck probe alice@lab.test` with no `--server` and no `--connect-to` for
//! the mail ports. The only things to go on are the loopback DNS responder and the loopback
//! HTTPS server; the servers reached are the real Dovecot and Postfix of `support::servers`
//! (127.0.0.2, random ports, certificate for mail.lab.test).

use crate::support;

use crate::discover_support;

use assert_cmd::Command;
use discover_support::{Lab, Zone};
use serde_json::Value;
use support::schema::assert_schema;
use support::servers::MailServers;

#[test]
fn probe_discovers_real_servers_through_autoconfig_and_srv() {
    let s = MailServers::get();
    let user = s.user("discoverer");

    // Autoconfig (https, test CA) documents IMAP and SMTP; SRV records document POP3.
    let mut z = Zone::default();
    for n in discover_support::WEB_NAMES {
        z.a(n, "127.0.0.1");
    }
    z.a(&s.tls_name, &s.ip.to_string())
        .srv("_pop3s._tcp.lab.test", 0, 0, s.pop3s, &s.tls_name)
        .srv("_pop3._tcp.lab.test", 0, 0, s.pop3, &s.tls_name);
    let doc = format!(
        r#"<clientConfig version="1.1"><emailProvider id="lab.test">
  <domain>lab.test</domain><displayName>Lab</displayName>
  <incomingServer type="imap"><hostname>{h}</hostname><port>{imaps}</port>
    <socketType>SSL</socketType><username>%EMAILADDRESS%</username></incomingServer>
  <incomingServer type="imap"><hostname>{h}</hostname><port>{imap}</port>
    <socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></incomingServer>
  <outgoingServer type="smtp"><hostname>{h}</hostname><port>{smtps}</port>
    <socketType>SSL</socketType><username>%EMAILADDRESS%</username></outgoingServer>
  <outgoingServer type="smtp"><hostname>{h}</hostname><port>{sub}</port>
    <socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></outgoingServer>
</emailProvider></clientConfig>"#,
        h = s.tls_name,
        imaps = s.imaps,
        imap = s.imap,
        smtps = s.smtps,
        sub = s.submission
    );
    let lab = Lab::serving_autoconfig(z, &doc);

    // One CA file for both: the web server's test CA and the mail servers' CA.
    let both = lab.ca_bundle_with(&s.ca_pem);

    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("MAILCHECK_PASSWORD", &user.password)
        .env("NO_COLOR", "1")
        .args(["probe", &user.address, "--no-prompt", "--format", "json"])
        .args(["--dns-server", &lab.dns.addr.to_string()])
        .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
        .args(["--ca-file", both.path().to_str().unwrap()])
        .args(["--timeout", "5s", "--connect-timeout", "2s"]);
    for r in lab.connect_to() {
        cmd.args(["--connect-to", &r]); // 443/80 only: discovery's web server
    }
    let out = cmd.output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_schema("probe", &v);
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    let d = &v["discovery"];
    assert_eq!(d["winners"]["imap"], "autoconfig");
    assert_eq!(d["winners"]["smtp"], "autoconfig");
    assert_eq!(d["winners"]["pop3"], "srv");
    let results = v["results"].as_array().unwrap();
    let mut ports: Vec<u64> = results
        .iter()
        .map(|r| r["target"]["port"].as_u64().unwrap())
        .collect();
    ports.sort();
    let mut want = [s.imaps, s.imap, s.pop3s, s.pop3, s.smtps, s.submission];
    want.sort();
    assert_eq!(ports, want.iter().map(|p| *p as u64).collect::<Vec<_>>());
    for r in results {
        let id = &r["id"];
        assert_eq!(r["target"]["host"], "mail.lab.test", "{id}");
        // Resolved through --dns-server, not redirected: connect_host is the logical name.
        assert_eq!(r["target"]["connect_host"], "mail.lab.test", "{id}");
        assert_eq!(
            r["peer"].as_str().unwrap().split(':').next().unwrap(),
            s.ip.to_string(),
            "{id}"
        );
        assert_eq!(r["verdict"], "works", "{id}: {r:#}");
        assert_eq!(r["auth"]["status"], "succeeded", "{id}: {r:#}");
        assert_eq!(r["tls"]["verification"]["status"], "valid", "{id}");
    }
    assert_eq!(v["credential"]["kind"], "password");
    // What discovery's sources published is the documentation diagnosis checks against.
    assert_eq!(
        v["recommendation"]["incoming"]["documented_by"], "autoconfig",
        "{v:#}"
    );
    assert_eq!(
        v["recommendation"]["outgoing"]["documented_by"], "autoconfig",
        "{v:#}"
    );
    assert!(
        v["documented"].as_array().is_some_and(|d| !d.is_empty()),
        "{v:#}"
    );
    assert_eq!(s.failed_logins(&user.address), 0);
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(!out.contains(&user.password));
}
