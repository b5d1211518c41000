//! Approvals: decided once, for their revision, before their deadline, also when two
//! handles race; and the `JournalApprover` that waits on another handle's decision.

use super::*;

pub fn an_approval_is_decided_once_for_its_revision_before_its_deadline(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    assert!(matches!(
        j.decide_approval("r1", REV, &decision(true, "alice", 10.0)),
        Err(JournalError::NoApprovalRequested(_))
    ));
    assert!(j.approval_status("r1", REV).unwrap().is_none());
    j.request_approval("r1", REV, "risky migration", 100.0, 1)
        .unwrap();
    assert!(
        matches!(j.approval_status("r1", REV).unwrap(), Some(ApprovalStatus::Pending(p)) if p.deadline == 100.0)
    );
    assert_eq!(j.pending_approvals().unwrap().len(), 1);

    let wrong = j.decide_approval("r1", "fedcba", &decision(true, "alice", 10.0));
    assert!(
        matches!(wrong, Err(JournalError::WrongRevision { ref pending, .. }) if pending == REV),
        "{wrong:?}"
    );
    let unknown = j.decide_approval("nope", REV, &decision(true, "alice", 10.0));
    assert!(matches!(unknown, Err(JournalError::NotFound(_))));

    j.decide_approval("r1", REV, &decision(true, "alice", 10.0))
        .unwrap();
    let second = j.decide_approval("r1", REV, &decision(false, "mallory", 11.0));
    let Err(JournalError::AlreadyDecided { decision: said, .. }) = second else {
        panic!("{second:?}")
    };
    assert!(said.contains("approved by alice"), "{said}");
    assert_eq!(
        j.approval_status("r1", REV).unwrap(),
        Some(ApprovalStatus::Decided(decision(true, "alice", 10.0)))
    );
    assert!(j.pending_approvals().unwrap().is_empty());
    // A second request (a restarted agent) joins the first and sees its decision.
    j.request_approval("r1", REV, "again", 500.0, 1).unwrap();
    assert!(matches!(
        j.approval_status("r1", REV).unwrap(),
        Some(ApprovalStatus::Decided(_))
    ));
}

pub fn an_answer_after_the_deadline_is_refused(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    j.request_approval("r1", REV, "s", 100.0, 1).unwrap();
    let late = j.decide_approval("r1", REV, &decision(true, "alice", 100.5));
    assert!(
        matches!(late, Err(JournalError::Expired { deadline, .. }) if deadline == 100.0),
        "{late:?}"
    );
}

/// Two handles (processes, replicas) see each other's writes, and when two of them
/// decide the same request at once from two threads exactly one decision stands.
pub fn two_handles_see_each_others_writes_and_decide_once(open: Open<'_>) {
    let agent = open();
    let operator = open();
    agent.begin(&record("r1")).unwrap();
    agent
        .append("r1", 0.0, &Event::WeightChanged { from: 0, to: 5 })
        .unwrap();
    assert_eq!(operator.rollout("r1").unwrap().weight, 5);
    agent.request_approval("r1", REV, "s", f64::MAX, 1).unwrap();
    assert_eq!(operator.pending_approvals().unwrap().len(), 1);
    let other = open();
    let barrier = std::sync::Barrier::new(2);
    let results: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| {
            barrier.wait();
            operator.decide_approval("r1", REV, &decision(true, "alice", 1.0))
        });
        let b = s.spawn(|| {
            barrier.wait();
            other.decide_approval("r1", REV, &decision(false, "bob", 1.0))
        });
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(JournalError::AlreadyDecided { .. }))));
    let winner = if results[0].is_ok() { "alice" } else { "bob" };
    let Some(ApprovalStatus::Decided(d)) = agent.approval_status("r1", REV).unwrap() else {
        panic!("not decided");
    };
    assert_eq!(
        d.by.as_deref(),
        Some(winner),
        "the stored decision is the winner's"
    );
    assert_eq!(
        agent
            .append("r1", 1.0, &Event::WeightChanged { from: 5, to: 25 })
            .unwrap(),
        2
    );
    assert_eq!(operator.events("r1").unwrap().len(), 2);
}

fn approval_request(timeout_seconds: u64) -> ApprovalRequest {
    ApprovalRequest {
        rollout_id: "r1".into(),
        service: "checkout".into(),
        rev: REV.into(),
        risk_score: 0.8,
        level: Level::High,
        reasons: vec![],
        summary: "please".into(),
        timeout_seconds,
        required_approvals: 1,
        go_on_at: None,
    }
}

/// Run inside a Tokio runtime, as the rollout loop calls the journal.
pub async fn journal_approver_returns_a_decision_made_by_another_handle(open: Open<'_>) {
    let journal = open();
    journal.begin(&record("r1")).unwrap();
    let approver = JournalApprover::new(journal);
    let operator = open();
    let decide = async {
        while operator.pending_approvals().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        operator
            .decide_approval("r1", REV, &decision(true, "alice", wall_now()))
            .unwrap();
    };
    let request = approval_request(60);
    let (answer, ()) = tokio::join!(approver.request(&request), decide);
    assert!(answer.approved);
    assert_eq!(answer.by.as_deref(), Some("alice"));
}

/// "Go on without a Pass?" is its own question: the rollout's approval does
/// not answer it, and the operator sees it pending under its own key.
pub async fn a_go_on_question_is_decided_apart_from_the_rollouts_approval(open: Open<'_>) {
    let journal = open();
    journal.begin(&record("r1")).unwrap();
    let approver = JournalApprover::new(journal);
    let operator = open();
    let start = approval_request(60);
    let approve_start = async {
        while operator.pending_approvals().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        operator
            .decide_approval("r1", REV, &decision(true, "alice", wall_now()))
            .unwrap();
    };
    let (answer, ()) = tokio::join!(approver.request(&start), approve_start);
    assert!(answer.approved);

    let go_on = ApprovalRequest {
        go_on_at: Some(5),
        ..approval_request(60)
    };
    let key = go_on.key();
    assert_ne!(key, REV);
    let refuse = async {
        let pending = loop {
            let pending = operator.pending_approvals().unwrap();
            if !pending.is_empty() {
                break pending;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].rev, key, "pending under the question's own key");
        operator
            .decide_approval("r1", &key, &decision(false, "bob", wall_now()))
            .unwrap();
    };
    let (answer, ()) = tokio::join!(approver.request(&go_on), refuse);
    assert!(
        !answer.approved,
        "the earlier approval must not answer the go-on question"
    );
    assert_eq!(answer.by.as_deref(), Some("bob"));
}

pub async fn journal_approver_times_out_and_refuses_a_late_answer(open: Open<'_>) {
    let journal = open();
    journal.begin(&record("r1")).unwrap();
    let clock = Arc::new(VirtualClock::new(1_000.0));
    let approver = JournalApprover::with_clock(journal.clone(), clock.clone());
    let pass_deadline = async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        clock.advance(31.0);
    };
    let request = approval_request(30);
    let (answer, ()) = tokio::join!(approver.request(&request), pass_deadline);
    assert!(!answer.approved);
    assert_eq!(answer.reason, "approval timed out after 30s");
    let late = journal.decide_approval("r1", REV, &decision(true, "alice", clock.now()));
    assert!(
        matches!(late, Err(JournalError::AlreadyDecided { .. })),
        "{late:?}"
    );
}
