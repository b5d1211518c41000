//! Per-service scheduling: one active rollout per service, a newer merge replaces
//! the queued one (superseded), and a global bound on concurrent rollouts.
//!
//! Each service has a slot: at most one pending job and at most one worker. A
//! job counts as started only once its worker holds a permit of the global
//! semaphore and has taken it out of the slot; until then a newer job replaces it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::metrics::Metrics;

/// One rollout to start: `sha` of the repository onto `service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub service: String,
    pub sha: String,
    /// Where it came from, for logs (e.g. `push to refs/heads/main`).
    pub source: String,
}

/// Runs a job to its end (the rollout's own outcome is its business).
pub type Launch = Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What [`Queue::submit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Queued; a worker will start it.
    Queued,
    /// Queued in place of a job not yet started (that one is dropped).
    Superseded { previous: String },
    /// The server is shutting down.
    Refused,
}

#[derive(Default)]
struct Slot {
    pending: Option<Job>,
    /// A worker exists for this service (waiting for a permit or running).
    active: bool,
}

struct Inner {
    slots: Mutex<HashMap<String, Slot>>,
    permits: Arc<Semaphore>,
    closing: AtomicBool,
    metrics: Metrics,
    launch: Launch,
}

/// The scheduler; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

impl Queue {
    pub fn new(max_concurrent: usize, metrics: Metrics, launch: Launch) -> Self {
        Self {
            inner: Arc::new(Inner {
                slots: Mutex::default(),
                permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
                closing: AtomicBool::new(false),
                metrics,
                launch,
            }),
        }
    }

    /// Queues `job` for its service; starts a worker when the service has none.
    pub fn submit(&self, job: Job) -> Submitted {
        if self.inner.closing.load(Ordering::SeqCst) {
            return Submitted::Refused;
        }
        let service = job.service.clone();
        let mut slots = self.inner.lock();
        let slot = slots.entry(service.clone()).or_default();
        let previous = slot.pending.replace(job).map(|j| j.sha);
        let spawn = !slot.active;
        slot.active = true;
        drop(slots);
        if spawn {
            tokio::spawn(worker(self.inner.clone(), service.clone()));
        }
        match previous {
            Some(previous) => {
                self.inner.metrics.superseded();
                tracing::info!(%service, superseded = %previous, "a newer merge replaces a queued rollout");
                Submitted::Superseded { previous }
            }
            None => Submitted::Queued,
        }
    }

    /// Whether a job for `service` waits behind the running one (a newer merge,
    /// which replaces a job still waiting for the service's lease), or the
    /// server is shutting down: either way a waiting job should give up.
    pub fn newer_or_closing(&self, service: &str) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
            || self
                .inner
                .lock()
                .get(service)
                .is_some_and(|s| s.pending.is_some())
    }

    /// Stops starting rollouts: queued ones are dropped (never started, nothing
    /// journaled), running ones get up to `grace` to finish. Returns how many were
    /// still running when the grace ran out (they stay in the journal, unfinished,
    /// for `deploy-agent resume`).
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.inner.closing.store(true, Ordering::SeqCst);
        for (service, slot) in self.inner.lock().iter_mut() {
            if let Some(job) = slot.pending.take() {
                tracing::warn!(%service, sha = %job.sha, "shutting down: queued rollout dropped (not started)");
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let busy = self.inner.lock().values().filter(|s| s.active).count();
            if busy == 0 || tokio::time::Instant::now() >= deadline {
                return busy;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn worker(inner: Arc<Inner>, service: String) {
    loop {
        // Closed only if dropped, which never happens while `inner` lives.
        let Ok(permit) = inner.permits.clone().acquire_owned().await else {
            break;
        };
        let job = {
            let mut slots = inner.lock();
            let slot = slots.entry(service.clone()).or_default();
            match slot.pending.take() {
                Some(job) if !inner.closing.load(Ordering::SeqCst) => job,
                _ => {
                    slot.active = false;
                    return;
                }
            }
        };
        tracing::info!(%service, sha = %job.sha, source = %job.source, "rollout starting");
        inner.metrics.active(1);
        (inner.launch)(job).await;
        inner.metrics.active(-1);
        drop(permit);
    }
    inner.lock().entry(service).or_default().active = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::{mpsc, Notify};

    fn job(service: &str, sha: &str) -> Job {
        Job {
            service: service.into(),
            sha: sha.into(),
            source: "test".into(),
        }
    }

    #[tokio::test]
    async fn a_newer_merge_supersedes_a_queued_one_and_concurrency_is_bounded() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let gate = Arc::new(Notify::new());
        let g = gate.clone();
        let launch: Launch = Arc::new(move |j: Job| {
            let tx = tx.clone();
            let g = g.clone();
            Box::pin(async move {
                let _ = tx.send(j.sha.clone());
                g.notified().await;
            })
        });
        let metrics = Metrics::default();
        let q = Queue::new(1, metrics.clone(), launch);
        assert_eq!(q.submit(job("a", "a1")), Submitted::Queued);
        assert_eq!(rx.recv().await.as_deref(), Some("a1"));
        // a1 runs and holds the only permit: b1 waits, a2 then a3 queue behind a1.
        assert_eq!(q.submit(job("b", "b1")), Submitted::Queued);
        assert_eq!(q.submit(job("a", "a2")), Submitted::Queued);
        assert_eq!(
            q.submit(job("a", "a3")),
            Submitted::Superseded {
                previous: "a2".into()
            }
        );
        assert_eq!(metrics.active_rollouts(), 1);
        let mut started = Vec::new();
        for _ in 0..2 {
            gate.notify_one();
            started.push(rx.recv().await.unwrap_or_default());
        }
        started.sort();
        assert_eq!(started, ["a3", "b1"]);
        gate.notify_one();
        assert_eq!(q.shutdown(Duration::from_secs(5)).await, 0);
        assert_eq!(q.submit(job("a", "a4")), Submitted::Refused);
        assert!(metrics.render().contains("deploy_agent_superseded_total 1"));
    }
}
