//! Several approvers' votes and the one-time button nonces: a request needs
//! `required` distinct people, a rejection or a timeout decides at once, and a nonce
//! is taken once per user for its own rollout and revision.

use super::*;

fn journal_with_request(open: Open<'_>, required: u32) -> Arc<dyn Journal> {
    let j = open();
    j.begin(&record("r1")).unwrap();
    j.request_approval("r1", REV, "risky", 100.0, required)
        .unwrap();
    j
}

fn pending_required(j: &dyn Journal) -> u32 {
    match j.approval_status("r1", REV).unwrap() {
        Some(ApprovalStatus::Pending(p)) => p.required,
        other => panic!("{other:?}"),
    }
}

pub fn two_approvers_decide_only_when_two_distinct_people_approved(open: Open<'_>) {
    let j = journal_with_request(open, 2);
    assert_eq!(pending_required(&*j), 2);
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
    assert_eq!(pending_required(&*j), 2, "still pending");
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

pub fn a_rejection_decides_at_once_even_after_a_first_approval(open: Open<'_>) {
    let j = journal_with_request(open, 2);
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

pub fn a_timeout_decides_a_half_approved_request(open: Open<'_>) {
    let j = journal_with_request(open, 2);
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

pub fn a_vote_after_the_deadline_is_refused_and_not_recorded(open: Open<'_>) {
    let j = journal_with_request(open, 2);
    let late = j.decide_approval("r1", REV, &decision(true, "alice", 100.5));
    assert!(
        matches!(late, Err(JournalError::Expired { .. })),
        "{late:?}"
    );
    assert!(j.approval_votes("r1", REV).unwrap().is_empty());
}

pub fn one_approver_is_the_default_and_zero_is_stored_as_one(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    j.request_approval("r1", REV, "s", 100.0, 0).unwrap();
    assert_eq!(pending_required(&*j), 1);
    assert_eq!(
        j.decide_approval("r1", REV, &decision(true, "alice", 10.0))
            .unwrap(),
        ApprovalProgress::Decided
    );
}

pub fn a_nonce_is_bound_to_its_rollout_and_revision_and_taken_once_per_user(open: Open<'_>) {
    let j = open();
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
    let other = open();
    assert!(!other.take_nonce("n1", "r1", REV, "U2").unwrap());
    assert!(other.take_nonce("n1", "r1", REV, "U3").unwrap());
}
