//! Unattended OAuth2 in a checks file (`check`, `serve`): the refresh-token and the
//! client-credentials grants against the real `oidc-provider` (support::oauth2), with Dovecot and
//! Postfix checking the tokens by introspection. The refresh tokens come from a real sign-in, the
//! test playing the user.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::oauth2::assert_no_live_token_in;
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

/// `[defaults]` reaching the OAuth2 lab's servers (test CA, `connect_to`), then `accounts`.
fn checks_file(lab: &OAuth2Lab, accounts: &str) -> (tempfile::TempDir, PathBuf) {
    let s: &MailServers = lab.servers;
    let rules: Vec<String> = s
        .connect_to_rules()
        .iter()
        .map(|r| format!("{r:?}"))
        .collect();
    let text = format!(
        "[defaults]\nserver = \"{}\"\nca_file = \"{}\"\nconnect_to = [{}]\nconnect_timeout = \"2s\"\ntimeout = \"5s\"\n\n{accounts}",
        s.tls_name,
        s.ca_pem.display(),
        rules.join(", ")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mailcheck.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// An account whose token comes from the refresh token in `env` (client `mailcheck`).
fn refresh_account(lab: &OAuth2Lab, name: &str, address: &str, env: &str) -> String {
    format!(
        "[[account]]\nname = \"{name}\"\naddress = \"{address}\"\noauth2 = {{ issuer = \"{}\", client_id = \"mailcheck\", scope = \"openid offline_access mail\", grant = \"refresh_token\", refresh_token_env = \"{env}\" }}\n",
        lab.issuer
    )
}

/// The app's account: its mailbox, a token from the client's own secret (`secret` names it).
fn app_account(lab: &OAuth2Lab, name: &str, secret: &str) -> String {
    format!(
        "[[account]]\nname = \"{name}\"\naddress = \"{}\"\noauth2 = {{ issuer = \"{}\", client_id = \"mailcheck-app\", scope = [\"mail\"], grant = \"client_credentials\", {secret} }}\n",
        lab.app_mailbox, lab.issuer
    )
}

fn check(config: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailcheck"));
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .args(["check", "--no-progress", "--format", "json", "--config"])
        .arg(config)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn json(out: &Output) -> Value {
    support::schema::json_of(out, "check")
}

fn account_of<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == name)
        .unwrap_or_else(|| panic!("no account {name} in {doc:#}"))
}

/// Every combination of the account's report logged in with OAUTHBEARER.
fn assert_all_six_log_in(acct: &Value) {
    let results = acct["report"]["results"].as_array().unwrap();
    for id in ALL {
        let r = results
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {acct:#}"));
        assert_eq!(r["verdict"], "works", "{id}: {r:#}");
        assert_eq!(r["auth"]["status"], "succeeded", "{id}: {r:#}");
        assert_eq!(r["auth"]["mechanism"], "OAUTHBEARER", "{id}: {r:#}");
    }
}

fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A refresh token from a real sign-in, in a checks file: `check` gets an access token with it
/// and logs in on all six combinations. The provider rotates refresh tokens of this public
/// client and takes each one once: a second one-shot `check` with the same (now used) refresh
/// token is refused with `oauth2.grant-refused`, the account UNKNOWN (exit 3), as
/// docs/credentials.md says; so is a revoked one.
#[test]
fn refresh_token_grant_logs_in_everywhere_and_is_used_once_by_a_rotating_server() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("grant-rt");
    let tokens = lab.sign_in_offline(&user.address);
    let (_dir, config) = checks_file(lab, &refresh_account(lab, "rt", &user.address, "MC_RT"));
    let out = check(&config, &[("MC_RT", &tokens.refresh)])
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let acct = account_of(&doc, "rt");
    let cred = &acct["report"]["credential"];
    assert_eq!(cred["kind"], "oauth2-token");
    assert_eq!(cred["source"], "oauth2-refresh");
    assert_eq!(cred["oauth2"]["flow"], "refresh-token");
    assert_eq!(cred["oauth2"]["client_id"], "mailcheck");
    assert_eq!(cred["oauth2"]["sources"]["issuer"]["kind"], "file");
    assert_eq!(cred["oauth2"]["lifetime_s"], 3600);
    assert_all_six_log_in(acct);
    assert_eq!(
        lab.tokens_issued("refresh_token", "mailcheck", Some(&user.address)),
        1
    );
    assert_eq!(lab.servers.successful_logins(&user.address), 6);
    let text = printed(&out);
    assert!(
        !text.contains(&tokens.refresh),
        "the refresh token was printed"
    );
    assert_no_live_token_in(lab, &text);

    // The next process starts again from the configured refresh token, which the provider
    // rotated away: refused, before any login.
    let again = check(&config, &[("MC_RT", &tokens.refresh)])
        .output()
        .unwrap();
    let doc = json(&again);
    assert_eq!(again.status.code(), Some(3), "{doc:#}");
    let acct = account_of(&doc, "rt");
    assert_eq!(acct["status"], "unknown");
    assert_eq!(acct["reason"], "oauth2.grant-refused");
    let error = acct["error"].as_str().unwrap();
    assert!(error.contains("(oauth2.grant-refused)"), "{error}");
    assert!(error.contains("invalid_grant"), "{error}");
    assert!(!printed(&again).contains(&tokens.refresh));
    assert_eq!(lab.servers.successful_logins(&user.address), 6);

    // A refresh token revoked at the provider: the same.
    let user = lab.servers.user("grant-revoked");
    let tokens = lab.sign_in_offline(&user.address);
    lab.revoke_refresh_token(&tokens.refresh);
    let (_dir, config) = checks_file(lab, &refresh_account(lab, "rv", &user.address, "MC_RT"));
    let out = check(&config, &[("MC_RT", &tokens.refresh)])
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(3), "{doc:#}");
    let error = account_of(&doc, "rv")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("(oauth2.grant-refused)"), "{error}");
    assert_eq!(lab.servers.auth_attempts(&user.address), 0);
}

