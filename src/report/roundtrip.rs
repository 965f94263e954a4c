//! The round trip's section of the table (`--round-trip`).

use std::io::Write;

use crate::probe::roundtrip::{Cleanup, RoundTripReport};

pub fn write(out: &mut dyn Write, rt: &RoundTripReport) -> std::io::Result<()> {
    const W: usize = 14;
    match &rt.reason {
        None => match &rt.warning {
            None => writeln!(out, "\nRound trip: {}", rt.detail)?,
            Some(w) => {
                writeln!(
                    out,
                    "\nRound trip: WARNING {} — {}",
                    w.code.code(),
                    rt.detail
                )?;
                writeln!(out, "  {:<W$}{}", "hint", w.hint)?;
            }
        },
        Some(r) => {
            writeln!(
                out,
                "\nRound trip: FAILED {} — {}",
                r.code.code(),
                rt.detail
            )?;
            if let Some(s) = &rt.server_says {
                writeln!(out, "  {:<W$}{s}", "server said")?;
            }
            writeln!(out, "  {:<W$}{}", "hint", r.hint)?;
        }
    }
    if let Some(sent) = &rt.sent {
        writeln!(
            out,
            "  {:<W$}{}, accepted in {} ms: {}",
            "sent", sent.via, sent.ms, sent.server_says
        )?;
        writeln!(out, "  {:<W$}{} to {}", "", sent.message_id, rt.to)?;
    }
    if let Some(via) = &rt.checked_via {
        let into = rt
            .delivered_to
            .as_deref()
            .map_or(String::new(), |m| format!(", {m}"));
        match rt.latency_ms {
            Some(ms) => writeln!(
                out,
                "  {:<W$}{via}{into} after {ms} ms ({} look(s))",
                "arrived", rt.polls
            )?,
            None if rt.sent.is_some() => writeln!(
                out,
                "  {:<W$}{via}: not there after {} look(s)",
                "looked in", rt.polls
            )?,
            None => {}
        }
    }
    for (i, hop) in rt.received.iter().enumerate() {
        writeln!(out, "  {:<W$}{hop}", if i == 0 { "received" } else { "" })?;
    }
    if rt.delivered {
        if rt.authentication_results.is_empty() {
            writeln!(out, "  {:<W$}none", "auth-results")?;
        }
        for (i, ar) in rt.authentication_results.iter().enumerate() {
            writeln!(
                out,
                "  {:<W$}{ar}",
                if i == 0 { "auth-results" } else { "" }
            )?;
        }
    }
    let cleanup = match rt.cleanup {
        Cleanup::Deleted => "deleted",
        Cleanup::Kept => "kept (--keep)",
        Cleanup::FlaggedOnly => "flagged \\Deleted only",
        Cleanup::NothingToDelete => "nothing deleted",
        Cleanup::Failed => "deletion failed",
    };
    match &rt.cleanup_detail {
        Some(d) => writeln!(out, "  {:<W$}{cleanup}: {d}", "cleanup"),
        None => writeln!(out, "  {:<W$}{cleanup}", "cleanup"),
    }
}
