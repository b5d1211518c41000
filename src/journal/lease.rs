//! Leases: one owner per service, across processes and replicas.
//!
//! A service's lease names the one rollout that may drive its target and the
//! process that runs it (the holder). The holder renews it with a heartbeat;
//! a lease not renewed before it expires may be taken over by another process
//! (which resumes that rollout), and a lease's `generation` goes up at every
//! grant, so a holder that was paused or cut off and comes back finds its
//! generation stale: its writes are refused (fencing) and it makes no change.
//!
//! The decisions are pure functions here; both backends apply them inside one
//! transaction on the lease's row, so two replicas never both win.

use serde::Serialize;

use super::JournalError;

/// A service's lease, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lease {
    pub service: String,
    /// The rollout that owns the service's target.
    pub rollout_id: String,
    /// Who runs it (`holder_id`); empty once released.
    pub holder: String,
    /// Bumped at every grant to a new holder or rollout: the fencing token.
    pub generation: u64,
    /// Wall time (unix seconds) after which another process may take it over.
    pub expires_at: f64,
}

impl Lease {
    /// What writes made under this lease carry.
    pub fn fence(&self) -> Fence {
        Fence {
            service: self.service.clone(),
            holder: self.holder.clone(),
            generation: self.generation,
        }
    }

    pub fn is_released(&self) -> bool {
        self.holder.is_empty()
    }

    pub fn expired(&self, now: f64) -> bool {
        self.expires_at <= now
    }
}

/// Proof that a write is made by the lease's current holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fence {
    pub service: String,
    pub holder: String,
    pub generation: u64,
}

/// Asking for a service's lease.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRequest {
    pub service: String,
    pub rollout_id: String,
    pub holder: String,
    /// Seconds the lease lasts without a renewal.
    pub ttl: f64,
    /// Wall time, unix seconds.
    pub now: f64,
}

/// What an acquisition does to the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// A new lease (or a released or dead one reused) at this generation.
    New(u64),
    /// The holder asks again for its own lease: renewed, same generation.
    Renew(u64),
    /// An expired lease of the same rollout, taken by another holder.
    Takeover(u64),
}

impl Grant {
    pub(crate) fn generation(self) -> u64 {
        match self {
            Grant::New(g) | Grant::Renew(g) | Grant::Takeover(g) => g,
        }
    }
}

/// Who may have `req`'s lease, given the service's current lease and whether
/// that lease's rollout is still unfinished. A live lease of another rollout,
/// or an expired one whose rollout has not been finished by a takeover yet,
/// is held: a new rollout never starts beside an unfinished one.
pub(crate) fn grant(
    current: Option<&Lease>,
    current_unfinished: bool,
    req: &LeaseRequest,
) -> Result<Grant, JournalError> {
    let Some(l) = current else {
        return Ok(Grant::New(1));
    };
    let next = l.generation + 1;
    if l.is_released() {
        return Ok(Grant::New(next));
    }
    let expired = l.expired(req.now);
    if l.rollout_id == req.rollout_id {
        if l.holder == req.holder {
            return Ok(Grant::Renew(l.generation));
        }
        if expired {
            return Ok(Grant::Takeover(next));
        }
    } else if expired && !current_unfinished {
        return Ok(Grant::New(next));
    }
    Err(JournalError::LeaseHeld {
        service: l.service.clone(),
        rollout_id: l.rollout_id.clone(),
        holder: l.holder.clone(),
        expires_in: l.expires_at - req.now,
    })
}

/// The lease `req` is granted, given the service's `current` lease;
/// `unfinished(id)` says whether rollout `id` is still unfinished (asked only
/// when the current lease belongs to another rollout).
pub(crate) fn next_lease<E: From<JournalError>>(
    current: Option<&Lease>,
    unfinished: impl FnOnce(&str) -> Result<bool, E>,
    req: &LeaseRequest,
) -> Result<Lease, E> {
    let other_unfinished = match current {
        Some(l) if l.rollout_id != req.rollout_id => unfinished(&l.rollout_id)?,
        _ => false,
    };
    let granted = grant(current, other_unfinished, req)?;
    Ok(Lease {
        service: req.service.clone(),
        rollout_id: req.rollout_id.clone(),
        holder: req.holder.clone(),
        generation: granted.generation(),
        expires_at: req.now + req.ttl,
    })
}

