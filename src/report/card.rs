//! The settings card: what a person types into a mail client — incoming server, port,
//! security as clients label it, username, outgoing server, port, security, "outgoing server
//! requires authentication" — the same table the providers' guides print, but every line of
//! it tried on the server. Also written as a Thunderbird autoconfig file
//! ([`super::thunderbird`]) and an Apple configuration profile ([`super::mobileconfig`]).

use std::io::{self, Write};

use super::RunReport;
use crate::diagnose::{Advice, Login, Recommendation, Verdict};
use crate::i18n::{self, Lang};
use crate::model::{Direction, Protocol, Security};

/// The forms of the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardFormat {
    /// The table a person reads (in the report's language).
    Text,
    /// Thunderbird's config-v1.1.xml (autoconfig / ISP database format).
    Thunderbird,
    /// An Apple configuration profile (.mobileconfig), without the password.
    Mobileconfig,
}

/// The settings of one direction: the best working one, then the other working ones.
#[derive(Debug, Clone)]
pub struct Side {
    pub best: Option<Recommendation>,
    pub also: Vec<Recommendation>,
    /// Was any combination of this direction probed?
    pub probed: bool,
    /// What to tell the user when nothing works.
    pub advice: Option<Advice>,
}

/// The card's model, shared by its three forms.
#[derive(Debug, Clone)]
pub struct Card {
    pub address: String,
    pub lang: Lang,
    pub checked_at: String,
    pub version: &'static str,
    pub incoming: Side,
    pub outgoing: Side,
    /// Warnings of the recommended settings (certificate expiring...), in the report's language.
    pub warnings: Vec<String>,
    /// Was a password or token given for the run?
    pub credential_given: bool,
    /// The server's verdict on the credential when it refused it (cause — hint), if it did.
    pub credential_refused: Option<String>,
}

impl Card {
    /// The card with every text from outside escaped for a terminal (its text form).
    fn terminal_safe(mut self) -> Card {
        use super::terminal_safe as safe;
        self.address = safe(&self.address);
        for side in [&mut self.incoming, &mut self.outgoing] {
            for r in side.best.iter_mut().chain(side.also.iter_mut()) {
                r.host = safe(&r.host);
                r.username = safe(&r.username);
            }
            if let Some(a) = &mut side.advice {
                a.message = safe(&a.message);
                a.body = safe(&a.body);
            }
        }
        for w in &mut self.warnings {
            *w = safe(w);
        }
        self.credential_refused = self.credential_refused.as_deref().map(safe);
        self
    }

    pub fn from_report(report: &RunReport) -> Card {
        let side = |d: Direction| {
            let mut working = report.working(d);
            let best = match d {
                Direction::Incoming => report.recommendation.incoming.clone(),
                Direction::Outgoing => report.recommendation.outgoing.clone(),
            };
            if let Some(b) = &best {
                working.retain(|w| w.combination() != b.combination());
            }
            Side {
                best,
                also: working,
                probed: report.probed(d),
                advice: report
                    .recommendation
                    .advice
                    .iter()
                    .find(|a| a.direction == d)
                    .cloned(),
            }
        };
        let incoming = side(Direction::Incoming);
        let outgoing = side(Direction::Outgoing);
        let mut warnings: Vec<String> = [&incoming.best, &outgoing.best]
            .into_iter()
            .flatten()
            .filter(|r| r.verdict == Verdict::WorksWithWarnings)
            .flat_map(|r| {
                report
                    .results
                    .iter()
                    .filter(move |o| {
                        o.report.target.combination == r.combination()
                            && o.report.target.host == r.host
                    })
                    .flat_map(|o| o.findings.iter())
                    .filter(|f| f.severity >= crate::outcome::Severity::Warning)
                    .map(|f| f.message.clone())
            })
            .collect();
        // The same certificate (or server) seen through several settings says it once.
        let mut seen = std::collections::HashSet::new();
        warnings.retain(|w| seen.insert(w.clone()));
        let credential_refused = report
            .results
            .iter()
            .filter_map(|o| o.reason.as_ref())
            .find(|r| r.code.is_credential_verdict())
            .map(|r| {
                i18n::text(
                    report.lang,
                    "card-credential",
                    &crate::params![("cause", r.cause.as_str()), ("hint", r.hint.as_str())],
                )
            });
        Card {
            credential_given: report.credential.kind != super::CredentialKind::None,
            credential_refused,
            address: report.address.clone(),
            lang: report.lang,
            checked_at: report.started_at.clone(),
            version: report.mailcheck_version,
            incoming,
            outgoing,
            warnings,
        }
    }

    /// The mail domain of the address (for file names and identifiers).
    pub fn domain(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map_or(self.address.as_str(), |(_, d)| d)
    }

    /// Was the login proven on every setting the card gives (or no credential given)? A
    /// setting whose login was refused, stalled or skipped is only known to connect.
    pub fn logins_proven(&self) -> bool {
        [&self.incoming, &self.outgoing]
            .into_iter()
            .flat_map(|s| s.best.iter().chain(s.also.iter()))
            .all(|r| matches!(r.login, Login::Verified | Login::NoCredential))
    }

    /// Is there something to configure in both probed directions?
    pub fn complete(&self) -> bool {
        (!self.incoming.probed || self.incoming.best.is_some())
            && (!self.outgoing.probed || self.outgoing.best.is_some())
    }
}

/// How mail clients label a security setting.
pub fn security_label(lang: Lang, s: Security) -> String {
    i18n::t(
        lang,
        match s {
            Security::Tls => "card-security-ssl",
            Security::Starttls => "card-security-starttls",
        },
    )
}

