//! Discovery against a loopback DNS responder and a loopback HTTPS/HTTP server with a test CA.
//! Nothing here resolves through the system or contacts anything outside 127.0.0.0/8: the
//! resolver is pinned to the test DNS (`--dns-server`), which knows only loopback addresses.

use crate::discover_support;

use std::time::{Duration, Instant};

use discover_support::{route, Lab, Reply, Routes, Zone};
use mailcheck::account::Address;
use mailcheck::discover::{
    self, Candidate, DiscoveryConfig, DiscoveryFailure, DiscoveryReport, SourceKind, SourceStatus,
};
use mailcheck::i18n::Lang;
use mailcheck::model::{Protocol, Security};
use mailcheck::net::resolver::Resolver;
use mailcheck::report::discovery::failure_text;

const ISPDB: &str = "https://ispdb.test/v1.1/";

fn autoconfig_doc(imap: (&str, u16, &str), smtp: (&str, u16, &str)) -> String {
    format!(
        r#"<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="lab.test">
    <domain>lab.test</domain>
    <displayName>Lab Mail</displayName>
    <incomingServer type="imap">
      <hostname>{}</hostname><port>{}</port><socketType>{}</socketType>
      <username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="jmap"><hostname>jmap.lab.test</hostname></incomingServer>
    <outgoingServer type="smtp">
      <hostname>{}</hostname><port>{}</port><socketType>{}</socketType>
      <username>%EMAILLOCALPART%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>"#,
        imap.0, imap.1, imap.2, smtp.0, smtp.1, smtp.2
    )
}

fn autodiscover_doc(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account><AccountType>email</AccountType>{inner}</Account>
  </Response>
</Autodiscover>"#
    )
}

/// The zone every test starts from: the web names on 127.0.0.1.
fn base_zone() -> Zone {
    let mut z = Zone::default();
    for n in discover_support::WEB_NAMES {
        z.a(n, "127.0.0.1");
    }
    z
}

fn config(lab: &Lab, timeout: Duration) -> DiscoveryConfig {
    DiscoveryConfig {
        resolver: Resolver::with_server(lab.dns.addr, timeout),
        ca_file: Some(lab.ca_file.path().to_path_buf()),
        ispdb_url: ISPDB.into(),
        timeout,
        connect_to: lab
            .connect_to()
            .iter()
            .map(|r| r.parse().unwrap())
            .collect(),
    }
}

fn run(lab: &Lab, address: &str, timeout: Duration) -> DiscoveryReport {
    let a = Address::parse(address).unwrap();
    let cfg = config(lab, timeout);
    lab.rt.block_on(discover::discover(&a, &cfg)).unwrap()
}

/// The Autodiscover request that reached `host` asked for the test address.
fn assert_posted_the_address(lab: &Lab, host: &str) {
    let post = lab
        .web
        .log()
        .into_iter()
        .find(|s| s.method == "POST" && s.host == host)
        .unwrap_or_else(|| panic!("no POST reached {host}"));
    assert!(
        post.body
            .contains("<EMailAddress>alice@lab.test</EMailAddress>"),
        "{}",
        post.body
    );
}

fn source(r: &DiscoveryReport, k: SourceKind) -> &discover::SourceReport {
    r.sources.iter().find(|s| s.source == k).unwrap()
}

fn selected(r: &DiscoveryReport, p: Protocol) -> Vec<&Candidate> {
    r.selected.iter().filter(|c| c.protocol == p).collect()
}

const T: Duration = Duration::from_secs(3);

#[test]
fn provider_table_alone() {
    let lab = Lab::start(base_zone(), Routes::new());
    let r = run(&lab, "jane@icloud.com", T);
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::ProviderTable);
    let imap = selected(&r, Protocol::Imap);
    assert_eq!(imap[0].host, "imap.mail.me.com");
    assert_eq!(imap[0].username, "jane", "iCloud IMAP wants the local part");
    assert!(imap[0].trusted);
    assert_eq!(selected(&r, Protocol::Smtp)[0].username, "jane@icloud.com");
    assert!(selected(&r, Protocol::Pop3).is_empty());
    // The network sources were asked (through the test DNS only) and found nothing.
    for k in [SourceKind::Autoconfig, SourceKind::Mx, SourceKind::Srv] {
        assert_ne!(source(&r, k).status, SourceStatus::Answered, "{k:?}");
    }
    assert_eq!(source(&r, SourceKind::Guess).status, SourceStatus::Skipped);
    assert!(lab.dns.log().iter().any(|q| q == "MX icloud.com"));
}

#[test]
fn autoconfig_over_https_alone() {
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml(&autoconfig_doc(
            ("mail.lab.test", 993, "SSL"),
            ("mail.lab.test", 587, "STARTTLS"),
        )),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    let ac = source(&r, SourceKind::Autoconfig);
    assert_eq!(ac.status, SourceStatus::Answered, "{ac:?}");
    assert_eq!(ac.provider.as_deref(), Some("Lab Mail"));
    assert!(
        ac.notes.texts().iter().any(|n| n.contains("jmap")),
        "JMAP listed: {ac:?}"
    );
    assert_eq!(
        ac.published.also_offered[0].host.as_deref(),
        Some("jmap.lab.test")
    );
    // Worded for the reader in the run's language, quoting the document's value.
    assert!(
        r.notes.iter().any(|n| n.text(mailcheck::i18n::Lang::Fr)
            == "autoconfig (fournisseur) : proposé aussi, non testé : jmap à l'adresse jmap.lab.test"),
        "{:?}",
        r.notes
    );
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Autoconfig);
    assert_eq!(r.winners[&Protocol::Smtp], SourceKind::Autoconfig);
    let imap = selected(&r, Protocol::Imap)[0];
    assert_eq!(
        (imap.host.as_str(), imap.port, imap.security),
        ("mail.lab.test", 993, Security::Tls)
    );
    assert!(imap.trusted);
    assert_eq!(
        imap.origin,
        "https://autoconfig.lab.test/mail/config-v1.1.xml"
    );
    assert_eq!(imap.username, "alice@lab.test");
    assert_eq!(selected(&r, Protocol::Smtp)[0].username, "alice");
    // The address goes nowhere in a URL: not over https, let alone over http.
    let seen = lab.web.log();
    assert!(seen
        .iter()
        .any(|s| s.scheme == "https" && s.host == "autoconfig.lab.test"));
    assert!(
        seen.iter()
            .filter(|s| s.method == "GET")
            .all(|s| !s.target.contains("emailaddress") && !s.target.contains("alice")),
        "{seen:?}"
    );
    assert!(seen.iter().any(|s| s.scheme == "http"));
}

