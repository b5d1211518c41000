//! The Postgres journal against a real server (`support::postgres`, one per run,
//! a database per test): the same conformance checks the SQLite file passes
//! (src/journal/conformance/), then what only a shared server has: replicas
//! racing, migrations run by several openers, a dropped connection, and a rollout
//! through the CLI with `--journal postgres://…`.

use std::sync::Arc;

use deploy_agent::approval::{ApprovalRequest, Approver, JournalApprover};
use deploy_agent::canary::{Verdict, VerdictKind};
use deploy_agent::clock::{Clock, VirtualClock};
use deploy_agent::journal::postgres::SCHEMA_VERSION;
use deploy_agent::journal::{
    wall_now, ApprovalDecision, ApprovalProgress, ApprovalStatus, Journal, JournalError,
    JournalSink, LeaseRequest, PostgresJournal, RolloutRecord,
};
use deploy_agent::policy::Level;
use deploy_agent::rollout::events::{Event, EventSink};
use deploy_agent::rollout::state::Outcome;
use tokio_postgres::types::ToSql;

use crate::support::postgres::database;
use crate::support::rollout::migration_repo;
use crate::support::{json, run_cli, stderr};

#[path = "../../src/journal/conformance/mod.rs"]
mod conformance;

fn open(url: &str) -> Arc<dyn Journal> {
    Arc::new(PostgresJournal::open(url).unwrap_or_else(|e| panic!("open {url}: {e}")))
}

