//! A real OAuth 2.0 authorization server for the tests, and a user who signs in at it.
//!
//! ```ignore
//! let lab = OAuth2Lab::get();            // provider + mail servers that take its tokens
//! let grant = lab.device_authorization("mailcheck", "openid mail");
//! lab.user_agent().sign_in(&grant.verification_uri_complete, "alice@lab.test", Decision::Approve);
//! let token = lab.poll_device_token("mailcheck", &grant.device_code);
//! ```
//!
//! What runs: `oidc-provider` from npm (tests/oauth2-provider/, installed by
//! `scripts/install-test-deps` with `npm ci`), started with node on
//! `https://127.0.0.2:PORT` (the port [`MailServers::get_with_oauth2`] kept for it, and that
//! instance's server certificate, so the test CA covers both). Its development login pages take
//! any login name, which becomes the token's `sub`: the mail address Dovecot's `oauth2` passdb
//! then accepts the token for. Clients: `mailcheck` (public, device flow and code + PKCE,
//! refresh tokens rotated at each use), `mailcheck-brief` (the same, access tokens of 4 s),
//! `mailcheck-short` (device codes that expire after 2 s), `mailcheck-app` (confidential, client
//! credentials: its tokens are for [`OAuth2Lab::app_mailbox`]) and `dovecot` (introspection).
//! The provider logs each token it issues, which [`OAuth2Lab::tokens_issued`] counts.
//!
//! Lifetime: node's stdin is a pipe held by this process; when the test process exits the pipe
//! closes and the provider exits. Its output goes to `oauth2-provider.log` in the servers' run
//! dir.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::servers::{MailServers, SERVER_IP};

const NODE_BIN: &str = "node";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The RFC 8628 grant type of the device flow.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The authorization server and the mail servers that take its tokens.
#[derive(Debug)]
pub struct OAuth2Lab {
    /// Dovecot and Postfix whose logins take this server's tokens.
    pub servers: &'static MailServers,
    /// `https://127.0.0.2:PORT`: the issuer, and the base of every endpoint.
    pub issuer: String,
    /// The secret of client `mailcheck-app` (client credentials, no user).
    pub app_secret: String,
    /// The mailbox `mailcheck-app`'s tokens are good for (the provider puts it in their `sub`).
    pub app_mailbox: String,
    /// The provider's stderr: a JSON line per token issued.
    log: PathBuf,
    /// The provider's process (node), whose environment holds the app's secret by design.
    pub provider_pid: u32,
}

/// The tokens of a sign-in with `offline_access`. Neither `Debug` nor `Display`.
pub struct Tokens {
    pub access: AccessToken,
    pub refresh: String,
}

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
}

/// What the user does on the sign-in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Confirms the code, signs in and consents.
    Approve,
    /// Presses "Abort" on the code's confirmation page.
    Deny,
}

