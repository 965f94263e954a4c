//! Every lab scenario against the real `mailcheck` binary: the exact reason code, the time the
//! run takes (a stall costs one timeout), bounded memory, no credentials where they must not
//! go, and no panic. The lab runs in-process on 127.0.0.1; nothing else is ever contacted.

use crate::support::schema;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailcheck::lab::{Blackhole, Lab, LabConfig, Received, Scenario, HUGE_LINE_BYTES};
use mailcheck::model::Protocol;
use schema::assert_schema;
use serde_json::Value;

const ADDRESS: &str = "alice@lab.test";

/// A lab and the runtime serving it. The lab is declared first: it stops before the runtime.
struct Env {
    lab: Lab,
    rt: tokio::runtime::Runtime,
}

impl Env {
    fn start(scenario: Scenario) -> Env {
        Env::with(LabConfig {
            scenario,
            ..LabConfig::default()
        })
    }

    fn with(config: LabConfig) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let lab = rt.block_on(Lab::start(config)).unwrap();
        Env { lab, rt }
    }

    fn password(&self) -> String {
        self.lab.user().password.expose().to_string()
    }

    /// What the lab received, once every connection is over.
    fn received(&self) -> Vec<Received> {
        assert!(
            self.rt.block_on(self.lab.settle(Duration::from_secs(10))),
            "the lab's connections did not end"
        );
        let r = self.lab.received();
        for c in &r {
            // Principle 2, whatever the scenario: no secret ever crosses a plain-text connection.
            assert!(
                !c.credentials_in_plaintext,
                "credentials in plain text: {c:?}"
            );
        }
        r
    }
}

struct Run {
    code: i32,
    elapsed: Duration,
    json: Value,
    stdout: String,
}

impl Run {
    fn results(&self) -> &Vec<Value> {
        self.json["results"].as_array().expect("results")
    }

    fn result(&self, id: &str) -> &Value {
        self.results()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no result {id}"))
    }

    /// id -> reason code (None when the combination works).
    fn reasons(&self) -> BTreeMap<String, Option<String>> {
        self.results()
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_string(),
                    r["reason"]["code"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    /// Every combination failed with `code`.
    fn assert_all(&self, code: &str) {
        let reasons = self.reasons();
        assert_eq!(reasons.len(), 6, "{reasons:?}");
        for (id, r) in &reasons {
            assert_eq!(r.as_deref(), Some(code), "{id}: {reasons:?}");
        }
    }
}

fn mailcheck() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("mailcheck"));
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        // A hung child fails the test instead of hanging it.
        .timeout(Duration::from_secs(60));
    cmd
}

fn probe_args(env: &Env, extra: &[&str]) -> Vec<String> {
    probe_args_with_timeout(env, "1s", extra)
}

