//! Real mail servers for integration tests: a private Dovecot (IMAP, POP3) and a private Postfix
//! (SMTP submission), started once per test binary and shared by all its tests.
//!
//! ```ignore
//! mod support;
//! use support::servers::MailServers;
//!
//! let s = MailServers::get();
//! let alice = s.user("alice");
//! // connect to (s.ip, s.imaps), trust s.ca_pem, expect the name s.tls_name ...
//! assert_eq!(s.failed_logins(&alice.address), 0);
//! ```
//!
//! What runs:
//! * Dovecot 2.3 from `fixtures/dovecot/dovecot.conf.in` (IMAP 143-style with STARTTLS, IMAP
//!   993-style implicit TLS, POP3 110-style with STLS, POP3 995-style implicit TLS).
//! * Postfix from `fixtures/postfix/{main,master}.cf.in` (465-style wrapper-mode TLS and
//!   587-style submission that requires STARTTLS, plus a second 587-style submission that
//!   offers only AUTH LOGIN, [`MailServers::submission_login_only`]); SMTP AUTH is checked by
//!   the same Dovecot, so failed and successful SMTP logins are counted like IMAP and POP3 ones.
//! * Delivery: Postfix hands mail for `lab.test` to Dovecot's LMTP (a unix socket), which stores
//!   it in the recipient's INBOX, so a message submitted as `alice` to `bob@lab.test` is read on
//!   bob's IMAP or POP3 a moment later. [`HELD_RECIPIENT`] is accepted but never delivered (the
//!   hold queue), [`REFUSED_RECIPIENT`] is refused at RCPT TO, and every submitted message gets
//!   an `Authentication-Results:` field, as from a provider's milter. [`MailServers::mailbox`]
//!   lists a mailbox as Dovecot stores it (doveadm, no IMAP), [`MailServers::store_message`] and
//!   [`MailServers::add_flags`] prepare one.
//!
//! All listen on 127.0.0.2 only (but one IMAPS listener without UIDPLUS on 127.0.0.3, see
//! [`MailServers::imaps_without_uidplus`]), on random free high ports. A client connecting to 127.0.0.2
//! gets the source address 127.0.0.1 on Linux, so the servers see a "remote" client: Dovecot
//! announces LOGINDISABLED and refuses cleartext logins before TLS, as a real server does.
//!
//! Everything (configs, a test CA and server certificate made with rcgen, passwords, spool,
//! logs) lives in a fresh temp dir, removed when the test process exits (set
//! `MAILCHECK_KEEP_SERVER_DIR=1` to keep it for debugging; its path is printed on stderr).
//!
//! Lifetime: the servers run under a small `sh` supervisor whose stdin is a pipe held by the
//! test process. When the test process exits, however it exits (normal end, failed tests,
//! panic, a signal, SIGKILL), the pipe closes and the supervisor stops both servers and removes
//! the run dir. On a normal exit an `atexit` hook also waits for that to finish, so no server
//! process outlives `cargo test`.
//!
//! Requirements: root (Dovecot and Postfix switch to their own users), and the Debian packages
//! that `scripts/install-test-deps` installs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// The address every test server listens on.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Where Dovecot's IMAPS listener without UIDPLUS listens ([`MailServers::imaps_without_uidplus`]).
pub const NO_UIDPLUS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// Where Dovecot's IMAPS listener without SPECIAL-USE listens
/// ([`MailServers::imaps_without_special_use`]).
pub const NO_SPECIAL_USE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// A second address of the server's IMAPS port (same port as [`MailServers::imaps`]), as one
/// node of a pool: Dovecot serves it a certificate for [`TLS_NAME`] that expired ten days ago
/// (a `local` block), and the same mailboxes and logins.
pub const POOL_NODE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
/// The file name stem (in the run dir's tls/) of that expired certificate.
const POOL_NODE_CERT: &str = "pool-node-expired";
/// The DNS name in the server certificate.
pub const TLS_NAME: &str = "mail.lab.test";
/// Names Dovecot presents other certificates for (SNI, `local_name` blocks), all signed by the
/// test CA unless said otherwise: expired ten days ago; valid from in ten days; expiring in five
/// days; self-signed (not from the test CA).
pub const SNI_EXPIRED: &str = "expired.lab.test";
pub const SNI_NOT_YET_VALID: &str = "future.lab.test";
pub const SNI_EXPIRING: &str = "expiring.lab.test";
pub const SNI_SELF_SIGNED: &str = "selfsigned.lab.test";
/// The domain of the test users' addresses (`alice@lab.test`).
pub const MAIL_DOMAIN: &str = "lab.test";
/// Users that exist from the start. Any other name is added on demand, which costs up to one
/// second (Dovecot re-reads its passwd-file at most once a second).
pub const PRESET_USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken",
    "laura", "mallory", "nick", "olivia", "peggy", "quinn", "rupert", "sybil", "trent", "victor",
    "walter", "wendy", "zoe",
];

/// Mail to this address is accepted on submission (`250`) and put on Postfix's hold queue: it
/// is never delivered, like mail stuck in a queue. See [`MailServers::held_messages`].
pub const HELD_RECIPIENT: &str = "held@lab.test";
/// Postfix refuses this recipient at `RCPT TO` with
/// `554 5.7.1 <refused@lab.test>: Recipient address rejected: refused by the test instance policy`.
pub const REFUSED_RECIPIENT: &str = "refused@lab.test";

/// An account only `sync_auth_log` uses; its domain keeps it apart from `MailServers::user`'s.
const SYNC_USER: &str = "log-sync@sync.invalid";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const START_ATTEMPTS: usize = 3;
const DOVECOT_BIN: &str = "/usr/sbin/dovecot";
const POSTFIX_BIN: &str = "/usr/sbin/postfix";
const POSTFIX_MASTER_BIN: &str = "/usr/lib/postfix/sbin/master";
/// Dovecot's LMTP server (package dovecot-lmtpd), which delivers Postfix's mail.
const DOVECOT_LMTP_BIN: &str = "/usr/lib/dovecot/lmtp";
/// Dovecot's admin tool: reads and prepares mailboxes for the tests without IMAP.
const DOVEADM_BIN: &str = "/usr/bin/doveadm";

const DOVECOT_CONF_IN: &str = include_str!("../../../fixtures/dovecot/dovecot.conf.in");
const POSTFIX_MAIN_CF_IN: &str = include_str!("../../../fixtures/postfix/main.cf.in");
const POSTFIX_MASTER_CF_IN: &str = include_str!("../../../fixtures/postfix/master.cf.in");

/// The supervisor. Arguments: run dir, keep flag (1 = keep the run dir). It starts Dovecot at
/// once and Postfix when it reads the line "postfix" (Postfix must not start before Dovecot's
/// auth socket exists, or smtpd fails and master throttles it for a minute). At end of input,
/// i.e. when the test process is gone, it stops both (TERM, then KILL after 10 s), waits for
/// them and their children, and removes the run dir.
const SUPERVISOR_SH: &str = r#"
trap '' INT HUP
dir=$1
keep=$2
pids=
/usr/sbin/dovecot -F -c "$dir/dovecot/dovecot.conf" </dev/null >"$dir/dovecot/stderr.log" 2>&1 &
pids="$pids $!"
echo "$!" >"$dir/dovecot/supervised.pid"
while IFS= read -r cmd; do
    case $cmd in
    postfix)
        /usr/lib/postfix/sbin/master -s -c "$dir/postfix/etc" </dev/null >"$dir/postfix/stderr.log" 2>&1 &
        pids="$pids $!"
        echo "$!" >"$dir/postfix/supervised.pid"
        ;;
    esac
