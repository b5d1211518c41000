//! What every journal backend must do, as functions over a way to open handles on
//! one store. The SQLite unit tests (`journal::tests`) and the Postgres integration
//! tests (`tests/it/journal_postgres.rs`, which includes this directory) run the same
//! checks, so both backends give the same answers and the same typed errors.
//!
//! `open` returns a new handle on the same store each time: a second process, a
//! second replica. The includer brings the names into scope (`use super::*`); the
//! checks live in one file per concern and are re-exported here by name, so an includer
//! calls every one as `conformance::NAME` (a glob would clash with the includer's
//! tests, which are named after the checks and come in through `use super::*`).
#![allow(dead_code)] // each includer runs the checks that fit it

use super::*;

mod approvals;
mod leases;
mod rollouts;
mod votes;

pub use approvals::{
    a_go_on_question_is_decided_apart_from_the_rollouts_approval,
    an_answer_after_the_deadline_is_refused,
    an_approval_is_decided_once_for_its_revision_before_its_deadline,
    journal_approver_returns_a_decision_made_by_another_handle,
    journal_approver_times_out_and_refuses_a_late_answer,
    two_handles_see_each_others_writes_and_decide_once,
};
pub use leases::{
    a_delivery_and_a_merge_are_claimed_once,
    a_lease_has_one_holder_and_a_takeover_fences_the_old_one,
    a_lease_is_granted_once_when_two_race_for_it,
};
pub use rollouts::{
    a_failed_rollback_keeps_the_rollout_open_until_resume_finishes_it,
    a_planner_handover_renames_the_rollouts_planner, concurrent_appends_are_numbered_without_gaps,
    events_are_numbered_in_order_and_finished_ends_the_rollout,
    history_lists_newest_first_and_filters_by_service, intents_stay_open_until_applied,
    journal_sink_writes_the_rollout_row_and_its_end,
    unknown_and_duplicate_rollouts_are_typed_errors,
};
pub use votes::{
    a_nonce_is_bound_to_its_rollout_and_revision_and_taken_once_per_user,
    a_rejection_decides_at_once_even_after_a_first_approval,
    a_timeout_decides_a_half_approved_request,
    a_vote_after_the_deadline_is_refused_and_not_recorded,
    one_approver_is_the_default_and_zero_is_stored_as_one,
    two_approvers_decide_only_when_two_distinct_people_approved,
};

/// Opens another handle on the store under test.
pub type Open<'a> = &'a (dyn Fn() -> Arc<dyn Journal> + Sync);

pub const REV: &str = "0123456789abcdef";

pub fn record(id: &str) -> RolloutRecord {
    RolloutRecord {
        id: id.into(),
        service: "checkout".into(),
        rev: REV.into(),
        target: "sim:healthy".into(),
        planner: "playbook".into(),
        started_at: 1_700_000_000.0,
        finished_at: None,
        outcome: None,
        weight: 0,
        reason: None,
    }
}

pub fn verdict(kind: VerdictKind) -> Verdict {
    Verdict {
        kind,
        checks: vec![],
        canary_requests: 1200,
        baseline_requests: 4800,
        summary: "error rate 0.4% vs 0.5%".into(),
        harm: None,
    }
}

pub fn finished(outcome: Outcome, weight: u8) -> Event {
    Event::Finished {
        outcome,
        reason: "all steps passed".into(),
        weight,
    }
}

pub fn decision(approved: bool, by: &str, at: f64) -> ApprovalDecision {
    ApprovalDecision {
        approved,
        by: Some(by.into()),
        reason: "looks fine".into(),
        decided_at: at,
    }
}

fn started(id: &str) -> Event {
    Event::Started {
        rollout_id: id.into(),
        service: "checkout".into(),
        rev: REV.into(),
        target: "sim:healthy".into(),
        planner: "playbook".into(),
    }
}
