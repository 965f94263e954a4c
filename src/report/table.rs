//! The human table: one row per combination, then the reasons, findings and the settings to
//! use. Colour only when asked or on a terminal without NO_COLOR.

use std::io::Write;

use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};

use super::{Outcome, RunReport};
use crate::diagnose::{Severity, Status, Verdict};
use crate::net::tls::CertVerdict;
use crate::probe::{AuthOutcome, NotAttempted, StepName};

pub fn write(out: &mut dyn Write, report: &RunReport, color: bool) -> std::io::Result<()> {
    let paint = |text: String, c: Color| {
        let cell = Cell::new(text);
        if color {
            cell.fg(c)
        } else {
            cell
        }
    };
    if let Some(d) = &report.discovery {
        super::discovery::write_table(out, d, color)?;
        writeln!(out)?;
    }
    // A host column when the servers differ (discovery may give one host per protocol), a
    // source column when they were discovered.
    let show_host = report.results.first().is_some_and(|first| {
        report
            .results
            .iter()
            .any(|o| o.report.target.host != first.report.target.host)
    });
    let source_of = |o: &Outcome| -> Option<String> {
        let d = report.discovery.as_ref()?;
        Some(
            d.origin_of(&o.report.target)
                .map(|c| {
                    format!(
                        "{}{}",
                        c.source.name(),
                        if c.trusted { "" } else { " (untrusted)" }
                    )
                })
                .unwrap_or_else(|| "—".into()),
        )
    };
    writeln!(
        out,
        "mailcheck {} — {} on {} — {} combination(s) in {:.2} s",
        report.mailcheck_version,
        report.address,
        report.server,
        report.results.len(),
        report.elapsed_ms as f64 / 1000.0
    )?;
    let mut header = vec!["protocol"];
    if show_host {
        header.push("host");
    }
    header.extend([
        "port",
        "security",
        "connect",
        "tls",
        "certificate",
        "login",
        "verdict",
    ]);
    if report.discovery.is_some() {
        header.push("source");
    }
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    for o in &report.results {
        let c = o.report.target.combination;
        let (verdict_text, verdict_color) = match o.verdict {
            Verdict::Works => ("works".to_string(), Color::Green),
            Verdict::WorksWithWarnings => ("works, warnings".to_string(), Color::Yellow),
            Verdict::Fails => (
                format!(
                    "fails: {}",
                    o.reason.as_ref().map(|r| r.code.code()).unwrap_or("?")
                ),
                Color::Red,
            ),
        };
        let (cert_text, cert_color) = certificate(o);
        let (auth_text, auth_color) = login(&o.report.auth);
        let mut row = vec![Cell::new(c.protocol.name().to_uppercase())];
        if show_host {
            row.push(Cell::new(&o.report.target.host));
        }
        row.extend(vec![
            Cell::new(c.port),
            Cell::new(c.security.client_label()),
            Cell::new(connect_time(o)),
            Cell::new(
                o.report
                    .tls
                    .as_ref()
                    .map(|t| t.version.clone())
                    .unwrap_or_else(|| "—".into()),
            ),
            paint(cert_text, cert_color),
            paint(auth_text, auth_color),
            paint(verdict_text, verdict_color).add_attribute(Attribute::Bold),
        ]);
        if let Some(src) = source_of(o) {
            row.push(Cell::new(src));
        }
        table.add_row(row);
    }
    writeln!(out, "{table}")?;

    let failing: Vec<&Outcome> = report
        .results
        .iter()
        .filter(|o| o.reason.is_some())
        .collect();
    if !failing.is_empty() {
        writeln!(out, "\nWhy:")?;
        for o in failing {
            let (Some(r), Some(f)) = (&o.reason, &o.report.failure) else {
                continue;
            };
            writeln!(
                out,
                "  {:<20} {} — {}",
                o.id,
                r.code.code(),
                clean(&f.detail)
            )?;
            if let Some(s) = &f.server_says {
                writeln!(out, "  {:<20} server said: {}", "", clean(s))?;
            }
            writeln!(out, "  {:<20} hint: {}", "", r.hint)?;
        }
    }
    let findings: Vec<(&str, &crate::diagnose::Finding)> = report
        .results
        .iter()
        .flat_map(|o| o.findings.iter().map(move |f| (o.id.as_str(), f)))
        .collect();
    if !findings.is_empty() {
        writeln!(out, "\nFindings:")?;
        for (id, f) in findings {
            let sev = match f.severity {
                Severity::Info => "info",
                Severity::Warning => "warning",
                Severity::Critical => "critical",
            };
            writeln!(out, "  {id:<20} {sev}: {} ({})", clean(&f.message), f.code)?;
        }
    }
    if let Some(cert) = report
        .results
        .iter()
        .find_map(|o| o.report.tls.as_ref().and_then(|t| t.certificate.as_ref()))
    {
        writeln!(
            out,
            "\nCertificate: {} — issued by {} — valid until {} ({} days) — names: {}",
            clean(&cert.subject),
            clean(&cert.issuer),
            cert.not_after,
            cert.days_left,
            clean(&cert.names.join(", "))
        )?;
    }
    if let Some(rt) = &report.round_trip {
        super::roundtrip::write(out, rt)?;
    }
    let (mark, code) = match report.status {
        Status::Ok => ("OK", "32"),
        Status::Warning => ("WARNING", "33"),
        Status::Critical => ("CRITICAL", "31"),
        Status::Unknown => ("UNKNOWN", "35"),
    };
    if color {
        writeln!(out, "\n\x1b[1;{code}m{mark}\x1b[0m {}", report.summary)?;
    } else {
        writeln!(out, "\n{mark} {}", report.summary)?;
    }
    Ok(())
}

