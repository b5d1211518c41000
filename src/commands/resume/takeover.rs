//! Taking a rollout over: the lease of its service first (only when no live
//! process holds it), then the resume, then the lease freed — or left to
//! expire when the rollback is still not confirmed, so the next look retries.
//! The rollout's Slack approval message is closed by whoever ended it.

use std::sync::Arc;

use super::{resume_one, ResumeContext, Resumed};
use crate::journal::{
    holder_id, wall_now, Journal, JournalError, LeaseKeeper, LeaseRequest, RolloutRecord,
};
use crate::policy::Policy;
use crate::rollout::state::Outcome;
use crate::settings::Settings;

/// Takes the lease of `record`'s service for it: a takeover when its holder's
/// lease expired, a new lease when there was none. A live holder keeps it:
/// [`JournalError::LeaseHeld`] says who.
pub fn take_lease(
    journal: &Arc<dyn Journal>,
    settings: &Settings,
    record: &RolloutRecord,
) -> Result<LeaseKeeper, JournalError> {
    let req = LeaseRequest {
        service: record.service.clone(),
        rollout_id: record.id.clone(),
        holder: holder_id(),
        ttl: settings.lease.ttl_secs,
        now: wall_now(),
    };
    LeaseKeeper::acquire(journal.clone(), &req, settings.lease)
}

/// Resumes one rollout this process holds the lease of, then frees the lease
/// (or lets it expire when the rollback is still not confirmed, so the next
/// look retries it). `serve` calls this for every lease that expired.
pub async fn take_over(
    journal: &Arc<dyn Journal>,
    ctx: &ResumeContext<'_>,
    record: &RolloutRecord,
    lease: Arc<LeaseKeeper>,
) -> Resumed {
    let result = resume_one(journal, ctx, record, Some(lease.clone())).await;
    let resumed = result.unwrap_or_else(|e| failed(ctx.policy, record, e.to_string()));
    if resumed.outcome == Outcome::RollbackFailed.as_str() || resumed.error.is_some() {
        lease.abandon();
    } else {
        lease.release();
    }
    close_slack_message(journal, ctx.settings, record).await;
    resumed
}

/// The rollout's Slack approval message, if it had one, loses its buttons and
/// says how the rollout ended: the process that posted it is gone.
async fn close_slack_message(
    journal: &Arc<dyn Journal>,
    settings: &Settings,
    record: &RolloutRecord,
) {
    if settings.slack.bot_token.is_none() {
        return;
    }
    let Ok(ended) = journal.rollout(&record.id) else {
        return;
    };
    let outcome = match ended.outcome.as_deref() {
        Some("promoted") => Outcome::Promoted,
        Some("rolled_back") => Outcome::RolledBack,
        Some("aborted") => Outcome::Aborted,
        Some("rollback_failed") => Outcome::RollbackFailed,
        _ => return,
    };
    let Ok(client) = crate::approval::slack::SlackClient::new(&settings.slack) else {
        return;
    };
    let reason = ended.reason.unwrap_or_default();
    crate::approval::slack::close_approval_message(
        journal.as_ref(),
        &client,
        &record.id,
        &record.rev,
        outcome,
        &reason,
    )
    .await;
}

pub(super) fn failed(policy: &Policy, record: &RolloutRecord, error: String) -> Resumed {
    Resumed {
        id: record.id.clone(),
        target: record.target.clone(),
        live_weight: record.weight,
        intents: Vec::new(),
        outcome: "failed".into(),
        action: policy.rollout.on_resume.as_str().into(),
        fallback: None,
        final_weight: record.weight,
        owner: None,
        error: Some(error),
    }
}
