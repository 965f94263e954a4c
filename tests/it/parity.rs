//! One account given through each front end — `probe` flags, a checks file (`check`), `batch`
//! flags and an exporter request (`serve`) — yields the same plan and the same credential
//! decision. Each case names a setting whose copies once drifted apart between front ends.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use clap::Parser;
use mailcheck::check::config::ChecksFile;
use mailcheck::cli::{Cli, Command};
use mailcheck::discover::{Candidate, DiscoveryReport, Notes, SourceKind};
use mailcheck::model::{Protocol, Security};
use mailcheck::plan::{self, RunPlan};
use mailcheck::settings::Settings;

/// The four front ends' settings for one account.
struct Fronts {
    probe: Vec<&'static str>,
    checks_file: String,
    batch: Vec<&'static str>,
    /// The exporter's query (`target`, `module`), with `checks_file` as its `--config`.
    query: Vec<(&'static str, &'static str)>,
}

fn parse(args: &[&str]) -> Command {
    let mut argv = vec!["mailcheck"];
    argv.extend(args);
    Cli::try_parse_from(argv).expect("arguments parse").command
}

impl Fronts {
    fn settings(&self) -> Vec<(&'static str, Settings)> {
        let Command::Probe(p) = parse(&self.probe) else {
            panic!("not a probe")
        };
        let Command::Batch(b) = parse(&self.batch) else {
            panic!("not a batch")
        };
        let file = ChecksFile::parse(Path::new("parity.toml"), &self.checks_file)
            .expect("the checks file parses");
        let query: HashMap<String, String> = self
            .query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vec![
            ("probe", mailcheck::app::probe_settings(&p).unwrap()),
            ("check", file.accounts[0].clone()),
            (
                "batch",
                mailcheck::check::cli::batch_settings(&b).unwrap()[0].clone(),
            ),
            (
                "serve",
                mailcheck::serve::request_settings(Some(&file), &query).unwrap(),
            ),
        ]
    }
}

/// What must be equal: the targets, the policy, the certificate level, the discovery asked
/// for, and whether the secret may go out (and why not).
fn fingerprint(s: &Settings, found: Option<&DiscoveryReport>) -> String {
    let discovery = plan::discovery_config(s).map(|c| {
        format!(
            "ispdb={} timeout={:?} resolver={:?}",
            c.ispdb_url, c.timeout, c.resolver
        )
    });
    let run: RunPlan = plan::plan(s, found.cloned()).expect("plans");
    format!(
        "targets={:?}\npolicy={:?}\ncert_warn_days={}\ndiscovery={discovery:?}\nsecret_sent={} withheld_from={:?}",
        run.plan.targets,
        run.plan.policy,
        run.cert_warn_days,
        run.credential.is_some(),
        run.withheld_from,
    )
}

fn assert_parity(name: &str, fronts: &Fronts, found: Option<&DiscoveryReport>) -> String {
    let all = fronts.settings();
    let (first, reference) = (&all[0].0, fingerprint(&all[0].1, found));
    for (front, s) in &all[1..] {
        assert_eq!(
            fingerprint(s, found),
            reference,
            "{name}: {front} plans differently from {first}"
        );
    }
    reference
}

/// A discovery that selected one IMAP server, named by an untrusted channel (SRV without
/// DNSSEC), plus SMTP inside the domain.
fn discovered(domain: &str, imap_host: &str) -> DiscoveryReport {
    let cand = |protocol, host: &str, port, security| Candidate {
        protocol,
        host: host.into(),
        port,
        security,
        username: format!("a@{domain}"),
        auth: vec![],
        source: SourceKind::Srv,
        origin: format!("_imaps._tcp.{domain}"),
        dnssec: None,
        trusted: false,
        notes: Notes::default(),
    };
    DiscoveryReport {
        address: format!("a@{domain}"),
        domain: domain.into(),
        resolver: "system".into(),
        elapsed_ms: 0,
        sources: vec![],
        winners: BTreeMap::new(),
        selected: vec![
            cand(Protocol::Imap, imap_host, 993, Security::Tls),
            cand(
                Protocol::Smtp,
                &format!("smtp.{domain}"),
                587,
                Security::Starttls,
            ),
        ],
        disagreements: vec![],
        notes: Notes::default(),
        cached: false,
    }
}

#[test]
fn a_named_server_with_a_critical_certificate_level() {
    // The checks file once left the warning level at 21 days under a 30-day critical one.
    let fronts = Fronts {
        probe: vec![
            "probe",
            "a@example.com",
            "--server",
            "mail.example.com",
            "--cert-crit-days",
            "30",
            "--password-command",
            "echo x",
        ],
        checks_file: "[[account]]\naddress = \"a@example.com\"\nserver = \"mail.example.com\"\nmin_cert_days = 30\npassword_command = \"echo x\"\n".into(),
        batch: vec![
            "batch",
            "a@example.com",
            "--server",
            "mail.example.com",
            "--cert-crit-days",
            "30",
            "--password-command",
            "echo x",
        ],
        query: vec![("target", "a@example.com")],
    };
    let fp = assert_parity("named server", &fronts, None);
    assert!(fp.contains("cert_warn_days=30"), "{fp}");
    assert!(fp.contains("secret_sent=true"), "{fp}");
}

