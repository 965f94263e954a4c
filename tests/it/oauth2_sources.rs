//! Where `--oauth2` finds what no flag names (src/oauth2/sources.rs): the issuer and client id
//! from an autoconfig `<oAuth2>` (served by a real nginx over the test CA, found through the
//! loopback DNS), a client registered at the real provider (RFC 7591), and the error when
//! nothing names an issuer. The sign-ins are real (`oidc-provider`, the test playing the
//! user) and the tokens log in at the real Dovecot and Postfix (`MailServers::get_with_oauth2`).

use crate::discover_support;
use crate::oauth2::{assert_no_live_token_in, json, run_signing_in, stopped};
use crate::support;

use discover_support::nginx::Nginx;
use discover_support::{Lab, Routes, Zone};
use serde_json::Value;
use support::oauth2::{Decision, OAuth2Lab};

const AUTOCONFIG_HOST: &str = "autoconfig.lab.test";
const AUTOCONFIG_PATH: &str = "/mail/config-v1.1.xml";
const PACC_HOST: &str = "ua-auto-config.lab.test";
const PACC_PATH: &str = "/.well-known/user-agent-configuration.json";
const PACC_TXT: &str = "_ua-auto-config.lab.test";

/// An autoconfig 1.2 document naming the lab's six combinations (their real ports) and
/// `oauth2` as its `<oAuth2>` element's content.
fn autoconfig(lab: &OAuth2Lab, oauth2: &str) -> String {
    let s = lab.servers;
    let server = |dir: &str, kind: &str, port: u16, socket: &str| {
        format!(
            "<{dir}Server type=\"{kind}\"><hostname>{h}</hostname><port>{port}</port>\
             <socketType>{socket}</socketType><username>%EMAILADDRESS%</username>\
             <authentication>OAuth2</authentication></{dir}Server>",
            h = s.tls_name
        )
    };
    format!(
        r#"<clientConfig version="1.2"><emailProvider id="lab.test">
  <domain>lab.test</domain><displayName>Lab</displayName>
  {}{}{}{}{}{}
</emailProvider>
<oAuth2>{oauth2}</oAuth2>
</clientConfig>"#,
        server("incoming", "imap", s.imaps, "SSL"),
        server("incoming", "imap", s.imap, "STARTTLS"),
        server("incoming", "pop3", s.pop3s, "SSL"),
        server("incoming", "pop3", s.pop3, "STARTTLS"),
        server("outgoing", "smtp", s.smtps, "SSL"),
        server("outgoing", "smtp", s.submission, "STARTTLS"),
    )
}

/// The discovery side: loopback DNS for lab.test, nginx serving documents over https.
struct Discovery {
    lab: Lab,
    nginx: Nginx,
    ca: tempfile::NamedTempFile,
}

impl Discovery {
    /// nginx serving `doc` as lab.test's autoconfig.
    fn serving(oauth: &OAuth2Lab, doc: &str) -> Discovery {
        let z = Discovery::zone(oauth);
        Discovery::start(oauth, z, (AUTOCONFIG_HOST, AUTOCONFIG_PATH, doc.as_bytes()))
    }

    /// nginx serving `doc` as lab.test's PACC document, its digest published in DNS.
    fn serving_pacc(oauth: &OAuth2Lab, doc: &str) -> Discovery {
        use base64::Engine as _;
        let digest = ring::digest::digest(&ring::digest::SHA256, doc.as_bytes());
        let digest = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        let mut z = Discovery::zone(oauth);
        z.a(PACC_HOST, "127.0.0.1")
            .txt(PACC_TXT, &[&format!("v=UAAC1; a=sha256; d={digest}")]);
        Discovery::start(oauth, z, (PACC_HOST, PACC_PATH, doc.as_bytes()))
    }

    fn zone(oauth: &OAuth2Lab) -> Zone {
        let mut z = Zone::default();
        z.a(AUTOCONFIG_HOST, "127.0.0.1")
            .a(&oauth.servers.tls_name, &oauth.servers.ip.to_string());
        z
    }

