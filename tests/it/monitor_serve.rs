//! The Prometheus exporter (`mailcheck serve`) started on loopback against the real Dovecot and
//! Postfix: scraped over HTTP, its output validated by `promtool check metrics` (Debian's
//! prometheus package, installed by scripts/install-test-deps), scraped concurrently, with no
//! secret in any answer.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::schema::assert_schema;
use support::servers::MailServers;

const PROMTOOL: &str = "/usr/bin/promtool";

pub(crate) struct Exporter {
    child: Child,
    pub(crate) addr: SocketAddr,
    _dir: tempfile::TempDir,
    /// What it wrote to stderr after its first line, so far.
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect_to(s: &MailServers) -> String {
    let rules: Vec<String> = s
        .connect_to_rules()
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect();
    format!("[{}]", rules.join(", "))
}

/// Start `mailcheck serve --listen 127.0.0.1:0` with a checks file and read the port it
/// announces on stderr.
fn start(s: &MailServers, login: &str, env: &[(&str, &str)]) -> Exporter {
    start_with(s, login, env, "")
}

/// As [`start`], with more TOML appended to the checks file.
fn start_with(s: &MailServers, login: &str, env: &[(&str, &str)], extra: &str) -> Exporter {
    start_args(s, login, env, extra, &[])
}

/// As [`start_with`], with more arguments to `serve`.
fn start_args(
    s: &MailServers,
    login: &str,
    env: &[(&str, &str)],
    extra: &str,
    args: &[&str],
) -> Exporter {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mailcheck.toml");
    let text = format!(
        r#"
[defaults]
server = "{server}"
connect_to = {rules}
connect_timeout = "2s"
timeout = "5s"

# Trusts the lab CA and logs in as {login} with the password in MC_SERVE_PASSWORD.
[module.lab]
ca_file = "{ca}"
username = "{login}"
password_env = "MC_SERVE_PASSWORD"
expect = ["imap/993/tls", "smtp/587/starttls"]
forbid = ["imap/143/plaintext-login"]

# Does not trust the lab CA: every TLS combination fails with a reason.
[module.untrusted]

[[account]]
name = "sybil"
address = "sybil@lab.test"
ca_file = "{ca}"
"#,
        server = s.tls_name,
        rules = connect_to(s),
        ca = s.ca_pem.display(),
    ) + extra;
    std::fs::write(&cfg, text).unwrap();
    let mut all = vec!["--config", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    spawn_exporter(dir, env, &all)
}

/// `mailcheck serve --listen 127.0.0.1:0 ARGS...`, its port read from its first line.
pub(crate) fn spawn_exporter(
    dir: tempfile::TempDir,
    env: &[(&str, &str)],
    args: &[&str],
) -> Exporter {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailcheck"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("MAILCHECK_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("mailcheck serve: listening on ")
        .and_then(|l| l.strip_prefix("http://").or(l.strip_prefix("https://")))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback());
    // Keep draining stderr so the exporter never blocks on a full pipe.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap_or(0) > 0 {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    Exporter {
        child,
        addr,
        _dir: dir,
        log,
    }
}

pub(crate) struct Response {
    pub(crate) status: u16,
    headers: String,
    pub(crate) body: String,
}

/// A minimal HTTP/1.1 GET (the exporter is the only server it talks to).
pub(crate) fn get(addr: SocketAddr, path: &str, extra_headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("no end of headers");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers = head.to_ascii_lowercase();
    let body = if headers.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").expect("chunk size");
        let n = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// `promtool check metrics` must accept the exposition without a complaint.
fn promtool_accepts(body: &str) {
    assert!(
        std::path::Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: run scripts/install-test-deps (Debian package prometheus)"
    );
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n{body}"
    );
}

