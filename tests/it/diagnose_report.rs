//! Diagnosis and its outputs from fixed probe reports (no network, no clock): snapshots of the
//! table and the settings card in English and French, the Thunderbird file parsed back, the
//! Apple profile parsed as a property list, the JSON contract.
//!
//! Snapshots live in tests/snapshots/. After an intended change of wording, rewrite them with
//! `MAILCHECK_UPDATE_SNAPSHOTS=1 cargo test --test diagnose_report` and review the diff.

use std::path::PathBuf;

use mailcheck::account::SecretSource;
use mailcheck::diagnose::{DocumentedSetting, Login, Verdict};
use mailcheck::i18n::Lang;
use mailcheck::model::{Combination, Protocol, Security, Target};
use mailcheck::net::connect::{Attempt, AttemptOutcome};
use mailcheck::net::legacy_tls::LegacyTls;
use mailcheck::net::tls::{CertInfo, CertVerdict, TlsFacts};
use mailcheck::outcome::{classify_auth_refusal, Finding, FindingCode, Reason, Severity};
use mailcheck::probe::{
    AuthOutcome, Capabilities, Failure, NotAttempted, ProbeReport, Step, StepName,
};
use mailcheck::report::card::{self, CardFormat};
use mailcheck::report::{self, CredentialInfo, CredentialKind, ReportOptions, RunInput, RunReport};

const HOST: &str = "mail.example.fr";

fn target(protocol: Protocol, port: u16, security: Security) -> Target {
    Target {
        host: HOST.into(),
        combination: Combination::new(protocol, port, security),
        connect_host: HOST.into(),
        connect_port: port,
        tls_name: HOST.into(),
        username: "alice@example.fr".into(),
        address: None,
    }
}

fn cert(days_left: i64, names: &[&str]) -> CertInfo {
    CertInfo {
        subject: format!("CN={}", names[0]),
        issuer: "CN=Example CA".into(),
        names: names.iter().map(|s| s.to_string()).collect(),
        not_before: "2026-01-01T00:00:00Z".into(),
        not_after: "2026-03-13T00:00:00Z".into(),
        not_after_unix: 1_773_360_000,
        days_left,
        sha256: "AA:BB".into(),
        self_signed: false,
        serial: "01".into(),
        key_type: "EC P-256".into(),
    }
}

fn tls(verification: CertVerdict, cert: CertInfo) -> TlsFacts {
    TlsFacts {
        version: "TLSv1.3".into(),
        cipher_suite: "TLS13_AES_256_GCM_SHA384".into(),
        key_exchange: Some("X25519".into()),
        sni: Some(HOST.into()),
        alpn: None,
        certificate: Some(cert),
        chain_length: 2,
        verification,
        ocsp: Default::default(),
        quality: Default::default(),
        dane: None,
        chain: vec![],
    }
}

fn step(name: StepName, ok: bool) -> Step {
    Step {
        name,
        start_ms: 0,
        ms: 12,
        ok,
        detail: None,
    }
}

fn caps(starttls: bool, login_offered: bool) -> Capabilities {
    Capabilities {
        raw: vec!["IMAP4rev1".into()],
        starttls,
        auth_mechanisms: vec!["PLAIN".into()],
        login_offered,
    }
}

fn base(t: Target) -> ProbeReport {
    ProbeReport {
        target: t,
        peer: Some("192.0.2.10:993".parse().unwrap()),
        attempts: vec![Attempt {
            address: "192.0.2.10:993".parse().unwrap(),
            outcome: AttemptOutcome::Connected,
            ms: 12,
        }],
        steps: vec![step(StepName::Connect, true)],
        greeting: None,
        tls: None,
        capabilities_before_tls: None,
        capabilities: None,
        auth: AuthOutcome::NotAttempted {
            why: NotAttempted::EarlierFailure,
        },
        failure: None,
        findings: vec![],
        elapsed_ms: 40,
        transcript: None,
        legacy_tls: None,
        legacy_handshake: None,
    }
}

fn works(t: Target, days_left: i64) -> ProbeReport {
    let mut r = base(t);
    r.tls = Some(tls(CertVerdict::Valid, cert(days_left, &[HOST])));
    r.auth = AuthOutcome::Succeeded {
        mechanism: "PLAIN".into(),
        ms: 5,
    };
    r.capabilities = Some(caps(false, true));
    r
}

