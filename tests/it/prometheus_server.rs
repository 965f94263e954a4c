//! A real Prometheus server (Debian's `prometheus`, installed by scripts/install-test-deps with
//! promtool) started on loopback scrapes a `mailcheck serve` exporter through the
//! blackbox-style relabelling (`/probe?target=...`), evaluates the shipped alert rules
//! (packaging/prometheus/mailcheck.rules.yml), and the test reads the results back through
//! Prometheus's HTTP API: one account on the test Dovecot/Postfix works, the other one's
//! secret is wrong, so its logins fail with `reason="auth.rejected"`.
//!
//! The Prometheus configuration is built from [`ScrapeJob`]s so that TLS, basic auth and
//! `http_sd_configs` can be added to a job without touching the rest.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::servers::MailServers;

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A child process killed (and reaped) when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mailcheck serve` on 127.0.0.1 with a checks file of two accounts on the test servers.
struct Exporter {
    _child: Running,
    addr: SocketAddr,
}

fn connect_to(s: &MailServers) -> String {
    let rules: Vec<String> = [
        (993, s.imaps),
        (143, s.imap),
        (995, s.pop3s),
        (110, s.pop3),
        (465, s.smtps),
        (587, s.submission),
    ]
    .iter()
    .map(|(l, r)| format!("\"{}:{l}:{}:{r}\"", s.tls_name, s.ip))
    .collect();
    format!("[{}]", rules.join(", "))
}

/// The checks file names where each secret comes from (an environment variable); the values
/// are given to the exporter's environment only. With `web_config`, the exporter serves HTTPS
/// with the basic auth that file gives.
fn start_exporter(
    dir: &Path,
    s: &MailServers,
    accounts: &[(&str, &str, &str)],
    web_config: Option<&Path>,
) -> Exporter {
    let mut text = format!(
        r#"
[defaults]
server = "{server}"
connect_to = {rules}
ca_file = "{ca}"
connect_timeout = "2s"
timeout = "5s"
"#,
        server = s.tls_name,
        rules = connect_to(s),
        ca = s.ca_pem.display(),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailcheck"));
    for (i, (name, address, secret)) in accounts.iter().enumerate() {
        let var = format!("MC_PROM_PASSWORD_{i}");
        text.push_str(&format!(
            "\n[[account]]\nname = \"{name}\"\naddress = \"{address}\"\npassword_env = \"{var}\"\n"
        ));
        cmd.env(var, secret);
    }
    let cfg = dir.join("mailcheck.toml");
    std::fs::write(&cfg, text).unwrap();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .env_remove("MAILCHECK_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(web) = web_config {
        cmd.arg("--web-config").arg(web);
    }
    let scheme = if web_config.is_some() {
        "https"
    } else {
        "http"
    };
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let child = Running(child);
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix(&format!("mailcheck serve: listening on {scheme}://"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback());
    // Keep draining stderr so the exporter never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = stderr.read_to_string(&mut sink);
    });
    Exporter {
        _child: child,
        addr,
    }
}

/// One `scrape_configs` entry.
struct ScrapeJob {
    name: &'static str,
    metrics_path: &'static str,
    interval: Duration,
    /// Static targets; for a probe job, the addresses handed to `/probe?target=`.
    targets: Vec<String>,
    /// For a probe job: the exporter every target is relabelled to (blackbox style).
    probe_via: Option<SocketAddr>,
}

impl ScrapeJob {
    fn yaml(&self) -> String {
        let secs = self.interval.as_secs();
        let targets: Vec<String> = self.targets.iter().map(|t| format!("'{t}'")).collect();
        let mut y = format!(
            "  - job_name: {name}\n    metrics_path: {path}\n    scrape_interval: {secs}s\n    \
             scrape_timeout: {secs}s\n    static_configs:\n      - targets: [{targets}]\n",
            name = self.name,
            path = self.metrics_path,
            targets = targets.join(", "),
        );
        if let Some(exporter) = self.probe_via {
            y.push_str(&format!(
                "    relabel_configs:\n      \
                 - {{source_labels: [__address__], target_label: __param_target}}\n      \
                 - {{source_labels: [__param_target], target_label: instance}}\n      \
                 - {{target_label: __address__, replacement: '{exporter}'}}\n"
            ));
        }
        y
    }
}

struct Prometheus {
    child: Running,
    addr: SocketAddr,
    log: PathBuf,
}

/// A port free on 127.0.0.1 a moment ago (Prometheus takes no port 0 and announces nothing).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    /// Starts Prometheus with these jobs and rules, its storage in `dir`.
    fn start(dir: &Path, jobs: &[ScrapeJob], rule_files: &[PathBuf]) -> Prometheus {
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - '{}'\n", p.display()))
            .collect();
        let config = format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n{}scrape_configs:\n{}",
            rules.concat(),
            jobs.iter().map(ScrapeJob::yaml).collect::<String>()
        );
        Prometheus::start_config(dir, &config)
    }

    /// Starts Prometheus on 127.0.0.1 with this configuration; waits until it is ready.
    fn start_config(dir: &Path, config: &str) -> Prometheus {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is missing: run scripts/install-test-deps (Debian package prometheus)"
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let log = dir.join("prometheus.log");
        // The port was free a moment ago; if another process took it meanwhile, try another.
        for _ in 0..3 {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let child = Command::new(PROMETHEUS)
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let mut p = Prometheus {
                child: Running(child),
                addr,
                log: log.clone(),
            };
            let until = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(r) = try_get(addr, "/-/ready") {
                    if r.starts_with("HTTP/1.1 200") {
                        return p;
                    }
                }
                if let Some(status) = p.child.0.try_wait().unwrap() {
                    let said = p.log_text();
                    assert!(
                        said.contains("address already in use"),
                        "prometheus exited ({status})\n{config}\n{said}"
                    );
                    break;
                }
                assert!(
                    Instant::now() < until,
                    "prometheus not ready within 60 s\n{config}\n{}",
                    p.log_text()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        panic!("prometheus found no free port on 127.0.0.1 in 3 tries");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/v1/PATH`: the `data` of a successful answer.
    fn api(&self, path_and_query: &str) -> Value {
        let raw = try_get(self.addr, &format!("/api/v1/{path_and_query}"))
            .unwrap_or_else(|| panic!("prometheus API {path_and_query}: no answer"));
        let (head, body) = raw.split_once("\r\n\r\n").expect("no end of headers");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("prometheus API {path_and_query}: {e}: {body}"));
        assert_eq!(v["status"], "success", "{path_and_query}: {v}");
        v["data"].clone()
    }

    /// An instant query's samples as (labels, value).
    fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let data = self.api(&format!("query?query={}", percent_encode(promql)));
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let v: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
                (s["metric"].clone(), v)
            })
            .collect()
    }

    /// Polls `promql` until `done` holds for its samples (scrapes and rule evaluations run on
    /// their own schedule).
    fn wait_for(
        &self,
        promql: &str,
        within: Duration,
        done: impl Fn(&[(Value, f64)]) -> bool,
    ) -> Vec<(Value, f64)> {
        let until = Instant::now() + within;
        loop {
            let samples = self.query(promql);
            if done(&samples) {
                return samples;
            }
            if Instant::now() > until {
                let targets = self.api("targets");
                panic!(
                    "{promql}: not as expected within {within:?}: {samples:?}\ntargets: {targets}\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A minimal HTTP/1.1 GET to a loopback server: the raw answer, or None if it cannot connect.
fn try_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    Some(String::from_utf8(raw).unwrap())
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

fn rules_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus/mailcheck.rules.yml")
}

fn label<'a>(labels: &'a Value, name: &str) -> &'a str {
    labels[name].as_str().unwrap_or("")
}

#[test]
fn prometheus_scrapes_the_exporter_and_sees_reasons() {
    let s = MailServers::get();
    let good = s.user("prom-good");
    let bad = s.user("prom-bad");
    let dir = tempfile::tempdir().unwrap();
    let exporter = start_exporter(
        dir.path(),
        s,
        &[
            ("good", &good.address, &good.password),
            ("bad", &bad.address, "wrong-secret"),
        ],
        None,
    );
    let jobs = [
        ScrapeJob {
            name: "mailcheck",
            metrics_path: "/probe",
            interval: Duration::from_secs(5),
            targets: vec![good.address.clone(), bad.address.clone()],
            probe_via: Some(exporter.addr),
        },
        ScrapeJob {
            name: "mailcheck_exporter",
            metrics_path: "/metrics",
            interval: Duration::from_secs(5),
            targets: vec![exporter.addr.to_string()],
            probe_via: None,
        },
    ];
    let prom = Prometheus::start(dir.path(), &jobs, &[rules_file()]);
    let within = Duration::from_secs(90);

    // The working account: every combination of the test servers works.
    let ok = prom.wait_for(
        &format!(
            "mailcheck_probe_success{{job=\"mailcheck\",instance=\"{}\"}}",
            good.address
        ),
        within,
        |v| !v.is_empty(),
    );
    let combos: Vec<String> = ok
        .iter()
        .map(|(l, v)| {
            assert_eq!(*v, 1.0, "{l}");
            assert_eq!(label(l, "server"), s.tls_name);
            format!("{}/{}", label(l, "protocol"), label(l, "port"))
        })
        .collect();
    for c in [
        "imap/993", "imap/143", "pop3/995", "pop3/110", "smtp/465", "smtp/587",
    ] {
        assert!(combos.iter().any(|x| x == c), "{c} not in {combos:?}");
    }
    let good_failures = prom.query(&format!(
        "mailcheck_failure_info{{instance=\"{}\"}}",
        good.address
    ));
    assert!(good_failures.is_empty(), "{good_failures:?}");

    // The account with a wrong secret: its logins fail, and the reason is a label.
    let failures = prom.wait_for(
        &format!("mailcheck_failure_info{{instance=\"{}\"}}", bad.address),
        within,
        |v| !v.is_empty(),
    );
    // One login is tried with the wrong secret (the exporter's lockout gate holds the other
    // combinations back rather than repeating a refused secret): that combination fails.
    let refused: Vec<&Value> = failures
        .iter()
        .filter(|(l, v)| {
            *v == 1.0 && label(l, "reason") == "auth.rejected" && label(l, "step") == "auth"
        })
        .map(|(l, _)| l)
        .collect();
    assert!(!refused.is_empty(), "{failures:?}");
    for l in refused {
        let combo = prom.query(&format!(
            "mailcheck_probe_success{{instance=\"{}\",protocol=\"{}\",port=\"{}\",security=\"{}\"}}",
            bad.address,
            label(l, "protocol"),
            label(l, "port"),
            label(l, "security")
        ));
        assert_eq!(combo.len(), 1, "{combo:?}");
        assert_eq!(combo[0].1, 0.0, "{combo:?}");
    }
    // The exporter's own metrics are scraped, and no scrape failed.
    let served = prom.wait_for(
        "mailcheck_exporter_probes_total{job=\"mailcheck_exporter\",result=\"failure\"}",
        within,
        |v| v.iter().any(|(_, n)| *n >= 1.0),
    );
    assert_eq!(served.len(), 1, "{served:?}");
    let up = prom.query("up");
    assert_eq!(up.len(), 3, "{up:?}");
    assert!(up.iter().all(|(_, v)| *v == 1.0), "{up:?}");

    // The shipped rules load and evaluate against these series: the refused login is an alert
    // (pending: the rule waits `for: 5m`), with the reason among its labels.
    let rules = prom.api("rules");
    let loaded: Vec<&Value> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(loaded.len(), 7, "{rules}");
    for r in &loaded {
        assert_eq!(r["health"], "ok", "{r}");
    }
    let until = Instant::now() + within;
    loop {
        let alerts = prom.api("alerts");
        let login_refused = alerts["alerts"].as_array().unwrap().iter().any(|a| {
            let l = &a["labels"];
            label(l, "alertname") == "MailLoginRefused"
                && label(l, "instance") == bad.address
                && label(l, "reason") == "auth.rejected"
        });
        let others: Vec<&Value> = alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| label(&a["labels"], "instance") == good.address)
            .collect();
        assert!(others.is_empty(), "the working account alerts: {others:?}");
        if login_refused {
            break;
        }
        assert!(
            Instant::now() < until,
            "no MailLoginRefused alert: {alerts}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The wrong secret was tried, and no answer Prometheus stored carries a secret.
    assert!(s.failed_logins(&bad.address) >= 1);
    let stored = prom.api("series?match[]=%7Bjob%3D~%22mailcheck.%2A%22%7D");
    let stored = stored.to_string();
    assert!(!stored.contains("wrong-secret") && !stored.contains(&good.password));
}

const PROMTOOL: &str = "/usr/bin/promtool";

/// `text` with every `from` replaced; `from` must be there (the documented example and the
/// test stay one file).
fn fill(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is no longer in sharded.yml");
    text.replace(from, to)
}

/// A CA and a certificate for 127.0.0.1 signed by it, a random password for the user
/// `prometheus`, and the exporter's --web-config (HTTPS with that user's bcrypt hash).
struct Tls {
    ca: PathBuf,
    password_file: PathBuf,
    web_config: PathBuf,
    password: String,
}

fn make_tls(dir: &Path) -> Tls {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    std::fs::write(
        dir.join("exporter.pem"),
        leaf.signed_by(&key, &issuer).unwrap().pem(),
    )
    .unwrap();
    std::fs::write(dir.join("exporter.key"), key.serialize_pem()).unwrap();
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let password_file = dir.join("mailcheck.password");
    std::fs::write(&password_file, &password).unwrap();
    // bcrypt cost 4: fast enough for a test.
    let hash = bcrypt::hash(&password, 4).unwrap();
    let web_config = dir.join("web.yml");
    std::fs::write(
        &web_config,
        format!(
            "tls_server_config:\n  cert_file: exporter.pem\n  key_file: exporter.key\n\
             basic_auth_users:\n  prometheus: '{hash}'\n"
        ),
    )
    .unwrap();
    Tls {
        ca: ca_path,
        password_file,
        web_config,
        password,
    }
}

/// Two exporters with one checks file, each behind HTTPS and basic auth; Prometheus runs the
/// documented packaging/prometheus/sharded.yml: it discovers the accounts from each exporter's
/// /sd, keeps its shard with `hashmod` and probes it through that exporter.
#[test]
fn two_exporters_share_the_accounts_through_sd_and_hashmod() {
    let s = MailServers::get();
    // Shards (md5 of the name, modulus 2): working and amy 1, failing and ben 0.
    let working = s.user("prom-shard-working");
    let failing = s.user("prom-shard-failing");
    let amy = s.user("prom-shard-amy");
    let ben = s.user("prom-shard-ben");
    let accounts = [
        (
            "working",
            working.address.as_str(),
            working.password.as_str(),
        ),
        ("failing", failing.address.as_str(), "wrong-secret"),
        ("amy", amy.address.as_str(), amy.password.as_str()),
        ("ben", ben.address.as_str(), ben.password.as_str()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let tls = make_tls(dir.path());
    let exporters: Vec<Exporter> = (0..2)
        .map(|i| {
            let own = dir.path().join(format!("exporter-{i}"));
            std::fs::create_dir(&own).unwrap();
            start_exporter(&own, s, &accounts, Some(&tls.web_config))
        })
        .collect();

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus/sharded.yml");
    let mut config = std::fs::read_to_string(example).unwrap();
    for (from, to) in [
        (
            "mailcheck-0.example.net:9728",
            exporters[0].addr.to_string(),
        ),
        (
            "mailcheck-1.example.net:9728",
            exporters[1].addr.to_string(),
        ),
        (
            "/etc/prometheus/mailcheck-ca.crt",
            tls.ca.display().to_string(),
        ),
        (
            "/etc/prometheus/mailcheck.password",
            tls.password_file.display().to_string(),
        ),
        (
            "/usr/share/mailcheck/prometheus/mailcheck.rules.yml",
            rules_file().display().to_string(),
        ),
        ("scrape_interval: 1m", "scrape_interval: 5s".into()),
        ("scrape_timeout: 20s", "scrape_timeout: 5s".into()),
        ("evaluation_interval: 1m", "evaluation_interval: 1s".into()),
    ] {
        config = fill(config, from, &to);
    }
    let checked = dir.path().join("sharded.yml");
    std::fs::write(&checked, &config).unwrap();
    let out = Command::new(PROMTOOL)
        .args(["check", "config"])
        .arg(&checked)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let prom = Prometheus::start_config(dir.path(), &config);
    let within = Duration::from_secs(90);

    // Every account is probed, by exactly one job, and both jobs have some.
    let per_job = prom.wait_for(
        "count by (job, instance) (mailcheck_success)",
        within,
        |v| v.len() >= accounts.len(),
    );
    let mut jobs: Vec<&str> = per_job.iter().map(|(l, _)| label(l, "job")).collect();
    let mut instances: Vec<&str> = per_job.iter().map(|(l, _)| label(l, "instance")).collect();
    instances.sort();
    assert_eq!(
        instances,
        ["amy", "ben", "failing", "working"],
        "{per_job:?}"
    );
    jobs.sort();
    jobs.dedup();
    assert_eq!(jobs, ["mailcheck_0", "mailcheck_1"], "{per_job:?}");
    // Each job scrapes its own exporter, over HTTPS, and the other shard is dropped.
    let targets = prom.api("targets");
    let active = targets["activeTargets"].as_array().unwrap();
    for (i, exporter) in exporters.iter().enumerate() {
        let job = format!("mailcheck_{i}");
        let mine: Vec<&Value> = active
            .iter()
            .filter(|t| label(&t["labels"], "job") == job)
            .collect();
        assert!(!mine.is_empty(), "{targets}");
        for t in mine {
            let url = t["scrapeUrl"].as_str().unwrap();
            assert!(
                url.starts_with(&format!("https://{}/probe?", exporter.addr)),
                "{url}"
            );
            assert_eq!(t["health"], "up", "{t}");
        }
    }
    let dropped = targets["droppedTargets"].as_array().unwrap().len();
    assert_eq!(dropped, accounts.len(), "{targets}");

    // The working account: every combination works.
    let ok = prom.wait_for(
        "mailcheck_probe_success{instance=\"working\"}",
        within,
        |v| v.len() >= 6,
    );
    for (l, v) in &ok {
        assert_eq!(*v, 1.0, "{l}");
        assert_eq!(label(l, "server"), s.tls_name);
    }
    assert!(prom
        .query("mailcheck_failure_info{instance=\"working\"}")
        .is_empty());
    // The account with a wrong secret: the combination that tried it fails with the reason.
    let failures = prom.wait_for(
        "mailcheck_failure_info{instance=\"failing\",reason=\"auth.rejected\",step=\"auth\"}",
        within,
        |v| !v.is_empty(),
    );
    for (l, _) in &failures {
        let combo = prom.query(&format!(
            "mailcheck_probe_success{{instance=\"failing\",protocol=\"{}\",port=\"{}\",security=\"{}\"}}",
            label(l, "protocol"),
            label(l, "port"),
            label(l, "security")
        ));
        assert_eq!(combo.len(), 1, "{combo:?}");
        assert_eq!(combo[0].1, 0.0, "{combo:?}");
    }
    // The other combinations did not verify the login (skipped after the refusal): none is a
    // success.
    let failing = prom.query("mailcheck_probe_success{instance=\"failing\"}");
    assert!(failing.len() >= 6, "{failing:?}");
    assert!(failing.iter().all(|(_, v)| *v == 0.0), "{failing:?}");
    // Both exporters' own /metrics are scraped over HTTPS with basic auth, and each served
    // probes.
    let served = prom.wait_for(
        "sum by (instance) (mailcheck_exporter_probes_total{job=\"mailcheck_exporter\"})",
        within,
        |v| v.len() == 2 && v.iter().all(|(_, n)| *n >= 1.0),
    );
    assert_eq!(served.len(), 2, "{served:?}");
    let up = prom.query("up");
    assert_eq!(up.len(), accounts.len() + 2, "{up:?}");
    assert!(up.iter().all(|(_, v)| *v == 1.0), "{up:?}");
    // No secret reached Prometheus's storage.
    let stored = prom
        .api("series?match[]=%7Bjob%3D~%22mailcheck.%2A%22%7D")
        .to_string();
    for secret in ["wrong-secret", &working.password, &tls.password] {
        assert!(!stored.contains(secret));
    }
}