/// The value of the one sample whose name and labels start with `prefix`.
fn sample(body: &str, prefix: &str) -> f64 {
    let lines: Vec<&str> = body.lines().filter(|l| l.starts_with(prefix)).collect();
    assert_eq!(lines.len(), 1, "{prefix}: {lines:?}\n{body}");
    lines[0].rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn probe_returns_valid_metrics_with_reasons_as_labels() {
    let s = MailServers::get();
    let user = s.user("trent");
    let exporter = start(s, &user.address, &[("MC_SERVE_PASSWORD", &user.password)]);

    let r = get(
        exporter.addr,
        "/probe?target=trent@lab.test&module=lab",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "8")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.headers
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        r.headers
    );
    promtool_accepts(&r.body);
    let b = &r.body;
    assert!(!b.contains(&user.password));
    for combo in [
        "server=\"mail.lab.test\",protocol=\"imap\",port=\"993\",security=\"tls\"",
        "server=\"mail.lab.test\",protocol=\"smtp\",port=\"587\",security=\"starttls\"",
        "server=\"mail.lab.test\",protocol=\"pop3\",port=\"110\",security=\"starttls\"",
    ] {
        assert_eq!(
            sample(b, &format!("mailcheck_probe_success{{{combo}}}")),
            1.0
        );
        assert_eq!(
            sample(b, &format!("mailcheck_auth_success{{{combo}}}")),
            1.0
        );
        let not_after = sample(
            b,
            &format!("mailcheck_tls_cert_not_after_seconds{{{combo}}}"),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(not_after > now + 80.0 * 86400.0 && not_after < now + 91.0 * 86400.0);
        assert_eq!(
            sample(
                b,
                &format!("mailcheck_tls_version_info{{{combo},version=\"TLSv1.3\"")
            ),
            1.0
        );
        let connect = sample(
            b,
            &format!("mailcheck_step_duration_seconds{{{combo},step=\"connect\"}}"),
        );
        assert!((0.0..8.0).contains(&connect));
        assert!(b.contains(&format!(
            "mailcheck_step_duration_seconds{{{combo},step=\"auth\"}}"
        )));
    }
    assert_eq!(sample(b, "mailcheck_success "), 1.0);
    assert_eq!(sample(b, "mailcheck_status "), 0.0);
    assert_eq!(
        sample(b, "mailcheck_expectation_success{kind=\"forbid\",subject=\"imap/143/starttls/plaintext-login\"}"),
        1.0
    );
    assert_eq!(
        sample(b, "mailcheck_plaintext_login_offered{server=\"mail.lab.test\",protocol=\"imap\",port=\"143\",security=\"starttls\"}"),
        0.0
    );
    // The deadline is below the scrape timeout Prometheus announced.
    assert_eq!(sample(b, "mailcheck_probe_deadline_seconds"), 7.5);
    assert!(!b.contains("mailcheck_failure_info"), "{b}");

    // An untrusted certificate: the reason is a label, so an alert can say why.
    let r = get(
        exporter.addr,
        "/probe?target=trent@lab.test&module=untrusted",
        &[],
    );
    assert_eq!(r.status, 200);
    promtool_accepts(&r.body);
    let b = &r.body;
    assert_eq!(
        sample(b, "mailcheck_failure_info{server=\"mail.lab.test\",protocol=\"imap\",port=\"993\",security=\"tls\",reason=\"tls.cert-unknown-issuer\",step=\"tls\"}"),
        1.0
    );
    assert_eq!(
        sample(
            b,
            "mailcheck_probe_success{server=\"mail.lab.test\",protocol=\"imap\",port=\"993\",security=\"tls\"}"
        ),
        0.0
    );
    assert_eq!(sample(b, "mailcheck_success "), 0.0);
    assert_eq!(sample(b, "mailcheck_status "), 2.0);
    // No credential in this module: no login was attempted.
    assert!(!b.contains("mailcheck_auth_success"), "{b}");

    // A target that is an [[account]] of the file uses that account (here: no credential).
    let r = get(exporter.addr, "/probe?target=sybil@lab.test", &[]);
    assert_eq!(r.status, 200);
    promtool_accepts(&r.body);
    assert_eq!(sample(&r.body, "mailcheck_success "), 1.0, "{}", r.body);
    // Without a credential, a combination that connects is a success.
    let working: Vec<&str> = r
        .body
        .lines()
        .filter(|l| l.starts_with("mailcheck_probe_success{"))
        .collect();
    assert_eq!(working.len(), 6, "{}", r.body);
    assert!(working.iter().all(|l| l.ends_with(" 1")), "{}", r.body);

    // Bad requests are refused and counted.
    assert_eq!(get(exporter.addr, "/probe?module=lab", &[]).status, 400);
    let r = get(
        exporter.addr,
        "/probe?target=trent@lab.test&module=nope",
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("no module \"nope\""), "{}", r.body);
    assert_eq!(
        get(exporter.addr, "/probe?target=not-an-address", &[]).status,
        400
    );
    // The target comes from the request: its error names it, not a place in the checks file.
    let r = get(
        exporter.addr,
        "/probe?target=not-an-address&module=lab",
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .starts_with("target: \"not-an-address\" is not a mail address"),
        "{}",
        r.body
    );
    assert!(!r.body.contains(".toml:"), "{}", r.body);

    let m = get(exporter.addr, "/metrics", &[]);
    assert_eq!(m.status, 200);
    promtool_accepts(&m.body);
    assert_eq!(
        sample(
            &m.body,
            "mailcheck_exporter_probes_total{result=\"success\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &m.body,
            "mailcheck_exporter_probes_total{result=\"failure\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&m.body, "mailcheck_exporter_bad_requests_total"),
        4.0
    );
    assert_eq!(sample(&m.body, "mailcheck_exporter_probes_in_flight"), 0.0);
    assert_eq!(sample(&m.body, "mailcheck_exporter_modules"), 2.0);
    assert_eq!(s.failed_logins(&user.address), 0);
}

#[test]
fn concurrent_scrapes_each_get_a_full_answer() {
    let s = MailServers::get();
    let user = s.user("victor");
    let exporter = start(s, &user.address, &[("MC_SERVE_PASSWORD", &user.password)]);
    let addr = exporter.addr;
    let t0 = Instant::now();
    let n = 12;
    let handles: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(move || get(addr, "/probe?target=victor@lab.test&module=lab", &[]))
        })
        .collect();
    let answers: Vec<Response> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let elapsed = t0.elapsed();
    for r in &answers {
        assert_eq!(r.status, 200);
        assert!(!r.body.contains(&user.password));
        // Each answer is one whole probe: six combinations, all working, logged in.
        assert_eq!(
            r.body
                .lines()
                .filter(|l| l.starts_with("mailcheck_probe_success{") && l.ends_with(" 1"))
                .count(),
            6,
            "{}",
            r.body
        );
        assert_eq!(sample(&r.body, "mailcheck_success "), 1.0);
    }
    promtool_accepts(&answers[0].body);
    let m = get(addr, "/metrics", &[]);
    assert_eq!(
        sample(
            &m.body,
            "mailcheck_exporter_probes_total{result=\"success\"}"
        ),
        n as f64
    );
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    assert_eq!(s.failed_logins(&user.address), 0);
    // Scrapes of one account that overlap share one probe (its six logins), each answered in
    // full; a scrape that starts after it ended probes again.
    let logins = s.successful_logins(&user.address);
    assert!(
        logins.is_multiple_of(6) && logins < 6 * n,
        "{logins} logins for {n} scrapes"
    );
}

