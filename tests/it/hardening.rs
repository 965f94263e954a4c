//! Bad input is bad input: secrets from every source are bounded, checked (no NUL, UTF-8) and
//! not handed to the commands mailcheck runs; malformed host names, addresses and ports are
//! refused at once with exit 3 and a message naming the problem, before anything is contacted.
//!
//! Every run is pinned to loopback: `--connect-to` sends all connections to a closed port on
//! 127.0.0.1 and `--dns-server` sends every query there too, so a name that slipped through
//! would cost a refused connection, never a packet elsewhere.

use crate::support;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use support::servers::closed_port;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Flags that keep a run on loopback: every connection and DNS query to a closed port.
fn loopback_only() -> Vec<String> {
    let port = closed_port(LOOPBACK);
    vec![
        "--no-prompt".into(),
        "--connect-to".into(),
        format!("::127.0.0.1:{port}"),
        "--dns-server".into(),
        format!("127.0.0.1:{port}"),
        "--connect-timeout".into(),
        "1s".into(),
    ]
}

fn mailcheck() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("mailcheck"));
    cmd.env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("NO_COLOR", "1")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A bound on memory, so a run that reads without end fails here instead of filling the
    // machine (it did: 2.5 GB in 4 s from /dev/zero).
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

struct Run {
    status: ExitStatus,
    stderr: String,
    took: Duration,
}

/// Wait at most `limit` for the run; a run still going is killed and fails the test.
fn finish(mut child: Child, started: Instant, limit: Duration) -> Run {
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mailcheck still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        status,
        stderr,
        took: started.elapsed(),
    }
}

fn run(mut cmd: Command) -> Run {
    let started = Instant::now();
    finish(cmd.spawn().unwrap(), started, Duration::from_secs(30))
}

fn probe(address: &str, extra: &[&str]) -> Command {
    let mut cmd = mailcheck();
    cmd.arg("probe")
        .arg(address)
        .args(loopback_only())
        .args(extra);
    cmd
}

/// Exit 3, and one line of stderr names the problem with every word given.
fn assert_bad_input(run: &Run, words: &[&str]) {
    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stderr.lines().any(|l| words
            .iter()
            .all(|w| l.to_lowercase().contains(&w.to_lowercase()))),
        "no line names {words:?}:\n{}",
        run.stderr
    );
}

// ---- secrets: bounded, checked, not inherited ----

#[test]
fn password_stdin_from_dev_zero_is_refused_after_4_kib() {
    let mut cmd = probe(
        "alice@lab.test",
        &["--server", "127.0.0.1", "--password-stdin"],
    );
    cmd.stdin(std::fs::File::open("/dev/zero").unwrap());
    let r = run(cmd);
    assert_bad_input(&r, &["--password-stdin", "longer than 4 KiB"]);
}

#[test]
fn password_command_without_line_end_is_refused_after_4_kib() {
    let r = run(probe(
        "alice@lab.test",
        &[
            "--server",
            "127.0.0.1",
            "--password-command",
            "cat /dev/zero",
        ],
    ));
    assert_bad_input(&r, &["--password-command", "longer than 4 KiB"]);
}

#[test]
fn password_command_first_line_is_taken_at_once_and_its_group_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // The background sleep stands for whatever the command leaves running.
    let command = format!(
        "sleep 100 & echo $! > {}; echo pw; sleep 100",
        pid_file.display()
    );
    let r = run(probe(
        "alice@lab.test",
        &["--server", "127.0.0.1", "--password-command", &command],
    ));
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(20), "took {:?}", r.took);
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        gone(pid.trim()),
        "the command's background sleep {pid} survived"
    );
}

