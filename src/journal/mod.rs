//! The journal: a durable record of every rollout, its events, its write-ahead
//! intents and its approvals.
//!
//! One trait at the I/O boundary ([`Journal`]) and one file per backend:
//! [`sqlite`] (one machine) and [`postgres`] (several replicas); [`open`] picks one
//! from the location the user gave. Several processes share one journal: the agent writes a
//! rollout while `deploy-agent approve` decides its approval from another shell,
//! so every rule that must hold across processes (decide once, one sequence per
//! rollout) is enforced by the store, not by the caller.
//!
//! Events are stored as the JSON the rest of the crate already emits
//! ([`Event`] serializes with an `event` tag); they are never read back into
//! [`Event`], only into [`StoredEvent`] values.

pub mod keeper;
pub mod lease;
pub mod postgres;
mod rules;
pub mod sink;
pub mod sqlite;
pub mod timeline;

#[cfg(test)]
mod tests;

pub use self::keeper::{LeaseKeeper, LeaseTiming};
pub use self::lease::{holder_id, Fence, Lease, LeaseRequest};
pub use self::postgres::PostgresJournal;
pub use sink::JournalSink;
pub use sqlite::SqliteJournal;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::rollout::events::Event;
use crate::rollout::state::Outcome;

/// Where the journal lives when neither `--journal` nor `journal.path` says otherwise.
pub const DEFAULT_PATH: &str = ".deploy-agent/journal.db";

/// Opens the journal at `location`: a `postgres://` or `postgresql://` URL is a
/// Postgres database (several replicas share it), anything else a SQLite file path.
pub fn open(location: &str) -> Result<Arc<dyn Journal>, JournalError> {
    open_path(Path::new(location))
}

/// [`open`] for a location held as a path (`--journal`, `journal.path`).
pub fn open_path(location: &Path) -> Result<Arc<dyn Journal>, JournalError> {
    match location.to_str().filter(|l| self::postgres::is_url(l)) {
        Some(url) => Ok(Arc::new(PostgresJournal::open(url)?)),
        None => Ok(Arc::new(SqliteJournal::open(location)?)),
    }
}

/// Whether `location` is a database URL rather than a file (which may not exist yet).
pub fn is_database_url(location: &Path) -> bool {
    location.to_str().is_some_and(self::postgres::is_url)
}

/// Boxed source of a backend error, so the trait does not name a driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the journal could not do what was asked. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal at {path}: {source} (check the path and its permissions, or the server and URL; or pass --journal PATH|postgres://USER@HOST:PORT/DB)")]
    Open { path: String, source: BoxError },
    /// The journal's location names something that is not there or not allowed
    /// (a database to create, a login to fix): bad input, not a broken journal.
    #[error("{0}")]
    Setup(BoxError),
    #[error("journal schema migration to version {version} failed: {source} (the journal is unchanged at the previous version; check disk space and permissions)")]
    Migration { version: u32, source: BoxError },
    #[error("the journal has schema version {found} but this deploy-agent knows only up to {known}: upgrade deploy-agent to read it")]
    NewerSchema { found: u32, known: u32 },
    #[error(
        "the journal holds a malformed record: {0} (move the file aside to start a new journal)"
    )]
    Corrupt(String),
    #[error("no rollout `{0}` in the journal (see `deploy-agent history`)")]
    NotFound(String),
    #[error("no intent {seq} for rollout `{rollout_id}` in the journal")]
    IntentNotFound { rollout_id: String, seq: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("rollout `{0}` has no approval request in the journal (nothing to approve yet)")]
    NoApprovalRequested(String),
    #[error("rollout `{rollout_id}` asks approval for revision {pending}, not {asked}")]
    WrongRevision {
        rollout_id: String,
        asked: String,
        pending: String,
    },
    #[error("rollout `{rollout_id}` was already {decision}; a decision is final")]
    AlreadyDecided {
        rollout_id: String,
        /// e.g. `approved by alice: looks fine`.
        decision: String,
    },
    #[error("{voter} already approved rollout `{rollout_id}`; this approval needs {required} distinct approvers, so another person must approve")]
    AlreadyVoted {
        rollout_id: String,
        voter: String,
        required: u32,
    },
    #[error("the approval request of rollout `{rollout_id}` expired at {deadline} (unix seconds): a late answer is refused, start a new rollout")]
    Expired { rollout_id: String, deadline: f64 },
    #[error("journal sink got `{0}` before `started`: the rollout must emit Started first")]
    OutOfOrder(String),
    #[error("{}", lease_held(service, rollout_id, holder, *expires_in))]
    LeaseHeld {
        service: String,
        rollout_id: String,
        holder: String,
        /// Seconds until the lease expires (negative: expired that long ago).
        expires_in: f64,
    },
    #[error("the lease of service `{service}` at generation {generation} is no longer ours ({now}): another process took the rollout over; this one makes no further change")]
    Fenced {
        service: String,
        generation: u64,
        now: String,
    },
    #[error("journal storage error: {0} (another process may hold the journal locked; retry)")]
    Storage(BoxError),
}

