//! The JSON document: the contract for scripts. Versioned by `schema_version`; documented in
//! the README.

use std::io::Write;

use super::RunReport;

pub fn write(out: &mut dyn Write, report: &RunReport) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}
