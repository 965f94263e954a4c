//! Lockout safety: at most one failed login per server, account and secret — in a run, and
//! across every run of the process that shares the gate (a batch, a checks file, an exporter).
//!
//! The first combination to reach the login step on a server takes the slot and holds it while
//! it tries; the others wait. If the server rejected the credential, they do not try it; if it
//! accepted, they go ahead without waiting for one another; if the try was inconclusive (a
//! timeout, a broken exchange), the next one takes the slot. A refusal is remembered with the
//! server's words for the gate's back-off (for the whole process when it has none), so a later
//! run reports it instead of trying the same secret again; another secret has a slot of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::outcome::Reason;

/// A server's refusal of a credential, kept to be reported instead of a second try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub server_says: String,
    pub mechanism: String,
    pub at: Instant,
    /// The run that met it (its other combinations skip the login without a report of their
    /// own; another run reports the remembered refusal once).
    pub run: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Unknown,
    Accepted,
    Rejected(Refusal),
    /// The login exchange stalled until its timeout: no verdict, but no point in waiting again.
    Stalled,
}

/// One slot per (server host, login name, secret), names lower-cased: `ALICE@lab.test` and
/// `alice@lab.test` are one account to the server's lockout counter.
type Slots = HashMap<(String, String, [u8; 32]), Arc<AsyncMutex<Judgement>>>;

#[derive(Default)]
pub struct AuthGate {
    slots: Mutex<Slots>,
    /// How long a refusal is remembered; `None`: for the gate's life.
    backoff: Option<Duration>,
}

pub struct Permit {
    guard: Option<OwnedMutexGuard<Judgement>>,
    known: Judgement,
}

impl AuthGate {
    /// A gate whose refusals are forgotten after `backoff` (an exporter, where the secret may be
    /// fixed between scrapes).
    pub fn with_backoff(backoff: Duration) -> AuthGate {
        AuthGate {
            backoff: Some(backoff),
            ..AuthGate::default()
        }
    }

    /// Wait for the right to try `user` with the secret whose digest is `secret` on `host`.
    pub async fn enter(&self, host: &str, user: &str, secret: [u8; 32]) -> Permit {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .entry((host.to_ascii_lowercase(), user.to_lowercase(), secret))
                .or_insert_with(|| Arc::new(AsyncMutex::new(Judgement::Unknown)))
                .clone()
        };
        let mut guard = slot.lock_owned().await;
        if let (Judgement::Rejected(r), Some(backoff)) = (&*guard, self.backoff) {
            if r.at.elapsed() >= backoff {
                *guard = Judgement::Unknown;
            }
        }
        let known = guard.clone();
        Permit {
            // Only an undecided credential keeps the slot while it is tried.
            guard: (known == Judgement::Unknown).then_some(guard),
            known,
        }
    }
}

impl Permit {
    /// The server already rejected this credential.
    pub fn rejected(&self) -> bool {
        matches!(self.known, Judgement::Rejected(_))
    }

    /// What an earlier combination learnt of this credential.
    pub fn known(&self) -> &Judgement {
        &self.known
    }

    /// Record what the server said of the credential; `Unknown` leaves the slot undecided.
    pub fn settle(mut self, j: Judgement) {
        if let Some(g) = self.guard.as_mut() {
            **g = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_rejection_stops_the_others() {
        let gate = Arc::new(AuthGate::default());
        let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = vec![];
        for _ in 0..6 {
            let (gate, tries) = (gate.clone(), tries.clone());
            tasks.push(tokio::spawn(async move {
                let p = gate.enter("Mail.Example.com", "alice", SECRET).await;
                if p.rejected() {
                    return;
                }
                tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                p.settle(refused());
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    const SECRET: [u8; 32] = [7; 32];

    fn refused() -> Judgement {
        Judgement::Rejected(Refusal {
            reason: Reason::AuthRejected,
            server_says: "NO [AUTHENTICATIONFAILED] Authentication failed.".into(),
            mechanism: "PLAIN".into(),
            at: Instant::now(),
            run: 1,
        })
    }

    #[tokio::test]
    async fn inconclusive_passes_the_turn_and_accepted_frees_all() {
        let gate = AuthGate::default();
        let p = gate.enter("h", "u", SECRET).await;
        p.settle(Judgement::Unknown);
        let p = gate.enter("h", "u", SECRET).await;
        assert!(!p.rejected());
        p.settle(Judgement::Accepted);
        // Two holders at once: accepted credentials do not serialise.
        let a = gate.enter("h", "u", SECRET).await;
        let b = gate.enter("h", "u", SECRET).await;
        assert!(!a.rejected() && !b.rejected());
        // Another account on the same host is independent.
        let c = gate.enter("h", "other", SECRET).await;
        c.settle(refused());
        assert!(gate.enter("h", "other", SECRET).await.rejected());
        // ... the same account in other letter cases is not ...
        assert!(gate.enter("H", "OTHER", SECRET).await.rejected());
        // ... and another secret gets its own try.
        assert!(!gate.enter("h", "other", [8; 32]).await.rejected());
        assert!(!gate.enter("h", "u", SECRET).await.rejected());
    }

    #[tokio::test]
    async fn a_refusal_is_forgotten_after_the_backoff() {
        let gate = AuthGate::with_backoff(Duration::from_millis(50));
        gate.enter("h", "u", SECRET).await.settle(refused());
        assert!(gate.enter("h", "u", SECRET).await.rejected());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!gate.enter("h", "u", SECRET).await.rejected());
    }
}