impl OAuth2Lab {
    /// Starts the provider (once per test process) in front of
    /// [`MailServers::get_with_oauth2`]. Panics with the provider's log if it cannot start.
    pub fn get() -> &'static OAuth2Lab {
        static LAB: OnceLock<Result<OAuth2Lab, String>> = OnceLock::new();
        match LAB.get_or_init(start) {
            Ok(lab) => lab,
            Err(e) => panic!("the OAuth2 provider could not be started: {e}"),
        }
    }

    /// The test CA, which signed the provider's and the mail servers' certificates.
    pub fn ca_pem(&self) -> &Path {
        &self.servers.ca_pem
    }

    /// A browser of its own (fresh cookies) for the user's side of a sign-in.
    pub fn user_agent(&self) -> UserAgent {
        UserAgent::new(self.ca_pem())
    }

    /// Starts a device flow as client `client_id` would (RFC 8628 §3.1).
    pub fn device_authorization(&self, client_id: &str, scope: &str) -> DeviceGrant {
        let (status, body) = self.user_agent().post_json(
            &format!("{}/device/auth", self.issuer),
            &[("client_id", client_id), ("scope", scope)],
        );
        assert_eq!(status, 200, "device authorization: {body}");
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {body}"))
                .to_string()
        };
        DeviceGrant {
            device_code: field("device_code"),
            user_code: field("user_code"),
            verification_uri: field("verification_uri"),
            verification_uri_complete: field("verification_uri_complete"),
        }
    }

    /// Asks the token endpoint for the device code's token once; the JSON answer and status.
    pub fn device_token_once(&self, client_id: &str, device_code: &str) -> (u16, Value) {
        self.user_agent().post_json(
            &format!("{}/token", self.issuer),
            &[
                ("grant_type", DEVICE_GRANT),
                ("client_id", client_id),
                ("device_code", device_code),
            ],
        )
    }

    /// The access token of an approved device code. Panics on any error answer.
    pub fn device_token(&self, client_id: &str, device_code: &str) -> AccessToken {
        let (status, body) = self.device_token_once(client_id, device_code);
        assert_eq!(status, 200, "token request: {}", redacted(&body));
        AccessToken(
            body["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
        )
    }

    /// The introspection answer (RFC 7662) for a token, asked as Dovecot asks it.
    pub fn introspect(&self, token: &AccessToken) -> Value {
        let secret = &self
            .servers
            .token_introspection
            .as_ref()
            .expect("OAuth2 instance")
            .client_secret;
        let (status, body) = self.user_agent().post_json_as(
            &format!("{}/token/introspection", self.issuer),
            &[("token", &token.0)],
            Some(("dovecot", secret)),
        );
        assert_eq!(status, 200, "introspection: {body}");
        body
    }

    /// The user `address` signs in through the device flow of client `mailcheck` with
    /// `offline_access`: an access token and a refresh token (which the provider rotates at each
    /// use, the old one then being refused: client `mailcheck` is public).
    pub fn sign_in_offline(&self, address: &str) -> Tokens {
        self.sign_in_offline_as("mailcheck", address)
    }

    /// [`OAuth2Lab::sign_in_offline`] as another public client (`mailcheck-brief`: access
    /// tokens of 4 s).
    pub fn sign_in_offline_as(&self, client: &str, address: &str) -> Tokens {
        let grant = self.device_authorization(client, "openid offline_access mail");
        self.user_agent()
            .sign_in(&grant.verification_uri_complete, address, Decision::Approve);
        let (status, body) = self.device_token_once(client, &grant.device_code);
        assert_eq!(status, 200, "token request: {}", redacted(&body));
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {}", redacted(&body)))
                .to_string()
        };
        Tokens {
            access: AccessToken(field("access_token")),
            refresh: field("refresh_token"),
        }
    }

    /// Revokes a refresh token of client `mailcheck` (RFC 7009), as a user or admin would.
    pub fn revoke_refresh_token(&self, refresh: &str) {
        self.revoke_refresh_token_of("mailcheck", refresh)
    }

    /// Revokes a refresh token of `client`.
    pub fn revoke_refresh_token_of(&self, client: &str, refresh: &str) {
        let page = self.user_agent().send(
            &format!("{}/token/revocation", self.issuer),
            Some(&[
                ("token", refresh),
                ("token_type_hint", "refresh_token"),
                ("client_id", client),
            ]),
            None,
        );
        assert_eq!(page.status, 200, "revocation: {}", page.body);
    }

    /// An access token of `mailcheck-app` (client credentials), asked for by the test itself.
    pub fn app_token(&self) -> AccessToken {
        let (status, body) = self.user_agent().post_json_as(
            &format!("{}/token", self.issuer),
            &[("grant_type", "client_credentials"), ("scope", "mail")],
            Some(("mailcheck-app", &self.app_secret)),
        );
        assert_eq!(status, 200, "token request: {}", redacted(&body));
        AccessToken(body["access_token"].as_str().expect("access_token").into())
    }

    /// How many tokens the provider issued with `grant` (`refresh_token`,
    /// `client_credentials`...) to `client`, for `account` when given.
    pub fn tokens_issued(&self, grant: &str, client: &str, account: Option<&str>) -> usize {
        self.token_requests("token_issued", grant, client, account)
    }

    /// How many token requests of `grant` by `client` the provider refused.
    pub fn tokens_refused(&self, grant: &str, client: &str) -> usize {
        self.token_requests("token_refused", grant, client, None)
    }

    fn token_requests(
        &self,
        outcome: &str,
        grant: &str,
        client: &str,
        account: Option<&str>,
    ) -> usize {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| {
                v[outcome] == grant
                    && v["client"] == client
                    && account.is_none_or(|a| v["account"] == a)
            })
            .count()
    }

    /// A token signed in by the user `address` through the device flow of client `mailcheck`:
    /// what a user of `--oauth2-token-command` brings along.
    pub fn sign_in(&self, address: &str) -> AccessToken {
        let grant = self.device_authorization("mailcheck", "openid mail");
        self.user_agent()
            .sign_in(&grant.verification_uri_complete, address, Decision::Approve);
        self.device_token("mailcheck", &grant.device_code)
    }
}