fn lease_held(service: &str, rollout_id: &str, holder: &str, expires_in: f64) -> String {
    let state = if expires_in > 0.0 {
        format!("its lease is live for {expires_in:.0} s more")
    } else {
        format!(
            "its lease expired {:.0} s ago and waits to be taken over (by `deploy-agent resume` or any `serve` replica)",
            -expires_in
        )
    };
    format!(
        "service `{service}` is driven by rollout `{rollout_id}` ({holder}); {state}: wait for it to end, or see `deploy-agent show {rollout_id}`"
    )
}

/// One rollout, as listed by `history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutRecord {
    pub id: String,
    pub service: String,
    pub rev: String,
    pub target: String,
    pub planner: String,
    /// Wall time, unix seconds.
    pub started_at: f64,
    /// Wall time, unix seconds; `None` while running (or after a crash).
    pub finished_at: Option<f64>,
    /// `promoted`, `rolled_back`, `aborted` ([`Outcome::as_str`]).
    pub outcome: Option<String>,
    /// The canary weight: the latest while running, the final one when finished.
    pub weight: u8,
    pub reason: Option<String>,
}

/// One stored event of a rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub rollout_id: String,
    /// 1, 2, 3, … per rollout, in the order appended.
    pub seq: u64,
    /// Seconds on the rollout's clock (virtual in the simulator).
    pub at: f64,
    /// Wall time it was written, unix seconds.
    pub wall: f64,
    /// The event's tag, e.g. `weight_changed`.
    pub kind: String,
    /// The event's fields (its JSON without the tag).
    pub payload: Value,
}

/// A side effect announced before it was made and not yet marked applied: the
/// same numbered record as an event, its `kind` saying what was about to happen
/// (e.g. `set_weight`).
pub type Intent = StoredEvent;

/// An approval asked for and not decided yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingApproval {
    pub rollout_id: String,
    pub rev: String,
    /// Wall time, unix seconds.
    pub requested_at: f64,
    /// Wall time after which an answer is refused (silence is a rejection).
    pub deadline: f64,
    pub summary: String,
    /// Distinct approvers needed before it is approved (1 or, by policy, 2).
    pub required: u32,
}

/// One person's answer to an approval request, as recorded; an approval that
/// needs two approvers holds a vote per approver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalVote {
    pub by: String,
    pub approved: bool,
    pub reason: String,
    /// Wall time, unix seconds.
    pub at: f64,
}

/// What [`Journal::decide_approval`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ApprovalProgress {
    /// The request is decided by this call.
    Decided,
    /// An approval vote was recorded; `approvals` of `required` distinct
    /// approvers have approved so far, and the request is still pending.
    Waiting { approvals: u32, required: u32 },
}

/// A decision on an approval request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalDecision {
    pub approved: bool,
    /// Who decided; `None` when nobody did (a timeout).
    pub by: Option<String>,
    pub reason: String,
    /// Wall time, unix seconds.
    pub decided_at: f64,
}

impl ApprovalDecision {
    /// `approved by alice: reason`, for messages.
    pub fn describe(&self) -> String {
        let verb = if self.approved {
            "approved"
        } else {
            "rejected"
        };
        match &self.by {
            Some(by) => format!("{verb} by {by}: {}", self.reason),
            None => format!("{verb}: {}", self.reason),
        }
    }
}

/// Where an approval request stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending(PendingApproval),
    Decided(ApprovalDecision),
}

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

/// Splits an event into its tag and its fields, as stored.
pub fn event_parts(event: &Event) -> Result<(String, Value), JournalError> {
    let mut value =
        serde_json::to_value(event).map_err(|e| JournalError::Corrupt(e.to_string()))?;
    let kind = value
        .as_object_mut()
        .and_then(|o| o.remove("event"))
        .and_then(|t| t.as_str().map(str::to_string))
        .ok_or_else(|| JournalError::Corrupt("event without an `event` tag".into()))?;
    Ok((kind, value))
}

/// Unix seconds now (wall time, for records; rollouts keep their own clock in `at`).
pub fn wall_now() -> f64 {
    use crate::clock::Clock;
    crate::clock::SystemClock.now()
}
