//! Discovery's memory across the accounts of one process: each web request (method, URL, body,
//! and the client settings that shape its answer) is made once and its answer, good or bad,
//! shared by every discovery that asks it again. 20 addresses of one domain in a `batch` cost
//! one request per URL, not 20.
//!
//! Answers are cached, not reports: each discovery still reads the documents for its own
//! address, so `%EMAILADDRESS%`, `%EMAILLOCALPART%` and the default login name are never
//! another user's. The Autodiscover POST carries the address in its body, so its answer is
//! shared only with the same address.
//!
//! DNS answers are shared the same way through one resolver per name server
//! ([`DiscoveryCache::resolver`]): hickory's cache keeps each record for its TTL.
//!
//! How long an answer is kept is [`Keep`]: for the whole run (`batch`, `check`), or, for the
//! long-lived `serve`, as long as its `Cache-Control` allows and never past a ceiling.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::http::{Fetched, HttpError};
use crate::net::resolver::{Resolver, ResolverId};

/// How long a cached answer stays usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Until the process ends: one run sees each domain once.
    ForTheRun,
    /// As long as the answer's `Cache-Control` allows (`max-age`; `no-store`/`no-cache`: not at
    /// all), at most `ceiling`; failures and answers without caching headers for
    /// [`FAILURE_LIFETIME`] or `ceiling` respectively, whichever is shorter.
    Bounded { ceiling: Duration },
}

/// The longest `serve` keeps an answer, whatever its headers say: a provider's change shows
/// within this.
pub const SERVE_CEILING: Duration = Duration::from_secs(3600);

/// How long a failed request (404, refused, timed out) is remembered under [`Keep::Bounded`]:
/// long enough that a burst of scrapes does not repeat it, short enough that a fix shows.
pub const FAILURE_LIFETIME: Duration = Duration::from_secs(60);

/// What decides an HTTP answer besides the request: who resolves, which CAs are trusted,
/// where `--connect-to` sends it. Accounts that differ in these never share answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scope {
    pub resolver: Option<SocketAddr>,
    pub ca_file: Option<PathBuf>,
    /// The `--connect-to` rules, in their written form.
    pub connect_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Request {
    scope: Scope,
    method: String,
    url: String,
    body: Option<String>,
}

#[derive(Debug, Clone)]
struct Stored {
    answer: Result<Fetched, HttpError>,
    /// `None`: for the run.
    until: Option<Instant>,
}

impl Stored {
    fn fresh(&self, now: Instant) -> bool {
        self.until.is_none_or(|u| now < u)
    }
}

/// One request's answer, filled in once by the task that makes it.
type Slot = watch::Receiver<Option<Stored>>;

/// Shared by every discovery of a process (in [`crate::engine::Shared`]).
#[derive(Debug)]
pub struct DiscoveryCache {
    keep: Keep,
    answers: Mutex<HashMap<Request, Slot>>,
    resolvers: Mutex<HashMap<ResolverId, Resolver>>,
}

impl Default for DiscoveryCache {
    fn default() -> Self {
        DiscoveryCache::new(Keep::ForTheRun)
    }
}

impl DiscoveryCache {
    pub fn new(keep: Keep) -> DiscoveryCache {
        DiscoveryCache {
            keep,
            answers: Mutex::default(),
            resolvers: Mutex::default(),
        }
    }

    /// The resolver discovery uses for `given`'s name server: the first one seen for it, so
    /// that its cache (each record kept for its TTL) serves every account.
    pub fn resolver(&self, given: &Resolver) -> Resolver {
        let Ok(mut map) = self.resolvers.lock() else {
            return given.clone();
        };
        map.entry(given.identity())
            .or_insert_with(|| given.clone())
            .clone()
    }

    /// The answer to a request: the stored one while it is fresh (`true`: it came from the
    /// cache, or from another discovery's request still under way), else `fetch`'s. The
    /// request runs in its own task, so that a discovery that stops waiting (its deadline, a
    /// higher-priority answer) does not cancel it for the others.
    pub(crate) async fn answer<F>(
        &self,
        scope: &Scope,
        method: &reqwest::Method,
        url: &str,
        body: Option<&str>,
        fetch: F,
    ) -> (Result<Fetched, HttpError>, bool)
    where
        F: std::future::Future<Output = Result<Fetched, HttpError>> + Send + 'static,
    {
        let key = Request {
            scope: scope.clone(),
            method: method.to_string(),
            url: url.to_string(),
            body: body.map(str::to_string),
        };
        let (mut slot, cached) = {
            let now = Instant::now();
            let mut map = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            let usable = map
                .get(&key)
                .filter(|rx| (*rx.borrow()).as_ref().is_none_or(|s| s.fresh(now)))
                .cloned();
            match usable {
                Some(rx) => (rx, true),
                None => {
                    let (tx, rx) = watch::channel(None);
                    let keep = self.keep;
                    tokio::spawn(async move {
                        let answer = fetch.await;
                        let until = lifetime(keep, &answer).map(|d| Instant::now() + d);
                        tx.send_replace(Some(Stored { answer, until }));
                    });
                    map.insert(key, rx.clone());
                    (rx, false)
                }
            }
        };
        let answer = match slot.wait_for(Option::is_some).await {
            Ok(s) => s.as_ref().map(|s| s.answer.clone()),
            Err(_) => None,
        };
        let answer = answer.unwrap_or_else(|| {
            Err(HttpError::Failed {
                detail: "the request was abandoned".into(),
            })
        });
        (answer, cached)
    }
}

/// How long `answer` may be kept; `None`: for the run.
fn lifetime(keep: Keep, answer: &Result<Fetched, HttpError>) -> Option<Duration> {
    let Keep::Bounded { ceiling } = keep else {
        return None;
    };
    Some(match answer {
        Ok(f) if f.status == 200 => f.cache_for.unwrap_or(ceiling).min(ceiling),
        _ => FAILURE_LIFETIME.min(ceiling),
    })
}

/// What a `Cache-Control` header allows: `Some(0)` for `no-store` / `no-cache`, the
/// `max-age` (or `s-maxage`) otherwise; `None` when it says nothing about lifetime.
pub fn cache_control(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',') {
        let d = directive.trim().to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return Some(Duration::ZERO);
        }
        let seconds = d
            .strip_prefix("s-maxage=")
            .or_else(|| d.strip_prefix("max-age="));
        if let Some(n) = seconds.and_then(|s| s.trim_matches('"').parse::<u64>().ok()) {
            age = Some(Duration::from_secs(n));
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_lifetimes() {
        assert_eq!(cache_control("max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(
            cache_control("public, s-maxage=60"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(cache_control("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_control("max-age=60, No-Cache"), Some(Duration::ZERO));
        assert_eq!(cache_control("public"), None);
        let ok = |cache_for| {
            Ok(Fetched {
                chain: vec![],
                status: 200,
                location: None,
                body: vec![],
                trusted: true,
                cache_for,
            })
        };
        let bounded = Keep::Bounded {
            ceiling: Duration::from_secs(600),
        };
        assert_eq!(lifetime(Keep::ForTheRun, &ok(Some(Duration::ZERO))), None);
        assert_eq!(
            lifetime(bounded, &ok(Some(Duration::from_secs(86400)))),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            lifetime(bounded, &ok(Some(Duration::from_secs(30)))),
            Some(Duration::from_secs(30))
        );
        assert_eq!(lifetime(bounded, &ok(None)), Some(Duration::from_secs(600)));
        assert_eq!(
            lifetime(bounded, &Err(HttpError::Status { status: 404 })),
            Some(FAILURE_LIFETIME)
        );
    }
}
