//! The discovery section: each source, what it answered or why not, its time; the settings
//! chosen and where each came from; disagreements between sources; notes.

use std::io::Write;

use comfy_table::{Cell, Color};
use serde::Serialize;

use super::{terminal_safe, SCHEMA_VERSION};
use crate::discover::{DiscoveryReport, SourceKind, SourceStatus};
use crate::i18n::{self, Lang};

/// `mailcheck discover --format json`.
#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    mailcheck_version: &'static str,
    discovery: &'a DiscoveryReport,
}

pub fn write_json(out: &mut dyn Write, report: &DiscoveryReport) -> std::io::Result<()> {
    serde_json::to_writer_pretty(
        &mut *out,
        &Document {
            schema_version: SCHEMA_VERSION,
            mailcheck_version: env!("CARGO_PKG_VERSION"),
            discovery: report,
        },
    )?;
    writeln!(out)
}

/// `mailcheck discover` (table form), and the first section of `mailcheck probe`, in the
/// run's language ([`Lang::current`]). The sources' own details stay as they are.
pub fn write_table(
    out: &mut dyn Write,
    report: &DiscoveryReport,
    color: bool,
) -> std::io::Result<()> {
    write_table_in(out, report, color, Lang::current())
}

/// [`write_table`] in a given language.
pub fn write_table_in(
    out: &mut dyn Write,
    report: &DiscoveryReport,
    color: bool,
    lang: Lang,
) -> std::io::Result<()> {
    let t = |id: &str| i18n::t(lang, id);
    let label = |s: SourceKind| t(&format!("discovery-source-{}", s.name()));
    let seconds = format!("{:.2}", report.elapsed_ms as f64 / 1000.0);
    let seconds = match lang {
        Lang::Fr => seconds.replace('.', ","),
        Lang::En => seconds,
    };
    writeln!(
        out,
        "{}",
        i18n::text(
            lang,
            "discovery-title",
            &crate::params![
                ("address", terminal_safe(&report.address)),
                ("domain", terminal_safe(&report.domain)),
                ("resolver", terminal_safe(&report.resolver)),
                ("seconds", seconds),
            ]
        )
    )?;
    let mut table = super::new_table(color);
    table.set_header(
        [
            "discovery-col-source",
            "discovery-col-status",
            "discovery-col-time",
            "discovery-col-answer",
        ]
        .map(t),
    );
    if !color {
        // Answers are long: wrap them to a fixed width when no terminal says otherwise.
        table
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
            .set_width(120);
    }
    for s in &report.sources {
        let c = match s.status {
            SourceStatus::Answered => Color::Green,
            SourceStatus::NoAnswer | SourceStatus::Skipped => Color::Reset,
            SourceStatus::Failed | SourceStatus::TimedOut => Color::Red,
        };
        let status = Cell::new(t(&format!(
            "discovery-status-{}",
            s.status.name().replace(' ', "-")
        )));
        let mut detail = s.detail.clone();
        if let Some(p) = &s.provider {
            if !detail.contains(p.as_str()) {
                detail = format!("{p}: {detail}");
            }
        }
        table.add_row(vec![
            Cell::new(label(s.source)),
            if color { status.fg(c) } else { status },
            Cell::new(format!("{} ms", s.ms)),
            Cell::new(terminal_safe(&detail)),
        ]);
    }
    writeln!(out, "{table}")?;

    if report.selected.is_empty() {
        writeln!(out, "\n{}", t("discovery-none"))?;
    } else {
        writeln!(out, "\n{}", t("discovery-found"))?;
        let (user, from) = (t("discovery-user"), t("discovery-from"));
        for c in &report.selected {
            writeln!(
                out,
                "  {:<5} {:<32} {:<8} {user} {:<28} {from} {} ({}) {}",
                c.protocol.name().to_uppercase(),
                format!("{}:{}", terminal_safe(&c.host), c.port),
                c.security.client_label(),
                terminal_safe(&c.username),
                label(c.source),
                t(if c.trusted {
                    "discovery-trusted"
                } else {
                    "discovery-untrusted"
                }),
                terminal_safe(&c.origin)
            )?;
        }
    }
    // Sources by their codes here: "SRV records says" would not agree.
    let says = t("discovery-says");
    // French sets a space before ";".
    let semicolon = match lang {
        Lang::Fr => " ;",
        Lang::En => ";",
    };
    if !report.disagreements.is_empty() {
        writeln!(out, "\n{}", t("discovery-disagree"))?;
        // A side's servers, and its login names when those are what differs.
        let side = |servers: &[String], usernames: &[String]| {
            let servers = terminal_safe(&servers.join(", "));
            if usernames.is_empty() {
                servers
            } else {
                i18n::text(
                    lang,
                    "discovery-disagree-usernames",
                    &crate::params![
                        ("servers", servers),
                        ("usernames", terminal_safe(&usernames.join(", "))),
                    ],
                )
            }
        };
        for d in &report.disagreements {
            writeln!(
                out,
                "  {:<5} {} {says} {}{semicolon} {} {says} {}",
                d.protocol.name().to_uppercase(),
                d.winner.name(),
                side(&d.winner_says, &d.winner_usernames),
                d.source.name(),
                side(&d.source_says, &d.source_usernames)
            )?;
        }
    }
    if !report.notes.is_empty() {
        writeln!(out, "\n{}", t("discovery-notes"))?;
        for n in &report.notes {
            writeln!(out, "  - {}", terminal_safe(&n.text(lang)))?;
        }
    }
    Ok(())
}

