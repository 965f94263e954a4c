//! Rendering account results in the chosen format; the per-format work lives in
//! `report::{nagios, junit, prometheus, jsonl}`.

use std::io::Write;

use serde::Serialize;

use super::account::{overall, AccountResult, Tally};
use crate::outcome::Status;
use crate::report;

/// The formats of account results (`check`, `batch`, and `probe`'s monitoring formats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorFormat {
    Table,
    Json,
    Jsonl,
    Nagios,
    Junit,
    Prometheus,
}

/// Formats written one account at a time, as each finishes.
pub fn streams(fmt: MonitorFormat) -> bool {
    matches!(fmt, MonitorFormat::Table | MonitorFormat::Jsonl)
}

fn paint(s: Status, color: bool) -> String {
    use anstyle::{AnsiColor, Style};
    let word = format!("{:<8}", report::nagios::status_word(s));
    if !color {
        return word;
    }
    let style = Style::new().fg_color(Some(
        match s {
            Status::Ok => AnsiColor::Green,
            Status::Warning => AnsiColor::Yellow,
            Status::Critical => AnsiColor::Red,
            Status::Unknown => AnsiColor::Magenta,
        }
        .into(),
    ));
    format!("{style}{word}{style:#}")
}

/// One account in a streaming format.
pub fn write_one(
    out: &mut dyn Write,
    fmt: MonitorFormat,
    r: &AccountResult,
    color: bool,
) -> std::io::Result<()> {
    match fmt {
        MonitorFormat::Jsonl => report::jsonl::write_line(out, r),
        MonitorFormat::Table => {
            let detail = match (&r.error, &r.report) {
                (Some(e), _) => format!("cannot check: {}", report::terminal_safe(e)),
                (None, Some(rep)) => report::terminal_safe(&rep.summary),
                (None, None) => String::new(),
            };
            writeln!(
                out,
                "{} {}  {detail}",
                paint(r.status, color),
                report::terminal_safe(&r.account)
            )?;
            for e in r.expectations.iter().filter(|e| !e.passed()) {
                writeln!(
                    out,
                    "  {} {}",
                    paint(e.status, color),
                    report::terminal_safe(&e.message())
                )?;
            }
            out.flush()
        }
        _ => Ok(()),
    }
}

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    mailcheck_version: &'static str,
    status: Status,
    exit_code: u8,
    accounts: &'a [AccountResult],
}

/// The closing line of a streamed format, whose accounts were already written as they
/// finished: only their counts are left.
pub fn write_summary(
    out: &mut dyn Write,
    fmt: MonitorFormat,
    tally: &Tally,
    color: bool,
) -> std::io::Result<()> {
    if fmt == MonitorFormat::Table && tally.total() > 1 {
        writeln!(
            out,
            "{} {} account(s): {} ok, {} warning, {} critical, {} unknown",
            paint(tally.overall(), color),
            tally.total(),
            tally.ok,
            tally.warning,
            tally.critical,
            tally.unknown
        )?;
    }
    Ok(())
}

/// The whole output of a format at once: after the run of a format that is not streamed, or
/// for `probe`.
pub fn write_all(
    out: &mut dyn Write,
    fmt: MonitorFormat,
    results: &[AccountResult],
    color: bool,
) -> std::io::Result<()> {
    let status = overall(results);
    match fmt {
        MonitorFormat::Table | MonitorFormat::Jsonl => {
            for r in results {
                write_one(out, fmt, r, color)?;
            }
            write_summary(out, fmt, &Tally::of(results), color)
        }
        MonitorFormat::Json => {
            serde_json::to_writer_pretty(
                &mut *out,
                &Document {
                    schema_version: report::SCHEMA_VERSION,
                    mailcheck_version: env!("CARGO_PKG_VERSION"),
                    status,
                    exit_code: status.exit_code(),
                    accounts: results,
                },
            )?;
            writeln!(out)
        }
        MonitorFormat::Nagios => report::nagios::write(out, results),
        MonitorFormat::Junit => report::junit::write(out, results),
        MonitorFormat::Prometheus => report::prometheus::write(out, results),
    }
}
