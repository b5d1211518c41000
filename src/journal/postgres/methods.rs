//! [`Journal`] for [`PostgresJournal`]: each method owns its arguments (a call may
//! run again after the server rolled it back), then runs the statements of
//! [`rollouts`], [`approvals`], [`votes`] or [`leases`] in one transaction (a
//! write) or on one connection (a read).

use serde_json::Value;

use super::rollouts::{self, Append};
use super::rows::{approval_in, require_rollout};
use super::{approvals, leases, votes, PostgresJournal};
use crate::journal::{
    event_parts, ApprovalDecision, ApprovalProgress, ApprovalStatus, ApprovalVote, Fence, Intent,
    Journal, JournalError, Lease, LeaseRequest, PendingApproval, RolloutRecord, StoredEvent,
};
use crate::rollout::events::Event;
use crate::rollout::state::Outcome;

impl PostgresJournal {
    /// An event, checked against `fence` first when one is given, in one transaction.
    fn append_checked(
        &self,
        fence: Option<&Fence>,
        rollout_id: &str,
        at: f64,
        event: &Event,
    ) -> Result<u64, JournalError> {
        let (kind, payload) = event_parts(event)?;
        let append = Append {
            fence: fence.cloned(),
            rollout_id: rollout_id.to_string(),
            at,
            kind,
            payload,
            event: event.clone(),
        };
        self.write(append, |c, a| Box::pin(rollouts::append(c, a)))
    }

    /// An intent, checked against `fence` first when one is given.
    fn intent_checked(
        &self,
        fence: Option<&Fence>,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        let args = (
            fence.cloned(),
            rollout_id.to_string(),
            kind.to_string(),
            payload,
        );
        self.write(args, move |c, (fence, id, kind, payload)| {
            Box::pin(rollouts::intent(c, fence.as_ref(), id, at, kind, payload))
        })
    }
}

impl Journal for PostgresJournal {
    fn begin(&self, r: &RolloutRecord) -> Result<(), JournalError> {
        self.write(r.clone(), |c, r| Box::pin(rollouts::begin(c, r)))
    }

    fn append(&self, rollout_id: &str, at: f64, event: &Event) -> Result<u64, JournalError> {
        self.append_checked(None, rollout_id, at, event)
    }

    fn intent(
        &self,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        self.intent_checked(None, rollout_id, at, kind, payload)
    }

