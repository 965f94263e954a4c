//! `--format nagios` against the real Dovecot and Postfix: the plugin output is parsed by a
//! strict parser of the Nagios plugin guidelines (status line, perfdata, long output) and the
//! exit code follows the thresholds (-w/-c, --cert-warn-days/--cert-crit-days).

use crate::support;

use crate::discover_support;

use std::process::Output;

use assert_cmd::Command;
use support::servers::{MailServers, TestUser};

/// One performance datum: `'label'=value[UOM];[warn];[crit];[min];[max]`.
#[derive(Debug, Clone, PartialEq)]
struct Perf {
    label: String,
    value: f64,
    uom: String,
    warn: Option<Range>,
    crit: Option<Range>,
    min: Option<f64>,
    max: Option<f64>,
}

/// A threshold range: `10`, `10:`, `~:10`, `10:20`, `@10:20` (plugin guidelines).
#[derive(Debug, Clone, PartialEq)]
struct Range {
    inside: bool,
    start: Option<f64>,
    end: Option<f64>,
}

fn number(s: &str) -> Result<f64, String> {
    let ok = !s.is_empty()
        && s.trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        && s.trim_start_matches('-')
            .starts_with(|c: char| c.is_ascii_digit())
        && s.matches('.').count() <= 1
        && !s.ends_with('.');
    if !ok {
        return Err(format!("{s:?} is not a plain number"));
    }
    s.parse().map_err(|_| format!("{s:?} is not a number"))
}

fn range(s: &str) -> Result<Option<Range>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let (inside, body) = match s.strip_prefix('@') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (start, end) = match body.split_once(':') {
        None => (Some(0.0), Some(number(body)?)),
        Some((a, b)) => {
            let start = match a {
                "~" => None,
                "" => Some(0.0),
                a => Some(number(a)?),
            };
            let end = if b.is_empty() { None } else { Some(number(b)?) };
            (start, end)
        }
    };
    if let (Some(a), Some(b)) = (start, end) {
        if a > b {
            return Err(format!("range {s:?}: start above end"));
        }
    }
    Ok(Some(Range { inside, start, end }))
}

fn opt_number(s: &str) -> Result<Option<f64>, String> {
    if s.is_empty() {
        Ok(None)
    } else {
        number(s).map(Some)
    }
}

/// Strictly parse the perfdata part of a plugin line: space-separated data, labels quoted,
/// every datum well formed, no label twice.
fn parse_perfdata(s: &str) -> Result<Vec<Perf>, String> {
    let mut out: Vec<Perf> = vec![];
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (label, after) = if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'').ok_or("unterminated quoted label")?;
            (&r[..end], &r[end + 1..])
        } else {
            let end = rest.find('=').ok_or("no '=' after label")?;
            (&rest[..end], &rest[end..])
        };
        if label.is_empty() || label.contains('=') || label.contains('\'') {
            return Err(format!("bad label {label:?}"));
        }
        let after = after
            .strip_prefix('=')
            .ok_or_else(|| format!("{label}: '=' must follow the label"))?;
        let end = after.find(' ').unwrap_or(after.len());
        let (datum, next) = after.split_at(end);
        rest = next.trim_start();
        let fields: Vec<&str> = datum.split(';').collect();
        if fields.len() > 5 {
            return Err(format!("{label}: too many fields in {datum:?}"));
        }
        let v = fields[0];
        let num_end = v
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(v.len());
        let (num, uom) = v.split_at(num_end);
        if !["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"].contains(&uom) {
            return Err(format!("{label}: unit {uom:?} is not a plugin UOM"));
        }
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        let p = Perf {
            label: label.to_string(),
            value: number(num).map_err(|e| format!("{label}: {e}"))?,
            uom: uom.to_string(),
            warn: range(field(1)).map_err(|e| format!("{label}: warn {e}"))?,
            crit: range(field(2)).map_err(|e| format!("{label}: crit {e}"))?,
            min: opt_number(field(3)).map_err(|e| format!("{label}: min {e}"))?,
            max: opt_number(field(4)).map_err(|e| format!("{label}: max {e}"))?,
        };
        if out.iter().any(|q| q.label == p.label) {
            return Err(format!("label {} appears twice", p.label));
        }
        out.push(p);
    }
    Ok(out)
}

