//! `mailcheck discover` and `mailcheck probe` without `--server`, end to end, with only the
//! loopback DNS and web servers to go on. All traffic stays on 127.0.0.0/8.

use crate::discover_support;

use crate::support::schema;

use std::net::SocketAddr;

use assert_cmd::Command;
use discover_support::mail::{self, Kind};
use discover_support::{route, Lab, Reply, Routes, Zone};
use schema::assert_schema;
use serde_json::Value;

fn zone() -> Zone {
    let mut z = Zone::default();
    for n in discover_support::WEB_NAMES {
        z.a(n, "127.0.0.1");
    }
    z.a("mail.lab.test", "127.0.0.2");
    z
}

fn autoconfig(imap_port: u16, smtp_port: u16) -> String {
    format!(
        r#"<clientConfig version="1.1"><emailProvider id="lab.test">
  <domain>lab.test</domain><displayName>Lab Mail</displayName>
  <incomingServer type="imap"><hostname>mail.lab.test</hostname><port>{imap_port}</port>
    <socketType>SSL</socketType><username>%EMAILADDRESS%</username></incomingServer>
  <outgoingServer type="smtp"><hostname>mail.lab.test</hostname><port>{smtp_port}</port>
    <socketType>SSL</socketType><username>%EMAILADDRESS%</username></outgoingServer>
</emailProvider></clientConfig>"#
    )
}

fn mailcheck(lab: &Lab, sub: &str, address: &str) -> Command {
    let mut c = Command::cargo_bin("mailcheck").unwrap();
    c.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .args([sub, address])
        .args(["--dns-server", &lab.dns.addr.to_string()])
        .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
        .args(["--ca-file", lab.ca_file.path().to_str().unwrap()])
        .args(["--discovery-timeout", "3s"]);
    for r in lab.connect_to() {
        c.args(["--connect-to", &r]);
    }
    c
}

/// The lab plus IMAP and SMTP (implicit TLS) on 127.0.0.2, announced by autoconfig.
fn lab_with_mail() -> (Lab, SocketAddr, SocketAddr) {
    let mut ports = None;
    let lab = Lab::start_with(zone(), |rt, ca| {
        let tls = ca.server_config(&["mail.lab.test"]);
        let imap = rt.block_on(mail::start(Kind::Imap, tls.clone()));
        let smtp = rt.block_on(mail::start(Kind::Smtp, tls));
        ports = Some((imap, smtp));
        let mut routes = Routes::new();
        routes.insert(
            route(
                "GET",
                "https",
                "autoconfig.lab.test",
                "/mail/config-v1.1.xml",
            ),
            Reply::xml(&autoconfig(imap.port(), smtp.port())),
        );
        routes
    });
    let (imap, smtp) = ports.unwrap();
    (lab, imap, smtp)
}

