use std::process::ExitCode;

use clap::Parser;
use mailcheck::cli::Cli;

fn main() -> ExitCode {
    guard_standard_descriptors();
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
            // Nowhere left to say it if stderr fails too: the exit code does.
            let _ = mailcheck::app::eprint_line(format_args!("mailcheck: {e:#}"));
            ExitCode::from(3)
        }
    }
}

/// A closed stdin, stdout or stderr (`>&-`) would be taken by the next file or socket opened,
/// and a report could go into a server's connection. Each closed one is filled with /dev/null
/// opened read-only: a write there fails with EBADF as on the closed descriptor (which the
/// standard library takes as written: the output is dropped), and nothing else can take its
/// number.
fn guard_standard_descriptors() {
    #[cfg(unix)]
    for fd in 0..=2 {
        // SAFETY: F_GETFD on a descriptor number only queries it.
        let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
        if closed {
            // SAFETY: a NUL-terminated path; open returns the lowest free number, this one.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
        }
    }
}