fn fails(t: Target, reason: Reason, step_name: StepName, detail: &str) -> ProbeReport {
    let mut r = base(t);
    r.steps = vec![step(step_name, false)];
    r.failure = Some(Failure {
        reason,
        step: step_name,
        detail: detail.into(),
        server_says: None,
    });
    r
}

/// A mixed run: incoming works on IMAP (993 with a certificate expiring soon, 143), POP3 995
/// times out although the guide documents it, POP3 110 offers no STARTTLS and a plain-text
/// login; outgoing only works on 587 (465 refused). 993 still accepts TLS 1.1.
fn mixed() -> Vec<ProbeReport> {
    let mut imap993 = works(target(Protocol::Imap, 993, Security::Tls), 12);
    imap993.legacy_tls = Some(LegacyTls {
        accepted: Some("TLSv1.1".into()),
        detail: "chose TLSv1.1".into(),
    });
    let mut imap143 = works(target(Protocol::Imap, 143, Security::Starttls), 12);
    imap143.auth = AuthOutcome::Succeeded {
        mechanism: "PLAIN".into(),
        ms: 4,
    };
    imap143.capabilities_before_tls = Some(caps(true, false));
    let pop995 = fails(
        target(Protocol::Pop3, 995, Security::Tls),
        Reason::ConnectTimeout,
        StepName::Connect,
        "no answer within 5000 ms",
    );
    let mut pop110 = fails(
        target(Protocol::Pop3, 110, Security::Starttls),
        Reason::StarttlsNotOffered,
        StepName::Starttls,
        "CAPA does not list STLS",
    );
    pop110.greeting = Some("+OK POP3 ready".into());
    pop110.capabilities_before_tls = Some(caps(false, true));
    pop110.findings.push(Finding::new(
        FindingCode::PlaintextLoginOffered,
        Severity::Warning,
        Default::default(),
    ));
    let smtp465 = fails(
        target(Protocol::Smtp, 465, Security::Tls),
        Reason::ConnectRefused,
        StepName::Connect,
        "connection refused",
    );
    let mut smtp587 = works(target(Protocol::Smtp, 587, Security::Starttls), 40);
    smtp587.auth = AuthOutcome::Succeeded {
        mechanism: "PLAIN".into(),
        ms: 5,
    };
    vec![imap993, imap143, pop995, pop110, smtp465, smtp587]
}

/// Nothing works: IMAP says only OAuth2 (Microsoft's words) — a verdict on the account, so
/// 993 is still the setting to give — and the SMTP certificate is the shared host's
/// (`ssl0.ovh.net`), not the typed name's.
fn nothing_works() -> Vec<ProbeReport> {
    let mut imap = fails(
        target(Protocol::Imap, 993, Security::Tls),
        Reason::AuthOauth2Required,
        StepName::Auth,
        "PLAIN login refused",
    );
    imap.tls = Some(tls(CertVerdict::Valid, cert(60, &[HOST])));
    let words = "AUTHENTICATE failed: basic authentication is disabled";
    assert_eq!(
        classify_auth_refusal(Some("AUTHENTICATIONFAILED"), None, words),
        Reason::AuthOauth2Required
    );
    imap.failure.as_mut().unwrap().server_says = Some(words.into());
    imap.auth = AuthOutcome::Rejected {
        mechanism: "PLAIN".into(),
        ms: 30,
        server_says: words.into(),
    };
    let mismatch = CertVerdict::NameMismatch {
        expected: HOST.into(),
        presented: vec!["ssl0.ovh.net".into()],
    };
    let mut smtp465 = fails(
        target(Protocol::Smtp, 465, Security::Tls),
        Reason::TlsCertNameMismatch,
        StepName::Tls,
        "certificate is not valid for mail.example.fr; it names ssl0.ovh.net",
    );
    smtp465.tls = Some(tls(mismatch.clone(), cert(60, &["ssl0.ovh.net"])));
    smtp465.auth = AuthOutcome::NotAttempted {
        why: NotAttempted::CertificateNotTrusted,
    };
    let mut smtp587 = fails(
        target(Protocol::Smtp, 587, Security::Starttls),
        Reason::TlsCertNameMismatch,
        StepName::Tls,
        "certificate is not valid for mail.example.fr; it names ssl0.ovh.net",
    );
    smtp587.tls = Some(tls(mismatch, cert(60, &["ssl0.ovh.net"])));
    vec![imap, smtp465, smtp587]
}

