//! The human table: one row per combination, then the reasons, findings and the settings to
//! use. Colour only when asked or on a terminal without NO_COLOR.

use std::io::Write;

use comfy_table::{Attribute, Cell, Color};

use super::{terminal_safe, Outcome, RunReport, VerdictWord};
use crate::i18n::{self, Lang};
use crate::net::connection::Direction;
use crate::net::tls::CertVerdict;
use crate::outcome::Status;
use crate::probe::{AuthOutcome, NotAttempted, StepName};

/// The table, in the report's language.
pub fn write(out: &mut dyn Write, report: &RunReport, color: bool) -> std::io::Result<()> {
    let lang = report.lang;
    let t = |id: &str| i18n::t(lang, id);
    let paint = |text: String, c: Color| {
        let cell = Cell::new(text);
        if color {
            cell.fg(c)
        } else {
            cell
        }
    };
    let seconds = format!("{:.2}", report.elapsed_ms as f64 / 1000.0);
    let seconds = match lang {
        Lang::Fr => seconds.replace('.', ","),
        Lang::En => seconds,
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
                        if c.trusted {
                            String::new()
                        } else {
                            format!(" {}", i18n::t(lang, "source-untrusted"))
                        }
                    )
                })
                .unwrap_or_else(|| "—".into()),
        )
    };
    writeln!(
        out,
        "{}",
        i18n::text(
            lang,
            "table-title",
            &crate::params![
                ("version", report.mailcheck_version),
                ("address", terminal_safe(&report.address)),
                ("server", terminal_safe(&report.server)),
                ("count", report.results.len()),
                ("seconds", seconds),
            ]
        )
    )?;
    let mut header = vec!["col-protocol"];
    if show_host {
        header.push("col-host");
    }
    // --each-address: a row per address of the server.
    let show_address = report
        .results
        .iter()
        .any(|o| o.report.target.address.is_some());
    if show_address {
        header.push("col-address");
    }
    header.extend([
        "col-port",
        "col-security",
        "col-connect",
        "col-tls",
        "col-certificate",
        "col-login",
        "col-verdict",
    ]);
    if report.discovery.is_some() {
        header.push("col-source");
    }
    let mut table = super::new_table(color);
    table.set_header(header.into_iter().map(t).collect::<Vec<_>>());
    for o in &report.results {
        let c = o.report.target.combination;
        // The same word as JSON's: a row whose login was skipped proves the transport only.
        let (verdict_text, verdict_color) = match o.word {
            VerdictWord::Connects => (t("verdict-connects"), Color::Reset),
            VerdictWord::ConnectsLegacyTls => (t("verdict-connects-legacy-tls"), Color::Yellow),
            VerdictWord::Works => (t("verdict-works"), Color::Green),
            VerdictWord::WorksWithWarnings => (t("verdict-works-with-warnings"), Color::Yellow),
            VerdictWord::Fails => (
                i18n::text(
                    lang,
                    "verdict-fails",
                    &crate::params![(
                        "code",
                        o.reason.as_ref().map(|r| r.code.code()).unwrap_or("?")
                    )],
                ),
                Color::Red,
            ),
        };
        let (cert_text, cert_color) = certificate(lang, o);
        let (auth_text, auth_color) = login(lang, &o.report.auth);
        let mut row = vec![Cell::new(c.protocol.name().to_uppercase())];
        if show_host {
            row.push(Cell::new(terminal_safe(&o.report.target.host)));
        }
        if show_address {
            row.push(Cell::new(
                o.report
                    .target
                    .address
                    .map_or_else(|| "—".into(), |a| a.to_string()),
            ));
        }
        row.extend(vec![
            Cell::new(c.port),
            Cell::new(c.security.client_label()),
            Cell::new(connect_time(lang, o)),
            Cell::new(
                o.report
                    .tls
                    .as_ref()
                    .map(|t| terminal_safe(&t.version))
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

    // The same failure or finding on several combinations (a certificate, a host-wide TLS
    // setting) is said once, with the combinations it concerns.
    let all = report.results.len();
    let mut why: Grouped<String> = Grouped::default();
    for o in &report.results {
        let (Some(r), Some(f)) = (&o.reason, &o.report.failure) else {
            continue;
        };
        let mut text = format!("{} — {}", r.code.code(), terminal_safe(&r.cause));
        if let Some(s) = &f.server_says {
            let said = i18n::text(
                lang,
                "server-said",
                &crate::params![("words", terminal_safe(s))],
            );
            text.push_str(&format!("\n{said}"));
        }
        let hint = i18n::text(
            lang,
            "hint",
            &crate::params![("hint", terminal_safe(&r.hint))],
        );
        text.push_str(&format!("\n{hint}"));
        let name = match o.report.target.address {
            Some(a) => format!("{} {a}", o.id),
            None => o.id.clone(),
        };
        why.add(text, name);
    }
    if !why.0.is_empty() {
        writeln!(out, "\n{}", t("section-why"))?;
        why.write(out, lang, all)?;
    }
    let mut findings: Grouped<String> = Grouped::default();
    for o in &report.results {
        for f in &o.findings {
            let sev = t(&format!("severity-{}", f.severity.code()));
            findings.add(
                format!("{sev} {} ({})", terminal_safe(&f.message), f.code),
                o.id.clone(),
            );
        }
    }
    if !findings.0.is_empty() {
        writeln!(out, "\n{}", t("section-findings"))?;
        findings.write(out, lang, all)?;
    }
    if !report.recommendation.advice.is_empty() {
        writeln!(out, "\n{}", t("section-advice"))?;
        for a in &report.recommendation.advice {
            writeln!(out, "  {}", terminal_safe(&a.message))?;
        }
    }
    if let Some(cert) = report
        .results
        .iter()
        .find_map(|o| o.report.tls.as_ref().and_then(|t| t.certificate.as_ref()))
    {
        writeln!(
            out,
            "\n{}",
            i18n::text(
                lang,
                "certificate-line",
                &crate::params![
                    ("subject", terminal_safe(&cert.subject)),
                    ("issuer", terminal_safe(&cert.issuer)),
                    ("date", i18n::date(lang, &cert.not_after)),
                    // Negative days left: expired, said as such ("expired 1 day ago").
                    ("expired", if cert.days_left < 0 { "yes" } else { "no" }),
                    ("days", cert.days_left.max(0)),
                    ("ago", cert.days_left.saturating_neg().max(0)),
                    ("names", terminal_safe(&cert.names.join(", "))),
                ]
            )
        )?;
    }
    if let Some(rt) = &report.round_trip {
        super::roundtrip::write(out, rt)?;
    }
    write_transcripts(out, report)?;
    let (mark, code) = match report.status {
        Status::Ok => (t("status-ok"), "32"),
        Status::Warning => (t("status-warning"), "33"),
        Status::Critical => (t("status-critical"), "31"),
        Status::Unknown => (t("status-unknown"), "35"),
    };
    if color {
        writeln!(
            out,
            "\n\x1b[1;{code}m{mark}\x1b[0m {}",
            terminal_safe(&report.summary)
        )?;
    } else {
        writeln!(out, "\n{mark} {}", terminal_safe(&report.summary))?;
    }
    Ok(())
}

/// Texts in their first order, each with the combinations it was said for.
#[derive(Default)]
struct Grouped<K>(Vec<(K, Vec<String>)>);

impl<K: PartialEq> Grouped<K> {
    fn add(&mut self, text: K, who: String) {
        match self.0.iter_mut().find(|(k, _)| *k == text) {
            Some((_, names)) => names.push(who),
            None => self.0.push((text, vec![who])),
        }
    }
}

impl Grouped<String> {
    /// One entry per text: the combination's id in a column before it, or, for several, their
    /// ids (or "all N combinations") on a line of their own above it.
    fn write(&self, out: &mut dyn Write, lang: Lang, all: usize) -> std::io::Result<()> {
        for (text, names) in &self.0 {
            let mut lines = text.lines();
            let first = lines.next().unwrap_or_default();
            if names.len() == 1 {
                writeln!(out, "  {:<20} {first}", names[0])?;
            } else {
                let who = if names.len() == all {
                    i18n::text(lang, "all-combinations", &crate::params![("n", all)])
                } else {
                    names.join(", ")
                };
                if who.chars().count() <= 20 {
                    writeln!(out, "  {who:<20} {first}")?;
                } else {
                    writeln!(out, "  {who}")?;
                    writeln!(out, "  {:<20} {first}", "")?;
                }
            }
            for line in lines {
                writeln!(out, "  {:<20} {line}", "")?;
            }
        }
        Ok(())
    }
}

/// With `--trace`: each combination's (already redacted) session, one section per combination,
/// times relative to the start of its connection.
fn write_transcripts(out: &mut dyn Write, report: &RunReport) -> std::io::Result<()> {
    // Without --trace no report carries a transcript, not even an empty one.
    if report.results.iter().all(|o| o.report.transcript.is_none()) {
        return Ok(());
    }
    let lang = report.lang;
    writeln!(out, "\n{}", i18n::t(lang, "section-transcripts"))?;
    for o in &report.results {
        writeln!(out, "  {}", o.id)?;
        match o.report.transcript.as_deref() {
            Some(lines) if !lines.is_empty() => {
                for l in lines {
                    let dir = match l.dir {
                        Direction::Client => "C:",
                        Direction::Server => "S:",
                        Direction::Note => "* ",
                    };
                    writeln!(out, "    +{:>6} ms {dir} {}", l.ms, terminal_safe(&l.text))?;
                }
            }
            _ => writeln!(out, "    {}", i18n::t(lang, "transcript-none"))?,
        }
    }
    Ok(())
}

fn connect_time(lang: Lang, o: &Outcome) -> String {
    o.report
        .steps
        .iter()
        .find(|s| s.name == StepName::Connect)
        .map(|s| {
            if s.ok && s.ms == 0 {
                // Whole milliseconds: on loopback or a LAN a connect takes well under one.
                "<1 ms".into()
            } else if s.ok {
                format!("{} ms", s.ms)
            } else {
                i18n::t(lang, "connect-failed")
            }
        })
        .unwrap_or_else(|| "—".into())
}

fn certificate(lang: Lang, o: &Outcome) -> (String, Color) {
    let Some(tls) = &o.report.tls else {
        return ("—".into(), Color::Reset);
    };
    match &tls.verification {
        CertVerdict::Valid => {
            let days = tls.certificate.as_ref().map_or(0, |c| c.days_left);
            (
                i18n::text(lang, "cert-valid", &crate::params![("days", days)]),
                Color::Green,
            )
        }
        v => (i18n::t(lang, &format!("cert-{}", v.code())), Color::Red),
    }
}

fn login(lang: Lang, a: &AuthOutcome) -> (String, Color) {
    let t = |id: &str| i18n::t(lang, id);
    match a {
        AuthOutcome::Succeeded { mechanism, .. } => (
            i18n::text(
                lang,
                "login-ok",
                &crate::params![("mechanism", mechanism.as_str())],
            ),
            Color::Green,
        ),
        AuthOutcome::Rejected { .. } => (t("login-rejected"), Color::Red),
        AuthOutcome::Failed { .. } => (t("login-failed"), Color::Red),
        AuthOutcome::NotAttempted { why } => (
            match why {
                NotAttempted::NoCredentials => t("login-no-credentials"),
                NotAttempted::CertificateNotTrusted => t("login-certificate-not-trusted"),
                NotAttempted::SkippedAfterRejection => t("login-skipped-after-rejection"),
                NotAttempted::SkippedAfterStall => t("login-skipped-after-stall"),
                NotAttempted::NoUsableMechanism => t("login-no-usable-mechanism"),
                NotAttempted::EarlierFailure => "—".into(),
            },
            Color::Reset,
        ),
    }
}