/// Dead: no such process, or a zombie waiting for init.
fn gone(pid: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(st)
                if st
                    .rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z')) =>
            {
                return true
            }
            Ok(_) if Instant::now() > deadline => return false,
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn a_silent_password_command_times_out() {
    let r = run(probe(
        "alice@lab.test",
        &["--server", "127.0.0.1", "--password-command", "sleep 100"],
    ));
    assert_bad_input(&r, &["--password-command", "no line within 10 s"]);
    assert!(r.took < Duration::from_secs(15), "took {:?}", r.took);
}

/// The variable names in a process's `/proc/PID/environ`, as the command saved it.
fn environ_names(path: &Path) -> Vec<String> {
    std::fs::read(path)
        .unwrap()
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| String::from_utf8_lossy(kv.split(|b| *b == b'=').next().unwrap()).into_owned())
        .collect()
}

#[test]
fn secret_commands_do_not_inherit_mailchecks_secrets() {
    for flag in ["--password-command", "--oauth2-token-command"] {
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("environ");
        // The command saves its own environment, then fails: nothing is probed.
        let command = format!("cat /proc/$$/environ > {}; exit 1", saved.display());
        let mut cmd = probe("alice@lab.test", &["--server", "127.0.0.1", flag, &command]);
        cmd.env("MAILCHECK_PASSWORD", "canary-password")
            .env("MAILCHECK_OAUTH2_TOKEN", "canary-token")
            .env("SOMETHING_ELSE", "kept");
        let r = run(cmd);
        assert_bad_input(&r, &[flag, "failed"]);
        let names = environ_names(&saved);
        assert!(names.iter().any(|n| n == "SOMETHING_ELSE"), "{names:?}");
        for secret in ["MAILCHECK_PASSWORD", "MAILCHECK_OAUTH2_TOKEN"] {
            assert!(
                !names.iter().any(|n| n == secret),
                "{flag}: {secret} in {names:?}"
            );
        }
        let raw = std::fs::read(&saved).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("canary"), "{flag}");
    }
}

#[test]
fn a_nul_byte_in_a_secret_is_refused_from_every_source() {
    let mut cmd = probe(
        "alice@lab.test",
        &["--server", "127.0.0.1", "--password-stdin"],
    );
    cmd.stdin(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"pass\0word\n")
        .unwrap();
    let r = finish(child, started, Duration::from_secs(30));
    assert_bad_input(&r, &["--password-stdin", "NUL"]);

    let r = run(probe(
        "alice@lab.test",
        &[
            "--server",
            "127.0.0.1",
            "--password-command",
            "printf 'pass\\000word\\n'",
        ],
    ));
    assert_bad_input(&r, &["--password-command", "NUL"]);
}

#[test]
fn invalid_utf8_in_a_secret_is_refused_from_every_source() {
    let mut cmd = probe("alice@lab.test", &["--server", "127.0.0.1"]);
    cmd.env(
        "MAILCHECK_PASSWORD",
        std::ffi::OsStr::from_bytes(b"caf\xe9"),
    );
    assert_bad_input(&run(cmd), &["MAILCHECK_PASSWORD", "not valid UTF-8"]);

    let mut cmd = probe("alice@lab.test", &["--server", "127.0.0.1"]);
    cmd.env(
        "MAILCHECK_OAUTH2_TOKEN",
        std::ffi::OsStr::from_bytes(b"tok\xff"),
    );
    assert_bad_input(&run(cmd), &["MAILCHECK_OAUTH2_TOKEN", "not valid UTF-8"]);

    let r = run(probe(
        "alice@lab.test",
        &[
            "--server",
            "127.0.0.1",
            "--password-command",
            "printf 'caf\\351\\n'",
        ],
    ));
    assert_bad_input(&r, &["--password-command", "not valid UTF-8"]);

    let mut cmd = probe(
        "alice@lab.test",
        &["--server", "127.0.0.1", "--password-stdin"],
    );
    cmd.stdin(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"caf\xe9\n").unwrap();
    let r = finish(child, started, Duration::from_secs(30));
    assert_bad_input(&r, &["--password-stdin", "not valid UTF-8"]);
}