#[test]
fn one_shot_formats_of_probe() {
    let s = MailServers::get();
    let user = s.user("walter");
    let run = |format: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailcheck"));
        cmd.args([
            "probe",
            &user.address,
            "--server",
            &s.tls_name,
            "--no-prompt",
        ])
        .args(["--ca-file", s.ca_pem.to_str().unwrap(), "--format", format])
        .env("MAILCHECK_PASSWORD", &user.password)
        .env_remove("MAILCHECK_OAUTH2_TOKEN");
        for rule in s.connect_to_rules() {
            cmd.args(["--connect-to", &rule]);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains(&user.password), "{format}");
        text
    };
    // The textfile-collector form: valid for promtool, one account, no account label.
    let prom = run("prometheus");
    promtool_accepts(&prom);
    assert_eq!(sample(&prom, "mailcheck_success "), 1.0);
    assert!(!prom.contains("account="));
    // JSON Lines: exactly one line, the account result with the whole report inside.
    let jsonl = run("jsonl");
    assert_eq!(jsonl.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(jsonl.trim()).unwrap();
    assert_schema("account", &v);
    assert_eq!(v["address"], "walter@lab.test");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["report"]["schema_version"], 1);
    assert_eq!(v["report"]["results"].as_array().unwrap().len(), 6);
    // JUnit: one suite, six combination cases and six certificate-days cases, none failing.
    let junit = run("junit");
    assert!(junit.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mailcheck\" tests=\"12\" failures=\"0\" errors=\"0\""), "{junit}");
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mailcheck"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = run(&["completions", "bash"]);
    assert!(bash.contains("_mailcheck()"), "{bash}");
    for word in [
        "probe",
        "check",
        "batch",
        "serve",
        "--per-host",
        "--cert-crit-days",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    assert!(run(&["completions", "zsh"]).starts_with("#compdef mailcheck"));
    assert!(run(&["completions", "fish"]).contains("complete -c mailcheck"));
    let man = run(&["man"]);
    assert!(
        man.contains(".TH mailcheck 1"),
        "{}",
        &man[..200.min(man.len())]
    );
    for word in [
        "mailcheck\\-serve",
        "\\-\\-listen",
        "\\-\\-password\\-command",
    ] {
        assert!(man.contains(word), "man page lacks {word}");
    }
    // One page per command, each a complete roff page.
    for sub in ["probe", "check", "batch", "serve", "completions", "man"] {
        assert!(
            man.contains(&format!(".TH mailcheck-{sub} 1")),
            "no page for {sub}"
        );
    }
    assert_eq!(man.matches(".SH NAME").count(), man.matches(".TH ").count());
}

