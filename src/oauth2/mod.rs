//! OAuth2 sign-in built in (RFC 6749, public client): the run obtains its access token itself,
//! once, before any connection, and hands it to XOAUTH2 / OAUTHBEARER like a token from
//! `--oauth2-token-command`.
//!
//! Flow here: the device authorization grant (RFC 8628): the user opens a URL on any device
//! (their phone) and enters a code while mailcheck polls the token endpoint. The issuer's
//! endpoints come from its metadata (RFC 8414, else OpenID Connect discovery).
//!
//! The protocol work (device request, polling at the server's interval, `slow_down`,
//! `authorization_pending`, `access_denied`, `expired_token`) is the `oauth2` crate's; its
//! HTTP goes through the project's own client (TLS with `--ca-file`, our resolver and
//! `--connect-to`), so a sign-in never resolves a name through the system.
//!
//! Where the issuer, client id and scopes come from when no flag names them (the provider
//! table, the discovered `<oAuth2>` / PACC issuer, dynamic client registration): [`sources`],
//! [`register`].
//!
//! Secrets: the access token becomes an [`account::Secret`] at once; so does the refresh token,
//! which a run drops unused and only `oauth2 sign-in` hands on (to the descriptor or command the
//! user names). Neither is logged, printed, put in JSON or written anywhere else.

use std::time::{Duration, Instant};

use ::oauth2::basic::BasicClient;
use ::oauth2::{
    AuthType, ClientId, DeviceAuthorizationUrl, DeviceCodeErrorResponseType, RequestTokenError,
    Scope, StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::account::Secret;
use crate::discover::DiscoveryConfig;
use crate::i18n::{self, Lang};
use crate::outcome::Reason;
use crate::outcome::ReasonInfo;
use crate::params;
use crate::settings::{Given, Origin};

mod browser;
pub mod grant;
pub mod register;
pub mod sources;

/// How long the user has to sign in, unless `--oauth2-timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Deadline of one HTTP request to the issuer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a sign-in needs, each value with where it came from; decided in the settings, used
/// once per run by the engine. What no setting names is found after discovery
/// ([`sources::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Settings {
    /// The authorization server's issuer identifier (an https URL).
    pub issuer: Option<Given<String>>,
    /// The public client's id (no secret).
    pub client_id: Option<Given<String>>,
    /// The scopes asked for; empty: the provider's, else the server's default.
    pub scopes: Given<Vec<String>>,
    /// The Microsoft tenant (`--oauth2-tenant`); else the provider table's.
    pub tenant: Option<Given<String>>,
    /// How long the user has to sign in.
    pub timeout: Duration,
    /// The flow asked for; `None`: device when the issuer offers it, else browser.
    pub flow: Option<Flow>,
    /// Open the browser flow's URL with `$BROWSER` or the desktop's opener (else only print it).
    pub open_browser: bool,
    /// When nothing names an issuer, ask a mail server (RFC 7628's `openid-configuration`,
    /// `--oauth2-issuer-from-server`): opt-in, it costs one refused login there.
    pub ask_server: bool,
    /// The environment variable holding a named client's secret (`--oauth2-client-secret-env`).
    pub client_secret_env: Option<String>,
}

/// Which flow got the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// The device authorization grant, RFC 8628.
    Device,
    /// The authorization code grant with PKCE and a loopback redirect (RFC 7636, RFC 8252).
    Browser,
    /// A checks file's refresh token exchanged for an access token (RFC 6749 §6).
    RefreshToken,
    /// A confidential client's own credentials, no user (RFC 6749 §4.4).
    ClientCredentials,
}

impl Flow {
    /// The report's credential source for a token this flow got.
    pub fn source(self) -> crate::account::SecretSource {
        use crate::account::SecretSource;
        match self {
            Flow::Device => SecretSource::OAuth2Device,
            Flow::Browser => SecretSource::OAuth2Browser,
            Flow::RefreshToken => SecretSource::OAuth2Refresh,
            Flow::ClientCredentials => SecretSource::OAuth2ClientCredentials,
        }
    }
}