fn probe_args_with_timeout(env: &Env, timeout: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["probe".to_string(), ADDRESS.to_string()];
    args.extend(env.lab.probe_args());
    args.extend(
        [
            "--no-prompt",
            "--connect-timeout",
            "1s",
            "--timeout",
            timeout,
            "--deadline",
            "20s",
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Run `mailcheck probe` against the lab, with `password` in MAILCHECK_PASSWORD if given.
fn probe(env: &Env, extra: &[&str], password: Option<&str>) -> Run {
    let mut args = probe_args(env, extra);
    args.extend(["--format".into(), "json".into()]);
    run_json(&args, password)
}

/// `probe ADDRESS`, `first` (rules that must come before the lab's own `--connect-to`: the
/// first match wins), the lab's options and `flags`, without the default timeouts of
/// [`probe_args`] (for the tests whose point is a timeout).
fn lab_args(env: &Env, first: &[String], flags: &[&str]) -> Vec<String> {
    let mut args = vec!["probe".to_string(), ADDRESS.to_string()];
    args.extend(first.iter().cloned());
    args.extend(env.lab.probe_args());
    args.extend(flags.iter().map(|s| s.to_string()));
    args
}

/// Run mailcheck with `args` (which must ask for JSON) and check what every run must hold:
/// no panic, exit 0..=2, the password nowhere in the output, JSON whose exit code is the
/// process's.
fn run_json(args: &[String], password: Option<&str>) -> Run {
    let mut cmd = mailcheck();
    cmd.args(args);
    if let Some(p) = password {
        cmd.env("MAILCHECK_PASSWORD", p);
    }
    let t0 = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().expect("killed by a signal");
    assert!(
        matches!(code, 0..=2),
        "exit {code} (never 101, never 3 for a server problem)\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    if let Some(p) = password {
        assert!(
            !stdout.contains(p) && !stderr.contains(p),
            "password leaked"
        );
    }
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    assert_schema("probe", &json);
    assert_eq!(json["exit_code"].as_i64(), Some(code as i64));
    Run {
        code,
        elapsed,
        json,
        stdout,
    }
}

/// Connections that sent any login command (AUTH, AUTHENTICATE, LOGIN, PASS).
fn logins(received: &[Received]) -> usize {
    received
        .iter()
        .filter(|r| r.auth_commands > 0 || r.credentials_seen)
        .count()
}

fn is_starttls(id: &str) -> bool {
    id.ends_with("/starttls")
}

#[test]
fn good_works_everywhere_and_logs_in_over_tls_only() {
    let env = Env::start(Scenario::Good);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    for r in run.results() {
        assert_eq!(r["verdict"], "works", "{r}");
        assert_eq!(r["auth"]["status"], "succeeded", "{r}");
        assert_eq!(r["tls"]["verification"]["status"], "valid");
    }
    let received = env.received();
    assert_eq!(received.len(), 6);
    for c in &received {
        assert!(c.tls && c.logged_in && c.credentials_seen, "{c:?}");
        // The client sends nothing between STARTTLS and the handshake (CVE-2011-0411).
        assert!(!c.pipelined_after_starttls, "{c:?}");
        // Every login line arrived over TLS.
        for l in &c.lines {
            if l.line.contains("<redacted>") || l.line.contains("<sasl response>") {
                assert!(l.tls, "{l:?}");
            }
            assert!(!l.line.contains(&pw), "the lab stored the password");
        }
    }
    assert_eq!(run.json["credential"]["source"], "environment");
}

#[test]
fn good_without_credentials_sends_none() {
    let env = Env::start(Scenario::Good);
    let run = probe(&env, &[], None);
    assert_eq!(run.code, 0);
    for r in run.results() {
        assert_eq!(r["verdict"], "works");
        assert_eq!(r["auth"]["why"], "no-credentials");
    }
    assert_eq!(logins(&env.received()), 0);
}

/// A certificate that fails verification: the reason, the certificate described anyway, and
/// not one login command even though a password is at hand.
fn bad_certificate(scenario: Scenario, code: &str, verdict: &str) -> Env {
    let env = Env::start(scenario);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all(code);
    assert_eq!(run.code, 2);
    assert!(run.elapsed < Duration::from_secs(5));
    for r in run.results() {
        assert_eq!(r["auth"]["why"], "certificate-not-trusted", "{r}");
        assert_eq!(r["tls"]["verification"]["status"], verdict);
        assert!(r["tls"]["certificate"]["subject"].is_string());
    }
    let received = env.received();
    assert_eq!(received.len(), 6);
    assert_eq!(logins(&received), 0, "{received:#?}");
    env
}

#[test]
fn cert_expired() {
    bad_certificate(Scenario::CertExpired, "tls.cert-expired", "expired");
}

#[test]
fn cert_not_yet_valid() {
    bad_certificate(
        Scenario::CertNotYetValid,
        "tls.cert-not-yet-valid",
        "not-yet-valid",
    );
}

#[test]
fn cert_wrong_name() {
    let env = bad_certificate(
        Scenario::CertWrongName,
        "tls.cert-name-mismatch",
        "name-mismatch",
    );
    drop(env);
}

#[test]
fn cert_self_signed_and_insecure_sends_only_when_asked() {
    let env = bad_certificate(
        Scenario::CertSelfSigned,
        "tls.cert-self-signed",
        "self-signed",
    );
    // The control: with --insecure the same lab does receive the credentials, over TLS.
    let pw = env.password();
    let run = probe(&env, &["--insecure", "--only", "imap/993"], Some(&pw));
    assert_eq!(run.result("imap/993/tls")["auth"]["status"], "succeeded");
    let received = env.received();
    assert_eq!(received.len(), 7);
    assert!(received[6].credentials_seen && received[6].tls);
}

#[test]
fn no_starttls() {
    let env = Env::start(Scenario::NoStarttls);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    for (id, reason) in run.reasons() {
        if is_starttls(&id) {
            assert_eq!(reason.as_deref(), Some("starttls.not-offered"), "{id}");
            let r = run.result(&id);
            // The server offered a plain-text login: a warning, and no credential sent.
            assert!(r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["code"] == "plaintext-login-offered"));
            assert_eq!(r["auth"]["why"], "earlier-failure");
        } else {
            assert_eq!(reason, None, "{id}");
        }
    }
    let received = env.received();
    for c in received.iter().filter(|c| !c.tls) {
        assert_eq!(c.auth_commands, 0, "{c:?}");
        assert!(
            !c.lines.iter().any(|l| l.line.contains("STARTTLS")),
            "{c:?}"
        );
    }
}

#[test]
fn starttls_injection_in_a_later_segment_is_still_injection() {
    let env = Env::start(Scenario::StarttlsInjectionLate);
    let pw = env.password();
    let run = probe(&env, &["--lang", "en"], Some(&pw));
    for (id, reason) in run.reasons() {
        let r = run.result(&id);
        if !is_starttls(&id) {
            assert_eq!(reason, None, "{id}");
            continue;
        }
        // Not tls.plaintext-server (whose advice is to choose STARTTLS on a STARTTLS port).
        assert_eq!(reason.as_deref(), Some("starttls.injection"), "{id}: {r:#}");
        assert_eq!(r["failure"]["step"], "tls", "{id}: {r:#}");
        let said = r["failure"]["server_says"].as_str().unwrap();
        let injected = match &id[..4] {
            "imap" => "* CAPABILITY IMAP4rev1 AUTH=PLAIN",
            "pop3" => "+OK injected",
            _ => "250 AUTH PLAIN LOGIN",
        };
        assert!(said.starts_with(injected), "{id}: {said}");
        assert!(r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "starttls.injection" && f["severity"] == "critical"));
        assert_eq!(r["auth"]["status"], "not-attempted", "{id}");
    }
    assert!(!run.stdout.contains("choose STARTTLS"), "{}", run.stdout);
    // No login on a connection whose TLS never came up.
    for c in env.received().iter().filter(|c| !c.tls) {
        assert_eq!(c.auth_commands, 0, "{c:?}");
    }
}

#[test]
fn starttls_injection_is_flagged_and_not_believed() {
    let env = Env::start(Scenario::StarttlsInjection);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    for (id, reason) in run.reasons() {
        let r = run.result(&id);
        if is_starttls(&id) {
            assert_eq!(reason.as_deref(), Some("starttls.injection"), "{id}");
            assert!(r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["code"] == "starttls.injection" && f["severity"] == "critical"));
            // The capabilities come from the server after the handshake, not from the
            // injected line (which lists AUTH=PLAIN / PLAIN LOGIN only).
            let raw: Vec<&str> = r["capabilities"]["raw"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let genuine = match &id[..4] {
                "imap" => "IDLE",
                "pop3" => "IMPLEMENTATION mailcheck-lab",
                _ => "SMTPUTF8",
            };
            assert!(raw.contains(&genuine), "{id}: {raw:?}");
        } else {
            assert_eq!(reason, None, "{id}");
        }
    }
    env.received();
}

#[test]
fn no_greeting_costs_one_timeout() {
    let env = Env::start(Scenario::NoGreeting);
    // A password is at hand, so "no login was sent" proves something.
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("protocol.timeout");
    // Six stalls in parallel, each one --timeout (1 s): not six, not one per step.
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);
    for r in run.results() {
        assert_eq!(r["failure"]["step"], "greeting");
        let ms = r["elapsed_ms"].as_u64().unwrap();
        assert!((900..3000).contains(&ms), "{ms}");
    }
    assert_eq!(logins(&env.received()), 0);
}

/// The "is a TLS server answering here?" check runs alongside the greeting wait: a silent
/// STARTTLS port costs one --timeout (2 s), not the greeting's and then the check's (4 s).
#[test]
fn a_silent_starttls_port_costs_one_timeout_with_the_tls_check() {
    let env = Env::start(Scenario::NoGreeting);
    for only in ["imap/143", "pop3/110", "smtp/587"] {
        let mut args = probe_args_with_timeout(&env, "2s", &["--only", only]);
        args.extend(["--format".into(), "json".into()]);
        let run = run_json(&args, None);
        let r = &run.results()[0];
        assert_eq!(r["reason"]["code"], "protocol.timeout", "{only}: {r:#}");
        let ms = r["elapsed_ms"].as_u64().unwrap();
        assert!((1900..2900).contains(&ms), "{only}: {ms} ms");
        assert!(
            run.elapsed < Duration::from_millis(3500),
            "{only}: {:?}",
            run.elapsed
        );
    }
    // The check did run: the lab saw a second connection per port, which sent a ClientHello.
    assert!(env.received().len() >= 6, "{:#?}", env.received());
}

