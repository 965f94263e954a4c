//! Benchmark launcher: starts the integration tests' Dovecot and Postfix (the harness in
//! `tests/it/support/servers.rs`, unchanged, from the templates in `fixtures/`) and keeps them
//! running until its stdin reaches end of file.
//!
//! `cargo run --release --example bench-servers -- OUT_DIR` writes into OUT_DIR (created, mode
//! 0700):
//! * `servers.env`  shell assignments: MC_IP, MC_TLS_NAME, MC_CA, the six ports, MC_DIR
//! * `users`        one `address password` line per preset user (mode 0600; the passwords are
//!   random per launch and die with the servers)
//!
//! and then prints `ready` on stdout. When stdin closes (the bench script exits, however it
//! exits), this process returns from `main`, the harness's exit hook stops both servers and
//! removes their run directory, including the generated CA and server key.
//!
//! Before `ready`, Dovecot is switched to a production profile (see [`production_profile`]):
//! the servers share the machine's CPUs with the client being measured, and the test profile's
//! debug logging and process per login would make the benchmark measure Dovecot.
//!
//! Needs root, like `cargo test` (Dovecot and Postfix switch users).

#[allow(dead_code)]
#[path = "../tests/it/support/servers.rs"]
mod servers;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

fn main() {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            eprintln!("usage: bench-servers OUT_DIR   (keeps the servers up until stdin closes)");
            std::process::exit(2)
        });
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&out)
        .unwrap_or_else(|e| panic!("creating {}: {e}", out.display()));

    let s = servers::MailServers::get();
    production_profile(&s.dir.join("dovecot"));
    let mut env = String::new();
    let _ = writeln!(env, "MC_IP={}", s.ip);
    let _ = writeln!(env, "MC_TLS_NAME={}", s.tls_name);
    let _ = writeln!(env, "MC_CA={}", s.ca_pem.display());
    let _ = writeln!(env, "MC_DIR={}", s.dir.display());
    for (name, port) in [
        ("IMAPS", s.imaps),
        ("IMAP", s.imap),
        ("POP3S", s.pop3s),
        ("POP3", s.pop3),
        ("SMTPS", s.smtps),
        ("SUBMISSION", s.submission),
    ] {
        let _ = writeln!(env, "MC_PORT_{name}={port}");
    }
    let mut users = String::new();
    for name in servers::PRESET_USERS {
        let u = s.user(name);
        let _ = writeln!(users, "{} {}", u.address, u.password);
    }
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        let _ = std::fs::remove_file(&path);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    };
    write("users", &users);
    write("servers.env", &env);
    println!("ready");
    let _ = std::io::stdout().flush();

    // Wait for end of input, then return normally so the harness's atexit hook runs.
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
}

/// Dovecot as a busy production server runs, not as the tests need it: no per-login debug
/// logging (`auth_debug` and `auth_verbose`, which the tests read to count logins) and the
/// login processes in Dovecot's documented high-performance mode (`service_count = 0`: one
/// process serves many connections instead of a fork per connection). Measured on the 2-CPU
/// development machine: Dovecot's CPU per six-combination matrix falls from about 118 ms to
/// about 50 ms. The change is made on the running servers (`doveadm reload`), so the harness
/// and its templates stay those of the tests.
fn production_profile(dir: &std::path::Path) {
    let conf = dir.join("dovecot.conf");
    let log = dir.join("dovecot.log");
    let text = std::fs::read_to_string(&conf)
        .unwrap_or_else(|e| panic!("reading {}: {e}", conf.display()));
    let mut text = text
        .replace("auth_debug = yes", "auth_debug = no")
        .replace("auth_verbose = yes", "auth_verbose = no");
    for service in ["imap-login", "pop3-login"] {
        let _ = write!(
            text,
            "\nservice {service} {{\n  service_count = 0\n  process_min_avail = 2\n}}\n"
        );
    }
    std::fs::write(&conf, text).unwrap_or_else(|e| panic!("writing {}: {e}", conf.display()));
    let reloads = || {
        std::fs::read_to_string(&log)
            .map(|l| l.matches("reloading configuration").count())
            .unwrap_or(0)
    };
    let before = reloads();
    let status = std::process::Command::new("/usr/bin/doveadm")
        .arg("-c")
        .arg(&conf)
        .arg("reload")
        .status()
        .unwrap_or_else(|e| panic!("doveadm reload: {e}"));
    assert!(status.success(), "doveadm reload: {status}");
    // The master logs the reload when it has read the new configuration; its new login
    // processes start right after.
    for _ in 0..100 {
        if reloads() > before {
            std::thread::sleep(std::time::Duration::from_millis(500));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "Dovecot did not log the reload within 10 s ({})",
        log.display()
    );
}