    fn start(oauth: &OAuth2Lab, z: Zone, file: (&str, &str, &[u8])) -> Discovery {
        let lab = Lab::start(z, Routes::new());
        let nginx = Nginx::start(&lab.ca, &[file.0], &[file]);
        // One CA file for discovery's nginx, the provider and the mail servers.
        let ca = lab.ca_bundle_with(oauth.ca_pem());
        Discovery { lab, nginx, ca }
    }

    /// `mailcheck probe ADDRESS --oauth2 --format json`, servers discovered, no issuer or
    /// client flag; output piped for [`run_signing_in`].
    fn probe(&self, address: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mailcheck"));
        cmd.env_remove("MAILCHECK_PASSWORD")
            .env_remove("MAILCHECK_OAUTH2_TOKEN")
            .env("NO_COLOR", "1")
            .args([
                "probe",
                address,
                "--no-prompt",
                "--oauth2",
                "--format",
                "json",
            ])
            .args(["--dns-server", &self.lab.dns.addr.to_string()])
            .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
            .args(["--discovery-timeout", "3s"])
            .args(["--connect-to", &self.nginx.connect_to()])
            .args(["--timeout", "5s", "--connect-timeout", "2s"])
            .arg("--ca-file")
            .arg(self.ca.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }
}

/// `mailcheck probe ADDRESS --server mail.lab.test --oauth2 --format json` against the lab's
/// servers, with `args` and no client id.
fn probe_named(lab: &OAuth2Lab, address: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mailcheck"));
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .args(["probe", address, "--server", &lab.servers.tls_name])
        .args(["--no-prompt", "--oauth2", "--format", "json"])
        .args(["--timeout", "5s", "--connect-timeout", "2s"])
        .args(args)
        .arg("--ca-file")
        .arg(lab.ca_pem())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for rule in lab.servers.connect_to_rules() {
        cmd.args(["--connect-to", &rule]);
    }
    cmd
}

/// Runs `cmd`, the user `address` approving its sign-in; the report of the run, which must
/// have succeeded, and everything it printed.
fn approved(oauth: &OAuth2Lab, cmd: std::process::Command, address: &str) -> (Value, String) {
    let run = run_signing_in(cmd, |uri| {
        let page = oauth.user_agent().sign_in(uri, address, Decision::Approve);
        assert!(page.body.contains("Sign-in Success"), "{}", page.body);
    });
    let stderr = String::from_utf8_lossy(&run.out.stderr).into_owned();
    let doc = json(&run.out);
    assert_eq!(run.out.status.code(), Some(0), "{doc:#}\n{stderr}");
    let printed = format!("{}{stderr}", String::from_utf8_lossy(&run.out.stdout));
    (doc, printed)
}

/// Every combination of the report logged in with the token: six, none failed.
fn all_six_log_in(doc: &Value) {
    all_log_in(doc, 6);
}

fn all_log_in(doc: &Value, count: usize) {
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), count, "{doc:#}");
    for r in results {
        assert_eq!(r["verdict"], "works", "{}: {r:#}", r["id"]);
        assert_eq!(r["auth"]["status"], "succeeded", "{}: {r:#}", r["id"]);
    }
}

/// (a) The domain's autoconfig names the issuer, the client and the scope: `--oauth2` alone
/// signs in there (device flow, the test approving as the user), and the report says where
/// each setting came from.
#[test]
fn autoconfig_names_the_issuer_client_and_scope() {
    let oauth = OAuth2Lab::get();
    let user = oauth.servers.user("oscar");
    let doc = autoconfig(
        oauth,
        &format!(
            "<issuer>{}</issuer><scope>openid mail</scope><clientID>mailcheck</clientID>",
            oauth.issuer
        ),
    );
    let d = Discovery::serving(oauth, &doc);
    let (doc, printed) = approved(oauth, d.probe(&user.address), &user.address);
    let o = &doc["credential"]["oauth2"];
    let url = format!("https://{AUTOCONFIG_HOST}{AUTOCONFIG_PATH}");
    let from_autoconfig = serde_json::json!({"kind": "autoconfig", "name": url});
    assert_eq!(o["issuer"], oauth.issuer.as_str());
    assert_eq!(o["client_id"], "mailcheck");
    assert_eq!(o["sources"]["issuer"], from_autoconfig, "{o:#}");
    assert_eq!(o["sources"]["client_id"], from_autoconfig, "{o:#}");
    assert_eq!(o["sources"]["scope"], from_autoconfig, "{o:#}");
    assert_eq!(o["scopes_requested"], serde_json::json!(["openid", "mail"]));
    assert_eq!(doc["discovery"]["winners"]["imap"], "autoconfig");
    all_six_log_in(&doc);
    assert_eq!(oauth.servers.successful_logins(&user.address), 6);
    assert!(
        d.nginx.access_log().contains(AUTOCONFIG_PATH),
        "{}",
        d.nginx.access_log()
    );
    assert_no_live_token_in(oauth, &printed);
}