#[test]
fn http_only_autoconfig_is_marked_untrusted() {
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "http",
            "lab.test",
            "/.well-known/autoconfig/mail/config-v1.1.xml",
        ),
        Reply::xml(&autoconfig_doc(
            ("mail.lab.test", 993, "SSL"),
            ("mail.lab.test", 465, "SSL"),
        )),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Autoconfig);
    let c = selected(&r, Protocol::Imap)[0];
    assert!(!c.trusted);
    assert!(c.origin.starts_with("http://lab.test/"));
    assert!(source(&r, SourceKind::Autoconfig)
        .detail
        .contains("untrusted"));
    assert!(r.any_untrusted());
}

#[test]
fn ispdb_alone() {
    let mut routes = Routes::new();
    routes.insert(
        route("GET", "https", "ispdb.test", "/v1.1/lab.test"),
        Reply::xml(&autoconfig_doc(
            ("imap.lab.test", 993, "SSL"),
            ("smtp.lab.test", 465, "SSL"),
        )),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Ispdb);
    assert_eq!(selected(&r, Protocol::Imap)[0].host, "imap.lab.test");
    assert_eq!(
        selected(&r, Protocol::Smtp)[0].origin,
        "https://ispdb.test/v1.1/lab.test"
    );
    assert!(selected(&r, Protocol::Smtp)[0].trusted);
    assert_eq!(
        source(&r, SourceKind::Autoconfig).status,
        SourceStatus::NoAnswer
    );
}

#[test]
fn mx_pointing_at_a_known_provider() {
    let mut z = base_zone();
    z.mx("lab.test", 20, "backup.lab.test").mx(
        "lab.test",
        10,
        "lab-test.mail.protection.outlook.com",
    );
    let lab = Lab::start(z, Routes::new());
    let r = run(&lab, "alice@lab.test", T);
    let mx = source(&r, SourceKind::Mx);
    assert_eq!(mx.status, SourceStatus::Answered, "{mx:?}");
    assert!(mx.provider.as_deref().unwrap().contains("Microsoft 365"));
    assert_eq!(r.winners[&Protocol::Smtp], SourceKind::Mx);
    let smtp = selected(&r, Protocol::Smtp)[0];
    assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.office365.com", 587));
    assert!(
        !smtp.trusted,
        "an MX record without DNSSEC is not a trusted channel"
    );
    assert!(smtp
        .origin
        .contains("MX 10 lab-test.mail.protection.outlook.com."));
}

#[test]
fn mx_domain_through_autoconfig() {
    let mut z = base_zone();
    z.mx("lab.test", 10, "mx1.mail.mailhost.test");
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.mailhost.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml(&autoconfig_doc(
            ("imap.mailhost.test", 993, "SSL"),
            ("smtp.mailhost.test", 465, "SSL"),
        )),
    );
    let lab = Lab::start(z, routes);
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(
        r.winners[&Protocol::Imap],
        SourceKind::Mx,
        "{:?}",
        r.sources
    );
    let c = selected(&r, Protocol::Imap)[0];
    assert_eq!(c.host, "imap.mailhost.test");
    assert!(!c.trusted);
    // Both the MX name minus its first label and its registrable domain were asked.
    let seen = lab.web.log();
    assert!(seen
        .iter()
        .any(|s| s.host == "autoconfig.mail.mailhost.test"));
    assert!(seen.iter().any(|s| s.host == "autoconfig.mailhost.test"));
}

#[test]
fn srv_alone_with_dot_target_and_foreign_host() {
    let mut z = base_zone();
    z.srv("_imaps._tcp.lab.test", 10, 0, 10993, "imap2.lab.test")
        .srv("_imaps._tcp.lab.test", 0, 5, 993, "imap.lab.test")
        .srv("_imap._tcp.lab.test", 0, 0, 0, ".")
        .srv("_pop3s._tcp.lab.test", 0, 0, 995, "pop.elsewhere.test")
        .srv("_submission._tcp.lab.test", 0, 0, 2587, "smtp.lab.test");
    let lab = Lab::start(z, Routes::new());
    let r = run(&lab, "alice@lab.test", T);
    let srv = source(&r, SourceKind::Srv);
    assert_eq!(srv.status, SourceStatus::Answered);
    let imap = selected(&r, Protocol::Imap);
    // Priority order; the "." record offers nothing, so no STARTTLS IMAP candidate.
    assert_eq!(imap.len(), 2);
    assert_eq!(
        (imap[0].host.as_str(), imap[0].port),
        ("imap.lab.test", 993)
    );
    assert_eq!(
        (imap[1].host.as_str(), imap[1].port),
        ("imap2.lab.test", 10993)
    );
    assert!(imap
        .iter()
        .all(|c| c.security == Security::Tls && !c.trusted));
    assert!(srv
        .notes
        .texts()
        .iter()
        .any(|n| n.contains("_imap._tcp.lab.test") && n.contains("not offered")));
    let pop = selected(&r, Protocol::Pop3)[0];
    assert!(pop
        .notes
        .texts()
        .iter()
        .any(|n| n.contains("outside lab.test")));
    let smtp = selected(&r, Protocol::Smtp)[0];
    assert_eq!((smtp.port, smtp.security), (2587, Security::Starttls));
}

