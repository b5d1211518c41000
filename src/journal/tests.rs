//! The journal against real SQLite files in temp dirs: the shared conformance
//! checks (also run against Postgres by `tests/it/journal_postgres.rs`), then what
//! only a file has (`user_version`, a file that is not a database).

#[path = "conformance/mod.rs"]
mod conformance;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::sqlite::SCHEMA_VERSION;
use super::timeline::{render_history, render_timeline, utc};
use super::*;
use crate::approval::{ApprovalRequest, Approver, JournalApprover};
use crate::canary::{Verdict, VerdictKind};
use crate::clock::{Clock, VirtualClock};
use crate::guard::Rule;
use crate::policy::Level;
use crate::rollout::events::EventSink;
use crate::rollout::state::Outcome;

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/journal.db");
    (dir, path)
}

fn open(path: &Path) -> SqliteJournal {
    SqliteJournal::open(path).unwrap()
}

/// Runs one conformance check against a new SQLite file.
fn conform(check: impl FnOnce(conformance::Open<'_>)) {
    let (_dir, path) = temp();
    check(&|| Arc::new(open(&path)) as Arc<dyn Journal>);
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            conform(conformance::$name);
        }
    )*};
}

conformance!(
    events_are_numbered_in_order_and_finished_ends_the_rollout,
    a_failed_rollback_keeps_the_rollout_open_until_resume_finishes_it,
    a_lease_has_one_holder_and_a_takeover_fences_the_old_one,
    a_lease_is_granted_once_when_two_race_for_it,
    a_delivery_and_a_merge_are_claimed_once,
    unknown_and_duplicate_rollouts_are_typed_errors,
    history_lists_newest_first_and_filters_by_service,
    intents_stay_open_until_applied,
    an_approval_is_decided_once_for_its_revision_before_its_deadline,
    an_answer_after_the_deadline_is_refused,
    two_handles_see_each_others_writes_and_decide_once,
    journal_sink_writes_the_rollout_row_and_its_end,
    two_approvers_decide_only_when_two_distinct_people_approved,
    a_rejection_decides_at_once_even_after_a_first_approval,
    a_timeout_decides_a_half_approved_request,
    a_vote_after_the_deadline_is_refused_and_not_recorded,
    one_approver_is_the_default_and_zero_is_stored_as_one,
    a_nonce_is_bound_to_its_rollout_and_revision_and_taken_once_per_user,
    a_planner_handover_renames_the_rollouts_planner,
);

#[test]
fn concurrent_appends_from_four_handles_are_numbered_without_gaps() {
    conform(|open| conformance::concurrent_appends_are_numbered_without_gaps(open, 4, 25));
}

#[tokio::test]
async fn journal_approver_returns_a_decision_made_by_another_handle() {
    let (_dir, path) = temp();
    conformance::journal_approver_returns_a_decision_made_by_another_handle(&|| {
        Arc::new(open(&path)) as Arc<dyn Journal>
    })
    .await;
}

#[tokio::test]
async fn a_go_on_question_is_decided_apart_from_the_rollouts_approval() {
    let (_dir, path) = temp();
    conformance::a_go_on_question_is_decided_apart_from_the_rollouts_approval(&|| {
        Arc::new(open(&path)) as Arc<dyn Journal>
    })
    .await;
}

#[tokio::test]
async fn journal_approver_times_out_and_refuses_a_late_answer() {
    let (_dir, path) = temp();
    conformance::journal_approver_times_out_and_refuses_a_late_answer(&|| {
        Arc::new(open(&path)) as Arc<dyn Journal>
    })
    .await;
}

use conformance::{finished, record, verdict};

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
fn journal_sink_reports_events_before_started() {
    let (_dir, path) = temp();
    let mut sink = JournalSink::new(Arc::new(open(&path)));
    sink.emit(0.0, &Event::WeightChanged { from: 0, to: 5 });
    assert!(matches!(sink.error(), Some(JournalError::OutOfOrder(k)) if k == "weight_changed"));
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
    let history = render_history(&j.list(None, 10).unwrap(), &[]);
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