/// mailcheck with a new terminal as its controlling terminal and stdin (its own session, in
/// the foreground, as in an interactive shell); returns the terminal's other side.
fn on_a_terminal(cmd: &mut Command) -> std::fs::File {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let made = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(made, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    cmd.stdin(slave);
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    master
}

#[test]
fn a_password_command_may_ask_on_the_terminal_and_ctrl_c_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("got");
    // In its own process group the command would be stopped (SIGTTIN) reading the terminal,
    // unless it is given the terminal's foreground while it runs.
    let command = format!("read -r x; echo \"$x\" > {}; echo \"$x\"", got.display());
    let mut cmd = probe(
        "alice@lab.test",
        &["--server", "127.0.0.1", "--password-command", &command],
    );
    let mut terminal = on_a_terminal(&mut cmd);
    let started = Instant::now();
    let child = cmd.spawn().unwrap();
    terminal.write_all(b"typed-on-the-terminal\n").unwrap();
    let r = finish(child, started, Duration::from_secs(30));
    assert!(!r.stderr.contains("no line within"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&got).unwrap().trim(),
        "typed-on-the-terminal"
    );
    assert!(r.took < Duration::from_secs(8), "took {:?}", r.took);

    // Ctrl-C reaches the command (the terminal's foreground): it fails, mailcheck says so.
    let mut cmd = probe(
        "alice@lab.test",
        &[
            "--server",
            "127.0.0.1",
            "--password-command",
            "sleep 100; echo pw",
        ],
    );
    let mut terminal = on_a_terminal(&mut cmd);
    let started = Instant::now();
    let child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    terminal.write_all(b"\x03").unwrap();
    let r = finish(child, started, Duration::from_secs(30));
    assert_bad_input(&r, &["--password-command", "SIGINT"]);
    assert!(r.took < Duration::from_secs(8), "took {:?}", r.took);
}

// ---- host names, addresses, ports ----

#[test]
fn malformed_domains_in_an_address_are_syntax_errors() {
    let long_label = "a".repeat(64);
    let huge_label = "b".repeat(10_000);
    let long_name = format!("{}.test", vec!["c".repeat(60); 5].join("."));
    for (address, words) in [
        (
            "alice@lab..test".to_string(),
            vec!["lab..test", "empty label"],
        ),
        (
            "alice@.lab.test".to_string(),
            vec![".lab.test", "empty label"],
        ),
        (format!("alice@{long_label}.test"), vec!["63"]),
        (format!("alice@{huge_label}.test"), vec!["63"]),
        (format!("alice@{long_name}"), vec!["253"]),
    ] {
        let r = run(probe(&address, &["--no-discovery"]));
        assert_bad_input(&r, &words);
        assert!(r.stderr.len() < 1000, "the message repeats the input whole");
    }
}

#[test]
fn malformed_servers_are_syntax_errors() {
    for (server, words) in [
        ("lab..test", vec!["--server", "empty label"]),
        (".lab.test", vec!["--server", "empty label"]),
        (
            "mail.lab.test:993",
            vec!["--server", "port", "--connect-to"],
        ),
        ("http://mail.lab.test", vec!["--server", "URL"]),
        ("mail_lab test", vec!["--server", "not allowed"]),
    ] {
        let r = run(probe("alice@lab.test", &["--server", server]));
        assert_bad_input(&r, &words);
    }
    let huge = format!("{}.test", "d".repeat(10_000));
    let r = run(probe("alice@lab.test", &["--server", &huge]));
    assert_bad_input(&r, &["--server", "63"]);
    assert!(r.stderr.len() < 1000, "the message repeats the input whole");
    // IP literals stay servers.
    for ok in ["127.0.0.1", "::1", "[::1]"] {
        let r = run(probe("alice@lab.test", &["--server", ok]));
        assert_ne!(r.status.code(), Some(3), "{ok}: {}", r.stderr);
    }
}

#[test]
fn malformed_addresses_are_refused() {
    let long_local = format!("{}@lab.test", "l".repeat(65));
    for (address, words) in [
        ("a@b@lab.test", vec!["a@b@lab.test", "@"]),
        ("x@@lab.test", vec!["x@@lab.test", "@"]),
        ("a..b@lab.test", vec!["a..b@lab.test", "dot"]),
        (".a@lab.test", vec![".a@lab.test", "dot"]),
        ("a(b)@lab.test", vec!["a(b)@lab.test", "("]),
        (long_local.as_str(), vec!["64"]),
    ] {
        let r = run(probe(address, &["--no-discovery"]));
        assert_bad_input(&r, &words);
    }
    // A quoted local part may hold what an unquoted one may not.
    let r = run(probe("\"a@b\"@lab.test", &["--server", "127.0.0.1"]));
    assert_ne!(r.status.code(), Some(3), "{}", r.stderr);
}