/// (b) Nothing names a client id: mailcheck registers a public client at the provider
/// (RFC 7591) and signs in as it; the issuer comes from the autoconfig in one run and from the
/// flag in the other.
#[test]
fn without_a_client_id_a_client_is_registered() {
    let oauth = OAuth2Lab::get();
    let registration =
        serde_json::json!({"kind": "registration", "name": format!("{}/reg", oauth.issuer)});

    let user = oauth.servers.user("peggy");
    let d = Discovery::serving(
        oauth,
        &autoconfig(
            oauth,
            &format!(
                "<issuer>{}</issuer><scope>openid mail</scope>",
                oauth.issuer
            ),
        ),
    );
    let (doc, _) = approved(oauth, d.probe(&user.address), &user.address);
    let o = &doc["credential"]["oauth2"];
    assert_eq!(o["sources"]["client_id"], registration, "{o:#}");
    assert_eq!(o["sources"]["issuer"]["kind"], "autoconfig", "{o:#}");
    let registered = o["client_id"].as_str().unwrap().to_string();
    assert!(!registered.is_empty() && registered != "mailcheck", "{o:#}");
    all_six_log_in(&doc);
    assert_eq!(oauth.servers.successful_logins(&user.address), 6);

    let user = oauth.servers.user("quentin");
    let cmd = probe_named(
        oauth,
        &user.address,
        &[
            "--oauth2-issuer",
            &oauth.issuer,
            "--oauth2-scope",
            "openid mail",
        ],
    );
    let (doc, _) = approved(oauth, cmd, &user.address);
    let o = &doc["credential"]["oauth2"];
    assert_eq!(o["sources"]["client_id"], registration, "{o:#}");
    assert_eq!(o["sources"]["issuer"]["name"], "--oauth2-issuer", "{o:#}");
    // A new client for each run: nothing is kept.
    assert_ne!(o["client_id"], registered.as_str(), "{o:#}");
    all_six_log_in(&doc);
    assert_eq!(oauth.servers.successful_logins(&user.address), 6);
}

/// Nothing names an issuer and the user asks the mail server: Dovecot's refusal of a dummy
/// OAUTHBEARER token names the provider's OpenID configuration (RFC 7628 §3.2.2), the sign-in
/// goes there, and its token logs in everywhere. Asking costs one refused login, no more.
#[test]
fn the_mail_server_names_the_issuer_when_asked() {
    let oauth = OAuth2Lab::get();
    let user = oauth.servers.user("ulrike");
    let cmd = probe_named(
        oauth,
        &user.address,
        &[
            "--oauth2-issuer-from-server",
            "--oauth2-client-id",
            "mailcheck",
            "--oauth2-scope",
            "openid mail",
        ],
    );
    let (doc, printed) = approved(oauth, cmd, &user.address);
    let o = &doc["credential"]["oauth2"];
    assert_eq!(o["issuer"], oauth.issuer.as_str(), "{o:#}");
    assert_eq!(
        o["sources"]["issuer"],
        serde_json::json!({"kind": "server", "name": format!("imap://{}:993", oauth.servers.tls_name)}),
        "{o:#}"
    );
    all_six_log_in(&doc);
    assert_eq!(oauth.servers.successful_logins(&user.address), 6);
    assert_eq!(oauth.servers.failed_logins(&user.address), 1);
    assert_no_live_token_in(oauth, &printed);

    // Without the flag, nothing is asked and the error names both ways out.
    let user = oauth.servers.user("valentin");
    let run = run_signing_in(probe_named(oauth, &user.address, &[]), |_| {});
    let stderr = stopped(&run);
    assert!(stderr.contains("--oauth2-issuer-from-server"), "{stderr}");
    assert_eq!(oauth.servers.auth_attempts(&user.address), 0);
}

