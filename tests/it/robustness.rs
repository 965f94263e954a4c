//! Robustness whatever the input and the environment: words that would drive a terminal are
//! printed escaped in every text format; one bad line of a batch file is that line's result,
//! not the end of the batch; files that never end or are not files are refused; a closed or
//! full stdout/stderr never makes mailcheck panic; the lab takes its ports where it is told
//! and cleans up on SIGTERM.
//!
//! Every run stays on loopback: the built-in lab on 127.0.0.1, or `--connect-to` and
//! `--dns-server` to a closed port on 127.0.0.1.

use crate::support;

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mailcheck::lab::{Lab, LabConfig, Scenario};
use support::servers::closed_port;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("mailcheck")
}

fn mailcheck() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Run to the end, killed (and failed) after `limit`.
fn run(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{cmd:?} still running after {:?}", started.elapsed());
        }
    }
}

/// Flags that keep a run on loopback: every connection and DNS query to a closed port.
fn loopback_only() -> Vec<String> {
    let port = closed_port(LOOPBACK);
    vec![
        "--connect-to".into(),
        format!("::127.0.0.1:{port}"),
        "--dns-server".into(),
        format!("127.0.0.1:{port}"),
        "--connect-timeout".into(),
        "1s".into(),
    ]
}

struct Env {
    lab: Lab,
    _rt: tokio::runtime::Runtime,
}

impl Env {
    fn start(scenario: Scenario) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let lab = rt
            .block_on(Lab::start(LabConfig {
                scenario,
                ..LabConfig::default()
            }))
            .unwrap();
        Env { lab, _rt: rt }
    }

    fn password_command(&self) -> String {
        format!("cat {}", self.lab.password_path().display())
    }
}

/// The bytes that would drive a terminal: ESC, a bare CR, U+202E in UTF-8.
fn assert_no_terminal_control(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !bytes.contains(&0x1b),
        "{what}: ESC reached the terminal:\n{text}"
    );
    assert!(
        !bytes.windows(3).any(|w| w == "\u{202e}".as_bytes()),
        "{what}: U+202E reached the terminal:\n{text}"
    );
    // A CR is only ever the end of a line, never inside one (CRLF is not used either).
    assert!(
        !bytes.contains(&b'\r'),
        "{what}: CR reached the terminal:\n{text}"
    );
}

#[test]
fn hostile_words_and_names_are_printed_escaped() {
    let env = Env::start(Scenario::HostileWords);
    let pw = env.password_command();
    let mut outputs = vec![];
    for extra in [
        &["--format", "table", "--trace", "--color", "never"][..],
        &["--format", "nagios"],
        &["--card"],
    ] {
        let mut cmd = mailcheck();
        cmd.args(["probe", "alice@lab.test"])
            .args(env.lab.probe_args())
            .args(["--password-command", &pw, "--connect-timeout", "2s"])
            .args(extra);
        outputs.push((
            format!("probe {extra:?}"),
            run(cmd, Duration::from_secs(60)),
        ));
    }
    // Account names come from the checks file: the same words, in TOML escapes.
    let dir = tempfile::tempdir().unwrap();
    let checks = dir.path().join("checks.toml");
    let rules: Vec<String> = env
        .lab
        .connect_to_rules()
        .iter()
        .map(|r| format!("{r:?}"))
        .collect();
    std::fs::write(
        &checks,
        format!(
            "[[account]]\nname = \"evil\\u001b[31m\\rname\\u202Eexe\"\naddress = \"alice@lab.test\"\n\
             server = \"{}\"\nca_file = \"{}\"\nconnect_to = [{}]\npassword_command = \"{pw}\"\n\
             expect = [\"imap/993/tls\"]\n",
            env.lab.tls_name(),
            env.lab.ca_path().display(),
            rules.join(", ")
        ),
    )
    .unwrap();
    for format in ["table", "nagios"] {
        let mut cmd = mailcheck();
        cmd.args(["check", "--config"])
            .arg(&checks)
            .args(["--format", format]);
        outputs.push((format!("check {format}"), run(cmd, Duration::from_secs(60))));
    }
    for (what, out) in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "{what}: {:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_no_terminal_control(what, &out.stdout);
        assert_no_terminal_control(&format!("{what} (stderr)"), &out.stderr);
    }
    // The words are shown, escaped: the refusal in the table, the greeting in the trace, the
    // account's name in `check`.
    let shown = |i: usize| String::from_utf8_lossy(&outputs[i].1.stdout).into_owned();
    assert!(
        shown(0).contains(r"\u{1b}[31mred\rover\u{202e}desrever"),
        "{}",
        shown(0)
    );
    assert!(
        shown(0).contains(r"mailcheck lab ready. \u{1b}[31m"),
        "{}",
        shown(0)
    );
    for i in [3, 4] {
        assert!(
            shown(i).contains(r"evil\u{1b}[31m\rname\u{202e}exe"),
            "{}",
            shown(i)
        );
    }
}