#[test]
fn port_0_in_connect_to_is_refused() {
    let r = run(probe(
        "alice@lab.test",
        &["--server", "127.0.0.1", "--connect-to", "::127.0.0.1:0"],
    ));
    assert_bad_input(&r, &["--connect-to", "port 0"]);
}

fn check(config: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checks.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = mailcheck();
    cmd.arg("check").arg("--config").arg(&path);
    run(cmd)
}

#[test]
fn the_checks_file_refuses_bad_servers_addresses_and_ports() {
    let closed = closed_port(LOOPBACK);
    let pinned = format!(
        "connect_to = [\"::127.0.0.1:{closed}\"]\ndns_server = \"127.0.0.1:{closed}\"\nconnect_timeout = \"1s\"\n"
    );
    let r = check(&format!(
        "[[account]]\naddress = \"alice@lab.test\"\nserver = \"lab..test\"\n{pinned}"
    ));
    assert_bad_input(&r, &["checks.toml:3:", "empty label"]);
    let r = check(&format!(
        "[[account]]\naddress = \"alice@lab.test\"\nserver = \"mail.lab.test:993\"\n{pinned}"
    ));
    assert_bad_input(&r, &["checks.toml:3:", "port"]);
    let r = check(&format!(
        "[[account]]\naddress = \"a@b@lab.test\"\nserver = \"127.0.0.1\"\n{pinned}"
    ));
    assert_bad_input(&r, &["checks.toml:2:", "a@b@lab.test"]);
    let r = check(&format!(
        "[[account]]\naddress = \"alice@lab.test\"\nserver = \"127.0.0.1\"\nexpect = [\"imap/0/tls\"]\n{pinned}"
    ));
    assert_bad_input(&r, &["checks.toml:4:", "port 0"]);
    let r = check(
        "[[account]]\naddress = \"alice@lab.test\"\nserver = \"127.0.0.1\"\nconnect_to = [\"::127.0.0.1:0\"]\n",
    );
    assert_bad_input(&r, &["checks.toml:4:", "port 0"]);
}

/// In a checks file, account b's command sees neither account a's secret variable nor
/// mailcheck's own: each command's environment holds no secret mailcheck knows of.
#[test]
fn a_checks_file_command_does_not_see_another_accounts_secret() {
    let closed = closed_port(LOOPBACK);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("environ");
    let config = format!(
        "[defaults]\nserver = \"127.0.0.1\"\nconnect_to = [\"::127.0.0.1:{closed}\"]\nconnect_timeout = \"1s\"\n\
         [[account]]\nname = \"a\"\naddress = \"a@lab.test\"\npassword_env = \"CANARY_PW\"\n\
         [[account]]\nname = \"b\"\naddress = \"b@lab.test\"\npassword_command = \"cat /proc/$$/environ > {}; echo pw\"\n",
        saved.display()
    );
    let path = dir.path().join("checks.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = mailcheck();
    cmd.env("CANARY_PW", "canary-secret-a")
        .env("MAILCHECK_PASSWORD", "canary-secret-env")
        .args(["check", "--format", "json", "--config"])
        .arg(&path);
    let r = run(cmd);
    assert!(r.status.code().is_some(), "{}", r.stderr);
    let names = environ_names(&saved);
    assert!(!names.is_empty(), "the command did not run: {}", r.stderr);
    assert!(names.iter().any(|n| n == "MAILCHECK_ADDRESS"), "{names:?}");
    for secret in ["CANARY_PW", "MAILCHECK_PASSWORD", "MAILCHECK_OAUTH2_TOKEN"] {
        assert!(!names.iter().any(|n| n == secret), "{secret} in {names:?}");
    }
}
