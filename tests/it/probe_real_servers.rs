//! The probe engine against real Dovecot (IMAP, POP3) and Postfix (submission), started on
//! 127.0.0.2 by the harness in `support`. Every test drives the real binary, as a user would.

use crate::support;
// The loopback DNS responder of the discovery tests; only some of its record kinds are used.
#[allow(dead_code)]
use crate::discover_support::dns;

use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use support::servers::{closed_port, MailServers, TestUser};

/// `--connect-to` rules mapping the documented ports of the logical server to the lab's ports.
fn connect_to(s: &MailServers, overrides: &[(u16, u16)]) -> Vec<String> {
    let ports = [
        (993, s.imaps),
        (143, s.imap),
        (995, s.pop3s),
        (110, s.pop3),
        (465, s.smtps),
        (587, s.submission),
    ];
    ports
        .iter()
        .map(|(logical, real)| {
            let real = overrides
                .iter()
                .find(|(l, _)| l == logical)
                .map(|(_, r)| *r)
                .unwrap_or(*real);
            format!("{}:{logical}:{}:{real}", s.tls_name, s.ip)
        })
        .collect()
}

fn mailcheck(s: &MailServers, user: &TestUser) -> Command {
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .args([
            "probe",
            &user.address,
            "--server",
            &s.tls_name,
            "--no-prompt",
        ])
        .args(["--timeout", "5s", "--connect-timeout", "2s"]);
    for rule in connect_to(s, &[]) {
        cmd.args(["--connect-to", &rule]);
    }
    cmd
}

/// `probe --format json` output, checked against `schemas/probe.schema.json`.
fn json(out: &Output) -> Value {
    support::schema::json_of(out, "probe")
}

fn result<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result {id} in {doc:#}"))
}

const ALL: [&str; 6] = [
    "imap/993/tls",
    "imap/143/starttls",
    "pop3/995/tls",
    "pop3/110/starttls",
    "smtp/465/tls",
    "smtp/587/starttls",
];

#[test]
fn all_six_combinations_work_with_the_right_password() {
    let s = MailServers::get();
    let user = s.user("alice");
    let ca = s.ca_pem.to_str().unwrap();
    let out = mailcheck(s, &user)
        .args(["--ca-file", ca, "--format", "json"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["credential"]["kind"], "password");
    assert_eq!(doc["credential"]["source"], "environment");
    for id in ALL {
        let r = result(&doc, id);
        assert_eq!(r["verdict"], "works", "{id}: {r:#}");
        assert_eq!(r["auth"]["status"], "succeeded", "{id}: {r:#}");
        assert_eq!(r["tls"]["verification"]["status"], "valid", "{id}");
        assert!(r["tls"]["version"].as_str().unwrap().starts_with("TLSv1."));
        assert_eq!(r["tls"]["certificate"]["names"][0], "mail.lab.test");
        // The logical host and port stay in the report; the real port is where we went.
        assert_eq!(r["target"]["host"], "mail.lab.test");
        assert_eq!(r["target"]["connect_host"], s.ip.to_string());
        // Every protocol says goodbye after its login, as a step of its own.
        let steps: Vec<&str> = r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|st| st["name"].as_str().unwrap())
            .collect();
        assert_eq!(steps.last(), Some(&"logout"), "{id}: {steps:?}");
    }
    // The greetings are the servers' own words, SMTP's code included.
    for id in ["smtp/465/tls", "smtp/587/starttls"] {
        let g = result(&doc, id)["greeting"].as_str().unwrap();
        assert!(g.starts_with("220 "), "{id}: {g}");
    }
    assert!(result(&doc, "imap/993/tls")["greeting"]
        .as_str()
        .unwrap()
        .starts_with("* OK"));
    // Before STARTTLS the servers must not offer a password login (the lab looks remote).
    for id in [
        "imap/143/starttls",
        "pop3/110/starttls",
        "smtp/587/starttls",
    ] {
        let r = result(&doc, id);
        assert_eq!(r["capabilities_before_tls"]["starttls"], true, "{id}");
        assert_eq!(
            r["capabilities_before_tls"]["login_offered"], false,
            "{id}: {r:#}"
        );
        assert!(r["findings"].as_array().unwrap().is_empty(), "{id}: {r:#}");
    }
    let imap143 = result(&doc, "imap/143/starttls");
    assert!(imap143["capabilities_before_tls"]["raw"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "LOGINDISABLED"));
    assert_eq!(doc["recommendation"]["incoming"]["protocol"], "imap");
    assert_eq!(doc["recommendation"]["incoming"]["port"], 993);
    assert_eq!(doc["recommendation"]["incoming"]["login_verified"], true);
    assert_eq!(doc["recommendation"]["outgoing"]["port"], 465);
    assert_eq!(s.failed_logins(&user.address), 0);
}

