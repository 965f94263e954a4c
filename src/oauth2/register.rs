//! Dynamic client registration (RFC 7591), when nothing names a client id and the issuer's
//! metadata has a `registration_endpoint`: a public native client, as
//! draft-ietf-mailmaint-oauth-public describes (no secret, `token_endpoint_auth_method`
//! `none`, the loopback redirect of the browser flow and the device grant). Used for this run
//! only; nothing is kept.

use serde::{Deserialize, Serialize};

use super::sources::Sourced;
use super::{Http, SettingSource, SignInError};

/// The registration request's fields (RFC 7591 §2; `application_type`: OpenID Connect
/// Dynamic Client Registration 1.0, which lets a native client use a loopback redirect).
#[derive(Debug, Serialize)]
struct ClientMetadata {
    client_name: &'static str,
    application_type: &'static str,
    token_endpoint_auth_method: &'static str,
    redirect_uris: [&'static str; 1],
    grant_types: [&'static str; 2],
    response_types: [&'static str; 1],
}

const METADATA: ClientMetadata = ClientMetadata {
    client_name: "mailcheck",
    application_type: "native",
    token_endpoint_auth_method: "none",
    // RFC 8252 §7.3: the port is chosen per sign-in; the server must accept any.
    redirect_uris: ["http://127.0.0.1/"],
    grant_types: [
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:device_code",
    ],
    response_types: ["code"],
};

/// The fields of the answer used (RFC 7591 §3.2.1); an error answer has `error` (§3.2.2).
#[derive(Debug, Deserialize)]
struct Answer {
    client_id: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Registers mailcheck at `endpoint`; the client id, sourced to the endpoint.
pub(super) async fn register(
    http: &Http,
    endpoint: &str,
    issuer: &str,
) -> Result<Sourced<String>, SignInError> {
    let failed = |detail: String| SignInError::Registration {
        issuer: issuer.to_string(),
        detail,
    };
    let body = serde_json::to_vec(&METADATA).map_err(|e| failed(e.to_string()))?;
    let resp = http
        .0
        .post(endpoint)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| failed(crate::discover::http::describe_error(e)))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| failed(crate::discover::http::describe_error(e)))?;
    let answer: Option<Answer> = serde_json::from_slice(&bytes).ok();
    match answer {
        Some(Answer {
            client_id: Some(id),
            ..
        }) if status.is_success() && !id.is_empty() => Ok(Sourced {
            value: id,
            source: SettingSource::Registration(endpoint.to_string()),
        }),
        Some(Answer {
            error: Some(error),
            error_description,
            ..
        }) => Err(failed(match error_description {
            Some(d) if !d.is_empty() => format!("{error}: {d}"),
            _ => error,
        })),
        _ => Err(failed(format!(
            "{endpoint}: HTTP {} without a client_id",
            status.as_u16()
        ))),
    }
}