#[test]
fn wrong_protocol() {
    let env = Env::start(Scenario::WrongProtocol);
    // A password is at hand, so "no login was sent" proves something.
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("protocol.wrong-protocol");
    let says = |id: &str| {
        run.result(id)["failure"]["server_says"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(says("imap/993/tls").starts_with("220 "));
    assert!(says("pop3/110/starttls").starts_with("* OK"));
    assert!(says("smtp/587/starttls").starts_with("+OK"));
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert_eq!(logins(&env.received()), 0);
}

#[test]
fn garbage_is_named_and_never_reaches_the_terminal() {
    let env = Env::start(Scenario::Garbage);
    let pw = env.password();
    let run = probe(&env, &["--trace"], Some(&pw));
    run.assert_all("protocol.wrong-protocol");
    // The table shows the server's bytes escaped: no NUL, no ESC, no BEL on the terminal.
    let out = mailcheck()
        .args(probe_args(&env, &["--format", "table", "--color", "never"]))
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0..=2)));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    for b in [0x00u8, 0x1b, 0x07] {
        assert!(!out.stdout.contains(&b), "byte {b:#x} in the table");
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("garbage"));
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert_eq!(logins(&env.received()), 0);
}

/// The peak RSS (kB) of a process's own address space: `VmHWM`, not `wait4`'s `ru_maxrss`,
/// which Linux carries over from the parent across fork and exec (it would report the test
/// process's peak, lab included).
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Run a child and return its output with its peak RSS (kB), sampled every 2 ms while it
/// runs. The high-water mark only grows, so the last sample is the peak up to that moment.
fn run_measured(mut cmd: Command) -> (std::process::Output, u64) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).unwrap();
        v
    });
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).unwrap();
        v
    });
    let mut peak = 0;
    let status = loop {
        if let Some(kb) = vm_hwm(child.id()) {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(peak > 0, "no memory sample of the child");
    let output = std::process::Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    };
    (output, peak)
}

fn measured_probe(env: &Env) -> (Value, u64) {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("mailcheck"));
    // A generous timeout: a client that buffered the line would have all the time it needs
    // to grow; the limit must stop it, not the clock.
    cmd.args(probe_args_with_timeout(env, "10s", &["--format", "json"]))
        .env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN");
    let (out, rss) = run_measured(cmd);
    assert!(matches!(out.status.code(), Some(0..=2)));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("probe", &json);
    (json, rss)
}

#[test]
fn huge_line_is_refused_at_the_limit_not_buffered() {
    // Baseline: the same probe against a correct server.
    let good = Env::start(Scenario::Good);
    let (_, good_rss) = measured_probe(&good);

    let env = Env::start(Scenario::HugeLine);
    let t0 = Instant::now();
    let (json, huge_rss) = measured_probe(&env);
    let elapsed = t0.elapsed();
    // Six 10 MB lines at once: buffered, they would add 60 MB. The peak stays within a few MB
    // of the same probe against a correct server.
    eprintln!("peak RSS: good {good_rss} kB, huge-line {huge_rss} kB");
    assert!(
        huge_rss < good_rss + 4 * 1024,
        "max RSS {huge_rss} kB vs {good_rss} kB against a correct server"
    );
    for r in json["results"].as_array().unwrap() {
        assert_eq!(r["reason"]["code"], "protocol.line-too-long", "{r}");
    }
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // The lab could not deliver its lines: the client closed early.
    let received = env.received();
    assert_eq!(received.len(), 6);
    for c in &received {
        assert!(c.aborted_by_client, "{c:?}");
        assert!((c.bytes_sent as usize) < HUGE_LINE_BYTES, "{c:?}");
    }
    eprintln!(
        "bytes the lab got out before the client closed: {:?}",
        received.iter().map(|c| c.bytes_sent).collect::<Vec<_>>()
    );
}

#[test]
fn slowloris_costs_one_timeout() {
    let env = Env::start(Scenario::Slowloris);
    // A password is at hand, so "no login was sent" proves something.
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("protocol.timeout");
    // A greeting at one byte per second would take half a minute; the whole line must come
    // within one --timeout.
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);
    let received = env.received();
    assert_eq!(logins(&received), 0, "{received:#?}");
    for c in &received {
        assert!(c.bytes_sent <= 4, "{c:?}");
    }
}

#[test]
fn reset_in_handshake() {
    let env = Env::start(Scenario::ResetInHandshake);
    // A password is at hand, so "no login was sent" proves something.
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    // A reset (RST, SO_LINGER 0), named as such: not the orderly close of tls.closed.
    run.assert_all("tls.reset");
    for r in run.results() {
        let hint = r["reason"]["hint"].as_str().unwrap();
        assert!(hint.contains("TLS-intercepting firewall"), "{r:#}");
    }
    assert!(run.elapsed < Duration::from_secs(4));
    let received = env.received();
    assert_eq!(logins(&received), 0, "{received:#?}");
    for c in received {
        assert!(c.note.as_deref().unwrap_or("").contains("reset"), "{c:?}");
        assert!(!c.tls);
    }
}

#[test]
fn tls_alert() {
    let env = Env::start(Scenario::TlsAlert);
    // A password is at hand, so "no login was sent" proves something.
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("tls.handshake-failed");
    for r in run.results() {
        assert!(
            r["failure"]["detail"]
                .as_str()
                .unwrap()
                .contains("handshake_failure"),
            "{r}"
        );
    }
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert_eq!(logins(&env.received()), 0);
}

/// A stapled OCSP response that says "revoked" is tls.cert-revoked, with no credential sent,
/// even though the certificate itself verifies; a server that staples nothing says so.
#[test]
fn a_stapled_revocation_withholds_the_credential() {
    let env = Env::start(Scenario::OcspRevokedStapled);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("tls.cert-revoked");
    for r in run.results() {
        let ocsp = &r["tls"]["ocsp"];
        assert_eq!(ocsp["stapled"], true, "{r:#}");
        assert_eq!(ocsp["status"], "revoked", "{r:#}");
        // Signed by the lab CA, the trust anchor --ca-file gives.
        assert_eq!(ocsp["signature"], "valid", "{r:#}");
        assert_eq!(ocsp["window"], "current", "{r:#}");
        assert!(
            ocsp["next_update"].as_str().unwrap().ends_with('Z'),
            "{r:#}"
        );
        assert_eq!(r["auth"]["why"], "certificate-not-trusted", "{r:#}");
    }
    let received = env.received();
    assert_eq!(logins(&received), 0, "{received:#?}");
    assert!(received.iter().all(|c| !c.credentials_seen));

    let good = Env::start(Scenario::Good);
    let run = probe(&good, &["--only", "imap/993"], Some(&good.password()));
    let r = &run.results()[0];
    assert_eq!(
        r["tls"]["ocsp"],
        serde_json::json!({"stapled": false}),
        "{r:#}"
    );
}

/// The findings of one result, by code.
fn finding<'a>(r: &'a Value, code: &str) -> Option<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
}

