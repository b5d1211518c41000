//! Ctrl-C and SIGTERM during a CLI rollout, sent to the real binary: the
//! first rolls the canary back and ends `aborted (operator)`; a second one
//! exits at once, leaves the rollout journaled, and `resume` finishes it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::rollout::config_repo;
use crate::support::{after_short_lease, run_cli, stderr, stdout, SHORT_LEASE};

/// A paced simulated rollout (a 120 s bake takes about 6 s), and its stdout
/// lines as they come.
fn spawn(dir: &std::path::Path, db: &str, env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deploy-agent"));
    cmd.current_dir(dir)
        .args([
            "rollout",
            "HEAD",
            "--service",
            "checkout",
            "--approve-as",
            "ops",
            "--format",
            "jsonl",
            "--pace",
            "0.05",
            "--journal",
            db,
        ])
        .envs(env.iter().copied())
        .envs(SHORT_LEASE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn deploy-agent");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for the first event of `kind` on the stream.
fn wait_for(rx: &mpsc::Receiver<String>, kind: &str) -> Value {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no `{kind}` event: {e}"));
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["event"] == kind {
            return v;
        }
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{name}");
}

#[test]
fn the_first_interrupt_rolls_the_canary_back_and_ends_aborted_by_the_operator() {
    let repo = config_repo();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db").display().to_string();
    let (mut child, rx) = spawn(repo.path(), &db, &[]);
    let changed = wait_for(&rx, "weight_changed");
    assert_eq!(changed["to"], 10);
    signal(&child, "INT");
    let finished = wait_for(&rx, "finished");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5), "aborted");
    assert_eq!(finished["outcome"], "aborted");
    assert_eq!(
        finished["reason"],
        "aborted (operator): Ctrl-C from the operator"
    );
    assert_eq!(finished["weight"], 0);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("rolling the canary back to 0 %"), "{err}");
    let history = run_cli(
        repo.path(),
        &["history", "--journal", &db, "--format", "json"],
        &[],
    );
    assert!(
        stdout(&history).contains("aborted (operator)"),
        "{}",
        stdout(&history)
    );
}

#[test]
fn a_second_interrupt_exits_at_once_and_leaves_the_rollout_to_resume() {
    let repo = config_repo();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db").display().to_string();
    // A slow target: every rollback waits 5 s before it is sent.
    let (mut child, rx) = spawn(
        repo.path(),
        &db,
        &[("FAILPOINTS", "before_rollback=sleep(5000)")],
    );
    wait_for(&rx, "weight_changed");
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(700));
    signal(&child, "INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("SIGTERM: stopping rollout"), "{err}");
    assert!(err.contains("run `deploy-agent resume`"), "{err}");

    after_short_lease();
    let out = run_cli(
        repo.path(),
        &["resume", "--journal", &db, "--format", "json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &report["resumed"][0];
    assert_eq!(r["live_weight"], 10, "{report}");
    assert_eq!(r["outcome"], "rolled_back", "{report}");
}