done
alive() {
    # A dead child stays a zombie until `wait`, and kill -0 succeeds on zombies.
    [ -r "/proc/$1/stat" ] || return 1
    read -r _ _ state _ <"/proc/$1/stat" || return 1
    [ "$state" != Z ]
}
for p in $pids; do kill -TERM "$p" 2>/dev/null; done
i=0
while [ "$i" -lt 100 ]; do
    running=
    for p in $pids; do alive "$p" && running=1; done
    [ -z "$running" ] && break
    sleep 0.1
    i=$((i + 1))
done
for p in $pids; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
wait
# The masters are gone; their last children (Dovecot's log process, Postfix's daemons) exit
# right after. They all work in a directory below $dir: wait (at most 5 s) until none does.
i=0
while [ "$i" -lt 50 ] &&
    find /proc/[0-9]*/cwd -maxdepth 0 -lname "$dir/*" 2>/dev/null | grep -q .; do
    sleep 0.1
    i=$((i + 1))
done
if [ "$keep" != 1 ]; then rm -rf "$dir"; fi
"#;

/// Dovecot and Postfix running for this test process. See the module docs.
#[derive(Debug)]
pub struct MailServers {
    /// 127.0.0.2: the servers listen here (and only here).
    pub ip: IpAddr,
    /// "mail.lab.test": the name in the server certificate.
    pub tls_name: String,
    /// The test CA (PEM) that signed the server certificate.
    pub ca_pem: PathBuf,
    /// Dovecot IMAP, implicit TLS.
    pub imaps: u16,
    /// Dovecot IMAP, plaintext with STARTTLS; LOGINDISABLED before TLS.
    pub imap: u16,
    /// Dovecot POP3, implicit TLS.
    pub pop3s: u16,
    /// Dovecot POP3, plaintext with STLS; USER/PASS/AUTH refused before TLS.
    pub pop3: u16,
    /// Postfix, 465-style: TLS from the first byte.
    pub smtps: u16,
    /// Postfix, 587-style: STARTTLS required before AUTH (and before MAIL).
    pub submission: u16,
    /// Dovecot IMAP, implicit TLS, same mailboxes, but the CAPABILITY it announces after login
    /// lacks UIDPLUS (a `local` block in dovecot.conf). On [`NO_UIDPLUS_IP`], not `ip`.
    pub imaps_without_uidplus: SocketAddr,
    /// Dovecot IMAP, implicit TLS, same mailboxes, whose CAPABILITY lacks SPECIAL-USE (and
    /// LIST-EXTENDED): a client must find the Junk mailbox by its name. On
    /// [`NO_SPECIAL_USE_IP`].
    pub imaps_without_special_use: SocketAddr,
    /// Misconfigured on purpose (for diagnosis tests): Postfix, 465-style, that still accepts
    /// TLS 1.0 and 1.1 besides 1.2 and 1.3.
    pub smtps_legacy: u16,
    /// Misconfigured on purpose: Postfix, 465-style, that speaks TLS 1.0 only.
    pub smtps_tls10: u16,
    /// Misconfigured on purpose: Postfix, 587-style, offering STARTTLS but also AUTH before it.
    pub submission_lax: u16,
    /// Misconfigured on purpose: Postfix, 587-style, with no TLS at all (no STARTTLS).
    pub submission_plain: u16,
    /// Postfix, 587-style like `submission` (STARTTLS required, SASL through the same Dovecot),
    /// but announcing only `AUTH LOGIN` after STARTTLS (`smtpd_sasl_mechanism_filter`), like
    /// servers that do not offer PLAIN: a client must fall back to LOGIN on its own.
    pub submission_login_only: u16,
    /// Misconfigured on purpose: Postfix, 587-style, offering STARTTLS and AUTH only after it,
    /// but accepting `MAIL FROM` before it (`smtpd_tls_security_level=may`).
    pub submission_tls_optional: u16,
    /// Postfix, 587-style (STARTTLS required), whose TLS is 1.2 with
    /// `ECDHE-ECDSA-AES128-SHA` only (CBC, which rustls refuses): a server only legacy TLS
    /// reaches after STARTTLS.
    pub submission_legacy_tls: u16,
    /// The run directory (temp; removed when the test process exits).
    pub dir: PathBuf,
    /// Set on the instance of [`MailServers::get_with_oauth2`] only: Dovecot (and Postfix
    /// through it) also takes OAuth2 tokens (XOAUTH2, OAUTHBEARER), checked at the
    /// authorization server of `support::oauth2`.
    pub token_introspection: Option<TokenIntrospection>,
    users: Mutex<BTreeMap<String, UserEntry>>,
    /// Password of [`SYNC_USER`], the account `sync_auth_log` logs in as.
    sync_password: String,
}

/// Where the OAuth2 instance's Dovecot checks tokens: its `oauth2` passdb posts each token to
/// the introspection endpoint of the authorization server at `https://127.0.0.2:PORT`
/// (RFC 7662), authenticating as the confidential client `dovecot`.
#[derive(Clone)]
pub struct TokenIntrospection {
    /// The port on [`SERVER_IP`] kept for the authorization server (`support::oauth2` starts it
    /// there, with this instance's server certificate, which names 127.0.0.2).
    pub provider_port: u16,
    /// The `dovecot` client's secret at the authorization server (random per process).
    pub client_secret: String,
}

impl std::fmt::Debug for TokenIntrospection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIntrospection")
            .field("provider_port", &self.provider_port)
            .finish_non_exhaustive()
    }
}

/// What Dovecot's auth accepts on an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepts {
    /// PLAIN and LOGIN against the passwd-file ([`MailServers::get`]).
    Passwords,
    /// Also XOAUTH2 and OAUTHBEARER, checked by token introspection
    /// ([`MailServers::get_with_oauth2`]).
    PasswordsAndTokens,
}

/// A user that exists on the test servers. The password is random per test process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// `name@lab.test`; it is also the login name (IMAP, POP3 and SMTP AUTH).
    pub address: String,
    pub password: String,
}

/// One message of a mailbox, as Dovecot lists it (see [`MailServers::mailbox`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredMessage {
    pub uid: u32,
    /// Its flags (`\Seen`, `\Deleted`, keywords), sorted. `\Recent` is left out: it is not
    /// a stored flag but a per-session mark (RFC 3501 §2.3.2) that the first session to open
    /// the mailbox read-write takes, whoever it is.
    pub flags: Vec<String>,
    /// The `Message-ID:` field, as written in the message.
    pub message_id: String,
}

#[derive(Debug, Clone)]
struct UserEntry {
    password: String,
    /// When Dovecot is sure to see the user (see `MailServers::user`).
    visible_at: SystemTime,
}

/// Every server set running in this process; taken and stopped by the `atexit` hook.
static SUPERVISOR: Mutex<Vec<Supervisor>> = Mutex::new(Vec::new());