fn build(reports: Vec<ProbeReport>, lang: Lang, documented: Vec<DocumentedSetting>) -> RunReport {
    RunReport::build_with(
        RunInput {
            address: "alice@example.fr".into(),
            server: HOST.into(),
            started_at: "2026-03-01T09:30:00Z".into(),
            elapsed_ms: 1234,
            credential: CredentialInfo {
                kind: CredentialKind::Password,
                source: SecretSource::Environment,
                oauth2: None,
            },
            cert_warn_days: 21,
        },
        reports,
        &ReportOptions { lang, documented },
    )
}

fn guide() -> Vec<DocumentedSetting> {
    vec![
        DocumentedSetting::new(
            HOST,
            Combination::new(Protocol::Pop3, 995, Security::Tls),
            "the provider's guide",
        ),
        DocumentedSetting::new(
            HOST,
            Combination::new(Protocol::Imap, 993, Security::Tls),
            "the provider's guide",
        ),
    ]
}

fn table(r: &RunReport) -> String {
    let mut out = Vec::new();
    report::table::write(&mut out, r, false).unwrap();
    String::from_utf8(out).unwrap()
}

fn card_of(r: &RunReport, format: CardFormat) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    card::write(&mut out, &mut err, r, format).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn snapshot(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "snapshots", name]
        .iter()
        .collect();
    if std::env::var_os("MAILCHECK_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\n(MAILCHECK_UPDATE_SNAPSHOTS=1 writes it)\nactual:\n{actual}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (MAILCHECK_UPDATE_SNAPSHOTS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn table_snapshots_in_english_and_french() {
    for (lang, suffix) in [(Lang::En, "en"), (Lang::Fr, "fr")] {
        snapshot(
            &format!("table_mixed.{suffix}.txt"),
            &table(&build(mixed(), lang, guide())),
        );
        snapshot(
            &format!("table_nothing_works.{suffix}.txt"),
            &table(&build(nothing_works(), lang, vec![])),
        );
    }
}

#[test]
fn card_snapshots_in_english_and_french() {
    for (lang, suffix) in [(Lang::En, "en"), (Lang::Fr, "fr")] {
        let (text, err) = card_of(&build(mixed(), lang, guide()), CardFormat::Text);
        assert!(err.is_empty());
        snapshot(&format!("card_mixed.{suffix}.txt"), &text);
        let (text, _) = card_of(&build(nothing_works(), lang, vec![]), CardFormat::Text);
        snapshot(&format!("card_nothing_works.{suffix}.txt"), &text);
    }
}

#[test]
fn diagnosis_of_the_mixed_run() {
    let r = build(mixed(), Lang::En, guide());
    let find = |id: &str| r.results.iter().find(|o| o.id == id).unwrap();
    let codes =
        |id: &str| -> Vec<&str> { find(id).findings.iter().map(|f| f.code.code()).collect() };
    // The certificate expiring in 12 days makes 993 "works with warnings"...
    assert_eq!(find("imap/993/tls").verdict, Verdict::WorksWithWarnings);
    assert_eq!(
        codes("imap/993/tls"),
        ["tls.cert-expiring", "tls.legacy-version-accepted"]
    );
    // ... and the recommendation is still 993: warnings tie, RFC 8314 prefers implicit TLS.
    let inc = r.recommendation.incoming.as_ref().unwrap();
    assert_eq!((inc.protocol, inc.port), (Protocol::Imap, 993));
    assert_eq!(inc.documented_by.as_deref(), Some("the provider's guide"));
    // The guide's POP3 995 fails: a finding says the documentation does not hold.
    assert_eq!(codes("pop3/995/tls"), ["documented.not-working"]);
    assert_eq!(
        find("pop3/995/tls").reason.as_ref().unwrap().hint,
        "a firewall or the network blocks this port; try the other port"
    );
    assert_eq!(codes("pop3/110/starttls"), ["plaintext-login-offered"]);
    // SMTP: only STARTTLS works while 465 was probed: RFC 8314 finding, info only.
    assert_eq!(codes("smtp/587/starttls"), ["starttls-only"]);
    assert_eq!(find("smtp/587/starttls").verdict, Verdict::Works);
    assert_eq!(r.recommendation.outgoing.as_ref().unwrap().port, 587);
    assert!(r.recommendation.advice.is_empty());
    assert_eq!(
        r.exit_code, 1,
        "the recommended incoming setting has a warning"
    );
}

