//! A journal that is lost mid-rollout (a full disk, a database that went
//! away): it takes `writes` writes, then refuses every one after. Reads still
//! answer. The faulty-target evals use it to show that a forward change is
//! never made without its write-ahead record, and that a rollback is made
//! whatever the journal says.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::journal::{
    ApprovalDecision, ApprovalProgress, ApprovalStatus, ApprovalVote, Fence, Intent, Journal,
    JournalError, Lease, LeaseRequest, PendingApproval, RolloutRecord, StoredEvent,
};
use crate::rollout::events::Event;
use crate::rollout::state::Outcome;

pub struct FlakyJournal {
    inner: Arc<dyn Journal>,
    writes_left: AtomicI64,
    /// Once an event of this kind is appended, every later write fails.
    dies_after: Option<String>,
}

impl FlakyJournal {
    /// Takes `writes` writes, then refuses every one.
    pub fn new(inner: Arc<dyn Journal>, writes: u32) -> Self {
        Self {
            inner,
            writes_left: AtomicI64::new(i64::from(writes)),
            dies_after: None,
        }
    }

    /// Refuses every write after the first event of `kind` (e.g. `weight_changed`).
    pub fn dying_after(inner: Arc<dyn Journal>, kind: &str) -> Self {
        Self {
            inner,
            writes_left: AtomicI64::new(i64::MAX),
            dies_after: Some(kind.to_string()),
        }
    }

    fn write(&self) -> Result<(), JournalError> {
        if self.writes_left.fetch_sub(1, Ordering::SeqCst) > 0 {
            return Ok(());
        }
        Err(JournalError::Storage(
            "simulated: the journal is gone".into(),
        ))
    }
}

impl Journal for FlakyJournal {
    fn begin(&self, rollout: &RolloutRecord) -> Result<(), JournalError> {
        self.write()?;
        self.inner.begin(rollout)
    }

    fn append(&self, rollout_id: &str, at: f64, event: &Event) -> Result<u64, JournalError> {
        self.write()?;
        let seq = self.inner.append(rollout_id, at, event)?;
        let kind = crate::journal::event_parts(event).map(|(k, _)| k).ok();
        if self.dies_after.is_some() && self.dies_after == kind {
            self.writes_left.store(0, Ordering::SeqCst);
        }
        Ok(seq)
    }

    fn intent(
        &self,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        self.write()?;
        self.inner.intent(rollout_id, at, kind, payload)
    }

    fn applied(
        &self,
        rollout_id: &str,
        intent_seq: u64,
        ok: bool,
        detail: &str,
    ) -> Result<(), JournalError> {
        self.write()?;
        self.inner.applied(rollout_id, intent_seq, ok, detail)
    }

    fn finish(
        &self,
        rollout_id: &str,
        outcome: Outcome,
        reason: &str,
        weight: u8,
    ) -> Result<(), JournalError> {
        self.write()?;
        self.inner.finish(rollout_id, outcome, reason, weight)
    }

    fn rollout(&self, id: &str) -> Result<RolloutRecord, JournalError> {
        self.inner.rollout(id)
    }

    fn list(
        &self,
        service: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RolloutRecord>, JournalError> {
        self.inner.list(service, limit)
    }

    fn events(&self, rollout_id: &str) -> Result<Vec<StoredEvent>, JournalError> {
        self.inner.events(rollout_id)
    }

    fn unfinished(&self) -> Result<Vec<RolloutRecord>, JournalError> {
        self.inner.unfinished()
    }

    fn open_intents(&self, rollout_id: &str) -> Result<Vec<Intent>, JournalError> {
        self.inner.open_intents(rollout_id)
    }

    fn request_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        summary: &str,
        deadline_wall: f64,
        required: u32,
    ) -> Result<(), JournalError> {
        self.write()?;
        self.inner
            .request_approval(rollout_id, rev, summary, deadline_wall, required)
    }

    fn decide_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        decision: &ApprovalDecision,
    ) -> Result<ApprovalProgress, JournalError> {
        self.write()?;
        self.inner.decide_approval(rollout_id, rev, decision)
    }

    fn approval_votes(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Vec<ApprovalVote>, JournalError> {
        self.inner.approval_votes(rollout_id, rev)
    }

    fn issue_nonce(&self, rollout_id: &str, rev: &str, nonce: &str) -> Result<(), JournalError> {
        self.write()?;
        self.inner.issue_nonce(rollout_id, rev, nonce)
    }

    fn take_nonce(
        &self,
        nonce: &str,
        rollout_id: &str,
        rev: &str,
        user: &str,
    ) -> Result<bool, JournalError> {
        self.write()?;
        self.inner.take_nonce(nonce, rollout_id, rev, user)
    }

    fn approval_status(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Option<ApprovalStatus>, JournalError> {
        self.inner.approval_status(rollout_id, rev)
    }

    fn pending_approvals(&self) -> Result<Vec<PendingApproval>, JournalError> {
        self.inner.pending_approvals()
    }

    fn acquire_lease(&self, req: &LeaseRequest) -> Result<Lease, JournalError> {
        self.write()?;
        self.inner.acquire_lease(req)
    }

    fn renew_lease(&self, fence: &Fence, ttl: f64, now: f64) -> Result<Lease, JournalError> {
        self.write()?;
        self.inner.renew_lease(fence, ttl, now)
    }

    fn release_lease(&self, fence: &Fence) -> Result<(), JournalError> {
        self.write()?;
        self.inner.release_lease(fence)
    }

    fn leases(&self) -> Result<Vec<Lease>, JournalError> {
        self.inner.leases()
    }

    fn append_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        event: &Event,
    ) -> Result<u64, JournalError> {
        self.write()?;
        self.inner.append_fenced(fence, rollout_id, at, event)
    }

    fn intent_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        self.write()?;
        self.inner
            .intent_fenced(fence, rollout_id, at, kind, payload)
    }

    fn claim_merge(
        &self,
        delivery_id: &str,
        detail: &str,
        rev: &str,
        services: &[String],
        now: f64,
    ) -> Result<Option<Vec<String>>, JournalError> {
        self.write()?;
        self.inner
            .claim_merge(delivery_id, detail, rev, services, now)
    }

    fn set_approval_message(
        &self,
        rollout_id: &str,
        rev: &str,
        message: &str,
    ) -> Result<(), JournalError> {
        self.write()?;
        self.inner.set_approval_message(rollout_id, rev, message)
    }

    fn approval_message(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Option<String>, JournalError> {
        self.inner.approval_message(rollout_id, rev)
    }
}
