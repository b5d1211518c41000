//! What every journal backend must do, as functions over a way to open handles on
//! one store. The SQLite unit tests (`journal::tests`) and the Postgres integration
//! tests (`tests/it/journal_postgres.rs`, which includes this file) run the same
//! checks, so both backends give the same answers and the same typed errors.
//!
//! `open` returns a new handle on the same store each time: a second process, a
//! second replica. The includer brings the names into scope (`use super::*`).
#![allow(dead_code)] // each includer runs the checks that fit it

use super::*;

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

pub fn events_are_numbered_in_order_and_finished_ends_the_rollout(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    let events = [
        Event::WeightChanged { from: 0, to: 5 },
        Event::Judged {
            weight: 5,
            verdict: verdict(VerdictKind::Pass),
        },
        Event::WeightChanged { from: 5, to: 25 },
    ];
    let seqs: Vec<u64> = events
        .iter()
        .enumerate()
        .map(|(i, e)| j.append("r1", i as f64 * 10.0, e).unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(
        j.rollout("r1").unwrap().weight,
        25,
        "weight follows WeightChanged"
    );
    assert_eq!(j.unfinished().unwrap().len(), 1);

    assert_eq!(
        j.append("r1", 40.0, &finished(Outcome::Promoted, 100))
            .unwrap(),
        4
    );
    let stored = j.events("r1").unwrap();
    let kinds: Vec<&str> = stored.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["weight_changed", "judged", "weight_changed", "finished"]
    );
    assert_eq!(stored[2].payload, serde_json::json!({"from": 5, "to": 25}));
    assert_eq!(stored[1].at, 10.0);
    let r = j.rollout("r1").unwrap();
    assert_eq!(r.outcome.as_deref(), Some("promoted"));
    assert_eq!(
        (r.weight, r.reason.as_deref()),
        (100, Some("all steps passed"))
    );
    assert!(r.finished_at.is_some());
    assert!(j.unfinished().unwrap().is_empty());

    let after = j.append("r1", 50.0, &Event::WeightChanged { from: 0, to: 5 });
    assert!(matches!(after, Err(JournalError::Conflict(_))), "{after:?}");
    let twice = j.finish("r1", Outcome::Aborted, "again", 0);
    assert!(matches!(twice, Err(JournalError::Conflict(_))), "{twice:?}");
}

pub fn a_failed_rollback_keeps_the_rollout_open_until_resume_finishes_it(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    j.append("r1", 1.0, &Event::WeightChanged { from: 0, to: 25 })
        .unwrap();
    j.append("r1", 2.0, &finished(Outcome::RollbackFailed, 25))
        .unwrap();
    let r = j.rollout("r1").unwrap();
    assert_eq!(r.outcome.as_deref(), Some("rollback_failed"));
    assert_eq!(r.weight, 25, "the record says what still serves");
    assert!(r.finished_at.is_none(), "still open");
    let open_ids: Vec<String> = j.unfinished().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(open_ids, ["r1"], "resume must find it");
    // `resume` appends to it and finishes it for good.
    j.append("r1", 3.0, &Event::WeightChanged { from: 25, to: 0 })
        .unwrap();
    j.append("r1", 3.0, &finished(Outcome::RolledBack, 0))
        .unwrap();
    let r = j.rollout("r1").unwrap();
    assert_eq!(r.outcome.as_deref(), Some("rolled_back"));
    assert!(r.finished_at.is_some());
    assert!(j.unfinished().unwrap().is_empty());
}

pub fn unknown_and_duplicate_rollouts_are_typed_errors(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    assert!(matches!(
        j.begin(&record("r1")),
        Err(JournalError::Conflict(_))
    ));
    let e = Event::WeightChanged { from: 0, to: 5 };
    assert!(matches!(j.append("nope", 0.0, &e), Err(JournalError::NotFound(id)) if id == "nope"));
    assert!(matches!(j.rollout("nope"), Err(JournalError::NotFound(_))));
    assert!(matches!(j.events("nope"), Err(JournalError::NotFound(_))));
    assert!(matches!(
        j.open_intents("nope"),
        Err(JournalError::NotFound(_))
    ));
    assert!(matches!(
        j.finish("nope", Outcome::Aborted, "x", 0),
        Err(JournalError::NotFound(_))
    ));
}

pub fn history_lists_newest_first_and_filters_by_service(open: Open<'_>) {
    let j = open();
    for (i, service) in ["checkout", "search", "checkout"].iter().enumerate() {
        let mut r = record(&format!("r{i}"));
        r.service = service.to_string();
        r.started_at += i as f64;
        j.begin(&r).unwrap();
    }
    let ids = |rs: Vec<RolloutRecord>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(j.list(None, 10).unwrap()), ["r2", "r1", "r0"]);
    assert_eq!(ids(j.list(Some("checkout"), 10).unwrap()), ["r2", "r0"]);
    assert_eq!(ids(j.list(None, 1).unwrap()), ["r2"]);
    assert_eq!(j.rollout("r1").unwrap().service, "search");
}