/// Client credentials: the app's own secret (here from a command, as from a secret store) gets
/// a token for the mailbox it was granted, which logs in on all six combinations.
#[test]
fn client_credentials_grant_logs_in_to_the_granted_mailbox() {
    let lab = OAuth2Lab::get();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("app-secret");
    AccessToken(lab.app_secret.clone()).write_to(&secret_file);
    let secret = format!("client_secret_command = \"cat {}\"", secret_file.display());
    let (_cfg_dir, config) = checks_file(lab, &app_account(lab, "app", &secret));
    let before = lab.servers.successful_logins(&lab.app_mailbox);
    let out = check(&config, &[]).output().unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let acct = account_of(&doc, "app");
    let cred = &acct["report"]["credential"];
    assert_eq!(cred["source"], "oauth2-client-credentials");
    assert_eq!(cred["oauth2"]["flow"], "client-credentials");
    assert_eq!(
        cred["oauth2"]["scopes_requested"],
        serde_json::json!(["mail"])
    );
    assert_all_six_log_in(acct);
    assert!(lab.servers.successful_logins(&lab.app_mailbox) >= before + 6);
    let text = printed(&out);
    assert!(
        !text.contains(&lab.app_secret),
        "the client secret was printed"
    );
    assert_no_live_token_in(lab, &text);
}