#[test]
fn a_bad_line_of_a_batch_is_that_lines_result_and_the_others_run() {
    let env = Env::start(Scenario::Good);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(
        &list,
        b"alice@lab.test\n  a@b@lab.test # two ats\n\xff\xfe@lab.test\n\n# only a comment\nalice@lab.test\n",
    )
    .unwrap();
    let mut cmd = mailcheck();
    cmd.args(["batch", "--format", "jsonl", "--from"])
        .arg(&list)
        .args(env.lab.probe_args());
    let out = run(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        4,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = list.display();
    let unknown: Vec<&str> = lines
        .iter()
        .filter(|l| l["status"] == "unknown")
        .map(|l| l["error"].as_str().unwrap())
        .collect();
    assert_eq!(unknown.len(), 2, "{stdout}");
    assert!(
        unknown
            .iter()
            .any(|e| e.starts_with(&format!("{shown}:2:3: \"a@b@lab.test\""))),
        "{unknown:?}"
    );
    assert!(
        unknown.contains(&format!("{shown}:3: not UTF-8").as_str()),
        "{unknown:?}"
    );
    // Both good lines were probed against the lab.
    let probed: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["report"].is_object()).collect();
    assert_eq!(probed.len(), 2, "{stdout}");
    for p in probed {
        assert_eq!(p["account"], "alice@lab.test");
        assert_eq!(p["report"]["results"].as_array().unwrap().len(), 6);
    }
    assert_eq!(
        out.status.code(),
        Some(3),
        "an UNKNOWN line makes the run UNKNOWN"
    );
}

/// Runs that must be refused at once with exit 3 and a message naming the problem.
fn assert_refused(args: &[&std::ffi::OsStr], stdin: Stdio, says: &str) {
    let mut cmd = mailcheck();
    cmd.args(args).stdin(stdin);
    let started = Instant::now();
    let out = run(cmd, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "{args:?}");
}

#[test]
fn files_that_are_not_files_or_never_end_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Sparse files: larger than the bounds, and cheap.
    let big_checks = dir.path().join("big.toml");
    std::fs::File::create(&big_checks)
        .unwrap()
        .set_len(5 << 20)
        .unwrap();
    let big_list = dir.path().join("big.txt");
    std::fs::File::create(&big_list)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let not_a_file = "not a regular file";
    for (args, says) in [
        (
            vec![os("check"), os("--config"), os("/dev/zero")],
            not_a_file,
        ),
        (
            vec![os("check"), os("--config"), fifo.as_os_str()],
            not_a_file,
        ),
        (
            vec![os("check"), os("--config"), dir.path().as_os_str()],
            not_a_file,
        ),
        (
            vec![os("check"), os("--config"), big_checks.as_os_str()],
            "larger than 4 MiB",
        ),
        (vec![os("batch"), os("--from"), os("/dev/zero")], not_a_file),
        (
            vec![os("batch"), os("--from"), fifo.as_os_str()],
            not_a_file,
        ),
        (
            vec![os("batch"), os("--from"), big_list.as_os_str()],
            "larger than 64 MiB",
        ),
    ] {
        assert_refused(&args, Stdio::null(), says);
    }
    // stdin is read up to the bound, then refused.
    assert_refused(
        &[os("batch"), os("--from"), os("-")],
        Stdio::from(std::fs::File::open("/dev/zero").unwrap()),
        "stdin: larger than 64 MiB",
    );
}

