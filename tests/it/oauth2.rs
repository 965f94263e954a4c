//! OAuth2 sign-in against a real authorization server (`oidc-provider`, support::oauth2) and
//! real Dovecot and Postfix that check its tokens by introspection
//! (`MailServers::get_with_oauth2`). The tests play the user on the provider's pages.

use crate::support;

use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use support::oauth2::{AccessToken, Decision, OAuth2Lab};

const ALL: [&str; 6] = [
    "imap/993/tls",
    "imap/143/starttls",
    "pop3/995/tls",
    "pop3/110/starttls",
    "smtp/465/tls",
    "smtp/587/starttls",
];

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
    for rule in s.connect_to_rules() {
        cmd.args(["--connect-to", &rule]);
    }
    cmd
}

pub(crate) fn json(out: &Output) -> Value {
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
        assert_eq!(
            rejected[0]["reason"]["code"], "auth.oauth2-token-refused",
            "{:#}",
            rejected[0]
        );
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

/// `mailcheck probe ADDRESS --oauth2 ...` at the lab's issuer as `client_id`, started with its
/// output piped: the caller reads the prompt on stderr while it runs.
fn probe_with_sign_in(lab: &OAuth2Lab, address: &str, client_id: &str) -> std::process::Command {
    probe_with_sign_in_at(lab, &lab.issuer, address, client_id)
}

/// [`probe_with_sign_in`] at another issuer.
fn probe_with_sign_in_at(
    lab: &OAuth2Lab,
    issuer: &str,
    address: &str,
    client_id: &str,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mailcheck"));
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .args([
            "probe",
            address,
            "--server",
            &lab.servers.tls_name,
            "--no-prompt",
        ])
        .args([
            "--timeout",
            "5s",
            "--connect-timeout",
            "2s",
            "--format",
            "json",
        ])
        .arg("--ca-file")
        .arg(lab.ca_pem())
        .args(["--oauth2", "--oauth2-issuer", issuer])
        .args(["--oauth2-client-id", client_id])
        .args(["--oauth2-scope", "openid mail"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for rule in lab.servers.connect_to_rules() {
        cmd.args(["--connect-to", &rule]);
    }
    cmd
}

/// A sign-in run: what it printed, and the prompt's complete verification URI.
pub(crate) struct SignInRun {
    pub(crate) out: Output,
    pub(crate) complete_uri: Option<String>,
}

/// A run that stopped before any login: exit 3; its stderr.
pub(crate) fn stopped(run: &SignInRun) -> String {
    let stderr = String::from_utf8_lossy(&run.out.stderr).into_owned();
    assert_eq!(run.out.status.code(), Some(3), "{stderr}");
    stderr
}

/// Runs `cmd`; when its prompt names the complete verification URI, `user` acts on it (the
/// user on their phone). Returns everything it printed.
pub(crate) fn run_signing_in(mut cmd: std::process::Command, user: impl FnOnce(&str)) -> SignInRun {
    use std::io::{BufRead, BufReader, Read};
    let mut child = cmd.spawn().expect("mailcheck");
    let mut stdout = child.stdout.take().unwrap();
    let reading = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut err_text = String::new();
    let mut complete_uri = None;
    let mut user = Some(user);
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        err_text.push_str(&line);
        if let Some(i) = line.find("https://") {
            let uri = line[i..].trim().to_string();
            // The device flow's complete URI, or the browser flow's authorization URL.
            if uri.contains("user_code=") || uri.contains("code_challenge=") {
                if let Some(act) = user.take() {
                    act(&uri);
                }
                complete_uri = Some(uri);
            }
        }
    }
    let status = child.wait().unwrap();
    let stdout = reading.join().unwrap();
    SignInRun {
        out: Output {
            status,
            stdout,
            stderr: err_text.into_bytes(),
        },
        complete_uri,
    }
}

/// No access token the provider would accept appears in `printed`: every token-like word is
/// asked about at the introspection endpoint.
pub(crate) fn assert_no_live_token_in(lab: &OAuth2Lab, printed: &str) {
    let words = printed.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    for word in words.filter(|w| w.len() >= 30) {
        let intro = lab.introspect(&AccessToken(word.to_string()));
        assert_ne!(intro["active"], true, "a live token was printed");
    }
}

/// The whole device flow: the prompt on stderr, the user approving on the provider's pages,
/// and all six combinations logging in with the token mailcheck got itself.
#[test]
fn device_flow_signs_in_once_and_logs_in_everywhere() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("erin");
    let address = user.address.clone();
    let run = run_signing_in(probe_with_sign_in(lab, &user.address, "mailcheck"), |uri| {
        let page = lab.user_agent().sign_in(uri, &address, Decision::Approve);
        assert!(page.body.contains("Sign-in Success"), "{}", page.body);
    });
    let stderr = String::from_utf8_lossy(&run.out.stderr).into_owned();
    assert!(run.complete_uri.is_some(), "no prompt: {stderr}");
    assert!(
        stderr.contains(&format!(
            "To sign in, open {}/device and enter the code ",
            lab.issuer
        )),
        "{stderr}"
    );
    let doc = json(&run.out);
    assert_eq!(run.out.status.code(), Some(0), "{doc:#}\n{stderr}");
    let cred = &doc["credential"];
    assert_eq!(cred["kind"], "oauth2-token");
    assert_eq!(cred["source"], "oauth2-device");
    let o = &cred["oauth2"];
    assert_eq!(o["issuer"], lab.issuer.as_str());
    assert_eq!(o["flow"], "device");
    assert_eq!(o["client_id"], "mailcheck");
    assert_eq!(o["sources"]["issuer"]["name"], "--oauth2-issuer");
    assert_eq!(o["sources"]["scope"]["name"], "--oauth2-scope");
    assert_eq!(o["sources"]["endpoints"], "openid-configuration");
    assert_eq!(o["scopes_granted"], serde_json::json!(["openid", "mail"]));
    assert_eq!(o["lifetime_s"], 3600);
    for id in ALL {
        let r = result(&doc, id);
        assert_eq!(r["verdict"], "works", "{id}: {r:#}");
        assert_eq!(r["auth"]["mechanism"], "OAUTHBEARER", "{id}: {r:#}");
    }
    assert_eq!(lab.servers.successful_logins(&user.address), 6);
    assert_eq!(lab.servers.failed_logins(&user.address), 0);
    let printed = format!("{}{stderr}", String::from_utf8_lossy(&run.out.stdout));
    assert_no_live_token_in(lab, &printed);
}

/// The user aborting at the provider: the run stops before any connection, and says so.
#[test]
fn device_flow_declined_by_the_user_logs_in_nowhere() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("frank");
    let address = user.address.clone();
    let run = run_signing_in(probe_with_sign_in(lab, &user.address, "mailcheck"), |uri| {
        lab.user_agent().sign_in(uri, &address, Decision::Deny);
    });
    let stderr = stopped(&run);
    assert!(
        stderr.contains("the OAuth2 sign-in was declined (access_denied)"),
        "{stderr}"
    );
    assert!(stderr.contains("(oauth2.declined)"), "{stderr}");
    // With --format json, the report of a run that stopped (oauth2_sources.rs tests it).
    assert_eq!(json(&run.out)["reason"]["code"], "oauth2.declined");
    assert_eq!(lab.servers.auth_attempts(&user.address), 0);
}