#[test]
fn autodiscover_alone() {
    let mut routes = Routes::new();
    routes.insert(
        route("POST", "https", "autodiscover.lab.test", "/autodiscover/autodiscover.xml"),
        Reply::xml(&autodiscover_doc(
            "<Action>settings</Action>\
             <Protocol><Type>IMAP</Type><Server>outlook.lab.test</Server><Port>993</Port><SSL>on</SSL><LoginName>alice@lab.test</LoginName></Protocol>\
             <Protocol><Type>SMTP</Type><Server>smtp.lab.test</Server><Port>587</Port><Encryption>TLS</Encryption></Protocol>",
        )),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(
        r.winners[&Protocol::Imap],
        SourceKind::Autodiscover,
        "{:?}",
        r.sources
    );
    let smtp = selected(&r, Protocol::Smtp)[0];
    assert_eq!((smtp.port, smtp.security), (587, Security::Starttls));
    assert!(smtp.trusted);
    assert_posted_the_address(&lab, "autodiscover.lab.test");
}

#[test]
fn autodiscover_follows_redirect_addr_and_http_redirect() {
    let mut routes = Routes::new();
    // The http redirect form points at the https endpoint of lab.test, which answers with a
    // redirectAddr to another domain, whose endpoint has the settings.
    routes.insert(
        route(
            "GET",
            "http",
            "autodiscover.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::redirect("https://adsrv.lab.test/autodiscover/autodiscover.xml"),
    );
    routes.insert(
        route(
            "POST",
            "https",
            "adsrv.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::xml(&autodiscover_doc(
            "<Action>redirectAddr</Action><RedirectAddr>alice@other.test</RedirectAddr>",
        )),
    );
    routes.insert(
        route("POST", "https", "autodiscover.other.test", "/autodiscover/autodiscover.xml"),
        Reply::xml(&autodiscover_doc(
            "<Action>settings</Action>\
             <Protocol><Type>POP3</Type><Server>pop.other.test</Server><Port>995</Port><SSL>on</SSL></Protocol>",
        )),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    let pop = selected(&r, Protocol::Pop3);
    assert_eq!(pop.len(), 1, "{:?}", r.sources);
    assert_eq!(pop[0].host, "pop.other.test");
    assert_eq!(pop[0].username, "alice@other.test");
    assert!(!pop[0].trusted, "reached through an http redirect");
    let ad = source(&r, SourceKind::Autodiscover);
    assert!(ad
        .queried
        .iter()
        .any(|q| q.contains("redirectAddr -> alice@other.test")));
}

#[test]
fn autodiscover_redirect_loop_is_cut() {
    let mut routes = Routes::new();
    routes.insert(
        route("POST", "https", "autodiscover.lab.test", "/autodiscover/autodiscover.xml"),
        Reply::xml(&autodiscover_doc(
            "<Action>redirectUrl</Action><RedirectUrl>https://autodiscover.lab.test/autodiscover/autodiscover.xml</RedirectUrl>",
        )),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    let ad = source(&r, SourceKind::Autodiscover);
    assert_eq!(ad.status, SourceStatus::Failed, "{ad:?}");
    assert!(ad.detail.contains("more than 2 redirects"), "{}", ad.detail);
    let posts = lab
        .web
        .log()
        .iter()
        .filter(|s| s.method == "POST" && s.host == "autodiscover.lab.test")
        .count();
    assert_eq!(posts, 3, "the first request and two redirects, then stop");
}

/// The same cut for HTTP redirects of the POST itself: a 307 back to the same URL counts
/// against the same hop limit as `redirectUrl` answers.
#[test]
fn autodiscover_post_redirect_loop_is_cut() {
    let url = "https://autodiscover.lab.test/autodiscover/autodiscover.xml";
    let mut routes = Routes::new();
    routes.insert(
        route(
            "POST",
            "https",
            "autodiscover.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::Answer(307, vec![("Location".into(), url.into())], vec![]),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    let ad = source(&r, SourceKind::Autodiscover);
    assert_eq!(ad.status, SourceStatus::Failed, "{ad:?}");
    assert!(ad.detail.contains("more than 2 redirects"), "{}", ad.detail);
    let posts = lab
        .web
        .log()
        .iter()
        .filter(|s| s.method == "POST" && s.host == "autodiscover.lab.test")
        .count();
    assert_eq!(posts, 3, "the first request and two redirects, then stop");
}

#[test]
fn priority_when_several_answer_and_disagreements_are_shown() {
    let mut z = base_zone();
    z.srv("_imaps._tcp.lab.test", 0, 0, 993, "imap.lab.test")
        .srv("_pop3s._tcp.lab.test", 0, 0, 995, "pop.lab.test")
        .a("imap.lab.test", "127.0.0.1");
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml(&autoconfig_doc(
            ("mail.lab.test", 993, "SSL"),
            ("mail.lab.test", 465, "SSL"),
        )),
    );
    routes.insert(
        route("GET", "https", "ispdb.test", "/v1.1/lab.test"),
        Reply::xml(&autoconfig_doc(
            ("mail.lab.test", 993, "SSL"),
            ("mail.lab.test", 465, "SSL"),
        )),
    );
    let lab = Lab::start(z, routes);
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Autoconfig);
    assert_eq!(r.winners[&Protocol::Smtp], SourceKind::Autoconfig);
    // Autoconfig has no POP3: SRV's answer is used for it.
    assert_eq!(r.winners[&Protocol::Pop3], SourceKind::Srv);
    assert_eq!(selected(&r, Protocol::Imap).len(), 1);
    // ISPDB agrees with autoconfig; SRV does not, and that is reported.
    let d: Vec<_> = r
        .disagreements
        .iter()
        .map(|d| (d.protocol, d.source))
        .collect();
    assert_eq!(d, vec![(Protocol::Imap, SourceKind::Srv)]);
    assert_eq!(source(&r, SourceKind::Ispdb).status, SourceStatus::Answered);
    assert_eq!(source(&r, SourceKind::Guess).status, SourceStatus::Skipped);
}

#[test]
fn a_hanging_source_meets_its_deadline_and_the_others_still_win() {
    let mut z = base_zone();
    z.srv("_imaps._tcp.lab.test", 0, 0, 993, "imap.lab.test")
        .hang("lab.test"); // MX questions about lab.test are never answered
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::Hang,
    );
    routes.insert(
        route(
            "POST",
            "https",
            "autodiscover.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::Hang,
    );
    let lab = Lab::start(z, routes);
    let deadline = Duration::from_millis(1200);
    let t0 = Instant::now();
    let r = run(&lab, "alice@lab.test", deadline);
    let took = t0.elapsed();
    assert!(
        took < deadline + Duration::from_millis(800),
        "took {took:?}"
    );
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Srv);
    let ac = source(&r, SourceKind::Autoconfig);
    assert_ne!(ac.status, SourceStatus::Answered);
    assert!(
        ac.detail.contains("timed out") || ac.detail.contains("no answer"),
        "{}",
        ac.detail
    );
    assert!(ac.ms <= deadline.as_millis() as u64 + 100);
    let mx = source(&r, SourceKind::Mx);
    assert!(
        matches!(mx.status, SourceStatus::Failed | SourceStatus::TimedOut),
        "{mx:?}"
    );
}

#[test]
fn malformed_xml_is_a_failed_source_not_a_crash() {
    let mut z = base_zone();
    z.srv("_imaps._tcp.lab.test", 0, 0, 993, "imap.lab.test");
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml("<clientConfig><emailProvider><incomingServer type=\"imap\"><hostname>x"),
    );
    routes.insert(
        route(
            "POST",
            "https",
            "autodiscover.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::xml("<Autodiscover><Response><Account><Protocol></Autodiscover>"),
    );
    let lab = Lab::start(z, routes);
    let r = run(&lab, "alice@lab.test", T);
    let ac = source(&r, SourceKind::Autoconfig);
    assert_eq!(ac.status, SourceStatus::Failed, "{ac:?}");
    assert!(
        ac.detail.contains("not a clientConfig document"),
        "{}",
        ac.detail
    );
    let ad = source(&r, SourceKind::Autodiscover);
    assert_eq!(ad.status, SourceStatus::Failed, "{ad:?}");
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Srv);
}

#[test]
fn guessing_only_when_nothing_answered() {
    let mut z = base_zone();
    z.a("mail.lab.test", "127.0.0.1")
        .a("smtp.lab.test", "127.0.0.1");
    let lab = Lab::start(z, Routes::new());
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(source(&r, SourceKind::Guess).status, SourceStatus::Answered);
    let imap = selected(&r, Protocol::Imap);
    assert_eq!(imap.len(), 2, "the documented IMAP ports");
    assert!(imap.iter().all(|c| c.host == "mail.lab.test" && !c.trusted));
    assert!(selected(&r, Protocol::Smtp)
        .iter()
        .all(|c| c.host == "smtp.lab.test"));
    // pop3.lab.test and pop.lab.test do not resolve; mail.lab.test does.
    assert_eq!(selected(&r, Protocol::Pop3)[0].host, "mail.lab.test");
}

#[test]
fn internationalised_domain_goes_out_as_punycode() {
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.xn--bcher-kva.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml(&autoconfig_doc(
            ("mail.%EMAILDOMAIN%", 993, "SSL"),
            ("mail.%EMAILDOMAIN%", 465, "SSL"),
        )),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "jürgen@bücher.test", T);
    assert_eq!(r.domain, "xn--bcher-kva.test");
    let imap = selected(&r, Protocol::Imap)[0];
    assert_eq!(imap.host, "mail.xn--bcher-kva.test");
    assert_eq!(imap.username, "jürgen@xn--bcher-kva.test");
    assert!(lab.dns.log().iter().any(|q| q == "MX xn--bcher-kva.test"));
    assert!(lab
        .web
        .log()
        .iter()
        .any(|s| s.host == "autoconfig.xn--bcher-kva.test" && s.target == "/mail/config-v1.1.xml"));
}