#[test]
fn a_stalling_server_is_answered_within_the_scrape_timeout() {
    let s = MailServers::get();
    // Accepts connections and never says a word.
    let stall = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stall.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for c in stall.incoming().flatten() {
            keep.lock().unwrap().push(c);
        }
    });
    let extra = format!(
        "\n[module.stall]\nserver = \"mail.lab.test\"\nconnect_to = [\"::127.0.0.1:{port}\"]\nonly = [\"imap/993\", \"smtp/587\"]\n"
    );
    let exporter = start_with(s, "nobody@lab.test", &[], &extra);
    let t0 = Instant::now();
    let r = get(
        exporter.addr,
        "/probe?target=wendy@lab.test&module=stall",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "3")],
    );
    let took = t0.elapsed();
    assert_eq!(r.status, 200);
    promtool_accepts(&r.body);
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    assert_eq!(sample(&r.body, "mailcheck_probe_deadline_seconds"), 2.5);
    assert_eq!(sample(&r.body, "mailcheck_success "), 0.0);
    assert_eq!(
        sample(&r.body, "mailcheck_failure_info{server=\"mail.lab.test\",protocol=\"imap\",port=\"993\",security=\"tls\",reason=\"tls.timeout\",step=\"tls\"}"),
        1.0,
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("reason=\"protocol.timeout\",step=\"greeting\""),
        "{}",
        r.body
    );
    // imap/993 and smtp/587, plus the engine's follow-up on 587 (a plain-text port that never
    // greeted is asked whether it is a TLS server), all within the deadline.
    assert_eq!(held.lock().unwrap().len(), 3);
}

/// A loopback port that accepts connections, keeps them open and never says a word.
fn silent_listener() -> u16 {
    let stall = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stall.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = vec![];
        for c in stall.incoming().flatten() {
            held.push(c);
        }
    });
    port
}

/// A scrape client that gives up (Prometheus' own timeout) must not leave a probe counted in
/// flight for ever.
#[test]
fn a_client_that_disconnects_leaves_nothing_in_flight() {
    let s = MailServers::get();
    // The probe runs until its deadline.
    let port = silent_listener();
    let extra = format!(
        "\n[module.stall]\nserver = \"mail.lab.test\"\nconnect_to = [\"::127.0.0.1:{port}\"]\nonly = [\"imap/993\"]\n"
    );
    let exporter = start_with(s, "nobody@lab.test", &[], &extra);
    let in_flight = || {
        sample(
            &get(exporter.addr, "/metrics", &[]).body,
            "mailcheck_exporter_probes_in_flight",
        )
    };
    let mut client = TcpStream::connect(exporter.addr).unwrap();
    write!(
        client,
        "GET /probe?target=wendy@lab.test&module=stall HTTP/1.1\r\nHost: x\r\n\
         X-Prometheus-Scrape-Timeout-Seconds: 4\r\n\r\n"
    )
    .unwrap();
    let t0 = Instant::now();
    while in_flight() != 1.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "the probe never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(client);
    // Generous: cancelled at once, or at worst at the probe's own deadline (3.5 s).
    let t0 = Instant::now();
    while in_flight() != 0.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "a probe whose client left is still counted in flight"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Six combinations on one never-greeting host under a per-host limit of 4: the two queued
/// ones cannot start before the scrape deadline, and come back with their own failure instead
/// of the whole answer being lost.
#[test]
fn combinations_queued_past_the_deadline_fail_on_their_own() {
    let s = MailServers::get();
    let port = silent_listener();
    let extra = format!(
        "\n[module.stall]\nserver = \"mail.lab.test\"\nconnect_to = [\"::127.0.0.1:{port}\"]\n"
    );
    let exporter = start_with(s, "nobody@lab.test", &[], &extra);
    let t0 = Instant::now();
    let r = get(
        exporter.addr,
        "/probe?target=wendy@lab.test&module=stall",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "3")],
    );
    let took = t0.elapsed();
    assert_eq!(r.status, 200);
    promtool_accepts(&r.body);
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    let b = &r.body;
    assert_eq!(sample(b, "mailcheck_status "), 2.0, "{b}");
    assert_eq!(
        b.lines()
            .filter(|l| l.starts_with("mailcheck_probe_success{"))
            .count(),
        6,
        "{b}"
    );
    // Four ran (the per-host limit) and timed out on the silent server; two never started.
    let queued = b
        .lines()
        .filter(|l| {
            l.starts_with("mailcheck_failure_info{") && l.contains("reason=\"probe.deadline\"")
        })
        .count();
    assert_eq!(queued, 2, "{b}");
    assert_eq!(
        b.lines()
            .filter(|l| l.starts_with("mailcheck_failure_info{"))
            .count(),
        6,
        "{b}"
    );
}

