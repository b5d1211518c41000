//! The refusals every backend gives, in one place, so the same mistake gets the
//! same typed error whether the journal is a SQLite file or a Postgres database.

use super::{ApprovalStatus, JournalError, RolloutRecord};

/// `begin` with an id already in the journal.
pub(crate) fn duplicate_rollout(id: &str) -> JournalError {
    JournalError::Conflict(format!(
        "rollout `{id}` is already in the journal: rollout ids must be unique"
    ))
}

/// A write to a rollout that has ended.
/// Whether a rollout with this recorded outcome may still take events: one
/// without an outcome, or one whose rollback failed (it stays open until a
/// `resume` confirms the rollback).
pub(crate) fn still_open(outcome: Option<&str>) -> bool {
    outcome.is_none_or(|o| o == crate::rollout::state::Outcome::RollbackFailed.as_str())
}

pub(crate) fn already_finished(id: &str, outcome: &str) -> JournalError {
    JournalError::Conflict(format!(
        "rollout `{id}` already finished ({outcome}); nothing more can be recorded for it"
    ))
}

/// `applied` a second time for the same intent.
pub(crate) fn applied_twice(rollout_id: &str, seq: u64) -> JournalError {
    JournalError::Conflict(format!(
        "intent {seq} of rollout `{rollout_id}` is already marked applied"
    ))
}

/// No request for `rev`: `latest` is the revision of the rollout's latest request, if any.
pub(crate) fn wrong_request(rollout_id: &str, rev: &str, latest: Option<String>) -> JournalError {
    match latest {
        Some(pending) => JournalError::WrongRevision {
            rollout_id: rollout_id.into(),
            asked: rev.into(),
            pending,
        },
        None => JournalError::NoApprovalRequested(rollout_id.into()),
    }
}

/// Why a decision was not written: already decided, the rollout ended, or too late.
pub(crate) fn refusal(
    rollout_id: &str,
    rollout: &RolloutRecord,
    status: ApprovalStatus,
) -> JournalError {
    match (status, &rollout.outcome) {
        (ApprovalStatus::Decided(d), _) => JournalError::AlreadyDecided {
            rollout_id: rollout_id.into(),
            decision: d.describe(),
        },
        (ApprovalStatus::Pending(_), Some(outcome)) => JournalError::Conflict(format!(
            "rollout `{rollout_id}` already finished ({outcome}); its approval no longer matters"
        )),
        (ApprovalStatus::Pending(p), None) => JournalError::Expired {
            rollout_id: rollout_id.into(),
            deadline: p.deadline,
        },
    }
}