/// A client registered with a secret (Google's desktop clients): the secret comes from the
/// variable `--oauth2-client-secret-env` names and goes in the token requests' body; without
/// it, or with a wrong one, the issuer refuses the client.
#[test]
fn a_client_with_a_secret_signs_in_with_it() {
    let oauth = OAuth2Lab::get();
    let args = |issuer: &str| {
        vec![
            "--oauth2-issuer".to_string(),
            issuer.to_string(),
            "--oauth2-client-id".into(),
            "mailcheck-desktop".into(),
            "--oauth2-client-secret-env".into(),
            "LAB_DESKTOP_SECRET".into(),
            "--oauth2-scope".into(),
            "openid mail".into(),
        ]
    };
    let args = args(&oauth.issuer);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let user = oauth.servers.user("wendelin");
    let mut cmd = probe_named(oauth, &user.address, &args);
    cmd.env("LAB_DESKTOP_SECRET", &oauth.app_secret);
    let (doc, printed) = approved(oauth, cmd, &user.address);
    assert_eq!(
        doc["credential"]["oauth2"]["client_id"],
        "mailcheck-desktop"
    );
    all_six_log_in(&doc);
    assert!(!printed.contains(&oauth.app_secret), "{printed}");

    // Unset: said before anything is asked of the issuer.
    let user = oauth.servers.user("xaver");
    let run = run_signing_in(probe_named(oauth, &user.address, &args), |_| {});
    let stderr = stopped(&run);
    assert!(
        stderr.contains("$LAB_DESKTOP_SECRET is not set"),
        "{stderr}"
    );
    assert!(stderr.contains("(oauth2.client-refused)"), "{stderr}");

    // Wrong: the issuer refuses the client.
    let mut cmd = probe_named(oauth, &user.address, &args);
    cmd.env("LAB_DESKTOP_SECRET", "not-the-secret");
    let run = run_signing_in(cmd, |_| {});
    let stderr = stopped(&run);
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(stderr.contains("(oauth2.client-refused)"), "{stderr}");
    assert_eq!(oauth.servers.auth_attempts(&user.address), 0);
}

/// The issuer refuses a scope the client may not have (`invalid_scope`): the run stops before
/// any connection with `oauth2.scope-refused`, naming the scope in the issuer's words.
#[test]
fn a_refused_scope_is_named() {
    let oauth = OAuth2Lab::get();
    let user = oauth.servers.user("yvonne");
    let cmd = probe_named(
        oauth,
        &user.address,
        &[
            "--oauth2-issuer",
            &oauth.issuer,
            "--oauth2-client-id",
            "mailcheck-narrow",
            "--oauth2-scope",
            "openid mail",
            // A rule for an issuer's host is not one "that matches no combination".
            "--connect-to",
            "login.example:443:127.0.0.2:9",
        ],
    );
    let run = run_signing_in(cmd, |_| {});
    let stderr = stopped(&run);
    assert!(!stderr.contains("matches no combination"), "{stderr}");
    assert!(stderr.contains("(oauth2.scope-refused)"), "{stderr}");
    assert!(
        stderr.contains("requested scope is not allowed"),
        "{stderr}"
    );
    let doc = json(&run.out);
    assert_eq!(doc["reason"]["code"], "oauth2.scope-refused", "{doc:#}");
    assert_eq!(oauth.servers.auth_attempts(&user.address), 0);
}

