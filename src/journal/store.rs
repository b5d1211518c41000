//! The [`Journal`] trait: what every backend must do. It is the I/O boundary of the
//! journal; the rules that must hold across processes (decide once, one sequence per
//! rollout, fenced writes) are promised here and enforced by each store.

use serde_json::Value;

use super::{
    ApprovalDecision, ApprovalProgress, ApprovalStatus, ApprovalVote, Fence, Intent, JournalError,
    Lease, LeaseRequest, PendingApproval, RolloutRecord, StoredEvent,
};
use crate::rollout::events::Event;
use crate::rollout::state::Outcome;

/// A durable rollout journal. Methods are synchronous: the store is local and
/// each call is one short transaction.
pub trait Journal: Send + Sync {
    /// Records a new rollout. An id already in the journal is a [`JournalError::Conflict`].
    fn begin(&self, rollout: &RolloutRecord) -> Result<(), JournalError>;

    /// Appends an event and returns its sequence number. A `WeightChanged` updates the
    /// rollout's weight and a `Finished` finishes it, in the same transaction.
    fn append(&self, rollout_id: &str, at: f64, event: &Event) -> Result<u64, JournalError>;

    /// Records a side effect about to be made (write-ahead), returning its sequence
    /// number for [`Journal::applied`]. An intent never marked applied is what a
    /// resume must check on the target.
    fn intent(
        &self,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError>;

    /// Marks an intent applied (`ok`) or failed. Marking it twice is a conflict.
    fn applied(
        &self,
        rollout_id: &str,
        intent_seq: u64,
        ok: bool,
        detail: &str,
    ) -> Result<(), JournalError>;

    /// Ends a rollout. Finishing it twice is a conflict.
    fn finish(
        &self,
        rollout_id: &str,
        outcome: Outcome,
        reason: &str,
        weight: u8,
    ) -> Result<(), JournalError>;

    fn rollout(&self, id: &str) -> Result<RolloutRecord, JournalError>;

    /// Rollouts, newest first, optionally of one service.
    fn list(&self, service: Option<&str>, limit: usize)
        -> Result<Vec<RolloutRecord>, JournalError>;

    /// A rollout's events in order.
    fn events(&self, rollout_id: &str) -> Result<Vec<StoredEvent>, JournalError>;

    /// Rollouts without an end: still running, or their process died.
    fn unfinished(&self) -> Result<Vec<RolloutRecord>, JournalError>;

    /// Intents of a rollout not yet marked applied, in order.
    fn open_intents(&self, rollout_id: &str) -> Result<Vec<Intent>, JournalError>;

    /// Records that `rev` of a rollout waits for approval until `deadline_wall`,
    /// needing `required` distinct approvers (values below 1 are stored as 1). A
    /// second request for the same rollout and revision joins the first (whose
    /// deadline, requirement and decision stand), so a restarted agent sees an
    /// answer given meanwhile.
    fn request_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        summary: &str,
        deadline_wall: f64,
        required: u32,
    ) -> Result<(), JournalError>;