/// Where a setting of the sign-in came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum SettingSource {
    /// A flag (`--oauth2-issuer`).
    Flag(String),
    /// A position in a checks file (`checks.toml:3:11`).
    File(String),
    /// The built-in provider table: the provider's id (`microsoft-365`).
    ProviderTable(String),
    /// A discovered autoconfig document's `<oAuth2>` (autoconfig or ISPDB): its URL.
    Autoconfig(String),
    /// A discovered PACC document's `oauth-public` issuer: its URL.
    Pacc(String),
    /// Registered for this run at the issuer (RFC 7591): the registration endpoint.
    Registration(String),
    /// A mail server's OAUTHBEARER error response (RFC 7628 §3.2.2, `openid-configuration`):
    /// the server and port that named it.
    Server(String),
    /// A default: nothing named it.
    Default,
}

impl From<&Origin> for SettingSource {
    fn from(o: &Origin) -> SettingSource {
        match o {
            Origin::Flag(name) | Origin::Query(name) => SettingSource::Flag(name.to_string()),
            Origin::File { .. } => SettingSource::File(o.to_string()),
            Origin::Builtin => SettingSource::Default,
        }
    }
}

/// Where each setting of the sign-in came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sources {
    pub issuer: SettingSource,
    pub client_id: SettingSource,
    pub scope: SettingSource,
    /// How the endpoints were found: `rfc8414` or `openid-configuration`.
    pub endpoints: MetadataKind,
}

/// The sign-in as reported (`credential.oauth2`): never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuth2Info {
    pub issuer: String,
    pub client_id: String,
    pub flow: Flow,
    pub sources: Sources,
    /// The scopes asked for.
    pub scopes_requested: Vec<String>,
    /// The scopes the server granted (the token response's `scope`, else those asked for).
    pub scopes_granted: Vec<String>,
    /// The access token's lifetime in seconds, when the server said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_s: Option<u64>,
    /// How long the user took to sign in.
    pub elapsed_ms: u64,
}

/// A signed-in run's token and what the report says of the sign-in.
pub struct SignedIn {
    pub token: Secret,
    /// The refresh token, when the server issued one (`offline_access`).
    pub refresh: Option<Secret>,
    pub info: OAuth2Info,
}

/// Why a sign-in gave no token. The text is for the user; never carries a token.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("no source names an OAuth2 issuer (no flag, provider table entry, autoconfig <oAuth2> or PACC document{}): give --oauth2-issuer URL{}", if *.asked { ", nor the mail server" } else { "" }, if *.asked { "" } else { ", or --oauth2-issuer-from-server to ask the mail server" })]
    NoIssuer { asked: bool },
    #[error("the OAuth2 client secret: ${name} is not set or empty (--oauth2-client-secret-env)")]
    NoClientSecret { name: String },
    #[error("nothing names an OAuth2 client id for {issuer}, and it offers no dynamic client registration: give --oauth2-client-id ID (an app registered there as a public client)")]
    NoClient { issuer: String },
    #[error(
        "OAuth2 issuer {issuer} did not register a client ({detail}): give --oauth2-client-id ID"
    )]
    Registration { issuer: String, detail: String },
    #[error("OAuth2 issuer {issuer}: no usable metadata ({detail})")]
    Metadata { issuer: String, detail: String },
    #[error("OAuth2 issuer {issuer} has no device authorization endpoint: the device flow is not offered")]
    NoDeviceFlow { issuer: String },
    #[error("the OAuth2 redirect carried another state than the one sent: not this sign-in's answer, refused")]
    StateMismatch,
    #[error("the OAuth2 sign-in was declined (access_denied){}", described(.0))]
    Declined(Option<String>),
    #[error("the OAuth2 device code expired before the sign-in was done (expired_token){}", described(.0))]
    Expired(Option<String>),
    #[error("no OAuth2 sign-in within {} s (--oauth2-timeout)", .0.as_secs())]
    TimedOut(Duration),
    #[error("the OAuth2 server refused the client or the request: {error}{}", described(.description))]
    Refused {
        error: String,
        description: Option<String>,
    },
    #[error("OAuth2 server: {0}")]
    Transport(String),
}