/// Ten concurrent scrapes of an account whose secret is wrong cost the mailbox one failed
/// login: the others wait for the first verdict and report the refusal, and the next scrapes
/// within the back-off report it too, without a try.
#[test]
fn concurrent_scrapes_with_a_wrong_secret_fail_one_login() {
    let s = MailServers::get();
    let user = s.user("lockout-serve");
    let exporter = start(s, &user.address, &[("MC_SERVE_PASSWORD", "wrong-secret")]);
    let addr = exporter.addr;
    let path = format!("/probe?target={}&module=lab", user.address);
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || get(addr, &path, &[]))
        })
        .collect();
    for h in handles {
        let r = h.join().unwrap();
        assert_eq!(r.status, 200);
        assert!(r.body.contains("reason=\"auth.rejected\""), "{}", r.body);
        assert!(!r.body.contains("wrong-secret"));
    }
    let again = get(addr, &path, &[]);
    assert!(again.body.contains("reason=\"auth.rejected\""));
    assert_eq!(s.failed_logins(&user.address), 1);
    // The combinations whose login was skipped connect but did not verify the login: not a
    // success, as their verdict word (`connects`) says; they carry no failure reason.
    let b = &again.body;
    let success: Vec<&str> = b
        .lines()
        .filter(|l| l.starts_with("mailcheck_probe_success{"))
        .collect();
    assert_eq!(success.len(), 6, "{b}");
    assert!(success.iter().all(|l| l.ends_with(" 0")), "{b}");
    let failures = b
        .lines()
        .filter(|l| l.starts_with("mailcheck_failure_info{"))
        .count();
    assert!(failures < 6, "{b}");
}

/// A request over HTTPS with curl (trusting `ca`), its credentials from a curl config file so
/// that no password is in an argv: (status, body). A header `conf:LINE` is a line of curl's
/// configuration instead.
fn curl(
    dir: &std::path::Path,
    addr: SocketAddr,
    path: &str,
    user: Option<&str>,
    headers: &[&str],
) -> (u16, String) {
    let mut conf = format!("cacert = \"{}\"\n", dir.join("cert.pem").display());
    if let Some(u) = user {
        conf.push_str(&format!("user = \"{u}\"\n"));
    }
    for h in headers {
        if let Some(line) = h.strip_prefix("conf:") {
            conf.push_str(line);
            conf.push('\n');
        } else {
            conf.push_str(&format!("header = \"{h}\"\n"));
        }
    }
    let cfg_path = dir.join(format!("curl-{}.conf", rand_suffix()));
    std::fs::write(&cfg_path, conf).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-K"])
        .arg(&cfg_path)
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{addr}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Writes a self-signed certificate for 127.0.0.1 and a web configuration whose user `prom`
/// has `password` (bcrypt, cost 4: fast enough for a test).
fn write_web_config(dir: &std::path::Path, password: &str) -> std::path::PathBuf {
    if !dir.join("cert.pem").exists() {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    }
    let hash = bcrypt::hash(password, 4).unwrap();
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS12\nbasic_auth_users:\n  prom: '{hash}'\n"
        ),
    )
    .unwrap();
    path
}

/// --web-config: HTTPS only, 401 without or with wrong credentials on every path, and SIGHUP
/// swaps the credentials without dropping a scrape in flight.
#[test]
fn web_config_serves_https_with_basic_auth_and_reloads_on_sighup() {
    let s = MailServers::get();
    let web = tempfile::tempdir().unwrap();
    let cfg = write_web_config(web.path(), "first-secret");
    let port = silent_listener();
    let extra = format!(
        "\n[module.stall]\nserver = \"mail.lab.test\"\nconnect_to = [\"::127.0.0.1:{port}\"]\nonly = [\"imap/993\"]\n"
    );
    let exporter = start_args(
        s,
        "nobody@lab.test",
        &[],
        &extra,
        &["--web-config", cfg.to_str().unwrap()],
    );
    let dir = web.path();
    let addr = exporter.addr;
    for path in ["/metrics", "/", "/probe?target=sybil@lab.test", "/nowhere"] {
        let (code, body) = curl(dir, addr, path, None, &[]);
        assert_eq!(code, 401, "{path}: {body}");
        assert_eq!(body.lines().count(), 1, "{body}");
        assert_eq!(
            curl(dir, addr, path, Some("prom:wrong"), &[]).0,
            401,
            "{path}"
        );
        assert_eq!(
            curl(dir, addr, path, Some("eve:first-secret"), &[]).0,
            401,
            "{path}"
        );
    }
    let (code, body) = curl(dir, addr, "/metrics", Some("prom:first-secret"), &[]);
    assert_eq!(code, 200, "{body}");
    assert!(!body.contains("first-secret"));
    // HTTPS only: a plain HTTP request gets no HTTP answer.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("mailcheck_"),
        "{got:?}"
    );

    // A scrape in flight (a silent server: it answers at its 2.5 s deadline) survives a reload.
    let in_flight = {
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            curl(
                &dir,
                addr,
                "/probe?target=wendy@lab.test&module=stall",
                Some("prom:first-secret"),
                &["X-Prometheus-Scrape-Timeout-Seconds: 3"],
            )
        })
    };
    std::thread::sleep(Duration::from_millis(800));
    write_web_config(dir, "second-secret");
    // SAFETY: signals our own child.
    assert_eq!(
        unsafe { libc::kill(exporter.child.id() as i32, libc::SIGHUP) },
        0
    );
    let t0 = Instant::now();
    while curl(dir, addr, "/metrics", Some("prom:second-secret"), &[]).0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(5), "never reloaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        curl(dir, addr, "/metrics", Some("prom:first-secret"), &[]).0,
        401
    );
    let (code, body) = in_flight.join().unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("reason=\"tls.timeout\""), "{body}");
}