pub fn intents_stay_open_until_applied(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    let a = j
        .intent("r1", 0.0, "set_weight", serde_json::json!({"weight": 5}))
        .unwrap();
    let b = j
        .intent("r1", 60.0, "set_weight", serde_json::json!({"weight": 25}))
        .unwrap();
    assert_eq!((a, b), (1, 2));
    j.applied("r1", a, true, "weight 5 read back").unwrap();
    let open_now = j.open_intents("r1").unwrap();
    assert_eq!(open_now.len(), 1);
    assert_eq!(
        (open_now[0].seq, &open_now[0].payload),
        (b, &serde_json::json!({"weight": 25}))
    );
    assert!(matches!(
        j.applied("r1", a, true, "again"),
        Err(JournalError::Conflict(_))
    ));
    assert!(matches!(
        j.applied("r1", 99, true, ""),
        Err(JournalError::IntentNotFound { seq: 99, .. })
    ));
    j.applied("r1", b, false, "target refused").unwrap();
    assert!(j.open_intents("r1").unwrap().is_empty());
}

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

/// Handles appending to one rollout at once from several threads get distinct
/// sequence numbers 1..=n, events and intents alike.
pub fn concurrent_appends_are_numbered_without_gaps(open: Open<'_>, handles: usize, each: usize) {
    open().begin(&record("r1")).unwrap();
    let journals: Vec<_> = (0..handles).map(|_| open()).collect();
    let seqs: Vec<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = journals
            .iter()
            .enumerate()
            .map(|(h, j)| {
                s.spawn(move || {
                    (0..each)
                        .map(|i| {
                            let e = Event::WeightChanged {
                                from: 0,
                                to: u8::try_from((h * each + i) % 100).unwrap_or(0),
                            };
                            j.append("r1", i as f64, &e).unwrap()
                        })
                        .chain((0..2).map(|_| {
                            j.intent("r1", 0.0, "set_weight", serde_json::json!({}))
                                .unwrap()
                                + 1_000_000
                        }))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let (mut events, mut intents): (Vec<u64>, Vec<u64>) =
        seqs.into_iter().partition(|s| *s < 1_000_000);
    events.sort_unstable();
    intents.sort_unstable();
    let n = (handles * each) as u64;
    assert_eq!(events, (1..=n).collect::<Vec<_>>(), "event numbers");
    let m = (handles * 2) as u64;
    assert_eq!(
        intents,
        (1..=m).map(|s| s + 1_000_000).collect::<Vec<_>>(),
        "intent numbers"
    );
    let stored: Vec<u64> = open().events("r1").unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(stored, (1..=n).collect::<Vec<_>>());
}

pub fn journal_sink_writes_the_rollout_row_and_its_end(open: Open<'_>) {
    let journal = open();
    let mut sink = JournalSink::new(journal.clone());
    sink.emit(0.0, &started("r1"));
    sink.emit(1.0, &Event::WeightChanged { from: 0, to: 5 });
    sink.emit(70.0, &finished(Outcome::RolledBack, 0));
    assert!(sink.error().is_none(), "{:?}", sink.error());
    let r = journal.rollout("r1").unwrap();
    assert_eq!(
        (r.service.as_str(), r.planner.as_str()),
        ("checkout", "playbook")
    );
    assert_eq!((r.outcome.as_deref(), r.weight), (Some("rolled_back"), 0));
    assert_eq!(journal.events("r1").unwrap().len(), 3);

    // The same id again: refused, and nothing lands in the first rollout's log.
    let mut again = JournalSink::new(journal.clone());
    again.emit(0.0, &started("r1"));
    again.emit(1.0, &Event::WeightChanged { from: 0, to: 5 });
    assert!(matches!(again.error(), Some(JournalError::Conflict(_))));
    assert_eq!(journal.events("r1").unwrap().len(), 3);
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

// Two-approver votes and button nonces.

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

fn lease_req(rollout: &str, holder: &str, now: f64) -> LeaseRequest {
    LeaseRequest {
        service: "checkout".into(),
        rollout_id: rollout.into(),
        holder: holder.into(),
        ttl: 30.0,
        now,
    }
}

pub fn a_lease_has_one_holder_and_a_takeover_fences_the_old_one(open: Open<'_>) {
    let a = open();
    let b = open();
    a.begin(&record("r1")).unwrap();
    let mine = a.acquire_lease(&lease_req("r1", "agent-a", 100.0)).unwrap();
    assert_eq!((mine.generation, mine.expires_at), (1, 130.0));
    // Live: nobody else gets it, for this rollout or another.
    let held = b.acquire_lease(&lease_req("r1", "agent-b", 110.0));
    assert!(
        matches!(&held, Err(JournalError::LeaseHeld { holder, .. }) if holder == "agent-a"),
        "{held:?}"
    );
    assert!(b.acquire_lease(&lease_req("r2", "agent-b", 110.0)).is_err());
    // Renewed by its holder; writes under it pass.
    let renewed = a.renew_lease(&mine.fence(), 30.0, 120.0).unwrap();
    assert_eq!((renewed.generation, renewed.expires_at), (1, 150.0));
    let moved = Event::WeightChanged { from: 0, to: 5 };
    a.append_fenced(&mine.fence(), "r1", 1.0, &moved).unwrap();
    a.intent_fenced(
        &mine.fence(),
        "r1",
        1.0,
        "set_weight",
        serde_json::json!({"to": 10}),
    )
    .unwrap();
    // Expired: another holder takes the same rollout over, one generation up.
    let taken = b.acquire_lease(&lease_req("r1", "agent-b", 151.0)).unwrap();
    assert_eq!((taken.generation, taken.holder.as_str()), (2, "agent-b"));
    // The old holder is fenced: no event, no intent, no renewal, no release.
    let seen = a.events("r1").unwrap().len();
    assert!(matches!(
        a.append_fenced(&mine.fence(), "r1", 2.0, &moved),
        Err(JournalError::Fenced { .. })
    ));
    assert!(matches!(
        a.intent_fenced(
            &mine.fence(),
            "r1",
            2.0,
            "set_weight",
            serde_json::json!({})
        ),
        Err(JournalError::Fenced { .. })
    ));
    assert!(matches!(
        a.renew_lease(&mine.fence(), 30.0, 152.0),
        Err(JournalError::Fenced { .. })
    ));
    assert!(a.release_lease(&mine.fence()).is_err());
    assert_eq!(a.events("r1").unwrap().len(), seen, "nothing written");
    assert_eq!(a.open_intents("r1").unwrap().len(), 1);
    // A new rollout waits while r1 is unfinished, even once its lease expired.
    let err = a
        .acquire_lease(&lease_req("r2", "agent-a", 500.0))
        .unwrap_err();
    assert!(err.to_string().contains("waits to be taken over"), "{err}");
    // Finished and released: the next rollout gets it, one generation up.
    b.append_fenced(&taken.fence(), "r1", 3.0, &finished(Outcome::RolledBack, 0))
        .unwrap();
    b.release_lease(&taken.fence()).unwrap();
    let next = a.acquire_lease(&lease_req("r2", "agent-a", 501.0)).unwrap();
    assert_eq!(next.generation, 3);
    let all = a.leases().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].rollout_id, "r2");
}

pub fn a_lease_is_granted_once_when_two_race_for_it(open: Open<'_>) {
    let handles: Vec<Arc<dyn Journal>> = (0..4).map(|_| open()).collect();
    let barrier = std::sync::Barrier::new(handles.len());
    let won: Vec<bool> = std::thread::scope(|s| {
        let tasks: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let req = lease_req(&format!("r{i}"), &format!("agent-{i}"), 10.0);
                    j.acquire_lease(&req).is_ok()
                })
            })
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
}

pub fn a_delivery_and_a_merge_are_claimed_once(open: Open<'_>) {
    let j = open();
    let services = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let push = j
        .claim_merge("d-1", "push abc", "abc", &services(&["checkout"]), 1.0)
        .unwrap();
    assert_eq!(push, Some(services(&["checkout"])));
    let again = j
        .claim_merge(
            "d-1",
            "push abc",
            "abc",
            &services(&["checkout", "cart"]),
            2.0,
        )
        .unwrap();
    assert_eq!(again, None, "a redelivery writes nothing");
    let pr = j
        .claim_merge(
            "d-2",
            "pull_request abc",
            "abc",
            &services(&["checkout", "cart"]),
            2.0,
        )
        .unwrap();
    assert_eq!(
        pr,
        Some(services(&["cart"])),
        "the pull_request of the same merge claims only what the push did not"
    );
    // Where an approval was posted, for whoever ends the rollout.
    j.begin(&record("r1")).unwrap();
    assert!(
        j.set_approval_message("r1", REV, "C1:1.2").is_err(),
        "no request yet"
    );
    j.request_approval("r1", REV, "s", f64::MAX, 1).unwrap();
    assert_eq!(j.approval_message("r1", REV).unwrap(), None);
    j.set_approval_message("r1", REV, "C1:1.2").unwrap();
    assert_eq!(
        j.approval_message("r1", REV).unwrap().as_deref(),
        Some("C1:1.2")
    );
}
