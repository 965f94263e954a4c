//! The discovery section: each source, what it answered or why not, its time; the settings
//! chosen and where each came from; disagreements between sources; notes.

use std::io::Write;

use comfy_table::{presets, Cell, Color, ContentArrangement, Table};
use serde::Serialize;

use super::SCHEMA_VERSION;
use crate::discover::{DiscoveryReport, SourceStatus};

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

/// `mailcheck discover` (table form), and the first section of `mailcheck probe`.
pub fn write_table(
    out: &mut dyn Write,
    report: &DiscoveryReport,
    color: bool,
) -> std::io::Result<()> {
    writeln!(
        out,
        "Discovery for {} (domain {}, DNS {}) in {:.2} s",
        report.address,
        report.domain,
        report.resolver,
        report.elapsed_ms as f64 / 1000.0
    )?;
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["source", "status", "time", "answer, or why not"]);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
        table.set_width(120);
    }
    for s in &report.sources {
        let c = match s.status {
            SourceStatus::Answered => Color::Green,
            SourceStatus::NoAnswer | SourceStatus::Skipped => Color::Reset,
            SourceStatus::Failed | SourceStatus::TimedOut => Color::Red,
        };
        let status = Cell::new(s.status.name());
        let mut detail = s.detail.clone();
        if let Some(p) = &s.provider {
            if !detail.contains(p.as_str()) {
                detail = format!("{p}: {detail}");
            }
        }
        table.add_row(vec![
            Cell::new(s.source.label()),
            if color { status.fg(c) } else { status },
            Cell::new(format!("{} ms", s.ms)),
            Cell::new(detail),
        ]);
    }
    writeln!(out, "{table}")?;

    if report.selected.is_empty() {
        writeln!(out, "\nNo server found.")?;
    } else {
        writeln!(
            out,
            "\nSettings found (highest-priority source per protocol):"
        )?;
        for c in &report.selected {
            writeln!(
                out,
                "  {:<5} {:<32} {:<8} user {:<28} from {} ({}) {}",
                c.protocol.name().to_uppercase(),
                format!("{}:{}", c.host, c.port),
                c.security.client_label(),
                c.username,
                c.source.name(),
                if c.trusted { "trusted" } else { "untrusted" },
                c.origin
            )?;
        }
    }
    if !report.disagreements.is_empty() {
        writeln!(out, "\nSources disagree:")?;
        for d in &report.disagreements {
            writeln!(
                out,
                "  {:<5} {} says {}; {} says {}",
                d.protocol.name().to_uppercase(),
                d.winner.name(),
                d.winner_says.join(", "),
                d.source.name(),
                d.source_says.join(", ")
            )?;
        }
    }
    if !report.notes.is_empty() {
        writeln!(out, "\nNotes:")?;
        for n in &report.notes {
            writeln!(out, "  - {n}")?;
        }
    }
    Ok(())
}
