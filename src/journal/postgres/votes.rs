//! Approval votes and button nonces on Postgres: the same rows and rules as
//! `sqlite/votes.rs`, written inside the callers' transactions (which hold the
//! rollout's and the request's row locks, so two replicas count votes in turn).

use super::rows::{require_rollout, Db};
use super::trouble::Failure;
use crate::journal::{wall_now, ApprovalDecision, ApprovalVote, JournalError};

/// Records `voter`'s vote. An approval returns `Some(approvals so far)` while fewer
/// than `required` distinct voters have approved, and a second approval by the same
/// voter is [`JournalError::AlreadyVoted`]. A rejection replaces the voter's earlier
/// vote and returns `None`: it decides at once.
pub(super) async fn vote(
    c: &impl Db,
    rollout_id: &str,
    rev: &str,
    voter: &str,
    d: &ApprovalDecision,
    required: u32,
) -> Result<Option<u32>, Failure> {
    let insert = if d.approved {
        "INSERT INTO approval_votes (rollout_id, rev, voter, approved, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rollout_id, rev, voter) DO NOTHING"
    } else {
        "INSERT INTO approval_votes (rollout_id, rev, voter, approved, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rollout_id, rev, voter) \
         DO UPDATE SET approved = excluded.approved, reason = excluded.reason, at = excluded.at"
    };
    let written = c
        .execute(
            insert,
            &[
                &rollout_id,
                &rev,
                &voter,
                &d.approved,
                &d.reason,
                &d.decided_at,
            ],
        )
        .await?;
    if !d.approved {
        return Ok(None);
    }
    if written == 0 {
        return Err(JournalError::AlreadyVoted {
            rollout_id: rollout_id.into(),
            voter: voter.into(),
            required,
        }
        .into());
    }
    let approvals: i64 = c
        .query_one(
            "SELECT COUNT(DISTINCT voter) FROM approval_votes \
             WHERE rollout_id = $1 AND rev = $2 AND approved",
            &[&rollout_id, &rev],
        )
        .await?
        .try_get(0)?;
    let approvals = u32::try_from(approvals).unwrap_or(u32::MAX);
    Ok((approvals < required).then_some(approvals))
}

pub(super) async fn votes_in(
    c: &impl Db,
    rollout_id: &str,
    rev: &str,
) -> Result<Vec<ApprovalVote>, Failure> {
    let rows = c
        .query(
            "SELECT voter, approved, reason, at FROM approval_votes \
             WHERE rollout_id = $1 AND rev = $2 ORDER BY at, voter",
            &[&rollout_id, &rev],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ApprovalVote {
                by: r.try_get(0)?,
                approved: r.try_get(1)?,
                reason: r.try_get(2)?,
                at: r.try_get(3)?,
            })
        })
        .collect()
}

pub(super) async fn issue_nonce_in(
    c: &impl Db,
    rollout_id: &str,
    rev: &str,
    nonce: &str,
) -> Result<(), Failure> {
    require_rollout(c, rollout_id).await?;
    let insert = "INSERT INTO button_nonces (nonce, rollout_id, rev, issued_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (nonce) DO NOTHING";
    let inserted = c
        .execute(insert, &[&nonce, &rollout_id, &rev, &wall_now()])
        .await?;
    if inserted == 0 {
        return Err(JournalError::Conflict(format!(
            "button nonce `{nonce}` was already issued: nonces must be unique"
        ))
        .into());
    }
    Ok(())
}

/// True when `nonce` belongs to exactly this rollout and revision and `user` had
/// not clicked it; the click is then recorded. Nothing is written otherwise.
pub(super) async fn take_nonce_in(
    c: &impl Db,
    nonce: &str,
    rollout_id: &str,
    rev: &str,
    user: &str,
) -> Result<bool, Failure> {
    let bound = c
        .query_opt(
            "SELECT rollout_id, rev FROM button_nonces WHERE nonce = $1",
            &[&nonce],
        )
        .await?;
    let bound: Option<(String, String)> = bound
        .map(|r| Ok::<_, tokio_postgres::Error>((r.try_get(0)?, r.try_get(1)?)))
        .transpose()?;
    if bound.as_ref().map(|(r, v)| (r.as_str(), v.as_str())) != Some((rollout_id, rev)) {
        return Ok(false);
    }
    let inserted = c
        .execute(
            "INSERT INTO button_clicks (nonce, user_id, at) VALUES ($1, $2, $3) \
         ON CONFLICT (nonce, user_id) DO NOTHING",
            &[&nonce, &user, &wall_now()],
        )
        .await?;
    Ok(inserted == 1)
}
