//! Benchmark launcher for "address → verdict": the discovery tests' DNS responder and web server
//! (`tests/it/discover_support`) serving `lab.test`, in front of the mail servers that
//! `bench-servers` started. Every DNS answer comes one round trip late (`--rtt-ms`); bench.py
//! puts the delay proxy in front of the web server and the mail servers, and maps the names
//! with `--connect-to`.
//!
//! `bench-discovery OUT_DIR CASE RTT_MS MAIL_CA` writes OUT_DIR/discovery.env (MD_DNS, MD_HTTPS,
//! MD_HTTP, MD_CA: the web CA and MAIL_CA in one file), prints `ready`, and serves until stdin
//! reaches end of file. CASE is
//! * `autoconfig`: the domain's autoconfig document answers (mail.lab.test, six combinations);
//! * `srv-autoconfig-hangs`: the autoconfig request is read and never answered, while the
//!   RFC 6186 SRV records name the same six combinations.
//!
//! Only 127.0.0.1 is listened on; nothing is contacted.

// The module allows its own dead code (the tests use more of it than this launcher).
#[path = "../tests/it/discover_support/mod.rs"]
mod discover_support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use discover_support::{route, Lab, Reply, Routes, Zone};

const AUTOCONFIG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="lab.test">
    <domain>lab.test</domain>
    <incomingServer type="imap"><hostname>mail.lab.test</hostname><port>993</port><socketType>SSL</socketType><authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username></incomingServer>
    <incomingServer type="imap"><hostname>mail.lab.test</hostname><port>143</port><socketType>STARTTLS</socketType><authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username></incomingServer>
    <incomingServer type="pop3"><hostname>mail.lab.test</hostname><port>995</port><socketType>SSL</socketType><authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username></incomingServer>
    <incomingServer type="pop3"><hostname>mail.lab.test</hostname><port>110</port><socketType>STARTTLS</socketType><authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username></incomingServer>
    <outgoingServer type="smtp"><hostname>mail.lab.test</hostname><port>465</port><socketType>SSL</socketType><authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username></outgoingServer>
    <outgoingServer type="smtp"><hostname>mail.lab.test</hostname><port>587</port><socketType>STARTTLS</socketType><authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username></outgoingServer>
  </emailProvider>
</clientConfig>
"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: bench-discovery OUT_DIR autoconfig|srv-autoconfig-hangs RTT_MS MAIL_CA");
        std::process::exit(2);
    }
    let (out, case) = (PathBuf::from(&args[1]), args[2].as_str());
    let rtt = Duration::from_secs_f64(args[3].parse::<f64>().expect("RTT_MS") / 1000.0);
    let mail_ca = PathBuf::from(&args[4]);

    let mut zone = Zone::default();
    zone.latency(rtt);
    for name in ["autoconfig.lab.test", "ispdb.test", "mail.lab.test"] {
        zone.a(name, "127.0.0.1");
    }
    zone.mx("lab.test", 10, "mail.lab.test");
    let autoconfig = route(
        "GET",
        "https",
        "autoconfig.lab.test",
        "/mail/config-v1.1.xml",
    );
    let mut routes = Routes::new();
    match case {
        "autoconfig" => {
            routes.insert(autoconfig, Reply::xml(AUTOCONFIG));
        }
        "srv-autoconfig-hangs" => {
            routes.insert(autoconfig, Reply::Hang);
            for (service, port) in [
                ("_imaps._tcp", 993),
                ("_imap._tcp", 143),
                ("_pop3s._tcp", 995),
                ("_pop3._tcp", 110),
                ("_submissions._tcp", 465),
                ("_submission._tcp", 587),
            ] {
                zone.srv(&format!("{service}.lab.test"), 0, 1, port, "mail.lab.test");
            }
        }
        other => panic!("unknown case {other}"),
    }
    let lab = Lab::start(zone, routes);
    let bundle = lab.ca_bundle_with(&mail_ca);
    let env = format!(
        "MD_DNS={}\nMD_HTTPS={}\nMD_HTTP={}\nMD_CA={}\n",
        lab.dns.addr,
        lab.web.https,
        lab.web.http,
        bundle.path().display()
    );
    std::fs::write(out.join("discovery.env"), env).expect("writing discovery.env");
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
}