/// The server does not send the intermediate that issued its certificate: the certificate is
/// not trusted, and the finding names the issuer it should have sent.
#[test]
fn a_missing_intermediate_is_named() {
    let env = Env::start(Scenario::ChainIncomplete);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("tls.cert-unknown-issuer");
    for r in run.results() {
        let f = finding(r, "tls.chain-incomplete").unwrap_or_else(|| panic!("{r:#}"));
        assert_eq!(f["severity"], "warning");
        assert_eq!(
            f["params"]["issuer"], "CN=mailcheck lab intermediate A",
            "{f:#}"
        );
        assert!(f["params"]["subject"]
            .as_str()
            .unwrap()
            .contains("CN=mail.lab.test"));
        assert_eq!(r["tls"]["chain_length"], 1, "{r:#}");
        // The fix is the server's: not --ca-file on this side.
        let hint = r["reason"]["hint"].as_str().unwrap();
        assert!(hint.contains("must install the full chain"), "{hint}");
    }
    assert_eq!(logins(&env.received()), 0);
}

/// A chain sent out of order still verifies (clients reorder it): it works, with an info.
#[test]
fn a_chain_out_of_order_works_with_an_info() {
    let env = Env::start(Scenario::ChainWrongOrder);
    let run = probe(&env, &[], Some(&env.password()));
    for r in run.results() {
        assert!(r["reason"].is_null(), "{r:#}");
        assert_eq!(r["tls"]["chain_length"], 3, "{r:#}");
        assert_eq!(r["tls"]["verification"]["status"], "valid", "{r:#}");
        let f = finding(r, "tls.chain-order").unwrap_or_else(|| panic!("{r:#}"));
        assert_eq!(f["severity"], "info");
        assert!(finding(r, "tls.chain-incomplete").is_none(), "{r:#}");
    }
}

/// TLS 1.2 only (ECDHE, AES-GCM): works, with an info that TLS 1.3 is missing; the lab's
/// correct server has no quality finding at all.
#[test]
fn no_tls13_is_an_info() {
    let env = Env::start(Scenario::Tls12Only);
    let run = probe(&env, &[], Some(&env.password()));
    for r in run.results() {
        assert!(r["reason"].is_null(), "{r:#}");
        assert_eq!(r["tls"]["version"], "TLSv1.2", "{r:#}");
        let f = finding(r, "tls.no-tls13").unwrap_or_else(|| panic!("{r:#}"));
        assert_eq!(f["severity"], "info");
        assert_eq!(f["params"]["version"], "TLSv1.2");
        assert!(finding(r, "tls.no-forward-secrecy").is_none(), "{r:#}");
        assert!(finding(r, "tls.cbc-only").is_none(), "{r:#}");
    }
    let good = Env::start(Scenario::Good);
    let run = probe(&good, &["--only", "imap/993"], Some(&good.password()));
    let r = &run.results()[0];
    assert_eq!(r["tls"]["version"], "TLSv1.3", "{r:#}");
    assert_eq!(r["findings"], serde_json::json!([]), "{r:#}");
}

/// Stapled responses checked: signed by the lab CA and current (works, no finding), out of
/// date, signed by another key; a must-staple certificate without a staple. None of them
/// withholds the credential: only "revoked" does.
#[test]
fn stapled_responses_are_checked() {
    for (scenario, code, signature, window) in [
        (Scenario::OcspGoodStapled, None, "valid", "current"),
        (
            Scenario::OcspExpiredStapled,
            Some("tls.ocsp-not-current"),
            "valid",
            "expired",
        ),
        (
            Scenario::OcspBadSignature,
            Some("tls.ocsp-signature-invalid"),
            "invalid",
            "current",
        ),
    ] {
        let env = Env::start(scenario);
        let run = probe(&env, &[], Some(&env.password()));
        for r in run.results() {
            assert!(r["reason"].is_null(), "{scenario}: {r:#}");
            let ocsp = &r["tls"]["ocsp"];
            assert_eq!(ocsp["stapled"], true, "{r:#}");
            assert_eq!(ocsp["status"], "good", "{r:#}");
            assert_eq!(ocsp["signature"], signature, "{scenario}: {r:#}");
            assert_eq!(ocsp["window"], window, "{scenario}: {r:#}");
            let stapling: Vec<&Value> = r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["code"].as_str().unwrap().starts_with("tls.ocsp"))
                .collect();
            match code {
                None => assert!(stapling.is_empty(), "{r:#}"),
                Some(code) => {
                    assert_eq!(stapling.len(), 1, "{r:#}");
                    assert_eq!(stapling[0]["code"], code);
                    assert_eq!(stapling[0]["severity"], "warning");
                    assert_eq!(r["verdict"], "works-with-warnings", "{r:#}");
                }
            }
            if scenario == Scenario::OcspExpiredStapled {
                assert_eq!(stapling[0]["params"]["window"], "expired");
                // The message says the moment to the minute, for people.
                let next = ocsp["next_update"].as_str().unwrap();
                let said = format!("{} {} UTC", &next[..10], &next[11..16]);
                assert!(
                    stapling[0]["message"].as_str().unwrap().contains(&said),
                    "{said} {r:#}"
                );
            }
        }
    }

    let env = Env::start(Scenario::MustStapleNoStaple);
    let run = probe(&env, &[], Some(&env.password()));
    for r in run.results() {
        assert!(r["reason"].is_null(), "{r:#}");
        assert_eq!(
            r["tls"]["ocsp"],
            serde_json::json!({"stapled": false, "must_staple": true}),
            "{r:#}"
        );
        let f = finding(r, "tls.must-staple-missing").unwrap_or_else(|| panic!("{r:#}"));
        assert_eq!(f["severity"], "warning");
    }
}

#[test]
fn tls10_only() {
    let env = Env::start(Scenario::Tls10Only);
    // A password is at hand, so "no login was sent" proves something.
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    // On every port the legacy ClientHello names what the server chose: on the implicit-TLS
    // ports on a new connection, on the STARTTLS ports after a second STARTTLS.
    assert_eq!(run.results().len(), 6);
    for r in run.results() {
        assert_eq!(r["reason"]["code"], "tls.legacy-only", "{r}");
        assert_eq!(r["legacy_handshake"]["version"], "TLSv1.0", "{r}");
        assert!(
            r["failure"]["detail"].as_str().unwrap().contains("TLSv1.0"),
            "{r}"
        );
    }
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert_eq!(logins(&env.received()), 0);
}

#[test]
fn capabilities_are_read_again_after_starttls() {
    let env = Env::start(Scenario::CapsChangeAfterStarttls);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    for r in run.results() {
        let id = r["id"].as_str().unwrap();
        assert!(r["reason"].is_null(), "{r}");
        // Before TLS the server said PLAIN, after it LOGIN: the login follows the new list.
        assert_eq!(r["auth"]["status"], "succeeded", "{r}");
        assert_eq!(r["auth"]["mechanism"], "LOGIN", "{r}");
        assert_eq!(r["capabilities"]["auth_mechanisms"][0], "LOGIN");
        if is_starttls(id) {
            assert_eq!(r["capabilities_before_tls"]["auth_mechanisms"][0], "PLAIN");
            assert_eq!(r["verdict"], "works-with-warnings", "{r}");
        }
    }
    for c in env.received() {
        assert!(!c.lines.iter().any(|l| l.line.contains("PLAIN")), "{c:?}");
        assert!(c.logged_in);
    }
}

