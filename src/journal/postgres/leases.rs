//! Leases, delivery and merge claims, and approval messages in Postgres. Every
//! lease decision first takes a transaction-scoped advisory lock on the
//! service, so replicas deciding on one service's lease (including a first
//! grant, when there is no row to lock yet) queue, and a fenced write checks
//! and writes under the same lock.

use postgres::{GenericClient, Row};

use super::rows::find_rollout;
use super::worker::Failure;
use crate::journal::lease::{self, Fence, Lease, LeaseRequest};
use crate::journal::JournalError;

const LEASE_COLUMNS: &str = "service, rollout_id, holder, generation, expires_at";

fn lease_row(r: &Row) -> Result<Lease, Failure> {
    let generation: i64 = r.try_get(3)?;
    Ok(Lease {
        service: r.try_get(0)?,
        rollout_id: r.try_get(1)?,
        holder: r.try_get(2)?,
        generation: u64::try_from(generation)
            .map_err(|_| JournalError::Corrupt(format!("lease generation {generation}")))?,
        expires_at: r.try_get(4)?,
    })
}

/// Serializes lease decisions on `service` until the transaction ends.
fn lock(c: &mut impl GenericClient, service: &str) -> Result<(), Failure> {
    c.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
        &[&service],
    )?;
    Ok(())
}

fn lease_of(c: &mut impl GenericClient, service: &str) -> Result<Option<Lease>, Failure> {
    let row = c.query_opt(
        &format!("SELECT {LEASE_COLUMNS} FROM leases WHERE service = $1"),
        &[&service],
    )?;
    row.as_ref().map(lease_row).transpose()
}

fn store(c: &mut impl GenericClient, l: &Lease) -> Result<(), Failure> {
    let generation = i64::try_from(l.generation).unwrap_or(i64::MAX);
    c.execute(
        &format!(
            "INSERT INTO leases ({LEASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (service) DO UPDATE SET rollout_id = EXCLUDED.rollout_id, \
             holder = EXCLUDED.holder, generation = EXCLUDED.generation, expires_at = EXCLUDED.expires_at"
        ),
        &[&l.service, &l.rollout_id, &l.holder, &generation, &l.expires_at],
    )?;
    Ok(())
}

pub(super) fn acquire(c: &mut impl GenericClient, req: &LeaseRequest) -> Result<Lease, Failure> {
    lock(c, &req.service)?;
    let current = lease_of(c, &req.service)?;
    let unfinished = |id: &str| -> Result<bool, Failure> {
        Ok(find_rollout(c, id, false)?.is_some_and(|r| r.finished_at.is_none()))
    };
    let l = lease::next_lease(current.as_ref(), unfinished, req)?;
    store(c, &l)?;
    Ok(l)
}

/// The lease `fence` claims, checked under the service's lock.
pub(super) fn check(c: &mut impl GenericClient, fence: &Fence) -> Result<Lease, Failure> {
    lock(c, &fence.service)?;
    let current = lease_of(c, &fence.service)?;
    lease::check_fence(current.as_ref(), fence)?;
    Ok(current.ok_or_else(|| JournalError::Corrupt("a checked lease vanished".into()))?)
}

pub(super) fn renew(
    c: &mut impl GenericClient,
    fence: &Fence,
    ttl: f64,
    now: f64,
) -> Result<Lease, Failure> {
    let mut l = check(c, fence)?;
    l.expires_at = now + ttl;
    store(c, &l)?;
    Ok(l)
}

pub(super) fn release(c: &mut impl GenericClient, fence: &Fence) -> Result<(), Failure> {
    let mut l = check(c, fence)?;
    l.holder.clear();
    l.expires_at = 0.0;
    store(c, &l)
}

pub(super) fn all(c: &mut impl GenericClient) -> Result<Vec<Lease>, Failure> {
    c.query(
        &format!("SELECT {LEASE_COLUMNS} FROM leases ORDER BY service"),
        &[],
    )?
    .iter()
    .map(lease_row)
    .collect()
}

pub(super) fn set_message(
    c: &mut impl GenericClient,
    rollout_id: &str,
    rev: &str,
    message: &str,
) -> Result<(), Failure> {
    let changed = c.execute(
        "UPDATE approvals SET message = $3 WHERE rollout_id = $1 AND rev = $2",
        &[&rollout_id, &rev, &message],
    )?;
    if changed == 0 {
        return Err(JournalError::NoApprovalRequested(rollout_id.into()).into());
    }
    Ok(())
}

pub(super) fn message(
    c: &mut impl GenericClient,
    rollout_id: &str,
    rev: &str,
) -> Result<Option<String>, Failure> {
    let row = c.query_opt(
        "SELECT message FROM approvals WHERE rollout_id = $1 AND rev = $2",
        &[&rollout_id, &rev],
    )?;
    Ok(match row {
        Some(r) => r.try_get::<_, Option<String>>(0)?,
        None => None,
    })
}