/// Whether `fence` still holds `current`: same holder, same generation.
pub(crate) fn check_fence(current: Option<&Lease>, fence: &Fence) -> Result<(), JournalError> {
    match current {
        Some(l) if l.generation == fence.generation && l.holder == fence.holder => Ok(()),
        other => Err(JournalError::Fenced {
            service: fence.service.clone(),
            generation: fence.generation,
            now: other.map_or_else(
                || "no lease".to_string(),
                |l| {
                    if l.is_released() {
                        format!("released at generation {}", l.generation)
                    } else {
                        format!("held by {} at generation {}", l.holder, l.generation)
                    }
                },
            ),
        }),
    }
}

/// This process, as a lease holder: `pid 1234 on host-a since 1764…` (the
/// same string for the whole life of the process).
pub fn holder_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(new_holder_id).clone()
}

fn new_holder_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".into());
    format!(
        "pid {} on {host} since {:.0}",
        std::process::id(),
        super::wall_now()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(rollout: &str, holder: &str, generation: u64, expires_at: f64) -> Lease {
        Lease {
            service: "checkout".into(),
            rollout_id: rollout.into(),
            holder: holder.into(),
            generation,
            expires_at,
        }
    }

    fn req(rollout: &str, holder: &str, now: f64) -> LeaseRequest {
        LeaseRequest {
            service: "checkout".into(),
            rollout_id: rollout.into(),
            holder: holder.into(),
            ttl: 30.0,
            now,
        }
    }

    #[test]
    fn grant_table() {
        let live = lease("r1", "a", 3, 100.0);
        let released = lease("r1", "", 3, 0.0);
        // (current, its rollout unfinished, request) -> grant or held
        let cases: [(Option<&Lease>, bool, LeaseRequest, Option<Grant>); 8] = [
            (None, false, req("r1", "a", 50.0), Some(Grant::New(1))),
            (
                Some(&released),
                false,
                req("r2", "b", 50.0),
                Some(Grant::New(4)),
            ),
            (
                Some(&live),
                true,
                req("r1", "a", 50.0),
                Some(Grant::Renew(3)),
            ),
            (Some(&live), true, req("r1", "b", 50.0), None),
            (
                Some(&live),
                true,
                req("r1", "b", 150.0),
                Some(Grant::Takeover(4)),
            ),
            (Some(&live), true, req("r2", "b", 50.0), None),
            // Expired, but its rollout was never finished: it must be taken over first.
            (Some(&live), true, req("r2", "b", 150.0), None),
            (
                Some(&live),
                false,
                req("r2", "b", 150.0),
                Some(Grant::New(4)),
            ),
        ];
        for (i, (current, unfinished, r, want)) in cases.into_iter().enumerate() {
            let got = grant(current, unfinished, &r);
            match (want, got) {
                (Some(w), Ok(g)) => assert_eq!(g, w, "case {i}"),
                (None, Err(JournalError::LeaseHeld { holder, .. })) => {
                    assert_eq!(holder, "a", "case {i}")
                }
                (w, g) => panic!("case {i}: wanted {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn a_stale_generation_is_fenced() {
        let now = lease("r1", "b", 4, 100.0);
        let old = lease("r1", "a", 3, 60.0).fence();
        assert!(check_fence(Some(&now), &now.fence()).is_ok());
        let err = check_fence(Some(&now), &old).unwrap_err();
        assert!(
            err.to_string().contains("held by b at generation 4"),
            "{err}"
        );
        assert!(check_fence(None, &old).is_err());
    }
}