/// A changed --web-config is loaded without SIGHUP; a bad one keeps the one in force, with one
/// line on stderr.
#[test]
fn web_config_is_reloaded_when_the_file_changes() {
    let s = MailServers::get();
    let web = tempfile::tempdir().unwrap();
    let dir = web.path();
    let cfg = write_web_config(dir, "first-secret");
    let exporter = start_args(
        s,
        "nobody@lab.test",
        &[],
        "",
        &["--web-config", cfg.to_str().unwrap()],
    );
    let addr = exporter.addr;
    assert_eq!(
        curl(dir, addr, "/metrics", Some("prom:first-secret"), &[]).0,
        200
    );
    write_web_config(dir, "second-secret");
    let t0 = Instant::now();
    while curl(dir, addr, "/metrics", Some("prom:second-secret"), &[]).0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(15), "never reloaded");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        curl(dir, addr, "/metrics", Some("prom:first-secret"), &[]).0,
        401
    );
    assert!(
        exporter.log.lock().unwrap().contains("(changed)"),
        "{}",
        exporter.log.lock().unwrap()
    );

    // A file that does not parse: the second secret still works, and stderr says so once.
    std::fs::write(&cfg, "tls_server_config: [\n").unwrap();
    let t0 = Instant::now();
    while !exporter
        .log
        .lock()
        .unwrap()
        .contains("kept the web configuration")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "no word of the bad file"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Several more polls of the same bad file.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        curl(dir, addr, "/metrics", Some("prom:second-secret"), &[]).0,
        200
    );
    let log = exporter.log.lock().unwrap().clone();
    assert_eq!(
        log.matches("kept the web configuration").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("second-secret"), "{log}");

    // A new certificate and key (the file names the same paths) is a change too.
    std::fs::remove_file(dir.join("cert.pem")).unwrap();
    write_web_config(dir, "third-secret");
    let t0 = Instant::now();
    while curl(dir, addr, "/metrics", Some("prom:third-secret"), &[]).0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(15), "never reloaded");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every bad request is a 4xx with one line of reason, counted; a huge announced scrape timeout