/// A whole plugin output: `STATUS line | perfdata`, then long-output lines.
struct Plugin {
    service: String,
    status: String,
    text: String,
    perf: Vec<Perf>,
    long: Vec<String>,
}

fn parse_plugin(out: &str) -> Result<Plugin, String> {
    let mut lines = out.lines();
    let first = lines.next().ok_or("no output")?;
    if first.matches('|').count() > 1 {
        return Err("more than one '|' in the status line".into());
    }
    let (text, perf) = first.split_once(" | ").unwrap_or((first, ""));
    let (head, text) = text
        .split_once(" - ")
        .ok_or("no ' - ' in the status line")?;
    let (service, status) = head.split_once(' ').ok_or("no status word")?;
    if !["OK", "WARNING", "CRITICAL", "UNKNOWN"].contains(&status) {
        return Err(format!("status word {status:?}"));
    }
    let long: Vec<String> = lines.map(str::to_string).collect();
    if long.iter().any(|l| l.contains('|')) {
        return Err("a long-output line has a '|' (it would start perfdata)".into());
    }
    Ok(Plugin {
        service: service.to_string(),
        status: status.to_string(),
        text: text.to_string(),
        perf: parse_perfdata(perf)?,
        long,
    })
}

#[test]
fn the_strict_parser_rejects_malformed_perfdata() {
    assert!(parse_perfdata("'a'=1s;1;2;0;").is_ok());
    assert!(parse_perfdata("'a'=1s;10:;5:;;").is_ok());
    assert!(parse_perfdata("a=1;~:3;@2:4;0;9").is_ok());
    for bad in [
        "'a'=1d;;;;",
        "'a'=x",
        "'a'=1s;1;2;0;;;",
        "'a'=1 'a'=2",
        "'a=1",
        "'a'1",
        "'a'=1;5:2",
        "'a'=1.s",
    ] {
        assert!(parse_perfdata(bad).is_err(), "{bad} was accepted");
    }
}

fn connect_to(s: &MailServers) -> Vec<String> {
    s.connect_to_rules()
}

fn nagios(s: &MailServers, user: &TestUser, extra: &[&str]) -> (Output, Plugin) {
    let mut cmd = Command::cargo_bin("mailcheck").unwrap();
    cmd.env_remove("MAILCHECK_OAUTH2_TOKEN")
        .env("MAILCHECK_PASSWORD", &user.password)
        .args([
            "probe",
            &user.address,
            "--server",
            &s.tls_name,
            "--no-prompt",
        ])
        .args(["--ca-file", s.ca_pem.to_str().unwrap()])
        .args(["--format", "nagios", "--timeout", "5s"])
        .args(extra);
    for r in connect_to(s) {
        cmd.args(["--connect-to", &r]);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let plugin = parse_plugin(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert!(
        !text.contains(&user.password),
        "the password is in the output"
    );
    (out, plugin)
}

fn perf<'a>(p: &'a Plugin, label: &str) -> &'a Perf {
    p.perf
        .iter()
        .find(|d| d.label == label)
        .unwrap_or_else(|| panic!("no perfdata {label}"))
}

