//! Unattended OAuth2, for checks-file accounts (`check`, `batch`, `serve`): an access token from
//! a refresh token (RFC 6749 §6) or from the client's own credentials (§4.4, Microsoft's
//! app-only access), asked for at each run and kept by the process until shortly before it
//! expires.
//!
//! The cache lives in [`crate::engine::Shared`], so it lasts as long as the process: one token
//! request per expiry for `serve` and `batch`, however many accounts and scrapes use
//! it. Runs that need the same token at once wait for one request. A refresh token the server
//! rotates (answers with a new one) is kept in memory for the process, never written anywhere:
//! the next process starts again from the configured one (see docs/credentials.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::oauth2::basic::{BasicClient, BasicTokenResponse};
use ::oauth2::{AuthType, ClientId, ClientSecret, RefreshToken, Scope, TokenResponse, TokenUrl};
use serde::Serialize;

use super::{metadata, request_error, Http, Metadata, OAuth2Info, SignInError, SignedIn, Sources};
use crate::account::{self, Secret};
use crate::settings::Given;

/// A token is used until this long before its expiry (at most half its lifetime), so that it
/// does not expire between the check and the login.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// How long the issuer's refusal of a grant (`invalid_grant`, `invalid_client`...) is remembered:
/// the same secrets are not sent again before (changed ones are another key, tried at once).
const REFUSAL_KEPT: Duration = Duration::from_secs(15 * 60);

/// Which grant gets the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grant {
    /// `grant = "refresh_token"`: a refresh token the user got once (`mailcheck oauth2 sign-in`).
    RefreshToken,
    /// `grant = "client_credentials"`: a confidential client's own secret, no user.
    ClientCredentials,
}

/// Where a secret of the grant comes from: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// An environment variable's name.
    Env(String),
    /// A shell command that prints it (run like `password_command`).
    Command(String),
}

/// A checks file's `oauth2 = { ... }`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSettings {
    pub issuer: Given<String>,
    pub client_id: Given<String>,
    /// The scopes asked for; empty: the server's default (or, for a refresh, those granted).
    pub scopes: Given<Vec<String>>,
    pub grant: Grant,
    /// Required for [`Grant::RefreshToken`].
    pub refresh_token: Option<SecretRef>,
    /// Required for [`Grant::ClientCredentials`]; a confidential client's refresh uses it too.
    pub client_secret: Option<SecretRef>,
}

impl GrantSettings {
    /// The environment variables holding this grant's secrets.
    pub fn env_names(&self) -> impl Iterator<Item = &String> {
        [&self.refresh_token, &self.client_secret]
            .into_iter()
            .filter_map(|r| match r {
                Some(SecretRef::Env(n)) => Some(n),
                _ => None,
            })
    }
}

/// The grant's secrets, read for one run.
pub struct GrantSecrets {
    refresh_token: Option<Secret>,
    client_secret: Option<Secret>,
}

/// Reads the secrets `s` names. Blocking: it may run commands, which get `MAILCHECK_ADDRESS`
/// and none of `hidden`.
pub fn read_secrets(
    s: &GrantSettings,
    address: &str,
    hidden: &[String],
) -> anyhow::Result<GrantSecrets> {
    use anyhow::Context;
    let read = |r: &Option<SecretRef>, what: &str| -> anyhow::Result<Option<Secret>> {
        match r {
            None => Ok(None),
            Some(SecretRef::Env(name)) => account::env_secret(name)?
                .with_context(|| format!("the environment variable {name} is not set or empty"))
                .map(Some),
            Some(SecretRef::Command(cmd)) => account::run_secret_command(
                cmd,
                account::CommandInput::Null,
                &[("MAILCHECK_ADDRESS", address)],
                hidden,
            )
            .with_context(|| format!("{what}_command"))?
            .with_context(|| format!("{what}_command printed nothing"))
            .map(Some),
        }
    };
    Ok(GrantSecrets {
        refresh_token: read(&s.refresh_token, "refresh_token")?,
        client_secret: read(&s.client_secret, "client_secret")?,
    })
}

