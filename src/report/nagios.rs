//! Nagios / Icinga plugin output: one status line with performance data, then one line per
//! combination and per expectation (long output). The exit code is the status (0/1/2/3).
//!
//! Performance data follows the plugin guidelines: `'label'=value[UOM];[warn];[crit];[min];[max]`,
//! seconds as `s`; certificate days have no unit and `N:` ranges (alert below N).

use std::fmt::Write as _;
use std::io::Write;

use crate::outcome::Status;
use crate::probe::AuthOutcome;
use crate::report::account::{overall, AccountResult};
use crate::report::expect::{describe_outcome, outcome_name, ExpectationResult};
use crate::report::{Outcome, RunReport};

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "OK",
        Status::Warning => "WARNING",
        Status::Critical => "CRITICAL",
        Status::Unknown => "UNKNOWN",
    }
}

/// Plugin output must not contain `|` outside the perfdata separator, nor newlines in a line;
/// what could drive a terminal is escaped as everywhere ([`super::terminal_safe`]).
fn clean(s: &str) -> String {
    super::terminal_safe(s).replace('|', "/")
}

/// A perfdata label: no quotes or `=`; spaces are allowed inside the quotes but avoided.
fn label(prefix: &str, name: &str) -> String {
    let raw = format!("{prefix}{name}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

fn opt_secs(d: Option<std::time::Duration>) -> String {
    d.map(|d| format!("{:.3}", d.as_secs_f64()))
        .unwrap_or_default()
}

fn problems(r: &AccountResult) -> Vec<&ExpectationResult> {
    r.expectations.iter().filter(|e| !e.passed()).collect()
}

/// The short text of one account for the status line.
fn account_text(r: &AccountResult) -> String {
    if let Some(e) = &r.error {
        return format!("{}: cannot check: {e}", r.account);
    }
    let probs = problems(r);
    if let Some(first) = probs.first() {
        let more = if probs.len() > 1 {
            format!(" (+{} more)", probs.len() - 1)
        } else {
            String::new()
        };
        return format!("{}{more}", first.message());
    }
    let Some(rep) = &r.report else {
        return r.account.clone();
    };
    let works = rep
        .results
        .iter()
        .filter(|o| o.verdict != crate::diagnose::Verdict::Fails)
        .count();
    format!(
        "{}: {works} of {} combinations work; {}",
        r.account,
        rep.results.len(),
        rep.summary
    )
}

fn combination_line(rep: &RunReport, o: &Outcome) -> String {
    let mut parts = vec![describe_outcome(o)];
    if let Some(t) = &o.report.tls {
        let mut tls = t.version.to_string();
        if let Some(c) = &t.certificate {
            let _ = match c.days_left {
                d if d < 0 => write!(tls, ", certificate expired {} day(s) ago", -d),
                d => write!(tls, ", certificate {d} day(s) left"),
            };
        }
        parts.push(tls);
    }
    parts.push(match &o.report.auth {
        AuthOutcome::Succeeded { mechanism, ms } => {
            format!("login succeeded ({mechanism}, {} s)", secs(*ms))
        }
        AuthOutcome::Rejected { mechanism, .. } => format!("login rejected ({mechanism})"),
        AuthOutcome::Failed { mechanism, .. } => format!("login failed ({mechanism})"),
        AuthOutcome::NotAttempted { why } => format!(
            "login not attempted ({})",
            serde_json::to_value(why)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
    });
    parts.push(format!("{} s", secs(o.report.elapsed_ms)));
    format!("{}: {}", outcome_name(rep, o), parts.join("; "))
}

/// The perfdata stem of each outcome: `imap_993_`, with the host added where one protocol and
/// port appear on several hosts (discovery naming imap1 and imap2), so labels stay unique.
/// The host's first DNS label is enough when it tells them apart, keeping labels short
/// (the plugin guidelines want them unique in their first 19 characters).
fn stems(outcomes: &[Outcome]) -> Vec<String> {
    let key = |o: &Outcome| {
        let c = o.report.target.combination;
        format!("{}_{}_", c.protocol, c.port)
    };
    let hosts_of = |k: &str| {
        let mut hosts: Vec<&str> = outcomes
            .iter()
            .filter(|o| key(o) == k)
            .map(|o| o.report.target.host.as_str())
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    };
    outcomes
        .iter()
        .map(|o| {
            let k = key(o);
            let hosts = hosts_of(&k);
            if hosts.len() < 2 {
                return k;
            }
            let first = |h: &str| h.split('.').next().unwrap_or(h).to_string();
            let mut firsts: Vec<String> = hosts.iter().map(|h| first(h)).collect();
            firsts.sort_unstable();
            firsts.dedup();
            let host = &o.report.target.host;
            let short = if firsts.len() == hosts.len() {
                first(host)
            } else {
                host.clone()
            };
            format!("{k}{short}_")
        })
        .zip(outcomes)
        .map(|(stem, o)| match o.report.target.address {
            // --each-address: one label per address (`imap_993_127_0_0_5_`).
            Some(a) => format!("{stem}{}_", a.to_string().replace(['.', ':'], "_")),
            None => stem,
        })
        .collect()
}

fn perfdata(r: &AccountResult, prefix: &str, out: &mut Vec<String>) {
    let Some(rep) = &r.report else { return };
    let t = &r.thresholds;
    for (o, base) in rep.results.iter().zip(stems(&rep.results)) {
        for step in &o.report.steps {
            let name = serde_json::to_value(step.name)
                .ok()
                .and_then(|v| v.as_str().map(|s| s.replace('-', "_")))
                .unwrap_or_default();
            out.push(format!(
                "'{}'={}s;{};{};0;",
                label(prefix, &format!("{base}{name}")),
                secs(step.ms),
                opt_secs(t.response_warn),
                opt_secs(t.response_crit)
            ));
        }
        out.push(format!(
            "'{}'={}s;;;0;",
            label(prefix, &format!("{base}time")),
            secs(o.report.elapsed_ms)
        ));
        out.push(format!(
            "'{}'={};;;0;1",
            label(prefix, &format!("{base}works")),
            u8::from(o.verdict != crate::diagnose::Verdict::Fails)
        ));
        if let Some(cert) = o.report.tls.as_ref().and_then(|t| t.certificate.as_ref()) {
            let range = |d: Option<i64>| d.map(|d| format!("{d}:")).unwrap_or_default();
            out.push(format!(
                "'{}'={};{};{};;",
                label(prefix, &format!("{base}cert_days")),
                cert.days_left,
                range(t.cert_warn_days),
                range(t.cert_crit_days)
            ));
        }
    }
}

pub fn write(out: &mut dyn Write, results: &[AccountResult]) -> std::io::Result<()> {
    let status = overall(results);
    let text = match results {
        [] => "no account checked".to_string(),
        [one] => account_text(one),
        many => {
            let count = |s: Status| many.iter().filter(|r| r.status == s).count();
            let mut head = format!(
                "{} accounts: {} ok, {} warning, {} critical, {} unknown",
                many.len(),
                count(Status::Ok),
                count(Status::Warning),
                count(Status::Critical),
                count(Status::Unknown)
            );
            if let Some(worst) = many
                .iter()
                .find(|r| r.status == status && status != Status::Ok)
            {
                let _ = write!(head, "; {}", account_text(worst));
            }
            head
        }
    };
    let mut perf = vec![];
    let multi = results.len() > 1;
    for r in results {
        let prefix = if multi {
            format!("{}_", r.account)
        } else {
            String::new()
        };
        perfdata(r, &prefix, &mut perf);
    }
    write!(out, "MAILCHECK {} - {}", status_word(status), clean(&text))?;
    if !perf.is_empty() {
        write!(out, " | {}", perf.join(" "))?;
    }
    writeln!(out)?;
    for r in results {
        if multi {
            writeln!(out, "[{}] {}", status_word(r.status), clean(&r.account))?;
        }
        if let Some(e) = &r.error {
            writeln!(out, "[UNKNOWN] cannot check: {}", clean(e))?;
        }
        for e in &r.expectations {
            writeln!(out, "[{}] {}", status_word(e.status), clean(&e.message()))?;
        }
        if let Some(rep) = &r.report {
            for o in &rep.results {
                let word = match o.verdict {
                    crate::diagnose::Verdict::Works => "OK",
                    crate::diagnose::Verdict::WorksWithWarnings => "WARNING",
                    crate::diagnose::Verdict::Fails => "FAILS",
                };
                writeln!(out, "[{word}] {}", clean(&combination_line(rep, o)))?;
            }
        }
    }
    Ok(())
}