#[test]
fn a_wrong_password_is_tried_once_per_server() {
    let s = MailServers::get();
    let user = s.user("bob");
    let ca = s.ca_pem.to_str().unwrap();
    let out = mailcheck(s, &user)
        .args(["--ca-file", ca, "--format", "json"])
        .env("MAILCHECK_PASSWORD", "not-the-password")
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    let results = doc["results"].as_array().unwrap();
    let rejected: Vec<&Value> = results
        .iter()
        .filter(|r| r["auth"]["status"] == "rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{doc:#}");
    assert_eq!(rejected[0]["reason"]["code"], "auth.rejected");
    assert!(rejected[0]["failure"]["server_says"].as_str().is_some());
    let skipped: Vec<&Value> = results
        .iter()
        .filter(|r| r["auth"]["why"] == "skipped-after-rejection")
        .collect();
    assert_eq!(skipped.len(), 5, "{doc:#}");
    // Their transport works, their login was never tried: the table's word, not "works".
    for r in &skipped {
        assert_eq!(r["verdict"], "connects", "{r:#}");
    }
    // The server's own log agrees: one failed password check for the whole run.
    assert_eq!(
        s.failed_logins(&user.address),
        1,
        "{}",
        s.dovecot_log().display()
    );
    assert!(doc["summary"].as_str().unwrap().contains("auth.rejected"));
}

#[test]
fn without_a_password_the_probe_runs_and_says_not_attempted() {
    let s = MailServers::get();
    let user = s.user("carol");
    let ca = s.ca_pem.to_str().unwrap();
    let out = mailcheck(s, &user)
        .args(["--ca-file", ca, "--format", "json"])
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["credential"]["kind"], "none");
    for id in ALL {
        let r = result(&doc, id);
        assert_eq!(r["auth"]["status"], "not-attempted", "{id}");
        assert_eq!(r["auth"]["why"], "no-credentials", "{id}");
        assert_eq!(r["verdict"], "works", "{id}");
    }
    assert_eq!(doc["recommendation"]["incoming"]["login_verified"], false);
    assert_eq!(s.auth_attempts(&user.address), 0);
}

