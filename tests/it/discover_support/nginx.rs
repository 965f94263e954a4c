//! A private nginx (Debian's, installed by scripts/install-test-deps) serving files over https
//! on 127.0.0.1 at a random port, with a certificate from the test CA. Files live under
//! `www/<host>/<path>`, so one server answers for several host names (`root .../$host`).
//! Started in the foreground with its own configuration, prefix and logs in a temp dir; it
//! stops when the value is dropped, or, if the test process dies, when its stdin pipe closes.

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Ca;

const NGINX_BIN: &str = "/usr/sbin/nginx";

pub struct Nginx {
    pub https: SocketAddr,
    dir: tempfile::TempDir,
    child: Child,
}

impl Nginx {
    /// Serve `files` (`(host, path, body)`) over https for `names` (the certificate's names).
    pub fn start(ca: &Ca, names: &[&str], files: &[(&str, &str, &[u8])]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let leaf = ca.leaf(names);
        std::fs::write(d.join("cert.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(d.join("key.pem"), &leaf.key_pem).unwrap();
        for (host, path, body) in files {
            let f = d.join("www").join(host).join(path.trim_start_matches('/'));
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, body).unwrap();
        }
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        // A free port: nginx binds it right after this listener is dropped.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let https = SocketAddr::from(([127, 0, 0, 1], port));
        let p = |f: &str| d.join(f).display().to_string();
        // One process (no master): it runs as the test's user and reads the temp dir.
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {pid};\n\
             error_log {err} info;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log {acc};\n  client_body_temp_path {tmp};\n  \
             proxy_temp_path {tmp};\n  fastcgi_temp_path {tmp};\n  uwsgi_temp_path {tmp};\n  \
             scgi_temp_path {tmp};\n  default_type application/json;\n  \
             server {{\n    listen {https} ssl;\n    server_name _;\n    \
             ssl_certificate {cert};\n    ssl_certificate_key {key};\n    \
             root {www}/$host;\n    location / {{ try_files $uri =404; }}\n  }}\n}}\n",
            pid = p("nginx.pid"),
            err = p("error.log"),
            acc = p("access.log"),
            tmp = p("tmp"),
            cert = p("cert.pem"),
            key = p("key.pem"),
            www = p("www"),
        );
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        let child = Command::new("sh")
            .args([
                "-c",
                "\"$0\" \"$@\" </dev/null & p=$!; cat >/dev/null; kill \"$p\"; wait",
                NGINX_BIN,
            ])
            .args(["-p", &p(""), "-c", &p("nginx.conf"), "-e", &p("error.log")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{NGINX_BIN}: {e} (run scripts/install-test-deps)"));
        let mut n = Nginx { https, dir, child };
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&https, Duration::from_millis(200)).is_err() {
            if Instant::now() > until || n.child.try_wait().unwrap().is_some() {
                panic!("nginx did not start; its log:\n{}", n.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }

    /// The error log (startup failures, and each request at `info`).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.path("error.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The access log: one line per request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.path("access.log")).unwrap_or_default()
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    /// `--connect-to` sending every https (443) connection here.
    pub fn connect_to(&self) -> String {
        format!(":443:127.0.0.1:{}", self.https.port())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Closing stdin makes the shell kill nginx and wait for it.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