#[test]
fn default_ispdb_url_resolves_through_the_test_dns_only() {
    // No --ispdb-url: the public ISPDB name is asked of the test DNS, which does not know it,
    // so nothing leaves loopback.
    let lab = Lab::start(base_zone(), Routes::new());
    let a = Address::parse("alice@lab.test").unwrap();
    let mut cfg = config(&lab, T);
    cfg.ispdb_url = discover::DEFAULT_ISPDB_URL.into();
    let r = lab.rt.block_on(discover::discover(&a, &cfg)).unwrap();
    let ispdb = source(&r, SourceKind::Ispdb);
    assert_eq!(ispdb.status, SourceStatus::Failed, "{ispdb:?}");
    assert!(
        ispdb
            .detail
            .contains("cannot resolve autoconfig.thunderbird.net"),
        "{}",
        ispdb.detail
    );
    assert!(lab
        .dns
        .log()
        .iter()
        .any(|q| q.ends_with(" autoconfig.thunderbird.net")));
}

#[test]
fn autodiscover_through_its_srv_record() {
    let mut z = base_zone();
    z.srv("_autodiscover._tcp.lab.test", 0, 0, 443, "adsrv.lab.test");
    let mut routes = Routes::new();
    routes.insert(
        route("POST", "https", "adsrv.lab.test", "/autodiscover/autodiscover.xml"),
        Reply::xml(&autodiscover_doc(
            "<Action>settings</Action>\
             <Protocol><Type>IMAP</Type><Server>imap.lab.test</Server><Port>993</Port><Encryption>SSL</Encryption></Protocol>",
        )),
    );
    let lab = Lab::start(z, routes);
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(
        r.winners[&Protocol::Imap],
        SourceKind::Autodiscover,
        "{:?}",
        r.sources
    );
    let c = selected(&r, Protocol::Imap)[0];
    assert_eq!(
        c.origin,
        "https://adsrv.lab.test/autodiscover/autodiscover.xml"
    );
    assert!(
        !c.trusted,
        "the endpoint came from an unvalidated SRV record"
    );
    assert!(lab
        .dns
        .log()
        .iter()
        .any(|q| q == "SRV _autodiscover._tcp.lab.test"));
}