/// Runs one conformance check against a new database.
fn conform(name: &str, check: impl FnOnce(conformance::Open<'_>)) {
    let url = database(name);
    check(&|| open(&url));
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            conform(stringify!($name), conformance::$name);
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
fn concurrent_appends_from_four_connections_are_numbered_without_gaps() {
    conform("appends", |open| {
        conformance::concurrent_appends_are_numbered_without_gaps(open, 4, 25)
    });
}

/// Replicas race to decide one request many times over: one winner each round.
#[test]
fn replicas_deciding_at_once_leave_exactly_one_decision() {
    let url = database("race");
    let agent = open(&url);
    let replicas: Vec<_> = (0..4).map(|_| open(&url)).collect();
    for round in 0..10 {
        let id = format!("r{round}");
        agent.begin(&conformance::record(&id)).unwrap();
        agent
            .request_approval(&id, conformance::REV, "s", f64::MAX, 1)
            .unwrap();
        let barrier = std::sync::Barrier::new(replicas.len());
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = replicas
                .iter()
                .enumerate()
                .map(|(i, j)| {
                    let (id, barrier) = (&id, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let d = conformance::decision(i % 2 == 0, &format!("op{i}"), 1.0);
                        j.decide_approval(id, conformance::REV, &d)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(JournalError::AlreadyDecided { .. }))));
    }
}

#[tokio::test]
async fn journal_approver_returns_a_decision_made_by_another_handle() {
    let url = database("approver");
    conformance::journal_approver_returns_a_decision_made_by_another_handle(&|| open(&url)).await;
}

#[tokio::test]
async fn a_go_on_question_is_decided_apart_from_the_rollouts_approval() {
    let url = database("approver_go_on");
    conformance::a_go_on_question_is_decided_apart_from_the_rollouts_approval(&|| open(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_approver_times_out_and_refuses_a_late_answer() {
    let url = database("approver_timeout");
    conformance::journal_approver_times_out_and_refuses_a_late_answer(&|| open(&url)).await;
}

#[test]
fn migrations_run_once_when_replicas_open_together_and_reopen_idempotently() {
    let url = database("migrate");
    let handles: Vec<PostgresJournal> = std::thread::scope(|s| {
        let openers: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PostgresJournal::open(&url)))
            .collect();
        openers
            .into_iter()
            .map(|o| o.join().unwrap().unwrap())
            .collect()
    });
    for j in &handles {
        assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    }
    handles[0].begin(&conformance::record("r1")).unwrap();
    drop(handles);
    let j = PostgresJournal::open(&url).unwrap();
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(j.rollout("r1").unwrap(), conformance::record("r1"));
    let rows = raw_count(&url, "SELECT COUNT(*) FROM deploy_agent_schema", &[]);
    assert_eq!(rows, i64::from(SCHEMA_VERSION));
}

#[test]
fn refuses_a_database_written_by_a_newer_binary() {
    let url = database("newer");
    drop(PostgresJournal::open(&url).unwrap());
    let newer = i32::try_from(SCHEMA_VERSION + 1).unwrap();
    raw_execute(
        &url,
        "INSERT INTO deploy_agent_schema (version, applied_at) VALUES ($1, 0)",
        &[&newer],
    );
    let err = PostgresJournal::open(&url).unwrap_err();
    assert!(
        matches!(err, JournalError::NewerSchema { found, known } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade deploy-agent"), "{err}");
}

#[test]
fn a_dropped_connection_is_reopened_on_the_next_call() {
    let url = database("reconnect");
    let j = PostgresJournal::open(&url).unwrap();
    j.begin(&conformance::record("r1")).unwrap();
    let db = url.rsplit('/').next().unwrap().to_string();
    let killed = raw_count(
        &url,
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'deploy-agent'",
        &[&db],
    );
    assert_eq!(killed, 1);
    assert_eq!(j.rollout("r1").unwrap().id, "r1", "a read after the drop");
    let seq = j
        .append("r1", 0.0, &Event::WeightChanged { from: 0, to: 5 })
        .unwrap();
    assert_eq!(seq, 1);
}

/// One handle shared by many threads (as `serve` shares it) spreads their calls
/// over a pool of at most 4 connections and numbers their appends without gaps;
/// when the server ends every one of those sessions at once, the next calls only
/// reconnect.
#[test]
fn one_shared_handle_uses_a_bounded_pool_and_survives_losing_all_of_it() {
    let url = database("pool");
    let j = PostgresJournal::open(&url).unwrap();
    j.begin(&conformance::record("r1")).unwrap();
    let weight = Event::WeightChanged { from: 0, to: 5 };
    let mut seqs: Vec<u64> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..10)
                        .map(|i| j.append("r1", f64::from(i), &weight).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=80).collect::<Vec<u64>>());
    let db = url.rsplit('/').next().unwrap().to_string();
    let killed = raw_count(
        &url,
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'deploy-agent'",
        &[&db],
    );
    assert!((1..=4).contains(&killed), "{killed} connections");
    assert_eq!(j.events("r1").unwrap().len(), 80, "a read after the drop");
    assert_eq!(j.append("r1", 0.0, &weight).unwrap(), 81);
}

/// Regression: each handle owns a runtime, and a runtime dropped the ordinary way
/// inside an async task panics; a handle must be droppable anywhere.
#[tokio::test]
async fn a_handle_dropped_inside_an_async_task_does_not_panic() {
    let url = database("drop_in_async");
    let j = open(&url);
    j.begin(&conformance::record("r1")).unwrap();
    drop(j);
    assert_eq!(open(&url).rollout("r1").unwrap().id, "r1");
}

#[test]
fn unreachable_servers_missing_databases_and_inline_passwords_are_refused_on_open() {
    let port = crate::support::loopback::free_port();
    let err =
        PostgresJournal::open(&format!("postgres://postgres@127.0.0.1:{port}/x")).unwrap_err();
    assert!(matches!(err, JournalError::Open { .. }), "{err}");
    assert!(err.to_string().contains("cannot reach Postgres"), "{err}");
    let missing = crate::support::postgres::server().url("no_such_db");
    let err = PostgresJournal::open(&missing).unwrap_err();
    assert!(
        matches!(err, JournalError::Setup(_)) && err.to_string().contains("does not exist"),
        "{err}"
    );
    // The CLI calls it bad input (exit 2), not a broken journal (exit 1).
    let out = run_cli(
        std::path::Path::new("."),
        &["history", "--journal", &missing],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("createdb"), "{}", stderr(&out));
    // It names the database and how to create it, and blames no password.
    let said = err.to_string();
    assert!(said.contains("`no_such_db`"), "{said}");
    assert!(said.contains("createdb -h 127.0.0.1 -p "), "{said}");
    assert!(said.contains(" -U postgres no_such_db`"), "{said}");
    assert!(!said.contains("PGPASSWORD"), "{said}");
    let err = PostgresJournal::open("postgres://postgres:hunter2@127.0.0.1:5432/x").unwrap_err();
    assert!(err.to_string().contains("PGPASSWORD"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// `rollout --journal postgres://…` records the rollout; `history` and `show` read it back.
#[test]
fn a_cli_rollout_is_journaled_in_postgres() {
    let url = database("cli");
    let repo = migration_repo();
    let out = run_cli(
        repo.path(),
        &[
            "rollout",
            "HEAD",
            "--service",
            "demo",
            "--approve-as",
            "ci",
            "--journal",
            &url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run_cli(
        repo.path(),
        &["history", "--journal", &url, "--format", "json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list = json(&out);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["service"], "demo");
    assert_eq!(list[0]["outcome"], "promoted");
    let id = list[0]["id"].as_str().unwrap();
    let j = open(&url);
    let kinds: Vec<String> = j.events(id).unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.first().map(String::as_str), Some("started"));
    assert_eq!(kinds.last().map(String::as_str), Some("finished"));
    assert!(
        j.open_intents(id).unwrap().is_empty(),
        "every intent applied"
    );
    let out = run_cli(repo.path(), &["show", id, "--journal", &url], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Appends a second on each backend (a rough figure for the docs, not a test):
/// `cargo test --test it append_rate -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement"]
fn append_rate_sqlite_vs_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Journal> =
        Arc::new(deploy_agent::journal::SqliteJournal::open(&dir.path().join("j.db")).unwrap());
    let postgres = open(&database("rate"));
    for (name, j) in [("sqlite", sqlite), ("postgres", postgres)] {
        j.begin(&conformance::record("r1")).unwrap();
        let n = 500;
        let started = std::time::Instant::now();
        for i in 0..n {
            j.append("r1", f64::from(i), &Event::WeightChanged { from: 0, to: 5 })
                .unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name}: {n} appends in {secs:.2}s = {:.0}/s ({:.2} ms each)",
            f64::from(n) / secs,
            secs * 1000.0 / f64::from(n)
        );
    }
}

/// Runs `sql` on a connection of its own (outside the journal, on a runtime of
/// its own) and returns the first column of its one row.
fn raw_count(url: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> i64 {
    raw_runtime().block_on(async {
        let client = raw_connect(url).await;
        client.query_one(sql, params).await.unwrap().get(0)
    })
}

/// [`raw_count`] for a statement that returns no rows.
fn raw_execute(url: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> u64 {
    raw_runtime().block_on(async {
        let client = raw_connect(url).await;
        client.execute(sql, params).await.unwrap()
    })
}

fn raw_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn raw_connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}