impl SignInError {
    /// The reason code of this failure (`oauth2.*`).
    pub fn reason(&self) -> Reason {
        match self {
            SignInError::Metadata { .. }
            | SignInError::NoDeviceFlow { .. }
            | SignInError::NoIssuer { .. } => Reason::Oauth2IssuerUnusable,
            SignInError::NoClient { .. }
            | SignInError::NoClientSecret { .. }
            | SignInError::Registration { .. } => Reason::Oauth2ClientRefused,
            SignInError::Declined(_) => Reason::Oauth2Declined,
            SignInError::Expired(_) | SignInError::TimedOut(_) => Reason::Oauth2TimedOut,
            SignInError::Refused { error, .. }
                if error == "invalid_client" || error == "unauthorized_client" =>
            {
                Reason::Oauth2ClientRefused
            }
            SignInError::Refused { error, .. } if error == "invalid_scope" => {
                Reason::Oauth2ScopeRefused
            }
            SignInError::Refused { error, .. } if error == "invalid_grant" => {
                Reason::Oauth2GrantRefused
            }
            SignInError::Refused { .. }
            | SignInError::StateMismatch
            | SignInError::Transport(_) => Reason::Oauth2Failed,
        }
    }

    /// The failure for a report, in `lang`: the reason's cause with this error as its detail,
    /// and the hint.
    pub fn reason_info(&self, lang: Lang) -> ReasonInfo {
        let code = self.reason();
        let p = params![("detail", self.to_string())];
        ReasonInfo {
            code,
            cause: code.cause_in(lang, &p),
            hint: code.hint_in(lang, &p),
        }
    }

    /// The failure for the user, in `lang`: the cause, its code, and the hint.
    pub fn explain(&self, lang: Lang) -> String {
        let r = self.reason_info(lang);
        format!("{} ({})\n{}", r.cause, r.code.code(), r.hint)
    }
}

fn described(d: &Option<String>) -> String {
    d.as_deref()
        .filter(|d| !d.is_empty())
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

/// Which document named the endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetadataKind {
    /// `/.well-known/oauth-authorization-server` (RFC 8414).
    Rfc8414,
    /// `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0).
    OpenidConfiguration,
    /// The built-in provider table names them (Microsoft's metadata names a templated issuer).
    ProviderTable,
    /// A discovered `<oAuth2>` names them (`authURL`, `tokenURL`) without an issuer.
    Autoconfig,
}

/// The fields of the issuer's metadata this module uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// RFC 7591 dynamic client registration, used when nothing names a client id.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// How clients may authenticate at the token endpoint; absent: `client_secret_basic`.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// The project's HTTP client as the `oauth2` crate's: requests go out as they are built there.
pub(crate) struct Http(reqwest::Client);

impl Http {
    async fn send(
        &self,
        req: ::oauth2::HttpRequest,
    ) -> Result<::oauth2::HttpResponse, HttpFailure> {
        let (parts, body) = req.into_parts();
        // The endpoint is named in a failure: which of the issuer's URLs could not be reached.
        let url = parts.uri.to_string();
        let failed = |e| {
            HttpFailure(format!(
                "{url}: {}",
                crate::discover::http::describe_error(e)
            ))
        };
        let resp = self
            .0
            .request(parts.method, url.clone())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(failed)?;
        let mut out = ::oauth2::http::Response::builder().status(resp.status());
        for (name, value) in resp.headers() {
            out = out.header(name, value);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| HttpFailure(crate::discover::http::describe_error(e)))?;
        out.body(body.to_vec())
            .map_err(|e| HttpFailure(e.to_string()))
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, String> {
        let resp = self
            .0
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(crate::discover::http::describe_error)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("{url}: HTTP {}", status.as_u16()));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(crate::discover::http::describe_error)?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{url}: {e}"))
    }
}

