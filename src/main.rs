use std::process::ExitCode;

use clap::Parser;
use mailcheck::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors; bad usage is "bad input" (3), not clap's 2,
            // which means "critical" in the Nagios convention this tool follows.
            return if e.use_stderr() {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match mailcheck::app::run(cli.command) {
        Ok(status) => ExitCode::from(status.exit_code()),
        Err(e) => {
            eprintln!("mailcheck: {e:#}");
            ExitCode::from(3)
        }
    }
}