/// `serve`: two accounts of one refresh token (IMAP and SMTP apart), scraped at once and then
/// again: one token request for all of it (the provider's log counts them). A third account
/// whose refresh token was revoked is that account's failure, with its reason code as a label;
/// scraped again, the refused token is not sent again.
#[test]
fn serve_asks_for_one_token_across_accounts_and_scrapes() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("grant-serve");
    let tokens = lab.sign_in_offline(&user.address);
    let revoked_user = lab.servers.user("grant-serve-rv");
    let revoked = lab.sign_in_offline_as("mailcheck-revoked", &revoked_user.address);
    lab.revoke_refresh_token_of("mailcheck-revoked", &revoked.refresh);
    let accounts = format!(
        "{}only = [\"imap\"]\nexpect = [\"imap/993/tls\"]\n{}only = [\"smtp\"]\nexpect = [\"smtp/587/starttls\"]\n{}",
        refresh_account(lab, "in", &user.address, "MC_RT"),
        refresh_account(lab, "out", &user.address, "MC_RT"),
        refresh_account(lab, "rv", &revoked_user.address, "MC_RT_REVOKED")
            .replace("\"mailcheck\"", "\"mailcheck-revoked\""),
    );
    let (dir, config) = checks_file(lab, &accounts);
    let exporter = crate::monitor_serve::spawn_exporter(
        dir,
        &[
            ("MC_RT", &tokens.refresh),
            ("MC_RT_REVOKED", &revoked.refresh),
        ],
        &["--config", config.to_str().unwrap()],
    );
    let addr = exporter.addr;
    let scrape = move |target: &'static str| {
        std::thread::spawn(move || {
            crate::monitor_serve::get(addr, &format!("/probe?target={target}"), &[])
        })
    };
    for _ in 0..2 {
        let answers: Vec<_> = [scrape("in"), scrape("out")]
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        for r in &answers {
            assert_eq!(r.status, 200, "{}", r.body);
            assert!(r.body.contains("mailcheck_success 1"), "{}", r.body);
            assert!(!r.body.contains(&tokens.refresh));
        }
    }
    assert_eq!(
        lab.tokens_issued("refresh_token", "mailcheck", Some(&user.address)),
        1,
        "one token request for two accounts and two scrapes"
    );
    // IMAP (2) and SMTP (2) combinations, twice.
    assert_eq!(lab.servers.successful_logins(&user.address), 8);

    for _ in 0..2 {
        let r = crate::monitor_serve::get(addr, "/probe?target=rv", &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("mailcheck_status 3"), "{}", r.body);
        assert!(
            r.body.contains(
                "mailcheck_failure_info{reason=\"oauth2.grant-refused\",step=\"credential\"} 1"
            ),
            "{}",
            r.body
        );
        assert!(!r.body.contains(&revoked.refresh));
    }
    assert_eq!(
        lab.tokens_refused("refresh_token", "mailcheck-revoked"),
        1,
        "the refused refresh token was sent again"
    );
    assert_eq!(lab.servers.auth_attempts(&revoked_user.address), 0);
}

/// Rotation within a process: `serve` keeps the refresh token the provider rotated to, and the
/// next refresh (the 4 s access token of client `mailcheck-brief` has expired) uses it; had it
/// used the configured one again, the provider would refuse it as already used and revoke the
/// grant.
#[test]
fn serve_refreshes_with_the_rotated_refresh_token() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("grant-rotate");
    let tokens = lab.sign_in_offline_as("mailcheck-brief", &user.address);
    let account = refresh_account(lab, "rot", &user.address, "MC_RT").replace(
        "client_id = \"mailcheck\"",
        "client_id = \"mailcheck-brief\"",
    ) + "only = [\"imap/993\"]\nexpect = [\"imap/993/tls\"]\n";
    let (dir, config) = checks_file(lab, &account);
    let exporter = crate::monitor_serve::spawn_exporter(
        dir,
        &[("MC_RT", &tokens.refresh)],
        &["--config", config.to_str().unwrap()],
    );
    for round in 0..2 {
        if round > 0 {
            // Past the token's 4 s (kept at most half of it).
            std::thread::sleep(Duration::from_secs(3));
        }
        let r = crate::monitor_serve::get(exporter.addr, "/probe?target=rot", &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body.contains("mailcheck_success 1"),
            "round {round}: {}",
            r.body
        );
    }
    assert_eq!(
        lab.tokens_issued("refresh_token", "mailcheck-brief", Some(&user.address)),
        2
    );
    assert_eq!(lab.servers.successful_logins(&user.address), 2);
}