/// is capped, not a panic; a repeated parameter takes its first value.
#[test]
fn bad_requests_are_refused_in_one_line_and_counted() {
    let s = MailServers::get();
    let exporter = start_args(s, "nobody@lab.test", &[], "", &["--probe-timeout", "4s"]);
    let addr = exporter.addr;
    let r = get(
        addr,
        "/probe?target=sybil@lab.test",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2e19")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sample(&r.body, "mailcheck_probe_deadline_seconds"), 4.0);
    // The first target counts (as blackbox_exporter): the account, not the other address.
    let r = get(
        addr,
        "/probe?target=sybil@lab.test&target=not-an-address",
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sample(&r.body, "mailcheck_success "), 1.0, "{}", r.body);
    let mut refused = 0;
    for (path, header, status) in [
        ("/probe?target=sybil@lab.test", "abc", 400),
        ("/probe?target=sybil@lab.test", "-3", 400),
        ("/probe?target=sybil@lab.test", "NaN", 400),
        ("/probe?target=%ZZ", "", 400),
        ("/nowhere", "", 404),
    ] {
        let h: Vec<(&str, &str)> = if header.is_empty() {
            vec![]
        } else {
            vec![("X-Prometheus-Scrape-Timeout-Seconds", header)]
        };
        let r = get(addr, path, &h);
        assert_eq!(r.status, status, "{path} {header}: {}", r.body);
        assert_eq!(r.body.lines().count(), 1, "{:?}", r.body);
        refused += 1;
    }
    let mut post = TcpStream::connect(addr).unwrap();
    post.write_all(
        b"POST /probe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut raw = String::new();
    post.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 405"), "{raw}");
    refused += 1;
    let m = get(addr, "/metrics", &[]);
    assert_eq!(
        sample(&m.body, "mailcheck_exporter_bad_requests_total"),
        refused as f64
    );
    promtool_accepts(&m.body);
}

/// 1,100 idle connections (more than --max-connections) do not keep a scrape out; a half-sent
/// request is closed after --idle-timeout.
#[test]
fn idle_connections_are_bounded_and_timed_out() {
    let s = MailServers::get();
    let exporter = start_args(
        s,
        "nobody@lab.test",
        &[],
        "",
        &["--max-connections", "200", "--idle-timeout", "2s"],
    );
    let addr = exporter.addr;
    let idle: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let t0 = Instant::now();
    let m = get(addr, "/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(sample(&m.body, "mailcheck_exporter_connections ") <= 200.0);
    drop(idle);

    let mut half = TcpStream::connect(addr).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 64];
    let n = half.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "{:?}", &buf[..n]);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // A keep-alive connection is closed after the idle timeout too.
    let mut keep = TcpStream::connect(addr).unwrap();
    keep.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    keep.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let t0 = Instant::now();
    let _ = keep.read_to_end(&mut raw);
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

/// A scrape whose client disconnects stops its probe: the exporter's connection to the
/// (silent) server is closed at once, not at the probe's deadline.
#[test]
fn a_client_that_disconnects_stops_its_probe() {
    let s = MailServers::get();
    let stall = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stall.local_addr().unwrap().port();
    let extra = format!(
        "\n[module.stall]\nserver = \"mail.lab.test\"\nconnect_to = [\"::127.0.0.1:{port}\"]\nonly = [\"imap/993\"]\n"
    );
    let exporter = start_args(
        s,
        "nobody@lab.test",
        &[],
        &extra,
        &["--probe-timeout", "20s"],
    );
    let mut client = TcpStream::connect(exporter.addr).unwrap();
    write!(
        client,
        "GET /probe?target=wendy@lab.test&module=stall HTTP/1.1\r\nHost: x\r\n\
         X-Prometheus-Scrape-Timeout-Seconds: 20\r\n\r\n"
    )
    .unwrap();
    let (mut probe, _) = stall.accept().unwrap();
    drop(client);
    probe
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t0 = Instant::now();
    // The exporter's ClientHello, then EOF (or a reset) when it gives up the connection.
    let mut sink = Vec::new();
    let _ = probe.read_to_end(&mut sink);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

/// Listening beyond loopback without --web-config warns.
#[test]
fn listening_beyond_loopback_in_plain_http_warns() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = String::new();
    stderr.read_line(&mut lines).unwrap();
    stderr.read_line(&mut lines).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.contains("warning: listening on 0.0.0.0:"), "{lines}");
    assert!(lines.contains("--web-config"), "{lines}");
}

/// A checks file with no server in `[defaults]`: a module that discovers (here: probes the
/// target's own domain) and an account that names its server.
fn open_checks_file(s: &MailServers, dir: &std::path::Path, head: &str) -> std::path::PathBuf {
    let rules: Vec<String> = [(993, s.imaps), (465, s.smtps)]
        .iter()
        .map(|(l, r)| format!("\"{}:{l}:{}:{r}\"", s.tls_name, s.ip))
        .collect();
    let rules = format!("[{}]", rules.join(", "));
    let cfg = dir.join("checks.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"{head}
[module.open]
discover = false
connect_to = {rules}
ca_file = "{ca}"
only = ["imap/993", "smtp/465"]

[[account]]
name = "sybil"
address = "sybil@lab.test"
server = "{server}"
connect_to = {rules}
ca_file = "{ca}"
only = ["imap/993", "smtp/465"]
"#,
            ca = s.ca_pem.display(),
            server = s.tls_name,
        ),
    )
    .unwrap();
    cfg
}

/// By default a request may name only the checks file's accounts and the modules that name
/// their server; anything else needs --allow-target or allow_targets, and is refused before
/// any resolution or connection.
#[test]
fn targets_beyond_the_checks_file_need_allow_target() {
    let s = MailServers::get();
    let other = format!("trent@{}", s.tls_name);
    // Without a pattern.
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_checks_file(s, dir.path(), "");
    let exporter = spawn_exporter(dir, &[], &["--config", cfg.to_str().unwrap()]);
    let r = get(exporter.addr, "/probe?target=sybil", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sample(&r.body, "mailcheck_success "), 1.0, "{}", r.body);
    assert_eq!(
        get(exporter.addr, "/probe?target=sybil@lab.test", &[]).status,
        200
    );
    for path in [
        format!("/probe?target={other}&module=open"),
        format!("/probe?target={other}"),
        "/probe?target=x@127.0.0.1".to_string(),
        "/probe?target=x@[127.0.0.1]".to_string(),
    ] {
        let r = get(exporter.addr, &path, &[]);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("--allow-target"), "{}", r.body);
        assert_eq!(r.body.lines().count(), 1);
    }
    drop(exporter);

    // allow_targets in the file, and --allow-target on the command line, on the domain.
    for (head, args) in [
        (format!("allow_targets = [\"*@{}\"]\n", s.tls_name), vec![]),
        (String::new(), vec!["--allow-target", "MAIL.lab.test"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = open_checks_file(s, dir.path(), &head);
        let mut all = vec!["--config", cfg.to_str().unwrap()];
        all.extend(args);
        let exporter = spawn_exporter(dir, &[], &all);
        let r = get(
            exporter.addr,
            &format!("/probe?target={other}&module=open"),
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(sample(&r.body, "mailcheck_success "), 1.0, "{}", r.body);
        let r = get(
            exporter.addr,
            "/probe?target=x@elsewhere.test&module=open",
            &[],
        );
        assert_eq!(r.status, 403, "{}", r.body);
    }

    // Without a checks file, only --allow-target targets.
    let exporter = spawn_exporter(tempfile::tempdir().unwrap(), &[], &[]);
    let r = get(exporter.addr, &format!("/probe?target={other}"), &[]);
    assert_eq!(r.status, 403, "{}", r.body);
}

/// GET /sd lists the checks file's accounts in Prometheus HTTP SD format.
#[test]
fn sd_lists_the_accounts() {
    let s = MailServers::get();
    let exporter = start(s, "nobody@lab.test", &[]);
    let r = get(exporter.addr, "/sd", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.headers.contains("content-type: application/json"),
        "{}",
        r.headers
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "targets": ["sybil"],
            "labels": {"account": "sybil", "address": "sybil@lab.test"}
        }])
    );
    // Each target is one /probe?target= the exporter answers.
    let r = get(exporter.addr, "/probe?target=sybil", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(sample(&r.body, "mailcheck_success "), 1.0, "{}", r.body);
}

