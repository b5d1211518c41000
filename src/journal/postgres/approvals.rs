//! Approval requests and their decision in Postgres. Every write locks the
//! rollout's row and then the request's, in that order, so two replicas
//! deciding at once queue instead of deadlocking; votes are in [`votes`](super::votes).

use super::rows::{
    approval_in, approval_row, find_rollout, lock_running, wrong_request, Db, APPROVAL_COLUMNS,
};
use super::trouble::Failure;
use super::votes;
use crate::journal::{
    rules, wall_now, ApprovalDecision, ApprovalProgress, ApprovalStatus, JournalError,
    PendingApproval,
};

/// Records the request, or joins an earlier one for the same revision (whose
/// deadline, requirement and decision stand).
pub(super) async fn request(
    c: &impl Db,
    rollout_id: &str,
    rev: &str,
    summary: &str,
    deadline_wall: f64,
    required: u32,
) -> Result<(), Failure> {
    let required = i32::try_from(required.max(1)).unwrap_or(i32::MAX);
    lock_running(c, rollout_id).await?;
    c.execute(
        &*format!("INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL, NULL, $6) ON CONFLICT (rollout_id, rev) DO NOTHING"),
        &[&rollout_id, &rev, &wall_now(), &deadline_wall, &summary, &required],
    )
    .await?;
    Ok(())
}

/// Decides the request or records a vote (the rules are on
/// [`Journal::decide_approval`](crate::journal::Journal::decide_approval)).
pub(super) async fn decide(
    c: &impl Db,
    id: &str,
    rev: &str,
    d: &ApprovalDecision,
) -> Result<ApprovalProgress, Failure> {
    let rollout = find_rollout(c, id, true)
        .await?
        .ok_or_else(|| JournalError::NotFound(id.to_string()))?;
    let Some(status) = approval_in(c, id, rev, true).await? else {
        return Err(wrong_request(c, id, rev).await?.into());
    };
    let required = match (&status, rollout.finished_at) {
        (ApprovalStatus::Pending(p), None) if d.decided_at <= p.deadline => p.required,
        _ => return Err(rules::refusal(id, &rollout, status).into()),
    };
    if let Some(voter) = &d.by {
        if let Some(approvals) = votes::vote(c, id, rev, voter, d, required).await? {
            return Ok(ApprovalProgress::Waiting {
                approvals,
                required,
            });
        }
    }
    // The guard against a second decision is `decided_at IS NULL`, read and
    // written under the request's row lock.
    let changed = c
        .execute(
            "UPDATE approvals SET decided_at = $3, approved = $4, decided_by = $5, reason = $6 \
             WHERE rollout_id = $1 AND rev = $2 AND decided_at IS NULL AND deadline >= $3",
            &[&id, &rev, &d.decided_at, &d.approved, &d.by, &d.reason],
        )
        .await?;
    if changed == 1 {
        return Ok(ApprovalProgress::Decided);
    }
    Err(rules::refusal(id, &rollout, status).into())
}

pub(super) async fn pending(c: &impl Db) -> Result<Vec<PendingApproval>, Failure> {
    let rows = c
        .query(
            &*format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE decided_at IS NULL ORDER BY requested_at"
            ),
            &[],
        )
        .await?;
    let mut pending = Vec::with_capacity(rows.len());
    for row in &rows {
        if let ApprovalStatus::Pending(p) = approval_row(row)? {
            pending.push(p);
        }
    }
    Ok(pending)
}