#[test]
fn an_untrusted_discovered_host_outside_the_domain_gets_no_secret() {
    let fronts = Fronts {
        probe: vec!["probe", "a@example.com", "--password-command", "echo x"],
        checks_file: "[[account]]\naddress = \"a@example.com\"\npassword_command = \"echo x\"\n"
            .into(),
        batch: vec!["batch", "a@example.com", "--password-command", "echo x"],
        query: vec![("target", "a@example.com")],
    };
    let found = discovered("example.com", "imap.elsewhere.test");
    let fp = assert_parity("untrusted host", &fronts, Some(&found));
    assert!(
        fp.contains("secret_sent=false withheld_from=[\"imap.elsewhere.test\"]"),
        "{fp}"
    );
}

#[test]
fn a_built_in_providers_host_receives_the_secret_from_every_front_end() {
    // `probe` exempted the provider table's hosts; `check` and `serve` withheld the secret.
    assert!(mailcheck::discover::providers::is_provider_host(
        "ssl0.ovh.net"
    ));
    let fronts = Fronts {
        probe: vec!["probe", "a@example.com", "--password-command", "echo x"],
        checks_file: "[[account]]\naddress = \"a@example.com\"\npassword_command = \"echo x\"\n"
            .into(),
        batch: vec!["batch", "a@example.com", "--password-command", "echo x"],
        query: vec![("target", "a@example.com")],
    };
    let found = discovered("example.com", "ssl0.ovh.net");
    let fp = assert_parity("provider host", &fronts, Some(&found));
    assert!(fp.contains("secret_sent=true withheld_from=[]"), "{fp}");
}

#[test]
fn discovery_defaults_and_the_dns_server_are_the_same_everywhere() {
    // The exporter's target that no account describes once ignored `[defaults]` (the system
    // resolver, the public ISPDB) and wrote its own 8 s default.
    let fronts = Fronts {
        probe: vec![
            "probe",
            "b@example.com",
            "--dns-server",
            "127.0.0.1:5353",
            "--password-command",
            "echo x",
        ],
        checks_file: "[defaults]\ndns_server = \"127.0.0.1:5353\"\npassword_command = \"echo x\"\n[[account]]\naddress = \"b@example.com\"\n".into(),
        batch: vec![
            "batch",
            "b@example.com",
            "--dns-server",
            "127.0.0.1:5353",
            "--password-command",
            "echo x",
        ],
        query: vec![("target", "b@example.com")],
    };
    let found = discovered("example.com", "imap.example.com");
    let fp = assert_parity("dns server", &fronts, Some(&found));
    assert!(fp.contains("127.0.0.1:5353"), "{fp}");
    assert!(
        fp.contains("ispdb=https://autoconfig.thunderbird.net/v1.1/ timeout=8s"),
        "{fp}"
    );
    // An exporter target the checks file does not describe gets `[defaults]` too.
    let file = ChecksFile::parse(Path::new("parity.toml"), &fronts.checks_file).unwrap();
    let q = HashMap::from([("target".to_string(), "c@example.com".to_string())]);
    let bare = mailcheck::serve::request_settings(Some(&file), &q).unwrap();
    assert!(format!("{:?}", bare.policy.resolver).contains("127.0.0.1:5353"));
    // ... but not their credential: it only goes where the file sends it.
    assert!(!bare.credential.is_some());
}

#[test]
fn thresholds_are_validated_once_with_the_origin_of_the_value() {
    let Command::Probe(p) = parse(&["probe", "a@example.com", "-w", "2s", "-c", "1s"]) else {
        panic!()
    };
    let e = mailcheck::app::probe_settings(&p).unwrap_err().to_string();
    assert!(
        e.starts_with("-w: ") && e.contains("warning must come first"),
        "{e}"
    );
    let e = ChecksFile::parse(
        Path::new("t.toml"),
        "[[account]]\naddress = \"a@example.com\"\nwarn_response = \"2s\"\nmax_response = \"1s\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("t.toml:3:17: ") && e.contains("warning must come first"),
        "{e}"
    );
    let Command::Probe(p) = parse(&["probe", "a@example.com", "--ispdb-url", "ftp://x"]) else {
        panic!()
    };
    let e = mailcheck::app::probe_settings(&p).unwrap_err().to_string();
    assert!(e.starts_with("--ispdb-url: "), "{e}");
}