/// Outgoing: nothing works, and the advice names the most telling failure. Incoming: the
/// only combination had the password refused — the account's failure, not the setting's —
/// so the setting is still given, its login not verified, and the run is critical.
#[test]
fn advice_when_nothing_works_and_the_shared_host_finding() {
    let r = build(nothing_works(), Lang::En, vec![]);
    let inc = r.recommendation.incoming.as_ref().unwrap();
    assert_eq!((inc.port, inc.login), (993, Login::Refused));
    assert!(r.recommendation.outgoing.is_none());
    assert!(
        r.summary.starts_with(
            "the server accepts only OAuth2 (modern authentication), not a password on imap/993/tls"
        ),
        "{}",
        r.summary
    );
    let advice = &r.recommendation.advice;
    assert_eq!(advice.len(), 1);
    assert_eq!(advice[0].reason, Reason::TlsCertNameMismatch);
    assert_eq!(advice[0].combination, "smtp/465/tls");
    let smtp = r.results.iter().find(|o| o.id == "smtp/465/tls").unwrap();
    let shared = smtp
        .findings
        .iter()
        .find(|f| f.code == FindingCode::TlsCertSharedHost)
        .expect("shared-host finding");
    assert!(
        shared
            .message
            .contains("type ssl0.ovh.net as the server name"),
        "{}",
        shared.message
    );
    assert_eq!(
        smtp.reason.as_ref().unwrap().cause,
        "the certificate is not valid for mail.example.fr; it names ssl0.ovh.net"
    );
    assert_eq!(r.exit_code, 2);
    // The file forms of the card refuse to invent a setting: nothing on stdout, the advice on
    // stderr.
    for format in [CardFormat::Thunderbird, CardFormat::Mobileconfig] {
        let (out, err) = card_of(&r, format);
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("no secure outgoing setting works"), "{err}");
    }
}

