//! The checks file (`mailcheck check`) against the real Dovecot and Postfix: expectations that
//! pass and fail both ways (expect / forbid), thresholds, credentials from the environment,
//! JUnit output parsed back, bad files, and no secret in any output.

use crate::support;

use crate::discover_support;

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use support::servers::{closed_port, MailServers};

/// `connect_to = [...]` mapping the documented ports to the lab's, with overrides.
fn connect_to(s: &MailServers, overrides: &[(u16, u16)]) -> String {
    let ports = s.documented_ports();
    let rules: Vec<String> = ports
        .iter()
        .map(|(logical, real)| {
            let real = overrides
                .iter()
                .find(|(l, _)| l == logical)
                .map_or(*real, |(_, r)| *r);
            format!("\"{}:{logical}:{}:{real}\"", s.tls_name, s.ip)
        })
        .collect();
    format!("[{}]", rules.join(", "))
}

fn defaults(s: &MailServers) -> String {
    format!(
        "[defaults]\nserver = \"{}\"\nca_file = \"{}\"\nconnect_to = {}\nconnect_timeout = \"2s\"\ntimeout = \"5s\"\n\n",
        s.tls_name,
        s.ca_pem.display(),
        connect_to(s, &[])
    )
}

fn write_config(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn check(config: &PathBuf, format: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .args(["check", "--config"])
        .arg(config)
        .args(["--format", format]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `check --format json` output, checked against `schemas/check.schema.json`.
fn json(out: &Output) -> Value {
    support::schema::json_of(out, "check")
}

fn account<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == name)
        .unwrap_or_else(|| panic!("no account {name} in {doc:#}"))
}

fn expectation<'a>(acct: &'a Value, kind: &str, subject: &str) -> &'a Value {
    acct["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind && e["subject"] == subject)
        .unwrap_or_else(|| panic!("no {kind} {subject} in {acct:#}"))
}

/// Three accounts: one meeting every expectation, one breaking them both ways, one whose
/// password is wrong.
fn mixed_config(s: &MailServers) -> String {
    let closed = closed_port(s.ip);
    format!(
        r#"{defaults}
[[account]]
name = "good"
address = "erin@lab.test"
password_env = "MC_TEST_ERIN"
expect = ["imap/993/tls", "smtp/587/starttls", "pop3/995"]
forbid = ["imap/143/plaintext-login", "pop3/110/plaintext-login", "smtp/587/plaintext-login"]
min_cert_days = 30
max_response = "10s"

[[account]]
name = "bad"
address = "frank@lab.test"
password_env = "MC_TEST_FRANK"
connect_to = {closed_995}
# Dovecot refuses a password before TLS: this fails.
expect = ["imap/143/plaintext-login", "pop3/995/tls"]
# It works: this fails too.
forbid = ["imap/993/tls"]
# The lab certificate has 89 days left.
min_cert_days = 100

[[account]]
name = "wrong-password"
address = "grace@lab.test"
password_env = "MC_TEST_GRACE"
expect = ["imap/993/tls"]
"#,
        defaults = defaults(s),
        closed_995 = connect_to(s, &[(995, closed)]),
    )
}

