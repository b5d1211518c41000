//! Leases, delivery and merge claims, and approval messages in Postgres. Every
//! lease decision first takes a transaction-scoped advisory lock on the
//! service, so replicas deciding on one service's lease (including a first
//! grant, when there is no row to lock yet) queue, and a fenced write checks
//! and writes under the same lock.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::rows::{find_rollout, Db};
use super::trouble::Failure;
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
async fn lock(c: &impl Db, service: &str) -> Result<(), Failure> {
    c.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
        &[&service],
    )
    .await?;
    Ok(())
}

async fn lease_of(c: &impl Db, service: &str) -> Result<Option<Lease>, Failure> {
    let row = c
        .query_opt(
            &format!("SELECT {LEASE_COLUMNS} FROM leases WHERE service = $1"),
            &[&service],
        )
        .await?;
    row.as_ref().map(lease_row).transpose()
}

async fn store(c: &impl Db, l: &Lease) -> Result<(), Failure> {
    let generation = i64::try_from(l.generation).unwrap_or(i64::MAX);
    let sql = format!(
        "INSERT INTO leases ({LEASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (service) DO UPDATE SET rollout_id = EXCLUDED.rollout_id, \
         holder = EXCLUDED.holder, generation = EXCLUDED.generation, expires_at = EXCLUDED.expires_at"
    );
    let params: [&(dyn ToSql + Sync); 5] = [
        &l.service,
        &l.rollout_id,
        &l.holder,
        &generation,
        &l.expires_at,
    ];
    c.execute(&sql, &params).await?;
    Ok(())
}

pub(super) async fn acquire(c: &impl Db, req: &LeaseRequest) -> Result<Lease, Failure> {
    lock(c, &req.service).await?;
    let current = lease_of(c, &req.service).await?;
    // `next_lease` asks only about the current holder's rollout, and only when it
    // is another rollout; the answer is read here because the rule is not async.
    let unfinished = match &current {
        Some(l) => find_rollout(c, &l.rollout_id, false)
            .await?
            .is_some_and(|r| r.finished_at.is_none()),
        None => false,
    };
    let l = lease::next_lease(current.as_ref(), |_| Ok::<_, Failure>(unfinished), req)?;
    store(c, &l).await?;
    Ok(l)
}

/// The lease `fence` claims, checked under the service's lock.
pub(super) async fn check(c: &impl Db, fence: &Fence) -> Result<Lease, Failure> {
    lock(c, &fence.service).await?;
    let current = lease_of(c, &fence.service).await?;
    lease::check_fence(current.as_ref(), fence)?;
    Ok(current.ok_or_else(|| JournalError::Corrupt("a checked lease vanished".into()))?)
}

pub(super) async fn renew(
    c: &impl Db,
    fence: &Fence,
    ttl: f64,
    now: f64,
) -> Result<Lease, Failure> {
    let mut l = check(c, fence).await?;
    l.expires_at = now + ttl;
    store(c, &l).await?;
    Ok(l)
}

pub(super) async fn release(c: &impl Db, fence: &Fence) -> Result<(), Failure> {
    let mut l = check(c, fence).await?;
    l.holder.clear();
    l.expires_at = 0.0;
    store(c, &l).await
}

pub(super) async fn all(c: &impl Db) -> Result<Vec<Lease>, Failure> {
    c.query(
        &format!("SELECT {LEASE_COLUMNS} FROM leases ORDER BY service"),
        &[],
    )
    .await?
    .iter()
    .map(lease_row)
    .collect()
}

pub(super) async fn set_message(
    c: &impl Db,
    rollout_id: &str,
    rev: &str,
    message: &str,
) -> Result<(), Failure> {
    let changed = c
        .execute(
            "UPDATE approvals SET message = $3 WHERE rollout_id = $1 AND rev = $2",
            &[&rollout_id, &rev, &message],
        )
        .await?;
    if changed == 0 {
        return Err(JournalError::NoApprovalRequested(rollout_id.into()).into());
    }
    Ok(())
}

pub(super) async fn message(
    c: &impl Db,
    rollout_id: &str,
    rev: &str,
) -> Result<Option<String>, Failure> {
    let row = c
        .query_opt(
            "SELECT message FROM approvals WHERE rollout_id = $1 AND rev = $2",
            &[&rollout_id, &rev],
        )
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<_, Option<String>>(0)?,
        None => None,
    })
}

/// `delivery_id` seen for the first time: the services whose rollout of `rev` it
/// claims (no earlier delivery did); `None` for a redelivery.
pub(super) async fn claim_merge(
    c: &impl Db,
    delivery_id: &str,
    detail: &str,
    rev: &str,
    services: &[String],
    now: f64,
) -> Result<Option<Vec<String>>, Failure> {
    let first = c
        .execute(
            "INSERT INTO deliveries (delivery_id, received_at, detail) VALUES ($1, $2, $3) \
             ON CONFLICT (delivery_id) DO NOTHING",
            &[&delivery_id, &now, &detail],
        )
        .await?;
    if first == 0 {
        return Ok(None);
    }
    let mut fresh = Vec::new();
    for service in services {
        let n = c
            .execute(
                "INSERT INTO merges (service, rev, delivery_id, claimed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (service, rev) DO NOTHING",
                &[service, &rev, &delivery_id, &now],
            )
            .await?;
        if n == 1 {
            fresh.push(service.clone());
        }
    }
    Ok(Some(fresh))
}
