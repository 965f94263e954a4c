//! `mailcheck lab` and `mailcheck demo` as people use them: the printed probe command works as
//! pasted, the lab stops cleanly on Ctrl-C, the demo needs no server and no network.

use crate::support::schema;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mailcheck::lab::Scenario;
use schema::assert_schema;
use serde_json::Value;

fn bin() -> &'static std::path::Path {
    assert_cmd::cargo::cargo_bin!("mailcheck")
}

fn mailcheck() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(bin());
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .timeout(Duration::from_secs(60));
    cmd
}

#[test]
fn lab_list_and_help_name_every_scenario() {
    let out = mailcheck().args(["lab", "--list"]).output().unwrap();
    assert!(out.status.success());
    let list = String::from_utf8(out.stdout).unwrap();
    let help =
        String::from_utf8(mailcheck().args(["lab", "--help"]).output().unwrap().stdout).unwrap();
    for s in Scenario::ALL {
        assert!(
            list.lines()
                .any(|l| l.starts_with(&format!("{} ", s.name()))),
            "{s} not in --list"
        );
        assert!(help.contains(s.name()), "{s} not in --help");
    }
    let bad = mailcheck()
        .args(["lab", "--scenario", "nope"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3));
}

#[test]
fn lab_prints_a_probe_command_that_works_as_pasted() {
    let mut lab = Command::new(bin())
        .args(["lab", "--duration", "60s"])
        .env_remove("MAILCHECK_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lab.stdout.take().unwrap();
    let mut stderr = lab.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut banner = Vec::new();
    let command = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the lab printed no probe command");
        if line.contains(" probe alice@lab.test ") {
            break line;
        }
        banner.push(line);
    };
    let password_file = banner
        .iter()
        .find_map(|l| l.split("(password in ").nth(1))
        .map(|p| p.trim_end_matches(')').to_string())
        .expect("password file in the banner");
    let password = std::fs::read_to_string(&password_file).unwrap();
    assert!(!banner.join("\n").contains(password.trim()));
    assert!(!command.contains(password.trim()));
    let ca = command
        .split("--ca-file ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .to_string();
    assert!(std::path::Path::new(&ca).is_file());
    assert_eq!(command.matches("--connect-to ").count(), 6);
    // With --duration the banner says the lab stops on its own.
    let running = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the lab printed no 'Running' line");
        if line.starts_with("Running") {
            break line;
        }
    };
    assert_eq!(
        running,
        "Running for 60s (or until Ctrl-C). Connections are logged on stderr."
    );

    // As pasted into a shell.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} --format json --no-prompt"))
        .env_remove("MAILCHECK_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("probe", &json);
    assert_eq!(json["credential"]["source"], "command");
    for r in json["results"].as_array().unwrap() {
        assert_eq!(r["verdict"], "works", "{r}");
        assert_eq!(r["auth"]["status"], "succeeded", "{r}");
    }

    // Let the lab log the six connections, then Ctrl-C it.
    std::thread::sleep(Duration::from_millis(600));
    let sent = Command::new("sh")
        .args(["-c", "kill -INT \"$1\"", "sh", &lab.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = lab.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{status:?} {}",
        err_thread.join().unwrap()
    );
    let log = err_thread.join().unwrap();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(password.trim()));
    assert_eq!(log.matches("credentials seen").count(), 6, "{log}");
    assert!(!log.contains("IN PLAIN TEXT"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    // Its files go with it.
    assert!(!std::path::Path::new(&ca).exists());
    assert!(!std::path::Path::new(&password_file).exists());
}

#[test]
fn demo_probes_the_lab_in_process() {
    let out = mailcheck()
        .args(["demo", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("probe", &json);
    assert_eq!(json["credential"]["source"], "lab");
    assert_eq!(json["address"], "alice@lab.test");
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    for r in results {
        assert_eq!(r["verdict"], "works", "{r}");
        assert_eq!(r["auth"]["status"], "succeeded", "{r}");
    }

    let out = mailcheck()
        .args(["demo", "--color", "never"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.matches("works").count(), 6, "{table}");
    assert!(table.contains("login verified"));
}

#[test]
fn demo_reproduces_a_scenario() {
    let out = mailcheck()
        .args([
            "demo",
            "--scenario",
            "cert-expired",
            "--format",
            "json",
            "--trace",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("probe", &json);
    for r in json["results"].as_array().unwrap() {
        assert_eq!(r["reason"]["code"], "tls.cert-expired", "{r}");
        assert_eq!(r["auth"]["why"], "certificate-not-trusted");
        assert!(r["transcript"].is_array());
    }
}

/// The text report says a failure or finding shared by every combination once, for all of
/// them; and with the intermediate missing, the hint names the server's fix, not --ca-file.
#[test]
fn the_text_report_says_a_shared_failure_once() {
    let out = mailcheck()
        .args(["demo", "--scenario", "chain-incomplete", "--color", "never"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    let why = &text[text.find("Why:").expect("a Why section")..];
    assert_eq!(
        why.matches("tls.cert-unknown-issuer —").count(),
        1,
        "{text}"
    );
    assert!(
        why.contains("\n  all 6 combinations   tls.cert-unknown-issuer"),
        "{text}"
    );
    assert_eq!(text.matches("(tls.chain-incomplete)").count(), 1, "{text}");
    assert!(text.contains("must install the full chain"), "{text}");
    assert!(!text.contains("--ca-file"), "{text}");
}

/// demo takes the thresholds as probe does: the wrong way round is bad input (exit 3), and
/// `--cert-crit-days` alone raises the warning level (the lab certificate has 90 days left).
#[test]
fn demo_checks_its_thresholds_as_probe_does() {
    let out = mailcheck()
        .args(["demo", "-w", "3s", "-c", "1s", "--format", "nagios"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning must come first"));

    let out = mailcheck()
        .args(["demo", "--cert-crit-days", "100", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("probe", &json);
    for r in json["results"].as_array().unwrap() {
        assert!(
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["code"] == "tls.cert-expiring"),
            "{r}"
        );
    }
}