fn imap_settings() -> String {
    autodiscover_doc(
        "<Action>settings</Action>\
         <Protocol><Type>IMAP</Type><Server>imap.lab.test</Server><Port>993</Port><Encryption>SSL</Encryption></Protocol>",
    )
}

#[test]
fn autodiscover_keeps_its_https_answer_while_its_srv_lookup_hangs() {
    let mut z = base_zone();
    z.hang("_autodiscover._tcp.lab.test");
    let mut routes = Routes::new();
    routes.insert(
        route(
            "POST",
            "https",
            "autodiscover.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::xml(&imap_settings()),
    );
    let lab = Lab::start(z, routes);
    let deadline = Duration::from_millis(1500);
    let r = run(&lab, "alice@lab.test", deadline);
    let ad = source(&r, SourceKind::Autodiscover);
    assert_eq!(ad.status, SourceStatus::Answered, "{ad:?}");
    assert!(ad.ms < deadline.as_millis() as u64, "{ad:?}");
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Autodiscover);
    assert_eq!(source(&r, SourceKind::Guess).status, SourceStatus::Skipped);
    // The SRV way was started too; its lookup was abandoned once the first way had answered.
    assert!(ad
        .queried
        .iter()
        .any(|q| q == "SRV _autodiscover._tcp.lab.test"));
}

#[test]
fn mx_keeps_a_derived_domains_answer_when_another_hangs_after_a_slow_mx() {
    // The MX answer takes half the deadline; of the MX's two domains, the first one's
    // autoconfig hangs, the second one's answers. The answer must survive the deadline.
    let deadline = Duration::from_millis(1600);
    let mut z = base_zone();
    z.mx("lab.test", 10, "mx1.mail.mailhost.test")
        .slow("lab.test", deadline / 2);
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.mail.mailhost.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::Hang,
    );
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.mailhost.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml(&autoconfig_doc(
            ("imap.mailhost.test", 993, "SSL"),
            ("smtp.mailhost.test", 465, "SSL"),
        )),
    );
    let lab = Lab::start(z, routes);
    let r = run(&lab, "alice@lab.test", deadline);
    let mx = source(&r, SourceKind::Mx);
    assert_eq!(mx.status, SourceStatus::Answered, "{mx:?}");
    assert!(mx.ms < deadline.as_millis() as u64, "{mx:?}");
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Mx);
    assert_eq!(selected(&r, Protocol::Imap)[0].host, "imap.mailhost.test");
    assert!(mx
        .notes
        .texts()
        .iter()
        .any(|n| n.contains("mail.mailhost.test")
            && n.contains("no answer before the source's deadline")));
}

#[test]
fn a_certificate_from_an_unknown_ca_is_a_failure_naming_the_url() {
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml(&autoconfig_doc(
            ("mail.lab.test", 993, "SSL"),
            ("mail.lab.test", 465, "SSL"),
        )),
    );
    routes.insert(
        route(
            "POST",
            "https",
            "autodiscover.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::xml(&imap_settings()),
    );
    let lab = Lab::start(base_zone(), routes);
    // The client trusts another CA than the one that signed the server's certificate.
    let stranger = discover_support::Ca::new().file();
    let a = Address::parse("alice@lab.test").unwrap();
    let mut cfg = config(&lab, T);
    cfg.ca_file = Some(stranger.path().to_path_buf());
    let r = lab.rt.block_on(discover::discover(&a, &cfg)).unwrap();
    let ac = source(&r, SourceKind::Autoconfig);
    assert_eq!(ac.status, SourceStatus::Failed, "{ac:?}");
    assert!(
        ac.detail.contains(
            "https://autoconfig.lab.test/mail/config-v1.1.xml: TLS failure: invalid peer certificate"
        ),
        "{}",
        ac.detail
    );
    let ad = source(&r, SourceKind::Autodiscover);
    assert_eq!(ad.status, SourceStatus::Failed, "{ad:?}");
    assert!(
        ad.detail.contains(
            "POST https://autodiscover.lab.test/autodiscover/autodiscover.xml: TLS failure: invalid peer certificate"
        ),
        "{}",
        ad.detail
    );
    // Neither refused answer is used (guessing fills in: lab.test resolves).
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Guess);
}

#[test]
fn srv_not_offered_is_neither_guessed_nor_selected() {
    let mut z = base_zone();
    for svc in ["_imaps", "_imap", "_pop3s", "_pop3"] {
        z.srv(&format!("{svc}._tcp.lab.test"), 0, 0, 0, ".");
    }
    z.a("mail.lab.test", "127.0.0.1")
        .a("imap.lab.test", "127.0.0.1")
        .a("smtp.lab.test", "127.0.0.1");
    let lab = Lab::start(z, Routes::new());
    let r = run(&lab, "alice@lab.test", T);
    let srv = source(&r, SourceKind::Srv);
    assert_eq!(
        srv.not_offered,
        vec![Protocol::Imap, Protocol::Pop3],
        "{srv:?}"
    );
    let guess = source(&r, SourceKind::Guess);
    assert_eq!(guess.status, SourceStatus::Answered, "{guess:?}");
    assert!(guess
        .candidates
        .iter()
        .all(|c| c.protocol == Protocol::Smtp));
    assert!(guess.detail.contains("not offered"), "{}", guess.detail);
    assert!(selected(&r, Protocol::Imap).is_empty());
    assert!(selected(&r, Protocol::Pop3).is_empty());
    assert_eq!(r.winners[&Protocol::Smtp], SourceKind::Guess);
    // Nobody asked whether the IMAP/POP3 guesses resolve.
    assert!(!lab
        .dns
        .log()
        .iter()
        .any(|q| q.ends_with(" imap.lab.test") || q.ends_with(" pop.lab.test")));
    assert!(
        r.notes
            .texts()
            .iter()
            .any(|n| n.contains("imap is not offered")),
        "{:?}",
        r.notes
    );
}

