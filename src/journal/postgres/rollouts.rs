//! Rollouts, their events and their write-ahead intents in Postgres.

use serde_json::Value;

use super::leases;
use super::rows::{
    finish_in, insert_numbered, lock_running, numbered_row, require_rollout, rollout_row, Db,
    NUMBERED_COLUMNS, ROLLOUT_COLUMNS,
};
use super::trouble::Failure;
use crate::journal::{rules, wall_now, Fence, Intent, JournalError, RolloutRecord, StoredEvent};
use crate::rollout::events::Event;

pub(super) async fn begin(c: &impl Db, r: &RolloutRecord) -> Result<(), Failure> {
    let inserted = c
        .execute(
            &*format!("INSERT INTO rollouts ({ROLLOUT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING"),
            &[&r.id, &r.service, &r.rev, &r.target, &r.planner, &r.started_at, &r.finished_at, &r.outcome, &i16::from(r.weight), &r.reason],
        )
        .await?;
    if inserted == 0 {
        return Err(rules::duplicate_rollout(&r.id).into());
    }
    Ok(())
}

/// What [`append`] writes: the event as stored, and the event itself for the
/// columns of `rollouts` it updates.
pub(super) struct Append {
    pub(super) fence: Option<Fence>,
    pub(super) rollout_id: String,
    pub(super) at: f64,
    pub(super) kind: String,
    pub(super) payload: Value,
    pub(super) event: Event,
}

/// An event, checked against the fence first when there is one. A `WeightChanged`
/// updates the rollout's weight, a `PlannerHandover` its planner and a `Finished`
/// finishes it, in the same transaction.
pub(super) async fn append(c: &impl Db, a: &Append) -> Result<u64, Failure> {
    if let Some(f) = &a.fence {
        leases::check(c, f).await?;
    }
    let id = &a.rollout_id;
    lock_running(c, id).await?;
    let seq = insert_numbered(c, "events", id, a.at, &a.kind, &a.payload).await?;
    match &a.event {
        Event::WeightChanged { to, .. } => {
            c.execute(
                "UPDATE rollouts SET weight = $2 WHERE id = $1",
                &[id, &i16::from(*to)],
            )
            .await?;
        }
        Event::PlannerHandover { from, to, .. } => {
            c.execute(
                "UPDATE rollouts SET planner = $2 WHERE id = $1",
                &[id, &crate::journal::handed_over(from, to)],
            )
            .await?;
        }
        Event::Finished {
            outcome,
            reason,
            weight,
        } => finish_in(c, id, *outcome, reason, *weight).await?,
        _ => {}
    }
    Ok(seq)
}

/// An intent, checked against the fence first when there is one.
pub(super) async fn intent(
    c: &impl Db,
    fence: Option<&Fence>,
    rollout_id: &str,
    at: f64,
    kind: &str,
    payload: &Value,
) -> Result<u64, Failure> {
    if let Some(f) = fence {
        leases::check(c, f).await?;
    }
    lock_running(c, rollout_id).await?;
    insert_numbered(c, "intents", rollout_id, at, kind, payload).await
}

/// Marks intent `seq` applied; a second mark is a conflict, an unknown intent
/// [`JournalError::IntentNotFound`].
pub(super) async fn applied(
    c: &impl Db,
    rollout_id: &str,
    seq: u64,
    ok: bool,
    detail: &str,
) -> Result<(), Failure> {
    let not_found = || JournalError::IntentNotFound {
        rollout_id: rollout_id.to_string(),
        seq,
    };
    let number = i64::try_from(seq).map_err(|_| not_found())?;
    let changed = c
        .execute(
            "UPDATE intents SET applied_wall = $3, ok = $4, detail = $5 \
             WHERE rollout_id = $1 AND seq = $2 AND applied_wall IS NULL",
            &[&rollout_id, &number, &wall_now(), &ok, &detail],
        )
        .await?;
    if changed == 1 {
        return Ok(());
    }
    let exists = c
        .query_opt(
            "SELECT 1 FROM intents WHERE rollout_id = $1 AND seq = $2",
            &[&rollout_id, &number],
        )
        .await?;
    Err(match exists {
        Some(_) => rules::applied_twice(rollout_id, seq),
        None => not_found(),
    }
    .into())
}

pub(super) async fn list(
    c: &impl Db,
    service: Option<&str>,
    limit: usize,
) -> Result<Vec<RolloutRecord>, Failure> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = c
        .query(
            &*format!(
                "SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE $1::TEXT IS NULL OR service = $1 \
                 ORDER BY started_at DESC, id DESC LIMIT $2"
            ),
            &[&service, &limit],
        )
        .await?;
    rows.iter().map(rollout_row).collect()
}

pub(super) async fn events(c: &impl Db, rollout_id: &str) -> Result<Vec<StoredEvent>, Failure> {
    require_rollout(c, rollout_id).await?;
    let rows = c
        .query(
            &*format!("SELECT {NUMBERED_COLUMNS} FROM events WHERE rollout_id = $1 ORDER BY seq"),
            &[&rollout_id],
        )
        .await?;
    rows.iter().map(numbered_row).collect()
}

pub(super) async fn unfinished(c: &impl Db) -> Result<Vec<RolloutRecord>, Failure> {
    let rows = c
        .query(
            &*format!(
                "SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE finished_at IS NULL ORDER BY started_at"
            ),
            &[],
        )
        .await?;
    rows.iter().map(rollout_row).collect()
}

pub(super) async fn open_intents(c: &impl Db, rollout_id: &str) -> Result<Vec<Intent>, Failure> {
    require_rollout(c, rollout_id).await?;
    let rows = c
        .query(
            &*format!(
                "SELECT {NUMBERED_COLUMNS} FROM intents \
                 WHERE rollout_id = $1 AND applied_wall IS NULL ORDER BY seq"
            ),
            &[&rollout_id],
        )
        .await?;
    rows.iter().map(numbered_row).collect()
}
