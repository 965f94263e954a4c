//! OAuth2 sign-in against a real authorization server (`oidc-provider`, support::oauth2) and
//! real Dovecot and Postfix that check its tokens by introspection
//! (`MailServers::get_with_oauth2`). The tests play the user on the provider's pages.

use crate::support;

use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use support::oauth2::{AccessToken, Decision, OAuth2Lab};
use support::servers::MailServers;

const ALL: [&str; 6] = [
    "imap/993/tls",
    "imap/143/starttls",
    "pop3/995/tls",
    "pop3/110/starttls",
    "smtp/465/tls",
    "smtp/587/starttls",
];

/// `--connect-to` rules mapping the documented ports of the logical server to the lab's.
fn connect_to(s: &MailServers) -> Vec<String> {
    [
        (993, s.imaps),
        (143, s.imap),
        (995, s.pop3s),
        (110, s.pop3),
        (465, s.smtps),
        (587, s.submission),
    ]
    .iter()
    .map(|(logical, real)| format!("{}:{logical}:{}:{real}", s.tls_name, s.ip))
    .collect()
}

/// `mailcheck probe ADDRESS` against the OAuth2 lab's servers, trusting the test CA.
fn probe(lab: &OAuth2Lab, address: &str) -> Command {
    let s = lab.servers;
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .args(["probe", address, "--server", &s.tls_name, "--no-prompt"])
        .args([
            "--timeout",
            "5s",
            "--connect-timeout",
            "2s",
            "--format",
            "json",
        ])
        .arg("--ca-file")
        .arg(lab.ca_pem());
    for rule in connect_to(s) {
        cmd.args(["--connect-to", &rule]);
    }
    cmd
}

fn json(out: &Output) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    support::schema::assert_schema("probe", &doc);
    doc
}

fn result<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result {id} in {doc:#}"))
}

/// A token the user got at the provider (device flow, the test approving as the user) logs in
/// on all six combinations, once through each mechanism, handed over by
/// `--oauth2-token-command` (the token is in a file, never in argv).
#[test]
fn a_token_from_the_provider_logs_in_everywhere_with_both_mechanisms() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("alice");
    let token = lab.sign_in(&user.address);
    let intro = lab.introspect(&token);
    assert_eq!(intro["active"], true, "{intro}");
    assert_eq!(intro["sub"], user.address.as_str());
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    token.write_to(&token_file);
    for (mechanism, sasl) in [("oauthbearer", "OAUTHBEARER"), ("xoauth2", "XOAUTH2")] {
        let out = probe(lab, &user.address)
            .args(["--auth-mechanism", mechanism])
            .arg("--oauth2-token-command")
            .arg(format!("cat {}", token_file.display()))
            .output()
            .unwrap();
        let doc = json(&out);
        assert_eq!(out.status.code(), Some(0), "{mechanism}: {doc:#}");
        assert_eq!(doc["credential"]["kind"], "oauth2-token");
        assert_eq!(doc["credential"]["source"], "command");
        for id in ALL {
            let r = result(&doc, id);
            assert_eq!(r["verdict"], "works", "{mechanism} {id}: {r:#}");
            assert_eq!(r["auth"]["status"], "succeeded", "{mechanism} {id}: {r:#}");
            assert_eq!(r["auth"]["mechanism"], sasl, "{mechanism} {id}: {r:#}");
        }
        let printed = [&out.stdout[..], &out.stderr[..]].concat();
        assert!(
            !String::from_utf8_lossy(&printed).contains(&token.0),
            "the token was printed"
        );
    }
    // Twelve logins, all checked at the provider, none failed.
    assert_eq!(lab.servers.successful_logins(&user.address), 12);
    assert_eq!(lab.servers.failed_logins(&user.address), 0);
}

/// A token of another user, or one the provider never issued, is refused (the server's words
/// in the report), and once refused it is not tried on the other combinations: one failed login
/// per run, as with a wrong password.
#[test]
fn a_token_the_provider_does_not_vouch_for_is_refused_once() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("bob");
    let other = lab.servers.user("carol");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    for token in [
        lab.sign_in(&other.address),
        AccessToken("never-issued-by-the-provider".into()),
    ] {
        token.write_to(&token_file);
        let out = probe(lab, &user.address)
            .arg("--oauth2-token-command")
            .arg(format!("cat {}", token_file.display()))
            .output()
            .unwrap();
        let doc = json(&out);
        assert_ne!(out.status.code(), Some(0), "{doc:#}");
        let statuses: Vec<&str> = ALL
            .iter()
            .map(|id| result(&doc, id)["auth"]["status"].as_str().unwrap())
            .collect();
        let rejected: Vec<&Value> = ALL
            .iter()
            .map(|id| result(&doc, id))
            .filter(|r| r["auth"]["status"] == "rejected")
            .collect();
        assert_eq!(rejected.len(), 1, "{statuses:?}");
        assert!(
            !rejected[0]["auth"]["server_says"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "{:#}",
            rejected[0]
        );
        for id in ALL {
            let r = result(&doc, id);
            if r["auth"]["status"] != "rejected" {
                assert_eq!(r["auth"]["why"], "skipped-after-rejection", "{id}: {r:#}");
            }
        }
    }
    assert_eq!(lab.servers.successful_logins(&user.address), 0);
    assert_eq!(lab.servers.failed_logins(&user.address), 2);
}

/// The user aborting on the provider's page: the device code is then refused (access_denied).
#[test]
fn a_denied_device_code_gives_no_token() {
    let lab = OAuth2Lab::get();
    let grant = lab.device_authorization("mailcheck", "openid mail");
    let page = lab.user_agent().sign_in(
        &grant.verification_uri_complete,
        "dave@lab.test",
        Decision::Deny,
    );
    assert!(!page.body.contains("Sign-in Success"), "{}", page.body);
    let (status, body) = lab.device_token_once("mailcheck", &grant.device_code);
    assert_eq!(status, 400);
    assert_eq!(body["error"], "access_denied", "{body}");
}
