//! A real authoritative DNS server for DNSSEC tests: NSD (Debian `nsd`), serving zones signed
//! during the test with ldns (`ldns-keygen`, `ldns-signzone`, Debian `ldnsutils`), both
//! installed by `scripts/install-test-deps`.
//!
//! ```ignore
//! let nsd = Nsd::start("test", vec![Zone::signed("signed.test").with("_imaps._tcp SRV 0 1 993 mail.test.")])?;
//! // mailcheck --dns-server {nsd.addr} --dns-trust-anchor {nsd.anchor_ds} ...
//! ```
//!
//! The parent zone (`test.` above) is signed and holds the delegations: a DS record for each
//! signed child, none for an unsigned one (an insecure delegation its NSEC chain proves). Its
//! key is the trust anchor, as a DS record ([`Nsd::anchor_ds`]) and as a DNSKEY
//! ([`Nsd::anchor_dnskey`]). NSD is authoritative for every zone, so a validating stub asking
//! it alone finds the whole chain (DNSKEY, DS, NS) there: no recursive resolver is needed.
//!
//! NSD listens on 127.0.0.1 on a random free port (UDP and TCP). It runs under a `sh`
//! supervisor whose stdin is a pipe the [`Nsd`] holds: when that closes (the value dropped, or
//! the test process gone however it ended), the supervisor stops NSD and removes the zone dir.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const NSD_BIN: &str = "/usr/sbin/nsd";
const KEYGEN_BIN: &str = "/usr/bin/ldns-keygen";
const SIGNZONE_BIN: &str = "/usr/bin/ldns-signzone";

/// Stops NSD (TERM) and removes the zone dir when stdin closes.
const SUPERVISOR_SH: &str = r#"
trap '' INT HUP
dir=$1
"$2" -d -c "$dir/nsd.conf" >"$dir/nsd.stderr" 2>&1 &
pid=$!
cat >/dev/null
kill "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir"
"#;

/// One child zone of the parent.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Without the trailing dot: `signed.test`.
    pub origin: String,
    /// Records in zone-file form, owners relative to the origin (or absolute with a dot).
    pub records: Vec<String>,
    pub signed: bool,
    /// After signing, this text of the signed zone file is replaced (a record changed under
    /// its signature).
    pub tamper: Option<(String, String)>,
}

impl Zone {
    pub fn signed(origin: &str) -> Zone {
        Zone {
            origin: origin.into(),
            records: vec![],
            signed: true,
            tamper: None,
        }
    }

    pub fn unsigned(origin: &str) -> Zone {
        Zone {
            signed: false,
            ..Zone::signed(origin)
        }
    }

    pub fn with(mut self, record: impl Into<String>) -> Zone {
        self.records.push(record.into());
        self
    }

    /// Replace `from` by `to` in the signed zone file.
    pub fn tampered(mut self, from: impl Into<String>, to: impl Into<String>) -> Zone {
        self.tamper = Some((from.into(), to.into()));
        self
    }
}

/// A running NSD.
pub struct Nsd {
    pub addr: SocketAddr,
    /// The parent zone's key as a DS record (zone-file form).
    pub anchor_ds: PathBuf,
    /// The parent zone's key as a DNSKEY record (zone-file form).
    pub anchor_dnskey: PathBuf,
    pub dir: PathBuf,
    _stdin: ChildStdin,
}