/// An access token. Not `Debug` nor `Display`: the tests must not print it.
pub struct AccessToken(pub String);

impl AccessToken {
    /// Writes the token to `path` (mode 0600), for `--oauth2-token-command "cat PATH"`.
    pub fn write_to(&self, path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, &self.0).expect("write token file");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod token file");
    }
}

/// A token answer with its tokens blanked, for assertion messages.
fn redacted(body: &Value) -> Value {
    let mut body = body.clone();
    for name in ["access_token", "refresh_token", "id_token"] {
        if body.get(name).is_some() {
            body[name] = Value::String("<redacted>".into());
        }
    }
    body
}

fn start() -> Result<OAuth2Lab, String> {
    static KEEP: Mutex<Vec<ChildStdin>> = Mutex::new(Vec::new());
    let servers = MailServers::get_with_oauth2();
    let t = servers
        .token_introspection
        .as_ref()
        .ok_or("the OAuth2 mail servers have no token introspection")?;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oauth2-provider");
    if !dir.join("node_modules/oidc-provider").is_dir() {
        return Err(format!(
            "{} has no node_modules: run scripts/install-test-deps",
            dir.display()
        ));
    }
    let log_path = servers.dir.join("oauth2-provider.log");
    let app_secret = random_hex();
    let app_mailbox = servers.user("oauth2-app-mailbox").address;
    let log = fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut child = Command::new(NODE_BIN)
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("OAUTH2_HOST", SERVER_IP.to_string())
        .env("OAUTH2_PORT", t.provider_port.to_string())
        .env("OAUTH2_CERT", servers.dir.join("tls/server.crt"))
        .env("OAUTH2_KEY", servers.dir.join("tls/server.key"))
        .env("OAUTH2_INTROSPECTION_SECRET", &t.client_secret)
        .env("OAUTH2_APP_SECRET", &app_secret)
        .env("OAUTH2_APP_MAILBOX", &app_mailbox)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{NODE_BIN}: {e} (run scripts/install-test-deps)"))?;
    let provider_pid = child.id();
    if let Some(stdin) = child.stdin.take() {
        KEEP.lock().unwrap_or_else(|e| e.into_inner()).push(stdin);
    }
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // The provider logs notes on stdout too: keep reading, or its writes fail (EPIPE).
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx.recv_timeout(STARTUP_TIMEOUT).unwrap_or_default();
    let issuer = line.trim().strip_prefix("ready ").map(str::to_string);
    match issuer {
        Some(issuer) => Ok(OAuth2Lab {
            servers,
            issuer,
            app_secret,
            app_mailbox,
            log: log_path,
            provider_pid,
        }),
        None => Err(format!(
            "no \"ready\" line within {STARTUP_TIMEOUT:?}; {}:\n{}",
            log_path.display(),
            fs::read_to_string(&log_path).unwrap_or_default()
        )),
    }
}