/// TLS as old appliances and hosting panels still terminate it, which rustls (so mailcheck's
/// own handshake) refuses: Debian's `stunnel4` in front of Dovecot's plain-text IMAP port, with
/// an RSA certificate of its own (openssl; rcgen with ring makes no RSA keys). Started on first
/// use; stopped when the test process exits (its stdin, a pipe held here, closes).
#[derive(Debug)]
pub struct LegacyTlsFronts {
    /// TLS 1.2 only, `ciphers = AES128-SHA`: RSA key exchange, CBC.
    pub tls12_rsa_cbc: u16,
    /// TLS 1.0 only.
    pub tls10_only: u16,
    /// A self-signed certificate with a 1024-bit RSA key (security level 0).
    pub rsa1024: u16,
    /// A certificate signed with SHA-1 by a CA of its own, sent with that CA.
    pub sha1_signed: u16,
    /// STARTTLS in front of Dovecot's plain-text IMAP (stunnel's server-side `protocol =
    /// imap`: the greeting is Dovecot's, STARTTLS is stunnel's), then TLS 1.2 `AES128-SHA` only.
    pub starttls_imap_tls12: u16,
    /// The same for POP3 (`protocol = pop3`, STLS). (stunnel's `protocol = smtp` resets the
    /// connection on EHLO: see [`MailServers::submission_legacy_tls`] for SMTP.)
    pub starttls_pop3_tls12: u16,
}

const STUNNEL_BIN: &str = "/usr/bin/stunnel4";

impl MailServers {
    /// The stunnel fronts of [`LegacyTlsFronts`], started once per test process.
    pub fn legacy_tls_fronts(&self) -> &'static LegacyTlsFronts {
        static FRONTS: OnceLock<Result<LegacyTlsFronts, String>> = OnceLock::new();
        match FRONTS.get_or_init(|| start_stunnel(self)) {
            Ok(f) => f,
            Err(e) => panic!("stunnel could not be started: {e}"),
        }
    }
}