#[test]
fn expectations_pass_and_fail_both_ways() {
    let s = MailServers::get();
    let (erin, frank, grace) = (s.user("erin"), s.user("frank"), s.user("grace"));
    let (_dir, cfg) = write_config("mailcheck.toml", &mixed_config(s));
    let env = [
        ("MC_TEST_ERIN", erin.password.as_str()),
        ("MC_TEST_FRANK", frank.password.as_str()),
        ("MC_TEST_GRACE", "not-grace's-password"),
    ];
    let out = check(&cfg, "json", &env);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    assert_eq!(doc["status"], "critical");

    let good = account(&doc, "good");
    assert_eq!(good["status"], "ok", "{good:#}");
    assert_eq!(good["address"], "erin@lab.test");
    let exps = good["expectations"].as_array().unwrap();
    // 3 expect + 3 forbid + one certificate and one response-time check per combination.
    assert_eq!(exps.len(), 3 + 3 + 6 + 6, "{good:#}");
    assert!(exps.iter().all(|e| e["status"] == "ok"), "{good:#}");
    assert_eq!(
        expectation(good, "expect", "imap/993/tls")["observed"],
        "works"
    );
    assert_eq!(
        expectation(good, "forbid", "imap/143/starttls/plaintext-login")["observed"],
        "no password login offered before TLS"
    );
    assert_eq!(good["report"]["credential"]["source"], "environment");

    let bad = account(&doc, "bad");
    assert_eq!(bad["status"], "critical", "{bad:#}");
    // Expected to work, does not: named with account, combination, expected and observed.
    let e = expectation(bad, "expect", "imap/143/starttls/plaintext-login");
    assert_eq!(e["status"], "critical");
    assert_eq!(e["expected"], "a password login offered before TLS");
    assert_eq!(e["observed"], "no password login offered before TLS");
    let e = expectation(bad, "expect", "pop3/995/tls");
    assert_eq!(e["status"], "critical");
    assert!(
        e["observed"]
            .as_str()
            .unwrap()
            .starts_with("fails (connect.refused"),
        "{e:#}"
    );
    // Forbidden but works. With `min_cert_days = 100` and no warning level, the warning
    // level is raised to 100 days too (as `--cert-crit-days` does on the command line): the
    // 89-day certificate is a warning of the diagnosis as well.
    let e = expectation(bad, "forbid", "imap/993/tls");
    assert_eq!(e["status"], "critical");
    assert_eq!(e["expected"], "does not work");
    assert_eq!(e["observed"], "works with warnings (tls.cert-expiring)");
    // Certificate days below the minimum, on every TLS combination that reached TLS.
    let cert = bad["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "cert-days")
        .collect::<Vec<_>>();
    assert_eq!(cert.len(), 5, "{bad:#}");
    assert!(cert.iter().all(|e| e["status"] == "critical"), "{bad:#}");
    assert!(cert[0]["observed"]
        .as_str()
        .unwrap()
        .contains("day(s) left"));

    let wrong = account(&doc, "wrong-password");
    assert_eq!(wrong["status"], "critical");
    let e = expectation(wrong, "expect", "imap/993/tls");
    // Rejected here, or rejected on another combination first and so not tried here.
    let observed = e["observed"].as_str().unwrap();
    assert!(
        observed.starts_with("fails (auth.rejected")
            || observed.starts_with(
                "connects, but no login: the credential was rejected (auth.rejected on "
            ),
        "{e:#}"
    );
    // One failed login for the whole account, as for a single probe.
    assert_eq!(s.failed_logins(&grace.address), 1);
    assert_eq!(s.failed_logins(&erin.address), 0);

    // The table names the failed expectations the same way.
    let out = check(&cfg, "table", &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("bad: forbid imap/993/tls: expected does not work, observed works"),
        "{text}"
    );
    assert!(
        text.contains("3 account(s): 1 ok, 0 warning, 2 critical"),
        "{text}"
    );
}

#[test]
fn all_expectations_met_exits_0_and_nagios_says_ok() {
    let s = MailServers::get();
    let heidi = s.user("heidi");
    let cfg_text = format!(
        "{}[[account]]\nname = \"heidi\"\naddress = \"heidi@lab.test\"\npassword_env = \"MC_TEST_HEIDI\"\nexpect = [\"imap/993/tls\", \"smtp/465/tls\"]\nforbid = [\"imap/143/plaintext-login\"]\nonly = [\"imap/993\", \"smtp/465\"]\n",
        defaults(s)
    );
    let (_dir, cfg) = write_config("ok.toml", &cfg_text);
    let out = check(&cfg, "nagios", &[("MC_TEST_HEIDI", &heidi.password)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("MAILCHECK OK - heidi: 3 of 3 combinations work"),
        "{text}"
    );
    // `only` plus what the expectations name: 993, 465, and 143 for the forbid.
    assert!(text.contains("[OK] heidi: expect imap/993/tls"), "{text}");
    assert!(text.contains("[OK] imap/143/starttls: works"), "{text}");
}

#[test]
fn junit_parses_back_with_one_case_per_combination_and_expectation() {
    use quick_xml::events::Event;

    let s = MailServers::get();
    let (ivan, judy) = (s.user("ivan"), s.user("judy"));
    let cfg_text = format!(
        "{}[[account]]\nname = \"ivan\"\naddress = \"ivan@lab.test\"\npassword_env = \"MC_TEST_IVAN\"\nexpect = [\"imap/993/tls\"]\n\n[[account]]\nname = \"judy\"\naddress = \"judy@lab.test\"\npassword_env = \"MC_TEST_JUDY\"\nforbid = [\"smtp/465/tls\"]\nexpect = [\"imap/143/plaintext-login\"]\n",
        defaults(s)
    );
    let (_dir, cfg) = write_config("junit.toml", &cfg_text);
    let env = [
        ("MC_TEST_IVAN", ivan.password.as_str()),
        ("MC_TEST_JUDY", judy.password.as_str()),
    ];
    let out = check(&cfg, "junit", &env);
    assert_eq!(out.status.code(), Some(2));
    let xml = String::from_utf8(out.stdout).unwrap();

    // Parse it back: suites, their cases, and the failures inside them.
    #[derive(Debug, Default)]
    struct Suite {
        name: String,
        declared_tests: usize,
        declared_failures: usize,
        cases: Vec<(String, Option<String>)>,
    }
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut suites: Vec<Suite> = vec![];
    let mut totals = (0usize, 0usize);
    // unescape_value is deprecated in favour of an XML-version-aware call; for attributes of
    // this document (XML 1.0, no whitespace normalization needed) it gives the same text.
    #[allow(deprecated)]
    let attr = |e: &quick_xml::events::BytesStart, name: &str| -> String {
        e.try_get_attribute(name)
            .unwrap()
            .unwrap_or_else(|| panic!("no {name} attribute"))
            .unescape_value()
            .unwrap()
            .into_owned()
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => match e.name().into_inner() {
                "testsuites" => {
                    totals = (
                        attr(&e, "tests").parse().unwrap(),
                        attr(&e, "failures").parse().unwrap(),
                    )
                }
                "testsuite" => suites.push(Suite {
                    name: attr(&e, "name"),
                    declared_tests: attr(&e, "tests").parse().unwrap(),
                    declared_failures: attr(&e, "failures").parse().unwrap(),
                    cases: vec![],
                }),
                "testcase" => {
                    let time: f64 = attr(&e, "time").parse().unwrap();
                    assert!(time >= 0.0);
                    suites
                        .last_mut()
                        .unwrap()
                        .cases
                        .push((attr(&e, "name"), None))
                }
                "failure" => {
                    let msg = attr(&e, "message");
                    suites.last_mut().unwrap().cases.last_mut().unwrap().1 = Some(msg);
                }
                _ => {}
            },
            _ => {}
        }
    }
    assert_eq!(suites.len(), 2, "{xml}");
    let ivan_s = &suites[0];
    assert_eq!(ivan_s.name, "ivan");
    // 6 combinations + 1 expect (no thresholds configured).
    assert_eq!(ivan_s.cases.len(), 7, "{xml}");
    assert_eq!(ivan_s.declared_tests, 7);
    assert_eq!(ivan_s.declared_failures, 0, "{xml}");
    assert!(ivan_s.cases.iter().any(|(n, _)| n == "imap/993/tls"));
    assert!(ivan_s.cases.iter().any(|(n, _)| n == "expect imap/993/tls"));

    let judy_s = &suites[1];
    let failed: Vec<&(String, Option<String>)> =
        judy_s.cases.iter().filter(|c| c.1.is_some()).collect();
    assert_eq!(judy_s.declared_failures, failed.len());
    let names: Vec<&str> = failed.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "expect imap/143/starttls/plaintext-login",
            "forbid smtp/465/tls"
        ],
        "{xml}"
    );
    assert_eq!(
        failed[1].1.as_deref(),
        Some("judy: forbid smtp/465/tls: expected does not work, observed works")
    );
    assert_eq!(totals, (7 + judy_s.cases.len(), failed.len()));
}