#[test]
fn autodiscover_follows_an_https_redirect_of_the_post() {
    let mut routes = Routes::new();
    routes.insert(
        route(
            "POST",
            "https",
            "autodiscover.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::Answer(
            302,
            vec![(
                "Location".into(),
                "https://adsrv.lab.test/autodiscover/autodiscover.xml".into(),
            )],
            vec![],
        ),
    );
    routes.insert(
        route(
            "POST",
            "https",
            "adsrv.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::xml(&imap_settings()),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(
        r.winners[&Protocol::Imap],
        SourceKind::Autodiscover,
        "{:?}",
        r.sources
    );
    let c = selected(&r, Protocol::Imap)[0];
    assert_eq!(
        c.origin,
        "https://adsrv.lab.test/autodiscover/autodiscover.xml"
    );
    assert!(c.trusted, "every step was https");
    let ad = source(&r, SourceKind::Autodiscover);
    assert!(ad
        .queried
        .iter()
        .any(|q| q == "HTTP 302 -> https://adsrv.lab.test/autodiscover/autodiscover.xml"));
    assert_posted_the_address(&lab, "adsrv.lab.test");
}

#[test]
fn autodiscover_refuses_a_redirect_of_the_post_to_http() {
    let mut routes = Routes::new();
    routes.insert(
        route(
            "POST",
            "https",
            "autodiscover.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::Answer(
            307,
            vec![(
                "Location".into(),
                "http://adsrv.lab.test/autodiscover/autodiscover.xml".into(),
            )],
            vec![],
        ),
    );
    routes.insert(
        route(
            "POST",
            "http",
            "adsrv.lab.test",
            "/autodiscover/autodiscover.xml",
        ),
        Reply::xml(&imap_settings()),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    let ad = source(&r, SourceKind::Autodiscover);
    assert_eq!(ad.status, SourceStatus::Failed, "{ad:?}");
    assert!(
        ad.detail.contains(
            "POST https://autodiscover.lab.test/autodiscover/autodiscover.xml: HTTP 307 to non-https http://adsrv.lab.test/autodiscover/autodiscover.xml, refused"
        ),
        "{}",
        ad.detail
    );
    assert!(!lab
        .web
        .log()
        .iter()
        .any(|s| s.scheme == "http" && s.method == "POST"));
}

/// Autoconfig and ISPDB documents naming the same servers, each with its own IMAP
/// `<username>` (SMTP always says the full address).
fn routes_with_imap_usernames(autoconfig_user: &str, ispdb_user: &str) -> Routes {
    let doc = |user: &str| {
        format!(
            r#"<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="lab.test">
    <domain>lab.test</domain>
    <incomingServer type="imap">
      <hostname>mail.lab.test</hostname><port>993</port><socketType>SSL</socketType>
      <username>{user}</username><authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>mail.lab.test</hostname><port>465</port><socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>"#
        )
    };
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml(&doc(autoconfig_user)),
    );
    routes.insert(
        route("GET", "https", "ispdb.test", "/v1.1/lab.test"),
        Reply::xml(&doc(ispdb_user)),
    );
    routes
}

#[test]
fn same_server_other_username_is_a_disagreement_and_the_higher_source_wins() {
    let lab = Lab::start(
        base_zone(),
        routes_with_imap_usernames("%EMAILLOCALPART%", "%EMAILADDRESS%"),
    );
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(source(&r, SourceKind::Ispdb).status, SourceStatus::Answered);
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Autoconfig);
    let imap = selected(&r, Protocol::Imap);
    assert_eq!(imap.len(), 1);
    assert_eq!(imap[0].username, "alice", "autoconfig's login name is used");
    // One disagreement, IMAP only: SMTP's answers are identical.
    assert_eq!(r.disagreements.len(), 1, "{:?}", r.disagreements);
    let d = &r.disagreements[0];
    assert_eq!(
        (d.protocol, d.winner, d.source),
        (Protocol::Imap, SourceKind::Autoconfig, SourceKind::Ispdb)
    );
    assert_eq!(d.winner_says, ["mail.lab.test:993 tls"]);
    assert_eq!(d.source_says, d.winner_says, "the servers agree");
    assert_eq!(d.winner_usernames, ["alice"]);
    assert_eq!(d.source_usernames, ["alice@lab.test"]);

    let mut table = Vec::new();
    mailcheck::report::discovery::write_table_in(&mut table, &r, false, mailcheck::i18n::Lang::En)
        .unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(
        table.contains(
            "IMAP  autoconfig says mail.lab.test:993 tls (user alice); \
             ispdb says mail.lab.test:993 tls (user alice@lab.test)"
        ),
        "{table}"
    );
    // JSON: additive fields on the disagreement.
    let json = serde_json::to_value(&r).unwrap();
    let d = &json["disagreements"][0];
    assert_eq!(d["winner_usernames"], serde_json::json!(["alice"]));
    assert_eq!(d["source_usernames"], serde_json::json!(["alice@lab.test"]));
}

#[test]
fn identical_answers_are_no_disagreement() {
    let lab = Lab::start(
        base_zone(),
        routes_with_imap_usernames("%EMAILLOCALPART%", "%EMAILLOCALPART%"),
    );
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(source(&r, SourceKind::Ispdb).status, SourceStatus::Answered);
    assert_eq!(
        source(&r, SourceKind::Autoconfig).status,
        SourceStatus::Answered
    );
    assert_eq!(selected(&r, Protocol::Imap)[0].username, "alice");
    assert!(r.disagreements.is_empty(), "{:?}", r.disagreements);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["disagreements"], serde_json::json!([]));
}