/// 16 random bytes in hex: a client secret of this run.
fn random_hex() -> String {
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

/// One answer, redirects not followed.
#[derive(Debug)]
pub struct Page {
    pub url: String,
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// The user's browser, as far as the provider's sign-in pages need one: cookies (by name, for
/// the one host), forms, redirects. Trusts the test CA.
pub struct UserAgent {
    client: reqwest::Client,
    runtime: Arc<tokio::runtime::Runtime>,
    cookies: BTreeMap<String, String>,
}

impl UserAgent {
    fn new(ca_pem: &Path) -> UserAgent {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca_pem).expect("CA file") {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            // A new connection per request, as simple as the pages need.
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("HTTP client");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        UserAgent {
            client,
            runtime: Arc::new(runtime),
            cookies: BTreeMap::new(),
        }
    }

    fn send(
        &mut self,
        url: &str,
        form: Option<&[(&str, &str)]>,
        basic: Option<(&str, &str)>,
    ) -> Page {
        let mut req = match form {
            Some(fields) => self
                .client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_encode(fields)),
            None => self.client.get(url),
        };
        if let Some((user, password)) = basic {
            req = req.basic_auth(user, Some(password));
        }
        if !self.cookies.is_empty() {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header("cookie", header);
        }
        let (status, location, set_cookies, body) = self.runtime.block_on(async {
            let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e:?}"));
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let set_cookies: Vec<String> = resp
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            let body = resp.text().await.unwrap_or_default();
            (status, location, set_cookies, body)
        });
        for c in set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                let expired = c.to_ascii_lowercase().contains("expires=thu, 01 jan 1970");
                if expired || value.is_empty() {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_string(), value.trim().to_string());
                }
            }
        }
        let location = location.map(|l| join_url(url, &l));
        Page {
            url: url.to_string(),
            status,
            location,
            body,
        }
    }

    /// GET, following redirects.
    pub fn get(&mut self, url: &str) -> Page {
        let page = self.send(url, None, None);
        self.follow(page)
    }

    /// POSTs a form, following redirects.
    pub fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.send(url, Some(fields), None);
        self.follow(page)
    }

    fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..20 {
            match (&page.location, page.status) {
                (Some(next), 301..=303 | 307 | 308) => {
                    let next = next.clone();
                    page = self.send(&next, None, None);
                }
                _ => return page,
            }
        }
        panic!("too many redirects, at {}", page.url);
    }

    /// POSTs a form and reads the JSON answer (a client's request to an endpoint).
    pub fn post_json(&mut self, url: &str, fields: &[(&str, &str)]) -> (u16, Value) {
        self.post_json_as(url, fields, None)
    }

    fn post_json_as(
        &mut self,
        url: &str,
        fields: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (u16, Value) {
        let page = self.send(url, Some(fields), basic);
        let body = serde_json::from_str(&page.body)
            .unwrap_or_else(|e| panic!("{url} answered {} non-JSON ({e})", page.status));
        (page.status, body)
    }

    /// Plays the user on the provider's pages from the verification URI (complete, with the
    /// code) on: confirms the code (or aborts), signs in as `login` (any password) and
    /// consents. Returns the last page, which says whether the sign-in succeeded.
    pub fn sign_in(
        &mut self,
        verification_uri_complete: &str,
        login: &str,
        decision: Decision,
    ) -> Page {
        let mut page = self.get(verification_uri_complete);
        for _ in 0..10 {
            // Done when a page has no form left, or only the one asking for a code (where the
            // provider sends the user after an abort).
            let Some(form) = Form::first_in(&page.body).filter(|f| !f.asks_for_code) else {
                return page;
            };
            let mut fields = form.hidden.clone();
            let prompt = form.value("prompt").map(str::to_string);
            match prompt.as_deref() {
                Some("login") => {
                    fields.push(("login".into(), login.into()));
                    fields.push(("password".into(), "any password".into()));
                }
                Some(_) => {}
                // The code's confirmation page (it has a `confirm` field); its "[ Abort ]"
                // button adds abort=yes.
                None if decision == Decision::Deny && form.value("confirm").is_some() => {
                    fields.push(("abort".into(), "yes".into()));
                }
                None => {}
            }
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let action = join_url(&page.url, &form.action);
            page = self.post(&action, &fields);
        }
        panic!("the sign-in pages did not end; last: {}", page.body);
    }
}

/// The first `<form>` of a page: its action and hidden fields.
struct Form {
    action: String,
    /// The page where a user types a code (`op.deviceInputForm`).
    asks_for_code: bool,
    hidden: Vec<(String, String)>,
}

impl Form {
    fn first_in(html: &str) -> Option<Form> {
        let start = html.find("<form")?;
        let end = html[start..]
            .find("</form>")
            .map_or(html.len(), |e| start + e);
        let form = &html[start..end];
        let tag_end = form.find('>')?;
        let action = attribute(&form[..tag_end], "action").unwrap_or_default();
        let mut hidden = Vec::new();
        let mut rest = form;
        while let Some(i) = rest.find("<input") {
            let tag = &rest[i..];
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            if attribute(tag, "type").as_deref() == Some("hidden") {
                if let Some(name) = attribute(tag, "name") {
                    hidden.push((name, attribute(tag, "value").unwrap_or_default()));
                }
            }
            rest = &rest[i + 6..];
        }
        let asks_for_code =
            attribute(&form[..tag_end], "id").as_deref() == Some("op.deviceInputForm");
        Some(Form {
            action,
            asks_for_code,
            hidden,
        })
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.hidden
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The value of `name="..."` in one tag, HTML entities of URLs decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(
        tag[start..start + len]
            .replace("&amp;", "&")
            .replace("&#x2F;", "/")
            .replace("&#x3D;", "="),
    )
}

/// `location` (absolute, or absolute-path) against the URL it was answered for.
fn join_url(base: &str, location: &str) -> String {
    if location.starts_with("https://") || location.starts_with("http://") {
        return location.to_string();
    }
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    format!("{}{location}", &base[..origin_end])
}

/// `application/x-www-form-urlencoded`.
fn form_encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        out
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Waits until `f` holds or `limit` passes.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}