    fn append_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        event: &Event,
    ) -> Result<u64, JournalError> {
        self.append_checked(Some(fence), rollout_id, at, event)
    }

    fn intent_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        self.intent_checked(Some(fence), rollout_id, at, kind, payload)
    }

    fn acquire_lease(&self, req: &LeaseRequest) -> Result<Lease, JournalError> {
        self.write(req.clone(), |c, req| Box::pin(leases::acquire(c, req)))
    }

    fn renew_lease(&self, fence: &Fence, ttl: f64, now: f64) -> Result<Lease, JournalError> {
        self.write(fence.clone(), move |c, fence| {
            Box::pin(leases::renew(c, fence, ttl, now))
        })
    }

    fn release_lease(&self, fence: &Fence) -> Result<(), JournalError> {
        self.write(fence.clone(), |c, fence| {
            Box::pin(leases::release(c, fence))
        })
    }

    fn leases(&self) -> Result<Vec<Lease>, JournalError> {
        self.read((), |c, ()| Box::pin(leases::all(c)))
    }

    fn claim_merge(
        &self,
        delivery_id: &str,
        detail: &str,
        rev: &str,
        services: &[String],
        now: f64,
    ) -> Result<Option<Vec<String>>, JournalError> {
        let args = (
            delivery_id.to_string(),
            detail.to_string(),
            rev.to_string(),
            services.to_vec(),
        );
        self.write(args, move |c, (id, detail, rev, services)| {
            Box::pin(leases::claim_merge(c, id, detail, rev, services, now))
        })
    }

    fn set_approval_message(
        &self,
        rollout_id: &str,
        rev: &str,
        message: &str,
    ) -> Result<(), JournalError> {
        let args = (rollout_id.to_string(), rev.to_string(), message.to_string());
        self.write(args, |c, (id, rev, message)| {
            Box::pin(leases::set_message(c, id, rev, message))
        })
    }

    fn approval_message(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Option<String>, JournalError> {
        let args = (rollout_id.to_string(), rev.to_string());
        self.read(args, |c, (id, rev)| Box::pin(leases::message(c, id, rev)))
    }

    fn applied(
        &self,
        rollout_id: &str,
        intent_seq: u64,
        ok: bool,
        detail: &str,
    ) -> Result<(), JournalError> {
        let args = (rollout_id.to_string(), detail.to_string());
        self.write(args, move |c, (id, detail)| {
            Box::pin(rollouts::applied(c, id, intent_seq, ok, detail))
        })
    }

    fn finish(
        &self,
        rollout_id: &str,
        outcome: Outcome,
        reason: &str,
        weight: u8,
    ) -> Result<(), JournalError> {
        let args = (rollout_id.to_string(), reason.to_string());
        self.write(args, move |c, (id, reason)| {
            Box::pin(super::rows::finish_in(c, id, outcome, reason, weight))
        })
    }

    fn rollout(&self, id: &str) -> Result<RolloutRecord, JournalError> {
        self.read(id.to_string(), |c, id| Box::pin(require_rollout(c, id)))
    }

    fn list(
        &self,
        service: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RolloutRecord>, JournalError> {
        self.read(service.map(str::to_string), move |c, service| {
            Box::pin(rollouts::list(c, service.as_deref(), limit))
        })
    }

    fn events(&self, rollout_id: &str) -> Result<Vec<StoredEvent>, JournalError> {
        self.read(rollout_id.to_string(), |c, id| {
            Box::pin(rollouts::events(c, id))
        })
    }

    fn unfinished(&self) -> Result<Vec<RolloutRecord>, JournalError> {
        self.read((), |c, ()| Box::pin(rollouts::unfinished(c)))
    }

    fn open_intents(&self, rollout_id: &str) -> Result<Vec<Intent>, JournalError> {
        self.read(rollout_id.to_string(), |c, id| {
            Box::pin(rollouts::open_intents(c, id))
        })
    }

    fn request_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        summary: &str,
        deadline_wall: f64,
        required: u32,
    ) -> Result<(), JournalError> {
        let args = (rollout_id.to_string(), rev.to_string(), summary.to_string());
        self.write(args, move |c, (id, rev, summary)| {
            Box::pin(approvals::request(
                c,
                id,
                rev,
                summary,
                deadline_wall,
                required,
            ))
        })
    }

    fn decide_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        d: &ApprovalDecision,
    ) -> Result<ApprovalProgress, JournalError> {
        let args = (rollout_id.to_string(), rev.to_string(), d.clone());
        self.write(args, |c, (id, rev, d)| {
            Box::pin(approvals::decide(c, id, rev, d))
        })
    }

    fn approval_votes(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Vec<ApprovalVote>, JournalError> {
        let args = (rollout_id.to_string(), rev.to_string());
        self.read(args, |c, (id, rev)| Box::pin(votes::votes_in(c, id, rev)))
    }

    fn issue_nonce(&self, rollout_id: &str, rev: &str, nonce: &str) -> Result<(), JournalError> {
        let args = (rollout_id.to_string(), rev.to_string(), nonce.to_string());
        self.write(args, |c, (id, rev, nonce)| {
            Box::pin(votes::issue_nonce_in(c, id, rev, nonce))
        })
    }

    fn take_nonce(
        &self,
        nonce: &str,
        rollout_id: &str,
        rev: &str,
        user: &str,
    ) -> Result<bool, JournalError> {
        let args = (
            nonce.to_string(),
            rollout_id.to_string(),
            rev.to_string(),
            user.to_string(),
        );
        self.write(args, |c, (nonce, id, rev, user)| {
            Box::pin(votes::take_nonce_in(c, nonce, id, rev, user))
        })
    }

    fn approval_status(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Option<ApprovalStatus>, JournalError> {
        let args = (rollout_id.to_string(), rev.to_string());
        self.read(args, |c, (id, rev)| {
            Box::pin(approval_in(c, id, rev, false))
        })
    }

    fn pending_approvals(&self) -> Result<Vec<PendingApproval>, JournalError> {
        self.read((), |c, ()| Box::pin(approvals::pending(c)))
    }
}
