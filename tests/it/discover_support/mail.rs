//! Minimal implicit-TLS IMAP and SMTP listeners on 127.0.0.2 (random ports), enough for the
//! probe engine to connect, verify the certificate, read a greeting and capabilities, and log
//! out. The CLI discovery tests use them (fast, no root); `discover_real_servers` goes to the
//! real Dovecot and Postfix.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Copy)]
pub enum Kind {
    Imap,
    Smtp,
}

pub async fn start(kind: Kind, tls: Arc<rustls::ServerConfig>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(s) = acceptor.accept(tcp).await else {
                    return;
                };
                let (r, mut w) = tokio::io::split(s);
                let mut lines = BufReader::new(r).lines();
                let greeting = match kind {
                    Kind::Imap => "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] lab ready\r\n",
                    Kind::Smtp => "220 mail.lab.test ESMTP lab\r\n",
                };
                if w.write_all(greeting.as_bytes()).await.is_err() {
                    return;
                }
                while let Ok(Some(line)) = lines.next_line().await {
                    let (reply, bye) = match kind {
                        Kind::Imap => {
                            let (tag, cmd) = line.split_once(' ').unwrap_or((&line, ""));
                            let cmd = cmd.to_ascii_uppercase();
                            if cmd.starts_with("CAPABILITY") {
                                (
                                    format!(
                                        "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n"
                                    ),
                                    false,
                                )
                            } else if cmd.starts_with("LOGOUT") {
                                (format!("* BYE lab\r\n{tag} OK bye\r\n"), true)
                            } else {
                                (format!("{tag} BAD not here\r\n"), false)
                            }
                        }
                        Kind::Smtp => {
                            let cmd = line.to_ascii_uppercase();
                            if cmd.starts_with("EHLO") {
                                (
                                    "250-mail.lab.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
                                        .into(),
                                    false,
                                )
                            } else if cmd.starts_with("QUIT") {
                                ("221 bye\r\n".into(), true)
                            } else {
                                ("502 not here\r\n".into(), false)
                            }
                        }
                    };
                    if w.write_all(reply.as_bytes()).await.is_err() || bye {
                        let _ = w.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    addr
}
