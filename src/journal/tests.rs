//! The journal against real SQLite files in temp dirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::sqlite::SCHEMA_VERSION;
use super::timeline::{render_history, render_timeline, utc};
use super::*;
use crate::approval::{ApprovalRequest, Approver, JournalApprover};
use crate::canary::{Verdict, VerdictKind};
use crate::clock::{Clock, VirtualClock};
use crate::guard::Rule;
use crate::policy::Level;
use crate::rollout::events::EventSink;

mod votes;

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/journal.db");
    (dir, path)
}

fn open(path: &Path) -> SqliteJournal {
    SqliteJournal::open(path).unwrap()
}

fn record(id: &str) -> RolloutRecord {
    RolloutRecord {
        id: id.into(),
        service: "checkout".into(),
        rev: "0123456789abcdef".into(),
        target: "sim:healthy".into(),
        planner: "playbook".into(),
        started_at: 1_700_000_000.0,
        finished_at: None,
        outcome: None,
        weight: 0,
        reason: None,
    }
}

fn verdict(kind: VerdictKind) -> Verdict {
    Verdict {
        kind,
        checks: vec![],
        canary_requests: 1200,
        baseline_requests: 4800,
        summary: "error rate 0.4% vs 0.5%".into(),
    }
}

fn finished(outcome: Outcome, weight: u8) -> Event {
    Event::Finished {
        outcome,
        reason: "all steps passed".into(),
        weight,
    }
}

fn decision(approved: bool, by: &str, at: f64) -> ApprovalDecision {
    ApprovalDecision {
        approved,
        by: Some(by.into()),
        reason: "looks fine".into(),
        decided_at: at,
    }
}

#[test]
fn migrates_an_empty_file_and_reopens_idempotently() {
    let (_dir, path) = temp();
    let j = open(&path);
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    j.begin(&record("r1")).unwrap();
    drop(j);
    let j = open(&path);
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(j.rollout("r1").unwrap(), record("r1"));
}

#[test]
fn refuses_a_journal_written_by_a_newer_binary() {
    let (_dir, path) = temp();
    drop(open(&path));
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);
    let err = SqliteJournal::open(&path).unwrap_err();
    assert!(
        matches!(err, JournalError::NewerSchema { found, known } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION)
    );
    assert!(err.to_string().contains("upgrade deploy-agent"), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_on_open() {
    let (dir, _) = temp();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, b"this is not sqlite, not even close; ".repeat(200)).unwrap();
    let err = SqliteJournal::open(&path).unwrap_err();
    assert!(matches!(err, JournalError::Open { .. }), "{err}");
}