#[test]
fn no_secret_in_any_format() {
    let s = MailServers::get();
    let kim = s.user("ken");
    let canary = "Canary-7f3a-check-Xq9";
    let cfg_text = format!(
        "{}[[account]]\nname = \"right\"\naddress = \"ken@lab.test\"\npassword_env = \"MC_TEST_KEN\"\nexpect = [\"imap/993/tls\"]\n\n[[account]]\nname = \"wrong\"\naddress = \"laura@lab.test\"\npassword_command = \"printf '%s\\\\n' \\\"$MC_TEST_CANARY\\\"\"\nexpect = [\"imap/993/tls\"]\n",
        defaults(s)
    );
    let (_dir, cfg) = write_config("secret.toml", &cfg_text);
    for format in ["table", "json", "jsonl", "nagios", "junit", "prometheus"] {
        let out = check(
            &cfg,
            format,
            &[("MC_TEST_KEN", &kim.password), ("MC_TEST_CANARY", canary)],
        );
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        assert_eq!(out.status.code(), Some(2), "{format}: {text}");
        assert!(
            !text.contains(&kim.password),
            "{format} shows the password:\n{text}"
        );
        assert!(
            !text.contains(canary),
            "{format} shows the password:\n{text}"
        );
        // The command's password was really used (and rejected), so the test is not vacuous.
        assert!(text.contains("auth.rejected"), "{format}: {text}");
    }
    assert_eq!(s.failed_logins("laura@lab.test"), 6);
}

