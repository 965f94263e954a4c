//! Diagnosis against real Dovecot and Postfix (tests/support): each reason and finding these
//! servers can produce, produced for real — by cross-wiring ports (`--connect-to`), by the
//! certificates Dovecot presents per SNI name, and by the deliberately misconfigured Postfix
//! services — and the table and card in English and French from real runs.
//!
//! Reasons real servers cannot produce (a TLS alert, STARTTLS refused, injection, busy, garbage,
//! OAuth2-only wording, timeouts of a blackhole) are the scripted lab server's to test; the
//! wordings of Microsoft and Google are unit-tested in src/diagnose/classify.rs.

use crate::support;

use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use support::servers::{
    closed_port, MailServers, SNI_EXPIRED, SNI_EXPIRING, SNI_NOT_YET_VALID, SNI_SELF_SIGNED,
};

const ALL: [u16; 6] = [993, 143, 995, 110, 465, 587];

/// The real port behind each documented port.
fn real_ports(s: &MailServers) -> Vec<(u16, u16)> {
    s.documented_ports().to_vec()
}

/// `mailcheck probe ADDRESS --server SERVER`, every documented port sent to the lab's real
/// port, except those in `overrides` (logical → real).
fn probe(s: &MailServers, address: &str, server: &str, overrides: &[(u16, u16)]) -> Command {
    probe_with_timeout(s, address, server, overrides, "5s")
}

fn probe_with_timeout(
    s: &MailServers,
    address: &str,
    server: &str,
    overrides: &[(u16, u16)],
    timeout: &str,
) -> Command {
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("LANG")
        .env("NO_COLOR", "1")
        .args(["probe", address, "--server", server, "--no-prompt"])
        .args(["--timeout", timeout, "--connect-timeout", "2s"])
        .args(["--ca-file", s.ca_pem.to_str().unwrap()]);
    for (logical, real) in real_ports(s) {
        let real = overrides
            .iter()
            .find(|(l, _)| *l == logical)
            .map_or(real, |(_, r)| *r);
        cmd.args(["--connect-to", &format!(":{logical}:{}:{real}", s.ip)]);
    }
    cmd
}

/// `probe --format json` output, checked against `schemas/probe.schema.json`.
fn json(out: &Output) -> Value {
    support::schema::json_of(out, "probe")
}