/// Longest detail kept on a line of [`failure_text`]: the full answer is in the table.
const FAILURE_DETAIL_CHARS: usize = 100;

/// Why discovery found nothing, the cause first, for the front ends to print when there is no
/// server to probe: one sentence (cause and hint, from [`DiscoveryReport::failure`]), then one
/// short line per source that was asked: its name, its status, the start of its answer.
/// `None` when a server was found.
pub fn failure_text(report: &DiscoveryReport, lang: Lang) -> Option<String> {
    let failure = report.failure()?;
    let t = |id: &str| i18n::t(lang, id);
    let mut out = i18n::text(
        lang,
        "discovery-failure-sentence",
        &crate::params![
            ("domain", report.domain.as_str()),
            ("cause", failure.cause(lang)),
            ("hint", failure.hint(lang)),
        ],
    );
    let rows: Vec<(String, String, String)> = report
        .sources
        .iter()
        .filter(|s| s.status != SourceStatus::Skipped)
        .map(|s| {
            let mut detail: String = s.detail.chars().take(FAILURE_DETAIL_CHARS).collect();
            if s.detail.chars().count() > FAILURE_DETAIL_CHARS {
                detail.pop();
                detail.push('…');
            }
            (
                t(&format!("discovery-source-{}", s.source.name())),
                t(&format!(
                    "discovery-status-{}",
                    s.status.name().replace(' ', "-")
                )),
                terminal_safe(&detail),
            )
        })
        .collect();
    let width = |f: fn(&(String, String, String)) -> &String| {
        rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0)
    };
    let (w0, w1) = (width(|r| &r.0), width(|r| &r.1));
    for (source, status, detail) in &rows {
        out.push_str(&format!("\n  {source:<w0$}  {status:<w1$}  {detail}"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{Candidate, Note, Notes, SourceReport};
    use crate::model::{Protocol, Security};

    fn report() -> DiscoveryReport {
        let c = Candidate {
            protocol: Protocol::Imap,
            host: "ssl0.ovh.net".into(),
            port: 993,
            security: Security::Tls,
            username: "alice@example.fr".into(),
            auth: vec![],
            source: SourceKind::ProviderTable,
            origin: "providers.toml: ovh".into(),
            dnssec: None,
            trusted: true,
            notes: Notes::default(),
        };
        DiscoveryReport {
            address: "alice@example.fr".into(),
            domain: "example.fr".into(),
            resolver: "system".into(),
            elapsed_ms: 1500,
            sources: vec![
                SourceReport {
                    source: SourceKind::ProviderTable,
                    status: SourceStatus::Answered,
                    detail: "1 server(s)".into(),
                    ms: 1,
                    queried: vec![],
                    provider: Some("OVHcloud".into()),
                    candidates: vec![c.clone()],
                    notes: Notes::default(),
                    not_offered: vec![],
                    obstacles: vec![],
                    published: Default::default(),
                },
                SourceReport {
                    source: SourceKind::Guess,
                    status: SourceStatus::Skipped,
                    detail: "not needed".into(),
                    ms: 0,
                    queried: vec![],
                    provider: None,
                    candidates: vec![],
                    notes: Notes::default(),
                    not_offered: vec![],
                    obstacles: vec![],
                    published: Default::default(),
                },
            ],
            winners: Default::default(),
            selected: vec![c],
            disagreements: vec![],
            notes: Notes(vec![Note::From {
                source: SourceKind::Srv,
                note: Box::new(Note::SrvNotOffered {
                    name: "_pop3s._tcp.example.fr".into(),
                }),
            }]),
            cached: false,
        }
    }

    #[test]
    fn a_username_disagreement_names_both_usernames_in_both_languages() {
        let mut r = report();
        r.disagreements = vec![crate::discover::Disagreement {
            protocol: Protocol::Imap,
            winner: SourceKind::Autoconfig,
            winner_says: vec!["imap.example.fr:993 tls".into()],
            source: SourceKind::Ispdb,
            source_says: vec!["imap.example.fr:993 tls".into()],
            winner_usernames: vec!["alice".into()],
            source_usernames: vec!["alice@example.fr".into()],
        }];
        let render = |lang| {
            let mut out = Vec::new();
            write_table_in(&mut out, &r, false, lang).unwrap();
            String::from_utf8(out).unwrap()
        };
        let en = render(Lang::En);
        assert!(
            en.contains(
                "Sources disagree:\n  IMAP  autoconfig says imap.example.fr:993 tls (user alice); \
             ispdb says imap.example.fr:993 tls (user alice@example.fr)\n"
            ),
            "{en}"
        );
        let fr = render(Lang::Fr);
        assert!(fr.contains(
            "Les sources divergent :\n  IMAP  autoconfig indique imap.example.fr:993 tls (utilisateur alice) ; \
             ispdb indique imap.example.fr:993 tls (utilisateur alice@example.fr)\n"
        ), "{fr}");
    }

    #[test]
    fn a_failed_discovery_says_why_first_then_one_line_per_source() {
        use crate::discover::Obstacle;
        let mut r = report();
        r.selected.clear();
        r.resolver = "127.0.0.1:5300".into();
        r.sources[0].status = SourceStatus::NoAnswer;
        r.sources[0].candidates.clear();
        r.sources[0].detail = "not in the table".into();
        r.sources[1].status = SourceStatus::Failed;
        r.sources[1].detail = format!("A/AAAA mail.example.fr: {}", "x".repeat(200));
        r.sources[1].obstacles = vec![Obstacle::DnsSilent, Obstacle::TimedOut];
        assert!(
            failure_text(&report(), Lang::En).is_none(),
            "a server was found"
        );
        let en = failure_text(&r, Lang::En).unwrap();
        let lines: Vec<&str> = en.lines().collect();
        assert_eq!(
            lines[0],
            "No server found for example.fr: the DNS server 127.0.0.1:5300 does not answer: \
             check the network, or give --dns-server a server that answers"
        );
        assert_eq!(lines.len(), 3, "{en}");
        assert_eq!(
            lines[1],
            "  built-in provider table  no answer  not in the table"
        );
        assert!(lines[2].starts_with("  guessing                 failed     A/AAAA"));
        assert!(lines[2].ends_with("x…"), "{}", lines[2]);
        let fr = failure_text(&r, Lang::Fr).unwrap();
        assert!(
            fr.starts_with(
                "Aucun serveur trouvé pour example.fr : le serveur DNS 127.0.0.1:5300 ne répond pas : "
            ),
            "{fr}"
        );
    }

    #[test]
    fn answers_cannot_drive_the_terminal() {
        let mut r = report();
        let hostile = "ok\u{1b}[31m\rfake\nline\u{202e}txt.exe";
        r.sources[1].status = SourceStatus::Failed;
        r.sources[1].detail = hostile.into();
        r.selected[0].origin = hostile.into();
        let mut out = Vec::new();
        write_table_in(&mut out, &r, false, Lang::En).unwrap();
        let text = String::from_utf8(out).unwrap();
        r.selected.clear();
        let failure = failure_text(&r, Lang::En).unwrap();
        for shown in [&text, &failure] {
            assert!(!shown.contains(['\u{1b}', '\r', '\u{202e}']), "{shown}");
        }
        assert!(
            text.contains("ok\\u{1b}[31m\\rfake\\nline\\u{202e}txt.exe"),
            "{text}"
        );
    }

    #[test]
    fn the_discovery_table_speaks_both_languages() {
        let mut en = Vec::new();
        write_table_in(&mut en, &report(), false, Lang::En).unwrap();
        let en = String::from_utf8(en).unwrap();
        assert!(
            en.starts_with(
                "Discovery for alice@example.fr (domain example.fr, DNS system) in 1.50 s"
            ),
            "{en}"
        );
        for needle in [
            "answer, or why not",
            "built-in provider table",
            "skipped",
            "Settings found",
            "user alice@example.fr",
            "(trusted)",
            "Notes:",
            "  - SRV records: _pop3s._tcp.example.fr says the service is not offered (target \".\")",
        ] {
            assert!(en.contains(needle), "{needle}: {en}");
        }
        let mut fr = Vec::new();
        write_table_in(&mut fr, &report(), false, Lang::Fr).unwrap();
        let fr = String::from_utf8(fr).unwrap();
        assert!(
            fr.starts_with(
                "Découverte pour alice@example.fr (domaine example.fr, DNS system) en 1,50 s"
            ),
            "{fr}"
        );
        for needle in [
            "réponse, ou pourquoi aucune",
            "table des fournisseurs intégrée",
            "non interrogée",
            "Réglages trouvés",
            "utilisateur alice@example.fr",
            "(fiable)",
            "Remarques :",
            "  - enregistrements SRV : _pop3s._tcp.example.fr indique que le service n'est pas proposé (cible « . »)",
        ] {
            assert!(fr.contains(needle), "{needle}: {fr}");
        }
    }
}
