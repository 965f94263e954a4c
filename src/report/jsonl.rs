//! JSON Lines: one compact JSON object per account, written as each finishes, so a consumer
//! can stream a batch of hundreds of addresses.

use std::io::Write;

use crate::report::account::AccountResult;

pub fn write_line(out: &mut dyn Write, r: &AccountResult) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, r)?;
    writeln!(out)?;
    out.flush()
}
