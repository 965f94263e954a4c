//! `mailcheck batch`: 200 addresses against the real Dovecot and Postfix, through a counting
//! TCP proxy on loopback that measures, on the server side, how many connections are open at
//! once. The per-host limit must hold at every moment a connection arrives; results must
//! stream (JSON Lines) as they finish.

use crate::support;

use std::io::{BufRead, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::schema::assert_schema;
use support::servers::{MailServers, PRESET_USERS};

/// Open client connections as the proxy sees them.
#[derive(Default)]
struct Count {
    open: Vec<TcpStream>,
    max: usize,
    total: usize,
}

/// Has the client not closed its side yet? Read from the kernel (TCP_INFO), so a connection
/// the client already closed never counts, however late our copy threads notice.
fn client_still_open(s: &TcpStream) -> bool {
    // SAFETY: getsockopt with a properly sized tcp_info buffer on a socket we own.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut _ as *mut libc::c_void,
            &mut len,
        );
        assert_eq!(rc, 0, "getsockopt(TCP_INFO)");
        // ESTABLISHED, FIN_WAIT1, FIN_WAIT2: no FIN from the client yet.
        matches!(info.tcpi_state, 1 | 4 | 5)
    }
}

/// A loopback proxy in front of one server port, sharing a connection count with the others.
fn proxy(upstream: SocketAddr, count: Arc<Mutex<Count>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            {
                let mut c = count.lock().unwrap();
                c.open.retain(client_still_open);
                if c.open.len() >= c.max {
                    // A new high: let FINs already sent by the client land first. Under load the
                    // kernel may process another connection's FIN after this SYN, which would
                    // count a closed connection as open.
                    drop(c);
                    std::thread::sleep(Duration::from_millis(10));
                    c = count.lock().unwrap();
                    c.open.retain(client_still_open);
                }
                c.open.push(client.try_clone().unwrap());
                c.total += 1;
                c.max = c.max.max(c.open.len());
            }
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(upstream) else {
                    return;
                };
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                    let _ = s_write.shutdown(Shutdown::Write);
                });
                let (mut s_read, mut c_write) = (server, client);
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    port
}

struct Proxies {
    count: Arc<Mutex<Count>>,
    rules: Vec<String>,
}

fn proxies(s: &MailServers) -> Proxies {
    let count = Arc::new(Mutex::new(Count::default()));
    let rules = s
        .documented_ports()
        .iter()
        .map(|(logical, real)| {
            let p = proxy(SocketAddr::new(s.ip, *real), count.clone());
            format!("{}:{logical}:127.0.0.1:{p}", s.tls_name)
        })
        .collect();
    Proxies { count, rules }
}