    /// Answers a pending request; the request is decided once. In one transaction:
    ///
    /// 1. Refused with a typed error, writing nothing: an unknown rollout
    ///    ([`JournalError::NotFound`]), no request ([`JournalError::NoApprovalRequested`]),
    ///    another revision's request ([`JournalError::WrongRevision`]), a decision already
    ///    made ([`JournalError::AlreadyDecided`]), a finished rollout
    ///    ([`JournalError::Conflict`]), or `decided_at` after the deadline
    ///    ([`JournalError::Expired`]).
    /// 2. `approved = false` (by anyone, or `by = None` for a timeout) decides the
    ///    request at once as rejected; a named rejection is also stored as a vote.
    /// 3. `approved = true` with `by = None` decides it at once (an unattended
    ///    approval, e.g. a test); with `by = Some(who)` it stores a vote keyed on
    ///    (rollout, rev, who). If `who` already voted: [`JournalError::AlreadyVoted`],
    ///    nothing written. Then, if the number of distinct approving voters reaches
    ///    the request's `required`, the request is decided as approved with this
    ///    decision's `by`, `reason` and `decided_at` ([`ApprovalProgress::Decided`]);
    ///    otherwise it stays pending ([`ApprovalProgress::Waiting`]).
    fn decide_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        decision: &ApprovalDecision,
    ) -> Result<ApprovalProgress, JournalError>;

    /// Every vote on the approval of `rev` of a rollout, oldest first (empty when
    /// none, including when no approval was requested).
    fn approval_votes(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Vec<ApprovalVote>, JournalError>;

    /// Records a one-time button secret `nonce` issued for `rev` of a rollout (the
    /// Slack buttons carry it). Issuing a nonce that already exists is a
    /// [`JournalError::Conflict`]; an unknown rollout is [`JournalError::NotFound`].
    fn issue_nonce(&self, rollout_id: &str, rev: &str, nonce: &str) -> Result<(), JournalError>;

    /// Spends `user`'s click on `nonce`, in one transaction: `Ok(true)` when the nonce
    /// was issued for exactly this `rollout_id` and `rev` and `user` has not clicked it
    /// before (the click is then recorded); `Ok(false)` otherwise (unknown nonce,
    /// another rollout or revision, or a repeated click by the same user), writing
    /// nothing. Different users may each click the same nonce once, so a message's
    /// buttons can collect two approvers.
    fn take_nonce(
        &self,
        nonce: &str,
        rollout_id: &str,
        rev: &str,
        user: &str,
    ) -> Result<bool, JournalError>;

    /// `None` when no approval was requested for this rollout and revision.
    fn approval_status(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Option<ApprovalStatus>, JournalError>;

    /// Requests not decided yet (including expired ones nobody recorded), oldest first.
    fn pending_approvals(&self) -> Result<Vec<PendingApproval>, JournalError>;

    // === leases (see `lease`): one owner per service ===

    /// Grants `req.service`'s lease to `req.rollout_id` and `req.holder` when it
    /// is free, released, expired (a takeover of the same rollout bumps the
    /// generation), or already theirs (renewed); else [`JournalError::LeaseHeld`].
    /// A new rollout is refused while another rollout of the service is
    /// unfinished, even when that one's lease expired.
    fn acquire_lease(&self, req: &LeaseRequest) -> Result<Lease, JournalError>;

    /// Extends the lease `fence` holds to `now + ttl`; [`JournalError::Fenced`]
    /// when another holder or generation has it now.
    fn renew_lease(&self, fence: &Fence, ttl: f64, now: f64) -> Result<Lease, JournalError>;

    /// Frees the lease `fence` holds (the generation stays, for the next grant);
    /// a stale fence is [`JournalError::Fenced`] and changes nothing.
    fn release_lease(&self, fence: &Fence) -> Result<(), JournalError>;

    /// Every service's lease row (released ones included), by service.
    fn leases(&self) -> Result<Vec<Lease>, JournalError>;

    /// [`Journal::append`] made only while `fence` holds the lease, in the same
    /// transaction (else [`JournalError::Fenced`], nothing written).
    fn append_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        event: &Event,
    ) -> Result<u64, JournalError>;

    /// [`Journal::intent`] made only while `fence` holds the lease.
    fn intent_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError>;

    // === exactly one rollout per merge ===

    /// Claims a webhook delivery and, for it, the rollout of `rev` onto each of
    /// `services`, in one transaction: `None` when the delivery id was seen
    /// before (a redelivery; nothing written), else the services whose rollout
    /// of `rev` no earlier delivery claimed (the push and the merged
    /// pull_request of one merge claim it once between them).
    fn claim_merge(
        &self,
        delivery_id: &str,
        detail: &str,
        rev: &str,
        services: &[String],
        now: f64,
    ) -> Result<Option<Vec<String>>, JournalError>;

    // === where an approval was asked, for whoever ends the rollout ===

    /// Records where the approval of `rev` was posted (e.g. Slack `channel:ts`).
    fn set_approval_message(
        &self,
        rollout_id: &str,
        rev: &str,
        message: &str,
    ) -> Result<(), JournalError>;

    /// Where the approval of `rev` was posted, if anywhere.
    fn approval_message(&self, rollout_id: &str, rev: &str)
        -> Result<Option<String>, JournalError>;
}
