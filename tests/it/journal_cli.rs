//! `deploy-agent approve`, `history` and `show` against a journal written through the
//! library, as a running agent would have written it.

use std::path::Path;

use deploy_agent::journal::{ApprovalStatus, Journal, JournalSink, SqliteJournal};
use deploy_agent::rollout::events::{Event, EventSink};
use deploy_agent::rollout::state::Outcome;

use crate::support::{json, me_as, me_as_env, run_cli, stderr, stdout};

const REV: &str = "0123456789abcdef0123";

/// A journal with one finished rollout (`done`) and one waiting for approval (`waiting`).
fn prepared(path: &Path) -> SqliteJournal {
    let journal = SqliteJournal::open(path).unwrap();
    let record =
        |id: &str, started_at: f64| crate::support::rollout::running_record(id, REV, started_at);
    journal.begin(&record("done", 1_700_000_000.0)).unwrap();
    journal
        .append("done", 0.0, &Event::WeightChanged { from: 0, to: 5 })
        .unwrap();
    journal
        .append(
            "done",
            60.0,
            &Event::Finished {
                outcome: Outcome::Promoted,
                reason: "all steps passed".into(),
                weight: 100,
            },
        )
        .unwrap();
    journal.begin(&record("waiting", 1_700_000_100.0)).unwrap();
    journal
        .request_approval("waiting", REV, "migration", f64::MAX, 1)
        .unwrap();
    journal
}

#[test]
fn approve_decides_once_and_a_second_answer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = prepared(&path);
    let db = path.to_str().unwrap();
    // The approver is the OS account running `approve`; [people] names it alice.
    std::fs::write(dir.path().join("deploy-agent.toml"), me_as("alice")).unwrap();

    let out = run_cli(
        dir.path(),
        &["approve", "waiting", "--by", "alice", "--journal", db],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("approved rollout waiting"),
        "{}",
        stdout(&out)
    );
    let Some(ApprovalStatus::Decided(d)) = journal.approval_status("waiting", REV).unwrap() else {
        panic!("not decided");
    };
    assert!(d.approved);
    assert_eq!(d.by.as_deref(), Some("alice"));

    // A second answer from the same account (bob could only answer as
    // himself, from his own account: see `journal_identity`).
    let again = run_cli(
        dir.path(),
        &["approve", "waiting", "--reject", "--journal", db],
        &[],
    );
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already approved by alice"),
        "{}",
        stderr(&again)
    );

    let unknown = run_cli(
        dir.path(),
        &["approve", "nope", "--by", "bob", "--journal", db],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no rollout `nope`"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn the_journal_path_comes_from_the_environment_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("elsewhere/journal.db");
    drop(prepared(&path));
    let (person, me) = me_as_env("alice");
    let env = [
        ("DEPLOY_AGENT_JOURNAL__PATH", path.to_str().unwrap()),
        (person.as_str(), me.as_str()),
    ];
    let out = run_cli(dir.path(), &["approve", "waiting", "--by", "alice"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let missing = run_cli(dir.path(), &["history"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no journal at"),
        "{}",
        stderr(&missing)
    );
    assert!(
        !dir.path().join(".deploy-agent").exists(),
        "reading must not create a journal"
    );
}

#[test]
fn history_and_show_read_what_the_agent_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = prepared(&path);
    // And one written through the sink, as the rollout loop will.
    let mut sink = JournalSink::new(std::sync::Arc::new(journal));
    sink.emit(
        0.0,
        &Event::Started {
            rollout_id: "sunk".into(),
            service: "search".into(),
            rev: REV.into(),
            target: "sim:healthy".into(),
            planner: "playbook".into(),
        },
    );
    assert!(sink.error().is_none());
    let db = path.to_str().unwrap();

    let out = run_cli(
        dir.path(),
        &["history", "--format", "json", "--journal", db],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list = json(&out);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sunk", "waiting", "done"]);
    assert_eq!(list[2]["outcome"], "promoted");
    assert_eq!(list[2]["weight"], 100);

    let out = run_cli(
        dir.path(),
        &[
            "history",
            "--service",
            "checkout",
            "--limit",
            "1",
            "--journal",
            db,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("waiting") && !text.contains("done") && !text.contains("sunk"),
        "{text}"
    );

    let out = run_cli(dir.path(), &["show", "done", "--journal", db], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("0% → 5%") && text.contains("promoted at 100%: all steps passed"),
        "{text}"
    );

    let out = run_cli(
        dir.path(),
        &["show", "done", "--format", "json", "--journal", db],
        &[],
    );
    let v = json(&out);
    assert_eq!(v["rollout"]["id"], "done");
    assert_eq!(v["events"][0]["kind"], "weight_changed");
    assert_eq!(v["events"][1]["seq"], 2);
}

/// A rollout waiting for a human says so in `history`, with the command that
/// answers it; a crashed one points at `resume`.
#[test]
fn history_tells_a_rollout_awaiting_approval_from_a_stopped_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = prepared(&path);
    let db = path.to_str().unwrap();
    let out = run_cli(dir.path(), &["history", "--journal", db], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("waiting"))
        .unwrap_or_default();
    assert!(line.contains("awaiting approval"), "{text}");
    assert!(line.contains("deploy-agent approve waiting"), "{text}");
    assert!(!text.contains("resume"), "nothing stopped yet: {text}");

    let mut stopped = journal.rollout("done").unwrap();
    stopped.id = "stopped".into();
    stopped.started_at += 200.0;
    (stopped.outcome, stopped.finished_at, stopped.reason) = (None, None, None);
    journal.begin(&stopped).unwrap();
    let text = stdout(&run_cli(dir.path(), &["history", "--journal", db], &[]));
    let line = text
        .lines()
        .find(|l| l.starts_with("stopped"))
        .unwrap_or_default();
    assert!(line.contains("unfinished"), "{text}");
    assert!(text.contains("`deploy-agent resume`"), "{text}");
}
