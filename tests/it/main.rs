//! The integration tests, as one test binary (as ripgrep and xh do): one link for all of
//! `tests/`, instead of one per file. Each module is what a file of its own used to be; the
//! real mail servers stay one set per module (`support::servers::MailServers::get`).

mod discover_support;
mod support;

mod diagnose_lab;
mod diagnose_real_servers;
mod diagnose_report;
mod discover;
mod discover_cli;
mod discover_pacc;
mod discover_real_servers;
mod discover_rng;
mod dnssec;
mod docs;
mod hardening;
mod hostile;
mod lab_cli;
mod monitor_batch;
mod monitor_check;
mod monitor_nagios;
mod monitor_serve;
mod oauth2;
mod oauth2_grants;
mod oauth2_sources;
mod ocsp_nginx;
mod packaging;
mod parity;
mod pool;
mod probe_real_servers;
mod prometheus_server;
mod robustness;
mod roundtrip;
mod schema;
mod servers_smoke;