fn start_stunnel(s: &MailServers) -> Result<LegacyTlsFronts, String> {
    static KEEP: Mutex<Vec<ChildStdin>> = Mutex::new(Vec::new());
    let dir = s.dir.join("stunnel");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (key, crt) = (dir.join("rsa.key"), dir.join("rsa.crt"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={TLS_NAME}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    if !made.status.success() {
        return Err(String::from_utf8_lossy(&made.stderr).into_owned());
    }
    let openssl = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        match out.status.success() {
            true => Ok(()),
            false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    };
    let subj = format!("/CN={TLS_NAME}");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &subj,
        "-keyout",
        "rsa1024.key",
        "-out",
        "rsa1024.crt",
    ])?;
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=stunnel test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ])?;
    openssl(&[
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", &subj, "-keyout", "sha1.key",
        "-out", "sha1.csr",
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "sha1.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "2",
        "-sha1",
        "-days",
        "2",
        "-out",
        "sha1.crt",
    ])?;
    let chain = [dir.join("sha1.crt"), dir.join("ca.crt")]
        .iter()
        .map(fs::read_to_string)
        .collect::<Result<String, _>>()
        .map_err(|e| e.to_string())?;
    fs::write(dir.join("sha1-chain.crt"), chain).map_err(|e| e.to_string())?;
    let fronts = LegacyTlsFronts {
        tls12_rsa_cbc: closed_port(s.ip),
        tls10_only: closed_port(s.ip),
        rsa1024: closed_port(s.ip),
        sha1_signed: closed_port(s.ip),
        starttls_imap_tls12: closed_port(s.ip),
        starttls_pop3_tls12: closed_port(s.ip),
    };
    let front = |name: &str, port: u16, backend: u16, (crt, key): (&Path, &Path), extra: &str| {
        format!(
            "[{name}]\naccept = {ip}:{port}\nconnect = {ip}:{backend}\ncert = {crt}\nkey = {key}\n{extra}\n",
            ip = s.ip,
            crt = crt.display(),
            key = key.display(),
        )
    };
    let service = |name: &str, port: u16, backend: u16, extra: &str| {
        front(name, port, backend, (&crt, &key), extra)
    };
    const TLS12_RSA_CBC: &str =
        "sslVersionMin = TLSv1.2\nsslVersionMax = TLSv1.2\nciphers = AES128-SHA";
    let conf = format!(
        "foreground = yes\npid =\ndebug = 5\noutput = {log}\n{a}{b}{c}{d}",
        log = dir.join("stunnel.log").display(),
        a = service("tls12-rsa-cbc", fronts.tls12_rsa_cbc, s.imap, TLS12_RSA_CBC),
        // OpenSSL 3 allows TLS 1.0 only at security level 0.
        b = service(
            "tls10-only",
            fronts.tls10_only,
            s.imap,
            "sslVersionMin = TLSv1\nsslVersionMax = TLSv1\nciphers = DEFAULT:@SECLEVEL=0"
        ) + &front(
            "rsa1024",
            fronts.rsa1024,
            s.imap,
            (&dir.join("rsa1024.crt"), &dir.join("rsa1024.key")),
            "ciphers = DEFAULT:@SECLEVEL=0"
        ) + &front(
            "sha1-signed",
            fronts.sha1_signed,
            s.imap,
            (&dir.join("sha1-chain.crt"), &dir.join("sha1.key")),
            "ciphers = DEFAULT:@SECLEVEL=0"
        ),
        c = service(
            "starttls-imap-tls12",
            fronts.starttls_imap_tls12,
            s.imap,
            &format!("protocol = imap\n{TLS12_RSA_CBC}")
        ),
        d = service(
            "starttls-pop3-tls12",
            fronts.starttls_pop3_tls12,
            s.pop3,
            &format!("protocol = pop3\n{TLS12_RSA_CBC}")
        ),
    );
    let conf_path = dir.join("stunnel.conf");
    fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let mut child = Command::new("sh")
        .args([
            "-c",
            "\"$0\" \"$1\" </dev/null & p=$!; cat >/dev/null; kill \"$p\"; wait",
            STUNNEL_BIN,
        ])
        .arg(&conf_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{STUNNEL_BIN}: {e} (run scripts/install-test-deps)"))?;
    if let Some(stdin) = child.stdin.take() {
        KEEP.lock().unwrap_or_else(|e| e.into_inner()).push(stdin);
    }
    let until = Instant::now() + STARTUP_TIMEOUT;
    for port in [
        fronts.tls12_rsa_cbc,
        fronts.tls10_only,
        fronts.rsa1024,
        fronts.sha1_signed,
        fronts.starttls_imap_tls12,
        fronts.starttls_pop3_tls12,
    ] {
        while TcpStream::connect((s.ip, port)).is_err() {
            if Instant::now() > until {
                let log = fs::read_to_string(dir.join("stunnel.log")).unwrap_or_default();
                return Err(format!("port {port} not listening; log:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(fronts)
}

impl MailServers {
    /// Starts Dovecot and Postfix on first use by a test file and returns that file's
    /// instance. Each file of the one test binary gets servers of its own (keyed by the
    /// caller's source file), as when each file was a binary: counts of logins and mailbox
    /// contents stay the file's. Panics (in every caller) if they cannot be started, with the
    /// logs' tails.
    #[track_caller]
    pub fn get() -> &'static MailServers {
        type Instances =
            Mutex<BTreeMap<&'static str, &'static OnceLock<Result<MailServers, String>>>>;
        static INSTANCES: Instances = Mutex::new(BTreeMap::new());
        let file = std::panic::Location::caller().file();
        let cell: &'static OnceLock<Result<MailServers, String>> = INSTANCES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(file)
            .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
        match cell.get_or_init(|| start(Accepts::Passwords)) {
            Ok(servers) => servers,
            Err(e) => panic!("the test mail servers could not be started: {e}"),
        }
    }

    /// A Dovecot and Postfix of their own (one set per test process) that also log in with
    /// OAuth2 tokens: Dovecot offers XOAUTH2 and OAUTHBEARER besides PLAIN and LOGIN and
    /// checks a token with its `oauth2` passdb, which asks the authorization server (RFC 7662
    /// introspection, see [`TokenIntrospection`]) and takes the token's `sub` as the user;
    /// Postfix's SASL goes through this Dovecot, so SMTP AUTH takes tokens too. Passwords
    /// still work. The authorization server itself is `support::oauth2`'s.
    pub fn get_with_oauth2() -> &'static MailServers {
        static CELL: OnceLock<Result<MailServers, String>> = OnceLock::new();
        match CELL.get_or_init(|| start(Accepts::PasswordsAndTokens)) {
            Ok(servers) => servers,
            Err(e) => panic!("the OAuth2 test mail servers could not be started: {e}"),
        }
    }

    /// A user that exists on the servers, one per `name` (lower-case letters, digits, `-`,
    /// `_`, `.`; at most 32 characters), so tests running in parallel never share an account
    /// if each picks its own name. The same name always returns the same user and password.
    ///
    /// Each documented port (993, 143, 995, 110, 465, 587) with the port the lab serves it on.
    pub fn documented_ports(&self) -> [(u16, u16); 6] {
        [
            (993, self.imaps),
            (143, self.imap),
            (995, self.pop3s),
            (110, self.pop3),
            (465, self.smtps),
            (587, self.submission),
        ]
    }

    /// `--connect-to` rules sending every documented port of the TLS name to the lab.
    pub fn connect_to_rules(&self) -> Vec<String> {
        self.documented_ports()
            .iter()
            .map(|(l, r)| format!("{}:{l}:{}:{r}", self.tls_name, self.ip))
            .collect()
    }

    /// The names in [`PRESET_USERS`] exist from the start; other names are created on demand
    /// and this call then blocks up to one second, until Dovecot is sure to have re-read its
    /// passwd-file.
    pub fn user(&self, name: &str) -> TestUser {
        assert!(
            !name.is_empty()
                && name.len() <= 32
                && name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'_' | b'.')),
            "test user name {name:?}: use 1-32 of a-z 0-9 - _ ."
        );
        let entry = {
            let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = users.get(name) {
                entry.clone()
            } else {
                let entry = UserEntry {
                    password: random_password(),
                    visible_at: dovecot_sees_changes_made_now(),
                };
                users.insert(name.to_string(), entry.clone());
                if let Err(e) = self.write_passwd_file(&users) {
                    users.remove(name);
                    panic!("adding test user {name}: {e}");
                }
                entry
            }
        };
        if let Ok(wait) = entry.visible_at.duration_since(SystemTime::now()) {
            std::thread::sleep(wait);
        }
        TestUser {
            address: address_of(name),
            password: entry.password,
        }
    }

    /// Failed password checks in Dovecot's auth for this address since the servers started:
    /// wrong password or unknown user, over IMAP, POP3 or SMTP AUTH (Postfix asks Dovecot).
    /// One failed login = exactly 1.
    ///
    /// Counts the auth process's `client passdb out: FAIL <id> user=<address>` lines. Waits first
    /// until the auth process has flushed everything it logged before this call, so a login that
    /// already got its answer is always counted. Rejections by the login process that never
    /// reach auth (cleartext before TLS) are not failures here; see [`Self::auth_attempts`].
    pub fn failed_logins(&self, address: &str) -> usize {
        self.sync_auth_log();
        count_passdb_replies(&self.read_dovecot_log(), "FAIL", address)
    }

    /// Successful logins (IMAP, POP3 or SMTP AUTH) for this address since the servers started:
    /// the auth process's `client passdb out: OK <id> user=<address>` lines. Use it to assert
    /// that no credentials got through.
    pub fn successful_logins(&self, address: &str) -> usize {
        self.sync_auth_log();
        count_passdb_replies(&self.read_dovecot_log(), "OK", address)
    }

    /// Every credentials attempt for the address that the servers saw: successful and failed
    /// logins, plus the commands the IMAP/POP3 login processes refused because they carried
    /// credentials in cleartext before TLS (`Plaintext authentication disabled` lines).
    ///
    /// A cleartext rejection is attributed to the address when any line of the same login
    /// session (`session=<...>`) names it (`user=<address>`). Dovecot logs IMAP `LOGIN` before
    /// STARTTLS with `user=<>`; the session's `Disconnected: ...` line names the user, so such an
    /// attempt counts only once the client has closed the connection (or sent LOGOUT).
    ///
    /// Blind spot: Postfix answers AUTH before STARTTLS on the submission port with `530 5.7.0
    /// Must issue a STARTTLS command first` without asking Dovecot or logging the user name, so
    /// that is not counted here (its log shows `auth=0/1` in the `disconnect from` line).
    pub fn auth_attempts(&self, address: &str) -> usize {
        self.sync_auth_log();
        // The cleartext rejections are logged by login processes, which the sync above does not
        // cover; they wrote their lines before answering the client, so a short pause is enough.
        std::thread::sleep(Duration::from_millis(50));
        let log = self.read_dovecot_log();
        count_passdb_replies(&log, "OK", address)
            + count_passdb_replies(&log, "FAIL", address)
            + count_cleartext_rejections_of(&log, address)
    }

    /// Cleartext login attempts (any user, IMAP or POP3) that Dovecot's login processes refused
    /// because TLS was not active, since the servers started. Process-wide: parallel tests add
    /// to it too. Unlike [`Self::auth_attempts`] it counts an IMAP `LOGIN` before STARTTLS
    /// while the connection is still open.
    pub fn cleartext_rejections(&self) -> usize {
        // These lines come from the login processes, not from auth; a short pause lets the log
        // process write what they logged before answering the client.
        std::thread::sleep(Duration::from_millis(100));
        self.read_dovecot_log()
            .lines()
            .filter(|l| is_cleartext_rejection(l))
            .count()
    }

    /// Dovecot's log file (all of Dovecot: master, auth with debug output, login processes).
    pub fn dovecot_log(&self) -> PathBuf {
        self.dir.join("dovecot/dovecot.log")
    }

    /// Postfix's log file (`maillog_file`).
    pub fn postfix_log(&self) -> PathBuf {
        self.dir.join("postfix/postfix.log")
    }

    /// The messages in the INBOX of `address` (a user of [`Self::user`]), in UID order, as
    /// Dovecot stores them: read with `doveadm fetch`, not over IMAP, so the tests observe the
    /// mailbox independently of the client under test. An INBOX that does not exist yet (no
    /// mail ever) is empty.
    pub fn mailbox(&self, address: &str) -> Vec<StoredMessage> {
        self.mailbox_named(address, "INBOX")
    }

    /// The messages of another mailbox of `address` (`Junk`: mail to `user+Junk@lab.test` is
    /// filed there by LMTP, see fixtures/dovecot), as [`Self::mailbox`] reads the INBOX.
    pub fn mailbox_named(&self, address: &str, mailbox: &str) -> Vec<StoredMessage> {
        let out = self.doveadm(
            &[
                "-f",
                "tab",
                "fetch",
                "-u",
                address,
                "uid flags hdr.message-id",
                "mailbox",
                mailbox,
                "all",
            ],
            None,
        );
        let mut messages: Vec<StoredMessage> = out
            .lines()
            .skip(1) // the column names
            .filter(|l| !l.is_empty())
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                let field = |i: usize| fields.get(i).copied().unwrap_or("").trim();
                let mut flags: Vec<String> = field(1)
                    .split_whitespace()
                    .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                    .map(str::to_string)
                    .collect();
                flags.sort();
                StoredMessage {
                    uid: field(0)
                        .parse()
                        .unwrap_or_else(|_| panic!("doveadm fetch: no UID in {line:?}")),
                    flags,
                    message_id: field(2).to_string(),
                }
            })
            .collect();
        messages.sort();
        messages
    }

    /// Stores `raw` (a whole message, header and body; LF or CRLF line ends) in the INBOX of
    /// `address` with `doveadm save`: no SMTP, no delivery, nothing else changes.
    pub fn store_message(&self, address: &str, raw: &str) {
        self.doveadm(&["save", "-u", address, "-m", "INBOX"], Some(raw));
    }

    /// Adds flags (`\Deleted`, or several: `\Seen \Flagged`) to the message with this UID in the
    /// INBOX of `address`, with `doveadm flags add`.
    pub fn add_flags(&self, address: &str, uid: u32, flags: &str) {
        let uid = uid.to_string();
        self.doveadm(
            &[
                "flags", "add", "-u", address, flags, "mailbox", "INBOX", "uid", &uid,
            ],
            None,
        );
    }

    /// Messages on Postfix's hold queue (mail to [`HELD_RECIPIENT`] ends there).
    pub fn held_messages(&self) -> usize {
        fn count(dir: &Path) -> usize {
            fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => count(&e.path()),
                        Ok(_) => 1,
                        Err(_) => 0,
                    })
                    .sum()
            })
        }
        count(&self.dir.join("postfix/spool/hold"))
    }

    /// Runs doveadm on this instance's configuration and returns its standard output; panics
    /// with its error output if it fails.
    fn doveadm(&self, args: &[&str], input: Option<&str>) -> String {
        let conf = self.dir.join("dovecot/dovecot.conf");
        let mut child = Command::new(DOVEADM_BIN)
            .arg("-c")
            .arg(&conf)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {DOVEADM_BIN}: {e}"));
        if let Some(text) = input {
            let mut stdin = child.stdin.take().expect("doveadm stdin");
            stdin
                .write_all(text.as_bytes())
                .unwrap_or_else(|e| panic!("writing to doveadm: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for doveadm: {e}"));
        assert!(
            out.status.success(),
            "doveadm {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes Dovecot's passwd-file (atomically: Dovecot may read it at any time). Passwords
    /// are stored as unsalted SHA-256, Dovecot's `{SHA256}` scheme, not in clear.
    fn write_passwd_file(&self, users: &BTreeMap<String, UserEntry>) -> Result<(), String> {
        let entries = users
            .iter()
            .map(|(name, entry)| (address_of(name), entry.password.as_str()))
            .chain([(SYNC_USER.to_string(), self.sync_password.as_str())]);
        let mut text = String::new();
        for (address, password) in entries {
            let hash = ring::digest::digest(&ring::digest::SHA256, password.as_bytes());
            let hash = base64::engine::general_purpose::STANDARD.encode(hash.as_ref());
            let _ = writeln!(text, "{address}:{{SHA256}}{hash}::::::");
        }
        let path = self.dir.join("dovecot/users");
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, text).map_err(|e| format!("write {}: {e}", tmp.display()))?;
        // Read by the auth process, which runs as user "dovecot".
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
        fs::rename(&tmp, &path).map_err(|e| format!("rename to {}: {e}", path.display()))
    }

    fn read_dovecot_log(&self) -> String {
        let bytes = fs::read(self.dovecot_log()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Makes sure every line the auth process logged before this call is in the log file.
    ///
    /// The auth process writes its log lines to a pipe that Dovecot's log process copies to the
    /// file, so a line can reach the file a little after the client got its answer. This sends
    /// one login of its own to the auth process (as [`SYNC_USER`], on the auth-client socket,
    /// with a request id unique in this process) and waits until the auth process's reply line
    /// for exactly that request is in the file: the lines it wrote before are then there too.
    /// (A successful login is used because Dovecot answers failures only on a 0.5 s timer.)
    fn sync_auth_log(&self) {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let request_id = seq + 1;
        let expected_line = format!("client passdb out: OK\t{request_id}\tuser={SYNC_USER}");
        let socket = self.dir.join("dovecot/run/auth-client");
        let result = (|| -> Result<(), String> {
            let mut stream = UnixStream::connect(&socket)
                .map_err(|e| format!("connect {}: {e}", socket.display()))?;
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            // The client pid only has to be unique among connected auth clients.
            let cpid = 2_000_000_000 + (seq % 100_000_000);
            write!(stream, "VERSION\t1\t2\nCPID\t{cpid}\n").map_err(|e| e.to_string())?;
            let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                    return Err("auth socket closed during handshake".into());
                }
                if line == "DONE\n" {
                    break;
                }
            }
            let resp = base64::engine::general_purpose::STANDARD
                .encode(format!("\0{SYNC_USER}\0{}", self.sync_password).as_bytes());
            writeln!(
                stream,
                "AUTH\t{request_id}\tPLAIN\tservice=mailcheck-log-sync\tsecured\tno-penalty\t\
                 resp={resp}"
            )
            .map_err(|e| e.to_string())?;
            line.clear();
            reader.read_line(&mut line).map_err(|e| e.to_string())?;
            if !line.starts_with(&format!("OK\t{request_id}\t")) {
                return Err(format!("unexpected auth reply {line:?}"));
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if self.read_dovecot_log().lines().any(|l| {
                    l.ends_with(&expected_line) || l.contains(&format!("{expected_line}\t"))
                }) {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err("its log line did not appear within 10 s".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })();
        if let Err(e) = result {
            panic!(
                "syncing with Dovecot's auth log failed: {e}\n{}",
                log_tails(&self.dir)
            );
        }
    }
}

/// A TCP port on `ip` where nothing listens, so a connection is refused. (The port was free a
/// moment ago; in theory another process can take it before the test uses it.)
pub fn closed_port(ip: IpAddr) -> u16 {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0))
        .unwrap_or_else(|e| panic!("binding {ip}:0 to find a free port: {e}"));
    listener.local_addr().expect("local_addr").port()
}

fn address_of(name: &str) -> String {
    format!("{name}@{MAIL_DOMAIN}")
}

/// Counts `client passdb out: <verdict>\t<id>\tuser=<user>...` lines (auth_debug output).
fn count_passdb_replies(log: &str, verdict: &str, user: &str) -> usize {
    let marker = format!("client passdb out: {verdict}\t");
    log.lines()
        .filter_map(|l| l.split_once(&marker).map(|(_, rest)| rest))
        .filter(|rest| {
            rest.split('\t').any(|field| {
                field
                    .strip_prefix("user=")
                    .is_some_and(|u| u.eq_ignore_ascii_case(user))
            })
        })
        .count()
}

/// A login process's line for a credentials command refused because TLS was not active
/// (not the "Disconnected ... (tried to use disallowed plaintext auth)" summary line).
fn is_cleartext_rejection(line: &str) -> bool {
    (line.contains("imap-login: ") || line.contains("pop3-login: "))
        && line.contains("Plaintext authentication disabled")
        && !line.contains("Disconnected")
}

fn names_user(line: &str, user: &str) -> bool {
    line.to_ascii_lowercase()
        .contains(&format!("user=<{}>", user.to_ascii_lowercase()))
}

/// The `session=<...>` id of a login process's line.
fn session_of(line: &str) -> Option<&str> {
    let start = line.find("session=<")? + "session=<".len();
    let len = line[start..].find('>')?;
    Some(&line[start..start + len])
}

/// Cleartext rejections in login sessions that name `user` in any of their lines.
fn count_cleartext_rejections_of(log: &str, user: &str) -> usize {
    let login_lines = || {
        log.lines()
            .filter(|l| l.contains("imap-login: ") || l.contains("pop3-login: "))
    };
    let sessions: std::collections::BTreeSet<&str> = login_lines()
        .filter(|l| names_user(l, user))
        .filter_map(session_of)
        .collect();
    login_lines()
        .filter(|l| is_cleartext_rejection(l))
        .filter(|l| match session_of(l) {
            Some(session) => sessions.contains(session),
            None => names_user(l, user),
        })
        .count()
}

/// The first moment at which Dovecot is sure to notice a passwd-file change made now: it checks
/// the file at most once per (wall-clock) second, so from the start of the next second on.
fn dovecot_sees_changes_made_now() -> SystemTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    UNIX_EPOCH + Duration::from_secs(now.as_secs() + 1) + Duration::from_millis(50)
}

fn random_password() -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("system random");
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The supervisor process and the pipe that keeps it waiting.
struct Supervisor {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Supervisor {
    fn start_postfix(&mut self) -> Result<(), String> {
        let stdin = self.stdin.as_mut().expect("supervisor stdin");
        stdin
            .write_all(b"postfix\n")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("telling the supervisor to start Postfix: {e}"))
    }

    /// Closes the pipe; the supervisor then stops the servers. Waits until it is done.
    fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

extern "C" fn stop_servers_at_exit() {
    // Runs inside exit(): never block on a lock and never panic.
    let supervisors = match SUPERVISOR.try_lock() {
        Ok(mut guard) => std::mem::take(&mut *guard),
        Err(_) => Vec::new(),
    };
    for supervisor in supervisors {
        supervisor.stop();
    }
}

fn start(accepts: Accepts) -> Result<MailServers, String> {
    preflight()?;
    let mut errors = Vec::new();
    for attempt in 1..=START_ATTEMPTS {
        match start_once(accepts) {
            Ok((servers, supervisor)) => {
                let first = {
                    let mut all = SUPERVISOR.lock().unwrap_or_else(|e| e.into_inner());
                    all.push(supervisor);
                    all.len() == 1
                };
                // SAFETY: registers a plain extern "C" function with no arguments; the C
                // library calls it once from exit().
                if first && unsafe { atexit(stop_servers_at_exit) } != 0 {
                    eprintln!("test mail servers: atexit failed; they stop when the pipe closes");
                }
                return Ok(servers);
            }
            Err(e) => {
                eprintln!("test mail servers: attempt {attempt} failed: {e}");
                errors.push(format!("attempt {attempt}: {e}"));
            }
        }
    }
    Err(errors.join("\n\n"))
}

fn preflight() -> Result<(), String> {
    let uid = fs::metadata("/proc/self")
        .map_err(|e| format!("/proc/self: {e}"))?
        .uid();
    if uid != 0 {
        return Err(
            "the mail server tests must run as root (Dovecot and Postfix switch users)".into(),
        );
    }
    for bin in [
        DOVECOT_BIN,
        POSTFIX_BIN,
        POSTFIX_MASTER_BIN,
        DOVECOT_LMTP_BIN,
        DOVEADM_BIN,
    ] {
        if !Path::new(bin).exists() {
            return Err(format!("{bin} is missing: run scripts/install-test-deps"));
        }
    }
    Ok(())
}

fn start_once(accepts: Accepts) -> Result<(MailServers, Supervisor), String> {
    let keep = std::env::var_os("MAILCHECK_KEEP_SERVER_DIR").is_some_and(|v| v == "1");
    let dir = tempfile::Builder::new()
        .prefix("mailcheck-servers-")
        .tempdir()
        .map_err(|e| format!("creating the run dir: {e}"))?
        .keep();
    let result = prepare_and_launch(&dir, keep, accepts);
    if result.is_err() && !keep {
        let _ = fs::remove_dir_all(&dir);
    }
    if keep {
        eprintln!("test mail servers: run dir {}", dir.display());
    }
    result
}

fn prepare_and_launch(
    dir: &Path,
    keep: bool,
    accepts: Accepts,
) -> Result<(MailServers, Supervisor), String> {
    let dir_str = dir.to_str().ok_or("run dir path is not UTF-8")?;
    if dir_str.contains(|c: char| c.is_whitespace() || c == '@' || c == ',') {
        return Err(format!(
            "run dir path {dir_str:?} is unusable in the server configs"
        ));
    }
    // Dovecot's unix sockets below it (at most 107 bytes a path) are up to ~45 bytes longer.
    if dir_str.len() > 60 {
        return Err(format!(
            "run dir path {dir_str:?} is too long for unix sockets: set TMPDIR to a short dir"
        ));
    }
    // Dovecot's and Postfix's unprivileged processes must reach their files below it.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    for sub in ["tls", "dovecot", "mail", "postfix/etc"] {
        fs::create_dir_all(dir.join(sub)).map_err(|e| format!("mkdir {sub}: {e}"))?;
    }
    create_postfix_dirs(&dir.join("postfix"))?;
    // Mailboxes are created by Dovecot as user "mail".
    fs::set_permissions(dir.join("mail"), fs::Permissions::from_mode(0o1777))
        .map_err(|e| e.to_string())?;

    let ca_pem = write_certificates(&dir.join("tls"))?;

    // Thirteen distinct free ports (and one for the authorization server of the OAuth2
    // instance): hold all listeners at once, then release them for the servers.
    let port_count = 13 + usize::from(accepts == Accepts::PasswordsAndTokens);
    let listeners = (0..port_count)
        .map(|_| TcpListener::bind(SocketAddr::new(SERVER_IP.into(), 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("binding {SERVER_IP}:0: {e}"))?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let no_uidplus = TcpListener::bind(SocketAddr::new(NO_UIDPLUS_IP.into(), 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("binding {NO_UIDPLUS_IP}:0: {e}"))?;
    let no_special_use = TcpListener::bind(SocketAddr::new(NO_SPECIAL_USE_IP.into(), 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("binding {NO_SPECIAL_USE_IP}:0: {e}"))?;
    drop(listeners);
    let servers = MailServers {
        ip: SERVER_IP.into(),
        tls_name: TLS_NAME.to_string(),
        ca_pem,
        imap: ports[0],
        imaps: ports[1],
        pop3: ports[2],
        pop3s: ports[3],
        smtps: ports[4],
        submission: ports[5],
        imaps_without_uidplus: no_uidplus,
        imaps_without_special_use: no_special_use,
        smtps_legacy: ports[6],
        smtps_tls10: ports[7],
        submission_lax: ports[8],
        submission_plain: ports[9],
        submission_login_only: ports[10],
        submission_tls_optional: ports[11],
        submission_legacy_tls: ports[12],
        dir: dir.to_path_buf(),
        token_introspection: (accepts == Accepts::PasswordsAndTokens).then(|| TokenIntrospection {
            provider_port: ports[13],
            client_secret: random_password(),
        }),
        users: Mutex::new(
            PRESET_USERS
                .iter()
                .map(|name| {
                    let entry = UserEntry {
                        password: random_password(),
                        visible_at: UNIX_EPOCH,
                    };
                    (name.to_string(), entry)
                })
                .collect(),
        ),
        sync_password: random_password(),
    };
    servers.write_passwd_file(&servers.users.lock().unwrap_or_else(|e| e.into_inner()))?;
    let (token_mechanisms, token_passdb) = match &servers.token_introspection {
        None => (String::new(), String::new()),
        Some(t) => {
            write_token_passdb_conf(dir, t)?;
            (
                " xoauth2 oauthbearer".to_string(),
                format!(
                    "# Tokens (XOAUTH2, OAUTHBEARER) are checked at the authorization server.\n\
                     passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
                     args = {dir_str}/dovecot/oauth2.conf.ext\n}}\n"
                ),
            )
        }
    };

    let vars = [
        ("DIR", dir_str.to_string()),
        ("IP", SERVER_IP.to_string()),
        ("IMAP_PORT", servers.imap.to_string()),
        ("IMAPS_PORT", servers.imaps.to_string()),
        ("POP3_PORT", servers.pop3.to_string()),
        ("POP3S_PORT", servers.pop3s.to_string()),
        ("SMTPS_PORT", servers.smtps.to_string()),
        ("SUBMISSION_PORT", servers.submission.to_string()),
        ("NO_UIDPLUS_IP", NO_UIDPLUS_IP.to_string()),
        ("POOL_NODE_IP", POOL_NODE_IP.to_string()),
        (
            "NO_UIDPLUS_PORT",
            servers.imaps_without_uidplus.port().to_string(),
        ),
        ("NO_SPECIAL_USE_IP", NO_SPECIAL_USE_IP.to_string()),
        (
            "NO_SPECIAL_USE_PORT",
            servers.imaps_without_special_use.port().to_string(),
        ),
        ("SMTPS_LEGACY_PORT", servers.smtps_legacy.to_string()),
        ("SMTPS_TLS10_PORT", servers.smtps_tls10.to_string()),
        ("SUBMISSION_LAX_PORT", servers.submission_lax.to_string()),
        (
            "SUBMISSION_PLAIN_PORT",
            servers.submission_plain.to_string(),
        ),
        (
            "SUBMISSION_LOGIN_ONLY_PORT",
            servers.submission_login_only.to_string(),
        ),
        (
            "SUBMISSION_TLS_OPTIONAL_PORT",
            servers.submission_tls_optional.to_string(),
        ),
        (
            "SUBMISSION_LEGACY_TLS_PORT",
            servers.submission_legacy_tls.to_string(),
        ),
        ("TOKEN_MECHANISMS", token_mechanisms),
        ("TOKEN_PASSDB", token_passdb),
    ];
    for (template, target) in [
        (DOVECOT_CONF_IN, "dovecot/dovecot.conf"),
        (POSTFIX_MAIN_CF_IN, "postfix/etc/main.cf"),
        (POSTFIX_MASTER_CF_IN, "postfix/etc/master.cf"),
    ] {
        let text = render(template, &vars).map_err(|e| format!("{target}: {e}"))?;
        fs::write(dir.join(target), text).map_err(|e| format!("write {target}: {e}"))?;
        // Postfix re-reads a "hot" main.cf (modified within the last second or two) in 0.3 s
        // steps until it has cooled down; a back-dated file saves those 1.5 s.
        fs::File::options()
            .write(true)
            .open(dir.join(target))
            .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(3600)))
            .map_err(|e| format!("set mtime of {target}: {e}"))?;
    }

    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(SUPERVISOR_SH)
        .arg("mailcheck-test-servers")
        .arg(dir)
        .arg(if keep { "1" } else { "0" })
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawning /bin/sh: {e}"))?;
    let stdin = child.stdin.take();
    let mut supervisor = Supervisor { child, stdin };
    match launch(&servers, &mut supervisor) {
        Ok(()) => Ok((servers, supervisor)),
        Err(e) => {
            let message = format!("{e}\n{}", log_tails(dir));
            // With keep=0 the supervisor removes the dir itself once the servers are down.
            supervisor.stop();
            Err(message)
        }
    }
}

/// Writes the settings of Dovecot's `oauth2` passdb: each token is posted to the introspection
/// endpoint (client `dovecot`, HTTP basic authentication from the URL), over TLS checked
/// against the test CA; an active token's `sub` must be the login name. A refused OAUTHBEARER
/// login names the provider's OpenID configuration (RFC 7628 §3.2.2).
fn write_token_passdb_conf(dir: &Path, t: &TokenIntrospection) -> Result<(), String> {
    let text = format!(
        "introspection_mode = post\n\
         introspection_url = https://dovecot:{secret}@{ip}:{port}/token/introspection\n\
         force_introspection = yes\n\
         tls_ca_cert_file = {ca}\n\
         username_attribute = sub\n\
         active_attribute = active\n\
         active_value = true\n\
         openid_configuration_url = https://{ip}:{port}/.well-known/openid-configuration\n",
        secret = t.client_secret,
        ip = SERVER_IP,
        port = t.provider_port,
        ca = dir.join("tls/ca.pem").display(),
    );
    let path = dir.join("dovecot/oauth2.conf.ext");
    fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    // It holds the client secret: readable by root and Dovecot's auth process (group dovecot).
    let dovecot = system_id("/etc/group", "dovecot")?;
    std::os::unix::fs::chown(&path, Some(0), Some(dovecot))
        .map_err(|e| format!("chown {}: {e}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).map_err(|e| e.to_string())
}

/// Waits for Dovecot, then has the supervisor start Postfix and waits for it.
fn launch(s: &MailServers, supervisor: &mut Supervisor) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let dovecot_pid = s.dir.join("dovecot/supervised.pid");
    wait_for_greeting(
        SocketAddr::new(s.ip, s.imap),
        "* OK",
        &dovecot_pid,
        deadline,
    )?;
    wait_for_greeting(SocketAddr::new(s.ip, s.pop3), "+OK", &dovecot_pid, deadline)?;
    wait_until(deadline, &dovecot_pid, || {
        TcpStream::connect_timeout(&s.imaps_without_uidplus, Duration::from_secs(1))
            .map(drop)
            .map_err(|e| format!("connect {}: {e}", s.imaps_without_uidplus))
    })?;
    wait_until(deadline, &dovecot_pid, || {
        TcpStream::connect_timeout(&s.imaps_without_special_use, Duration::from_secs(1))
            .map(drop)
            .map_err(|e| format!("connect {}: {e}", s.imaps_without_special_use))
    })?;
    let auth_socket = s.dir.join("dovecot/run/auth-postfix");
    while !auth_socket.exists() {
        if Instant::now() > deadline {
            return Err(format!("{} did not appear", auth_socket.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    supervisor.start_postfix()?;
    // Postfix's master logs only through its postlog service, so a fatal error at its start
    // (before postlogd runs) is not in postfix.log. In a kept run dir
    // (MAILCHECK_KEEP_SERVER_DIR=1), `postfix -c <dir>/postfix/etc check` finds configuration
    // errors and `strace -f <master> -d -c <dir>/postfix/etc` shows the rest.
    let master_pid = s.dir.join("postfix/supervised.pid");
    wait_for_greeting(
        SocketAddr::new(s.ip, s.submission),
        "220 ",
        &master_pid,
        deadline,
    )?;
    // The wrapper-mode port says nothing before TLS; accepting connections is enough.
    wait_until(deadline, &master_pid, || {
        TcpStream::connect_timeout(&SocketAddr::new(s.ip, s.smtps), Duration::from_secs(1))
            .map(drop)
            .map_err(|e| format!("connect {}:{}: {e}", s.ip, s.smtps))
    })
}

fn wait_for_greeting(
    addr: SocketAddr,
    expected: &str,
    pid_file: &Path,
    deadline: Instant,
) -> Result<(), String> {
    wait_until(deadline, pid_file, || {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .map_err(|e| format!("reading the greeting of {addr}: {e}"))?;
        if line.starts_with(expected) {
            Ok(())
        } else {
            Err(format!(
                "{addr} greeted with {line:?}, expected {expected:?}"
            ))
        }
    })
}

/// Retries `probe` until it succeeds, the deadline passes, or the supervised process whose pid
/// is in `pid_file` has died.
fn wait_until(
    deadline: Instant,
    pid_file: &Path,
    mut probe: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    loop {
        let err = match probe() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if let Ok(pid) = fs::read_to_string(pid_file) {
            if !process_alive(pid.trim()) {
                return Err(format!("{} (process {} has exited)", err, pid.trim()));
            }
        }
        if Instant::now() > deadline {
            return Err(format!("not ready after {STARTUP_TIMEOUT:?}: {err}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn process_alive(pid: &str) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Creates Postfix's queue and data directories, with the owners and modes of Debian's
/// /etc/postfix/postfix-files (what `postfix check` would do, in 3 s less).
fn create_postfix_dirs(postfix_dir: &Path) -> Result<(), String> {
    let postfix = system_id("/etc/passwd", "postfix")?;
    let postdrop = system_id("/etc/group", "postdrop")?;
    let spool = postfix_dir.join("spool");
    let mut dirs: Vec<(PathBuf, u32, Option<u32>, u32)> = vec![
        (postfix_dir.join("data"), postfix, None, 0o700),
        (spool.clone(), 0, None, 0o755),
        (spool.join("pid"), 0, None, 0o755),
        (spool.join("maildrop"), postfix, Some(postdrop), 0o730),
        (spool.join("public"), postfix, Some(postdrop), 0o710),
    ];
    for name in [
        "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private",
        "saved", "trace",
    ] {
        dirs.push((spool.join(name), postfix, None, 0o700));
    }
    for (path, uid, gid, mode) in dirs {
        fs::create_dir_all(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid.unwrap_or(0)))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The numeric id of a system user (`/etc/passwd`) or group (`/etc/group`).
fn system_id(file: &str, name: &str) -> Result<u32, String> {
    let text = fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    text.lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() > 2 && fields[0] == name)
        .and_then(|fields| fields[2].parse().ok())
        .ok_or_else(|| format!("no {name} in {file}: run scripts/install-test-deps"))
}

fn render(template: &str, vars: &[(&str, String)]) -> Result<String, String> {
    let mut text = template.to_string();
    for (name, value) in vars {
        text = text.replace(&format!("@{name}@"), value);
    }
    // Any @NAME@ left is a placeholder nobody filled in.
    let mut rest = text.as_str();
    while let Some(start) = rest.find('@') {
        let after = &rest[start + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('@') {
            return Err(format!("unknown placeholder @{}@", &after[..name_len]));
        }
        rest = after;
    }
    Ok(text)
}

/// Makes the test CA and the server certificate (ECDSA P-256, valid from yesterday for 90
/// days) and writes `ca.pem`, `server.crt` and `server.key` into `tls_dir`. Returns the CA path.
fn write_certificates(tls_dir: &Path) -> Result<PathBuf, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let e = |e: rcgen::Error| format!("generating certificates: {e}");
    let not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let not_after = not_before + time::Duration::days(90);

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "mailcheck test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_key = KeyPair::generate().map_err(e)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server =
        CertificateParams::new(vec![TLS_NAME.to_string(), SERVER_IP.to_string()]).map_err(e)?;
    server.distinguished_name = DistinguishedName::new();
    server.distinguished_name.push(DnType::CommonName, TLS_NAME);
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = not_before;
    server.not_after = not_after;
    let server_key = KeyPair::generate().map_err(e)?;
    let server_cert = server.signed_by(&server_key, &issuer).map_err(e)?;

    // The SNI variants (see SNI_*): same CA, other dates; one self-signed.
    let day = time::Duration::days(1);
    let now = time::OffsetDateTime::now_utc();
    let mut variants = Vec::new();
    for (name, from, until) in [
        (SNI_EXPIRED, now - day * 100, now - day * 10),
        (SNI_NOT_YET_VALID, now + day * 10, now + day * 100),
        // Five days and a half: days_left is 5 whatever the hour.
        (
            SNI_EXPIRING,
            now - day * 80,
            now + day * 5 + time::Duration::hours(12),
        ),
    ] {
        let mut p = CertificateParams::new(vec![name.to_string()]).map_err(e)?;
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        p.not_before = from;
        p.not_after = until;
        let key = KeyPair::generate().map_err(e)?;
        let cert = p.signed_by(&key, &issuer).map_err(e)?;
        variants.push((name, cert.pem(), key.serialize_pem()));
    }
    let mut p = CertificateParams::new(vec![SNI_SELF_SIGNED.to_string()]).map_err(e)?;
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, SNI_SELF_SIGNED);
    p.is_ca = IsCa::ExplicitNoCa;
    p.not_before = not_before;
    p.not_after = not_after;
    let key = KeyPair::generate().map_err(e)?;
    let cert = p.self_signed(&key).map_err(e)?;
    variants.push((SNI_SELF_SIGNED, cert.pem(), key.serialize_pem()));

    // The pool node on POOL_NODE_IP: the server's own name, from the test CA, expired ten days
    // ago (the node an operator forgot to renew).
    let mut p = CertificateParams::new(vec![TLS_NAME.to_string()]).map_err(e)?;
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, TLS_NAME);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now - day * 100;
    p.not_after = now - day * 10;
    let key = KeyPair::generate().map_err(e)?;
    let cert = p.signed_by(&key, &issuer).map_err(e)?;
    variants.push((POOL_NODE_CERT, cert.pem(), key.serialize_pem()));

    let ca_path = tls_dir.join("ca.pem");
    let write = |name: &str, text: String, mode: u32| -> Result<(), String> {
        let path = tls_dir.join(name);
        fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
    };
    write("ca.pem", ca_cert.pem(), 0o644)?;
    write("server.crt", server_cert.pem(), 0o644)?;
    // Read by Dovecot's and Postfix's root processes only.
    write("server.key", server_key.serialize_pem(), 0o600)?;
    for (name, cert, key) in variants {
        write(&format!("{name}.crt"), cert, 0o644)?;
        write(&format!("{name}.key"), key, 0o600)?;
    }
    Ok(ca_path)
}

/// The last lines of every log and stderr file of the run dir, for error messages.
fn log_tails(dir: &Path) -> String {
    let mut out = String::new();
    for name in [
        "dovecot/stderr.log",
        "dovecot/dovecot.log",
        "postfix/stderr.log",
        "postfix/postfix.log",
    ] {
        let path = dir.join(name);
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(&path) {
            let _ = f.read_to_string(&mut text);
        } else {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(30)..];
        let _ = writeln!(out, "--- {} (last {} lines)", path.display(), tail.len());
        for line in tail {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}
