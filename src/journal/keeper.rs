//! Keeping a lease while a rollout runs: a heartbeat renews it every
//! `heartbeat` seconds; the loop asks [`LeaseKeeper::lost`] before every
//! change to the target. The lease counts as lost when a renewal is refused
//! (another process took it over: fenced) or when the last successful renewal
//! has run out by the local clock (this process was paused or cut off from the
//! journal long enough that someone else may own it now). Either way the loop
//! stops without touching the target: the new owner finishes the rollout.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{wall_now, Fence, Journal, JournalError, Lease, LeaseRequest};

/// How long a lease lasts and how often it is renewed (`[lease]` in the config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaseTiming {
    pub ttl_secs: f64,
    pub heartbeat_secs: f64,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        Self {
            ttl_secs: 30.0,
            heartbeat_secs: 5.0,
        }
    }
}

#[derive(Debug)]
struct State {
    lease: Lease,
    lost: Option<String>,
}

/// A lease held by this process, renewed in the background until released.
pub struct LeaseKeeper {
    journal: Arc<dyn Journal>,
    timing: LeaseTiming,
    state: Arc<Mutex<State>>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LeaseKeeper {
    /// Acquires `req`'s lease and starts renewing it (inside a Tokio runtime).
    pub fn acquire(
        journal: Arc<dyn Journal>,
        req: &LeaseRequest,
        timing: LeaseTiming,
    ) -> Result<Self, JournalError> {
        let lease = journal.acquire_lease(req)?;
        Ok(Self::keep(journal, lease, timing))
    }

    /// Keeps a lease already granted.
    pub fn keep(journal: Arc<dyn Journal>, lease: Lease, timing: LeaseTiming) -> Self {
        let state = Arc::new(Mutex::new(State { lease, lost: None }));
        let heartbeat = tokio::runtime::Handle::try_current()
            .ok()
            .map(|rt| rt.spawn(renew_forever(journal.clone(), state.clone(), timing)));
        Self {
            journal,
            timing,
            state,
            heartbeat: Mutex::new(heartbeat),
        }
    }

    /// What writes under this lease carry.
    pub fn fence(&self) -> Fence {
        lock(&self.state).lease.fence()
    }

    pub fn lease(&self) -> Lease {
        lock(&self.state).lease.clone()
    }

    /// Why the lease is no longer ours, if it is not.
    pub fn lost(&self) -> Option<String> {
        let s = lock(&self.state);
        if let Some(why) = &s.lost {
            return Some(why.clone());
        }
        let now = wall_now();
        (s.lease.expires_at <= now).then(|| {
            format!(
                "not renewed in time: it expired {:.1} s ago (this process was paused or could not reach the journal)",
                now - s.lease.expires_at
            )
        })
    }

    /// Stops renewing and frees the lease for the next rollout of the service.
    pub fn release(&self) {
        self.stop();
        if self.lost().is_none() {
            if let Err(e) = self.journal.release_lease(&self.fence()) {
                tracing::warn!(error = %e, "could not release the lease");
            }
        }
    }

    /// Stops renewing and keeps the lease row as it is: it expires, and the
    /// next process to look takes the rollout over (a rollback not confirmed).
    pub fn abandon(&self) {
        self.stop();
    }

    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    fn stop(&self) {
        let handle = self
            .heartbeat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = handle {
            h.abort();
        }
    }
}

impl std::fmt::Debug for LeaseKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseKeeper")
            .field("state", &*lock(&self.state))
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Renews every heartbeat until fenced. A renewal that fails for another
/// reason (the journal briefly unreachable) is retried at the next beat; the
/// lease then runs out by the clock if the journal stays away.
async fn renew_forever(journal: Arc<dyn Journal>, state: Arc<Mutex<State>>, timing: LeaseTiming) {
    let every = Duration::from_secs_f64(timing.heartbeat_secs.max(0.05));
    loop {
        tokio::time::sleep(every).await;
        let fence = lock(&state).lease.fence();
        let journal = journal.clone();
        let ttl = timing.ttl_secs;
        let renewed =
            tokio::task::spawn_blocking(move || journal.renew_lease(&fence, ttl, wall_now())).await;
        let mut s = lock(&state);
        match renewed {
            Ok(Ok(lease)) => s.lease = lease,
            Ok(Err(e @ JournalError::Fenced { .. })) => {
                tracing::error!(error = %e, "lease lost");
                s.lost = Some(e.to_string());
                return;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "could not renew the lease; trying again"),
            Err(e) => tracing::warn!(error = %e, "lease heartbeat task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::SqliteJournal;

    fn req(holder: &str, ttl: f64) -> LeaseRequest {
        LeaseRequest {
            service: "checkout".into(),
            rollout_id: "r1".into(),
            holder: holder.into(),
            ttl,
            now: wall_now(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_heartbeat_keeps_it_and_a_takeover_is_noticed() {
        let journal: Arc<dyn Journal> =
            Arc::new(SqliteJournal::open(std::path::Path::new(":memory:")).unwrap());
        let timing = LeaseTiming {
            ttl_secs: 0.6,
            heartbeat_secs: 0.1,
        };
        let keeper = LeaseKeeper::acquire(journal.clone(), &req("a", 0.6), timing).unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(keeper.lost(), None, "renewed past its first ttl");
        // Another process cannot take it while it is renewed.
        assert!(journal.acquire_lease(&req("b", 0.6)).is_err());
        // Stop the heartbeat (as a paused process would): it runs out, is taken over.
        let fence = keeper.fence();
        let paused = keeper;
        paused.stop();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(paused.lost().unwrap().contains("not renewed in time"));
        let taken = journal.acquire_lease(&req("b", 30.0)).unwrap();
        assert_eq!(taken.generation, fence.generation + 1);
        assert!(matches!(
            journal.renew_lease(&fence, 1.0, wall_now()),
            Err(JournalError::Fenced { .. })
        ));
    }
}