/// Every subcommand, each run kept on loopback and short.
fn every_subcommand(dir: &std::path::Path) -> Vec<(&'static str, Vec<String>)> {
    let lo = loopback_only();
    let closed = closed_port(LOOPBACK);
    let checks = dir.join("checks.toml");
    std::fs::write(
        &checks,
        format!(
            "[[account]]\nname = \"a\"\naddress = \"alice@lab.test\"\nserver = \"mail.lab.test\"\n\
             connect_to = [\"::127.0.0.1:{closed}\"]\ndns_server = \"127.0.0.1:{closed}\"\n\
             connect_timeout = \"1s\"\n"
        ),
    )
    .unwrap();
    let bin = bin().display().to_string();
    let with = |words: &[&str], extra: &[String]| {
        let mut v: Vec<String> = vec!["timeout".into(), "-k".into(), "5".into(), "30".into()];
        v.push(bin.clone());
        v.extend(words.iter().map(|w| w.to_string()));
        v.extend(extra.iter().cloned());
        v
    };
    let server = ["--server".to_string(), "mail.lab.test".to_string()];
    let discovery = [
        "--ispdb-url".to_string(),
        "https://ispdb.test/v1.1/".to_string(),
        "--discovery-timeout".to_string(),
        "2s".to_string(),
    ];
    let mut serve = vec!["timeout".to_string(), "2".into(), bin.clone()];
    serve.extend(["serve", "--listen", "127.0.0.1:0"].map(String::from));
    vec![
        (
            "probe",
            with(
                &["probe", "alice@lab.test", "--no-prompt"],
                &[&lo[..], &server].concat(),
            ),
        ),
        ("probe bad", with(&["probe", "bad"], &lo)),
        (
            "discover",
            with(
                &["discover", "alice@lab.test"],
                &[&lo[..4], &discovery[..]].concat(),
            ),
        ),
        ("demo", with(&["demo"], &[])),
        ("lab", with(&["lab", "--duration", "1s"], &[])),
        (
            "check",
            with(&["check", "--config", checks.to_str().unwrap()], &[]),
        ),
        (
            "batch",
            with(
                &["batch", "alice@lab.test", "bob@lab.test"],
                &[&lo[..], &server].concat(),
            ),
        ),
        ("serve", serve),
        ("completions", with(&["completions", "bash"], &[])),
        ("man", with(&["man"], &[])),
    ]
}