#[test]
fn ok_with_perfdata_for_every_combination() {
    let s = MailServers::get();
    let user = s.user("olivia");
    let (out, p) = nagios(s, &user, &["-w", "4s", "-c", "8s", "--cert-crit-days", "7"]);
    assert_eq!(out.status.code(), Some(0), "{}", p.text);
    assert_eq!(p.service, "MAILCHECK");
    assert_eq!(p.status, "OK");
    assert!(
        p.text
            .starts_with("olivia@lab.test: 6 of 6 combinations work"),
        "{}",
        p.text
    );
    for c in [
        "imap_993", "imap_143", "pop3_995", "pop3_110", "smtp_465", "smtp_587",
    ] {
        let connect = perf(&p, &format!("{c}_connect"));
        assert_eq!(connect.uom, "s");
        assert!(connect.value >= 0.0 && connect.value < 4.0, "{connect:?}");
        assert_eq!(connect.min, Some(0.0));
        let w = connect.warn.as_ref().unwrap();
        assert_eq!((w.inside, w.start, w.end), (false, Some(0.0), Some(4.0)));
        assert_eq!(connect.crit.as_ref().unwrap().end, Some(8.0));
        // Login time and the TLS handshake, in seconds.
        assert_eq!(perf(&p, &format!("{c}_auth")).uom, "s");
        assert_eq!(perf(&p, &format!("{c}_tls")).uom, "s");
        let total = perf(&p, &format!("{c}_time"));
        assert!(total.value >= connect.value);
        // Certificate days: no unit, alert below the thresholds.
        let days = perf(&p, &format!("{c}_cert_days"));
        assert_eq!(days.uom, "");
        assert!((85.0..=90.0).contains(&days.value), "{days:?}");
        let w = days.warn.as_ref().unwrap();
        assert_eq!((w.start, w.end), (Some(21.0), None));
        assert_eq!(days.crit.as_ref().unwrap().start, Some(7.0));
        assert_eq!(perf(&p, &format!("{c}_works")).value, 1.0);
    }
    // Long output: one line per combination and per threshold check.
    assert!(p
        .long
        .iter()
        .any(|l| l.starts_with("[OK] imap/993/tls: works; TLSv1.3")));
    assert_eq!(
        p.long
            .iter()
            .filter(|l| l.contains(": response-time "))
            .count(),
        6
    );
    assert_eq!(
        p.long.iter().filter(|l| l.contains(": cert-days ")).count(),
        6
    );
}