/// Runs a batch, reading its JSON Lines as they arrive: (arrival time, line) and the exit.
fn batch(
    s: &MailServers,
    p: &Proxies,
    addresses_file: &std::path::Path,
    extra: &[&str],
) -> (Vec<(Duration, Value)>, Duration, Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailcheck"));
    cmd.args(["batch", "--from"])
        .arg(addresses_file)
        .args([
            "--server",
            &s.tls_name,
            "--ca-file",
            s.ca_pem.to_str().unwrap(),
        ])
        .args([
            "--format",
            "jsonl",
            "--timeout",
            "10s",
            "--connect-timeout",
            "5s",
        ])
        .args(extra)
        .env_remove("MAILCHECK_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for r in &p.rules {
        cmd.args(["--connect-to", r]);
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = vec![];
    for line in stdout.lines() {
        let line = line.unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert_schema("account", &v);
        lines.push((t0.elapsed(), v));
    }
    let out = child.wait_with_output().unwrap();
    (
        lines,
        t0.elapsed(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn two_hundred_addresses_paced_per_host_and_streamed() {
    let s = MailServers::get();
    let dir = tempfile::tempdir().unwrap();
    // The 24 preset users with their passwords, looked up per address by a command; 176 more
    // addresses without a password (the probe runs, no login is tried).
    let mut pw = String::new();
    let mut addresses = String::from("# 200 mailboxes of one provider\n");
    for name in PRESET_USERS {
        let u = s.user(name);
        pw.push_str(&format!("{} {}\n", u.address, u.password));
        addresses.push_str(&format!("{}\n", u.address));
    }
    for i in PRESET_USERS.len()..200 {
        addresses.push_str(&format!("batch{i:03}@lab.test\n"));
    }
    let pw_file = dir.path().join("passwords");
    std::fs::write(&pw_file, pw).unwrap();
    let list = dir.path().join("addresses");
    std::fs::write(&list, addresses).unwrap();
    let lookup = format!(
        "awk -v a=\"$MAILCHECK_ADDRESS\" '$1 == a {{ print $2 }}' {}",
        pw_file.display()
    );

    let p = proxies(s);
    let (lines, elapsed, code, stderr) = batch(
        s,
        &p,
        &list,
        &[
            "--concurrency",
            "50",
            "--per-host",
            "4",
            "--password-command",
            &lookup,
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    // Not a terminal: no progress bar, nothing on stderr.
    assert_eq!(stderr, "");

    // Every address exactly once, each a whole result.
    assert_eq!(lines.len(), 200);
    let mut seen: Vec<&str> = lines
        .iter()
        .map(|(_, v)| v["address"].as_str().unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 200);
    for (_, v) in &lines {
        assert_eq!(v["status"], "ok", "{v:#}");
        let results = v["report"]["results"].as_array().unwrap();
        assert_eq!(results.len(), 6);
        let preset = PRESET_USERS
            .iter()
            .any(|n| v["address"] == format!("{n}@lab.test"));
        let auth = if preset { "succeeded" } else { "not-attempted" };
        assert!(results.iter().all(|r| r["auth"]["status"] == auth), "{v:#}");
        assert_eq!(
            v["report"]["credential"]["kind"],
            if preset { "password" } else { "none" }
        );
    }

    // The per-host limit, observed on the server side: 1200 sessions, never more than 4 open.
    let c = p.count.lock().unwrap();
    eprintln!(
        "batch: {} sessions, at most {} open at once, first line after {:?}, all after {elapsed:?}",
        c.total, c.max, lines[0].0
    );
    assert_eq!(c.total, 200 * 6);
    assert!(c.max <= 4, "{} connections at once", c.max);
    assert!(c.max >= 2, "the batch ran serially (max {})", c.max);

    // Streamed: the first results arrived long before the end.
    let first = lines[0].0;
    assert!(
        first < elapsed / 2,
        "first line after {first:?} of {elapsed:?}"
    );
    for u in PRESET_USERS {
        assert_eq!(s.failed_logins(&format!("{u}@lab.test")), 0);
    }
}

#[test]
fn the_counting_proxy_sees_more_without_the_limit() {
    // The counter is not vacuous: with a high per-host limit it sees more than 4 at once.
    let s = MailServers::get();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("addresses");
    let text: String = (0..20).map(|i| format!("wide{i:02}@lab.test\n")).collect();
    std::fs::write(&list, text).unwrap();
    let p = proxies(s);
    let (lines, _, code, stderr) =
        batch(s, &p, &list, &["--concurrency", "64", "--per-host", "64"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines.len(), 20);
    let c = p.count.lock().unwrap();
    eprintln!(
        "unlimited: {} sessions, at most {} open at once",
        c.total, c.max
    );
    assert_eq!(c.total, 20 * 6);
    assert!(c.max > 4, "max {}", c.max);
}

/// A bad line is that line's UNKNOWN result (and the run's exit 3); the good lines still run
/// (here against a closed port on loopback).
#[test]
fn bad_addresses_in_the_list_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("addresses");
    std::fs::write(&list, "a@lab.test\n\nnot-an-address\n").unwrap();
    let closed = support::servers::closed_port("127.0.0.1".parse().unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args(["batch", "--format", "jsonl", "--from"])
        .arg(&list)
        .args(["--server", "mail.lab.test", "--connect-timeout", "1s"])
        .args(["--connect-to", &format!("::127.0.0.1:{closed}")])
        .args(["--dns-server", &format!("127.0.0.1:{closed}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let bad = lines.iter().find(|l| l["status"] == "unknown").unwrap();
    assert!(
        bad["error"].as_str().unwrap().contains("addresses:3"),
        "{bad:#}"
    );
    assert!(lines.iter().any(|l| l["report"].is_object()), "{stdout}");
}

/// `batch` takes the same target options as `probe` (one flattened definition): -6 is honoured.
#[test]
fn batch_honours_the_address_family() {
    let out = Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args([
            "batch",
            "a@lab.test",
            "--server",
            "127.0.0.1",
            "-6",
            "--only",
            "imap/993",
        ])
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_schema("account", &v);
    assert_eq!(
        v["report"]["results"][0]["reason"]["code"], "dns.no-address",
        "{v:#}"
    );
}

/// The progress bar is drawn on stderr when it is a terminal (here a pseudo-terminal made by
/// `script` from util-linux), and never otherwise (see the 200-address test: stderr empty).
#[test]
fn a_progress_bar_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("addresses");
    let text: String = (0..12).map(|i| format!("tty{i:02}@lab.test\n")).collect();
    std::fs::write(&list, text).unwrap();
    // Nothing listens on the closed port: every probe is a quick connect.refused on loopback.
    let closed = support::servers::closed_port("127.0.0.1".parse().unwrap());
    let cmd = format!(
        "{} batch --from {} --server 127.0.0.1 --connect-to ::127.0.0.1:{closed} --format jsonl --connect-timeout 1s",
        env!("CARGO_BIN_EXE_mailcheck"),
        list.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs the batch on a pseudo-terminal");
    let tty = String::from_utf8_lossy(&out.stdout);
    let tail = &tty[tty.len().saturating_sub(600)..];
    // Critical (nothing works), 12 results, and the bar drawn in between.
    assert_eq!(out.status.code(), Some(2), "{tail}");
    assert_eq!(tty.matches("{\"account\":").count(), 12, "{tail}");
    assert!(tty.contains("/12 accounts"), "no progress bar: {tail}");

    // The same run with stderr not a terminal: no bar.
    let out = Command::new("sh")
        .args(["-c", &cmd])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 12);
}