#[test]
fn endless_auth_is_cut_short() {
    let env = Env::start(Scenario::EndlessAuth);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("protocol.unexpected");
    // Not a verdict on the password: not critical for that reason, no lockout of the others.
    for r in run.results() {
        assert_eq!(r["auth"]["status"], "failed", "{r}");
        assert_eq!(r["failure"]["step"], "auth");
    }
    // Bounded: a few answers per connection, not a ping-pong until the timeout, however
    // loaded the machine is (IMAP: the connection refuses the write after the last answer).
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);
    for c in env.received() {
        let answers = c
            .lines
            .iter()
            .filter(|l| l.line == "<sasl response>")
            .count();
        assert!(answers <= 4, "{answers} answers: {c:?}");
    }
}

/// A server that stalls at login costs one timeout for the whole run: the other combinations
/// do not take their turn to stall (and never wait past their deadline).
#[test]
fn a_login_stall_costs_one_timeout_not_one_per_combination() {
    let env = Env::start(Scenario::AuthStall);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    let results = run.results();
    let stalled: Vec<&Value> = results
        .iter()
        .filter(|r| r["auth"]["status"] == "failed")
        .collect();
    assert_eq!(stalled.len(), 1, "{:#}", run.json);
    assert_eq!(stalled[0]["reason"]["code"], "protocol.timeout");
    let skipped: Vec<&Value> = results
        .iter()
        .filter(|r| r["auth"]["why"] == "skipped-after-stall")
        .collect();
    assert_eq!(skipped.len(), 5, "{:#}", run.json);
    for r in &skipped {
        assert_eq!(r["verdict"], "connects", "{r:#}");
    }
    // --timeout is 1s: one stall, with generous room, not six in turn.
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);
    // At most the one combination that took the turn sent anything (IMAP without SASL-IR
    // waits for a "+" that never comes, so it may send nothing at all).
    let with_credentials = env.received().iter().filter(|c| c.credentials_seen).count();
    assert!(with_credentials <= 1, "{with_credentials}");
}

#[test]
fn busy() {
    let env = Env::start(Scenario::Busy);
    // A password is at hand, so "no login was sent" proves something.
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("protocol.busy");
    for r in run.results() {
        assert!(
            r["failure"]["server_says"]
                .as_str()
                .unwrap()
                .contains("busy"),
            "{r}"
        );
    }
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert_eq!(logins(&env.received()), 0);
}

#[test]
fn accept_any_password_looks_like_a_working_login() {
    // mailcheck tries one login per server and account (never a deliberately wrong one, which
    // could lock the account), so it cannot tell this server from a correct one.
    let env = Env::start(Scenario::AcceptAnyPassword);
    let run = probe(&env, &[], Some("not-the-lab-password"));
    assert_eq!(run.code, 0);
    for r in run.results() {
        assert_eq!(r["auth"]["status"], "succeeded");
    }
    assert!(env.received().iter().all(|c| c.logged_in));
}

#[test]
fn oauth2_required_in_each_protocol() {
    let env = Env::start(Scenario::Oauth2Required);
    let pw = env.password();
    for (only, says) in [
        ("imap/993", "LOGIN failed."),
        ("imap/143", "LOGIN failed."),
        ("pop3/995", "Logon failure"),
        ("smtp/465", "5.7.139"),
        ("smtp/587", "basic authentication is disabled"),
    ] {
        let run = probe(&env, &["--only", only], Some(&pw));
        let r = &run.results()[0];
        assert_eq!(r["reason"]["code"], "auth.oauth2-required", "{only}: {r}");
        assert!(
            r["failure"]["server_says"].as_str().unwrap().contains(says),
            "{only}: {r}"
        );
        assert_eq!(run.code, 2);
    }
}

