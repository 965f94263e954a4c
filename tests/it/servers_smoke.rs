//! Proves the test-server harness (tests/it/support/servers.rs): the servers run, look remote to
//! the client, offer what a probe will meet in the wild, and count logins.
//!
//! Protocol exchanges are written out by hand here (tokio + rustls only), on purpose: these tests
//! must not depend on the crate's own protocol code, which they exist to test later.

use crate::support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use support::servers::{closed_port, MailServers, HELD_RECIPIENT, REFUSED_RECIPIENT};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A line-oriented connection (CRLF-terminated lines) over TCP or TLS.
struct Conn<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S) -> Self {
        Conn {
            io: BufReader::new(stream),
        }
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(IO_TIMEOUT, self.io.read_line(&mut line))
            .await
            .expect("timed out reading a line")
            .expect("reading a line");
        assert!(n > 0, "connection closed by the server");
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    async fn send(&mut self, text: &str) {
        let stream = self.io.get_mut();
        tokio::time::timeout(IO_TIMEOUT, async {
            stream.write_all(text.as_bytes()).await?;
            stream.write_all(b"\r\n").await?;
            stream.flush().await
        })
        .await
        .expect("timed out writing")
        .expect("writing");
    }

    /// Sends an IMAP command and returns all lines up to and including the tagged reply.
    async fn imap(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(&format!("{tag} {command}")).await;
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Reads one (possibly multi-line) SMTP reply.
    async fn smtp_reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    async fn smtp(&mut self, command: &str) -> Vec<String> {
        self.send(command).await;
        self.smtp_reply().await
    }

    /// Sends a POP3 command and reads the status line, plus the body if it is multi-line.
    async fn pop3(&mut self, command: &str, multiline: bool) -> Vec<String> {
        self.send(command).await;
        let mut lines = vec![self.line().await];
        if multiline && lines[0].starts_with("+OK") {
            loop {
                let line = self.line().await;
                if line == "." {
                    break;
                }
                lines.push(line);
            }
        }
        lines
    }

    /// The stream, for a STARTTLS upgrade. The server must not have sent anything unread.
    fn into_inner(self) -> S {
        assert!(
            self.io.buffer().is_empty(),
            "unread data before the TLS handshake"
        );
        self.io.into_inner()
    }
}

fn tls_connector(servers: &MailServers) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&servers.ca_pem).expect("reading the CA PEM") {
        roots
            .add(cert.expect("parsing the CA PEM"))
            .expect("adding the CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tcp(servers: &MailServers, port: u16) -> TcpStream {
    tokio::time::timeout(IO_TIMEOUT, TcpStream::connect((servers.ip, port)))
        .await
        .expect("timed out connecting")
        .unwrap_or_else(|e| panic!("connecting to {}:{port}: {e}", servers.ip))
}

async fn tls_handshake(
    servers: &MailServers,
    stream: TcpStream,
    name: ServerName<'static>,
) -> std::io::Result<TlsStream<TcpStream>> {
    tokio::time::timeout(IO_TIMEOUT, tls_connector(servers).connect(name, stream))
        .await
        .expect("timed out in the TLS handshake")
}

fn tls_name(servers: &MailServers) -> ServerName<'static> {
    ServerName::try_from(servers.tls_name.clone()).expect("server name")
}

/// Implicit TLS to `port`, verified against the test CA for `mail.lab.test`.
async fn tls(servers: &MailServers, port: u16) -> Conn<TlsStream<TcpStream>> {
    let stream = tcp(servers, port).await;
    let tls = tls_handshake(servers, stream, tls_name(servers))
        .await
        .unwrap_or_else(|e| panic!("TLS handshake with port {port}: {e}"));
    Conn::new(tls)
}

async fn starttls(servers: &MailServers, conn: Conn<TcpStream>) -> Conn<TlsStream<TcpStream>> {
    let tls = tls_handshake(servers, conn.into_inner(), tls_name(servers))
        .await
        .expect("TLS handshake after STARTTLS");
    Conn::new(tls)
}

