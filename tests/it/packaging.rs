//! What the project ships besides the binary: the Prometheus alert rules (checked and unit-tested
//! by promtool), the systemd unit (`systemd-analyze verify`) and the Debian package built by
//! packaging/deb/build from the binary these tests run, installed with `dpkg -i` when the tests
//! run as root (CI), else unpacked with `dpkg -x`, and `mailcheck demo` run from its installed
//! path.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROMTOOL: &str = "/usr/bin/promtool";
const SYSTEMD_ANALYZE: &str = "/usr/bin/systemd-analyze";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run scripts/install-test-deps)"));
    let said = text(&out);
    assert!(out.status.success(), "{cmd:?}: {}\n{said}", out.status);
    said
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = repo().join("packaging/prometheus");
    let said = run(Command::new(PROMTOOL)
        .args(["check", "rules", "mailcheck.rules.yml"])
        .current_dir(&dir));
    assert!(said.contains("SUCCESS: 7 rules found"), "{said}");
    // Every *.test.yml of the directory, so a new test file cannot be forgotten.
    let mut tests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    tests.sort();
    assert!(!tests.is_empty());
    let said = run(Command::new(PROMTOOL)
        .args(["test", "rules"])
        .args(&tests)
        .current_dir(&dir));
    assert!(
        said.contains("SUCCESS") && !said.contains("FAILED"),
        "{said}"
    );
}

/// Removes the package when the test ends, however it ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "mailcheck"]).output();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether some mailcheck package is installed already (an operator's, which the test must
/// not replace or remove).
fn already_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "mailcheck"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("ok installed")
        })
}

/// `systemd-analyze verify` of `unit`, whose ExecStart= binary must exist.
fn verify_unit(unit: &Path) {
    assert!(
        Path::new(SYSTEMD_ANALYZE).exists(),
        "{SYSTEMD_ANALYZE} is missing: run scripts/install-test-deps (Debian package systemd)"
    );
    // --man=no: the man page is in the package, but `man` itself may not be installed.
    let out = Command::new(SYSTEMD_ANALYZE)
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify {}: {said}",
        unit.display()
    );
    let out = Command::new(SYSTEMD_ANALYZE)
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(unit)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "systemd-analyze security: {said}");
    // The hardening keeps the exposure score low ("1.2 OK" when this was written; 10 = none).
    let score: f64 = said
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for mailcheck.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {said}"));
    assert!(score <= 2.0, "exposure {score}: {said}");
}

#[test]
fn debian_package_installs_and_its_binary_runs_the_demo() {
    let out_dir = tempfile::tempdir().unwrap();
    let built = run(Command::new(repo().join("packaging/deb/build"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_mailcheck"))
        .arg("--out")
        .arg(out_dir.path())
        .args(["--compress", "none"]));
    let deb = PathBuf::from(built.lines().rev().find(|l| l.ends_with(".deb")).unwrap());
    assert!(deb.starts_with(out_dir.path()) && deb.is_file(), "{built}");

    let info = run(Command::new("dpkg-deb").arg("--field").arg(&deb));
    assert!(info.contains("Package: mailcheck"), "{info}");
    assert!(
        info.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for path in [
        "./usr/bin/mailcheck",
        "./usr/share/man/man1/mailcheck.1.gz",
        "./usr/share/bash-completion/completions/mailcheck",
        "./usr/share/zsh/vendor-completions/_mailcheck",
        "./usr/share/fish/vendor_completions.d/mailcheck.fish",
        "./usr/share/doc/mailcheck/examples/mailcheck.toml",
        "./usr/share/mailcheck/prometheus/mailcheck.rules.yml",
        "./lib/systemd/system/mailcheck.service",
    ] {
        assert!(
            contents.lines().any(|l| l.ends_with(path)),
            "{path} not in the package:\n{contents}"
        );
    }
    assert!(
        contents
            .lines()
            .any(|l| l.starts_with("drwx------ root/root")
                && l.ends_with("./etc/mailcheck/credentials/")),
        "{contents}"
    );

    // As root on a machine without a mailcheck package (CI): install it for real. Otherwise
    // unpack it, and verify a copy of the unit that points at the unpacked binary.
    let unpacked = tempfile::tempdir().unwrap();
    let (root, unit, _installed) = if is_root() && !already_installed() {
        let guard = Installed;
        run(Command::new("dpkg").arg("-i").arg(&deb));
        let status =
            run(Command::new("dpkg-query").args(["-W", "-f=${Status} ${Version}", "mailcheck"]));
        assert_eq!(
            status,
            format!("install ok installed {}", env!("CARGO_PKG_VERSION"))
        );
        let unit = PathBuf::from("/lib/systemd/system/mailcheck.service");
        (PathBuf::from("/"), unit, Some(guard))
    } else {
        run(Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(unpacked.path()));
        let root = unpacked.path().to_path_buf();
        let shipped =
            std::fs::read_to_string(root.join("lib/systemd/system/mailcheck.service")).unwrap();
        let bin = root.join("usr/bin/mailcheck");
        let unit = unpacked.path().join("mailcheck.service");
        std::fs::write(
            &unit,
            shipped.replace(
                "ExecStart=/usr/bin/mailcheck ",
                &format!("ExecStart={} ", bin.display()),
            ),
        )
        .unwrap();
        (root, unit, None)
    };
    let bin = root.join("usr/bin/mailcheck");

    // The installed binary runs the demo: the built-in lab on loopback, all six combinations.
    let out = Command::new(&bin).arg("demo").output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("6 combinations"), "{said}");
    assert!(said.contains("works"), "{said}");
    let version = run(Command::new(&bin).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("mailcheck {}", env!("CARGO_PKG_VERSION"))
    );

    // The man page and completions are the binary's own.
    let man = run(Command::new("gzip")
        .arg("-dc")
        .arg(root.join("usr/share/man/man1/mailcheck.1.gz")));
    assert!(
        man.starts_with(".ie") || man.contains(".TH mailcheck"),
        "{man}"
    );
    let bash =
        std::fs::read_to_string(root.join("usr/share/bash-completion/completions/mailcheck"))
            .unwrap();
    assert!(
        bash.contains("serve") && bash.contains("complete"),
        "{bash}"
    );

    verify_unit(&unit);
}
