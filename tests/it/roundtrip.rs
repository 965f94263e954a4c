//! `--round-trip` against the real Postfix delivering into the real Dovecot (LMTP), both started
//! on 127.0.0.2 by the harness in `support`. Every test drives the real binary, as a user would,
//! and checks the mailbox through Dovecot's own tool (doveadm), not through mailcheck's IMAP.

use crate::support;
// The loopback DNS responder of the discovery tests, for `--dns-server`.
#[allow(dead_code)]
use crate::discover_support::dns;

use std::net::SocketAddr;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use support::servers::{MailServers, StoredMessage, TestUser, HELD_RECIPIENT, REFUSED_RECIPIENT};

/// `--connect-to` rules mapping the documented ports of the logical server to the lab's ports,
/// some of them to `overrides` instead.
fn connect_to(s: &MailServers, overrides: &[(u16, SocketAddr)]) -> Vec<String> {
    [
        (993, s.imaps),
        (143, s.imap),
        (995, s.pop3s),
        (110, s.pop3),
        (465, s.smtps),
        (587, s.submission),
    ]
    .iter()
    .map(|(logical, real)| {
        let to = overrides
            .iter()
            .find(|(l, _)| l == logical)
            .map_or(SocketAddr::new(s.ip, *real), |(_, to)| *to);
        format!("{}:{logical}:{}:{}", s.tls_name, to.ip(), to.port())
    })
    .collect()
}

/// mailcheck with the lab's CA, the user's password in the environment and `--round-trip`.
fn mailcheck(s: &MailServers, user: &TestUser) -> Command {
    mailcheck_via(s, user, &[])
}

/// The same, with some logical ports sent elsewhere.
fn mailcheck_via(s: &MailServers, user: &TestUser, overrides: &[(u16, SocketAddr)]) -> Command {
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("MAILCHECK_PASSWORD", &user.password)
        .env("NO_COLOR", "1")
        .args([
            "probe",
            &user.address,
            "--server",
            &s.tls_name,
            "--no-prompt",
        ])
        .args(["--timeout", "5s", "--connect-timeout", "2s"])
        .args(["--ca-file", s.ca_pem.to_str().unwrap()])
        .arg("--round-trip");
    for rule in connect_to(s, overrides) {
        cmd.args(["--connect-to", &rule]);
    }
    cmd
}

/// `probe --format json` output, checked against `schemas/probe.schema.json`.
fn json(out: &Output) -> Value {
    support::schema::json_of(out, "probe")
}

/// Messages a user's mailbox already holds: an ordinary one, one the user has read, one the
/// user flagged \Deleted (a plain EXPUNGE would remove it), and one left over from an earlier
/// round trip (another token).
fn seed(s: &MailServers, user: &TestUser) -> Vec<StoredMessage> {
    let messages = [
        ("ordinary", ""),
        ("read", ""),
        ("flagged-deleted", ""),
        (
            "leftover",
            "Subject: mailcheck round trip mc-0-leftover\nX-Mailcheck-Token: mc-0-leftover\n",
        ),
    ];
    for (name, extra) in messages {
        s.store_message(
            &user.address,
            &format!(
                "From: someone@lab.test\nTo: {}\nMessage-ID: <{name}@lab.test>\n{extra}\nbody\n",
                user.address
            ),
        );
    }
    let stored = s.mailbox(&user.address);
    assert_eq!(stored.len(), 4, "{stored:?}");
    s.add_flags(&user.address, stored[1].uid, "\\Seen");
    s.add_flags(&user.address, stored[2].uid, "\\Deleted");
    let stored = s.mailbox(&user.address);
    assert_eq!(stored[2].flags, vec!["\\Deleted"]);
    stored
}