/// Canary: while a `check` with a refresh-token account and a client-credentials account (its
/// secret from a slow command) and a `probe --oauth2-token-command --trace` run, every process's
/// command line is read again and again, and the environment of every process but the `check`
/// itself and the authorization server (which hold the variable, the app's secret, by design):
/// neither the refresh token, the client secret
/// nor the probe's access token is in any of them, nor in any output, JSON or transcript; and no
/// live access token (those mailcheck got itself) is printed.
#[test]
fn canary_secrets_appear_in_no_argv_environment_or_output() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("grant-canary");
    let tokens = lab.sign_in_offline(&user.address);
    let prober = lab.servers.user("grant-canary-probe");
    let access = lab.sign_in(&prober.address);
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("app-secret");
    AccessToken(lab.app_secret.clone()).write_to(&secret_file);
    let token_file = dir.path().join("token");
    access.write_to(&token_file);
    let secret = format!(
        "client_secret_command = \"sleep 1; cat {}\"",
        secret_file.display()
    );
    let accounts = format!(
        "{}{}",
        refresh_account(lab, "rt", &user.address, "MC_CANARY_RT"),
        app_account(lab, "app", &secret)
    );
    let (_cfg_dir, config) = checks_file(lab, &accounts);
    let secrets = [
        tokens.refresh.as_str(),
        lab.app_secret.as_str(),
        access.0.as_str(),
    ];

    let checking = check(&config, &[("MC_CANARY_RT", &tokens.refresh)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let s = lab.servers;
    let mut probe = Command::new(env!("CARGO_BIN_EXE_mailcheck"));
    probe
        .env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .args([
            "probe",
            &prober.address,
            "--server",
            &s.tls_name,
            "--no-prompt",
        ])
        .args(["--format", "json", "--trace", "--connect-timeout", "2s"])
        .arg("--ca-file")
        .arg(&s.ca_pem)
        .arg("--oauth2-token-command")
        .arg(format!("sleep 1; cat {}", token_file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for rule in s.connect_to_rules() {
        probe.args(["--connect-to", &rule]);
    }
    let probing = probe.spawn().unwrap();
    let exempt = checking.id();

    // Scan until both are done, then once more.
    let mut seen = 0usize;
    let mut leaks = vec![];
    let mut held = false;
    let (check_out, probe_out) = {
        let scan = |seen: &mut usize, leaks: &mut Vec<String>, held: &mut bool| {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                // The scan can see a secret: the check's own environment holds it.
                if pid == exempt && !*held {
                    *held = std::fs::read(entry.path().join("environ"))
                        .is_ok_and(|e| String::from_utf8_lossy(&e).contains(secrets[0]));
                }
                let mut files = vec!["cmdline"];
                if ![exempt, lab.provider_pid, std::process::id()].contains(&pid) {
                    files.push("environ");
                }
                for f in files {
                    let Ok(bytes) = std::fs::read(entry.path().join(f)) else {
                        continue;
                    };
                    *seen += 1;
                    let text = String::from_utf8_lossy(&bytes);
                    for (i, secret) in secrets.iter().enumerate() {
                        let leak = format!("secret #{i} in /proc/{pid}/{f}");
                        if text.contains(secret) && !leaks.contains(&leak) {
                            leaks.push(leak);
                        }
                    }
                }
            }
        };
        let mut checking = checking;
        let mut probing = probing;
        let (mut c_done, mut p_done) = (None, None);
        while c_done.is_none() || p_done.is_none() {
            scan(&mut seen, &mut leaks, &mut held);
            if c_done.is_none() {
                c_done = checking.try_wait().unwrap();
            }
            if p_done.is_none() {
                p_done = probing.try_wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        scan(&mut seen, &mut leaks, &mut held);
        (
            checking.wait_with_output().unwrap(),
            probing.wait_with_output().unwrap(),
        )
    };
    assert!(leaks.is_empty(), "{leaks:?}");
    assert!(seen > 100, "scanned {seen} files");
    assert!(
        held,
        "the scan never saw the refresh token in the check's environment"
    );
    let doc = json(&check_out);
    assert_eq!(check_out.status.code(), Some(0), "{doc:#}");
    assert_all_six_log_in(account_of(&doc, "rt"));
    assert_all_six_log_in(account_of(&doc, "app"));
    let probed: Value = serde_json::from_slice(&probe_out.stdout).unwrap();
    assert_eq!(probe_out.status.code(), Some(0), "{probed:#}");
    let text = format!("{}{}", printed(&check_out), printed(&probe_out));
    assert!(
        text.contains("\"transcript\""),
        "no transcript in the probe's JSON"
    );
    for (i, secret) in secrets.iter().enumerate() {
        assert!(!text.contains(secret), "secret #{i} was printed");
    }
    assert_no_live_token_in(lab, &text);
}

/// `mailcheck oauth2 sign-in` at the lab's issuer as client `mailcheck`, with `extra` flags.
fn sign_in_cmd(lab: &OAuth2Lab, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailcheck"));
    cmd.env("NO_COLOR", "1")
        .args(["oauth2", "sign-in", "--oauth2-issuer", &lab.issuer])
        .args(["--oauth2-client-id", "mailcheck"])
        .args(["--oauth2-scope", "openid offline_access mail"])
        .arg("--ca-file")
        .arg(lab.ca_pem())
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `oauth2 sign-in`: the user signs in (device flow, the test approving), the refresh token
/// goes on a command's stdin, which stores it in a 0600 file; a checks-file account then gets
/// its tokens from that file (`refresh_token_command`) and logs in everywhere. What was granted
/// is printed, no token.
#[test]
fn sign_in_stores_the_refresh_token_through_a_command_for_a_checks_file() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("grant-signin");
    let address = user.address.clone();
    let dir = tempfile::tempdir().unwrap();
    let stored = dir.path().join("refresh-token");
    let store = format!("umask 077; cat > {}", stored.display());
    let run = crate::oauth2::run_signing_in(
        sign_in_cmd(lab, &["--json", "--refresh-token-command", &store]),
        |uri| {
            let page = lab.user_agent().sign_in(uri, &address, Decision::Approve);
            assert!(page.body.contains("Sign-in Success"), "{}", page.body);
        },
    );
    let text = printed(&run.out);
    assert_eq!(run.out.status.code(), Some(0), "{text}");
    let doc: Value = serde_json::from_slice(&run.out.stdout).unwrap();
    support::schema::assert_schema("sign-in", &doc);
    assert_eq!(doc["refresh_token_issued"], true);
    assert_eq!(doc["refresh_token_to"], "--refresh-token-command");
    let granted = &doc["sign_in"];
    assert_eq!(granted["issuer"], lab.issuer.as_str());
    assert_eq!(granted["flow"], "device");
    assert_eq!(granted["sources"]["issuer"]["name"], "--oauth2-issuer");
    assert_eq!(granted["lifetime_s"], 3600);
    assert!(
        granted["scopes_granted"]
            .as_array()
            .unwrap()
            .contains(&Value::from("offline_access")),
        "{granted:#}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&stored).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let refresh = std::fs::read_to_string(&stored).unwrap().trim().to_string();
    assert!(refresh.len() >= 30, "no refresh token stored");
    assert!(!text.contains(&refresh), "the refresh token was printed");
    assert_no_live_token_in(lab, &text);

    let account = format!(
        "[[account]]\nname = \"si\"\naddress = \"{}\"\noauth2 = {{ issuer = \"{}\", client_id = \"mailcheck\", grant = \"refresh_token\", refresh_token_command = \"cat {}\" }}\n",
        user.address,
        lab.issuer,
        stored.display()
    );
    let (_cfg_dir, config) = checks_file(lab, &account);
    let out = check(&config, &[]).output().unwrap();
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_all_six_log_in(account_of(&doc, "si"));
    assert!(!printed(&out).contains(&refresh));
}

/// Without a destination, with stdout as the destination, or with a terminal as the
/// destination, `oauth2 sign-in` refuses before anyone signs in.
#[test]
fn sign_in_refuses_a_missing_or_unsafe_destination() {
    let lab = OAuth2Lab::get();
    let out = sign_in_cmd(lab, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--refresh-token-fd"), "{err}");

    let out = sign_in_cmd(lab, &["--refresh-token-fd", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not for secrets"), "{err}");

    // A pseudo-terminal as descriptor 3.
    let tty = Pty::open();
    let cmd = sign_in_cmd(lab, &["--refresh-token-fd", "3"]);
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut shell = Command::new("/bin/sh");
    shell
        .arg("-c")
        .arg(format!("exec \"$0\" \"$@\" 3<>{}", tty.slave.display()))
        .arg(program)
        .args(args)
        .stdin(Stdio::null());
    let out = shell.output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a terminal"), "{err}");
    assert!(!err.contains("To sign in"), "it signed in first: {err}");
}

/// `oauth2 sign-in ADDRESS` (or `--server HOST`): the provider table's entry names the issuer
/// and the endpoints, Microsoft's with the tenant (`consumers` for an Outlook.com address, else
/// `--oauth2-tenant`). Every name is sent to a closed loopback port (`--connect-to`, and the
/// DNS there too): the failure names the endpoint that was tried; nothing leaves the machine.
#[test]
fn sign_in_takes_the_provider_tables_endpoints_for_an_address() {
    let closed = support::servers::closed_port("127.0.0.1".parse().unwrap()).to_string();
    let tried = |who: &[&str]| {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" 3>/dev/null")
            .arg(env!("CARGO_BIN_EXE_mailcheck"))
            .args(["oauth2", "sign-in"])
            .args(who)
            .args(["--oauth2-client-id", "my-app", "--refresh-token-fd", "3"])
            .args(["--dns-server", &format!("127.0.0.1:{closed}")])
            .args([
                "--connect-to",
                &format!("login.microsoftonline.com:443:127.0.0.1:{closed}"),
            ])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = tried(&["alice@outlook.com"]);
    assert!(
        err.contains(
            "https://login.microsoftonline.com/consumers/oauth2/v2.0/devicecode: cannot connect"
        ),
        "{err}"
    );
    let err = tried(&[
        "alice@contoso.example",
        "--server",
        "outlook.office365.com",
        "--oauth2-tenant",
        "contoso.example",
    ]);
    assert!(
        err.contains("https://login.microsoftonline.com/contoso.example/oauth2/v2.0/devicecode"),
        "{err}"
    );
    // A Microsoft issuer given as a flag: the table's endpoints, not its templated metadata.
    let err = tried(&[
        "--oauth2-issuer",
        "https://login.microsoftonline.com/contoso.example/v2.0",
    ]);
    assert!(
        err.contains("https://login.microsoftonline.com/contoso.example/oauth2/v2.0/devicecode"),
        "{err}"
    );
    // An address no entry knows, and no issuer flag: nothing to sign in at.
    let err = tried(&["alice@example.org"]);
    assert!(err.contains("give --oauth2-issuer URL"), "{err}");
}

/// A probe whose sign-in fails is UNKNOWN for a monitor too: a Nagios line and the exporter's
/// failure series with the reason, exit 3 (the issuer sent to a closed loopback port; the run
/// stops before any mail connection).
#[test]
fn a_failed_sign_in_is_unknown_in_the_monitoring_formats() {
    let closed = support::servers::closed_port("127.0.0.1".parse().unwrap()).to_string();
    let run = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_mailcheck"))
            .args([
                "probe",
                "alice@outlook.com",
                "--server",
                "outlook.office365.com",
            ])
            .args([
                "--oauth2",
                "--oauth2-client-id",
                "my-app",
                "--format",
                format,
            ])
            .args(["--dns-server", &format!("127.0.0.1:{closed}")])
            .args([
                "--connect-to",
                &format!("login.microsoftonline.com:443:127.0.0.1:{closed}"),
            ])
            .env("NO_COLOR", "1")
            .env_remove("MAILCHECK_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        String::from_utf8(out.stdout).unwrap()
    };
    let nagios = run("nagios");
    assert!(
        nagios.starts_with(
            "MAILCHECK UNKNOWN - alice@outlook.com: cannot check: the OAuth2 sign-in failed"
        ),
        "{nagios}"
    );
    assert!(nagios.contains("(oauth2.failed)"), "{nagios}");
    let prom = run("prometheus");
    assert!(prom.contains("mailcheck_status 3\n"), "{prom}");
    assert!(
        prom.contains("mailcheck_failure_info{reason=\"oauth2.failed\",step=\"credential\"} 1"),
        "{prom}"
    );
}

/// A pseudo-terminal pair: the master kept open, the slave's path.
struct Pty {
    _master: std::fs::File,
    slave: PathBuf,
}

impl Pty {
    fn open() -> Pty {
        use std::os::fd::AsRawFd;
        let master = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/ptmx")
            .unwrap();
        let fd = master.as_raw_fd();
        // SAFETY: fd is an open /dev/ptmx descriptor; ptsname's buffer is copied at once.
        let slave = unsafe {
            assert_eq!(libc::grantpt(fd), 0);
            assert_eq!(libc::unlockpt(fd), 0);
            let name = libc::ptsname(fd);
            assert!(!name.is_null());
            std::ffi::CStr::from_ptr(name)
                .to_string_lossy()
                .into_owned()
        };
        Pty {
            _master: master,
            slave: PathBuf::from(slave),
        }
    }
}

/// `--refresh-token-fd 3` with `3>FILE`: the token lands in the file, one line, and the text
/// report says what was granted and where the token went, without it.
#[test]
fn sign_in_writes_the_refresh_token_to_a_descriptor() {
    let lab = OAuth2Lab::get();
    let user = lab.servers.user("grant-signin-fd");
    let address = user.address.clone();
    let dir = tempfile::tempdir().unwrap();
    let stored = dir.path().join("rt");
    let cmd = sign_in_cmd(lab, &["--refresh-token-fd", "3"]);
    let mut shell = Command::new("/bin/sh");
    shell
        .arg("-c")
        .arg(format!("exec \"$0\" \"$@\" 3>{}", stored.display()))
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env("NO_COLOR", "1")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = crate::oauth2::run_signing_in(shell, |uri| {
        lab.user_agent().sign_in(uri, &address, Decision::Approve);
    });
    let text = printed(&run.out);
    assert_eq!(run.out.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&run.out.stdout);
    assert!(
        stdout.contains(&format!("Signed in at {} as client mailcheck", lab.issuer)),
        "{stdout}"
    );
    assert!(stdout.contains("access token lifetime: 3600 s"), "{stdout}");
    assert!(
        stdout.contains("refresh token: issued, handed to --refresh-token-fd 3"),
        "{stdout}"
    );
    let refresh = std::fs::read_to_string(&stored).unwrap();
    assert_eq!(refresh.lines().count(), 1);
    let refresh = refresh.trim();
    assert!(refresh.len() >= 30);
    assert!(!text.contains(refresh), "the refresh token was printed");
    assert_no_live_token_in(lab, &text);
}