/// Microsoft 365's bare refusals ("AUTHENTICATE failed.", "-ERR Logon failure", 535 5.7.3)
/// cannot tell a wrong password from password login disabled: from a server that lists
/// XOAUTH2, the hint says both. A server without OAuth2 gets only "check the password".
#[test]
fn an_ambiguous_refusal_from_an_oauth2_server_names_oauth2() {
    let env = Env::start(Scenario::Oauth2Offered);
    let pw = env.password();
    for (only, says) in [
        ("imap/993", "AUTHENTICATE failed."),
        ("pop3/995", "Logon failure"),
        ("smtp/465", "535 5.7.3"),
    ] {
        let run = probe(&env, &["--only", only], Some(&pw));
        let r = &run.results()[0];
        assert_eq!(r["reason"]["code"], "auth.rejected", "{only}: {r}");
        assert!(
            r["failure"]["server_says"].as_str().unwrap().contains(says),
            "{only}: {r}"
        );
        let hint = r["reason"]["hint"].as_str().unwrap();
        assert!(hint.starts_with("check the username"), "{only}: {hint}");
        assert!(
            hint.contains("password login may be disabled in favour of OAuth2"),
            "{only}: {hint}"
        );
    }
    let run = probe(&env, &["--only", "imap/993", "--lang", "fr"], Some(&pw));
    let hint = run.results()[0]["reason"]["hint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(hint.contains("au profit d'OAuth2"), "{hint}");

    let good = Env::start(Scenario::Good);
    let run = probe(&good, &["--only", "imap/993"], Some("not-the-password"));
    let r = &run.results()[0];
    assert_eq!(r["reason"]["code"], "auth.rejected", "{r}");
    assert_eq!(
        r["reason"]["hint"],
        "check the username (often the full address) and the password"
    );
}

#[test]
fn oauth2_required_costs_one_attempt_per_server() {
    let env = Env::start(Scenario::Oauth2Required);
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    let failed: Vec<&Value> = run
        .results()
        .iter()
        .filter(|r| !r["reason"].is_null())
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", run.reasons());
    assert_eq!(failed[0]["reason"]["code"], "auth.oauth2-required");
    let skipped = run
        .results()
        .iter()
        .filter(|r| r["auth"]["why"] == "skipped-after-rejection")
        .count();
    assert_eq!(skipped, 5);
    // The lab saw exactly one login on the whole host.
    assert_eq!(logins(&env.received()), 1);
}

#[test]
fn blackholed_ports_cost_one_connect_timeout_in_total() {
    let env = Env::start(Scenario::Good);
    let (h1, h2) = env.rt.block_on(async {
        let ip = "127.0.0.1".parse().unwrap();
        (
            Blackhole::bind(ip).await.unwrap(),
            Blackhole::bind(ip).await.unwrap(),
        )
    });
    // The first matching --connect-to wins: these two send imap/993 and smtp/587 into holes.
    let r1 = format!("mail.lab.test:993:127.0.0.1:{}", h1.addr.port());
    let r2 = format!("mail.lab.test:587:127.0.0.1:{}", h2.addr.port());
    let args = lab_args(
        &env,
        &["--connect-to".to_string(), r1, "--connect-to".into(), r2],
        &[
            "--format",
            "json",
            "--no-prompt",
            "--connect-timeout",
            "3s",
            "--timeout",
            "3s",
        ],
    );
    let run = run_json(&args, None);
    let elapsed = run.elapsed;
    let reason = |id: &str| run.result(id)["reason"]["code"].clone();
    assert_eq!(reason("imap/993/tls"), "connect.timeout");
    assert_eq!(reason("smtp/587/starttls"), "connect.timeout");
    for id in [
        "imap/143/starttls",
        "pop3/995/tls",
        "pop3/110/starttls",
        "smtp/465/tls",
    ] {
        assert!(reason(id).is_null(), "{id}");
    }
    // Both holes are waited for at the same time: one connect timeout, not two.
    eprintln!("two blackholed ports: {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(2900), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(5500), "{elapsed:?}");
    // Nothing reached the lab through the holes.
    assert_eq!(env.received().len(), 4);
}

#[test]
fn the_deadline_bounds_a_blackholed_connect() {
    let env = Env::start(Scenario::Blackhole);
    let args = lab_args(
        &env,
        &[],
        &[
            "--format",
            "json",
            "--no-prompt",
            "--connect-timeout",
            "10s",
            "--deadline",
            "2s",
        ],
    );
    let run = run_json(&args, None);
    // The deadline, not the connect timeout (nor the backstop past the deadline), ends it.
    assert!(
        run.elapsed < Duration::from_millis(3500),
        "{:?}",
        run.elapsed
    );
    for r in run.results() {
        assert_eq!(r["reason"]["code"], "connect.timeout", "{r:#}");
        assert_eq!(r["failure"]["step"], "connect", "{r:#}");
        let detail = r["failure"]["detail"].as_str().unwrap();
        assert!(detail.contains("deadline of 2 s"), "{detail}");
        // The attempt the deadline cut short is reported, not dropped.
        let attempts = r["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{r:#}");
        assert_eq!(attempts[0]["outcome"]["kind"], "timed-out", "{r:#}");
    }
}

#[test]
fn a_connect_to_rule_that_matches_nothing_is_warned_about() {
    let env = Env::start(Scenario::Good);
    // The lab's own rules match mail.lab.test (the --server name; --only does not make them
    // stray); a rule for a port never probed, or for a name that is not --server, does
    // nothing and is said so.
    let stray = [
        "mail.lab.test:2525:127.0.0.1:9",
        "other.lab.test:993:127.0.0.1:9",
    ];
    let mut args = probe_args(&env, &["--only", "imap/993", "--format", "json"]);
    for r in stray {
        args.extend(["--connect-to".to_string(), r.to_string()]);
    }
    let out = mailcheck().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for r in stray {
        assert!(
            stderr.contains(&format!("--connect-to {r} matches no combination")),
            "{stderr}"
        );
    }
    assert_eq!(
        stderr.matches("matches no combination").count(),
        2,
        "{stderr}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("probe", &json);
    assert!(json["results"][0]["reason"].is_null(), "{json:#}");
}

/// A DNS server on loopback answering every query with `rcode` (None: never answering).
fn dns_stub(rcode: Option<u8>) -> std::net::SocketAddr {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let Some(rcode) = rcode else { continue };
            if n < 12 {
                continue;
            }
            // The query back with QR set, RD/RA, the rcode and no answer records.
            let mut reply = buf[..n].to_vec();
            reply[2] = 0x80 | (buf[2] & 0x01);
            reply[3] = 0x80 | rcode;
            reply[6..12].fill(0);
            let _ = sock.send_to(&reply, from);
        }
    });
    addr
}

#[test]
fn a_dns_server_that_fails_is_not_a_name_that_does_not_exist() {
    for (rcode, expected) in [
        (None, "dns.failed"),
        (Some(2), "dns.failed"),
        (Some(3), "dns.no-such-host"),
    ] {
        let dns = dns_stub(rcode);
        let out = mailcheck()
            .args(["probe", ADDRESS, "--server", "mail.lab.test"])
            .args(["--dns-server", &dns.to_string(), "--only", "imap/993"])
            .args(["--connect-timeout", "1s", "--no-prompt", "--format", "json"])
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_schema("probe", &json);
        let r = &json["results"][0];
        assert_eq!(r["reason"]["code"], expected, "rcode {rcode:?}: {r:#}");
        if rcode.is_none() {
            // The spelling is not in doubt when the server never answered.
            let hint = r["reason"]["hint"].as_str().unwrap();
            assert!(!hint.contains("spelling"), "{hint}");
        }
    }
}

#[test]
fn blackhole_scenario() {
    let env = Env::start(Scenario::Blackhole);
    // A password is at hand, so "no login was sent" proves something.
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("connect.timeout");
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);
    assert_eq!(logins(&env.received()), 0);
}

#[test]
fn lab_on_ipv6_loopback() {
    let env = Env::with(LabConfig {
        ip: "::1".parse().unwrap(),
        ..LabConfig::default()
    });
    assert!(env.lab.connect_to_rules()[0].contains(":[::1]:"));
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    assert_eq!(run.code, 0, "{}", run.stdout);
    for r in run.results() {
        assert!(r["peer"].as_str().unwrap().starts_with("[::1]"), "{r}");
    }
}

/// The English cause and hint of a result.
fn cause_and_hint(r: &Value) -> (&str, &str) {
    (
        r["reason"]["cause"].as_str().unwrap(),
        r["reason"]["hint"].as_str().unwrap(),
    )
}

#[test]
fn cert_invalid_for_a_certificate_not_meant_for_servers() {
    // Issued by the lab CA for the right name, but for TLS clients only (EKU clientAuth).
    let env = bad_certificate(Scenario::CertInvalid, "tls.cert-invalid", "invalid");
    let run = probe(&env, &["--lang", "en", "--only", "imap/993"], None);
    let (cause, hint) = cause_and_hint(&run.results()[0]);
    assert!(cause.starts_with("the certificate is invalid ("), "{cause}");
    assert_eq!(hint, "the provider must fix its certificate");
    assert_eq!(logins(&env.received()), 0);
}