#[test]
fn probe_without_server_discovers_and_reaches_the_servers() {
    let (lab, imap, smtp) = lab_with_mail();
    let out = mailcheck(&lab, "probe", "alice@lab.test")
        .args(["--no-prompt", "--format", "json", "--connect-timeout", "2s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert_schema("probe", &v);
    let d = &v["discovery"];
    assert_eq!(d["winners"]["imap"], "autoconfig", "{d:#}");
    assert_eq!(d["winners"]["smtp"], "autoconfig");
    assert_eq!(d["resolver"], lab.dns.addr.to_string());
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{v:#}");
    for (r, addr) in results.iter().zip([imap, smtp]) {
        assert_eq!(r["target"]["host"], "mail.lab.test");
        assert_eq!(r["target"]["port"], addr.port());
        // The host name went through --dns-server to 127.0.0.2, on the discovered port.
        assert_eq!(r["peer"], addr.to_string(), "{r:#}");
        assert_eq!(r["tls"]["verification"]["status"], "valid", "{r:#}");
        assert!(r["greeting"].as_str().unwrap().contains("lab"), "{r:#}");
    }
    assert!(v["recommendation"]["incoming"]["port"] == imap.port());
}

#[test]
fn probe_table_shows_where_each_setting_came_from() {
    let (lab, imap, _) = lab_with_mail();
    let out = mailcheck(&lab, "probe", "alice@lab.test")
        .args(["--no-prompt", "--only", "imap", "--connect-timeout", "2s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Discovery for alice@lab.test"), "{text}");
    assert!(text.contains("autoconfig (provider)"), "{text}");
    assert!(
        text.contains(&format!("mail.lab.test:{}", imap.port())),
        "{text}"
    );
    assert!(text.contains("source"), "{text}");
    assert!(text.contains("autoconfig"), "{text}");
    // --only imap: one row, from the discovered IMAP setting.
    assert!(text.contains("1 combination in"), "{text}");
    assert!(
        text.contains(&format!("port {} SSL/TLS", imap.port())),
        "{text}"
    );
}

#[test]
fn discover_command_table_and_json() {
    let mut z = zone();
    z.srv("_imaps._tcp.lab.test", 0, 0, 993, "imap.lab.test")
        .srv("_submission._tcp.lab.test", 0, 0, 0, ".")
        .mx("lab.test", 10, "mx1.mail.ovh.net");
    let lab = Lab::start(z, Routes::new());
    let out = mailcheck(&lab, "discover", "alice@lab.test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // The MX points at OVH: shared hosting settings, and the E-mail Pro caveat.
    assert!(text.contains("ssl0.ovh.net:993"), "{text}");
    assert!(text.contains("ssl0.ovh.net:110"), "{text}");
    assert!(text.contains("proN.mail.ovh.net"), "{text}");
    assert!(text.contains("--server"), "{text}");
    assert!(text.contains("Sources disagree"), "{text}");
    assert!(
        text.contains("_submission._tcp.lab.test says the service is not offered"),
        "{text}"
    );

    let out = mailcheck(&lab, "discover", "alice@lab.test")
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("discover", &v);
    assert_eq!(v["schema_version"], 1);
    let d = &v["discovery"];
    assert_eq!(d["winners"]["imap"], "mx");
    let sources = d["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 8);
    assert_eq!(sources[0]["source"], "provider-table");
    assert!(sources
        .iter()
        .all(|s| s["ms"].is_u64() && s["detail"].is_string()));
    let srv = sources.iter().find(|s| s["source"] == "srv").unwrap();
    assert_eq!(srv["status"], "answered");
    assert_eq!(srv["candidates"][0]["trusted"], false);
}

/// Autoconfig 1.2 end to end: `<oAuth2>` and JMAP reach the JSON, which the schema accepts.
#[test]
fn discover_reports_oauth2_and_jmap_of_an_autoconfig_1_2_document() {
    let doc = r#"<?xml version="1.0"?><clientConfig version="1.2"><emailProvider id="lab.test">
  <domain>lab.test</domain>
  <incomingServer type="jmap"><url>https://jmap.lab.test/jmap</url>
    <authentication>OAuth2</authentication></incomingServer>
  <incomingServer type="imap"><hostname>mail.lab.test</hostname><port>993</port>
    <socketType>SSL</socketType><authentication>OAuth2</authentication>
    <authentication>password-cleartext</authentication></incomingServer>
</emailProvider>
<oAuth2><issuer>login.lab.test</issuer><authURL>https://login.lab.test/auth</authURL>
  <tokenURL>https://login.lab.test/token</tokenURL><scope>IMAP offline_access</scope>
  <clientID>open</clientID><clientSecret>kept-out</clientSecret></oAuth2></clientConfig>"#;
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
    let lab = Lab::start(zone(), routes);
    let out = mailcheck(&lab, "discover", "alice@lab.test")
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("discover", &v);
    let d = &v["discovery"];
    assert_eq!(d["cached"], false);
    let ac = d["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "autoconfig")
        .unwrap();
    assert_eq!(ac["oauth2"]["token_url"], "https://login.lab.test/token");
    assert_eq!(ac["oauth2"]["scope"][1], "offline_access");
    assert_eq!(ac["also_offered"][0]["kind"], "jmap");
    assert_eq!(ac["also_offered"][0]["url"], "https://jmap.lab.test/jmap");
    assert_eq!(
        ac["candidates"][0]["auth"],
        serde_json::json!(["OAuth2", "password-cleartext"])
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kept-out"));
    let table = mailcheck(&lab, "discover", "alice@lab.test")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("also offered, not probed: jmap at https://jmap.lab.test/jmap"),
        "{text}"
    );
}

#[test]
fn discovery_notes_speak_the_runs_language_and_json_keeps_english_with_codes() {
    let mut z = zone();
    z.srv("_submission._tcp.lab.test", 0, 0, 0, ".")
        .srv("_pop3s._tcp.lab.test", 0, 0, 995, "pop.elsewhere.test")
        .mx("lab.test", 10, "mx1.mail.ovh.net");
    let lab = Lab::start(z, Routes::new());
    let run = |args: &[&str]| {
        let out = mailcheck(&lab, "discover", "alice@lab.test")
            .env("LC_ALL", "C")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };

    let fr = run(&["--lang", "fr"]);
    for needle in [
        "Remarques :",
        "enregistrements SRV : _submission._tcp.lab.test indique que le service n'est pas proposé (cible « . »)",
        "enregistrements SRV : _pop3s._tcp.lab.test pointe hors de lab.test, vers pop.elsewhere.test",
        "enregistrement MX : OVHcloud E-mail Pro : s'il s'agit d'un compte OVHcloud E-mail Pro",
        "Relancez avec --server proN.mail.ovh.net (serveurs documentés : ",
        "POP3  mx indique ssl0.ovh.net:995 tls, ssl0.ovh.net:110 starttls ; srv indique",
        "via enregistrement MX (non fiable)",
    ] {
        assert!(fr.contains(needle), "{needle}: {fr}");
    }
    let notes = &fr[fr.find("Remarques :").unwrap()..];
    for english in [
        "says the service",
        "points outside",
        "Rerun with",
        "documented:",
    ] {
        assert!(!notes.contains(english), "{english}: {notes}");
    }

    // English by default (C locale).
    let en = run(&[]);
    for needle in [
        "Notes:",
        "SRV records: _submission._tcp.lab.test says the service is not offered (target \".\")",
        "SRV records: _pop3s._tcp.lab.test points outside lab.test, to pop.elsewhere.test",
        "MX record: OVHcloud E-mail Pro: if this is an OVHcloud E-mail Pro account",
    ] {
        assert!(en.contains(needle), "{needle}: {en}");
    }

    // JSON: the English sentences as before, whatever the language, plus a code for each.
    let v: Value = serde_json::from_str(&run(&["--lang", "fr", "--format", "json"])).unwrap();
    assert_schema("discover", &v);
    let d = &v["discovery"];
    assert_eq!(v["schema_version"], 1);
    let notes = d["notes"].as_array().unwrap();
    let codes = d["note_codes"].as_array().unwrap();
    assert_eq!(notes.len(), codes.len());
    let said = |code: &str| -> Vec<&str> {
        notes
            .iter()
            .zip(codes)
            .filter(|(_, c)| *c == code)
            .map(|(n, _)| n.as_str().unwrap())
            .collect()
    };
    assert!(said("srv-not-offered")
        .iter()
        .any(|n| n.contains("_submission._tcp.lab.test says the service is not offered")));
    assert!(said("srv-outside")
        .iter()
        .any(|n| n.contains("points outside lab.test")));
    assert!(said("host-unknown")
        .iter()
        .any(|n| n.contains("--server proN.mail.ovh.net")));
    // Per-source and per-candidate notes carry codes too.
    let srv = d["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "srv")
        .unwrap();
    assert!(srv["note_codes"]
        .as_array()
        .unwrap()
        .contains(&Value::from("srv-not-offered")));
    let pop = d["selected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["protocol"] == "pop3" && c["source"] == "srv");
    if let Some(pop) = pop {
        assert_eq!(
            pop["notes"].as_array().unwrap().len(),
            pop["note_codes"].as_array().unwrap().len()
        );
    }
}

#[test]
fn nothing_found_is_exit_2_for_discover_and_an_error_for_probe() {
    let lab = Lab::start(zone(), Routes::new());
    let out = mailcheck(&lab, "discover", "alice@nowhere.test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No server found"));
    let out = mailcheck(&lab, "probe", "alice@nowhere.test")
        .arg("--no-prompt")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No server found for nowhere.test"), "{err}");
    assert!(err.contains("Give one with --server HOST."), "{err}");
    // In French, the hint that ends the message is French too.
    let out = mailcheck(&lab, "probe", "alice@nowhere.test")
        .args(["--no-prompt", "--lang", "fr"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Indiquez-en un avec --server HÔTE."), "{err}");
    assert!(!err.contains("Give one"), "{err}");
}

#[test]
fn a_dns_server_where_nothing_listens_ends_discover_within_3_seconds() {
    let lab = Lab::start(zone(), Routes::new());
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let t0 = std::time::Instant::now();
    let out = Command::cargo_bin("mailcheck")
        .unwrap()
        .env("NO_COLOR", "1")
        .args(["discover", "alice@lab.test", "--format", "json"])
        .args(["--dns-server", &closed.to_string()])
        .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
        .args(["--ca-file", lab.ca_file.path().to_str().unwrap()])
        // A long budget: the end must come from the refusal, not from a deadline.
        .args(["--discovery-timeout", "8s"])
        .output()
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["discovery"]["resolver"], closed.to_string());
    assert!(v["discovery"]["selected"].as_array().unwrap().is_empty());
}

#[test]
fn credentials_are_withheld_from_untrusted_foreign_servers() {
    let mut z = zone();
    // SRV (unvalidated DNS) sends IMAP to a host outside lab.test.
    z.srv("_imaps._tcp.lab.test", 0, 0, 1, "imap.elsewhere.test")
        .a("imap.elsewhere.test", "127.0.0.3");
    let lab = Lab::start(z, Routes::new());
    let out = mailcheck(&lab, "probe", "alice@lab.test")
        .env("MAILCHECK_PASSWORD", "hunter2-secret")
        .args(["--no-prompt", "--format", "json", "--connect-timeout", "1s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("hunter2-secret"));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_schema("probe", &v);
    assert_eq!(v["credential"]["kind"], "none", "{v:#}");
    let notes = v["discovery"]["notes"].to_string();
    assert!(notes.contains("credentials withheld"), "{notes}");
    assert!(notes.contains("--trust-discovered"), "{notes}");
    assert!(v["discovery"]["note_codes"]
        .as_array()
        .unwrap()
        .contains(&Value::from("credentials-withheld")));
    // The probe's discovery section says it in the run's language.
    let out = mailcheck(&lab, "probe", "alice@lab.test")
        .env("MAILCHECK_PASSWORD", "hunter2-secret")
        .args(["--no-prompt", "--lang", "fr", "--connect-timeout", "1s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "identifiants non transmis : imap.elsewhere.test provient d'un canal non fiable \
             et se trouve hors de lab.test ; vérifiez ces réglages, puis relancez avec \
             --trust-discovered ou --server HÔTE"
        ),
        "{text}"
    );
    // With --trust-discovered the password is used.
    let out = mailcheck(&lab, "probe", "alice@lab.test")
        .env("MAILCHECK_PASSWORD", "hunter2-secret")
        .args([
            "--no-prompt",
            "--format",
            "json",
            "--connect-timeout",
            "1s",
            "--trust-discovered",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("probe", &v);
    assert_eq!(v["credential"]["kind"], "password");
}

#[test]
fn server_flag_bypasses_discovery() {
    let lab = Lab::start(zone(), Routes::new());
    let out = mailcheck(&lab, "probe", "alice@lab.test")
        .args([
            "--server",
            "mail.lab.test",
            "--only",
            "imap/993",
            "--no-prompt",
        ])
        .args(["--format", "json", "--connect-timeout", "1s"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("probe", &v);
    assert!(v.get("discovery").is_none());
    // mail.lab.test still resolves through --dns-server (127.0.0.2; nothing listens on 993).
    let r = &v["results"][0];
    assert_eq!(r["attempts"][0]["address"], "127.0.0.2:993", "{r:#}");
    assert!(lab.dns.log().iter().any(|q| q.ends_with(" mail.lab.test")));
    assert!(!lab.dns.log().iter().any(|q| q.starts_with("MX")));
}

/// §4 through the engine: `batch` over 20 addresses of one domain discovers it once (each URL
/// asked once), each account keeping its own login name; the JSON says what came from the
/// cache, and the schema accepts it.
#[test]
fn batch_discovers_a_domain_once_for_twenty_addresses() {
    let (lab, _imap, _smtp) = lab_with_mail();
    let addresses: Vec<String> = (0..20).map(|i| format!("user{i}@lab.test")).collect();
    let mut cmd = mailcheck(&lab, "batch", &addresses[0]);
    cmd.args(&addresses[1..]).args([
        "--no-progress",
        "--format",
        "json",
        "--connect-timeout",
        "2s",
    ]);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert_schema("check", &v);
    let mut gets = std::collections::HashMap::<String, usize>::new();
    for s in lab.web.log().into_iter().filter(|s| s.method == "GET") {
        *gets
            .entry(format!("{}://{}{}", s.scheme, s.host, s.target))
            .or_default() += 1;
    }
    assert!(gets.values().all(|n| *n == 1), "{gets:#?}");
    assert!(gets.contains_key("https://autoconfig.lab.test/mail/config-v1.1.xml"));
    let accounts = v["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 20);
    let mut cached = 0;
    for a in accounts {
        let d = &a["report"]["discovery"];
        assert_eq!(d["winners"]["imap"], "autoconfig", "{a:#}");
        let login = d["selected"][0]["username"].as_str().unwrap();
        assert_eq!(login, a["address"].as_str().unwrap());
        cached += usize::from(d["cached"] == true);
    }
    assert!(cached >= 19, "{cached}");
}
