//! [`Journal`] for [`SqliteJournal`]: every write runs in one IMMEDIATE transaction
//! (`SqliteJournal::write`), the statements come from [`rows`], [`votes`] and
//! [`leases`], and the refusals from `journal::rules`, shared with Postgres.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::rows::{
    approval_in, approval_row, find_rollout, finish_in, insert_numbered, numbered, numbered_row,
    refusal, require_rollout, require_running, rollout_row, wrong_request, APPROVAL_COLUMNS,
    ROLLOUT_COLUMNS,
};
use super::{leases, votes, SqliteJournal};
use crate::journal::{
    event_parts, rules, wall_now, ApprovalDecision, ApprovalProgress, ApprovalStatus, ApprovalVote,
    Fence, Intent, Journal, JournalError, Lease, LeaseRequest, PendingApproval, RolloutRecord,
    StoredEvent,
};
use crate::rollout::events::Event;
use crate::rollout::state::Outcome;

impl Journal for SqliteJournal {
    fn begin(&self, r: &RolloutRecord) -> Result<(), JournalError> {
        self.write(|c| {
            let inserted = c.execute(
                &format!("INSERT INTO rollouts ({ROLLOUT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING"),
                params![r.id, r.service, r.rev, r.target, r.planner, r.started_at, r.finished_at, r.outcome, r.weight, r.reason],
            )?;
            if inserted == 0 {
                return Err(rules::duplicate_rollout(&r.id));
            }
            Ok(())
        })
    }

    fn append(&self, rollout_id: &str, at: f64, event: &Event) -> Result<u64, JournalError> {
        self.write(|c| append_in(c, rollout_id, at, event))
    }

    fn intent(
        &self,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        self.write(|c| {
            require_running(c, rollout_id)?;
            insert_numbered(c, "intents", rollout_id, at, kind, &payload)
        })
    }