#[test]
fn no_panic_with_stdout_and_stderr_closed_cut_or_full() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    // (what, shell redirections around "$@"; the status is the command's, not head's)
    let setups = [
        ("closed", r#""$@" >&- 2>&-"#),
        (
            "stdout | head -1",
            r#""$@" 2>"$E" | head -1 >/dev/null; exit ${PIPESTATUS[0]}"#,
        ),
        (
            "stderr | head -1",
            r#""$@" 2>&1 >"$O" | head -1 >/dev/null; exit ${PIPESTATUS[0]}"#,
        ),
        (
            "both | head -1",
            r#""$@" 2>&1 | head -1 >/dev/null; exit ${PIPESTATUS[0]}"#,
        ),
        ("stdout full", r#""$@" >/dev/full 2>"$E""#),
        ("stderr full", r#""$@" 2>/dev/full >"$O""#),
    ];
    let mut failures = vec![];
    for (sub, argv) in every_subcommand(dir.path()) {
        for (what, script) in setups {
            let _ = std::fs::remove_file(&out);
            let _ = std::fs::remove_file(&err);
            let mut cmd = Command::new("bash");
            cmd.env_remove("MAILCHECK_PASSWORD")
                .env_remove("MAILCHECK_OAUTH2_TOKEN")
                .env("LANG", "C")
                .env("O", &out)
                .env("E", &err)
                .args(["-c", script, "bash"])
                .args(&argv)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let result = run(cmd, Duration::from_secs(60));
            let code = result.status.code();
            let said = [&out, &err]
                .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                .join("\n");
            // `serve` runs until `timeout` stops it (124); nothing else may time out.
            let timed_out = code == Some(124) && sub != "serve";
            if code == Some(101) || timed_out || said.contains("panicked") || code.is_none() {
                failures.push(format!("{sub} with {what}: exit {code:?}: {said}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Six consecutive free ports on 127.0.0.1 below the ephemeral range (free a moment ago).
fn six_free_ports() -> u16 {
    let start = 20000 + (std::process::id() % 1000) as u16 * 7;
    (0..400)
        .map(|i| 20000 + (start - 20000 + i * 7) % 12000)
        .find(|&base| (base..base + 6).all(|p| std::net::TcpListener::bind((LOOPBACK, p)).is_ok()))
        .expect("six consecutive free ports")
}

#[test]
fn the_lab_listens_from_its_base_port_and_cleans_up_on_sigterm_as_on_ctrl_c() {
    use std::io::BufRead;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let base = six_free_ports();
        let mut lab = mailcheck()
            .args(["lab", "--duration", "60s", "--base-port", &base.to_string()])
            .spawn()
            .unwrap();
        let mut banner = vec![];
        let mut lines = std::io::BufReader::new(lab.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("Running");
            banner.push(line);
            if done {
                break;
            }
        }
        let ports: Vec<u16> = banner
            .iter()
            .filter(|l| {
                l.starts_with("  imap/") || l.starts_with("  pop3/") || l.starts_with("  smtp/")
            })
            .map(|l| {
                let addr: std::net::SocketAddr =
                    l.split_whitespace().nth(1).unwrap().parse().unwrap();
                addr.port()
            })
            .collect();
        assert_eq!(ports, (base..base + 6).collect::<Vec<_>>(), "{banner:#?}");
        for p in &ports {
            std::net::TcpStream::connect((LOOPBACK, *p)).unwrap();
        }
        let ca = banner
            .iter()
            .find_map(|l| l.strip_prefix("  CA certificate"))
            .map(|p| std::path::PathBuf::from(p.trim()))
            .unwrap();
        let dir = ca.parent().unwrap().to_path_buf();
        assert!(dir.is_dir(), "{dir:?}");
        unsafe { libc::kill(lab.id() as i32, signal) };
        let started = Instant::now();
        let status = loop {
            if let Some(s) = lab.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "signal {signal} did not stop the lab"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "signal {signal}: {status:?}");
        assert!(!dir.exists(), "signal {signal}: {dir:?} left behind");
    }
}

#[test]
fn a_base_port_that_cannot_be_used_is_refused() {
    let base = six_free_ports();
    let _taken = std::net::TcpListener::bind((LOOPBACK, base + 2)).unwrap();
    let b = base.to_string();
    for (args, says) in [
        (
            vec!["lab", "--duration", "1s", "--base-port", "65531"],
            "the lab needs 6 ports".to_string(),
        ),
        (
            vec!["lab", "--duration", "1s", "--base-port", &b],
            format!("listening on 127.0.0.1:{}", base + 2),
        ),
    ] {
        let mut cmd = mailcheck();
        cmd.args(&args);
        let out = run(cmd, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(&says), "{args:?}: {stderr}");
    }
}
