//! Leases, delivery and merge claims, and approval messages in SQLite. Each
//! function runs inside the caller's IMMEDIATE transaction, so a decision on a
//! lease row and its write are one step across processes.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::rows::find_rollout;
use crate::journal::lease::{self, Fence, Lease, LeaseRequest};
use crate::journal::JournalError;

const LEASE_COLUMNS: &str = "service, rollout_id, holder, generation, expires_at";

fn lease_row(r: &Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease {
        service: r.get(0)?,
        rollout_id: r.get(1)?,
        holder: r.get(2)?,
        generation: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        expires_at: r.get(4)?,
    })
}

fn lease_of(c: &Connection, service: &str) -> Result<Option<Lease>, JournalError> {
    Ok(c.query_row(
        &format!("SELECT {LEASE_COLUMNS} FROM leases WHERE service = ?1"),
        [service],
        lease_row,
    )
    .optional()?)
}

fn store(c: &Connection, l: &Lease) -> Result<(), JournalError> {
    c.execute(
        &format!(
            "INSERT INTO leases ({LEASE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (service) DO UPDATE SET rollout_id = excluded.rollout_id, \
             holder = excluded.holder, generation = excluded.generation, expires_at = excluded.expires_at"
        ),
        params![
            l.service,
            l.rollout_id,
            l.holder,
            i64::try_from(l.generation).unwrap_or(i64::MAX),
            l.expires_at
        ],
    )?;
    Ok(())
}

pub(super) fn acquire(c: &Connection, req: &LeaseRequest) -> Result<Lease, JournalError> {
    let current = lease_of(c, &req.service)?;
    let unfinished = |id: &str| -> Result<bool, JournalError> {
        Ok(find_rollout(c, id)?.is_some_and(|r| r.finished_at.is_none()))
    };
    let l = lease::next_lease(current.as_ref(), unfinished, req)?;
    store(c, &l)?;
    Ok(l)
}

pub(super) fn check(c: &Connection, fence: &Fence) -> Result<Lease, JournalError> {
    let current = lease_of(c, &fence.service)?;
    lease::check_fence(current.as_ref(), fence)?;
    current.ok_or_else(|| JournalError::Corrupt("a checked lease vanished".into()))
}

pub(super) fn renew(
    c: &Connection,
    fence: &Fence,
    ttl: f64,
    now: f64,
) -> Result<Lease, JournalError> {
    let mut l = check(c, fence)?;
    l.expires_at = now + ttl;
    store(c, &l)?;
    Ok(l)
}

pub(super) fn release(c: &Connection, fence: &Fence) -> Result<(), JournalError> {
    let mut l = check(c, fence)?;
    l.holder.clear();
    l.expires_at = 0.0;
    store(c, &l)
}

pub(super) fn all(c: &Connection) -> Result<Vec<Lease>, JournalError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {LEASE_COLUMNS} FROM leases ORDER BY service"
    ))?;
    let rows = stmt.query_map([], lease_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts `key` into a claim table; `false` when it was there.
pub(super) fn claim(
    c: &Connection,
    sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<bool, JournalError> {
    Ok(c.execute(sql, values)? == 1)
}

pub(super) fn set_message(
    c: &Connection,
    rollout_id: &str,
    rev: &str,
    message: &str,
) -> Result<(), JournalError> {
    let changed = c.execute(
        "UPDATE approvals SET message = ?3 WHERE rollout_id = ?1 AND rev = ?2",
        params![rollout_id, rev, message],
    )?;
    if changed == 0 {
        return Err(JournalError::NoApprovalRequested(rollout_id.into()));
    }
    Ok(())
}

pub(super) fn message(
    c: &Connection,
    rollout_id: &str,
    rev: &str,
) -> Result<Option<String>, JournalError> {
    Ok(c.query_row(
        "SELECT message FROM approvals WHERE rollout_id = ?1 AND rev = ?2",
        params![rollout_id, rev],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()?
    .flatten())
}