fn plain_b64(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

fn has_word(line: &str, word: &str) -> bool {
    line.split_whitespace()
        .any(|w| w.trim_matches(['[', ']']) == word)
}

#[test]
fn clients_look_remote_to_the_servers() {
    let s = MailServers::get();
    assert_eq!(s.ip, "127.0.0.2".parse::<IpAddr>().unwrap());
    let stream = std::net::TcpStream::connect((s.ip, s.imap)).unwrap();
    let local = stream.local_addr().unwrap().ip();
    // Dovecot would treat 127.0.0.2 -> 127.0.0.2 as a secure local connection.
    assert_ne!(local, s.ip, "client and server address must differ");
    assert_eq!(local, "127.0.0.1".parse::<IpAddr>().unwrap());
}

#[test]
fn closed_port_refuses_connections() {
    let s = MailServers::get();
    let port = closed_port(s.ip);
    let err =
        std::net::TcpStream::connect_timeout(&SocketAddr::new(s.ip, port), Duration::from_secs(5))
            .expect_err("nothing should listen there");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn imap_starttls_port_has_logindisabled_before_tls_only() {
    let s = MailServers::get();
    let mut conn = Conn::new(tcp(s, s.imap).await);
    let greeting = conn.line().await;
    assert!(greeting.starts_with("* OK [CAPABILITY "), "{greeting}");
    assert!(has_word(&greeting, "STARTTLS"), "{greeting}");
    assert!(has_word(&greeting, "LOGINDISABLED"), "{greeting}");

    let caps = conn.imap("a1", "CAPABILITY").await;
    assert!(caps[0].starts_with("* CAPABILITY "), "{caps:?}");
    assert!(has_word(&caps[0], "STARTTLS"), "{caps:?}");
    assert!(has_word(&caps[0], "LOGINDISABLED"), "{caps:?}");
    assert!(
        !caps[0].contains("AUTH="),
        "no SASL mechanism before TLS: {caps:?}"
    );

    let reply = conn.imap("a2", "STARTTLS").await;
    assert!(reply.last().unwrap().starts_with("a2 OK"), "{reply:?}");
    let mut conn = starttls(s, conn).await;
    let caps = conn.imap("a3", "CAPABILITY").await;
    assert!(!has_word(&caps[0], "LOGINDISABLED"), "{caps:?}");
    assert!(!has_word(&caps[0], "STARTTLS"), "{caps:?}");
    assert!(has_word(&caps[0], "AUTH=PLAIN"), "{caps:?}");

    let user = s.user("dave");
    let reply = conn
        .imap("a4", &format!("LOGIN {} {}", user.address, user.password))
        .await;
    assert!(reply.last().unwrap().starts_with("a4 OK"), "{reply:?}");
    assert_eq!(s.successful_logins(&user.address), 1);
}

#[tokio::test]
async fn imap_cleartext_login_is_refused_and_never_reaches_auth() {
    let s = MailServers::get();
    let user = s.user("erin");
    let rejections_before = s.cleartext_rejections();
    let mut conn = Conn::new(tcp(s, s.imap).await);
    conn.line().await;
    let reply = conn
        .imap("a1", &format!("LOGIN {} {}", user.address, user.password))
        .await;
    let last = reply.last().unwrap();
    assert!(last.starts_with("a1 NO [PRIVACYREQUIRED]"), "{reply:?}");
    let reply = conn
        .imap(
            "a2",
            &format!(
                "AUTHENTICATE PLAIN {}",
                plain_b64(&user.address, &user.password)
            ),
        )
        .await;
    assert!(
        reply.last().unwrap().starts_with("a2 NO [PRIVACYREQUIRED]"),
        "{reply:?}"
    );
    assert!(s.cleartext_rejections() >= rejections_before + 2);
    // LOGIN is logged with user=<>, and attributed through its session's Disconnected line.
    let reply = conn.imap("a3", "LOGOUT").await;
    assert!(reply.last().unwrap().starts_with("a3 OK"), "{reply:?}");
    drop(conn);
    assert_eq!(s.successful_logins(&user.address), 0);
    assert_eq!(s.failed_logins(&user.address), 0);
    assert_eq!(s.auth_attempts(&user.address), 2);
}

#[tokio::test]
async fn imaps_login_works_and_a_wrong_password_counts_once() {
    let s = MailServers::get();
    let user = s.user("alice");
    assert_eq!(s.failed_logins(&user.address), 0);
    assert_eq!(s.auth_attempts(&user.address), 0);

    let mut conn = tls(s, s.imaps).await;
    let greeting = conn.line().await;
    assert!(greeting.starts_with("* OK [CAPABILITY "), "{greeting}");
    assert!(!has_word(&greeting, "LOGINDISABLED"), "{greeting}");
    assert!(has_word(&greeting, "AUTH=PLAIN"), "{greeting}");
    let reply = conn
        .imap("a1", &format!("LOGIN {} {}", user.address, user.password))
        .await;
    assert!(reply.last().unwrap().starts_with("a1 OK"), "{reply:?}");
    let reply = conn.imap("a2", "SELECT INBOX").await;
    assert!(reply.last().unwrap().starts_with("a2 OK"), "{reply:?}");
    conn.imap("a3", "LOGOUT").await;
    assert_eq!(s.successful_logins(&user.address), 1);
    assert_eq!(s.failed_logins(&user.address), 0);

    let mut conn = tls(s, s.imaps).await;
    conn.line().await;
    let reply = conn
        .imap(
            "b1",
            &format!("LOGIN {} wrong-{}", user.address, user.password),
        )
        .await;
    let last = reply.last().unwrap();
    assert!(
        last.starts_with("b1 NO [AUTHENTICATIONFAILED]"),
        "{reply:?}"
    );
    assert_eq!(s.failed_logins(&user.address), 1);
    assert_eq!(s.successful_logins(&user.address), 1);
    assert_eq!(s.auth_attempts(&user.address), 2);
}

#[tokio::test]
async fn pop3_stls_port_refuses_user_pass_before_tls() {
    let s = MailServers::get();
    let user = s.user("frank");
    let mut conn = Conn::new(tcp(s, s.pop3).await);
    let greeting = conn.line().await;
    assert!(greeting.starts_with("+OK"), "{greeting}");
    let capa = conn.pop3("CAPA", true).await;
    assert!(capa.iter().any(|l| l == "STLS"), "{capa:?}");
    assert!(!capa.iter().any(|l| l == "USER"), "{capa:?}");
    // Dovecot 2.3 lists "SASL" with no mechanism before TLS.
    assert!(capa.iter().any(|l| l == "SASL"), "{capa:?}");

    let reply = conn.pop3(&format!("USER {}", user.address), false).await;
    assert!(reply[0].starts_with("-ERR [AUTH]"), "{reply:?}");
    let reply = conn.pop3(&format!("PASS {}", user.password), false).await;
    assert!(reply[0].starts_with("-ERR [AUTH]"), "{reply:?}");

    let reply = conn.pop3("STLS", false).await;
    assert!(reply[0].starts_with("+OK"), "{reply:?}");
    let mut conn = starttls(s, conn).await;
    let capa = conn.pop3("CAPA", true).await;
    assert!(capa.iter().any(|l| l == "USER"), "{capa:?}");
    assert!(capa.iter().any(|l| l == "SASL PLAIN LOGIN"), "{capa:?}");
    assert!(!capa.iter().any(|l| l == "STLS"), "{capa:?}");
    let reply = conn.pop3(&format!("USER {}", user.address), false).await;
    assert!(reply[0].starts_with("+OK"), "{reply:?}");
    let reply = conn.pop3(&format!("PASS {}", user.password), false).await;
    assert!(reply[0].starts_with("+OK"), "{reply:?}");
    assert_eq!(s.successful_logins(&user.address), 1);
    assert_eq!(s.failed_logins(&user.address), 0);
    // The refused USER and PASS before STLS count as attempts, plus the login after it.
    assert_eq!(s.auth_attempts(&user.address), 3);
}

#[tokio::test]
async fn pop3s_wrong_password_counts_once() {
    let s = MailServers::get();
    let user = s.user("grace");
    let mut conn = tls(s, s.pop3s).await;
    let greeting = conn.line().await;
    assert!(greeting.starts_with("+OK"), "{greeting}");
    let reply = conn
        .pop3(
            &format!(
                "AUTH PLAIN {}",
                plain_b64(&user.address, "not-the-password")
            ),
            false,
        )
        .await;
    assert!(reply[0].starts_with("-ERR [AUTH]"), "{reply:?}");
    assert_eq!(s.failed_logins(&user.address), 1);
    assert_eq!(s.successful_logins(&user.address), 0);
}

#[tokio::test]
async fn submission_requires_starttls_before_auth() {
    let s = MailServers::get();
    let user = s.user("heidi");
    let mut conn = Conn::new(tcp(s, s.submission).await);
    let greeting = conn.smtp_reply().await;
    assert!(greeting[0].starts_with("220 "), "{greeting:?}");
    let ehlo = conn.smtp("EHLO client.example").await;
    assert!(ehlo.iter().all(|l| l.starts_with("250")), "{ehlo:?}");
    assert!(ehlo.iter().any(|l| &l[4..] == "STARTTLS"), "{ehlo:?}");
    assert!(!ehlo.iter().any(|l| l[4..].starts_with("AUTH")), "{ehlo:?}");
    let reply = conn
        .smtp(&format!(
            "AUTH PLAIN {}",
            plain_b64(&user.address, &user.password)
        ))
        .await;
    assert!(reply[0].starts_with("530 "), "{reply:?}");

    let reply = conn.smtp("STARTTLS").await;
    assert!(reply[0].starts_with("220 "), "{reply:?}");
    let mut conn = starttls(s, conn).await;
    let ehlo = conn.smtp("EHLO client.example").await;
    assert!(
        ehlo.iter().any(|l| &l[4..] == "AUTH PLAIN LOGIN"),
        "{ehlo:?}"
    );
    assert!(!ehlo.iter().any(|l| &l[4..] == "STARTTLS"), "{ehlo:?}");
    let reply = conn
        .smtp(&format!(
            "AUTH PLAIN {}",
            plain_b64(&user.address, &user.password)
        ))
        .await;
    assert!(reply[0].starts_with("235 "), "{reply:?}");
    conn.smtp("QUIT").await;
    // Postfix asks Dovecot, so SMTP logins are counted like IMAP ones. The AUTH before
    // STARTTLS never reached Dovecot.
    assert_eq!(s.successful_logins(&user.address), 1);
    assert_eq!(s.failed_logins(&user.address), 0);
    assert_eq!(s.auth_attempts(&user.address), 1);
}

#[tokio::test]
async fn smtps_wrong_password_counts_once_in_dovecot() {
    let s = MailServers::get();
    let user = s.user("ivan");
    let mut conn = tls(s, s.smtps).await;
    let greeting = conn.smtp_reply().await;
    assert!(greeting[0].starts_with("220 "), "{greeting:?}");
    let ehlo = conn.smtp("EHLO client.example").await;
    assert!(
        ehlo.iter().any(|l| &l[4..] == "AUTH PLAIN LOGIN"),
        "{ehlo:?}"
    );
    let reply = conn
        .smtp(&format!("AUTH PLAIN {}", plain_b64(&user.address, "nope")))
        .await;
    assert!(reply[0].starts_with("535 "), "{reply:?}");
    conn.smtp("QUIT").await;
    assert_eq!(s.failed_logins(&user.address), 1);
    assert_eq!(s.successful_logins(&user.address), 0);
}

#[tokio::test]
async fn implicit_tls_ports_verify_against_the_test_ca() {
    let s = MailServers::get();
    for port in [s.imaps, s.pop3s, s.smtps] {
        // By name, and by the IP address that is also in the certificate.
        let mut conn = tls(s, port).await;
        assert!(!conn.line().await.is_empty());
        let ip = ServerName::IpAddress(s.ip.into());
        tls_handshake(s, tcp(s, port).await, ip)
            .await
            .unwrap_or_else(|e| panic!("TLS to port {port} by IP address: {e}"));
        // A name that is not in the certificate must fail: proves the check is real.
        let wrong = ServerName::try_from("wrong.lab.test").unwrap();
        let err = tls_handshake(s, tcp(s, port).await, wrong)
            .await
            .expect_err("a name not in the certificate must be rejected");
        assert!(
            err.to_string().contains("not valid for name"),
            "port {port}: {err}"
        );
    }
}

#[tokio::test]
async fn users_are_created_on_demand() {
    let s = MailServers::get();
    let user = s.user("on-demand-smoke");
    assert_eq!(user.address, "on-demand-smoke@lab.test");
    assert_eq!(s.user("on-demand-smoke"), user, "same name, same user");
    assert_ne!(s.user("alice").password, user.password);
    let mut conn = tls(s, s.imaps).await;
    conn.line().await;
    let reply = conn
        .imap("a1", &format!("LOGIN {} {}", user.address, user.password))
        .await;
    assert!(reply.last().unwrap().starts_with("a1 OK"), "{reply:?}");
    assert_eq!(s.successful_logins(&user.address), 1);
    assert!(s.dovecot_log().exists());
}

/// Polls `check` every 50 ms for up to 15 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn submitted_mail_is_delivered_held_or_refused() {
    let s = MailServers::get();
    let sender = s.user("smoke-sender");
    let rcpt = s.user("smoke-rcpt");
    let held_before = s.held_messages();
    let mut conn = tls(s, s.smtps).await;
    assert!(conn.smtp_reply().await[0].starts_with("220 "));
    conn.smtp("EHLO client.example").await;
    let reply = conn
        .smtp(&format!(
            "AUTH PLAIN {}",
            plain_b64(&sender.address, &sender.password)
        ))
        .await;
    assert!(reply[0].starts_with("235 "), "{reply:?}");
    let message = |id: &str| {
        format!(
            "From: {}\r\nTo: {}\r\nSubject: smoke\r\nMessage-ID: <{id}@lab.test>\r\n\r\nhello\r\n.",
            sender.address, rcpt.address
        )
    };

    // One transaction: the refused recipient is refused, the real one delivered.
    let reply = conn.smtp(&format!("MAIL FROM:<{}>", sender.address)).await;
    assert!(reply[0].starts_with("250 "), "{reply:?}");
    let reply = conn.smtp(&format!("RCPT TO:<{REFUSED_RECIPIENT}>")).await;
    assert!(reply[0].starts_with("554 5.7.1 "), "{reply:?}");
    assert!(
        reply[0].contains("refused by the test instance policy"),
        "{reply:?}"
    );
    let reply = conn.smtp(&format!("RCPT TO:<{}>", rcpt.address)).await;
    assert!(reply[0].starts_with("250 "), "{reply:?}");
    assert!(conn.smtp("DATA").await[0].starts_with("354 "));
    let reply = conn.smtp(&message("smoke-delivered")).await;
    assert!(reply[0].starts_with("250 "), "{reply:?}");

    // Another: the held recipient is accepted like any other, then held.
    conn.smtp(&format!("MAIL FROM:<{}>", sender.address)).await;
    let reply = conn.smtp(&format!("RCPT TO:<{HELD_RECIPIENT}>")).await;
    assert!(reply[0].starts_with("250 "), "{reply:?}");
    assert!(conn.smtp("DATA").await[0].starts_with("354 "));
    let reply = conn.smtp(&message("smoke-held")).await;
    assert!(reply[0].starts_with("250 "), "{reply:?}");
    conn.smtp("QUIT").await;

    // Dovecot's LMTP stored it in the recipient's INBOX...
    eventually("delivery into the mailbox", || {
        s.mailbox(&rcpt.address)
            .iter()
            .any(|m| m.message_id == "<smoke-delivered@lab.test>")
    })
    .await;
    eventually("the held message on the hold queue", || {
        s.held_messages() > held_before
    })
    .await;
    assert_eq!(s.mailbox(&rcpt.address).len(), 1, "only the delivered one");

    // ... where the recipient reads it over IMAP, with the hops and the added
    // Authentication-Results field.
    let mut imap = tls(s, s.imaps).await;
    imap.line().await;
    let reply = imap
        .imap("a1", &format!("LOGIN {} {}", rcpt.address, rcpt.password))
        .await;
    assert!(reply.last().unwrap().starts_with("a1 OK"), "{reply:?}");
    let reply = imap.imap("a2", "SELECT INBOX").await;
    assert!(reply.iter().any(|l| l == "* 1 EXISTS"), "{reply:?}");
    let header = imap
        .imap("a3", "FETCH 1 BODY.PEEK[HEADER]")
        .await
        .join("\n");
    assert!(header.contains("with LMTP"), "{header}");
    assert!(
        header.contains("by mail.lab.test (Postfix) with ESMTPSA"),
        "{header}"
    );
    assert!(
        header.contains("Authentication-Results: mail.lab.test; auth=pass"),
        "{header}"
    );
    imap.imap("a4", "LOGOUT").await;
}

#[test]
fn mailboxes_are_listed_and_prepared_with_doveadm() {
    let s = MailServers::get();
    let user = s.user("smoke-doveadm");
    assert!(s.mailbox(&user.address).is_empty());
    for i in 1..=3 {
        s.store_message(
            &user.address,
            &format!("From: a@lab.test\nSubject: {i}\nMessage-ID: <stored-{i}@lab.test>\n\nbody\n"),
        );
    }
    let stored = s.mailbox(&user.address);
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert_eq!(stored[0].message_id, "<stored-1@lab.test>");
    assert!(stored.iter().all(|m| m.flags.is_empty()), "{stored:?}");
    s.add_flags(&user.address, stored[1].uid, "\\Seen \\Deleted");
    let after = s.mailbox(&user.address);
    assert_eq!(after[1].flags, vec!["\\Deleted", "\\Seen"]);
    assert_eq!(after[0], stored[0]);
    assert_eq!(after[2], stored[2]);
}

#[tokio::test]
async fn the_second_imaps_listener_announces_no_uidplus() {
    let s = MailServers::get();
    let user = s.user("smoke-uidplus");
    let addr = s.imaps_without_uidplus;
    let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("timed out connecting")
        .expect("connecting to the listener without UIDPLUS");
    let stream = tls_handshake(s, stream, tls_name(s)).await.expect("TLS");
    let mut without = Conn::new(stream);
    let mut with = tls(s, s.imaps).await;
    for (conn, expected) in [(&mut without, false), (&mut with, true)] {
        conn.line().await;
        let reply = conn
            .imap("a1", &format!("LOGIN {} {}", user.address, user.password))
            .await;
        assert!(reply.last().unwrap().starts_with("a1 OK"), "{reply:?}");
        let caps = conn.imap("a2", "CAPABILITY").await;
        let line = caps.iter().find(|l| l.starts_with("* CAPABILITY")).unwrap();
        assert_eq!(has_word(line, "UIDPLUS"), expected, "{line}");
        assert!(has_word(line, "IMAP4rev1"), "{line}");
        conn.imap("a3", "LOGOUT").await;
    }
}

#[tokio::test]
async fn the_second_submission_listener_offers_only_auth_login_after_starttls() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let s = MailServers::get();
    let user = s.user("smoke-login-only");
    let mut conn = Conn::new(tcp(s, s.submission_login_only).await);
    let greeting = conn.smtp_reply().await;
    assert!(greeting[0].starts_with("220 "), "{greeting:?}");
    let ehlo = conn.smtp("EHLO client.example").await;
    assert!(ehlo.iter().any(|l| &l[4..] == "STARTTLS"), "{ehlo:?}");
    assert!(!ehlo.iter().any(|l| l[4..].starts_with("AUTH")), "{ehlo:?}");
    let reply = conn.smtp("STARTTLS").await;
    assert!(reply[0].starts_with("220 "), "{reply:?}");
    let mut conn = starttls(s, conn).await;
    let ehlo = conn.smtp("EHLO client.example").await;
    let auth: Vec<&String> = ehlo.iter().filter(|l| l[4..].starts_with("AUTH")).collect();
    assert_eq!(auth.len(), 1, "{ehlo:?}");
    assert_eq!(&auth[0][4..], "AUTH LOGIN", "{ehlo:?}");
    // LOGIN still reaches Dovecot, like on the other submission port.
    let reply = conn.smtp("AUTH LOGIN").await;
    assert!(reply[0].starts_with("334 "), "{reply:?}");
    let reply = conn.smtp(&b64(&user.address)).await;
    assert!(reply[0].starts_with("334 "), "{reply:?}");
    let reply = conn.smtp(&b64(&user.password)).await;
    assert!(reply[0].starts_with("235 "), "{reply:?}");
    conn.smtp("QUIT").await;
    assert_eq!(s.successful_logins(&user.address), 1);
    assert_eq!(s.failed_logins(&user.address), 0);
}
