//! Automatic takeover: every replica watches the journal's leases, and a
//! rollout whose owner stopped renewing its lease (the process died, hung, or
//! lost the journal) is taken over and ended by its policy's `on_resume`
//! (rollback by default) within about one lease period. Replicas race for the
//! lease in the journal; exactly one wins, the others see it held and move on.
//! Each takeover runs on its own thread and runtime, like a rollout.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::metrics::Metrics;
use crate::commands::resume::{take_lease, take_over, ResumeContext};
use crate::journal::{wall_now, Journal, JournalError, Lease};
use crate::policy::Policy;
use crate::settings::Settings;

/// What a takeover needs, shared by every attempt.
pub struct Watch {
    pub journal: Arc<dyn Journal>,
    pub settings: Arc<Settings>,
    pub policy: Arc<Policy>,
    pub repo: PathBuf,
    pub metrics: Metrics,
}

/// Looks every heartbeat for expired leases of unfinished rollouts; runs until
/// the task is aborted (at shutdown).
pub async fn watch(w: Arc<Watch>) {
    let every = Duration::from_secs_f64(w.settings.lease.heartbeat_secs);
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    loop {
        tokio::time::sleep(every).await;
        let journal = w.journal.clone();
        let found = tokio::task::spawn_blocking(move || orphans(journal.as_ref())).await;
        let orphans = match found {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the leases; trying again");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "lease watch failed; trying again");
                continue;
            }
        };
        for lease in orphans {
            let fresh = in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(lease.rollout_id.clone());
            if fresh {
                spawn_takeover(w.clone(), lease, in_flight.clone());
            }
        }
    }
}

/// Leases that expired while their rollout is unfinished.
fn orphans(journal: &dyn Journal) -> Result<Vec<Lease>, JournalError> {
    let now = wall_now();
    let mut out = Vec::new();
    for lease in journal.leases()? {
        if lease.is_released() || !lease.expired(now) {
            continue;
        }
        match journal.rollout(&lease.rollout_id) {
            Ok(r) if r.finished_at.is_none() => out.push(lease),
            // Finished, or never begun: the next rollout of the service reuses it.
            Ok(_) | Err(JournalError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn spawn_takeover(w: Arc<Watch>, lease: Lease, in_flight: Arc<Mutex<HashSet<String>>>) {
    let id = lease.rollout_id.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("takeover-{}", lease.service))
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(take(&w, &lease)),
                Err(e) => tracing::error!("cannot start a runtime for a takeover: {e}"),
            }
            in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&lease.rollout_id);
        });
    if let Err(e) = spawned {
        tracing::error!(rollout = %id, "cannot start a takeover thread: {e}");
    }
}

async fn take(w: &Watch, lease: &Lease) {
    let Ok(record) = w.journal.rollout(&lease.rollout_id) else {
        return;
    };
    let keeper = match take_lease(&w.journal, &w.settings, &record) {
        Ok(k) => k,
        // Another replica was quicker, or the owner came back: not ours.
        Err(JournalError::LeaseHeld { .. }) => return,
        Err(e) => {
            tracing::warn!(error = %e, rollout = %record.id, "cannot take the lease over");
            return;
        }
    };
    w.metrics.takeover();
    w.metrics.lease(1);
    tracing::warn!(
        rollout = %record.id, service = %record.service, dead_owner = %lease.holder,
        "taking over a rollout whose owner stopped renewing its lease"
    );
    let ctx = ResumeContext {
        settings: &w.settings,
        policy: &w.policy,
        repo: &w.repo,
        show_progress: false,
    };
    let resumed = take_over(&w.journal, &ctx, &record, Arc::new(keeper)).await;
    w.metrics.lease(-1);
    tracing::info!(
        rollout = %resumed.id, outcome = %resumed.outcome, error = ?resumed.error,
        "takeover finished"
    );
}