/// What discovery concludes when nothing was found, and how long it took.
fn failure_of(lab: &Lab, cfg: &DiscoveryConfig, address: &str) -> (DiscoveryFailure, Duration) {
    let a = Address::parse(address).unwrap();
    let t0 = Instant::now();
    let r = lab.rt.block_on(discover::discover(&a, cfg)).unwrap();
    let took = t0.elapsed();
    assert!(r.selected.is_empty(), "{:?}", r.selected);
    let f = r.failure().expect("nothing found, so a failure");
    // The front ends' text says the cause first.
    let text = failure_text(&r, Lang::En).unwrap();
    assert!(
        text.starts_with(&format!(
            "No server found for {}: {}: {}",
            r.domain,
            f.cause(Lang::En),
            f.hint(Lang::En)
        )),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1 + r.sources.len(), "{text}");
    (f, took)
}

/// lab.test exists (a null MX: it takes no mail) but has no address, so that guessing finds
/// nothing; the web names resolve to the test web server.
fn zone_where_lab_test_has_no_address() -> Zone {
    let mut z = Zone::default();
    for n in discover_support::WEB_NAMES
        .iter()
        .filter(|n| **n != "lab.test")
    {
        z.a(n, "127.0.0.1");
    }
    z.mx("lab.test", 0, ".");
    z
}

/// A UDP port on 127.0.0.1 where nothing listens (bound, then closed).
fn closed_udp_port() -> std::net::SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn a_dns_server_where_nothing_listens_is_known_within_3_seconds() {
    let lab = Lab::start(base_zone(), Routes::new());
    let dns = closed_udp_port();
    // A long budget: the answer must come from the refusal, not from a deadline.
    let mut cfg = config(&lab, Duration::from_secs(8));
    cfg.resolver = Resolver::with_server(dns, Duration::from_secs(8));
    let (f, took) = failure_of(&lab, &cfg, "alice@lab.test");
    assert_eq!(
        f,
        DiscoveryFailure::DnsSilent {
            server: dns.to_string()
        }
    );
    assert_eq!(f.code(), "dns-silent");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // Nothing reached the web server: no name resolved.
    assert!(lab.web.log().is_empty(), "{:?}", lab.web.log());
}

#[test]
fn a_dns_server_that_swallows_queries_does_not_answer_either() {
    let lab = Lab::start(base_zone(), Routes::new());
    // Bound and kept, never read: every query times out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = config(&lab, Duration::from_secs(1));
    cfg.resolver = Resolver::with_server(silent.local_addr().unwrap(), Duration::from_secs(1));
    let (f, _) = failure_of(&lab, &cfg, "alice@lab.test");
    assert_eq!(f.code(), "dns-silent", "{f:?}");
}

#[test]
fn a_domain_that_does_not_exist_is_named_so() {
    let lab = Lab::start(base_zone(), Routes::new());
    let (f, _) = failure_of(&lab, &config(&lab, T), "alice@nowhere.test");
    assert_eq!(
        f,
        DiscoveryFailure::NoSuchDomain {
            domain: "nowhere.test".into()
        }
    );
    assert_eq!(f.code(), "no-such-domain");
    assert!(f
        .cause(Lang::Fr)
        .contains("le domaine nowhere.test n'existe pas"));
}

#[test]
fn a_domain_that_publishes_nothing_is_named_so() {
    let lab = Lab::start(zone_where_lab_test_has_no_address(), Routes::new());
    let (f, _) = failure_of(&lab, &config(&lab, T), "alice@lab.test");
    assert_eq!(
        f,
        DiscoveryFailure::PublishesNothing {
            domain: "lab.test".into()
        }
    );
    assert_eq!(f.code(), "publishes-nothing");
}

#[test]
fn web_sources_refused_for_one_tls_reason_say_that_reason() {
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml(&autoconfig_doc(
            ("mail.lab.test", 993, "SSL"),
            ("mail.lab.test", 465, "SSL"),
        )),
    );
    let lab = Lab::start(zone_where_lab_test_has_no_address(), routes);
    // The client trusts another CA than the one that signed the web server's certificate.
    let stranger = discover_support::Ca::new().file();
    let mut cfg = config(&lab, T);
    cfg.ca_file = Some(stranger.path().to_path_buf());
    let (f, _) = failure_of(&lab, &cfg, "alice@lab.test");
    let DiscoveryFailure::Tls { reason } = &f else {
        panic!("{f:?}")
    };
    assert!(reason.starts_with("invalid peer certificate"), "{reason}");
    assert_eq!(f.code(), "tls");
}

#[test]
fn failures_of_several_kinds_are_other() {
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml("<clientConfig><emailProvider"),
    );
    routes.insert(
        route("GET", "https", "ispdb.test", "/v1.1/lab.test"),
        Reply::Answer(500, vec![], b"oops".to_vec()),
    );
    let lab = Lab::start(zone_where_lab_test_has_no_address(), routes);
    let (f, _) = failure_of(&lab, &config(&lab, T), "alice@lab.test");
    assert_eq!(f, DiscoveryFailure::Other);
    assert_eq!(f.code(), "other");
}

/// §4 once per domain: 20 addresses of one domain discovered together through one cache (as
/// `batch` and `check` do) ask each URL once; each address still gets its own login name.
#[test]
fn twenty_addresses_of_one_domain_ask_each_url_once() {
    use std::collections::HashMap;
    use std::sync::Arc;
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::xml(&autoconfig_doc(
            ("mail.lab.test", 993, "SSL"),
            ("mail.lab.test", 587, "STARTTLS"),
        )),
    );
    let lab = Lab::start(base_zone(), routes);
    let cfg = config(&lab, T);
    let cache = Arc::new(discover::cache::DiscoveryCache::default());
    let addresses: Vec<Address> = (0..20)
        .map(|i| Address::parse(&format!("user{i}@lab.test")).unwrap())
        .collect();
    let reports: Vec<DiscoveryReport> = lab
        .rt
        .block_on(futures::future::join_all(
            addresses
                .iter()
                .map(|a| discover::discover_with(a, &cfg, Some(cache.clone()))),
        ))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut gets: HashMap<String, usize> = HashMap::new();
    let mut posts = 0;
    for s in lab.web.log() {
        if s.method == "GET" {
            *gets
                .entry(format!("{}://{}{}", s.scheme, s.host, s.target))
                .or_default() += 1;
        } else {
            posts += 1;
        }
    }
    assert!(!gets.is_empty());
    assert!(gets.values().all(|n| *n == 1), "{gets:?}");
    // The Autodiscover POST carries the address: its answer is that address's alone.
    assert!(posts <= 20 * 2, "{posts}");
    for (a, r) in addresses.iter().zip(&reports) {
        assert_eq!(r.winners[&Protocol::Imap], SourceKind::Autoconfig);
        assert_eq!(selected(r, Protocol::Imap)[0].username, a.ascii());
        assert_eq!(selected(r, Protocol::Smtp)[0].username, a.local);
    }
    // Every discovery but the first found some answer already there (or under way).
    assert!(reports.iter().filter(|r| r.cached).count() >= 19);
    // A discovery without the cache asks again, and says it did not use one.
    let again = run(&lab, "late@lab.test", T);
    assert!(!again.cached);
    let json = serde_json::to_value(&reports[1]).unwrap();
    assert!(json["cached"].is_boolean());
}