    fn append_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        event: &Event,
    ) -> Result<u64, JournalError> {
        self.write(|c| {
            leases::check(c, fence)?;
            append_in(c, rollout_id, at, event)
        })
    }

    fn intent_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        self.write(|c| {
            leases::check(c, fence)?;
            require_running(c, rollout_id)?;
            insert_numbered(c, "intents", rollout_id, at, kind, &payload)
        })
    }

    fn acquire_lease(&self, req: &LeaseRequest) -> Result<Lease, JournalError> {
        self.write(|c| leases::acquire(c, req))
    }

    fn renew_lease(&self, fence: &Fence, ttl: f64, now: f64) -> Result<Lease, JournalError> {
        self.write(|c| leases::renew(c, fence, ttl, now))
    }

    fn release_lease(&self, fence: &Fence) -> Result<(), JournalError> {
        self.write(|c| leases::release(c, fence))
    }

    fn leases(&self) -> Result<Vec<Lease>, JournalError> {
        leases::all(&self.conn())
    }

    fn claim_merge(
        &self,
        delivery_id: &str,
        detail: &str,
        rev: &str,
        services: &[String],
        now: f64,
    ) -> Result<Option<Vec<String>>, JournalError> {
        self.write(|c| {
            let first = leases::claim(
                c,
                "INSERT INTO deliveries (delivery_id, received_at, detail) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (delivery_id) DO NOTHING",
                &[&delivery_id, &now, &detail],
            )?;
            if !first {
                return Ok(None);
            }
            let mut fresh = Vec::new();
            for service in services {
                let claimed = leases::claim(
                    c,
                    "INSERT INTO merges (service, rev, delivery_id, claimed_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (service, rev) DO NOTHING",
                    &[service, &rev, &delivery_id, &now],
                )?;
                if claimed {
                    fresh.push(service.clone());
                }
            }
            Ok(Some(fresh))
        })
    }

    fn set_approval_message(
        &self,
        rollout_id: &str,
        rev: &str,
        message: &str,
    ) -> Result<(), JournalError> {
        self.write(|c| leases::set_message(c, rollout_id, rev, message))
    }

    fn approval_message(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Option<String>, JournalError> {
        leases::message(&self.conn(), rollout_id, rev)
    }

    fn applied(
        &self,
        rollout_id: &str,
        intent_seq: u64,
        ok: bool,
        detail: &str,
    ) -> Result<(), JournalError> {
        let not_found = || JournalError::IntentNotFound {
            rollout_id: rollout_id.into(),
            seq: intent_seq,
        };
        let seq = i64::try_from(intent_seq).map_err(|_| not_found())?;
        self.write(|c| {
            let changed = c.execute(
                "UPDATE intents SET applied_wall = ?3, ok = ?4, detail = ?5 \
                 WHERE rollout_id = ?1 AND seq = ?2 AND applied_wall IS NULL",
                params![rollout_id, seq, wall_now(), ok, detail],
            )?;
            if changed == 1 {
                return Ok(());
            }
            let exists = c
                .query_row(
                    "SELECT 1 FROM intents WHERE rollout_id = ?1 AND seq = ?2",
                    params![rollout_id, seq],
                    |_| Ok(()),
                )
                .optional()?;
            Err(match exists {
                Some(()) => rules::applied_twice(rollout_id, intent_seq),
                None => not_found(),
            })
        })
    }

    fn finish(
        &self,
        rollout_id: &str,
        outcome: Outcome,
        reason: &str,
        weight: u8,
    ) -> Result<(), JournalError> {
        self.write(|c| finish_in(c, rollout_id, outcome, reason, weight))
    }

    fn rollout(&self, id: &str) -> Result<RolloutRecord, JournalError> {
        find_rollout(&self.conn(), id)?.ok_or_else(|| JournalError::NotFound(id.into()))
    }

    fn list(
        &self,
        service: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RolloutRecord>, JournalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE ?1 IS NULL OR service = ?1 \
             ORDER BY started_at DESC, id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![service, limit], rollout_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn events(&self, rollout_id: &str) -> Result<Vec<StoredEvent>, JournalError> {
        let conn = self.conn();
        require_rollout(&conn, rollout_id)?;
        let mut stmt = conn.prepare(
            "SELECT rollout_id, seq, at, wall, kind, payload FROM events \
             WHERE rollout_id = ?1 ORDER BY seq",
        )?;
        let records = numbered(stmt.query_map([rollout_id], numbered_row)?);
        records
    }

    fn unfinished(&self) -> Result<Vec<RolloutRecord>, JournalError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE finished_at IS NULL ORDER BY started_at"
        ))?;
        let rows = stmt.query_map([], rollout_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn open_intents(&self, rollout_id: &str) -> Result<Vec<Intent>, JournalError> {
        let conn = self.conn();
        require_rollout(&conn, rollout_id)?;
        let mut stmt = conn.prepare(
            "SELECT rollout_id, seq, at, wall, kind, payload FROM intents \
             WHERE rollout_id = ?1 AND applied_wall IS NULL ORDER BY seq",
        )?;
        let records = numbered(stmt.query_map([rollout_id], numbered_row)?);
        records
    }

    fn request_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        summary: &str,
        deadline_wall: f64,
        required: u32,
    ) -> Result<(), JournalError> {
        self.write(|c| {
            require_running(c, rollout_id)?;
            c.execute(
                &format!("INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, NULL, NULL, ?6) ON CONFLICT (rollout_id, rev) DO NOTHING"),
                params![rollout_id, rev, wall_now(), deadline_wall, summary, required.max(1)],
            )?;
            Ok(())
        })
    }

    fn decide_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        d: &ApprovalDecision,
    ) -> Result<ApprovalProgress, JournalError> {
        self.write(|c| {
            let rollout = find_rollout(c, rollout_id)?
                .ok_or_else(|| JournalError::NotFound(rollout_id.into()))?;
            let Some(status) = approval_in(c, rollout_id, rev)? else {
                return Err(wrong_request(c, rollout_id, rev)?);
            };
            let required = match (&status, rollout.finished_at) {
                (ApprovalStatus::Pending(p), None) if d.decided_at <= p.deadline => p.required,
                _ => return Err(refusal(rollout_id, &rollout, status)),
            };
            if let Some(voter) = &d.by {
                if let Some(approvals) = votes::vote(c, rollout_id, rev, voter, d, required)? {
                    return Ok(ApprovalProgress::Waiting {
                        approvals,
                        required,
                    });
                }
            }
            // The guard against a second decision is the `decided_at IS NULL` here,
            // checked and written in one statement under the write lock.
            let changed = c.execute(
                "UPDATE approvals SET decided_at = ?3, approved = ?4, decided_by = ?5, reason = ?6 \
                 WHERE rollout_id = ?1 AND rev = ?2 AND decided_at IS NULL AND deadline >= ?3",
                params![rollout_id, rev, d.decided_at, d.approved, d.by, d.reason],
            )?;
            if changed == 1 {
                return Ok(ApprovalProgress::Decided);
            }
            Err(refusal(rollout_id, &rollout, status))
        })
    }

    fn approval_votes(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Vec<ApprovalVote>, JournalError> {
        votes::votes_in(&self.conn(), rollout_id, rev)
    }

    fn issue_nonce(&self, rollout_id: &str, rev: &str, nonce: &str) -> Result<(), JournalError> {
        self.write(|c| votes::issue_nonce_in(c, rollout_id, rev, nonce))
    }

    fn take_nonce(
        &self,
        nonce: &str,
        rollout_id: &str,
        rev: &str,
        user: &str,
    ) -> Result<bool, JournalError> {
        self.write(|c| votes::take_nonce_in(c, nonce, rollout_id, rev, user))
    }

    fn approval_status(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Option<ApprovalStatus>, JournalError> {
        approval_in(&self.conn(), rollout_id, rev)
    }

    fn pending_approvals(&self) -> Result<Vec<PendingApproval>, JournalError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE decided_at IS NULL ORDER BY requested_at"
        ))?;
        let rows = stmt.query_map([], approval_row)?;
        rows.filter_map(|r| match r {
            Ok(ApprovalStatus::Pending(p)) => Some(Ok(p)),
            Ok(ApprovalStatus::Decided(_)) => None,
            Err(e) => Some(Err(e.into())),
        })
        .collect()
    }
}

/// One event in the caller's transaction: numbered, and the rollout's weight,
/// planner (after a hand-over) or end updated with it.
fn append_in(
    c: &Connection,
    rollout_id: &str,
    at: f64,
    event: &Event,
) -> Result<u64, JournalError> {
    let (kind, payload) = event_parts(event)?;
    require_running(c, rollout_id)?;
    let seq = insert_numbered(c, "events", rollout_id, at, &kind, &payload)?;
    match event {
        Event::WeightChanged { to, .. } => {
            c.execute(
                "UPDATE rollouts SET weight = ?2 WHERE id = ?1",
                params![rollout_id, to],
            )?;
        }
        Event::PlannerHandover { from, to, .. } => {
            c.execute(
                "UPDATE rollouts SET planner = ?2 WHERE id = ?1",
                params![rollout_id, crate::journal::handed_over(from, to)],
            )?;
        }
        Event::Finished {
            outcome,
            reason,
            weight,
        } => finish_in(c, rollout_id, *outcome, reason, *weight)?,
        _ => {}
    }
    Ok(seq)
}
