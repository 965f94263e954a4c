//! Batch-scale benchmark through the library: N single-combination probes against the servers
//! started by `bench-servers`, at most C at a time, each one a call to
//! `mailcheck::probe::run_with(ctx, vec![target])` on one shared tokio runtime (as `mailcheck
//! probe` builds it). Targets cycle through the six documented combinations and through the
//! preset users (one `ProbeContext`, i.e. one credential and one lockout gate, per user).
//! Reports are tallied and dropped as they come, as a streaming batch mode would.
//!
//! `bench-batch STATE_DIR N C` prints one JSON line:
//! `{"n","concurrency","ok","not_ok","reasons","wall_s","cpu_s","peak_rss_kib"}` where
//! `cpu_s` is this process's user+system CPU time over the probing phase only (setup excluded)
//! and `peak_rss_kib` is VmHWM at the end. Every probe is expected to log in; `not_ok` counts
//! those that did not, with their reason codes.
//!
//! Contacts only the addresses in STATE_DIR/servers.env, which the launcher sets to 127.0.0.2.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mailcheck::account::{Credential, Secret};
use mailcheck::model::{Combination, Policy, Target};
use mailcheck::probe::{self, AuthOutcome, ProbeContext};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: bench-batch STATE_DIR N CONCURRENCY");
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[1]);
    let n: usize = args[2].parse().expect("N");
    let concurrency: usize = args[3].parse::<usize>().expect("CONCURRENCY").max(1);

    let env_text = std::fs::read_to_string(dir.join("servers.env")).expect("servers.env");
    let env: BTreeMap<&str, &str> = env_text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| {
        *env.get(k)
            .unwrap_or_else(|| panic!("{k} missing in servers.env"))
    };
    let ip: IpAddr = get("MC_IP").parse().expect("MC_IP");
    assert!(
        ip.is_loopback(),
        "the benchmark only contacts loopback addresses, not {ip}"
    );
    let tls_name = get("MC_TLS_NAME").to_string();
    let port_of = |c: &Combination| -> u16 {
        let key = match (c.port, c.security) {
            (993, _) => "MC_PORT_IMAPS",
            (143, _) => "MC_PORT_IMAP",
            (995, _) => "MC_PORT_POP3S",
            (110, _) => "MC_PORT_POP3",
            (465, _) => "MC_PORT_SMTPS",
            _ => "MC_PORT_SUBMISSION",
        };
        get(key).parse().expect("port")
    };

    let users_text = std::fs::read_to_string(dir.join("users")).expect("users");
    let users: Vec<(String, String)> = users_text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, p)| (a.to_string(), p.to_string()))
        .collect();
    assert!(!users.is_empty(), "no users");

    let policy = Policy {
        ca_file: Some(PathBuf::from(get("MC_CA"))),
        ..Policy::default()
    };
    let contexts: Vec<Arc<ProbeContext>> = users
        .iter()
        .map(|(_, password)| {
            let cred = Credential::Password(Secret::new(password.clone()).expect("password"));
            Arc::new(ProbeContext::new(policy.clone(), Some(cred)).expect("context"))
        })
        .collect();
    // Targets are made as they are taken (not all N up front), so memory shows the engine.
    let users = Arc::new(users);
    let make_job = {
        let users = users.clone();
        let ports: Vec<u16> = Combination::DOCUMENTED.iter().map(&port_of).collect();
        let (ip, tls_name) = (ip.to_string(), tls_name.clone());
        Arc::new(move |i: usize| -> (usize, Target) {
            let u = (i / 6) % users.len();
            let target = Target {
                host: tls_name.clone(),
                combination: Combination::DOCUMENTED[i % 6],
                connect_host: ip.clone(),
                connect_port: ports[i % 6],
                tls_name: tls_name.clone(),
                username: users[u].0.clone(),
                address: None,
            };
            (u, target)
        })
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let reasons: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();

    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    runtime.block_on(async {
        let workers: Vec<_> = (0..concurrency.min(n.max(1)))
            .map(|_| {
                let (make_job, next, ok, reasons) =
                    (make_job.clone(), next.clone(), ok.clone(), reasons.clone());
                let contexts = contexts.clone();
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let (u, target) = make_job(i);
                        let reports = probe::run_with(contexts[u].clone(), vec![target])
                            .await
                            .expect("run_with");
                        for r in reports {
                            let logged_in = matches!(r.auth, AuthOutcome::Succeeded { .. });
                            if logged_in && r.failure.is_none() {
                                ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                let code = r
                                    .failure
                                    .as_ref()
                                    .map(|f| f.reason.code().to_string())
                                    .unwrap_or_else(|| "login-not-verified".into());
                                *reasons.lock().unwrap().entry(code).or_default() += 1;
                            }
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.expect("worker");
        }
    });
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let ok = ok.load(Ordering::Relaxed);
    let reasons = reasons.lock().unwrap().clone();
    println!(
        "{}",
        serde_json::json!({
            "n": n,
            "concurrency": concurrency,
            "ok": ok,
            "not_ok": n - ok,
            "reasons": reasons,
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_rss_kib": peak_rss_kib(),
        })
    );
}

/// User + system CPU time of this process so far (/proc/self/stat, in USER_HZ = 100 ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3 of the full line; utime and stime are 14 and 15.
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

/// Peak resident set size (VmHWM) of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
