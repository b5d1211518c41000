//! Statements shared by several journal methods and the mapping of rows to records.

use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use super::trouble::Failure;
use crate::journal::{
    rules, wall_now, ApprovalDecision, ApprovalStatus, JournalError, PendingApproval,
    RolloutRecord, StoredEvent,
};
use crate::rollout::state::Outcome;

/// A client or a transaction: the statements here run in either. `Sync` so that a
/// future holding one across an `.await` can move to the journal's runtime.
pub(super) trait Db: GenericClient + Sync {}

impl<C: GenericClient + Sync> Db for C {}

pub(super) const ROLLOUT_COLUMNS: &str =
    "id, service, rev, target, planner, started_at, finished_at, outcome, weight, reason";
pub(super) const APPROVAL_COLUMNS: &str =
    "rollout_id, rev, requested_at, deadline, summary, decided_at, approved, decided_by, reason, required";
pub(super) const NUMBERED_COLUMNS: &str = "rollout_id, seq, at, wall, kind, payload";

/// Inserts the next row of a per-rollout sequence (`events` or `intents`) and returns
/// its number. The caller holds the rollout's row lock ([`lock_running`]), so no other
/// replica computes the same `MAX(seq)` meanwhile.
pub(super) async fn insert_numbered(
    c: &impl Db,
    table: &str,
    rollout_id: &str,
    at: f64,
    kind: &str,
    payload: &Value,
) -> Result<u64, Failure> {
    let sql = format!(
        "INSERT INTO {table} (rollout_id, seq, at, wall, kind, payload) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM {table} WHERE rollout_id = $1 \
         RETURNING seq"
    );
    let payload = payload.to_string();
    let params: [&(dyn ToSql + Sync); 5] = [&rollout_id, &at, &wall_now(), &kind, &payload];
    let row = c.query_one(&sql, &params).await?;
    Ok(to_u64(row.try_get(0)?)?)
}

pub(super) async fn finish_in(
    c: &impl Db,
    rollout_id: &str,
    outcome: Outcome,
    reason: &str,
    weight: u8,
) -> Result<(), Failure> {
    // A failed rollback records its outcome but keeps the rollout open.
    let finished = outcome.is_final().then(wall_now);
    let changed = c
        .execute(
            "UPDATE rollouts SET finished_at = $2, outcome = $3, reason = $4, weight = $5 \
             WHERE id = $1 AND finished_at IS NULL",
            &[
                &rollout_id,
                &finished,
                &outcome.as_str(),
                &reason,
                &i16::from(weight),
            ],
        )
        .await?;
    if changed == 1 {
        return Ok(());
    }
    lock_running(c, rollout_id).await
}

/// The rollout, its row locked to the end of the transaction (`FOR UPDATE`) when `lock`.
pub(super) async fn find_rollout(
    c: &impl Db,
    id: &str,
    lock: bool,
) -> Result<Option<RolloutRecord>, Failure> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    let row = c
        .query_opt(
            &format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE id = $1{suffix}"),
            &[&id],
        )
        .await?;
    row.as_ref().map(rollout_row).transpose()
}

pub(super) async fn require_rollout(c: &impl Db, id: &str) -> Result<RolloutRecord, Failure> {
    find_rollout(c, id, false)
        .await?
        .ok_or_else(|| JournalError::NotFound(id.into()).into())
}

/// The rollout exists and has not finished, and its row is locked to the end of the
/// transaction: writes to one rollout queue here, across replicas, in one order.
pub(super) async fn lock_running(c: &impl Db, id: &str) -> Result<(), Failure> {
    let r = find_rollout(c, id, true)
        .await?
        .ok_or_else(|| JournalError::NotFound(id.into()))?;
    match r.outcome {
        o if rules::still_open(o.as_deref()) => Ok(()),
        Some(outcome) => Err(rules::already_finished(id, &outcome).into()),
        None => Ok(()),
    }
}

/// The request for `rev`, its row locked when `lock`.
pub(super) async fn approval_in(
    c: &impl Db,
    rollout_id: &str,
    rev: &str,
    lock: bool,
) -> Result<Option<ApprovalStatus>, Failure> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    let row = c
        .query_opt(
            &format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE rollout_id = $1 AND rev = $2{suffix}"
        ),
            &[&rollout_id, &rev],
        )
        .await?;
    row.as_ref().map(approval_row).transpose()
}

/// No request for `rev`: another revision's, or none at all.
pub(super) async fn wrong_request(
    c: &impl Db,
    rollout_id: &str,
    rev: &str,
) -> Result<JournalError, Failure> {
    let latest = c
        .query_opt(
            "SELECT rev FROM approvals WHERE rollout_id = $1 ORDER BY requested_at DESC LIMIT 1",
            &[&rollout_id],
        )
        .await?;
    let latest = latest.map(|r| r.try_get(0)).transpose()?;
    Ok(rules::wrong_request(rollout_id, rev, latest))
}

pub(super) fn rollout_row(r: &Row) -> Result<RolloutRecord, Failure> {
    let weight: i16 = r.try_get(8)?;
    Ok(RolloutRecord {
        id: r.try_get(0)?,
        service: r.try_get(1)?,
        rev: r.try_get(2)?,
        target: r.try_get(3)?,
        planner: r.try_get(4)?,
        started_at: r.try_get(5)?,
        finished_at: r.try_get(6)?,
        outcome: r.try_get(7)?,
        weight: u8::try_from(weight)
            .map_err(|_| JournalError::Corrupt(format!("weight {weight} out of range")))?,
        reason: r.try_get(9)?,
    })
}

pub(super) fn approval_row(r: &Row) -> Result<ApprovalStatus, Failure> {
    let decided_at: Option<f64> = r.try_get(5)?;
    Ok(match decided_at {
        None => ApprovalStatus::Pending(PendingApproval {
            rollout_id: r.try_get(0)?,
            rev: r.try_get(1)?,
            requested_at: r.try_get(2)?,
            deadline: r.try_get(3)?,
            summary: r.try_get(4)?,
            required: u32::try_from(r.try_get::<_, i32>(9)?).unwrap_or(1).max(1),
        }),
        Some(decided_at) => ApprovalStatus::Decided(ApprovalDecision {
            approved: r.try_get::<_, Option<bool>>(6)?.unwrap_or(false),
            by: r.try_get(7)?,
            reason: r.try_get::<_, Option<String>>(8)?.unwrap_or_default(),
            decided_at,
        }),
    })
}

/// A row of `events` or `intents` (the same leading columns) as a record.
pub(super) fn numbered_row(r: &Row) -> Result<StoredEvent, Failure> {
    let payload: String = r.try_get(5)?;
    Ok(StoredEvent {
        rollout_id: r.try_get(0)?,
        seq: to_u64(r.try_get(1)?)?,
        at: r.try_get(2)?,
        wall: r.try_get(3)?,
        kind: r.try_get(4)?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| JournalError::Corrupt(format!("payload {payload:?}: {e}")))?,
    })
}

fn to_u64(seq: i64) -> Result<u64, JournalError> {
    u64::try_from(seq).map_err(|_| JournalError::Corrupt(format!("negative sequence number {seq}")))
}