/// A PACC document's `oauth-public` issuer (PACC names no client: one is registered) is
/// signed in at; the servers it names are probed on their implicit-TLS ports.
#[test]
fn a_pacc_issuer_is_signed_in_at() {
    let oauth = OAuth2Lab::get();
    let s = oauth.servers;
    let user = s.user("ursula");
    let doc = format!(
        r#"{{"protocols": {{"imap": {{"host": "{h}"}}, "pop3": {{"host": "{h}"}}, "smtp": {{"host": "{h}"}}}},
  "authentication": {{"oauth-public": {{"issuer": "{issuer}"}}}}}}"#,
        h = s.tls_name,
        issuer = oauth.issuer
    );
    let d = Discovery::serving_pacc(oauth, &doc);
    let mut cmd = d.probe(&user.address);
    cmd.args(["--oauth2-scope", "openid mail"]);
    for (port, to) in [(993, s.imaps), (995, s.pop3s), (465, s.smtps)] {
        cmd.args([
            "--connect-to",
            &format!("{}:{port}:{}:{to}", s.tls_name, s.ip),
        ]);
    }
    let (doc, _) = approved(oauth, cmd, &user.address);
    let o = &doc["credential"]["oauth2"];
    let url = format!("https://{PACC_HOST}{PACC_PATH}");
    assert_eq!(
        o["sources"]["issuer"],
        serde_json::json!({"kind": "pacc", "name": url}),
        "{o:#}"
    );
    assert_eq!(o["sources"]["client_id"]["kind"], "registration", "{o:#}");
    assert_eq!(o["sources"]["scope"]["name"], "--oauth2-scope", "{o:#}");
    all_log_in(&doc, 3);
    assert_eq!(s.successful_logins(&user.address), 3);
}

/// (c) No flag, no provider entry, no discovery: the run stops before any connection and says
/// which flag to give, in text on stderr and, with --format json, as a report with the reason.
#[test]
fn without_an_issuer_the_run_says_which_flag_to_give() {
    let oauth = OAuth2Lab::get();
    let user = oauth.servers.user("rupert");
    let run = run_signing_in(probe_named(oauth, &user.address, &[]), |_| {});
    let stderr = stopped(&run);
    assert!(
        stderr.contains("no source names an OAuth2 issuer"),
        "{stderr}"
    );
    assert!(stderr.contains("give --oauth2-issuer URL"), "{stderr}");
    assert!(stderr.contains("(oauth2.issuer-unusable)"), "{stderr}");
    let doc = json(&run.out);
    assert_eq!(doc["reason"]["code"], "oauth2.issuer-unusable", "{doc:#}");
    assert!(
        doc["reason"]["cause"]
            .as_str()
            .unwrap()
            .contains("give --oauth2-issuer URL"),
        "{doc:#}"
    );
    assert_eq!(doc["status"], "unknown");
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(doc["results"], serde_json::json!([]));
    assert_eq!(oauth.servers.auth_attempts(&user.address), 0);
}

/// A sign-in the user declines, with --format json: a report carrying the reason (cause and
/// hint in the run's language), the same exit status and the same words on stderr.
#[test]
fn a_declined_sign_in_is_a_json_report() {
    let oauth = OAuth2Lab::get();
    let user = oauth.servers.user("sybil");
    let address = user.address.clone();
    let cmd = probe_named(
        oauth,
        &user.address,
        &[
            "--oauth2-issuer",
            &oauth.issuer,
            "--oauth2-client-id",
            "mailcheck",
            "--oauth2-scope",
            "openid mail",
            "--lang",
            "fr",
        ],
    );
    let run = run_signing_in(cmd, |uri| {
        oauth.user_agent().sign_in(uri, &address, Decision::Deny);
    });
    let stderr = stopped(&run);
    assert!(stderr.contains("(oauth2.declined)"), "{stderr}");
    let doc = json(&run.out);
    let reason = &doc["reason"];
    assert_eq!(reason["code"], "oauth2.declined", "{doc:#}");
    assert!(
        reason["cause"].as_str().unwrap().contains("access_denied"),
        "{doc:#}"
    );
    assert!(!reason["hint"].as_str().unwrap().is_empty(), "{doc:#}");
    assert_eq!(doc["lang"], "fr");
    assert_eq!(doc["summary"], reason["cause"]);
    assert!(
        stderr.contains(reason["cause"].as_str().unwrap()),
        "{stderr}"
    );
    assert_eq!(doc["credential"]["kind"], "none");
    assert_eq!(oauth.servers.auth_attempts(&user.address), 0);
}
