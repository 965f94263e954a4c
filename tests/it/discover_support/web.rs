//! A minimal HTTP/1.1 server for discovery tests: one TLS listener (certificate from the test
//! CA) and one plain listener, both on 127.0.0.1, answering from a route table keyed by
//! method, Host and path. Each request is logged; a route may hang instead of answering.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone)]
pub enum Reply {
    /// Status, extra headers, body.
    Answer(u16, Vec<(String, String)>, Vec<u8>),
    /// Read the request, then say nothing for a long time.
    Hang,
}

impl Reply {
    pub fn xml(body: &str) -> Reply {
        Reply::Answer(
            200,
            vec![("Content-Type".into(), "text/xml".into())],
            body.as_bytes().to_vec(),
        )
    }
    pub fn redirect(location: &str) -> Reply {
        Reply::Answer(302, vec![("Location".into(), location.into())], vec![])
    }
}

/// Route key: `"GET https autoconfig.lab.test /mail/config-v1.1.xml"` (no query string).
pub type Routes = HashMap<String, Reply>;

pub fn route(method: &str, scheme: &str, host: &str, path: &str) -> String {
    format!("{method} {scheme} {host} {path}")
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub scheme: &'static str,
    pub host: String,
    pub target: String,
    pub body: String,
}

pub struct WebServer {
    pub https: SocketAddr,
    pub http: SocketAddr,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl WebServer {
    pub async fn start(routes: Routes, tls: Arc<rustls::ServerConfig>) -> WebServer {
        let routes = Arc::new(routes);
        let log = Arc::new(Mutex::new(Vec::new()));
        let tl = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pl = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (https, http) = (tl.local_addr().unwrap(), pl.local_addr().unwrap());
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        {
            let (routes, log) = (routes.clone(), log.clone());
            tokio::spawn(async move {
                while let Ok((tcp, _)) = tl.accept().await {
                    let (routes, log, acceptor) = (routes.clone(), log.clone(), acceptor.clone());
                    tokio::spawn(async move {
                        if let Ok(s) = acceptor.accept(tcp).await {
                            serve(s, "https", &routes, &log).await;
                        }
                    });
                }
            });
        }
        {
            let (routes, log) = (routes.clone(), log.clone());
            tokio::spawn(async move {
                while let Ok((tcp, _)) = pl.accept().await {
                    let (routes, log) = (routes.clone(), log.clone());
                    tokio::spawn(async move { serve(tcp, "http", &routes, &log).await });
                }
            });
        }
        WebServer { https, http, log }
    }

    pub fn log(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    scheme: &'static str,
    routes: &Routes,
    log: &Mutex<Vec<Seen>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 65536 {
            return;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let mut host = String::new();
    let mut len = 0usize;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "host" => host = v.trim().to_string(),
                "content-length" => len = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + len {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let host_only = host
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(&host)
        .to_string();
    let path = target.split('?').next().unwrap_or("").to_string();
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        scheme,
        host: host_only.clone(),
        target: target.clone(),
        body,
    });
    let reply = routes
        .get(&route(&method, scheme, &host_only, &path))
        .cloned()
        .unwrap_or(Reply::Answer(404, vec![], b"not found".to_vec()));
    match reply {
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Reply::Answer(status, headers, body) => {
            let mut out = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&body);
            let _ = s.write_all(&bytes).await;
            let _ = s.flush().await;
            let _ = s.shutdown().await;
        }
    }
}