/// An `Accept` naming OpenMetrics (as Prometheus sends) gets OpenMetrics; anything else text
/// 0.0.4.
#[test]
fn the_exposition_format_follows_accept() {
    let s = MailServers::get();
    let exporter = start(s, "nobody@lab.test", &[]);
    let accept = (
        "Accept",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    );
    let r = get(exporter.addr, "/probe?target=sybil", &[accept]);
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{}",
        r.headers
    );
    assert!(r.body.ends_with("# EOF\n"), "{}", r.body);
    assert_eq!(sample(&r.body, "mailcheck_success "), 1.0);
    let m = get(exporter.addr, "/metrics", &[accept]);
    assert!(
        m.body
            .contains("# TYPE mailcheck_exporter_probes counter\n"),
        "{}",
        m.body
    );
    assert_eq!(
        sample(
            &m.body,
            "mailcheck_exporter_probes_total{result=\"success\"}"
        ),
        1.0
    );
    let m = get(exporter.addr, "/metrics", &[]);
    assert!(m
        .headers
        .contains("content-type: text/plain; version=0.0.4"));
    assert!(!m.body.contains("# EOF"));
    promtool_accepts(&m.body);
}

/// A web configuration without TLS, or with a client_auth_type that verifies nothing, is refused
/// at start: --web-config serves HTTPS only.
#[test]
fn a_web_config_without_verified_tls_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_web_config(dir.path(), "pw");
    let good = std::fs::read_to_string(&cfg).unwrap();
    let users = good.split_once("basic_auth_users:").unwrap().1;
    for (text, says) in [
        (
            format!("basic_auth_users:{users}"),
            "tls_server_config is missing",
        ),
        (
            good.replace(
                "  min_version: TLS12\n",
                "  client_auth_type: RequireAnyClientCert\n",
            ),
            "client_auth_type",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_mailcheck"))
            .args(["serve", "--listen", "127.0.0.1:0", "--web-config"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(says), "{err}");
    }
}

/// mTLS: with client_auth_type RequireAndVerifyClientCert, a client without a certificate of
/// client_ca_file gets no answer; with one (and basic auth), it does.
#[test]
fn web_config_requires_a_client_certificate_of_the_ca() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let s = MailServers::get();
    let web = tempfile::tempdir().unwrap();
    let dir = web.path();
    let cfg = write_web_config(dir, "pw");
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    std::fs::write(
        dir.join("client-ca.pem"),
        ca.self_signed(&ca_key).unwrap().pem(),
    )
    .unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["prometheus".to_string()]).unwrap();
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    std::fs::write(
        dir.join("client.pem"),
        leaf.signed_by(&key, &issuer).unwrap().pem(),
    )
    .unwrap();
    std::fs::write(dir.join("client.key"), key.serialize_pem()).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "  min_version: TLS12\n",
        "  min_version: TLS13\n  client_ca_file: client-ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let exporter = start_args(
        s,
        "nobody@lab.test",
        &[],
        "",
        &["--web-config", cfg.to_str().unwrap()],
    );
    let cert = |c: &str, k: &str| {
        vec![
            format!("conf:cert = \"{}\"", dir.join(c).display()),
            format!("conf:key = \"{}\"", dir.join(k).display()),
        ]
    };
    let none: Vec<String> = vec![];
    let good = cert("client.pem", "client.key");
    // A certificate of another CA: the server's own, self-signed.
    let other = cert("cert.pem", "key.pem");
    for (conf, want) in [(&none, 0), (&other, 0), (&good, 200)] {
        let conf: Vec<&str> = conf.iter().map(|s| s.as_str()).collect();
        let (code, body) = curl(dir, exporter.addr, "/metrics", Some("prom:pw"), &conf);
        assert_eq!(code, want, "{conf:?}: {body}");
    }
    let conf: Vec<&str> = good.iter().map(|s| s.as_str()).collect();
    assert_eq!(curl(dir, exporter.addr, "/metrics", None, &conf).0, 401);
}