#[test]
fn events_are_numbered_in_order_and_finished_ends_the_rollout() {
    let (_dir, path) = temp();
    let j = open(&path);
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
    assert_eq!(stored[2].payload, json!({"from": 5, "to": 25}));
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

#[test]
fn unknown_and_duplicate_rollouts_are_typed_errors() {
    let (_dir, path) = temp();
    let j = open(&path);
    j.begin(&record("r1")).unwrap();
    assert!(matches!(
        j.begin(&record("r1")),
        Err(JournalError::Conflict(_))
    ));
    let e = Event::WeightChanged { from: 0, to: 5 };
    assert!(matches!(j.append("nope", 0.0, &e), Err(JournalError::NotFound(id)) if id == "nope"));
    assert!(matches!(j.rollout("nope"), Err(JournalError::NotFound(_))));
    assert!(matches!(j.events("nope"), Err(JournalError::NotFound(_))));
}

#[test]
fn history_lists_newest_first_and_filters_by_service() {
    let (_dir, path) = temp();
    let j = open(&path);
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
}

#[test]
fn intents_stay_open_until_applied() {
    let (_dir, path) = temp();
    let j = open(&path);
    j.begin(&record("r1")).unwrap();
    let a = j
        .intent("r1", 0.0, "set_weight", json!({"weight": 5}))
        .unwrap();
    let b = j
        .intent("r1", 60.0, "set_weight", json!({"weight": 25}))
        .unwrap();
    assert_eq!((a, b), (1, 2));
    j.applied("r1", a, true, "weight 5 read back").unwrap();
    let open_now = j.open_intents("r1").unwrap();
    assert_eq!(open_now.len(), 1);
    assert_eq!(
        (open_now[0].seq, &open_now[0].payload),
        (b, &json!({"weight": 25}))
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

#[test]
fn an_approval_is_decided_once_for_its_revision_before_its_deadline() {
    let (_dir, path) = temp();
    let j = open(&path);
    j.begin(&record("r1")).unwrap();
    let rev = "0123456789abcdef";
    assert!(matches!(
        j.decide_approval("r1", rev, &decision(true, "alice", 10.0)),
        Err(JournalError::NoApprovalRequested(_))
    ));
    assert!(j.approval_status("r1", rev).unwrap().is_none());
    j.request_approval("r1", rev, "risky migration", 100.0, 1)
        .unwrap();
    assert!(
        matches!(j.approval_status("r1", rev).unwrap(), Some(ApprovalStatus::Pending(p)) if p.deadline == 100.0)
    );
    assert_eq!(j.pending_approvals().unwrap().len(), 1);

    let wrong = j.decide_approval("r1", "fedcba", &decision(true, "alice", 10.0));
    assert!(
        matches!(wrong, Err(JournalError::WrongRevision { ref pending, .. }) if pending == rev),
        "{wrong:?}"
    );
    let unknown = j.decide_approval("nope", rev, &decision(true, "alice", 10.0));
    assert!(matches!(unknown, Err(JournalError::NotFound(_))));

    j.decide_approval("r1", rev, &decision(true, "alice", 10.0))
        .unwrap();
    let second = j.decide_approval("r1", rev, &decision(false, "mallory", 11.0));
    let Err(JournalError::AlreadyDecided { decision, .. }) = second else {
        panic!("{second:?}")
    };
    assert!(decision.contains("approved by alice"), "{decision}");
    assert_eq!(
        j.approval_status("r1", rev).unwrap(),
        Some(ApprovalStatus::Decided(decision_of("alice")))
    );
    assert!(j.pending_approvals().unwrap().is_empty());
    // A second request (a restarted agent) joins the first and sees its decision.
    j.request_approval("r1", rev, "again", 500.0, 1).unwrap();
    assert!(matches!(
        j.approval_status("r1", rev).unwrap(),
        Some(ApprovalStatus::Decided(_))
    ));
}

fn decision_of(by: &str) -> ApprovalDecision {
    decision(true, by, 10.0)
}

#[test]
fn an_answer_after_the_deadline_is_refused() {
    let (_dir, path) = temp();
    let j = open(&path);
    j.begin(&record("r1")).unwrap();
    j.request_approval("r1", "0123456789abcdef", "s", 100.0, 1)
        .unwrap();
    let late = j.decide_approval("r1", "0123456789abcdef", &decision(true, "alice", 100.5));
    assert!(
        matches!(late, Err(JournalError::Expired { deadline, .. }) if deadline == 100.0),
        "{late:?}"
    );
}

#[test]
fn two_handles_on_one_file_see_each_others_writes() {
    let (_dir, path) = temp();
    let agent = open(&path);
    let operator = open(&path);
    agent.begin(&record("r1")).unwrap();
    agent
        .append("r1", 0.0, &Event::WeightChanged { from: 0, to: 5 })
        .unwrap();
    assert_eq!(operator.rollout("r1").unwrap().weight, 5);
    agent
        .request_approval("r1", "0123456789abcdef", "s", f64::MAX, 1)
        .unwrap();
    assert_eq!(operator.pending_approvals().unwrap().len(), 1);
    // Two operators race from two handles: exactly one decision is recorded.
    let other = open(&path);
    let results: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| {
            operator.decide_approval("r1", "0123456789abcdef", &decision(true, "alice", 1.0))
        });
        let b = s.spawn(|| {
            other.decide_approval("r1", "0123456789abcdef", &decision(false, "bob", 1.0))
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
    assert!(matches!(
        agent.approval_status("r1", "0123456789abcdef").unwrap(),
        Some(ApprovalStatus::Decided(_))
    ));
    assert_eq!(
        agent
            .append("r1", 1.0, &Event::WeightChanged { from: 5, to: 25 })
            .unwrap(),
        2
    );
    assert_eq!(operator.events("r1").unwrap().len(), 2);
}

fn started(id: &str) -> Event {
    Event::Started {
        rollout_id: id.into(),
        service: "checkout".into(),
        rev: "0123456789abcdef".into(),
        target: "sim:healthy".into(),
        planner: "playbook".into(),
    }
}

#[test]
fn journal_sink_writes_the_rollout_row_and_its_end() {
    let (_dir, path) = temp();
    let journal: Arc<dyn Journal> = Arc::new(open(&path));
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

#[test]
fn journal_sink_reports_events_before_started() {
    let (_dir, path) = temp();
    let mut sink = JournalSink::new(Arc::new(open(&path)));
    sink.emit(0.0, &Event::WeightChanged { from: 0, to: 5 });
    assert!(matches!(sink.error(), Some(JournalError::OutOfOrder(k)) if k == "weight_changed"));
}

fn approval_request(timeout_seconds: u64) -> ApprovalRequest {
    ApprovalRequest {
        rollout_id: "r1".into(),
        service: "checkout".into(),
        rev: "0123456789abcdef".into(),
        risk_score: 0.8,
        level: Level::High,
        reasons: vec![],
        summary: "please".into(),
        timeout_seconds,
        required_approvals: 1,
    }
}

#[tokio::test]
async fn journal_approver_returns_a_decision_made_by_another_handle() {
    let (_dir, path) = temp();
    let journal: Arc<dyn Journal> = Arc::new(open(&path));
    journal.begin(&record("r1")).unwrap();
    let approver = JournalApprover::new(journal);
    let operator = open(&path);
    let decide = async {
        while operator.pending_approvals().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        operator
            .decide_approval(
                "r1",
                "0123456789abcdef",
                &decision(true, "alice", wall_now()),
            )
            .unwrap();
    };
    let request = approval_request(60);
    let (answer, ()) = tokio::join!(approver.request(&request), decide);
    assert!(answer.approved);
    assert_eq!(answer.by.as_deref(), Some("alice"));
}

#[tokio::test]
async fn journal_approver_times_out_and_refuses_a_late_answer() {
    let (_dir, path) = temp();
    let journal: Arc<dyn Journal> = Arc::new(open(&path));
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
    let late = journal.decide_approval(
        "r1",
        "0123456789abcdef",
        &decision(true, "alice", clock.now()),
    );
    assert!(
        matches!(late, Err(JournalError::AlreadyDecided { .. })),
        "{late:?}"
    );
}

#[test]
fn timeline_shows_what_each_event_means() {
    let (_dir, path) = temp();
    let j = open(&path);
    j.begin(&record("r1")).unwrap();
    let events = [
        Event::WeightChanged { from: 0, to: 5 },
        Event::Judged {
            weight: 5,
            verdict: verdict(VerdictKind::Fail),
        },
        Event::Vetoed {
            call_id: "c1".into(),
            tool: "set_weight".into(),
            rule: Rule::MaxStep,
            reason: "step of 50 exceeds 20".into(),
        },
        Event::ApprovalDecided {
            approved: true,
            by: Some("alice".into()),
            reason: "ok".into(),
        },
        finished(Outcome::RolledBack, 0),
    ];
    for (i, e) in events.iter().enumerate() {
        j.append("r1", 100.0 + i as f64 * 65.0, e).unwrap();
    }
    let text = render_timeline(&j.rollout("r1").unwrap(), &j.events("r1").unwrap());
    for needle in [
        "0% → 5%",
        "fail at 5%: canary 1200 req, baseline 4800 req — error rate 0.4% vs 0.5%",
        "set_weight max_step: step of 50 exceeds 20",
        "approved by alice: ok",
        "  1m05s  judged",
        "rolled_back at 0%",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let history = render_history(&j.list(None, 10).unwrap());
    assert!(
        history.contains("r1  checkout  0123456789  2023-11-14 22:13:20  rolled_back"),
        "{history}"
    );
}

#[test]
fn utc_dates_are_gregorian() {
    assert_eq!(utc(0.0), "1970-01-01 00:00:00");
    assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00");
    assert_eq!(utc(1_700_000_000.0), "2023-11-14 22:13:20");
}