/// A boxed `Send` future, so that a sign-in can run on any runtime thread.
impl<'c> ::oauth2::AsyncHttpClient<'c> for Http {
    type Error = HttpFailure;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<::oauth2::HttpResponse, HttpFailure>>
                + Send
                + 'c,
        >,
    >;
    fn call(&'c self, request: ::oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpFailure(String);

/// The issuer's metadata: RFC 8414's well-known URL first, then OpenID Connect's; the document
/// must name the same issuer (RFC 8414 §3.3), or it speaks for another server.
async fn metadata(http: &Http, issuer: &str) -> Result<(Metadata, MetadataKind), SignInError> {
    let bad = |detail: String| SignInError::Metadata {
        issuer: issuer.to_string(),
        detail,
    };
    let url = reqwest::Url::parse(issuer).map_err(|e| bad(format!("not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(bad("the issuer must be an https URL".into()));
    }
    // RFC 8414 §3.1 puts the well-known part before the issuer's path; OpenID Connect after it.
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    let candidates = [
        (
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            MetadataKind::Rfc8414,
        ),
        (
            format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ),
            MetadataKind::OpenidConfiguration,
        ),
    ];
    let mut errors = Vec::new();
    for (url, kind) in candidates {
        match http.get_json::<Metadata>(&url).await {
            Ok(m) if m.issuer.trim_end_matches('/') == issuer.trim_end_matches('/') => {
                return Ok((m, kind))
            }
            Ok(m) => errors.push(format!("{url} names another issuer, {}", m.issuer)),
            Err(e) => errors.push(e),
        }
    }
    Err(bad(errors.join("; ")))
}

/// The HTTP client of a sign-in: the discovery client's TLS trust, resolver and
/// `--connect-to`, no redirects.
pub fn http_client(cfg: &DiscoveryConfig) -> anyhow::Result<reqwest::Client> {
    crate::discover::http::client(cfg, 443, REQUEST_TIMEOUT)
}

/// Signs in with what `r` resolved: the endpoints (named, else the issuer's metadata), the
/// client (named, else registered), then the flow: the device flow's prompt on stderr in
/// `lang` and polling until the user is done, declines, or time runs out; or the browser's.
pub async fn sign_in(
    s: &OAuth2Settings,
    r: &sources::Resolved,
    client: reqwest::Client,
    lang: Lang,
) -> Result<SignedIn, SignInError> {
    let http = Http(client);
    let started = Instant::now();
    let issuer = r.issuer.value.trim_end_matches('/').to_string();
    let (meta, kind) = match &r.endpoints {
        Some(named) => (named.as_metadata(&issuer), named.kind),
        None => metadata(&http, &issuer).await?,
    };
    let client_id = match (&r.client_id, &meta.registration_endpoint) {
        (Some(named), _) => named.clone(),
        (None, Some(endpoint)) => register::register(&http, endpoint, &issuer).await?,
        (None, None) => return Err(SignInError::NoClient { issuer }),
    };
    let flow = r
        .flow
        .unwrap_or(if meta.device_authorization_endpoint.is_some() {
            Flow::Device
        } else {
            Flow::Browser
        });
    let endpoint = |what: &str, e: ::oauth2::url::ParseError| SignInError::Metadata {
        issuer: issuer.clone(),
        detail: format!("{what}: {e}"),
    };
    let token_url =
        TokenUrl::new(meta.token_endpoint.clone()).map_err(|e| endpoint("token_endpoint", e))?;
    // A public client identifies itself in the request body (RFC 6749 §2.3.1 is for secrets).
    let mut client = BasicClient::new(ClientId::new(client_id.value.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(token_url);
    // A named client registered with a secret (Google's desktop clients) sends it in the body
    // of its token requests (client_secret_post); a registered one has none.
    if let (Some(name), Some(_)) = (&s.client_secret_env, &r.client_id) {
        let secret = crate::account::env_secret(name)
            .ok()
            .flatten()
            .ok_or_else(|| SignInError::NoClientSecret { name: name.clone() })?;
        client = client.set_client_secret(::oauth2::ClientSecret::new(secret.expose().to_string()));
    }
    let token = match flow {
        Flow::Device => {
            let device_url = meta.device_authorization_endpoint.clone().ok_or_else(|| {
                SignInError::NoDeviceFlow {
                    issuer: issuer.clone(),
                }
            })?;
            let client = client.set_device_authorization_url(
                DeviceAuthorizationUrl::new(device_url)
                    .map_err(|e| endpoint("device_authorization_endpoint", e))?,
            );
            let details: StandardDeviceAuthorizationResponse = client
                .exchange_device_code()
                .add_scopes(r.scopes.value.iter().cloned().map(Scope::new))
                .request_async(&http)
                .await
                .map_err(|e| request_error(e, None))?;
            prompt(&details, lang);
            client
                .exchange_device_access_token(&details)
                .request_async(&http, tokio::time::sleep, Some(s.timeout))
                .await
                .map_err(|e| request_error(e, Some((started, s.timeout))))?
        }
        Flow::Browser => {
            let auth_url =
                meta.authorization_endpoint
                    .clone()
                    .ok_or_else(|| SignInError::Metadata {
                        issuer: issuer.clone(),
                        detail: "no authorization_endpoint".into(),
                    })?;
            let auth_url = ::oauth2::AuthUrl::new(auth_url)
                .map_err(|e| endpoint("authorization_endpoint", e))?;
            browser::sign_in(
                client.set_auth_uri(auth_url),
                s,
                &r.scopes.value,
                &http,
                lang,
            )
            .await?
        }
        Flow::RefreshToken | Flow::ClientCredentials => {
            return Err(SignInError::Transport(
                "a grant without a user is not a sign-in flow".into(),
            ))
        }
    };
    let scopes_granted = match token.scopes() {
        Some(granted) => granted.iter().map(|s| s.to_string()).collect(),
        None => r.scopes.value.clone(),
    };
    let info = OAuth2Info {
        issuer: meta.issuer.clone(),
        client_id: client_id.value,
        flow,
        sources: Sources {
            issuer: r.issuer.source.clone(),
            client_id: client_id.source,
            scope: r.scopes.source.clone(),
            endpoints: kind,
        },
        scopes_requested: r.scopes.value.clone(),
        scopes_granted,
        lifetime_s: token.expires_in().map(|d| d.as_secs()),
        elapsed_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
    };
    let refresh = token
        .refresh_token()
        .and_then(|r| Secret::new(r.secret().clone()));
    let token = Secret::new(token.access_token().secret().clone()).ok_or_else(|| {
        SignInError::Transport("the token response has an empty access_token".into())
    })?;
    Ok(SignedIn {
        token,
        refresh,
        info,
    })
}

/// The device flow's instructions, on stderr (stdout stays the report's).
fn prompt(details: &StandardDeviceAuthorizationResponse, lang: Lang) {
    let uri = details.verification_uri().to_string();
    let code = details.user_code().secret().clone();
    let mut text = i18n::text(
        lang,
        "oauth2-device-prompt",
        &params![("uri", uri), ("code", code)],
    );
    if let Some(complete) = details.verification_uri_complete() {
        text.push('\n');
        text.push_str(&i18n::text(
            lang,
            "oauth2-device-prompt-complete",
            &params![("uri", complete.secret().as_str())],
        ));
    }
    let _ = crate::app::eprint_line(format_args!("{text}"));
}

/// The crate's error as ours. `deadline`: when polling, the start and `--oauth2-timeout`, to tell
/// our own time limit (the crate reports it as `expired_token` too) from the server's.
pub(crate) fn request_error<RE, T>(
    e: RequestTokenError<RE, T>,
    deadline: Option<(Instant, Duration)>,
) -> SignInError
where
    RE: std::error::Error + 'static,
    T: ::oauth2::ErrorResponse + DeviceError + 'static,
{
    match e {
        RequestTokenError::ServerResponse(r) => {
            let (error, description) = r.parts();
            match error.as_str() {
                "access_denied" => SignInError::Declined(description),
                "expired_token" => match deadline {
                    Some((started, limit)) if started.elapsed() >= limit => {
                        SignInError::TimedOut(limit)
                    }
                    _ => SignInError::Expired(description),
                },
                _ => SignInError::Refused { error, description },
            }
        }
        RequestTokenError::Request(e) => SignInError::Transport(e.to_string()),
        RequestTokenError::Parse(e, _) => SignInError::Transport(format!("unreadable answer: {e}")),
        RequestTokenError::Other(e) => SignInError::Transport(e),
    }
}

/// An error response's code and description, for both of the crate's error types.
pub(crate) trait DeviceError {
    fn parts(&self) -> (String, Option<String>);
}

impl DeviceError for ::oauth2::DeviceCodeErrorResponse {
    fn parts(&self) -> (String, Option<String>) {
        let code = match self.error() {
            DeviceCodeErrorResponseType::AccessDenied => "access_denied".to_string(),
            DeviceCodeErrorResponseType::ExpiredToken => "expired_token".to_string(),
            other => other.to_string(),
        };
        (code, self.error_description().cloned())
    }
}

impl DeviceError for ::oauth2::basic::BasicErrorResponse {
    fn parts(&self) -> (String, Option<String>) {
        (self.error().to_string(), self.error_description().cloned())
    }
}
