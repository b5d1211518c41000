//! Two-approver votes and button nonces: the rules a port of the journal to
//! another store must keep.

use super::*;

const REV: &str = "0123456789abcdef";

fn journal_with_request(required: u32) -> (tempfile::TempDir, SqliteJournal) {
    let (dir, path) = temp();
    let j = open(&path);
    j.begin(&record("r1")).unwrap();
    j.request_approval("r1", REV, "risky", 100.0, required)
        .unwrap();
    (dir, j)
}

fn pending_required(j: &SqliteJournal) -> u32 {
    match j.approval_status("r1", REV).unwrap() {
        Some(ApprovalStatus::Pending(p)) => p.required,
        other => panic!("{other:?}"),
    }
}

#[test]
fn two_approvers_decide_only_when_two_distinct_people_approved() {
    let (_dir, j) = journal_with_request(2);
    assert_eq!(pending_required(&j), 2);
    assert_eq!(
        j.decide_approval("r1", REV, &decision(true, "alice", 10.0))
            .unwrap(),
        ApprovalProgress::Waiting {
            approvals: 1,
            required: 2
        }
    );
    let again = j.decide_approval("r1", REV, &decision(true, "alice", 11.0));
    assert!(
        matches!(again, Err(JournalError::AlreadyVoted { ref voter, required: 2, .. }) if voter == "alice"),
        "{again:?}"
    );
    assert_eq!(pending_required(&j), 2, "still pending");
    assert_eq!(
        j.decide_approval("r1", REV, &decision(true, "bob", 12.0))
            .unwrap(),
        ApprovalProgress::Decided
    );
    let Some(ApprovalStatus::Decided(d)) = j.approval_status("r1", REV).unwrap() else {
        panic!("not decided")
    };
    assert!(d.approved);
    assert_eq!(d.by.as_deref(), Some("bob"));
    let votes = j.approval_votes("r1", REV).unwrap();
    let who: Vec<_> = votes.iter().map(|v| (v.by.as_str(), v.approved)).collect();
    assert_eq!(who, [("alice", true), ("bob", true)]);
    assert!(matches!(
        j.decide_approval("r1", REV, &decision(true, "carol", 13.0)),
        Err(JournalError::AlreadyDecided { .. })
    ));
}

#[test]
fn a_rejection_decides_at_once_even_after_a_first_approval() {
    let (_dir, j) = journal_with_request(2);
    j.decide_approval("r1", REV, &decision(true, "alice", 10.0))
        .unwrap();
    assert_eq!(
        j.decide_approval("r1", REV, &decision(false, "alice", 11.0))
            .unwrap(),
        ApprovalProgress::Decided,
        "changing one's mind to no is allowed and final"
    );
    assert!(matches!(
        j.approval_status("r1", REV).unwrap(),
        Some(ApprovalStatus::Decided(ApprovalDecision {
            approved: false,
            ..
        }))
    ));
    let votes = j.approval_votes("r1", REV).unwrap();
    assert_eq!(votes.len(), 1);
    assert!(!votes[0].approved);
}

#[test]
fn a_timeout_decides_a_half_approved_request() {
    let (_dir, j) = journal_with_request(2);
    j.decide_approval("r1", REV, &decision(true, "alice", 10.0))
        .unwrap();
    let timeout = ApprovalDecision {
        approved: false,
        by: None,
        reason: "approval timed out".into(),
        decided_at: 100.0,
    };
    assert_eq!(
        j.decide_approval("r1", REV, &timeout).unwrap(),
        ApprovalProgress::Decided
    );
    let late = j.decide_approval("r1", REV, &decision(true, "bob", 101.0));
    assert!(
        matches!(late, Err(JournalError::AlreadyDecided { .. })),
        "{late:?}"
    );
}

#[test]
fn a_vote_after_the_deadline_is_refused_and_not_recorded() {
    let (_dir, j) = journal_with_request(2);
    let late = j.decide_approval("r1", REV, &decision(true, "alice", 100.5));
    assert!(
        matches!(late, Err(JournalError::Expired { .. })),
        "{late:?}"
    );
    assert!(j.approval_votes("r1", REV).unwrap().is_empty());
}

#[test]
fn one_approver_is_the_default_and_zero_is_stored_as_one() {
    let (_dir, path) = temp();
    let j = open(&path);
    j.begin(&record("r1")).unwrap();
    j.request_approval("r1", REV, "s", 100.0, 0).unwrap();
    assert_eq!(pending_required(&j), 1);
    assert_eq!(
        j.decide_approval("r1", REV, &decision(true, "alice", 10.0))
            .unwrap(),
        ApprovalProgress::Decided
    );
}

#[test]
fn a_nonce_is_bound_to_its_rollout_and_revision_and_taken_once_per_user() {
    let (_dir, path) = temp();
    let j = open(&path);
    j.begin(&record("r1")).unwrap();
    j.begin(&record("r2")).unwrap();
    j.issue_nonce("r1", REV, "n1").unwrap();
    assert!(matches!(
        j.issue_nonce("r1", REV, "n1"),
        Err(JournalError::Conflict(_))
    ));
    assert!(matches!(
        j.issue_nonce("nope", REV, "n2"),
        Err(JournalError::NotFound(_))
    ));
    assert!(
        !j.take_nonce("n1", "r2", REV, "U1").unwrap(),
        "other rollout"
    );
    assert!(
        !j.take_nonce("n1", "r1", "fedcba", "U1").unwrap(),
        "other rev"
    );
    assert!(!j.take_nonce("unknown", "r1", REV, "U1").unwrap());
    assert!(j.take_nonce("n1", "r1", REV, "U1").unwrap());
    assert!(
        !j.take_nonce("n1", "r1", REV, "U1").unwrap(),
        "replayed click"
    );
    assert!(
        j.take_nonce("n1", "r1", REV, "U2").unwrap(),
        "a second approver"
    );
    // Another handle (the serve process) sees the same nonces.
    let other = open(&path);
    assert!(!other.take_nonce("n1", "r1", REV, "U2").unwrap());
    assert!(other.take_nonce("n1", "r1", REV, "U3").unwrap());
}