#[test]
fn response_time_thresholds_make_it_warning_or_critical() {
    let s = MailServers::get();
    let user = s.user("peggy");
    // Every real step takes more than a microsecond (a login goes through Dovecot's auth).
    let (out, p) = nagios(s, &user, &["-w", "0.001ms"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.text);
    assert_eq!(p.status, "WARNING");
    assert!(p.text.contains(": response-time "), "{}", p.text);
    assert!(p.text.contains("warning above 0.000 s"), "{}", p.text);

    let (out, p) = nagios(s, &user, &["-w", "0.001ms", "-c", "0.002ms"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.text);
    assert_eq!(p.status, "CRITICAL");
    let auth = perf(&p, "imap_993_auth");
    assert!(auth.crit.is_some() && auth.warn.is_some());
}

#[test]
fn certificate_days_thresholds() {
    let s = MailServers::get();
    let user = s.user("quinn");
    // The lab certificate has 89 days left.
    let (out, p) = nagios(s, &user, &["--cert-warn-days", "100"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.text);
    assert_eq!(p.status, "WARNING");
    let (out, p) = nagios(
        s,
        &user,
        &["--cert-warn-days", "120", "--cert-crit-days", "100"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", p.text);
    assert_eq!(p.status, "CRITICAL");
    assert!(p.text.contains("cert-days"), "{}", p.text);
    assert!(p.text.contains("day(s) left"), "{}", p.text);
    assert_eq!(
        perf(&p, "smtp_587_cert_days").crit.as_ref().unwrap().start,
        Some(100.0)
    );
}

#[test]
fn a_rejected_password_is_critical() {
    let s = MailServers::get();
    let mut user = s.user("rupert");
    user.password = "Canary-nagios-wrong".into();
    let (out, p) = nagios(s, &user, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", p.text);
    assert_eq!(p.status, "CRITICAL");
    assert!(p.text.contains("auth.rejected"), "{}", p.text);
    assert_eq!(s.failed_logins(&user.address), 1);
}

/// Discovery names two IMAP hosts on one port (both the real Dovecot): every series and label
/// of the one combination must stay apart, in Nagios perfdata and in Prometheus.
#[test]
fn one_combination_on_two_hosts_keeps_labels_apart() {
    use discover_support::{Lab, Zone};
    let s = MailServers::get();
    let mut z = Zone::default();
    for n in discover_support::WEB_NAMES {
        z.a(n, "127.0.0.1");
    }
    for h in ["imap1.lab.test", "imap2.lab.test", &s.tls_name] {
        z.a(h, &s.ip.to_string());
    }
    let doc = format!(
        r#"<clientConfig version="1.1"><emailProvider id="lab.test">
  <domain>lab.test</domain><displayName>Lab</displayName>
  <incomingServer type="imap"><hostname>imap1.lab.test</hostname><port>{imaps}</port>
    <socketType>SSL</socketType><username>%EMAILADDRESS%</username></incomingServer>
  <incomingServer type="imap"><hostname>imap2.lab.test</hostname><port>{imaps}</port>
    <socketType>SSL</socketType><username>%EMAILADDRESS%</username></incomingServer>
  <outgoingServer type="smtp"><hostname>{h}</hostname><port>{sub}</port>
    <socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></outgoingServer>
</emailProvider></clientConfig>"#,
        h = s.tls_name,
        imaps = s.imaps,
        sub = s.submission
    );
    let lab = Lab::serving_autoconfig(z, &doc);
    let both = lab.ca_bundle_with(&s.ca_pem);
    let run = |format: &str| {
        let mut cmd = Command::cargo_bin("mailcheck").unwrap();
        cmd.env_remove("MAILCHECK_PASSWORD")
            .env_remove("MAILCHECK_OAUTH2_TOKEN")
            .args([
                "probe",
                "twohosts@lab.test",
                "--no-prompt",
                "--format",
                format,
            ])
            .args(["--dns-server", &lab.dns.addr.to_string()])
            .args(["--ispdb-url", "https://ispdb.test/v1.1/"])
            .args(["--ca-file", both.path().to_str().unwrap()])
            .args(["--tls-name", &s.tls_name])
            .args(["--timeout", "5s", "--connect-timeout", "2s"]);
        for r in lab.connect_to() {
            cmd.args(["--connect-to", &r]);
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };

    // Nagios: the strict parser refuses a label that appears twice.
    let text = run("nagios");
    let p = parse_plugin(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    let one = perf(&p, &format!("imap_{}_imap1_connect", s.imaps));
    let two = perf(&p, &format!("imap_{}_imap2_connect", s.imaps));
    // Unique in their first 19 characters (the plugin guidelines' advice).
    assert_ne!(one.label[..19], two.label[..19]);
    // A combination on one host only keeps the short label.
    perf(&p, &format!("smtp_{}_connect", s.submission));
    for h in ["imap1.lab.test", "imap2.lab.test"] {
        assert!(
            p.long
                .iter()
                .any(|l| l.starts_with(&format!("[OK] imap/{}/tls on {h}: works", s.imaps))),
            "{text}"
        );
    }

    // Prometheus: one series per host, no sample twice.
    let prom = run("prometheus");
    let samples: Vec<&str> = prom
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .collect();
    let mut unique = samples.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), samples.len(), "{prom}");
    for h in ["imap1.lab.test", "imap2.lab.test"] {
        let want = format!(
            "mailcheck_probe_success{{server=\"{h}\",protocol=\"imap\",port=\"{}\",security=\"tls\"}} 1",
            s.imaps
        );
        assert!(prom.lines().any(|l| l == want), "{want}\n{prom}");
    }
}