/// Text that came from the server (its words, certificate names) is shown with control
/// characters escaped: a hostile server must not be able to drive the user's terminal
/// (clear the screen, retitle the window, fake lines) through the report.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
            {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn connect_time(o: &Outcome) -> String {
    o.report
        .steps
        .iter()
        .find(|s| s.name == StepName::Connect)
        .map(|s| {
            if s.ok {
                format!("{} ms", s.ms)
            } else {
                "failed".to_string()
            }
        })
        .unwrap_or_else(|| "—".into())
}

fn certificate(o: &Outcome) -> (String, Color) {
    let Some(tls) = &o.report.tls else {
        return ("—".into(), Color::Reset);
    };
    let days = tls
        .certificate
        .as_ref()
        .map(|c| format!(" ({} d)", c.days_left))
        .unwrap_or_default();
    match &tls.verification {
        CertVerdict::Valid => (format!("valid{days}"), Color::Green),
        v => (v.code().replace('-', " "), Color::Red),
    }
}

fn login(a: &AuthOutcome) -> (String, Color) {
    match a {
        AuthOutcome::Succeeded { mechanism, .. } => (format!("ok ({mechanism})"), Color::Green),
        AuthOutcome::Rejected { .. } => ("rejected".into(), Color::Red),
        AuthOutcome::Failed { .. } => ("failed".into(), Color::Red),
        AuthOutcome::NotAttempted { why } => (
            match why {
                NotAttempted::NoCredentials => "not attempted",
                NotAttempted::CertificateNotTrusted => "withheld (cert)",
                NotAttempted::SkippedAfterRejection => "skipped (rejected)",
                NotAttempted::SkippedAfterStall => "skipped (stalled)",
                NotAttempted::NoUsableMechanism => "no mechanism",
                NotAttempted::EarlierFailure => "—",
            }
            .into(),
            Color::Reset,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        assert_eq!(
            clean("a\u{1b}[2Jb\u{7}\0\r\nc\u{202e}d"),
            "a\\u{1b}[2Jb\\u{7}\\u{0}\\r\\nc\\u{202e}d"
        );
        assert_eq!(clean("Server ready é ✓"), "Server ready é ✓");
    }
}
