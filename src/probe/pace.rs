//! Pacing: how many probes may run at once, in total and per connect host.
//!
//! A helpdesk run over 500 mailboxes of one provider, or a monitoring system scraping many
//! accounts, must not open hundreds of connections to one server at once. A [`Pacer`] is shared
//! by every run that should be paced together (a batch, a checks file, an exporter's scrapes):
//! each target's whole probe, from connect to logout, holds one permit of its connect host and
//! one global permit.
//!
//! Permits are taken host first, then global: a probe waiting for a busy host holds no global
//! permit, so other hosts are not starved; whoever holds a global permit also holds its host's,
//! so there is no cycle. The target's own deadline starts only once both are held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default connections at once to one host: a mail client opens a few, not dozens.
pub const DEFAULT_PER_HOST: usize = 4;

pub struct Pacer {
    per_host: usize,
    global: Option<Arc<Semaphore>>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Held for the whole probe of one target.
pub struct Pace {
    _host: OwnedSemaphorePermit,
    _global: Option<OwnedSemaphorePermit>,
}

impl Pacer {
    /// `per_host` connections at once per connect host (at least 1); `global` probes at once in
    /// total (`None`: no global limit).
    pub fn new(per_host: usize, global: Option<usize>) -> Pacer {
        Pacer {
            per_host: per_host.max(1),
            global: global.map(|n| Arc::new(Semaphore::new(n.max(1)))),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_host(&self) -> usize {
        self.per_host
    }

    /// Wait until a probe of `connect_host` may start.
    pub async fn acquire(&self, connect_host: &str) -> Pace {
        let host = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            hosts
                .entry(connect_host.trim_end_matches('.').to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        // The semaphores are never closed, so acquiring cannot fail.
        let host = host.acquire_owned().await.expect("pacer semaphore closed");
        let global = match &self.global {
            Some(g) => Some(
                g.clone()
                    .acquire_owned()
                    .await
                    .expect("pacer semaphore closed"),
            ),
            None => None,
        };
        Pace {
            _host: host,
            _global: global,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    async fn peak(pacer: Arc<Pacer>, hosts: &[&str], n: usize) -> HashMap<String, usize> {
        let counters: Arc<Mutex<HashMap<String, (usize, usize)>>> = Arc::default();
        let total = Arc::new(AtomicUsize::new(0));
        let mut tasks = vec![];
        for i in 0..n {
            let host = hosts[i % hosts.len()].to_string();
            // Count per host as the pacer sees it.
            let key = host.trim_end_matches('.').to_ascii_lowercase();
            let (pacer, counters, total) = (pacer.clone(), counters.clone(), total.clone());
            tasks.push(tokio::spawn(async move {
                let _p = pacer.acquire(&host).await;
                total.fetch_add(1, Ordering::SeqCst);
                {
                    let mut c = counters.lock().unwrap();
                    let e = c.entry(key.clone()).or_default();
                    e.0 += 1;
                    e.1 = e.1.max(e.0);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                counters.lock().unwrap().get_mut(&key).unwrap().0 -= 1;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(total.load(Ordering::SeqCst), n);
        let c = counters.lock().unwrap();
        c.iter().map(|(h, (_, max))| (h.clone(), *max)).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn per_host_limit_holds_and_hosts_are_independent() {
        let pacer = Arc::new(Pacer::new(3, None));
        let peaks = peak(pacer, &["a.example", "B.example.", "b.example"], 60).await;
        // "B.example." and "b.example" are one host: 40 probes, never more than 3 at once.
        assert_eq!(peaks.len(), 2, "{peaks:?}");
        assert_eq!(peaks["a.example"], 3, "{peaks:?}");
        assert_eq!(peaks["b.example"], 3, "{peaks:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn global_limit_caps_the_total() {
        let pacer = Arc::new(Pacer::new(10, Some(2)));
        let peaks = peak(pacer, &["a", "b", "c"], 30).await;
        assert!(peaks.values().all(|&m| m <= 2), "{peaks:?}");
    }
}