fn text(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn result<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result {id} in {doc:#}"))
}

fn finding_codes(r: &Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// The working run in French: the table, the card, the JSON, and French chosen by LANG too.
/// (Run with --nocapture to see them.)
#[test]
fn a_working_run_reads_in_french() {
    let s = MailServers::get();
    let user = s.user("judy");
    let table = probe(s, &user.address, &s.tls_name, &[])
        .args(["--lang", "fr"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let t = text(&table);
    eprintln!("{t}");
    assert_eq!(table.status.code(), Some(0), "{t}");
    for needle in [
        "protocole",
        "sécurité",
        "identification",
        "fonctionne",
        "valide (",
        "OK réception : IMAP mail.lab.test port 993 SSL/TLS, identification vérifiée ; envoi : SMTP mail.lab.test port 465 SSL/TLS, identification vérifiée",
    ] {
        assert!(t.contains(needle), "{needle:?} missing in\n{t}");
    }
    assert!(!t.contains("works") && !t.contains("login verified"), "{t}");

    // The card, French chosen by the locale this time.
    let card = probe(s, &user.address, &s.tls_name, &[])
        .arg("--card")
        .env("LANG", "fr_FR.UTF-8")
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let c = text(&card);
    eprintln!("{c}");
    assert_eq!(card.status.code(), Some(0), "{c}");
    let lines: Vec<&str> = c.lines().collect();
    let incoming = lines
        .iter()
        .position(|l| *l == "Serveur de courrier entrant (IMAP)")
        .unwrap_or_else(|| panic!("{c}"));
    let outgoing = lines
        .iter()
        .position(|l| *l == "Serveur de courrier sortant (SMTP)")
        .unwrap_or_else(|| panic!("{c}"));
    let field = |from: usize, label: &str| -> String {
        lines[from..]
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .unwrap_or_else(|| panic!("{label} missing in\n{c}"))
            .trim()
            .to_string()
    };
    assert_eq!(field(incoming, "Nom d'hôte"), "mail.lab.test");
    assert_eq!(field(incoming, "Port"), "993");
    assert_eq!(field(incoming, "Type de sécurité"), "SSL/TLS");
    assert_eq!(field(incoming, "Nom d'utilisateur"), user.address);
    assert_eq!(
        field(incoming, "Mot de passe"),
        "le mot de passe de la boîte (identification vérifiée)"
    );
    assert_eq!(field(outgoing, "Port"), "465");
    assert_eq!(
        field(
            outgoing,
            "Le serveur de courrier sortant exige une authentification"
        ),
        "oui, avec les mêmes nom d'utilisateur et mot de passe"
    );
    assert!(
        c.contains("Fonctionne aussi : IMAP 143 STARTTLS, POP3 995 SSL/TLS, POP3 110 STARTTLS"),
        "{c}"
    );
    assert!(c.contains("Fonctionne aussi : SMTP 587 STARTTLS"), "{c}");
    assert!(!c.contains(&user.password));

    // JSON: French words, the same codes.
    let out = probe(s, &user.address, &s.tls_name, &[])
        .args(["--lang", "fr", "--format", "json", "--check-legacy-tls"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(doc["lang"], "fr");
    assert_eq!(doc["status"], "ok");
    assert_eq!(result(&doc, "imap/993/tls")["verdict"], "works");
    // The good servers refuse TLS 1.0/1.1 on their implicit-TLS ports.
    for id in ["imap/993/tls", "pop3/995/tls", "smtp/465/tls"] {
        let legacy = &result(&doc, id)["legacy_tls"];
        assert!(legacy.is_object(), "{id}: asked for, so recorded");
        assert_eq!(legacy["accepted"], Value::Null, "{id}: {legacy}");
    }
}

/// The Thunderbird file and the Apple profile from a real run parse back to what was proven.
#[test]
fn card_files_from_a_real_run() {
    use mailcheck::account::Address;
    use mailcheck::discover::autoconfig;
    let s = MailServers::get();
    let user = s.user("ken");
    let out = probe(s, &user.address, &s.tls_name, &[])
        .args(["--card-format", "thunderbird"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let xml = text(&out);
    // Read back by mailcheck's own autoconfig reader, as discovery reads providers' files.
    let doc = autoconfig::parse(xml.as_bytes(), &Address::parse(&user.address).unwrap())
        .expect("a clientConfig document");
    assert!(doc.skipped.is_empty(), "{:?}", doc.skipped);
    let ports: Vec<u16> = doc.servers.iter().map(|s| s.port).collect();
    assert_eq!(ports, [993, 143, 995, 110, 465, 587]);
    for server in &doc.servers {
        assert_eq!(server.host, "mail.lab.test");
        assert_eq!(server.username.as_deref(), Some(user.address.as_str()));
    }
    assert!(!xml.contains(&user.password));

    let out = probe(s, &user.address, &s.tls_name, &[])
        .args(["--card-format", "mobileconfig"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let value = plist::Value::from_reader_xml(out.stdout.as_slice()).expect("a valid plist");
    let mail = value.as_dictionary().unwrap()["PayloadContent"]
        .as_array()
        .unwrap()[0]
        .as_dictionary()
        .unwrap()
        .clone();
    assert_eq!(
        mail["IncomingMailServerPortNumber"].as_signed_integer(),
        Some(993)
    );
    assert_eq!(
        mail["OutgoingMailServerPortNumber"].as_signed_integer(),
        Some(465)
    );
    assert_eq!(
        mail["IncomingMailServerUsername"].as_string(),
        Some(user.address.as_str())
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&user.password));
}

/// A wrong password, in French: the cause, the hint, the code in the summary.
#[test]
fn a_rejected_password_in_french() {
    let s = MailServers::get();
    let user = s.user("laura");
    let out = probe(s, &user.address, &s.tls_name, &[])
        .args(["--lang", "fr"])
        .env("MAILCHECK_PASSWORD", "pas-le-bon")
        .output()
        .unwrap();
    let t = text(&out);
    eprintln!("{t}");
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("auth.rejected — le serveur a refusé le nom d'utilisateur ou le mot de passe"),
        "{t}"
    );
    assert!(t.contains("conseil : vérifiez le nom d'utilisateur (souvent l'adresse e-mail entière) et le mot de passe"), "{t}");
    assert!(t.contains("non tentée (refus)"), "{t}");
    assert!(t.contains("(auth.rejected)"), "{t}");
    // The refusal is the account's: whichever port met it first, RFC 8314's settings are
    // given, and nobody is told that only STARTTLS works.
    let inc = format!(
        "réception : IMAP {} port 993 SSL/TLS, identification non vérifiée (",
        s.tls_name
    );
    let out_ = format!(
        "envoi : SMTP {} port 465 SSL/TLS, identification non vérifiée (",
        s.tls_name
    );
    assert!(t.contains(&inc) && t.contains(&out_), "{t}");
    assert!(!t.contains("starttls-only"), "{t}");
    // The card still gives the settings that work, and says what is wrong: the password.
    let out = probe(s, &user.address, &s.tls_name, &[])
        .args(["--card", "--lang", "fr"])
        .env("MAILCHECK_PASSWORD", "pas-le-bon")
        .output()
        .unwrap();
    let c = text(&out);
    eprintln!("{c}");
    assert_eq!(out.status.code(), Some(2), "{c}");
    assert!(
        c.contains("le mot de passe de la boîte (identification non vérifiée)\n"),
        "{c}"
    );
    assert!(c.contains("Le mot de passe : le serveur a refusé le nom d'utilisateur ou le mot de passe — vérifiez le nom d'utilisateur"), "{c}");
    assert_eq!(s.failed_logins(&user.address), 2, "one per run");
}

/// Ports wired to the wrong server: a plain-text server on a TLS port, another protocol's
/// greeting, a TLS server on a plain-text port.
#[test]
fn wrong_servers_on_the_documented_ports_are_named() {
    let s = MailServers::get();
    let user = s.user("mallory");
    let out = probe_with_timeout(
        s,
        &user.address,
        &s.tls_name,
        &[
            (993, s.imap),       // plain IMAP where TLS is expected
            (995, s.pop3),       // plain POP3 where TLS is expected
            (465, s.submission), // plain SMTP where TLS is expected
            (110, s.imap),       // IMAP where POP3 is expected
            (587, s.pop3),       // POP3 where SMTP is expected
            (143, s.imaps),      // TLS where plain text is expected
        ],
        "1s",
    )
    .args(["--format", "json"])
    .env("MAILCHECK_PASSWORD", &user.password)
    .output()
    .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    let reason = |id: &str| {
        result(&doc, id)["reason"]["code"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(reason("imap/993/tls"), "tls.plaintext-server");
    // 993 is the implicit-TLS port: the hint must not send the user to "the implicit-TLS port".
    assert_eq!(
        result(&doc, "imap/993/tls")["reason"]["hint"],
        "ports swapped? this port answers in plain text: use it with STARTTLS, or look for implicit TLS on another port"
    );
    assert_eq!(reason("pop3/995/tls"), "tls.plaintext-server");
    assert_eq!(reason("smtp/465/tls"), "tls.plaintext-server");
    assert_eq!(reason("pop3/110/starttls"), "protocol.wrong-protocol");
    assert_eq!(reason("smtp/587/starttls"), "protocol.wrong-protocol");
    // A TLS server waits for the client: no greeting within --timeout, then one ClientHello
    // on a new connection shows it is an implicit-TLS port.
    assert_eq!(
        reason("imap/143/starttls"),
        "protocol.tls-server",
        "{:#}",
        result(&doc, "imap/143/starttls")
    );
    assert_eq!(
        result(&doc, "imap/143/starttls")["reason"]["hint"],
        "choose SSL/TLS for this port"
    );
    let r = result(&doc, "pop3/110/starttls");
    assert_eq!(
        r["reason"]["cause"],
        "the server on port 110 does not greet as a POP3 server"
    );
    assert_eq!(
        r["reason"]["hint"],
        "wrong protocol on this port: check the port number"
    );
    assert!(r["failure"]["server_says"]
        .as_str()
        .unwrap()
        .starts_with("* OK"));
    assert!(result(&doc, "imap/993/tls")["failure"]["server_says"]
        .as_str()
        .unwrap()
        .contains("OK"));
    // Nothing works in either direction: advice names the most telling failure.
    let advice = doc["recommendation"]["advice"].as_array().unwrap();
    assert_eq!(advice.len(), 2, "{doc:#}");
    assert_eq!(advice[0]["code"], "decisive-reason");
    assert_eq!(advice[0]["reason"], "tls.plaintext-server");
    assert_eq!(advice[0]["combination"], "imap/993/tls");
    // No password went anywhere.
    assert_eq!(s.auth_attempts(&user.address), 0);
}

/// Every port closed: advice says there is no mail server there; the file forms of the card
/// write nothing and say why.
#[test]
fn all_ports_closed_gives_the_no_server_advice() {
    let s = MailServers::get();
    let user = s.user("nick");
    let closed: Vec<(u16, u16)> = ALL.iter().map(|p| (*p, closed_port(s.ip))).collect();
    let out = probe(s, &user.address, &s.tls_name, &closed)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(2));
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["reason"]["code"], "connect.refused", "{r:#}");
    }
    let advice = doc["recommendation"]["advice"].as_array().unwrap();
    assert_eq!(advice[0]["code"], "no-server");
    assert_eq!(advice[1]["code"], "no-server");
    let out = probe(s, &user.address, &s.tls_name, &closed)
        .args(["--card", "--lang", "fr"])
        .output()
        .unwrap();
    let c = text(&out);
    assert!(c.contains("Aucun réglage sûr ne fonctionne : aucun service de messagerie sur mail.lab.test aux ports documentés"), "{c}");
    let out = probe(s, &user.address, &s.tls_name, &closed)
        .args(["--card-format", "thunderbird"])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no secure incoming setting works"));
    assert_eq!(out.status.code(), Some(2));
}

/// Implicit TLS closed, STARTTLS working: the RFC 8314 finding, and STARTTLS recommended.
#[test]
fn starttls_only_is_a_finding() {
    let s = MailServers::get();
    let user = s.user("olivia");
    let out = probe(
        s,
        &user.address,
        &s.tls_name,
        &[(993, closed_port(s.ip)), (465, closed_port(s.ip))],
    )
    .args(["--format", "json", "--only", "imap,smtp"])
    .env("MAILCHECK_PASSWORD", &user.password)
    .output()
    .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(
        finding_codes(result(&doc, "imap/143/starttls")),
        ["starttls-only"]
    );
    assert_eq!(
        finding_codes(result(&doc, "smtp/587/starttls")),
        ["starttls-only"]
    );
    assert_eq!(doc["recommendation"]["incoming"]["port"], 143);
    assert_eq!(doc["recommendation"]["outgoing"]["port"], 587);
}

/// Dovecot presents other certificates per SNI name: expired, not yet valid, self-signed,
/// expiring soon. Each gives its reason (or finding) with its facts.
#[test]
fn certificates_by_name_give_their_reasons() {
    let s = MailServers::get();
    let user = s.user("peggy");
    let run = |server: &str, lang: &str| {
        let out = probe(s, &user.address, server, &[])
            .args(["--format", "json", "--only", "imap,pop3", "--lang", lang])
            .env("MAILCHECK_PASSWORD", &user.password)
            .output()
            .unwrap();
        (out.status.code(), json(&out))
    };
    for (server, code) in [
        (SNI_EXPIRED, "tls.cert-expired"),
        (SNI_NOT_YET_VALID, "tls.cert-not-yet-valid"),
        (SNI_SELF_SIGNED, "tls.cert-self-signed"),
    ] {
        let (status, doc) = run(server, "fr");
        assert_eq!(status, Some(2), "{server}: {doc:#}");
        for id in [
            "imap/993/tls",
            "imap/143/starttls",
            "pop3/995/tls",
            "pop3/110/starttls",
        ] {
            let r = result(&doc, id);
            assert_eq!(r["reason"]["code"], code, "{server} {id}: {r:#}");
            assert_eq!(r["auth"]["why"], "certificate-not-trusted", "{server} {id}");
        }
        let r = result(&doc, "imap/993/tls");
        let cause = r["reason"]["cause"].as_str().unwrap();
        match code {
            "tls.cert-expired" | "tls.cert-not-yet-valid" => {
                // The date, as the French write it: dd/mm/yyyy.
                let date = r["tls"]["certificate"][if code == "tls.cert-expired" {
                    "not_after"
                } else {
                    "not_before"
                }]
                .as_str()
                .unwrap();
                let fr = format!("{}/{}/{}", &date[8..10], &date[5..7], &date[..4]);
                assert!(cause.ends_with(&fr), "{cause} / {fr}");
            }
            _ => assert!(cause.starts_with("le certificat est auto-signé"), "{cause}"),
        }
    }
    // Expiring in five days: works, with a warning, exit 1.
    let (status, doc) = run(SNI_EXPIRING, "en");
    assert_eq!(status, Some(1), "{doc:#}");
    let r = result(&doc, "imap/993/tls");
    assert_eq!(r["verdict"], "works-with-warnings");
    let f = &r["findings"][0];
    assert_eq!(f["code"], "tls.cert-expiring");
    assert_eq!(f["params"]["days"], 5);
    assert!(f["message"]
        .as_str()
        .unwrap()
        .starts_with("the certificate expires in 5 days, on "));
    assert_eq!(r["auth"]["status"], "succeeded");
    // A shorter warning window silences it.
    let out = probe(s, &user.address, SNI_EXPIRING, &[])
        .args([
            "--format",
            "json",
            "--only",
            "imap/993",
            "--cert-warn-days",
            "3",
        ])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(result(&json(&out), "imap/993/tls")["verdict"], "works");
}

/// The user typed their own domain's name; the certificate is the shared server's
/// (`mail.lab.test`, like `ssl0.ovh.net`): name mismatch, and the name to type instead.
/// With the provider's documented settings (the discovery hook), documented combinations
/// that fail are flagged too.
#[test]
fn a_shared_host_certificate_and_documented_settings() {
    use mailcheck::account::SecretSource;
    use mailcheck::diagnose::DocumentedSetting;
    use mailcheck::i18n::Lang;
    use mailcheck::model::{Combination, ConnectTo, Policy, Protocol, Security};
    use mailcheck::plan::{Plan, TargetSpec};
    use mailcheck::report::{CredentialInfo, CredentialKind, ReportOptions, RunInput, RunReport};

    let s = MailServers::get();
    let user = s.user("quinn");
    // Through the command line: the finding needs no documentation.
    let out = probe(s, &user.address, "mail.customer.test", &[])
        .args(["--format", "json", "--only", "imap/993"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let doc = json(&out);
    let r = result(&doc, "imap/993/tls");
    assert_eq!(r["reason"]["code"], "tls.cert-name-mismatch");
    assert_eq!(
        r["reason"]["cause"],
        "the certificate is not valid for mail.customer.test; it names mail.lab.test"
    );
    // The IP address the certificate also names is no server name to type; the shared host is.
    assert_eq!(
        r["reason"]["hint"],
        "this is a shared server: type mail.lab.test as the server name"
    );
    assert_eq!(finding_codes(r), ["tls.cert-shared-host"]);
    assert_eq!(r["findings"][0]["params"]["suggested"], "mail.lab.test");

    // In-process, with documented settings: the provider documents mail.lab.test 993 and
    // mail.customer.test 995 (the guide is wrong about the name).
    let rules: Vec<ConnectTo> = real_ports(s)
        .into_iter()
        .map(|(l, r)| format!(":{l}:{}:{r}", s.ip).parse().unwrap())
        .collect();
    let targets = TargetSpec {
        host: "mail.customer.test",
        tls_name: None,
        username: &user.address,
        combinations: &Combination::DOCUMENTED,
        only: &[],
        skip: &[],
        connect_to: &rules,
    }
    .targets();
    let plan = Plan {
        targets,
        policy: Policy {
            ca_file: Some(s.ca_pem.clone()),
            ..Policy::default()
        },
    };
    let reports = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(mailcheck::probe::run(&plan, None))
        .unwrap();
    let documented = vec![
        DocumentedSetting::new(
            "mail.lab.test",
            Combination::new(Protocol::Imap, 993, Security::Tls),
            "the provider's guide",
        ),
        DocumentedSetting::new(
            "mail.customer.test",
            Combination::new(Protocol::Pop3, 995, Security::Tls),
            "the provider's guide",
        ),
    ];
    let report = RunReport::build_with(
        RunInput {
            address: user.address.clone(),
            server: "mail.customer.test".into(),
            started_at: "2026-03-01T09:30:00Z".into(),
            elapsed_ms: 1,
            credential: CredentialInfo {
                kind: CredentialKind::None,
                source: SecretSource::None,
                oauth2: None,
            },
            cert_warn_days: 21,
        },
        reports,
        &ReportOptions {
            lang: Lang::Fr,
            documented,
        },
    );
    let pop = report
        .results
        .iter()
        .find(|o| o.id == "pop3/995/tls")
        .unwrap();
    let codes: Vec<&str> = pop.findings.iter().map(|f| f.code.code()).collect();
    assert_eq!(codes, ["documented.not-working", "tls.cert-shared-host"]);
    assert_eq!(
        pop.findings[0].message,
        "the provider's guide documente ce réglage, mais il ne fonctionne pas"
    );
    assert!(pop.findings[1]
        .message
        .ends_with("indiquez mail.lab.test comme nom de serveur"));
    // The documented host is preferred as the suggestion.
    assert_eq!(
        pop.findings[1].params.get("suggested"),
        Some(&mailcheck::i18n::Param::Text("mail.lab.test".into()))
    );
    assert!(report.recommendation.incoming.is_none());
    assert_eq!(
        report.recommendation.advice[0].reason.code(),
        "tls.cert-name-mismatch"
    );
}

/// The deliberately misconfigured Postfix services: TLS 1.0/1.1 still accepted, TLS 1.0 only,
/// AUTH offered before STARTTLS, no STARTTLS at all.
#[test]
fn outdated_and_lax_smtp_services() {
    let s = MailServers::get();
    let user = s.user("rupert");
    let out = probe(
        s,
        &user.address,
        &s.tls_name,
        &[(465, s.smtps_legacy), (587, s.submission_lax)],
    )
    .args(["--format", "json", "--only", "smtp", "--check-legacy-tls"])
    .env("MAILCHECK_PASSWORD", &user.password)
    .output()
    .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let smtps = result(&doc, "smtp/465/tls");
    assert_eq!(smtps["verdict"], "works-with-warnings", "{smtps:#}");
    assert_eq!(smtps["legacy_tls"]["accepted"], "TLSv1.1", "{smtps:#}");
    assert_eq!(finding_codes(smtps), ["tls.legacy-version-accepted"]);
    // Not asked for, not checked: one connection per combination.
    let out = probe(s, &user.address, &s.tls_name, &[(465, s.smtps_legacy)])
        .args(["--format", "json", "--only", "smtp/465"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let unchecked = result(&json(&out), "smtp/465/tls").clone();
    assert!(unchecked.get("legacy_tls").is_none(), "{unchecked:#}");
    assert_eq!(unchecked["verdict"], "works");
    let lax = result(&doc, "smtp/587/starttls");
    assert_eq!(lax["capabilities_before_tls"]["login_offered"], true);
    let mut codes = finding_codes(lax);
    codes.sort();
    // Security level "may": it takes MAIL FROM before STARTTLS too.
    assert_eq!(
        codes,
        [
            "plaintext-login-offered",
            "smtp.auth-before-tls",
            "smtp.starttls-not-required"
        ]
    );
    assert_eq!(
        lax["auth"]["status"], "succeeded",
        "the login itself went over TLS"
    );

    let out = probe(
        s,
        &user.address,
        &s.tls_name,
        &[(465, s.smtps_tls10), (587, s.submission_plain)],
    )
    .args(["--format", "json", "--only", "smtp", "--lang", "fr"])
    .env("MAILCHECK_PASSWORD", &user.password)
    .output()
    .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    // TLS 1.0 only: rustls refuses it, the legacy ClientHello names it (the real Postfix).
    let old = result(&doc, "smtp/465/tls");
    assert_eq!(old["reason"]["code"], "tls.legacy-only", "{old:#}");
    assert_eq!(old["verdict"], "connects-legacy-tls", "{old:#}");
    assert_eq!(old["legacy_handshake"]["version"], "TLSv1.0", "{old:#}");
    assert!(old["reason"]["cause"]
        .as_str()
        .unwrap()
        .starts_with("seul un TLS obsolète atteint le serveur (the server chose TLSv1.0, "));
    let plain = result(&doc, "smtp/587/starttls");
    assert_eq!(plain["reason"]["code"], "starttls.not-offered", "{plain:#}");
    assert_eq!(
        plain["reason"]["cause"],
        "le serveur ne propose pas STARTTLS sur le port 587"
    );
    assert_eq!(plain["auth"]["why"], "earlier-failure");
}

/// A submission port that offers STARTTLS but takes `MAIL FROM:<>` before it is a finding of
/// its own (AUTH is only offered after TLS there, so not `smtp.auth-before-tls`); the normal
/// submission port, which answers 530 until STARTTLS, has none.
#[test]
fn submission_that_does_not_require_tls() {
    let s = MailServers::get();
    let user = s.user("trent");
    let out = probe(
        s,
        &user.address,
        &s.tls_name,
        &[(587, s.submission_tls_optional)],
    )
    .args(["--format", "json", "--only", "smtp/587", "--trace"])
    .env("MAILCHECK_PASSWORD", &user.password)
    .output()
    .unwrap();
    let doc = json(&out);
    let optional = result(&doc, "smtp/587/starttls");
    assert_eq!(finding_codes(optional), ["smtp.starttls-not-required"]);
    let finding = &optional["findings"][0];
    assert_eq!(finding["severity"], "warning", "{finding:#}");
    assert!(finding["message"]
        .as_str()
        .unwrap()
        .contains("before STARTTLS"));
    assert_eq!(optional["verdict"], "works-with-warnings", "{optional:#}");
    assert_eq!(optional["auth"]["status"], "succeeded", "{optional:#}");
    // What went over the wire in clear: the empty sender and RSET, no recipient.
    let sent: Vec<String> = optional["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["dir"] == "C")
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect();
    let before_tls: Vec<&String> = sent.iter().take_while(|l| *l != "STARTTLS").collect();
    assert!(
        before_tls.contains(&&"MAIL FROM:<>".to_string()),
        "{sent:?}"
    );
    assert!(before_tls.contains(&&"RSET".to_string()), "{sent:?}");
    assert!(!sent.iter().any(|l| l.starts_with("RCPT")), "{sent:?}");

    let out = probe(s, &user.address, &s.tls_name, &[])
        .args(["--format", "json", "--only", "smtp/587"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let doc = json(&out);
    let normal = result(&doc, "smtp/587/starttls");
    assert!(finding_codes(normal).is_empty(), "{normal:#}");
    assert_eq!(normal["verdict"], "works", "{normal:#}");
}

/// Servers only legacy TLS reaches (stunnel in front of Dovecot): mailcheck's handshake fails,
/// a legacy ClientHello names what the server chose, and the verdict says that clients that
/// still accept legacy TLS connect, weakly, with the login not verified.
#[test]
fn servers_only_legacy_tls_reaches() {
    let s = MailServers::get();
    let fronts = s.legacy_tls_fronts();
    let user = s.user("victor");
    for (port, version, suite, kx, weaknesses, clients, codes) in [
        (
            fronts.tls12_rsa_cbc,
            "TLSv1.2",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "RSA",
            vec!["no-forward-secrecy", "cbc"],
            "tls12",
            vec![
                "tls.legacy-only",
                "tls.no-forward-secrecy",
                "tls.cbc-only",
                "tls.no-tls13",
            ],
        ),
        (
            fronts.tls10_only,
            "TLSv1.0",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
            "ECDHE",
            vec!["tls-1.0", "cbc"],
            "old",
            vec!["tls.legacy-only", "tls.cbc-only", "tls.no-tls13"],
        ),
    ] {
        let out = probe(s, &user.address, &s.tls_name, &[(993, port)])
            .args(["--format", "json", "--only", "imap/993"])
            .env("MAILCHECK_PASSWORD", &user.password)
            .output()
            .unwrap();
        let doc = json(&out);
        let r = result(&doc, "imap/993/tls");
        assert_eq!(r["reason"]["code"], "tls.legacy-only", "{r:#}");
        assert_eq!(r["verdict"], "connects-legacy-tls", "{r:#}");
        let h = &r["legacy_handshake"];
        assert_eq!(h["version"], version, "{r:#}");
        assert_eq!(h["cipher_suite"], suite, "{r:#}");
        assert_eq!(h["key_exchange"], kx, "{r:#}");
        assert_eq!(h["weaknesses"], serde_json::json!(weaknesses), "{r:#}");
        assert_eq!(finding_codes(r), codes, "{r:#}");
        for f in r["findings"].as_array().unwrap().iter().skip(1) {
            let p = &f["params"];
            assert_eq!(p["version"], version, "{f:#}");
            if f["code"] != "tls.no-tls13" {
                assert_eq!(p["cipher_suite"], suite, "{f:#}");
            }
        }
        let f = &r["findings"][0];
        assert_eq!(f["params"]["cipher_suite"], suite);
        assert_eq!(f["params"]["clients"], clients);
        assert!(f["message"]
            .as_str()
            .unwrap()
            .ends_with("the login was not verified"));
        assert_eq!(r["auth"]["status"], "not-attempted", "{r:#}");
        // What is true for the user: not "nothing works" but who connects, and what was not
        // verified. TLS 1.2 is taken by clients' defaults (a warning); TLS 1.0 is not (critical).
        assert!(doc["recommendation"]["incoming"].is_null(), "{doc:#}");
        let advice = &doc["recommendation"]["advice"][0];
        assert_eq!(advice["code"], "legacy-tls-only", "{doc:#}");
        assert_eq!(advice["reason"], "tls.legacy-only");
        assert_eq!(advice["combination"], "imap/993/tls");
        let message = advice["message"].as_str().unwrap();
        assert!(
            message.starts_with("no incoming setting works with current TLS: IMAP 993 SSL/TLS connects only with legacy TLS"),
            "{message}"
        );
        assert!(message.contains(suite), "{message}");
        assert!(
            message.contains("mailcheck verified neither the certificate nor the login"),
            "{message}"
        );
        let summary = doc["summary"].as_str().unwrap();
        assert_eq!(
            summary,
            "incoming: only legacy TLS reaches the server (imap/993/tls); certificate and login not verified"
        );
        let (status, code, who) = if clients == "tls12" {
            ("warning", 1, "connect with their default settings")
        } else {
            ("critical", 2, "refuse it by default")
        };
        assert!(message.contains(who), "{message}");
        assert_eq!(doc["status"], status, "{doc:#}");
        assert_eq!(out.status.code(), Some(code));
    }
    let out = probe(
        s,
        &user.address,
        &s.tls_name,
        &[(993, fronts.tls12_rsa_cbc)],
    )
    .args(["--only", "imap/993"])
    .env("MAILCHECK_PASSWORD", &user.password)
    .output()
    .unwrap();
    let t = text(&out);
    assert!(t.contains("connects with legacy TLS only"), "{t}");
    assert!(t.contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{t}");
    assert_eq!(s.auth_attempts(&user.address), 0);
}

/// The same after STARTTLS (stunnel's server-side `protocol = imap` / `pop3` in front of
/// Dovecot's plain-text ports, and a Postfix submission port limited to a TLS 1.2 CBC suite):
/// the modern handshake after the go-ahead fails, a second session
/// sends the legacy ClientHello after STARTTLS and names what the server chose. No credential
/// reaches the server on either session.
#[test]
fn starttls_servers_only_legacy_tls_reaches() {
    let s = MailServers::get();
    let fronts = s.legacy_tls_fronts();
    let user = s.user("legacy-starttls");
    let out = probe(
        s,
        &user.address,
        &s.tls_name,
        &[
            (143, fronts.starttls_imap_tls12),
            (110, fronts.starttls_pop3_tls12),
            (587, s.submission_legacy_tls),
        ],
    )
    .args(["--format", "json", "--only", "imap/143,pop3/110,smtp/587"])
    .env("MAILCHECK_PASSWORD", &user.password)
    .output()
    .unwrap();
    let doc = json(&out);
    for (id, suite, kx) in [
        ("imap/143/starttls", "TLS_RSA_WITH_AES_128_CBC_SHA", "RSA"),
        ("pop3/110/starttls", "TLS_RSA_WITH_AES_128_CBC_SHA", "RSA"),
        // Postfix with its ECDSA certificate and tls_high_cipherlist = ECDHE-ECDSA-AES128-SHA.
        (
            "smtp/587/starttls",
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "ECDHE",
        ),
    ] {
        let r = result(&doc, id);
        assert_eq!(r["reason"]["code"], "tls.legacy-only", "{r:#}");
        assert_eq!(r["verdict"], "connects-legacy-tls", "{r:#}");
        let h = &r["legacy_handshake"];
        assert_eq!(h["version"], "TLSv1.2", "{r:#}");
        assert_eq!(h["cipher_suite"], suite, "{r:#}");
        assert_eq!(h["key_exchange"], kx, "{r:#}");
        assert_eq!(r["auth"]["status"], "not-attempted", "{r:#}");
        assert!(r["capabilities_before_tls"]["starttls"] == true, "{r:#}");
    }
    // IMAP is preferred: the advice names it, and TLS 1.2 is a warning.
    let advice = &doc["recommendation"]["advice"];
    assert_eq!(advice[0]["code"], "legacy-tls-only", "{doc:#}");
    assert_eq!(advice[0]["combination"], "imap/143/starttls", "{doc:#}");
    assert_eq!(advice[1]["code"], "legacy-tls-only", "{doc:#}");
    assert_eq!(advice[1]["combination"], "smtp/587/starttls", "{doc:#}");
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(s.auth_attempts(&user.address), 0);
}

/// An OAuth2 token against servers that only take passwords: no usable mechanism, and the
/// token is sent nowhere.
#[test]
fn an_oauth2_token_meets_password_only_servers() {
    let s = MailServers::get();
    let user = s.user("sybil");
    let out = probe(s, &user.address, &s.tls_name, &[])
        .args(["--format", "json", "--only", "imap/993,smtp/465"])
        .env("MAILCHECK_OAUTH2_TOKEN", "ya29.not-a-real-token")
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(doc["credential"]["kind"], "oauth2-token");
    for id in ["imap/993/tls", "smtp/465/tls"] {
        let r = result(&doc, id);
        assert_eq!(
            r["reason"]["code"], "auth.mechanism-not-offered",
            "{id}: {r:#}"
        );
        assert_eq!(r["auth"]["why"], "no-usable-mechanism");
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ya29.not-a-real-token"));
    assert_eq!(s.auth_attempts(&user.address), 0);
}

/// Certificate quality on real TLS servers (stunnel in front of Dovecot, certificates made by
/// openssl, which rcgen with ring cannot make): a 1024-bit RSA key, a certificate signed with
/// SHA-1. The real Dovecot (TLS 1.3, a 2048-bit or EC key, SHA-256) has none of these findings.
#[test]
fn weak_certificates_are_named() {
    let s = MailServers::get();
    let fronts = s.legacy_tls_fronts();
    let user = s.user("xavier");
    let run = |port: u16| {
        let out = probe(s, &user.address, &s.tls_name, &[(993, port)])
            .args(["--format", "json", "--only", "imap/993"])
            .env("MAILCHECK_PASSWORD", &user.password)
            .output()
            .unwrap();
        result(&json(&out), "imap/993/tls").clone()
    };
    let weak = run(fronts.rsa1024);
    let f = weak["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "tls.rsa-key-weak")
        .unwrap_or_else(|| panic!("{weak:#}"));
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["params"]["bits"], 1024, "{f:#}");
    assert!(
        f["params"]["subject"]
            .as_str()
            .unwrap()
            .contains(&s.tls_name),
        "{f:#}"
    );
    assert_eq!(
        weak["tls"]["certificate"]["key_type"], "RSA 1024",
        "{weak:#}"
    );
    // The server agreed to TLS 1.3 with rustls; the handshake failed at the key's signature:
    // what it chose from the legacy offer says nothing of its suites.
    assert_eq!(weak["tls"]["version"], "TLSv1.3", "{weak:#}");
    let codes = finding_codes(&weak);
    for code in ["tls.cbc-only", "tls.no-tls13", "tls.no-forward-secrecy"] {
        assert!(!codes.contains(&code.to_string()), "{weak:#}");
    }
    assert_ne!(weak["verdict"], "works", "{weak:#}");
    // Not a legacy-only server: rustls and the server agreed; the key is what failed.
    assert_ne!(weak["reason"], "tls.legacy-only", "{weak:#}");
    assert_ne!(weak["verdict"], "connects-legacy-tls", "{weak:#}");

    let sha1 = run(fronts.sha1_signed);
    let codes = finding_codes(&sha1);
    assert!(
        codes.contains(&"tls.sha1-signature".to_string()),
        "{sha1:#}"
    );
    // The CA the server sent with it is a self-signed root: its own signature is not counted,
    // and the chain is complete (the root is just not trusted).
    assert!(
        !codes.contains(&"tls.chain-incomplete".to_string()),
        "{sha1:#}"
    );
    let f = sha1["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "tls.sha1-signature")
        .unwrap();
    assert!(
        f["params"]["subject"]
            .as_str()
            .unwrap()
            .contains(&s.tls_name),
        "{f:#}"
    );
    assert_eq!(s.auth_attempts(&user.address), 0);

    let out = probe(s, &user.address, &s.tls_name, &[])
        .args(["--format", "json", "--only", "imap/993"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let dovecot = json(&out);
    let r = result(&dovecot, "imap/993/tls");
    assert_eq!(r["tls"]["version"], "TLSv1.3", "{r:#}");
    assert!(finding_codes(r).is_empty(), "{r:#}");
    assert_eq!(r["verdict"], "works", "{r:#}");
}
