//! The records the journal stores and returns: rollouts, their numbered events and
//! intents, approvals with their votes and decisions. Plain data, serializable
//! because `history`/`show --format json` print them.

use serde::Serialize;
use serde_json::Value;

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
    /// `promoted`, `rolled_back`, `aborted` ([`Outcome::as_str`](crate::rollout::state::Outcome::as_str)).
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

/// What [`Journal::decide_approval`](super::Journal::decide_approval) did.
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