#[test]
fn starttls_offered_then_refused() {
    let env = Env::start(Scenario::StarttlsRefused);
    let pw = env.password();
    let run = probe(&env, &["--lang", "en"], Some(&pw));
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    for (id, reason) in run.reasons() {
        let r = run.result(&id);
        if !is_starttls(&id) {
            // The implicit-TLS ports work: the advice to use them is sound.
            assert_eq!(reason, None, "{id}");
            continue;
        }
        assert_eq!(reason.as_deref(), Some("starttls.refused"), "{id}: {r:#}");
        assert_eq!(r["failure"]["step"], "starttls", "{id}");
        let said = r["failure"]["server_says"].as_str().unwrap();
        assert!(said.contains("TLS not available"), "{id}: {said}");
        assert_eq!(
            cause_and_hint(r),
            ("the server refused STARTTLS", "use the implicit-TLS port")
        );
    }
    // Logins happened on the implicit-TLS ports only; none on a connection that stayed plain.
    for c in env.received().iter().filter(|c| !c.tls) {
        assert_eq!(c.auth_commands, 0, "{c:?}");
    }
}

#[test]
fn a_connection_closed_without_a_word() {
    let env = Env::start(Scenario::CloseOnConnect);
    let pw = env.password();
    let run = probe(&env, &["--lang", "en"], Some(&pw));
    run.assert_all("protocol.closed");
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    for r in run.results() {
        assert_eq!(r["failure"]["step"], "greeting", "{r:#}");
        assert_eq!(cause_and_hint(r).0, "the server closed the connection");
    }
    assert_eq!(logins(&env.received()), 0);
}

/// A login refused in each of the six combinations, one `--only` run each (a verdict on the
/// credential stops the other combinations of a run from trying): the reason, the server's
/// words, the English cause, and each password sent over TLS only.
fn refused_everywhere(scenario: Scenario, code: &str, cause: &str, says: [&str; 3]) -> Env {
    let env = Env::start(scenario);
    let pw = env.password();
    for (only, id) in [
        ("imap/993", "imap/993/tls"),
        ("imap/143", "imap/143/starttls"),
        ("pop3/995", "pop3/995/tls"),
        ("pop3/110", "pop3/110/starttls"),
        ("smtp/465", "smtp/465/tls"),
        ("smtp/587", "smtp/587/starttls"),
    ] {
        let run = probe(&env, &["--lang", "en", "--only", only], Some(&pw));
        assert!(
            run.elapsed < Duration::from_secs(5),
            "{only}: {:?}",
            run.elapsed
        );
        let r = run.result(id);
        assert_eq!(r["reason"]["code"], code, "{only}: {r:#}");
        assert_eq!(r["failure"]["step"], "auth", "{only}");
        assert_eq!(r["auth"]["status"], "rejected", "{only}: {r:#}");
        let said = r["failure"]["server_says"].as_str().unwrap();
        let expected = says[match &only[..4] {
            "imap" => 0,
            "pop3" => 1,
            _ => 2,
        }];
        assert!(said.contains(expected), "{only}: {said}");
        assert_eq!(
            cause_and_hint(r).0,
            cause.replace("{protocol}", &only[..4].to_uppercase())
        );
    }
    let received = env.received();
    // Each run logged in once, over TLS (received() checks that nothing went in clear).
    assert_eq!(logins(&received), 6, "{received:#?}");
    for c in received.iter().filter(|c| c.credentials_seen) {
        assert!(c.tls && !c.logged_in, "{c:?}");
    }
    env
}

#[test]
fn account_locked_in_each_protocol() {
    let env = refused_everywhere(
        Scenario::AccountLocked,
        "auth.account-locked",
        "the account is locked or has had too many login attempts",
        [
            "[AUTHENTICATIONFAILED] Account locked",
            "[AUTH] Account locked",
            "534 5.7.14",
        ],
    );
    // A verdict on the account: one attempt per server and account, not six.
    let pw = env.password();
    let before = logins(&env.received());
    let run = probe(&env, &[], Some(&pw));
    assert_eq!(run.code, 2);
    let locked = run.reasons().into_values().flatten().count();
    assert_eq!(locked, 1, "{:?}", run.reasons());
    assert_eq!(logins(&env.received()) - before, 1);
}

#[test]
fn app_password_required_in_each_protocol() {
    refused_everywhere(
        Scenario::AppPasswordRequired,
        "auth.app-password-required",
        "the provider requires an app password for mail clients",
        [
            "[ALERT] Application-specific password required",
            "Application-specific password required",
            "534 5.7.9",
        ],
    );
}

#[test]
fn protocol_disabled_in_each_protocol() {
    refused_everywhere(
        Scenario::ProtocolDisabled,
        "auth.protocol-disabled",
        "access by {protocol} is switched off for this account",
        [
            "User is authenticated but not connected",
            "not enabled for POP access",
            "SmtpClientAuthentication is disabled",
        ],
    );
}

#[test]
fn a_temporary_authentication_failure_in_each_protocol() {
    let env = refused_everywhere(
        Scenario::AuthTemporaryFailure,
        "auth.temporary-failure",
        "the server could not check the credentials for now",
        [
            "[UNAVAILABLE] Temporary authentication failure",
            "[SYS/TEMP] Temporary authentication failure",
            "454 4.7.0 Temporary authentication failure",
        ],
    );
    // Not a verdict on the password: every combination may try (and meets the same answer).
    let pw = env.password();
    let run = probe(&env, &[], Some(&pw));
    run.assert_all("auth.temporary-failure");
}

#[test]
fn login_disabled_even_after_tls() {
    let env = refused_everywhere(
        Scenario::LoginDisabledAfterTls,
        "auth.login-disabled",
        "the server disables login on this connection",
        [
            "[PRIVACYREQUIRED] Plaintext authentication disallowed",
            "Plaintext authentication disallowed",
            "538 5.7.11",
        ],
    );
    // IMAP still says LOGINDISABLED over TLS, so the LOGIN command is never used.
    let imap = env
        .received()
        .into_iter()
        .filter(|c| c.combination.is_some_and(|k| k.protocol == Protocol::Imap));
    for c in imap {
        let login =
            |l: &&mailcheck::lab::ReceivedLine| l.line.split_whitespace().nth(1) == Some("LOGIN");
        assert!(!c.lines.iter().any(|l| login(&l)), "{c:?}");
    }
}

/// Runs `mailcheck probe` in a user and network namespace of its own (`unshare -rn`: no root
/// needed, nothing to clean up, gone with the process) whose loopback has a route of `kind`
/// (`unreachable`, `prohibit`) to 127.0.0.2. No server is needed: nothing gets that far.
fn probe_behind_route(kind: &str) -> (Value, Duration) {
    let script = format!(
        "ip link set lo up && ip route add {kind} 127.0.0.2/32 table local && exec \"$0\" \"$@\""
    );
    let t0 = Instant::now();
    let out = assert_cmd::Command::new("unshare")
        .args(["-rn", "sh", "-c", &script])
        .arg(assert_cmd::cargo::cargo_bin!("mailcheck"))
        .args(["probe", ADDRESS, "--server", "mail.lab.test"])
        .args(["--connect-to", "mail.lab.test:993:127.0.0.2:993"])
        .args([
            "--only",
            "imap/993",
            "--connect-timeout",
            "2s",
            "--deadline",
            "5s",
        ])
        .args(["--no-prompt", "--format", "json", "--lang", "en"])
        .env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let elapsed = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| (0..=2).contains(&c)),
        "unshare -rn (user and network namespaces) and ip are needed: {:?} {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("probe", &json);
    (json, elapsed)
}