/// The Postfix log line that says where the queued message went. Postfix logs through its
/// postlog service, a moment after the delivery itself: wait for it (at most 10 s).
fn postfix_delivery_of(s: &MailServers, queue_id: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(s.postfix_log()).unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&format!("{queue_id}: to=")))
            .collect();
        if !lines.is_empty() || std::time::Instant::now() > deadline {
            return lines.join("\n");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `250 2.0.0 Ok: queued as 4F1C2` → `4F1C2`.
fn queue_id(server_says: &str) -> String {
    server_says
        .rsplit_once("queued as ")
        .map(|(_, id)| id.trim().to_string())
        .unwrap_or_else(|| panic!("no queue id in {server_says:?}"))
}

/// A delivered round trip: the JSON tells the whole story, the server's own records agree,
/// and the mailbox holds exactly what it held before.
fn assert_delivered_and_cleaned(
    s: &MailServers,
    user: &TestUser,
    before: &[StoredMessage],
    extra: &[&str],
    via: (&str, &str),
) {
    let out = mailcheck(s, user)
        .args(["--round-trip-timeout", "20s", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let doc = json(&out);
    let rt = &doc["round_trip"];
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(rt["outcome"], "delivered", "{rt:#}");
    assert!(rt.get("reason").is_none(), "{rt:#}");
    assert_eq!(rt["delivered"], true);
    assert_eq!(rt["sent"]["via"], via.0, "{rt:#}");
    assert_eq!(rt["checked_via"], via.1, "{rt:#}");
    let token = rt["token"].as_str().unwrap();
    assert_eq!(rt["sent"]["message_id"], format!("<{token}@lab.test>"));
    assert_eq!(rt["from"], user.address);
    assert_eq!(rt["to"], user.address);
    let latency = rt["latency_ms"].as_u64().expect("latency_ms");
    assert!(latency < 20_000, "{rt:#}");
    assert_eq!(rt["detail"], format!("delivered in {}", human_ms(latency)));
    assert!(rt["polls"].as_u64().unwrap() >= 1);

    // The hops: Dovecot's LMTP (newest, first) and Postfix's submission service.
    let received: Vec<&str> = rt["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(received.len(), 2, "{rt:#}");
    assert!(received[0].contains("by mail.lab.test with LMTP"), "{rt:#}");
    assert!(
        received[0].contains(&format!("for <{}>", user.address)),
        "{rt:#}"
    );
    assert!(
        received[1].contains("by mail.lab.test (Postfix) with ESMTPSA"),
        "{rt:#}"
    );
    assert_eq!(
        rt["authentication_results"][0],
        "mail.lab.test; auth=pass smtp.auth=submission-client"
    );

    // Postfix's own log: that queue id went to this user through Dovecot's LMTP.
    let qid = queue_id(rt["sent"]["server_says"].as_str().unwrap());
    let delivery = postfix_delivery_of(s, &qid);
    assert!(
        delivery.contains(&format!("to=<{}>", user.address)),
        "{delivery}"
    );
    assert!(
        delivery.contains("relay=mail.lab.test[") && delivery.contains("lmtp-postfix"),
        "{delivery}"
    );
    assert!(delivery.contains("status=sent"), "{delivery}");

    // Removed again, and nothing else touched: same messages, same UIDs, same flags (the
    // \Deleted one still there, the leftover of another round trip too).
    assert_eq!(rt["cleanup"], "deleted", "{rt:#}");
    assert_eq!(s.mailbox(&user.address), before);
    assert_eq!(s.failed_logins(&user.address), 0);
}

/// The way the report writes a duration.
fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[test]
fn imap_round_trip_over_implicit_tls_reports_latency_and_hops_and_deletes_only_its_message() {
    let s = MailServers::get();
    let user = s.user("rt-imaps");
    let before = seed(s, &user);
    assert_delivered_and_cleaned(s, &user, &before, &[], ("smtp/465/tls", "imap/993/tls"));
    // Twice in a row: the first run left nothing behind that confuses the second.
    assert_delivered_and_cleaned(s, &user, &before, &[], ("smtp/465/tls", "imap/993/tls"));
}

#[test]
fn imap_round_trip_over_starttls_on_both_sides() {
    let s = MailServers::get();
    let user = s.user("rt-imap-starttls");
    let before = seed(s, &user);
    assert_delivered_and_cleaned(
        s,
        &user,
        &before,
        &["--only", "starttls"],
        ("smtp/587/starttls", "imap/143/starttls"),
    );
}

#[test]
fn pop3_round_trip_deletes_only_its_message() {
    let s = MailServers::get();
    let user = s.user("rt-pop3s");
    let before = seed(s, &user);
    assert_delivered_and_cleaned(
        s,
        &user,
        &before,
        &["--skip", "imap"],
        ("smtp/465/tls", "pop3/995/tls"),
    );
    let user = s.user("rt-pop3-starttls");
    let before = seed(s, &user);
    assert_delivered_and_cleaned(
        s,
        &user,
        &before,
        &["--only", "starttls", "--skip", "imap"],
        ("smtp/587/starttls", "pop3/110/starttls"),
    );
}

#[test]
fn with_keep_the_message_stays_and_nothing_else_changes() {
    let s = MailServers::get();
    let user = s.user("rt-keep");
    let before = seed(s, &user);
    let out = mailcheck(s, &user)
        .args(["--round-trip-timeout", "20s", "--format", "json", "--keep"])
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let rt = &doc["round_trip"];
    assert_eq!(rt["outcome"], "delivered");
    assert_eq!(rt["cleanup"], "kept");
    let after = s.mailbox(&user.address);
    assert_eq!(&after[..before.len()], &before[..]);
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    let kept = after.last().unwrap();
    assert_eq!(kept.message_id, rt["sent"]["message_id"].as_str().unwrap());
    // Read without being marked read: looked at with BODY.PEEK in a read-only EXAMINE.
    assert!(kept.flags.is_empty(), "{kept:?}");
}

#[test]
fn a_message_that_never_arrives_is_sent_but_not_delivered_within_the_timeout() {
    let s = MailServers::get();
    let user = s.user("rt-held");
    let before = seed(s, &user);
    let held_before = s.held_messages();
    let started = std::time::Instant::now();
    let out = mailcheck(s, &user)
        .args(["--round-trip-timeout", "2s", "--format", "json"])
        .args(["--round-trip-to", HELD_RECIPIENT])
        .output()
        .unwrap();
    let doc = json(&out);
    let rt = &doc["round_trip"];
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    assert_eq!(doc["status"], "critical");
    assert_eq!(rt["outcome"], "not-delivered", "{rt:#}");
    assert_eq!(rt["reason"]["code"], "roundtrip.not-delivered");
    assert!(!rt["reason"]["hint"].as_str().unwrap().is_empty());
    assert_eq!(rt["detail"], "sent but not delivered within 2 s");
    assert_eq!(rt["to"], HELD_RECIPIENT);
    assert_eq!(rt["delivered"], false);
    assert!(rt["latency_ms"].is_null());
    assert!(rt["sent"]["server_says"]
        .as_str()
        .unwrap()
        .starts_with("250 "));
    assert_eq!(rt["cleanup"], "nothing-to-delete");
    assert!(rt["polls"].as_u64().unwrap() > 1, "{rt:#}");
    // It waited the timeout, and not much longer.
    let waited = started.elapsed();
    assert!(waited >= std::time::Duration::from_secs(2), "{waited:?}");
    assert!(waited < std::time::Duration::from_secs(20), "{waited:?}");
    // The server accepted it and holds it: this is the case the report describes.
    assert!(s.held_messages() > held_before);
    assert_eq!(s.mailbox(&user.address), before);
    assert!(doc["summary"]
        .as_str()
        .unwrap()
        .ends_with("round trip: sent but not delivered within 2 s (roundtrip.not-delivered)"));
    // The matrix itself is fine: the round trip alone makes the run critical.
    assert!(doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["verdict"] == "works"));

    // The table says it in words.
    let out = mailcheck(s, &user)
        .args([
            "--round-trip-timeout",
            "1s",
            "--round-trip-to",
            HELD_RECIPIENT,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "Round trip: FAILED roundtrip.not-delivered — sent but not delivered within 1 s"
        ),
        "{text}"
    );
    assert!(text.contains("CRITICAL"), "{text}");
    assert_eq!(s.mailbox(&user.address), before);
}

#[test]
fn a_refused_submission_names_the_reason_and_the_servers_words() {
    let s = MailServers::get();
    let user = s.user("rt-refused");
    let before = seed(s, &user);
    let out = mailcheck(s, &user)
        .args(["--round-trip-timeout", "5s", "--format", "json"])
        .args(["--round-trip-to", REFUSED_RECIPIENT])
        .output()
        .unwrap();
    let doc = json(&out);
    let rt = &doc["round_trip"];
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    assert_eq!(rt["outcome"], "submission-refused", "{rt:#}");
    assert_eq!(rt["reason"]["code"], "roundtrip.submission-refused");
    let says = rt["server_says"].as_str().unwrap();
    assert!(says.starts_with("554 5.7.1 <refused@lab.test>"), "{rt:#}");
    assert!(
        says.contains("refused by the test instance policy"),
        "{rt:#}"
    );
    assert!(rt["sent"].is_null());
    assert_eq!(rt["delivered"], false);
    assert_eq!(rt["cleanup"], "nothing-to-delete");
    assert_eq!(s.mailbox(&user.address), before);
}

#[test]
fn no_round_trip_where_the_certificate_is_not_trusted() {
    let s = MailServers::get();
    let user = s.user("rt-untrusted");
    let before = seed(s, &user);
    // Without the lab's CA every certificate is unknown: no login anywhere, so no round trip.
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env("MAILCHECK_PASSWORD", &user.password)
        .args([
            "probe",
            &user.address,
            "--server",
            &s.tls_name,
            "--no-prompt",
        ])
        .args(["--round-trip", "--format", "json"]);
    for rule in connect_to(s, &[]) {
        cmd.args(["--connect-to", &rule]);
    }
    let out = cmd.output().unwrap();
    let doc = json(&out);
    let rt = &doc["round_trip"];
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    assert_eq!(rt["outcome"], "not-run", "{rt:#}");
    assert_eq!(rt["reason"]["code"], "roundtrip.not-run");
    assert!(rt["sent"].is_null());
    assert_eq!(s.auth_attempts(&user.address), 0);
    assert_eq!(s.mailbox(&user.address), before);
}

#[test]
fn the_password_never_appears_in_round_trip_output() {
    use base64::Engine;
    let s = MailServers::get();
    let user = s.user("rt-canary");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let secrets = [
        user.password.clone(),
        b64(&user.password),
        b64(&format!("\0{}\0{}", user.address, user.password)),
    ];
    for args in [
        vec!["--format", "json", "--trace"],
        vec!["--trace"],
        vec![
            "--format", "json", "--trace", "--skip", "imap", "--only", "starttls",
        ],
    ] {
        let out = mailcheck(s, &user)
            .args(["--round-trip-timeout", "20s"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "secret leaked with {args:?}"
            );
        }
        if args.contains(&"json") {
            let doc = json(&out);
            let t = &doc["round_trip"]["transcript"];
            let submission = t["submission"].to_string();
            assert!(submission.contains("AUTH PLAIN <redacted>"), "{t:#}");
            assert!(submission.contains("DATA"), "{t:#}");
            assert!(
                t["mailbox"].as_array().is_some_and(|l| l.len() > 3),
                "{t:#}"
            );
        }
    }
    assert_eq!(s.failed_logins(&user.address), 0);
}

#[test]
fn round_trip_bad_input_exits_3() {
    let s = MailServers::get();
    let user = s.user("rt-bad-input");
    let cases: Vec<(Vec<&str>, bool)> = vec![
        // Both directions are needed.
        (vec!["--only", "imap"], true),
        (vec!["--skip", "smtp"], true),
        (vec!["--round-trip-to", "not-an-address"], true),
        (vec!["--round-trip-timeout", "0s"], true),
        // No credential at all.
        (vec![], false),
    ];
    for (args, with_password) in cases {
        let mut cmd = mailcheck(s, &user);
        if !with_password {
            cmd.env_remove("MAILCHECK_PASSWORD");
        }
        let out = cmd.args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    // --round-trip-to and --keep mean nothing without --round-trip.
    for args in [vec!["--round-trip-to", "a@lab.test"], vec!["--keep"]] {
        let out = Command::cargo_bin("mailcheck")
            .unwrap()
            .args(["probe", "a@lab.test", "--no-prompt"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
    }
    assert_eq!(s.auth_attempts(&user.address), 0);
}

#[test]
fn without_uidplus_the_message_is_flagged_deleted_but_nothing_is_expunged() {
    let s = MailServers::get();
    let user = s.user("rt-no-uidplus");
    let before = seed(s, &user);
    let out = mailcheck_via(s, &user, &[(993, s.imaps_without_uidplus)])
        .args(["--round-trip-timeout", "20s", "--format", "json"])
        .args(["--skip", "imap/143,pop3"])
        .output()
        .unwrap();
    let doc = json(&out);
    let rt = &doc["round_trip"];
    assert_eq!(rt["outcome"], "delivered", "{doc:#}");
    assert_eq!(rt["checked_via"], "imap/993/tls");
    assert_eq!(rt["cleanup"], "flagged-only", "{rt:#}");
    assert!(
        rt["cleanup_detail"].as_str().unwrap().contains("UIDPLUS"),
        "{rt:#}"
    );
    // Left behind flagged: a warning, not a failure.
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(doc["status"], "warning");
    // The other \Deleted message is still there (no plain EXPUNGE); ours stays, flagged.
    let after = s.mailbox(&user.address);
    assert_eq!(&after[..before.len()], &before[..]);
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    let ours = after.last().unwrap();
    assert_eq!(ours.message_id, rt["sent"]["message_id"].as_str().unwrap());
    assert_eq!(ours.flags, vec!["\\Deleted"]);
}

/// The address Postfix saw the submission come from, in its log line for this queue id
/// (`4F1C2: client=unknown[127.0.0.1], sasl_method=PLAIN, ...`).
fn postfix_client_of(s: &MailServers, queue_id: &str) -> String {
    let log = std::fs::read_to_string(s.postfix_log()).unwrap_or_default();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("{queue_id}: client=")))
        .unwrap_or_else(|| panic!("no client line for {queue_id} in the Postfix log"));
    let after = line.split_once("client=").unwrap().1;
    let (_, rest) = after.split_once('[').expect("client=name[address]");
    rest.split_once(']')
        .expect("client=name[address]")
        .0
        .to_string()
}

/// Mail to `user+Junk@lab.test` is filed by Dovecot's LMTP into the user's Junk mailbox
/// (SPECIAL-USE \Junk, see fixtures/dovecot): the round trip finds it there, says it arrived
/// as spam (a warning, with the latency), deletes it there and nowhere else.
#[test]
fn a_message_filed_to_junk_is_delivered_with_a_warning_and_deleted_there() {
    let s = MailServers::get();
    let user = s.user("rt-junk");
    let before = seed(s, &user);
    let junk_before = s.mailbox_named(&user.address, "Junk");
    let (local, domain) = user.address.split_once('@').unwrap();
    let to = format!("{local}+Junk@{domain}");
    let out = mailcheck(s, &user)
        .args(["--round-trip-timeout", "20s", "--format", "json", "--trace"])
        .args(["--round-trip-to", &to])
        .output()
        .unwrap();
    let doc = json(&out);
    let rt = &doc["round_trip"];
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(doc["status"], "warning", "{doc:#}");
    assert_eq!(rt["outcome"], "delivered", "{rt:#}");
    assert!(rt.get("reason").is_none(), "{rt:#}");
    assert_eq!(rt["warning"]["code"], "roundtrip.junk", "{rt:#}");
    assert!(!rt["warning"]["hint"].as_str().unwrap().is_empty());
    assert_eq!(rt["delivered_to"], "Junk", "{rt:#}");
    assert_eq!(rt["checked_via"], "imap/993/tls");
    let latency = rt["latency_ms"].as_u64().expect("latency_ms");
    assert_eq!(
        rt["detail"],
        format!(
            "delivered in {}, but to the Junk mailbox \"Junk\"",
            human_ms(latency)
        )
    );
    assert!(doc["summary"]
        .as_str()
        .unwrap()
        .ends_with("(roundtrip.junk)"));
    // Looked at read-only, in both mailboxes, found by the SPECIAL-USE attribute.
    let mailbox_log = rt["transcript"]["mailbox"].to_string();
    assert!(
        mailbox_log.contains("RETURN (SPECIAL-USE)"),
        "{mailbox_log}"
    );
    assert!(
        mailbox_log.contains("EXAMINE \\\"Junk\\\""),
        "{mailbox_log}"
    );
    // Deleted there, by its UID, and nothing else touched in either mailbox.
    assert_eq!(rt["cleanup"], "deleted", "{rt:#}");
    let detail = rt["cleanup_detail"].as_str().unwrap();
    assert!(
        detail.starts_with("UID ") && detail.ends_with(" expunged from Junk"),
        "{detail}"
    );
    assert_eq!(s.mailbox_named(&user.address, "Junk"), junk_before);
    assert_eq!(s.mailbox(&user.address), before);

    // The submission named itself by the address Postfix saw it come from.
    let qid = queue_id(rt["sent"]["server_says"].as_str().unwrap());
    let client = postfix_client_of(s, &qid);
    let submission = rt["transcript"]["submission"].to_string();
    assert!(
        submission.contains(&format!("EHLO [{client}]")),
        "{client}: {submission}"
    );

    // With --keep it stays in Junk, unread; the table says it is a warning.
    let out = mailcheck(s, &user)
        .args(["--round-trip-timeout", "20s", "--keep"])
        .args(["--round-trip-to", &to])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Round trip: WARNING roundtrip.junk — delivered in "),
        "{text}"
    );
    assert!(text.contains("imap/993/tls, Junk after "), "{text}");
    let junk = s.mailbox_named(&user.address, "Junk");
    assert_eq!(junk.len(), junk_before.len() + 1, "{junk:?}");
    assert!(junk.last().unwrap().flags.is_empty(), "{junk:?}");
    assert_eq!(s.mailbox(&user.address), before);
}

/// POP3 sees the INBOX only: a message filed to Junk is not delivered, as far as it can tell
/// (the README says so).
#[test]
fn over_pop3_a_message_filed_to_junk_is_not_seen() {
    let s = MailServers::get();
    let user = s.user("rt-junk-pop3");
    let before = seed(s, &user);
    let (local, domain) = user.address.split_once('@').unwrap();
    let out = mailcheck(s, &user)
        .args([
            "--round-trip-timeout",
            "2s",
            "--format",
            "json",
            "--skip",
            "imap",
        ])
        .args(["--round-trip-to", &format!("{local}+Junk@{domain}")])
        .output()
        .unwrap();
    let doc = json(&out);
    let rt = &doc["round_trip"];
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    assert_eq!(rt["outcome"], "not-delivered", "{rt:#}");
    assert_eq!(rt["checked_via"], "pop3/995/tls");
    assert_eq!(s.mailbox(&user.address), before);
    // It did arrive, in Junk, where POP3 cannot see it.
    let token = rt["token"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.mailbox_named(&user.address, "Junk").is_empty() && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let junk = s.mailbox_named(&user.address, "Junk");
    assert_eq!(junk.len(), 1, "{junk:?}");
    assert!(junk[0].message_id.contains(token), "{junk:?}");
}

/// A server without SPECIAL-USE: the Junk mailbox is found by its name, with a plain LIST, and
/// the message filed there is still found and deleted there.
#[test]
fn without_special_use_the_junk_mailbox_is_found_by_its_name() {
    let s = MailServers::get();
    let user = s.user("rt-junk-by-name");
    let before = seed(s, &user);
    let junk_before = s.mailbox_named(&user.address, "Junk");
    let (local, domain) = user.address.split_once('@').unwrap();
    let out = mailcheck_via(s, &user, &[(993, s.imaps_without_special_use)])
        .args(["--round-trip-timeout", "20s", "--format", "json", "--trace"])
        .args(["--skip", "imap/143,pop3"])
        .args(["--round-trip-to", &format!("{local}+Junk@{domain}")])
        .output()
        .unwrap();
    let doc = json(&out);
    let rt = &doc["round_trip"];
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(rt["outcome"], "delivered", "{rt:#}");
    assert_eq!(rt["warning"]["code"], "roundtrip.junk", "{rt:#}");
    assert_eq!(rt["delivered_to"], "Junk", "{rt:#}");
    let mailbox_log = rt["transcript"]["mailbox"].to_string();
    // Neither announced (CAPABILITY) nor asked for (LIST ... RETURN): found by the name.
    assert!(!mailbox_log.contains("SPECIAL-USE"), "{mailbox_log}");
    assert!(mailbox_log.contains("UIDPLUS"), "{mailbox_log}");
    assert!(
        mailbox_log.contains("LIST \\\"\\\" \\\"*\\\""),
        "{mailbox_log}"
    );
    assert_eq!(rt["cleanup"], "deleted", "{rt:#}");
    assert_eq!(s.mailbox_named(&user.address, "Junk"), junk_before);
    assert_eq!(s.mailbox(&user.address), before);
}

/// With `--dns-server`, the round trip resolves the server's name where the probe does: through
/// that server only. The name here (`mail.lab.test`) exists only in the test's DNS; the
/// `--connect-to` rules change the ports alone, so every connection, the round trip's too,
/// must look the name up there. (The round trip once used the system resolver: the probe
/// worked and the round trip failed, "Name or service not known".)
#[test]
fn with_dns_server_the_round_trip_resolves_through_it() {
    let s = MailServers::get();
    let user = s.user("rt-dns-server");
    let before = seed(s, &user);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut zone = dns::Zone::default();
    zone.a(&s.tls_name, &s.ip.to_string());
    let dns = runtime.block_on(dns::DnsServer::start(zone));

    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("MAILCHECK_PASSWORD", &user.password)
        .args(["probe", &user.address, "--server", &s.tls_name])
        .args(["--no-prompt", "--format", "json", "--trace"])
        .args(["--timeout", "5s", "--connect-timeout", "2s"])
        .args(["--ca-file", s.ca_pem.to_str().unwrap()])
        .args(["--dns-server", &dns.addr.to_string()])
        .args(["--round-trip", "--round-trip-timeout", "20s"]);
    for (logical, real) in [
        (993, s.imaps),
        (143, s.imap),
        (995, s.pop3s),
        (110, s.pop3),
        (465, s.smtps),
        (587, s.submission),
    ] {
        // The host is kept: only the port changes.
        cmd.args(["--connect-to", &format!("{}:{logical}::{real}", s.tls_name)]);
    }
    let out = cmd.output().unwrap();
    let doc = json(&out);
    let rt = &doc["round_trip"];
    assert_eq!(rt["outcome"], "delivered", "{rt:#}");
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(rt["sent"]["via"], "smtp/465/tls", "{rt:#}");
    assert_eq!(rt["checked_via"], "imap/993/tls", "{rt:#}");
    assert_eq!(rt["cleanup"], "deleted", "{rt:#}");
    // Both sessions ran, on the lab's address that only the test DNS gives for the name.
    let mailbox = rt["transcript"]["mailbox"].to_string();
    let submission = rt["transcript"]["submission"].to_string();
    let peer = format!("connected to {}:{}", s.ip, s.imaps);
    assert!(mailbox.contains(&peer), "{mailbox}");
    let peer = format!("connected to {}:{}", s.ip, s.smtps);
    assert!(submission.contains(&peer), "{submission}");
    assert!(
        dns.log().iter().any(|q| q == &format!("A {}", s.tls_name)),
        "{:?}",
        dns.log()
    );
    assert_eq!(s.mailbox(&user.address), before);
    assert_eq!(s.failed_logins(&user.address), 0);
}