/// §1: a document declared ISO-8859-1 with a Latin-1 letter in its displayName is read, not
/// "failed: not UTF-8".
#[test]
fn a_latin1_autoconfig_document_is_read() {
    let doc = autoconfig_doc(
        ("mail.lab.test", 993, "SSL"),
        ("mail.lab.test", 587, "STARTTLS"),
    )
    .replace(
        r#"<?xml version="1.0"?>"#,
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>"#,
    )
    .replace("Lab Mail", "Laboratoire Équipé");
    let latin1: Vec<u8> = doc
        .chars()
        .map(|c| u8::try_from(c as u32).unwrap())
        .collect();
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        Reply::Answer(
            200,
            vec![("Content-Type".into(), "text/xml".into())],
            latin1,
        ),
    );
    let lab = Lab::start(base_zone(), routes);
    let r = run(&lab, "alice@lab.test", T);
    let ac = source(&r, SourceKind::Autoconfig);
    assert_eq!(ac.status, SourceStatus::Answered, "{ac:?}");
    assert_eq!(ac.provider.as_deref(), Some("Laboratoire Équipé"));
    assert_eq!(r.winners[&Protocol::Imap], SourceKind::Autoconfig);
}

/// §4 for `serve`: an answer is kept as long as its Cache-Control allows, at most the ceiling.
#[test]
fn a_bounded_cache_follows_cache_control() {
    use std::sync::Arc;
    let answer = |cache_control: &str| {
        Reply::Answer(
            200,
            vec![
                ("Content-Type".into(), "text/xml".into()),
                ("Cache-Control".into(), cache_control.into()),
            ],
            autoconfig_doc(
                ("mail.lab.test", 993, "SSL"),
                ("mail.lab.test", 587, "STARTTLS"),
            )
            .into_bytes(),
        )
    };
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.lab.test",
            "/mail/config-v1.1.xml",
        ),
        answer("no-store"),
    );
    routes.insert(
        route("GET", "https", "ispdb.test", "/v1.1/lab.test"),
        answer("max-age=300"),
    );
    let lab = Lab::start(base_zone(), routes);
    let cfg = config(&lab, T);
    let cache = Arc::new(discover::cache::DiscoveryCache::new(
        discover::cache::Keep::Bounded {
            ceiling: Duration::from_secs(3600),
        },
    ));
    let twice: Vec<DiscoveryReport> = ["a@lab.test", "b@lab.test"]
        .iter()
        .map(|a| {
            let a = Address::parse(a).unwrap();
            lab.rt
                .block_on(discover::discover_with(&a, &cfg, Some(cache.clone())))
                .unwrap()
        })
        .collect();
    let count = |host: &str| {
        lab.web
            .log()
            .iter()
            .filter(|s| s.method == "GET" && s.scheme == "https" && s.host == host)
            .count()
    };
    assert_eq!(count("autoconfig.lab.test"), 2, "no-store: asked again");
    assert_eq!(count("ispdb.test"), 1, "max-age=300: kept");
    assert!(!twice[0].cached);
    assert!(twice[1].cached);
    assert_eq!(
        selected(&twice[1], Protocol::Imap)[0].username,
        "b@lab.test"
    );
}

/// The draft's MX steps: `%MXFULLDOMAIN%`'s autoconfig at `/.well-known/mail-v1.xml` (3.1)
/// outranks `%MXBASEDOMAIN%`'s (3.2), which outranks the ISPDB (3.3, 3.4).
#[test]
fn mx_steps_follow_the_drafts_order() {
    let mut z = base_zone();
    z.mx("lab.test", 10, "mx1.mail.mailhost.test");
    let doc = |host: &str| Reply::xml(&autoconfig_doc((host, 993, "SSL"), (host, 465, "SSL")));
    let mut routes = Routes::new();
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.mail.mailhost.test",
            "/.well-known/mail-v1.xml",
        ),
        doc("full.mailhost.test"),
    );
    routes.insert(
        route(
            "GET",
            "https",
            "autoconfig.mailhost.test",
            "/mail/config-v1.1.xml",
        ),
        doc("base.mailhost.test"),
    );
    routes.insert(
        route("GET", "https", "ispdb.test", "/v1.1/mailhost.test"),
        doc("ispdb.mailhost.test"),
    );
    let lab = Lab::start(z, routes);
    let r = run(&lab, "alice@lab.test", T);
    assert_eq!(
        r.winners[&Protocol::Imap],
        SourceKind::Mx,
        "{:?}",
        r.sources
    );
    assert_eq!(selected(&r, Protocol::Imap)[0].host, "full.mailhost.test");
    let mx = source(&r, SourceKind::Mx);
    assert!(mx
        .queried
        .iter()
        .any(|q| q == "GET https://autoconfig.mail.mailhost.test/.well-known/mail-v1.xml"));
    // Only the MX's domains went out, never the address.
    assert!(lab
        .web
        .log()
        .iter()
        .filter(|s| s.host.contains("mailhost"))
        .all(|s| !s.target.contains("alice")));
}