#[test]
fn bad_config_is_exit_3_with_line_and_column() {
    let cases = [
        (
            "[[account]]\naddress = \"a@lab.test\"\nexpect = [\"imap/993/tls\", \"imap/994/tsl\"]\n",
            "bad.toml:3:27: ",
        ),
        ("[[account]]\naddress = \"a@lab.test\"\nserverr = \"x\"\n", "bad.toml:3:1: "),
        ("[[account]]\naddress = \"a@lab.test\"\nexpect = [\n", "bad.toml:3:11: unclosed array"),
        (
            "[[account]]\naddress = \"a@lab.test\"\npassword = \"Canary-in-file\"\n",
            "bad.toml:3:12: secrets never go in the checks file",
        ),
    ];
    let inverted = [
        (
            "[[account]]\naddress = \"a@lab.test\"\nwarn_response = \"2s\"\nmax_response = \"1s\"\n",
            "bad.toml:3:17: the warning response time (2s) is above the critical one (1s)",
        ),
        (
            "[[account]]\naddress = \"a@lab.test\"\nwarn_cert_days = 7\nmin_cert_days = 14\n",
            "bad.toml:3:18: the certificate warning (7 days) is below the critical limit (14 days)",
        ),
    ];
    for (text, expected) in cases.into_iter().chain(inverted) {
        let (_dir, cfg) = write_config("bad.toml", text);
        let out = check(&cfg, "table", &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{text}: {stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
        assert!(!stderr.contains("Canary-in-file"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    // A missing file is bad input too.
    let out = check(&PathBuf::from("/nonexistent/mailcheck.toml"), "table", &[]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn an_unset_password_variable_makes_the_account_unknown() {
    let s = MailServers::get();
    let cfg_text = format!(
        "{}[[account]]\nname = \"nick\"\naddress = \"nick@lab.test\"\npassword_env = \"MC_TEST_UNSET_VARIABLE\"\nexpect = [\"imap/993/tls\"]\n",
        defaults(s)
    );
    let (_dir, cfg) = write_config("unset.toml", &cfg_text);
    let out = check(&cfg, "nagios", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.starts_with(
            "MAILCHECK UNKNOWN - nick: cannot check: the environment variable MC_TEST_UNSET_VARIABLE is not set or empty"
        ),
        "{text}"
    );
    assert_eq!(s.auth_attempts("nick@lab.test"), 0);
}

/// An account without `server`: its servers are discovered (autoconfig over https and SRV, from
/// the loopback DNS and web servers of `discover_support`), then checked against expectations
/// that name the discovered (undocumented) ports.
#[test]
fn an_account_without_server_is_discovered() {
    use discover_support::{Lab, Zone};
    let s = MailServers::get();
    let user = s.user("discovered-check");
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
  <outgoingServer type="smtp"><hostname>{h}</hostname><port>{sub}</port>
    <socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></outgoingServer>
</emailProvider></clientConfig>"#,
        h = s.tls_name,
        imaps = s.imaps,
        imap = s.imap,
        sub = s.submission
    );
    let lab = Lab::serving_autoconfig(z, &doc);
    let dir = tempfile::tempdir().unwrap();
    let both = lab.ca_bundle_with(&s.ca_pem);
    let rules: Vec<String> = lab
        .connect_to()
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect();
    let cfg_text = format!(
        r#"[[account]]
name = "discovered"
address = "{address}"
password_env = "MC_TEST_DISCOVERED"
dns_server = "{dns}"
ispdb_url = "https://ispdb.test/v1.1/"
ca_file = "{ca}"
connect_to = [{rules}]
timeout = "5s"
expect = ["imap/{imaps}/tls", "smtp/{sub}/starttls", "pop3/{pop3s}/tls"]
forbid = ["imap/{imap}/starttls/plaintext-login"]
"#,
        address = user.address,
        dns = lab.dns.addr,
        ca = both.path().display(),
        rules = rules.join(", "),
        imaps = s.imaps,
        imap = s.imap,
        sub = s.submission,
        pop3s = s.pop3s,
    );
    let cfg = dir.path().join("discover.toml");
    std::fs::write(&cfg, cfg_text).unwrap();
    let out = check(&cfg, "json", &[("MC_TEST_DISCOVERED", &user.password)]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let a = account(&doc, "discovered");
    assert_eq!(a["status"], "ok", "{a:#}");
    let report = &a["report"];
    assert_eq!(
        report["discovery"]["winners"]["imap"], "autoconfig",
        "{a:#}"
    );
    assert_eq!(report["discovery"]["winners"]["pop3"], "srv", "{a:#}");
    let exps = a["expectations"].as_array().unwrap();
    assert_eq!(exps.len(), 4);
    assert!(exps.iter().all(|e| e["status"] == "ok"), "{a:#}");
    for r in report["results"].as_array().unwrap() {
        assert_eq!(r["target"]["host"], "mail.lab.test");
        assert_eq!(r["auth"]["status"], "succeeded", "{r:#}");
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&user.password));
    assert_eq!(s.failed_logins(&user.address), 0);
}

/// Any port may be named in `expect`: the lab's IMAPS port (not 993) is probed as named.
#[test]
fn an_expectation_on_another_port_is_probed() {
    let s = MailServers::get();
    let ivan = s.user("ivan");
    let rules = connect_to(s, &[]);
    let rules = format!(
        "{}, \"{}:{p}:{}:{p}\"]",
        rules.trim_end_matches(']'),
        s.tls_name,
        s.ip,
        p = s.imaps
    );
    let text = format!(
        "{}[[account]]\nname = \"ivan\"\naddress = \"ivan@lab.test\"\npassword_env = \"MC_TEST_IVAN\"\nconnect_to = {rules}\nonly = [\"smtp/587\"]\nexpect = [\"imap/{p}/tls\"]\n",
        defaults(s),
        p = s.imaps
    );
    let (_dir, cfg) = write_config("port.toml", &text);
    let out = check(&cfg, "json", &[("MC_TEST_IVAN", &ivan.password)]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let acct = account(&doc, "ivan");
    let e = expectation(acct, "expect", &format!("imap/{}/tls", s.imaps));
    assert_eq!(e["status"], "ok", "{acct:#}");
    assert_eq!(e["observed"], "works", "{acct:#}");
    let ids: Vec<&str> = acct["report"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["smtp/587/starttls", &format!("imap/{}/tls", s.imaps)]);
    assert_eq!(s.failed_logins(&ivan.address), 0);
}

/// Counts of 0 and thresholds the wrong way round are bad input (exit 3), refused before any
/// connection, with a message naming the option.
#[test]
fn zero_counts_and_inverted_thresholds_are_refused() {
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("mailcheck")
            .unwrap()
            .env_remove("MAILCHECK_PASSWORD")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (_dir, cfg) = write_config("c.toml", "[[account]]\naddress = \"a@lab.test\"\n");
    let cfg = cfg.to_str().unwrap();
    for (args, said) in [
        (vec!["batch", "a@lab.test", "--per-host", "0"], "--per-host"),
        (
            vec!["batch", "a@lab.test", "--concurrency", "0"],
            "--concurrency",
        ),
        (
            vec!["check", "--config", cfg, "--per-host", "0"],
            "--per-host",
        ),
        (
            vec!["check", "--config", cfg, "--concurrency", "0"],
            "--concurrency",
        ),
        (vec!["serve", "--per-host", "0"], "--per-host"),
        (vec!["serve", "--concurrency", "0"], "--concurrency"),
        (
            vec!["batch", "a@lab.test", "-w", "2s", "-c", "1s"],
            "the warning response time (2s) is above the critical one (1s)",
        ),
        (
            vec![
                "batch",
                "a@lab.test",
                "--cert-warn-days",
                "7",
                "--cert-crit-days",
                "14",
            ],
            "the certificate warning (7 days) is below the critical limit (14 days)",
        ),
        (
            vec![
                "probe",
                "a@lab.test",
                "--server",
                "mail.lab.test",
                "-w",
                "2s",
                "-c",
                "1s",
            ],
            "the warning response time (2s) is above the critical one (1s)",
        ),
    ] {
        let (code, stderr) = run(&args);
        assert_eq!(code, Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
}

/// The lockout rule holds across a whole run: at most one failed login per server, account
/// and secret, whatever the number of lines naming the account (and their letter case).
#[test]
fn one_failed_login_per_account_across_the_run() {
    let s = MailServers::get();
    let user = s.user("lockout-check");
    let account = |name: &str| {
        format!(
            "[[account]]\nname = \"{name}\"\naddress = \"{}\"\npassword_env = \"MC_WRONG\"\n",
            user.address
        )
    };
    let text = format!("{}{}{}", defaults(s), account("one"), account("two"));
    let (_dir, cfg) = write_config("mailcheck.toml", &text);
    let out = check(&cfg, "json", &[("MC_WRONG", "not-the-password")]);
    let doc = json(&out);
    for name in ["one", "two"] {
        let a = account_of(&doc, name);
        assert_eq!(a["status"], "critical", "{a:#}");
        assert!(a["report"]["summary"]
            .as_str()
            .unwrap()
            .contains("auth.rejected"));
    }
    assert_eq!(s.failed_logins(&user.address), 1);

    // batch: three lines and one in capitals.
    let upper = user.address.to_uppercase();
    let out = Command::cargo_bin("mailcheck")
        .unwrap()
        .env_remove("MAILCHECK_PASSWORD")
        .args(["batch", &user.address, &user.address, &upper, &user.address])
        .args([
            "--server",
            &s.tls_name,
            "--ca-file",
            s.ca_pem.to_str().unwrap(),
        ])
        .args(connect_to_flags(s))
        .args([
            "--password-command",
            "echo another-wrong-one",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{}", String::from_utf8_lossy(&out.stderr));
    for l in &lines {
        assert_eq!(l["status"], "critical", "{l:#}");
    }
    // Probed once, reported for each line, each with the address as it was typed.
    let started: std::collections::BTreeSet<&str> = lines
        .iter()
        .map(|l| l["report"]["started_at"].as_str().unwrap())
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(lines.iter().filter(|l| l["address"] == upper).count(), 1);
    // One more failure for the second (other) secret, none for the three repeats (the count
    // ignores letter case: it covers the line in capitals).
    assert_eq!(s.failed_logins(&user.address), 2);
}

fn account_of<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == name)
        .unwrap_or_else(|| panic!("no account {name}"))
}

fn connect_to_flags(s: &MailServers) -> Vec<String> {
    s.connect_to_rules()
        .into_iter()
        .flat_map(|rule| ["--connect-to".to_string(), rule])
        .collect()
}