/// A device code that expires before the user acts (the provider's 2 s codes of client
/// `mailcheck-short`; mailcheck first polls after 5 s).
#[test]
fn device_flow_with_an_expired_code_says_so() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("grace");
    let run = run_signing_in(
        probe_with_sign_in(lab, &user.address, "mailcheck-short"),
        |_| {},
    );
    let stderr = stopped(&run);
    assert!(stderr.contains("(expired_token)"), "{stderr}");
    assert!(stderr.contains("(oauth2.timed-out)"), "{stderr}");
    assert_eq!(lab.servers.auth_attempts(&user.address), 0);
}

/// `--oauth2-timeout` bounds the wait for a user who never comes.
#[test]
fn device_flow_gives_up_after_the_timeout() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("heidi");
    let mut cmd = probe_with_sign_in(lab, &user.address, "mailcheck");
    cmd.args(["--oauth2-timeout", "3s"]);
    let started = std::time::Instant::now();
    let run = run_signing_in(cmd, |_| {});
    let stderr = stopped(&run);
    assert!(
        stderr.contains("no OAuth2 sign-in within 3 s (--oauth2-timeout)"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// A server that asks to slow down (RFC 8628 §3.5: client `mailcheck-slow` must keep 8 s
/// between polls): mailcheck polls less often and still gets its token; had it kept its 5 s,
/// every poll would be answered slow_down until the timeout.
#[test]
fn device_flow_slows_down_when_asked() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("ivan");
    let address = user.address.clone();
    let mut cmd = probe_with_sign_in(lab, &user.address, "mailcheck-slow");
    cmd.args(["--only", "imap/993", "--oauth2-timeout", "40s"]);
    let run = run_signing_in(cmd, |uri| {
        lab.user_agent().sign_in(uri, &address, Decision::Approve);
    });
    let doc = json(&run.out);
    assert_eq!(
        run.out.status.code(),
        Some(0),
        "{doc:#}\n{}",
        String::from_utf8_lossy(&run.out.stderr)
    );
    assert_eq!(result(&doc, "imap/993/tls")["auth"]["status"], "succeeded");
    let waited = doc["credential"]["oauth2"]["elapsed_ms"].as_u64().unwrap();
    assert!(waited >= 10_000, "signed in after {waited} ms");
}

/// A `$BROWSER` that hands the URL it is asked to open to the test (which then plays the
/// browser): it writes it to `dir/url`. Returns the script and a reader that waits for the URL.
fn browser_script(dir: &std::path::Path) -> (std::path::PathBuf, impl Fn() -> String) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("browser");
    let out = dir.join("url");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" > {}.tmp && mv {0}.tmp {0}\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let read = move || {
        assert!(
            support::oauth2::wait_for(std::time::Duration::from_secs(10), || out.exists()),
            "$BROWSER was not run"
        );
        std::fs::read_to_string(&out).unwrap().trim().to_string()
    };
    (script, read)
}