#[test]
fn an_unknown_ca_is_named_and_no_credentials_are_sent() {
    let s = MailServers::get();
    let user = s.user("dave");
    let out = mailcheck(s, &user)
        .args(["--format", "json"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    for id in ALL {
        let r = result(&doc, id);
        assert_eq!(r["verdict"], "fails", "{id}");
        assert_eq!(
            r["reason"]["code"], "tls.cert-unknown-issuer",
            "{id}: {r:#}"
        );
        assert_eq!(r["auth"]["why"], "certificate-not-trusted", "{id}");
        // The certificate is still described.
        assert_eq!(r["tls"]["certificate"]["names"][0], "mail.lab.test", "{id}");
        assert!(r["tls"]["certificate"]["sha256"]
            .as_str()
            .unwrap()
            .contains(':'));
        // The session went on past TLS to list what the server offers.
        assert!(r["capabilities"]["raw"].as_array().is_some(), "{id}: {r:#}");
    }
    assert_eq!(s.auth_attempts(&user.address), 0);
}

#[test]
fn a_wrong_tls_name_is_a_name_mismatch_listing_the_presented_names() {
    let s = MailServers::get();
    let user = s.user("erin");
    let ca = s.ca_pem.to_str().unwrap();
    let out = mailcheck(s, &user)
        .args([
            "--ca-file",
            ca,
            "--tls-name",
            "imap.other.test",
            "--format",
            "json",
        ])
        .args(["--only", "imap/993"])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(doc["results"].as_array().unwrap().len(), 1);
    let r = result(&doc, "imap/993/tls");
    assert_eq!(r["reason"]["code"], "tls.cert-name-mismatch", "{r:#}");
    let v = &r["tls"]["verification"];
    assert_eq!(v["expected"], "imap.other.test");
    assert!(v["presented"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "mail.lab.test"));
    assert!(r["failure"]["detail"]
        .as_str()
        .unwrap()
        .contains("mail.lab.test"));
    assert_eq!(s.auth_attempts(&user.address), 0);
}

#[test]
fn a_closed_port_is_refused_and_the_others_still_work() {
    let s = MailServers::get();
    let user = s.user("frank");
    let ca = s.ca_pem.to_str().unwrap();
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_PASSWORD")
        .args([
            "probe",
            &user.address,
            "--server",
            &s.tls_name,
            "--no-prompt",
        ])
        .args(["--ca-file", ca, "--format", "json"])
        .env("MAILCHECK_PASSWORD", &user.password);
    for rule in connect_to(s, &[(465, closed_port(s.ip))]) {
        cmd.args(["--connect-to", &rule]);
    }
    let out = cmd.output().unwrap();
    let doc = json(&out);
    let r = result(&doc, "smtp/465/tls");
    assert_eq!(r["reason"]["code"], "connect.refused", "{r:#}");
    assert_eq!(result(&doc, "smtp/587/starttls")["verdict"], "works");
    // Outgoing still works through 587, so the run is usable.
    assert_eq!(doc["recommendation"]["outgoing"]["port"], 587);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
}

#[test]
fn the_table_reads_as_a_table() {
    let s = MailServers::get();
    let user = s.user("grace");
    let ca = s.ca_pem.to_str().unwrap();
    let out = mailcheck(s, &user)
        .args(["--ca-file", ca])
        .env("MAILCHECK_PASSWORD", &user.password)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    for needle in [
        "IMAP",
        "POP3",
        "SMTP",
        "993",
        "587",
        "SSL/TLS",
        "STARTTLS",
        "ok (PLAIN)",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    assert!(
        text.contains("OK incoming: IMAP mail.lab.test port 993 SSL/TLS, login verified"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour when piped:\n{text}");
}

/// A unique canary password must not appear anywhere the process writes, in any format,
/// with or without a transcript, whether the login succeeds or fails.
#[test]
fn the_password_never_appears_in_any_output() {
    let s = MailServers::get();
    let ca = s.ca_pem.to_str().unwrap();
    let good = s.user("heidi");
    let wrong = s.user("ivan");
    let canary_wrong = "Canary-3b9f-wrong-Zq7";
    let cases: Vec<(&TestUser, String, Vec<&str>)> = vec![
        (&good, good.password.clone(), vec!["--format", "json"]),
        (
            &good,
            good.password.clone(),
            vec!["--format", "json", "--trace"],
        ),
        (&good, good.password.clone(), vec!["--trace"]),
        (
            &wrong,
            canary_wrong.to_string(),
            vec!["--format", "json", "--trace"],
        ),
        (&wrong, canary_wrong.to_string(), vec!["--trace"]),
    ];
    for (user, password, args) in cases {
        let out = mailcheck(s, user)
            .args(["--ca-file", ca])
            .args(&args)
            .env("MAILCHECK_PASSWORD", &password)
            .output()
            .unwrap();
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        assert!(!text.contains(&password), "password leaked with {args:?}");
        // Nor in the encodings that travel on the wire.
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for enc in [
            b64(&password),
            b64(&format!("\0{}\0{password}", user.address)),
        ] {
            assert!(
                !text.contains(&enc),
                "encoded password leaked with {args:?}"
            );
        }
        if args.contains(&"--trace") && !args.contains(&"json") {
            // The table prints the transcript too: the server's greeting, the client's
            // lines, and the login line with its arguments redacted.
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("Transcripts"), "no transcript: {stdout}");
            assert!(stdout.contains("S: * OK"), "no IMAP greeting: {stdout}");
            assert!(stdout.contains("S: +OK"), "no POP3 greeting: {stdout}");
            assert!(stdout.contains("C: "), "no client line: {stdout}");
            assert!(stdout.contains("<redacted>"), "no redacted login: {stdout}");
        }
        if args.contains(&"--trace") && args.contains(&"json") {
            let doc = json(&out);
            let t = &result(&doc, "imap/993/tls")["transcript"];
            assert!(
                t.as_array().is_some_and(|l| l.len() >= 2),
                "transcript missing: {t:#}"
            );
            // The combination that did log in shows its login line, arguments redacted.
            let logged: Vec<&Value> = doc["results"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["auth"]["status"] != "not-attempted")
                .collect();
            assert!(!logged.is_empty());
            for r in logged {
                assert!(r["transcript"].to_string().contains("<redacted>"), "{r:#}");
            }
            transcript_lines_up_with_steps(result(&doc, "imap/993/tls"));
        }
    }
    // The password also comes through stdin and a command, never argv.
    let out = mailcheck(s, &good)
        .args([
            "--ca-file",
            ca,
            "--format",
            "json",
            "--password-stdin",
            "--only",
            "imap/993",
        ])
        .write_stdin(format!("{}\n", good.password))
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(doc["credential"]["source"], "stdin");
    assert_eq!(result(&doc, "imap/993/tls")["auth"]["status"], "succeeded");
    let out = mailcheck(s, &good)
        .args(["--ca-file", ca, "--format", "json", "--only", "pop3/995"])
        .args(["--password-command", "printf '%s\\n' \"$LAB_SECRET\""])
        .env("LAB_SECRET", &good.password)
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(doc["credential"]["source"], "command");
    assert_eq!(result(&doc, "pop3/995/tls")["auth"]["status"], "succeeded");
}

/// The canary again, through the other login paths: SASL LOGIN (the username and the password
/// each in its own base64 answer) on all three protocols, IMAP LOGIN and POP3 USER/PASS. The
/// lab's servers offer PLAIN, which the probe prefers, so `--auth-mechanism` steers it.
#[test]
fn the_password_never_appears_through_login_and_the_protocol_commands() {
    let s = MailServers::get();
    let ca = s.ca_pem.to_str().unwrap();
    let good = s.user("judy");
    let wrong = s.user("ken");
    // Quote, backslash and space: IMAP LOGIN sends the password as a quoted string, escaped.
    let canary_wrong = r#"Canary-7c1e "wrong\-Hx4"#;
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // (method, the mechanism each protocol must have used)
    let methods = [
        (
            "login",
            [("imap", "LOGIN"), ("pop3", "LOGIN"), ("smtp", "LOGIN")],
        ),
        (
            "command",
            [("imap", "IMAP-LOGIN"), ("pop3", "USER"), ("smtp", "")],
        ),
    ];
    for (method, used) in methods {
        let mut runs: Vec<(&TestUser, String, Vec<&str>)> = vec![
            (
                &good,
                good.password.clone(),
                vec!["--format", "json", "--trace"],
            ),
            (&good, good.password.clone(), vec!["--trace"]),
        ];
        // A wrong password is tried once per server, so each path gets a run of its own.
        for only in ["imap/993", "pop3/995", "smtp/465"] {
            if method == "login" || only != "smtp/465" {
                runs.push((
                    &wrong,
                    canary_wrong.to_string(),
                    vec!["--format", "json", "--trace", "--only", only],
                ));
            }
        }
        for (user, password, args) in runs {
            let out = mailcheck(s, user)
                .args(["--ca-file", ca, "--auth-mechanism", method])
                .args(&args)
                .env("MAILCHECK_PASSWORD", &password)
                .output()
                .unwrap();
            let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
            let text = String::from_utf8_lossy(&all);
            let ctx = format!("--auth-mechanism {method} {args:?}");
            assert!(!text.contains(&password), "password leaked with {ctx}");
            let quoted = password.replace('\\', "\\\\").replace('"', "\\\"");
            assert!(!text.contains(&quoted), "quoted password leaked with {ctx}");
            for enc in [
                b64(&password),
                b64(&format!("\0{}\0{password}", user.address)),
                b64(&format!("{}\0{password}", user.address)),
                b64(&format!("{} {password}", user.address)),
            ] {
                assert!(!text.contains(&enc), "encoded password leaked with {ctx}");
            }
            if !args.contains(&"json") {
                continue;
            }
            // The run did take the path it was meant to test.
            let doc = json(&out);
            let mut logins = 0;
            for r in doc["results"].as_array().unwrap() {
                let protocol = r["target"]["protocol"].as_str().unwrap();
                let want = used.iter().find(|(p, _)| *p == protocol).unwrap().1;
                let auth = &r["auth"];
                if want.is_empty() {
                    assert_eq!(auth["why"], "no-usable-mechanism", "{ctx}: {r:#}");
                    continue;
                }
                if user.address == good.address {
                    assert_eq!(auth["status"], "succeeded", "{ctx}: {r:#}");
                } else if auth["status"] == "not-attempted" {
                    continue;
                } else {
                    assert_eq!(auth["status"], "rejected", "{ctx}: {r:#}");
                }
                assert_eq!(auth["mechanism"], want, "{ctx}: {r:#}");
                assert!(r["transcript"].to_string().contains("<redacted>"), "{r:#}");
                logins += 1;
            }
            assert!(logins > 0, "no login took the path with {ctx}: {doc:#}");
        }
    }
    assert_eq!(s.failed_logins(&good.address), 0);
}

/// A submission server that announces only `AUTH LOGIN` (the harness's second 587-style
/// Postfix): without `--auth-mechanism`, the probe picks LOGIN on its own, logs in with the
/// right password, and a wrong one is rejected once and never shows, raw or base64, in the
/// table, the JSON or the transcripts.
#[test]
fn without_plain_on_offer_the_probe_falls_back_to_login_by_itself() {
    let s = MailServers::get();
    let ca = s.ca_pem.to_str().unwrap();
    let good = s.user("login-only-good");
    let wrong = s.user("login-only-wrong");
    let canary_wrong = "Canary-5d2a-loginonly-Wq8";
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let probe = |user: &TestUser, password: &str, args: &[&str]| {
        let mut cmd = Command::cargo_bin("mailcheck").unwrap();
        cmd.env_remove("MAILCHECK_PASSWORD")
            .env_remove("MAILCHECK_OAUTH2_TOKEN")
            .env("NO_COLOR", "1")
            .args(["probe", &user.address, "--server", &s.tls_name])
            .args(["--no-prompt", "--timeout", "5s", "--connect-timeout", "2s"])
            .args(["--ca-file", ca, "--only", "smtp/587"])
            .args(args)
            .env("MAILCHECK_PASSWORD", password);
        for rule in connect_to(s, &[(587, s.submission_login_only)]) {
            cmd.args(["--connect-to", &rule]);
        }
        cmd.output().unwrap()
    };

    let out = probe(&good, &good.password, &["--format", "json", "--trace"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["status"], "ok", "{doc:#}");
    let r = result(&doc, "smtp/587/starttls");
    assert_eq!(r["verdict"], "works", "{r:#}");
    assert_eq!(r["auth"]["status"], "succeeded", "{r:#}");
    assert_eq!(r["auth"]["mechanism"], "LOGIN", "{r:#}");
    assert!(r["transcript"].to_string().contains("<redacted>"), "{r:#}");
    assert_eq!(doc["recommendation"]["outgoing"]["port"], 587, "{doc:#}");
    assert_eq!(doc["recommendation"]["outgoing"]["login_verified"], true);
    let out = probe(&good, &good.password, &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(table.contains("ok (LOGIN)"), "{table}");
    assert_eq!(s.successful_logins(&good.address), 2);
    assert_eq!(s.failed_logins(&good.address), 0);

    let outputs: [&[&str]; 4] = [
        &[],
        &["--format", "json"],
        &["--trace"],
        &["--format", "json", "--trace"],
    ];
    for (i, args) in outputs.into_iter().enumerate() {
        let out = probe(&wrong, canary_wrong, args);
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        assert!(
            !text.contains(canary_wrong),
            "password leaked with {args:?}"
        );
        // LOGIN sends the password alone in its base64 answer; PLAIN would join it.
        for enc in [
            b64(canary_wrong),
            b64(&format!("\0{}\0{canary_wrong}", wrong.address)),
        ] {
            assert!(
                !text.contains(&enc),
                "encoded password leaked with {args:?}"
            );
        }
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        // Exactly one more failed password check on the server per run.
        assert_eq!(s.failed_logins(&wrong.address), i + 1, "{args:?}: {text}");
        if args.contains(&"json") {
            let doc = json(&out);
            let r = result(&doc, "smtp/587/starttls");
            assert_eq!(r["auth"]["status"], "rejected", "{r:#}");
            assert_eq!(r["auth"]["mechanism"], "LOGIN", "{r:#}");
            assert_eq!(r["reason"]["code"], "auth.rejected", "{r:#}");
        }
        if args.contains(&"--trace") {
            assert!(text.contains("<redacted>"), "no redacted login: {text}");
        }
    }
    assert_eq!(s.successful_logins(&wrong.address), 0);
}

/// A host with an AAAA record where nothing listens (::1) and an A record where the server
/// does (127.0.0.2): the probe gets through on IPv4, and says the IPv6 address failed, since a
/// client that tries IPv6 first waits or fails.
#[test]
fn an_address_that_fails_before_another_connects_is_a_warning() {
    let s = MailServers::get();
    let user = s.user("laura");
    let ca = s.ca_pem.to_str().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut zone = dns::Zone::default();
    zone.a("dual.lab.test", "::1")
        .a("dual.lab.test", &s.ip.to_string());
    let server = rt.block_on(dns::DnsServer::start(zone));
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .args([
            "probe",
            &user.address,
            "--server",
            &s.tls_name,
            "--no-prompt",
        ])
        .args(["--dns-server", &server.addr.to_string()])
        .args(["--ca-file", ca, "--format", "json", "--only", "imap/993"])
        .args(["--timeout", "5s", "--connect-timeout", "2s"])
        .args([
            "--connect-to",
            &format!("{}:993:dual.lab.test:{}", s.tls_name, s.imaps),
        ])
        .env("MAILCHECK_PASSWORD", &user.password);
    let out = cmd.output().unwrap();
    let doc = json(&out);
    let r = result(&doc, "imap/993/tls");
    let attempts: Vec<(String, String)> = r["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap().to_string(),
                a["outcome"]["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let v6 = format!("[::1]:{}", s.imaps);
    let v4 = format!("{}:{}", s.ip, s.imaps);
    assert_eq!(
        attempts,
        [
            (v6.clone(), "refused".into()),
            (v4.clone(), "connected".into())
        ],
        "{r:#}"
    );
    assert_eq!(r["verdict"], "works-with-warnings", "{r:#}");
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "connect.some-addresses-failed")
        .unwrap_or_else(|| panic!("no finding in {r:#}"));
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["params"]["failed"], v6.as_str());
    assert_eq!(f["params"]["connected"], v4.as_str());
    assert_eq!(f["params"]["why"], "refused");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{f:#}"
    );
    assert_eq!(r["auth"]["status"], "succeeded", "{r:#}");
    // A warning on the recommended setting: exit code 1.
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    // `json` checked it against the schema, `params` included.
}

/// On implicit TLS the transcript begins with the connect and the handshake, and its times
/// count from the probe's start, as the steps' do: the greeting comes after the TLS step ends.
fn transcript_lines_up_with_steps(r: &Value) {
    let t = r["transcript"].as_array().unwrap();
    let text = |i: usize| t[i]["text"].as_str().unwrap();
    assert_eq!(t[0]["dir"], "*", "{t:#?}");
    assert!(text(0).starts_with("connected to 127.0.0.2:"), "{t:#?}");
    assert_eq!(t[1]["dir"], "*");
    assert_eq!(text(1), "TLS handshake complete");
    let tls = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "tls")
        .unwrap();
    let tls_end = tls["start_ms"].as_u64().unwrap() + tls["ms"].as_u64().unwrap();
    let greeting = t.iter().find(|l| l["dir"] == "S").unwrap();
    assert!(text(2).starts_with("* OK"), "{t:#?}");
    assert!(
        greeting["ms"].as_u64().unwrap() >= tls_end,
        "greeting at {} ms, TLS done at {tls_end} ms: {r:#}",
        greeting["ms"]
    );
}

#[test]
fn bad_input_exits_3() {
    for args in [
        vec!["probe", "not-an-address"],
        vec!["probe", "a@b.test", "--only", "imap/nonsense"],
        vec!["probe", "a@b.test", "--ca-file", "/nonexistent.pem"],
        vec!["probe"],
    ] {
        let out = Command::cargo_bin("mailcheck")
            .unwrap()
            .args(&args)
            .arg("--no-prompt")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

/// A field or a value added to the JSON output without updating `schemas/probe.schema.json`
/// fails here: real documents (success with a transcript and the legacy TLS check, no
/// credential, a refused password, an untrusted certificate, a closed port) against the schema,
/// which closes every object and lists every code.
#[test]
fn every_json_field_is_in_the_schema() {
    let s = MailServers::get();
    let good = s.user("mallory");
    let wrong = s.user("nick");
    let ca = s.ca_pem.to_str().unwrap();
    let mut docs = vec![];
    let run = |user: &TestUser, password: &str, args: &[&str]| {
        let mut cmd = mailcheck(s, user);
        cmd.args(["--format", "json"]).args(args);
        if !password.is_empty() {
            cmd.env("MAILCHECK_PASSWORD", password);
        }
        json(&cmd.output().unwrap())
    };
    docs.push(run(
        &good,
        &good.password,
        &["--ca-file", ca, "--trace", "--check-legacy-tls"],
    ));
    docs.push(run(&good, "", &["--ca-file", ca, "--only", "pop3"]));
    docs.push(run(&wrong, "not-the-password", &["--ca-file", ca]));
    docs.push(run(&good, &good.password, &["--only", "imap,smtp/587"]));
    docs.push(run(
        &good,
        &good.password,
        &[
            "--ca-file",
            ca,
            "--tls-name",
            "imap.other.test",
            "--only",
            "imap/993",
        ],
    ));
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_PASSWORD")
        .args([
            "probe",
            &good.address,
            "--server",
            &s.tls_name,
            "--no-prompt",
        ])
        .args(["--ca-file", ca, "--format", "json", "--only", "smtp"]);
    for rule in connect_to(s, &[(465, closed_port(s.ip))]) {
        cmd.args(["--connect-to", &rule]);
    }
    docs.push(json(&cmd.output().unwrap()));
    // The documents do carry the optional parts.
    assert!(result(&docs[0], "imap/993/tls")["legacy_tls"].is_object());
    assert!(result(&docs[0], "imap/993/tls")["transcript"].is_array());
    assert_eq!(
        result(&docs[1], "pop3/995/tls")["auth"]["why"],
        "no-credentials"
    );
    // `json` validated each document against the schema; the schema does see a field or a
    // value it does not list.
    let mut extra = docs[0].clone();
    extra["results"][0]["tls"]["brand_new"] = Value::Bool(true);
    extra["credential"]["source"] = Value::String("carrier-pigeon".into());
    assert_eq!(
        support::schema::violations("probe", &extra).len(),
        2,
        "{extra:#}"
    );
}
