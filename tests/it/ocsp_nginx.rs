//! OCSP stapling by a real server: nginx (`ssl_stapling_file`) staples responses that
//! OpenSSL's own responder (`openssl ocsp`) signed — by the issuer, by a delegated responder
//! with id-kp-OCSPSigning, by a stranger — and one that says "revoked". nginx speaks HTTP, not
//! IMAP, so each probe ends in `protocol.timeout` after the handshake: what is checked is
//! what the handshake recorded. Only 127.0.0.1 is contacted.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const NAME: &str = "mail.lab.test";
const NGINX: &str = "/usr/sbin/nginx";

/// nginx, stopped when dropped.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl (scripts/install-test-deps)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A P-256 key and a certificate request for `cn` (with `ext`, an -addext, if given).
fn request(dir: &Path, name: &str, cn: &str, ext: Option<&str>) {
    let (key, csr, subj) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("/CN={cn}"),
    );
    let mut args = vec![
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &subj,
        "-keyout",
        &key,
        "-out",
        &csr,
    ];
    if let Some(e) = ext {
        args.extend(["-addext", e]);
    }
    openssl(dir, &args);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA, the server's certificate, a delegated responder and a stranger; four responses.
fn make_responses(dir: &Path) -> [&'static str; 4] {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "3",
            "-subj",
            "/CN=nginx test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    let san = format!("subjectAltName=DNS:{NAME}");
    request(dir, "leaf", NAME, Some(&san));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x4d41",
            "-days",
            "2",
            "-copy_extensions",
            "copy",
            "-out",
            "leaf.pem",
        ],
    );
    std::fs::write(
        dir.join("responder.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=OCSPSigning\n",
    )
    .unwrap();
    request(dir, "responder", "nginx test OCSP responder", None);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "responder.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "7",
            "-days",
            "2",
            "-extfile",
            "responder.ext",
            "-out",
            "responder.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "3",
            "-subj",
            "/CN=a stranger",
            "-keyout",
            "stranger.key",
            "-out",
            "stranger.pem",
        ],
    );
    std::fs::write(
        dir.join("good.txt"),
        format!("V\t301231000000Z\t\t4D41\tunknown\t/CN={NAME}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("revoked.txt"),
        format!("R\t301231000000Z\t261201000000Z\t4D41\tunknown\t/CN={NAME}\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "ocsp",
            "-issuer",
            "ca.pem",
            "-cert",
            "leaf.pem",
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    let respond = |index: &str, signer: &str, out: &str| {
        let (cert, key) = (format!("{signer}.pem"), format!("{signer}.key"));
        openssl(
            dir,
            &[
                "ocsp", "-index", index, "-CA", "ca.pem", "-rsigner", &cert, "-rkey", &key,
                "-reqin", "req.der", "-respout", out, "-ndays", "1",
            ],
        );
    };
    respond("good.txt", "ca", "by-ca.der");
    respond("good.txt", "responder", "by-responder.der");
    respond("good.txt", "stranger", "by-stranger.der");
    respond("revoked.txt", "ca", "revoked.der");
    [
        "by-ca.der",
        "by-responder.der",
        "by-stranger.der",
        "revoked.der",
    ]
}

/// nginx with one TLS server per stapled file, on 127.0.0.1; the ports in the same order.
fn start_nginx(dir: &Path, files: &[&str]) -> (Nginx, Vec<u16>) {
    let d = dir.display();
    let ports: Vec<u16> = files.iter().map(|_| free_port()).collect();
    let servers: String = files
        .iter()
        .zip(&ports)
        .map(|(f, p)| {
            format!(
                "server {{ listen 127.0.0.1:{p} ssl; ssl_certificate {d}/leaf.pem; \
                 ssl_certificate_key {d}/leaf.key; ssl_stapling on; \
                 ssl_stapling_file {d}/{f}; }}\n"
            )
        })
        .collect();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\nhttp {{\naccess_log off;\nclient_body_temp_path {d};\nproxy_temp_path {d};\n\
         fastcgi_temp_path {d};\nuwsgi_temp_path {d};\nscgi_temp_path {d};\n{servers}}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx (scripts/install-test-deps)");
    let nginx = Nginx(child);
    let until = Instant::now() + Duration::from_secs(10);
    for p in &ports {
        while TcpStream::connect(("127.0.0.1", *p)).is_err() {
            assert!(
                Instant::now() < until,
                "nginx is not listening on {p}: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    (nginx, ports)
}

fn probe(ca: &Path, port: u16) -> Value {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("mailcheck"))
        .env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_OAUTH2_TOKEN")
        .args(["probe", "alice@lab.test", "--server", NAME, "--no-prompt"])
        .args([
            "--only",
            "imap/993",
            "--timeout",
            "2s",
            "--connect-timeout",
            "2s",
        ])
        .args(["--format", "json", "--ca-file", ca.to_str().unwrap()])
        .args(["--connect-to", &format!(":993:127.0.0.1:{port}")])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    crate::support::schema::assert_schema("probe", &doc);
    doc["results"][0].clone()
}

#[test]
fn nginx_staples_responses_that_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_responses(dir.path());
    let (_nginx, ports) = start_nginx(dir.path(), &files);
    let ca = dir.path().join("ca.pem");
    let expect = [
        ("good", "valid", "protocol.timeout"),
        ("good", "valid", "protocol.timeout"),
        ("good", "invalid", "protocol.timeout"),
        ("revoked", "valid", "tls.cert-revoked"),
    ];
    for ((file, port), (status, signature, reason)) in files.iter().zip(&ports).zip(expect) {
        let r = probe(&ca, *port);
        let ocsp = &r["tls"]["ocsp"];
        assert_eq!(ocsp["stapled"], true, "{file}: {r:#}");
        assert_eq!(ocsp["status"], status, "{file}: {r:#}");
        assert_eq!(ocsp["signature"], signature, "{file}: {r:#}");
        assert_eq!(ocsp["window"], "current", "{file}: {r:#}");
        assert_eq!(r["reason"]["code"], reason, "{file}: {r:#}");
        let invalid = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "tls.ocsp-signature-invalid");
        assert_eq!(invalid, signature == "invalid", "{file}: {r:#}");
    }
}