/// What identifies one token: the same issuer, client, grant, scopes and secrets get the same
/// token. Secrets by digest only. No `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    issuer: String,
    client_id: String,
    grant: Grant,
    scopes: Vec<String>,
    refresh_token: Option<[u8; 32]>,
    client_secret: Option<[u8; 32]>,
}

/// A token and until when it is used.
struct Cached {
    token: Secret,
    until: Instant,
    info: OAuth2Info,
}

#[derive(Default)]
struct Slot {
    token: Option<Cached>,
    /// The newest refresh token the server gave (rotation), used instead of the configured one.
    rotated: Option<Secret>,
    /// The issuer's last refusal of these secrets, and when.
    refused: Option<(Instant, String, Option<String>)>,
}

/// Refusals that the same request would meet again: the secret or the client is refused.
fn lasting(error: &str) -> bool {
    matches!(
        error,
        "invalid_grant" | "invalid_client" | "unauthorized_client"
    )
}

/// The process's tokens, by [`CacheKey`].
#[derive(Default)]
pub struct TokenCache {
    slots: std::sync::Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<Slot>>>>,
}

impl TokenCache {
    /// A valid access token for `s`: the cached one, else a new one from the token endpoint.
    /// Concurrent calls for one key make one request: the others wait for it.
    pub async fn token(
        &self,
        s: &GrantSettings,
        secrets: GrantSecrets,
        client: reqwest::Client,
    ) -> Result<SignedIn, SignInError> {
        let key = CacheKey {
            issuer: s.issuer.value.trim_end_matches('/').to_string(),
            client_id: s.client_id.value.clone(),
            grant: s.grant,
            scopes: s.scopes.value.clone(),
            refresh_token: secrets.refresh_token.as_ref().map(Secret::digest),
            client_secret: secrets.client_secret.as_ref().map(Secret::digest),
        };
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(key).or_default().clone()
        };
        let started = Instant::now();
        let mut slot = slot.lock().await;
        if let Some(c) = slot.token.as_ref().filter(|c| Instant::now() < c.until) {
            let mut info = c.info.clone();
            info.elapsed_ms = millis(started.elapsed());
            return Ok(SignedIn {
                token: c.token.clone(),
                refresh: None,
                info,
            });
        }
        if let Some((at, error, description)) = &slot.refused {
            if at.elapsed() < REFUSAL_KEPT {
                return Err(SignInError::Refused {
                    error: error.clone(),
                    description: description.clone(),
                });
            }
        }
        let refresh = slot.rotated.clone().or(secrets.refresh_token);
        let (answer, meta, kind) =
            match request(s, refresh.as_ref(), secrets.client_secret.as_ref(), client).await {
                Err(SignInError::Refused { error, description }) if lasting(&error) => {
                    slot.refused = Some((Instant::now(), error.clone(), description.clone()));
                    return Err(SignInError::Refused { error, description });
                }
                other => other?,
            };
        slot.refused = None;
        if let Some(new) = answer.refresh_token() {
            slot.rotated = Secret::new(new.secret().clone());
        }
        let token = Secret::new(answer.access_token().secret().clone()).ok_or_else(|| {
            SignInError::Transport("the token response has an empty access_token".into())
        })?;
        let lifetime = answer.expires_in();
        let info = OAuth2Info {
            issuer: meta.issuer.clone(),
            client_id: s.client_id.value.clone(),
            flow: match s.grant {
                Grant::RefreshToken => super::Flow::RefreshToken,
                Grant::ClientCredentials => super::Flow::ClientCredentials,
            },
            sources: Sources {
                issuer: (&s.issuer.origin).into(),
                client_id: (&s.client_id.origin).into(),
                scope: (&s.scopes.origin).into(),
                endpoints: kind,
            },
            scopes_requested: s.scopes.value.clone(),
            scopes_granted: match answer.scopes() {
                Some(granted) => granted.iter().map(|s| s.to_string()).collect(),
                None => s.scopes.value.clone(),
            },
            lifetime_s: lifetime.map(|d| d.as_secs()),
            elapsed_ms: millis(started.elapsed()),
        };
        // A token without a lifetime is not kept: nothing says how long it is good for.
        slot.token = lifetime.map(|l| Cached {
            token: token.clone(),
            until: started + l.saturating_sub(EXPIRY_MARGIN.min(l / 2)),
            info: info.clone(),
        });
        // The newest refresh token stays in the slot, nowhere else.
        Ok(SignedIn {
            token,
            refresh: None,
            info,
        })
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// How a confidential client sends its secret: HTTP Basic (RFC 6749 §2.3.1, and RFC 8414's
/// default) unless the server's metadata offers only `client_secret_post`.
fn auth_type(meta: &Metadata) -> AuthType {
    match &meta.token_endpoint_auth_methods_supported {
        Some(m)
            if !m.iter().any(|m| m == "client_secret_basic")
                && m.iter().any(|m| m == "client_secret_post") =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    }
}

/// One token request of grant `s.grant`, at the token endpoint the issuer's metadata names.
async fn request(
    s: &GrantSettings,
    refresh: Option<&Secret>,
    client_secret: Option<&Secret>,
    client: reqwest::Client,
) -> Result<(BasicTokenResponse, Metadata, super::MetadataKind), SignInError> {
    let http = Http(client);
    let issuer = s.issuer.value.trim_end_matches('/').to_string();
    // Microsoft's issuers: the provider table's endpoints (its metadata names a templated issuer).
    let (meta, kind) = match super::sources::table_endpoints(&issuer) {
        Some(named) => (named.as_metadata(&issuer), named.kind),
        None => metadata(&http, &issuer).await?,
    };
    let token_url =
        TokenUrl::new(meta.token_endpoint.clone()).map_err(|e| SignInError::Metadata {
            issuer: issuer.clone(),
            detail: format!("token_endpoint: {e}"),
        })?;
    let mut oauth = BasicClient::new(ClientId::new(s.client_id.value.clone()))
        .set_token_uri(token_url)
        .set_auth_type(AuthType::RequestBody);
    if let Some(secret) = client_secret {
        oauth = oauth
            .set_client_secret(ClientSecret::new(secret.expose().to_string()))
            .set_auth_type(auth_type(&meta));
    }
    let scopes = s.scopes.value.iter().cloned().map(Scope::new);
    let answer = match s.grant {
        Grant::RefreshToken => {
            let refresh = refresh
                .ok_or_else(|| SignInError::Transport("no refresh token to exchange".into()))?;
            let refresh = RefreshToken::new(refresh.expose().to_string());
            oauth
                .exchange_refresh_token(&refresh)
                .add_scopes(scopes)
                .request_async(&http)
                .await
        }
        Grant::ClientCredentials => {
            oauth
                .exchange_client_credentials()
                .add_scopes(scopes)
                .request_async(&http)
                .await
        }
    }
    .map_err(|e| request_error(e, None))?;
    Ok((answer, meta, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(methods: Option<&[&str]>) -> Metadata {
        Metadata {
            issuer: "https://auth.example".into(),
            token_endpoint: "https://auth.example/token".into(),
            device_authorization_endpoint: None,
            authorization_endpoint: None,
            registration_endpoint: None,
            token_endpoint_auth_methods_supported: methods
                .map(|m| m.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn the_secret_goes_in_basic_auth_unless_only_post_is_offered() {
        let basic = |m| matches!(auth_type(&meta(m)), AuthType::BasicAuth);
        assert!(basic(None));
        assert!(basic(Some(&["client_secret_basic", "client_secret_post"])));
        assert!(basic(Some(&["private_key_jwt"])));
        assert!(!basic(Some(&["client_secret_post", "none"])));
    }
}