#[test]
fn a_route_that_says_unreachable_is_connect_unreachable() {
    let (json, elapsed) = probe_behind_route("unreachable");
    let r = &json["results"][0];
    assert_eq!(r["reason"]["code"], "connect.unreachable", "{r:#}");
    assert_eq!(r["failure"]["step"], "connect", "{r:#}");
    // The kernel answers at once: no timeout is waited for.
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    let (cause, _) = cause_and_hint(r);
    assert!(
        cause.starts_with("the network cannot reach mail.lab.test ("),
        "{cause}"
    );
}

/// A `prohibit` route (EACCES, "administratively prohibited") is neither refused nor
/// unreachable: the catch-all `connect.failed`, with the system's words.
#[test]
fn a_prohibited_route_is_connect_failed() {
    let (json, elapsed) = probe_behind_route("prohibit");
    let r = &json["results"][0];
    assert_eq!(r["reason"]["code"], "connect.failed", "{r:#}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    let (cause, _) = cause_and_hint(r);
    assert!(
        cause.starts_with("the connection to mail.lab.test port 993 could not be made ("),
        "{cause}"
    );
}

#[test]
fn a_flood_of_short_lines_is_stopped_at_the_session_limit() {
    let env = Env::start(Scenario::Flood);
    let pw = env.password();
    // A wait long enough that the session limit, not the step timeout, ends each session even
    // on a loaded machine (six sessions read 1 MB of short lines each, in a debug build).
    let mut args = probe_args_with_timeout(&env, "15s", &["--lang", "en"]);
    args.extend(["--format".into(), "json".into()]);
    let run = run_json(&args, Some(&pw));
    run.assert_all("protocol.too-much-data");
    for r in run.results() {
        assert_eq!(
            cause_and_hint(r).0,
            "the server sent far more data than a mail session needs"
        );
    }
    let received = env.received();
    assert_eq!(logins(&received), 0, "{received:#?}");
    for c in &received {
        // The client hung up at its limit (1 MB), long before the lab would have stopped.
        assert!(c.aborted_by_client, "{c:?}");
        assert!(c.bytes_sent < 8 * 1024 * 1024, "{c:?}");
    }
}

/// Logins work but the mailbox cannot be opened: the round trip stops before sending anything
/// (the lab's SMTP never sees a MAIL FROM) and says why, in the server's words.
#[test]
fn a_mailbox_that_cannot_be_opened_stops_the_round_trip() {
    let env = Env::start(Scenario::MailboxUnavailable);
    let pw = env.password();
    // IMAP only: over POP3 the mailbox is first read with UIDL, whose -ERR means "no UIDL"
    // (RFC 1939 makes it optional), so the failure would come after the submission.
    let (only, says) = (["imap/993", "smtp/465"], "Internal error occurred");
    {
        let run = probe(
            &env,
            &[
                "--lang",
                "en",
                "--round-trip",
                "--only",
                only[0],
                "--only",
                only[1],
            ],
            Some(&pw),
        );
        assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
        assert_eq!(run.code, 2, "{}", run.stdout);
        // The matrix itself works: login verified on both.
        for r in run.results() {
            assert_eq!(r["auth"]["status"], "succeeded", "{r:#}");
        }
        let rt = &run.json["round_trip"];
        assert_eq!(rt["outcome"], "mailbox-failed", "{rt:#}");
        assert_eq!(rt["reason"]["code"], "roundtrip.mailbox-failed", "{rt:#}");
        assert_eq!(
            rt["reason"]["cause"],
            "the mailbox could not be read to look for the test message"
        );
        assert!(rt["sent"].is_null(), "{rt:#}");
        let said = rt["server_says"].as_str().unwrap_or_default();
        assert!(said.contains(says), "{rt:#}");
    }
    // Nothing was submitted: no MAIL FROM reached the lab.
    for c in env.received() {
        assert!(
            !c.lines.iter().any(|l| l.line.starts_with("MAIL ")),
            "{c:?}"
        );
    }
}

/// The submission breaks down (the connection is dropped at MAIL FROM): not a refusal by the
/// server's policy but a failure to hand the message over.
#[test]
fn a_dropped_submission_is_a_failed_round_trip() {
    let env = Env::start(Scenario::SubmissionDropped);
    let pw = env.password();
    let run = probe(
        &env,
        &[
            "--lang",
            "en",
            "--round-trip",
            "--only",
            "imap/993",
            "--only",
            "smtp/465",
        ],
        Some(&pw),
    );
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let rt = &run.json["round_trip"];
    assert_eq!(rt["outcome"], "submission-failed", "{rt:#}");
    assert_eq!(
        rt["reason"]["code"], "roundtrip.submission-failed",
        "{rt:#}"
    );
    assert_eq!(
        rt["reason"]["cause"],
        "the test message could not be handed to the outgoing server (connection, TLS or timeout)"
    );
    assert!(rt["sent"].is_null(), "{rt:#}");
    let received = env.received();
    // The lab got the MAIL command (and dropped the connection), over TLS, after a login.
    let smtp: Vec<&Received> = received
        .iter()
        .filter(|c| c.lines.iter().any(|l| l.line.starts_with("MAIL ")))
        .collect();
    assert_eq!(smtp.len(), 1, "{received:#?}");
    assert!(smtp[0].tls && smtp[0].logged_in, "{:?}", smtp[0]);
}

#[test]
fn cert_revoked_when_the_crl_is_given_and_only_then() {
    // The lab's probe command names the CRL that revokes its server certificate.
    let env = bad_certificate(Scenario::CertRevoked, "tls.cert-revoked", "revoked");
    // Without --crl-file revocation is not checked: the same certificate is valid.
    let mut args = probe_args(&env, &["--format", "json"]);
    let at = args
        .iter()
        .position(|a| a == "--crl-file")
        .expect("the lab's probe command gives its CRL");
    args.drain(at..at + 2);
    let pw = env.password();
    let out = mailcheck()
        .args(&args)
        .env("MAILCHECK_PASSWORD", &pw)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_schema("probe", &json);
    for r in json["results"].as_array().unwrap() {
        assert_eq!(r["verdict"], "works", "{r}");
        assert_eq!(r["tls"]["verification"]["status"], "valid", "{r}");
        assert_eq!(r["auth"]["status"], "succeeded", "{r}");
    }
    assert_eq!(logins(&env.received()), 6);
}
