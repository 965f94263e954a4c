//! Lockout safety: at most one failed login per server and account in a run.
//!
//! The first combination to reach the login step on a server takes the slot and holds it while
//! it tries; the others wait. If the server rejected the credential, they do not try it; if it
//! accepted, they go ahead without waiting for one another; if the try was inconclusive (a
//! timeout, a broken exchange), the next one takes the slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Unknown,
    Accepted,
    Rejected,
    /// The login exchange stalled until its timeout: no verdict, but no point in waiting again.
    Stalled,
}

/// One slot per (server host, login name).
type Slots = HashMap<(String, String), Arc<AsyncMutex<Judgement>>>;

#[derive(Default)]
pub struct AuthGate {
    slots: Mutex<Slots>,
}

pub struct Permit {
    guard: Option<OwnedMutexGuard<Judgement>>,
    known: Judgement,
}

impl AuthGate {
    /// Wait for the right to try `user` on `host`.
    pub async fn enter(&self, host: &str, user: &str) -> Permit {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .entry((host.to_ascii_lowercase(), user.to_string()))
                .or_insert_with(|| Arc::new(AsyncMutex::new(Judgement::Unknown)))
                .clone()
        };
        let guard = slot.lock_owned().await;
        let known = *guard;
        Permit {
            // Only an undecided credential keeps the slot while it is tried.
            guard: (known == Judgement::Unknown).then_some(guard),
            known,
        }
    }
}

impl Permit {
    /// The server already rejected this credential in this run.
    pub fn rejected(&self) -> bool {
        self.known == Judgement::Rejected
    }

    /// What an earlier combination learnt of this credential.
    pub fn known(&self) -> Judgement {
        self.known
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
                let p = gate.enter("Mail.Example.com", "alice").await;
                if p.rejected() {
                    return;
                }
                tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                p.settle(Judgement::Rejected);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn inconclusive_passes_the_turn_and_accepted_frees_all() {
        let gate = AuthGate::default();
        let p = gate.enter("h", "u").await;
        p.settle(Judgement::Unknown);
        let p = gate.enter("h", "u").await;
        assert!(!p.rejected());
        p.settle(Judgement::Accepted);
        // Two holders at once: accepted credentials do not serialise.
        let a = gate.enter("h", "u").await;
        let b = gate.enter("h", "u").await;
        assert!(!a.rejected() && !b.rejected());
        // Another account on the same host is independent.
        let c = gate.enter("h", "other").await;
        c.settle(Judgement::Rejected);
        assert!(gate.enter("h", "other").await.rejected());
        assert!(!gate.enter("h", "u").await.rejected());
    }
}