fn run(dir: &Path, bin: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{bin}: {e} (scripts/install-test-deps installs it)"))?;
    if !out.status.success() {
        return Err(format!(
            "{bin} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The zone's text with its SOA and NS, the name server being `ns.<parent>`.
fn zone_text(origin: &str, parent: &str, records: &[String]) -> String {
    let mut t = format!(
        "$ORIGIN {origin}.\n$TTL 300\n@ SOA ns.{parent}. hostmaster.{parent}. 1 3600 600 86400 300\n@ NS ns.{parent}.\n"
    );
    for r in records {
        t.push_str(r);
        t.push('\n');
    }
    t
}

/// Signs `origin`'s zone file `<origin>.zone` in `dir` with a new key (ECDSA P-256, KSK flag,
/// used for every record); the signed file is `<origin>.zone.signed`. Returns the key's base
/// name (`K<origin>.+013+<tag>`, with `.key`, `.private` and `.ds` files).
fn sign(dir: &Path, origin: &str) -> Result<String, String> {
    let key = run(dir, KEYGEN_BIN, &["-a", "ECDSAP256SHA256", "-k", origin])?;
    let zone = format!("{origin}.zone");
    run(dir, SIGNZONE_BIN, &[&zone, &key])?;
    Ok(key)
}

/// A port free on 127.0.0.1 for both UDP and TCP.
fn free_port() -> Result<u16, String> {
    for _ in 0..20 {
        let tcp = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = tcp.local_addr().map_err(|e| e.to_string())?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no port free for both UDP and TCP on 127.0.0.1".into())
}

impl Nsd {
    /// Signs `parent` and `children`, and serves them all.
    pub fn start(parent: &str, children: Vec<Zone>) -> Result<Nsd, String> {
        let dir = tempfile::Builder::new()
            .prefix("mailcheck-nsd-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        let write = |name: &str, text: &str| {
            fs::write(dir.join(name), text).map_err(|e| format!("write {name}: {e}"))
        };
        let mut parent_records = vec!["ns A 127.0.0.1".to_string()];
        let mut served = vec![];
        for z in &children {
            write(
                &format!("{}.zone", z.origin),
                &zone_text(&z.origin, parent, &z.records),
            )?;
            parent_records.push(format!("{}. NS ns.{parent}.", z.origin));
            let file = if z.signed {
                let key = sign(&dir, &z.origin)?;
                let ds = fs::read_to_string(dir.join(format!("{key}.ds")))
                    .map_err(|e| format!("{key}.ds: {e}"))?;
                parent_records.push(ds.trim().to_string());
                let signed = format!("{}.zone.signed", z.origin);
                if let Some((from, to)) = &z.tamper {
                    let text = fs::read_to_string(dir.join(&signed)).map_err(|e| e.to_string())?;
                    if !text.contains(from.as_str()) {
                        return Err(format!("{signed} has no {from:?} to tamper with"));
                    }
                    write(&signed, &text.replacen(from.as_str(), to, 1))?;
                }
                signed
            } else {
                format!("{}.zone", z.origin)
            };
            served.push((z.origin.clone(), file));
        }
        write(
            &format!("{parent}.zone"),
            &zone_text(parent, parent, &parent_records),
        )?;
        let key = sign(&dir, parent)?;
        served.push((parent.to_string(), format!("{parent}.zone.signed")));

        let port = free_port()?;
        let d = dir.display();
        let mut conf = format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  do-ip6: no\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  \
             xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  \
             logfile: \"{d}/nsd.log\"\n  server-count: 1\n  verbosity: 1\n\
             remote-control:\n  control-enable: no\n"
        );
        for (origin, file) in &served {
            conf.push_str(&format!("zone:\n  name: {origin}.\n  zonefile: {file}\n"));
        }
        write("nsd.conf", &conf)?;

        let mut child = Command::new("sh")
            .args(["-c", SUPERVISOR_SH, "nsd-supervisor"])
            .arg(&dir)
            .arg(NSD_BIN)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("sh: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        // The supervisor is reaped by whoever outlives it; it must not be waited for here.
        std::mem::forget(child);
        let nsd = Nsd {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            anchor_ds: dir.join(format!("{key}.ds")),
            anchor_dnskey: dir.join(format!("{key}.key")),
            dir,
            _stdin: stdin,
        };
        nsd.wait_started()?;
        Ok(nsd)
    }

    /// Until NSD's log says it serves (or it gave up).
    fn wait_started(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let log = self.dir.join("nsd.log");
        while Instant::now() < deadline {
            let mut text = String::new();
            if let Ok(mut f) = fs::File::open(&log) {
                let _ = f.read_to_string(&mut text);
            }
            if text.contains("nsd started") {
                return Ok(());
            }
            if text.contains("error") {
                return Err(format!("nsd failed to start:\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let stderr = fs::read_to_string(self.dir.join("nsd.stderr")).unwrap_or_default();
        Err(format!("nsd did not start within 15 s:\n{stderr}"))
    }
}