/// JSON: codes stay language-neutral, human strings follow the language, old fields stay.
#[test]
fn json_codes_are_language_neutral() {
    let en: serde_json::Value =
        serde_json::to_value(build(nothing_works(), Lang::En, vec![])).unwrap();
    let fr: serde_json::Value =
        serde_json::to_value(build(nothing_works(), Lang::Fr, vec![])).unwrap();
    assert_eq!(en["lang"], "en");
    assert_eq!(fr["lang"], "fr");
    for key in ["status", "exit_code", "schema_version"] {
        assert_eq!(en[key], fr[key], "{key}");
    }
    for i in 0..3 {
        let (e, f) = (&en["results"][i], &fr["results"][i]);
        assert_eq!(e["reason"]["code"], f["reason"]["code"]);
        assert_eq!(e["verdict"], f["verdict"]);
        assert_eq!(e["failure"]["reason"], f["failure"]["reason"]);
        assert_ne!(e["reason"]["cause"], f["reason"]["cause"]);
        assert_ne!(e["reason"]["hint"], f["reason"]["hint"]);
        let codes = |v: &serde_json::Value| {
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["code"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(e), codes(f));
    }
    assert_eq!(
        en["recommendation"]["advice"][0]["reason"],
        fr["recommendation"]["advice"][0]["reason"]
    );
    assert_eq!(
        fr["results"][0]["reason"]["cause"],
        "le serveur n'accepte qu'OAuth2 (authentification moderne), pas de mot de passe"
    );
    let shared = &fr["results"][1]["findings"][0];
    assert_eq!(shared["code"], "tls.cert-shared-host");
    assert_eq!(shared["params"]["suggested"], "ssl0.ovh.net");
    assert!(en["summary"]
        .as_str()
        .unwrap()
        .contains("(auth.oauth2-required)"));
}

/// Every server in the Thunderbird file, read back by mailcheck's own autoconfig reader
/// (src/discover/autoconfig.rs, the one discovery uses on providers' documents), is a
/// working combination of the run, best first; nothing was skipped. In both languages: the
/// comments are for people, the elements for Thunderbird.
#[test]
fn the_thunderbird_file_parses_back_to_the_working_settings() {
    for (lang, suffix) in [(Lang::En, "en"), (Lang::Fr, "fr")] {
        thunderbird_file_parses_back(lang, suffix);
    }
}

fn thunderbird_file_parses_back(lang: Lang, suffix: &str) {
    use mailcheck::account::Address;
    use mailcheck::discover::autoconfig;
    let r = build(mixed(), lang, guide());
    let (xml, err) = card_of(&r, CardFormat::Thunderbird);
    assert!(err.is_empty());
    snapshot(&format!("config-v1.1_mixed.{suffix}.xml"), &xml);
    let comments: Vec<&str> = xml
        .split("<!--")
        .skip(1)
        .map(|c| c.split_once("-->").expect("a closed comment").0.trim())
        .collect();
    assert_eq!(
        comments.len(),
        4,
        "the header and one per server: {comments:?}"
    );
    match lang {
        Lang::Fr => {
            assert!(
                comments[0].starts_with("Créé par mailcheck"),
                "{}",
                comments[0]
            );
            assert!(comments[0].contains("le 01/03/2026"), "{}", comments[0]);
            assert_eq!(
                comments[1],
                "Serveur entrant (recommandé) : IMAP, port 993, sécurité de la connexion SSL/TLS"
            );
            assert!(comments[3].starts_with("Serveur sortant (recommandé)"));
            for english in ["Made by", "every server", "works", "Incoming", "Outgoing"] {
                assert!(!xml.contains(english), "{english} in the French file");
            }
        }
        Lang::En => {
            assert!(comments[0].contains("every server below was tried and works"));
            assert_eq!(
                comments[2],
                "Incoming server (alternative): IMAP, port 143, connection security STARTTLS"
            );
        }
    }

    let address = Address::parse("alice@example.fr").unwrap();
    let doc = autoconfig::parse(xml.as_bytes(), &address).expect("a clientConfig document");
    assert!(doc.skipped.is_empty(), "{:?}", doc.skipped);
    assert_eq!(doc.domains, ["example.fr"]);
    assert_eq!(doc.provider_id.as_deref(), Some("example.fr"));
    let got: Vec<(Protocol, String, u16, Security)> = doc
        .servers
        .iter()
        .map(|s| (s.protocol, s.host.clone(), s.port, s.security))
        .collect();
    let expected: Vec<(Protocol, String, u16, Security)> = [
        mailcheck::model::Direction::Incoming,
        mailcheck::model::Direction::Outgoing,
    ]
    .into_iter()
    .flat_map(|d| r.working(d))
    .map(|w| (w.protocol, w.host.clone(), w.port, w.security))
    .collect();
    assert_eq!(got, expected);
    assert_eq!(
        got.iter().map(|g| g.2).collect::<Vec<_>>(),
        [993, 143, 587],
        "best first, failing ones left out"
    );
    for s in &doc.servers {
        // %EMAILADDRESS% in the file, the address once read.
        assert_eq!(s.username.as_deref(), Some("alice@example.fr"));
        assert_eq!(s.auth, ["password-cleartext"]);
    }
    assert!(xml.contains("<username>%EMAILADDRESS%</username>"));
}

/// The Apple profile is a valid property list with one mail payload and no password, its
/// names and description in the report's language.
#[test]
fn the_mobileconfig_is_a_valid_plist_without_password() {
    for (lang, suffix) in [(Lang::En, "en"), (Lang::Fr, "fr")] {
        mobileconfig_is_a_valid_plist(lang, suffix);
    }
}

fn mobileconfig_is_a_valid_plist(lang: Lang, suffix: &str) {
    let r = build(mixed(), lang, guide());
    let (xml, err) = card_of(&r, CardFormat::Mobileconfig);
    assert!(err.is_empty());
    snapshot(&format!("profile_mixed.{suffix}.mobileconfig"), &xml);
    let value = plist::Value::from_reader_xml(xml.as_bytes()).expect("a valid XML plist");
    let root = value.as_dictionary().unwrap();
    let text = |d: &plist::Dictionary, k: &str| d[k].as_string().unwrap().to_string();
    let mail0 = root["PayloadContent"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap();
    let (name, account, description) = (
        text(root, "PayloadDisplayName"),
        text(mail0, "PayloadDisplayName"),
        text(mail0, "PayloadDescription"),
    );
    match lang {
        Lang::Fr => {
            assert_eq!(name, "Messagerie : alice@example.fr");
            assert_eq!(account, "Compte de messagerie alice@example.fr");
            assert!(
                description.starts_with("Paramètres de messagerie vérifiés par mailcheck")
                    && description.contains("le 01/03/2026")
                    && description.contains("chaque serveur a été essayé et fonctionne"),
                "{description}"
            );
        }
        Lang::En => {
            assert_eq!(name, "Mail: alice@example.fr");
            assert_eq!(account, "Mail account alice@example.fr");
            assert!(description.contains("every server was tried and works"));
        }
    }
    assert_eq!(root["PayloadType"].as_string(), Some("Configuration"));
    assert_eq!(root["PayloadVersion"].as_signed_integer(), Some(1));
    let content = root["PayloadContent"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    let mail = content[0].as_dictionary().unwrap();
    assert_eq!(
        mail["PayloadType"].as_string(),
        Some("com.apple.mail.managed")
    );
    assert_eq!(mail["EmailAccountType"].as_string(), Some("EmailTypeIMAP"));
    assert_eq!(mail["EmailAddress"].as_string(), Some("alice@example.fr"));
    assert_eq!(mail["IncomingMailServerHostName"].as_string(), Some(HOST));
    assert_eq!(
        mail["IncomingMailServerPortNumber"].as_signed_integer(),
        Some(993)
    );
    assert_eq!(mail["IncomingMailServerUseSSL"].as_boolean(), Some(true));
    assert_eq!(
        mail["OutgoingMailServerPortNumber"].as_signed_integer(),
        Some(587)
    );
    assert_eq!(mail["OutgoingMailServerUseSSL"].as_boolean(), Some(true));
    assert_eq!(
        mail["OutgoingPasswordSameAsIncomingPassword"].as_boolean(),
        Some(true)
    );
    for key in mail.keys().chain(root.keys()) {
        assert!(
            !key.to_ascii_lowercase().contains("password")
                || key == "OutgoingPasswordSameAsIncomingPassword",
            "{key}"
        );
    }
    let uuid = |d: &plist::Dictionary| d["PayloadUUID"].as_string().unwrap().to_string();
    assert_ne!(uuid(root), uuid(mail));
    // Python's plistlib agrees, when python3 is there (it is on the test machines).
    if let Ok(mut child) = std::process::Command::new("python3")
        .args(["-c", "import plistlib,sys; d=plistlib.loads(sys.stdin.buffer.read()); print(d['PayloadContent'][0]['IncomingMailServerPortNumber'], d['PayloadDisplayName'].encode().hex())"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(xml.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "plistlib rejected the profile");
        // The display name read back byte for byte (accents included).
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("993 {hex}")
        );
    }
}

/// --card and --format exclude each other; an unknown language is bad input (exit 3).
#[test]
fn card_and_lang_flags_are_checked() {
    for args in [
        vec!["--card", "--format", "json"],
        vec!["--card-format", "thunderbird", "--format", "table"],
        vec!["--lang", "de"],
        vec!["--card-format", "pdf"],
    ] {
        let out = assert_cmd::Command::cargo_bin("mailcheck")
            .unwrap()
            .args(["probe", "a@example.invalid", "--no-prompt"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

/// The account's password is refused on whichever combination gets to log in first; the
/// others skip their login. The recommendation must be the same whichever it was: RFC 8314's
/// order among the combinations that reached the login step.
#[test]
fn a_refused_login_does_not_decide_the_recommendation() {
    let refused = |t: Target| {
        let mut r = works(t, 60);
        r.steps.push(step(StepName::Auth, false));
        r.failure = Some(Failure {
            reason: Reason::AuthRejected,
            step: StepName::Auth,
            detail: "PLAIN login refused".into(),
            server_says: Some("NO [AUTHENTICATIONFAILED] Authentication failed.".into()),
        });
        r.auth = AuthOutcome::Rejected {
            mechanism: "PLAIN".into(),
            ms: 30,
            server_says: "NO [AUTHENTICATIONFAILED] Authentication failed.".into(),
        };
        r
    };
    let skipped = |t: Target| {
        let mut r = works(t, 60);
        r.auth = AuthOutcome::NotAttempted {
            why: NotAttempted::SkippedAfterRejection,
        };
        r
    };
    let imap993 = || target(Protocol::Imap, 993, Security::Tls);
    let imap143 = || target(Protocol::Imap, 143, Security::Starttls);
    for reports in [
        vec![refused(imap993()), skipped(imap143())],
        vec![skipped(imap993()), refused(imap143())],
    ] {
        let r = build(reports, Lang::En, guide());
        let inc = r.recommendation.incoming.as_ref().unwrap();
        assert_eq!((inc.port, inc.login_verified), (993, false));
        assert!(inc.login.blocked());
        assert_eq!(inc.verdict, Verdict::Works, "the transport works");
        assert_eq!(r.exit_code, 2, "a refused password is critical");
        // The refusal is the account's: neither "only STARTTLS works" nor "the documented
        // setting does not work".
        for o in &r.results {
            assert!(o.findings.is_empty(), "{}: {:?}", o.id, o.findings);
        }
    }
}

/// The names a certificate offers as the server name to type: IP addresses are no candidates,
/// one name reads in the singular, and a shared host's certificate names the host to type.
#[test]
fn name_mismatch_words_follow_the_names() {
    let mismatch = |presented: &[&str]| {
        let mut r = fails(
            target(Protocol::Imap, 993, Security::Tls),
            Reason::TlsCertNameMismatch,
            StepName::Tls,
            "certificate is not valid for mail.example.fr",
        );
        let v = CertVerdict::NameMismatch {
            expected: HOST.into(),
            presented: presented.iter().map(|s| s.to_string()).collect(),
        };
        r.tls = Some(tls(v, cert(60, presented)));
        build(vec![r], Lang::Fr, vec![])
    };
    // One host name (the IP address left out), in the typed name's own domain: no shared host.
    let r = mismatch(&["192.0.2.10", "imap.example.fr"]);
    let reason = r.results[0].reason.as_ref().unwrap();
    assert_eq!(
        reason.cause,
        "le certificat n'est pas valide pour mail.example.fr ; il porte le nom imap.example.fr"
    );
    assert_eq!(
        reason.hint,
        "indiquez comme nom de serveur le nom que porte le certificat"
    );
    // Two names: plural.
    let r = mismatch(&["imap.example.fr", "pop.example.fr"]);
    let reason = r.results[0].reason.as_ref().unwrap();
    assert!(
        reason
            .cause
            .ends_with("il porte les noms imap.example.fr et pop.example.fr"),
        "{}",
        reason.cause
    );
    assert_eq!(
        reason.hint,
        "indiquez comme nom de serveur l'un des noms que porte le certificat"
    );
    // Another domain's host: the shared server, named in the hint and the advice.
    let r = mismatch(&["ssl0.ovh.net", "198.51.100.7"]);
    let reason = r.results[0].reason.as_ref().unwrap();
    assert!(
        reason.cause.ends_with("il porte le nom ssl0.ovh.net"),
        "{}",
        reason.cause
    );
    assert_eq!(
        reason.hint,
        "c'est un serveur mutualisé : indiquez ssl0.ovh.net comme nom de serveur"
    );
    assert!(
        r.recommendation.advice[0]
            .message
            .ends_with("indiquez ssl0.ovh.net comme nom de serveur"),
        "{}",
        r.recommendation.advice[0].message
    );
}

/// The same finding seen through both recommended settings (one certificate for IMAP and
/// SMTP) is one warning on the card.
#[test]
fn card_warnings_are_said_once() {
    let reports = vec![
        works(target(Protocol::Imap, 993, Security::Tls), 12),
        works(target(Protocol::Smtp, 465, Security::Tls), 12),
    ];
    let r = build(reports, Lang::En, vec![]);
    let c = card::Card::from_report(&r);
    assert_eq!(
        c.warnings,
        ["the certificate expires in 12 days, on 2026-03-13"]
    );
}