/// Write the card in the chosen form. The file forms need a working setting in each probed
/// direction: without one they write nothing on `out` and say why on `err`.
pub fn write(
    out: &mut dyn Write,
    err: &mut dyn Write,
    report: &RunReport,
    format: CardFormat,
) -> io::Result<()> {
    let card = Card::from_report(report);
    match format {
        // Server words reach the card through causes (certificate names...), and discovery
        // gives host and user names: escaped for the terminal, value by value, so that a line
        // break in one cannot fake a line of the card either.
        CardFormat::Text => write_text(out, &card.terminal_safe()),
        CardFormat::Thunderbird | CardFormat::Mobileconfig if !card.complete() => {
            for a in [&card.incoming.advice, &card.outgoing.advice]
                .into_iter()
                .flatten()
            {
                writeln!(err, "mailcheck: {}", super::terminal_safe(&a.message))?;
            }
            Ok(())
        }
        CardFormat::Thunderbird => super::thunderbird::write(out, &card),
        CardFormat::Mobileconfig => super::mobileconfig::write(out, &card),
    }
}

/// The card as text.
pub fn write_text(out: &mut dyn Write, card: &Card) -> io::Result<()> {
    let lang = card.lang;
    let t = |id: &str| i18n::t(lang, id);
    writeln!(
        out,
        "{}",
        i18n::text(
            lang,
            "card-title",
            &crate::params![("address", card.address.as_str())]
        )
    )?;
    writeln!(
        out,
        "{}",
        i18n::text(
            lang,
            "card-proven",
            &crate::params![
                ("version", card.version),
                ("date", i18n::date(lang, &card.checked_at)),
            ]
        )
    )?;
    let labels = [
        "card-server",
        "card-port",
        "card-security",
        "card-username",
        "card-password",
    ]
    .map(t);
    let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let line = |out: &mut dyn Write, label: &str, value: &str| -> io::Result<()> {
        let pad = width.saturating_sub(label.chars().count());
        writeln!(out, "  {label}{}  {value}", " ".repeat(pad))
    };
    for (direction, side) in [
        (Direction::Incoming, &card.incoming),
        (Direction::Outgoing, &card.outgoing),
    ] {
        if !side.probed {
            continue;
        }
        writeln!(out)?;
        let protocol = side.best.as_ref().map_or("IMAP / POP3".to_string(), |b| {
            b.protocol.name().to_uppercase()
        });
        let heading = match direction {
            Direction::Incoming => i18n::text(
                lang,
                "card-incoming",
                &crate::params![("protocol", protocol)],
            ),
            Direction::Outgoing => t("card-outgoing"),
        };
        writeln!(out, "{heading}")?;
        let Some(best) = &side.best else {
            let advice = side
                .advice
                .as_ref()
                .map_or(String::new(), |a| a.body.clone());
            writeln!(
                out,
                "  {}",
                i18n::text(lang, "card-none", &crate::params![("advice", advice)])
            )?;
            continue;
        };
        line(out, &labels[0], &best.host)?;
        line(out, &labels[1], &best.port.to_string())?;
        line(out, &labels[2], &security_label(lang, best.security))?;
        line(out, &labels[3], &best.username)?;
        line(
            out,
            &labels[4],
            &i18n::text(
                lang,
                "card-password-value",
                &crate::params![("login", best.login.code())],
            ),
        )?;
        if best.protocol == Protocol::Smtp {
            line(out, &t("card-smtp-auth"), &t("card-smtp-auth-value"))?;
        }
        // Alternatives whose login was proven "work"; the others (login refused, stalled or
        // skipped because of the account) only showed that they connect.
        let (proven, unproven): (Vec<&Recommendation>, Vec<&Recommendation>) = side
            .also
            .iter()
            .partition(|r| matches!(r.login, Login::Verified | Login::NoCredential));
        for (list, id) in [
            (proven, "card-also-works"),
            (unproven, "card-also-connects"),
        ] {
            if list.is_empty() {
                continue;
            }
            let settings: Vec<String> = list
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {}",
                        r.protocol.name().to_uppercase(),
                        r.port,
                        security_label(lang, r.security)
                    )
                })
                .collect();
            writeln!(
                out,
                "  {}",
                i18n::text(lang, id, &crate::params![("settings", settings.join(", "))])
            )?;
        }
    }
    if let Some(refused) = &card.credential_refused {
        writeln!(out)?;
        writeln!(out, "{refused}")?;
    }
    if !card.warnings.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            i18n::text(
                lang,
                "card-warnings",
                &crate::params![("findings", card.warnings.join(&t("separator")))]
            )
        )?;
    }
    Ok(())
}

/// The "made by mailcheck" line of the files, in the card's language: it only claims what was
/// proven (a refused or stalled login leaves the connection proven, not the login).
pub fn file_made(card: &Card, id: &str) -> String {
    i18n::text(
        card.lang,
        id,
        &crate::params![
            ("version", card.version),
            ("date", i18n::date(card.lang, &card.checked_at)),
            ("proven", if card.logins_proven() { "yes" } else { "no" }),
        ],
    )
}

/// Text for an XML comment: `--` may not appear in one (nor a trailing `-`).
pub fn xml_comment(s: &str) -> String {
    let mut out = xml_escape(s);
    while out.contains("--") {
        out = out.replace("--", "- -");
    }
    if out.ends_with('-') {
        out.push(' ');
    }
    out
}

/// Escape text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab/newline are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Write the card on stdout (a reader that stops early is not an error).
pub fn print(report: &RunReport, format: CardFormat) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    match write(&mut out, &mut err, report, format).and_then(|_| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the settings card"),
    }
}
