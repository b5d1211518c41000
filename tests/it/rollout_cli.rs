//! `deploy-agent rollout` from the command line: exit codes and the JSON-lines stream.

use serde_json::Value;

use crate::support::rollout::migration_repo;
use crate::support::{run_cli, stderr, stdout};

fn jsonl(out: &std::process::Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn exit_codes_follow_the_outcome() {
    let r = migration_repo();
    let cases = [
        ("healthy", Some("alice"), 0),
        ("error-spike", Some("alice"), 4),
        ("latency-regression", Some("alice"), 4),
        // No terminal, no --approve-as, no journal: the approval is a rejection, nothing moves.
        ("healthy", None, 5),
    ];
    for (scenario, approver, code) in cases {
        let mut args = vec![
            "rollout",
            "HEAD",
            "--service",
            "checkout",
            "--scenario",
            scenario,
            "--format",
            "jsonl",
        ];
        match approver {
            Some(a) => args.extend(["--approve-as", a]),
            None => args.push("--no-journal"),
        }
        let out = run_cli(r.path(), &args, &[]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{scenario} {approver:?}: {}",
            stderr(&out)
        );
        let events = jsonl(&out);
        assert_eq!(events.last().unwrap()["event"], "summary");
        assert_eq!(events[events.len() - 2]["event"], "finished");
        assert_eq!(events[0]["event"], "started");
        if approver.is_none() {
            assert!(events.iter().all(|e| e["event"] != "weight_changed"));
        }
    }
}

#[test]
fn text_output_explains_every_decision() {
    let r = migration_repo();
    let out = run_cli(
        r.path(),
        &[
            "rollout",
            "HEAD",
            "--service",
            "checkout",
            "--scenario",
            "error-spike",
            "--approve-as",
            "alice",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(4));
    let summary = stdout(&out);
    assert!(summary.contains("ROLLED BACK"), "{summary}");
    assert!(summary.contains("canary verdict Fail at 5%"), "{summary}");
    assert!(summary.contains("granted by alice"));
    let progress = stderr(&out);
    assert!(progress.contains("AUTOMATIC ROLLBACK"), "{progress}");
    assert!(
        progress.contains("e-value"),
        "verdict numbers are shown: {progress}"
    );
}

#[test]
fn bad_rollout_input_exits_2() {
    let r = migration_repo();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["rollout", "HEAD", "--service", "x", "--scenario", "meteor"],
            "invalid value 'meteor'",
        ),
        (
            vec!["rollout", "nope", "--service", "x"],
            "unknown revision `nope`",
        ),
        (
            vec!["rollout", "HEAD", "--service", " "],
            "--service must name",
        ),
        (
            vec!["rollout", "HEAD", "--service", "x", "--planner", "llm"],
            "--planner llm needs a model endpoint",
        ),
        (vec!["rollout", "HEAD"], "--service"),
    ];
    for (args, needle) in cases {
        let out = run_cli(r.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn real_targets_need_their_config_and_dry_run_a_real_target() {
    let r = migration_repo();
    let cases: [(&[&str], &str); 6] = [
        (&["--target", "haproxy"], "no [services.checkout.haproxy]"),
        (
            &["--target", "kubernetes"],
            "no [services.checkout.kubernetes]",
        ),
        (&["--target", "argo"], "no [services.checkout.argo]"),
        (
            &["--target", "argo", "--dry-run"],
            "no [services.checkout.argo]",
        ),
        (&["--dry-run"], "--dry-run applies to real targets"),
        (&["--metrics", "prometheus"], "is not supported"),
    ];
    for (extra, message) in cases {
        let mut args = vec![
            "rollout",
            "HEAD",
            "--service",
            "checkout",
            "--approve-as",
            "a",
        ];
        args.extend_from_slice(extra);
        let out = run_cli(r.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(message),
            "{extra:?}: {}",
            stderr(&out)
        );
    }
}

/// One owner per service: a CLI rollout of a service another process drives
/// (here `serve`'s live lease in the shared journal) is refused before
/// anything moves, and says who drives it.
#[test]
fn a_rollout_of_a_service_another_process_drives_is_refused() {
    use deploy_agent::journal::{wall_now, Journal, LeaseRequest, SqliteJournal};

    let r = migration_repo();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let journal = SqliteJournal::open(&db).unwrap();
    let held = journal
        .acquire_lease(&LeaseRequest {
            service: "checkout".into(),
            rollout_id: "checkout-abc-1".into(),
            holder: "serve pid 4242 on replica-2".into(),
            ttl: 600.0,
            now: wall_now(),
        })
        .unwrap();
    let db = db.display().to_string();
    let args = [
        "rollout",
        "HEAD",
        "--service",
        "checkout",
        "--approve-as",
        "alice",
        "--journal",
        &db,
    ];
    let out = run_cli(r.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("driven by rollout `checkout-abc-1` (serve pid 4242 on replica-2)"),
        "{err}"
    );
    assert!(
        journal.list(None, 10).unwrap().is_empty(),
        "nothing recorded"
    );
    // Another service is free.
    let args = [
        "rollout",
        "HEAD",
        "--service",
        "cart",
        "--approve-as",
        "alice",
        "--journal",
        &db,
    ];
    assert_eq!(run_cli(r.path(), &args, &[]).status.code(), Some(0));
    // Released, the next rollout of the service gets a newer generation.
    journal.release_lease(&held.fence()).unwrap();
    let args = [
        "rollout",
        "HEAD",
        "--service",
        "checkout",
        "--approve-as",
        "alice",
        "--journal",
        &db,
    ];
    assert_eq!(run_cli(r.path(), &args, &[]).status.code(), Some(0));
    let lease = journal
        .leases()
        .unwrap()
        .into_iter()
        .find(|l| l.service == "checkout")
        .unwrap();
    assert_eq!(lease.generation, 2);
    assert!(lease.is_released(), "released at the end");
}
