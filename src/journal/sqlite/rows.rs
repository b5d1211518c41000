//! Statements shared by several journal methods and the mapping of rows to records.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

pub(super) use crate::journal::rules::refusal;
use crate::journal::{
    rules, wall_now, ApprovalDecision, ApprovalStatus, JournalError, PendingApproval,
    RolloutRecord, StoredEvent,
};
use crate::rollout::state::Outcome;

pub(super) const ROLLOUT_COLUMNS: &str =
    "id, service, rev, target, planner, started_at, finished_at, outcome, weight, reason";
pub(super) const APPROVAL_COLUMNS: &str =
    "rollout_id, rev, requested_at, deadline, summary, decided_at, approved, decided_by, reason, required";

/// Inserts the next row of a per-rollout sequence (`events` or `intents`) and returns its number.
pub(super) fn insert_numbered(
    c: &Connection,
    table: &str,
    rollout_id: &str,
    at: f64,
    kind: &str,
    payload: &Value,
) -> Result<u64, JournalError> {
    let seq: i64 = c.query_row(
        &format!(
            "INSERT INTO {table} (rollout_id, seq, at, wall, kind, payload) \
             SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4, ?5 FROM {table} WHERE rollout_id = ?1 \
             RETURNING seq"
        ),
        params![rollout_id, at, wall_now(), kind, payload.to_string()],
        |r| r.get(0),
    )?;
    to_u64(seq)
}

pub(super) fn finish_in(
    c: &Connection,
    rollout_id: &str,
    outcome: Outcome,
    reason: &str,
    weight: u8,
) -> Result<(), JournalError> {
    // A failed rollback records its outcome but keeps the rollout open.
    let finished = outcome.is_final().then(wall_now);
    let changed = c.execute(
        "UPDATE rollouts SET finished_at = ?2, outcome = ?3, reason = ?4, weight = ?5 \
         WHERE id = ?1 AND finished_at IS NULL",
        params![rollout_id, finished, outcome.as_str(), reason, weight],
    )?;
    if changed == 1 {
        return Ok(());
    }
    require_running(c, rollout_id)
}

pub(super) fn find_rollout(
    c: &Connection,
    id: &str,
) -> Result<Option<RolloutRecord>, JournalError> {
    Ok(c.query_row(
        &format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE id = ?1"),
        [id],
        rollout_row,
    )
    .optional()?)
}

pub(super) fn require_rollout(c: &Connection, id: &str) -> Result<RolloutRecord, JournalError> {
    find_rollout(c, id)?.ok_or_else(|| JournalError::NotFound(id.into()))
}

/// The rollout exists and has not finished: nothing is recorded after its end.
pub(super) fn require_running(c: &Connection, id: &str) -> Result<(), JournalError> {
    let r = require_rollout(c, id)?;
    match r.outcome {
        o if rules::still_open(o.as_deref()) => Ok(()),
        Some(outcome) => Err(rules::already_finished(id, &outcome)),
        None => Ok(()),
    }
}

pub(super) fn approval_in(
    c: &Connection,
    rollout_id: &str,
    rev: &str,
) -> Result<Option<ApprovalStatus>, JournalError> {
    Ok(c.query_row(
        &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE rollout_id = ?1 AND rev = ?2"),
        [rollout_id, rev],
        approval_row,
    )
    .optional()?)
}

/// No request for `rev`: another revision's, or none at all.
pub(super) fn wrong_request(
    c: &Connection,
    rollout_id: &str,
    rev: &str,
) -> Result<JournalError, JournalError> {
    let other: Option<String> = c
        .query_row(
            "SELECT rev FROM approvals WHERE rollout_id = ?1 ORDER BY requested_at DESC LIMIT 1",
            [rollout_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(rules::wrong_request(rollout_id, rev, other))
}

pub(super) fn rollout_row(r: &Row<'_>) -> rusqlite::Result<RolloutRecord> {
    Ok(RolloutRecord {
        id: r.get(0)?,
        service: r.get(1)?,
        rev: r.get(2)?,
        target: r.get(3)?,
        planner: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        outcome: r.get(7)?,
        weight: r.get(8)?,
        reason: r.get(9)?,
    })
}

pub(super) fn approval_row(r: &Row<'_>) -> rusqlite::Result<ApprovalStatus> {
    let decided_at: Option<f64> = r.get(5)?;
    Ok(match decided_at {
        None => ApprovalStatus::Pending(PendingApproval {
            rollout_id: r.get(0)?,
            rev: r.get(1)?,
            requested_at: r.get(2)?,
            deadline: r.get(3)?,
            summary: r.get(4)?,
            required: r.get(9)?,
        }),
        Some(decided_at) => ApprovalStatus::Decided(ApprovalDecision {
            approved: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
            by: r.get(7)?,
            reason: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            decided_at,
        }),
    })
}

/// The shared shape of `events` and `intents` rows, before the payload is parsed.
pub(super) struct NumberedRow {
    pub rollout_id: String,
    pub seq: i64,
    pub at: f64,
    pub wall: f64,
    pub kind: String,
    pub payload: String,
}

pub(super) fn numbered_row(r: &Row<'_>) -> rusqlite::Result<NumberedRow> {
    Ok(NumberedRow {
        rollout_id: r.get(0)?,
        seq: r.get(1)?,
        at: r.get(2)?,
        wall: r.get(3)?,
        kind: r.get(4)?,
        payload: r.get(5)?,
    })
}

pub(super) fn parse_payload(text: &str) -> Result<Value, JournalError> {
    serde_json::from_str(text).map_err(|e| JournalError::Corrupt(format!("payload {text:?}: {e}")))
}

pub(super) fn to_u64(seq: i64) -> Result<u64, JournalError> {
    u64::try_from(seq).map_err(|_| JournalError::Corrupt(format!("negative sequence number {seq}")))
}

/// Decodes rows of `events` or `intents` (the same columns) into records.
pub(super) fn numbered(
    rows: impl Iterator<Item = rusqlite::Result<NumberedRow>>,
) -> Result<Vec<StoredEvent>, JournalError> {
    rows.map(|r| {
        let n = r?;
        Ok(StoredEvent {
            rollout_id: n.rollout_id,
            seq: to_u64(n.seq)?,
            at: n.at,
            wall: n.wall,
            kind: n.kind,
            payload: parse_payload(&n.payload)?,
        })
    })
    .collect()
}