/// The browser flow: `$BROWSER` gets the authorization URL (PKCE S256, a loopback redirect on
/// 127.0.0.1), the user signs in, the provider redirects to mailcheck's one-request listener,
/// and all six combinations log in with the token.
#[test]
fn browser_flow_signs_in_through_the_loopback_redirect() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("judy");
    let address = user.address.clone();
    let dir = tempfile::tempdir().unwrap();
    let (script, url) = browser_script(dir.path());
    let mut cmd = probe_with_sign_in(lab, &user.address, "mailcheck");
    cmd.args(["--oauth2-flow", "browser"])
        .env("BROWSER", &script);
    let run = run_signing_in(cmd, |_| {
        let url = url();
        let parsed = reqwest::Url::parse(&url).unwrap();
        let param = |k: &str| {
            parsed
                .query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
        assert!(param("state").is_some_and(|s| s.len() >= 16));
        let redirect = param("redirect_uri").unwrap();
        assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
        let page = lab.user_agent().sign_in(&url, &address, Decision::Approve);
        assert!(page.url.starts_with(&redirect), "{}", page.url);
        assert!(page.body.contains("Signed in"), "{}", page.body);
    });
    let stderr = String::from_utf8_lossy(&run.out.stderr).into_owned();
    let doc = json(&run.out);
    assert_eq!(run.out.status.code(), Some(0), "{doc:#}\n{stderr}");
    assert_eq!(doc["credential"]["source"], "oauth2-browser");
    assert_eq!(doc["credential"]["oauth2"]["flow"], "browser");
    for id in ALL {
        assert_eq!(result(&doc, id)["verdict"], "works", "{id}");
    }
    assert_eq!(lab.servers.successful_logins(&user.address), 6);
    let printed = format!("{}{stderr}", String::from_utf8_lossy(&run.out.stdout));
    assert_no_live_token_in(lab, &printed);
}

/// A request to the loopback listener with another `state` than the one sent (a forged or
/// stale redirect) is refused: no token is asked for, no login made.
#[test]
fn browser_flow_refuses_a_redirect_with_another_state() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("ken");
    let dir = tempfile::tempdir().unwrap();
    let (script, url) = browser_script(dir.path());
    let mut cmd = probe_with_sign_in(lab, &user.address, "mailcheck");
    cmd.args(["--oauth2-flow", "browser"])
        .env("BROWSER", &script);
    let run = run_signing_in(cmd, |_| {
        let parsed = reqwest::Url::parse(&url()).unwrap();
        let redirect = parsed
            .query_pairs()
            .find(|(n, _)| n == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let page = lab
            .user_agent()
            .get(&format!("{redirect}?code=forged&state=not-the-one-sent"));
        assert_eq!(page.status, 200);
    });
    let stderr = stopped(&run);
    assert!(
        stderr.contains("another state than the one sent"),
        "{stderr}"
    );
    assert!(stderr.contains("(oauth2.failed)"), "{stderr}");
    assert_eq!(lab.servers.auth_attempts(&user.address), 0);
}

/// A client the issuer does not know, and an issuer that does not answer: each named by its
/// code, before any connection to a mail server.
#[test]
fn a_refused_client_and_an_unusable_issuer_are_named() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("laura");
    let run = run_signing_in(
        probe_with_sign_in(lab, &user.address, "no-such-client"),
        |_| {},
    );
    let stderr = stopped(&run);
    assert!(stderr.contains("(oauth2.client-refused)"), "{stderr}");
    assert!(stderr.contains("invalid_client"), "{stderr}");

    let closed = support::servers::closed_port(lab.servers.ip);
    let issuer = format!("https://{}:{closed}", lab.servers.ip);
    let run = run_signing_in(
        probe_with_sign_in_at(lab, &issuer, &user.address, "mailcheck"),
        |_| {},
    );
    let stderr = stopped(&run);
    assert!(stderr.contains("(oauth2.issuer-unusable)"), "{stderr}");
    assert_eq!(lab.servers.auth_attempts(&user.address), 0);
}
