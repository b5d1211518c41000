//! The service's lease for a rollout: one owner per service at a time
//! (see ARCHITECTURE.md, "one owner, fenced"). Split from `rollout.rs` so the
//! command reads as its steps; the waiting loop is its own concern.

use std::sync::Arc;

use super::LeaseWait;
use crate::error::Error;
use crate::journal::{holder_id, wall_now, Journal, JournalError, LeaseKeeper, LeaseRequest};
use crate::settings::Settings;

/// The service's lease for `spec`'s rollout; with `wait`, polls while the
/// service is busy (another rollout owns it) and the job is still wanted.
pub(super) async fn acquire(
    journal: &Arc<dyn Journal>,
    service: &str,
    rollout_id: &str,
    settings: &Settings,
    wait: Option<&LeaseWait>,
) -> Result<LeaseKeeper, Error> {
    let holder = holder_id();
    loop {
        let req = LeaseRequest {
            service: service.to_string(),
            rollout_id: rollout_id.to_string(),
            holder: holder.clone(),
            ttl: settings.lease.ttl_secs,
            now: wall_now(),
        };
        match LeaseKeeper::acquire(journal.clone(), &req, settings.lease) {
            Ok(keeper) => return Ok(keeper),
            Err(JournalError::LeaseHeld { .. }) if wait.is_some_and(|w| (w.still_wanted)()) => {
                tracing::info!(%service, "service busy: waiting for its lease");
                let poll = wait.map_or(std::time::Duration::from_secs(1), |w| w.poll);
                tokio::time::sleep(poll).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
