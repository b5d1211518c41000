//! `deploy-agent resume` after the agent was killed (SIGKILL) mid-rollout: the real
//! binary, a paced simulated rollout and a temp journal.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use deploy_agent::journal::{Journal, SqliteJournal};
use serde_json::Value;

use crate::support::rollout::migration_repo;
use crate::support::{after_short_lease, json, run_cli, stderr, stdout, SHORT_LEASE};

/// Real seconds per simulated second: a 5-minute bake takes about 3 s.
const PACE: &str = "0.01";
const WAIT: Duration = Duration::from_secs(15);

/// A migration repository, a temp dir and the journal path in it.
/// `approve` from this process counts as bob (`[people.bob]` through the environment).
fn bob_is_me() -> (&'static str, &'static str) {
    let (key, user) = crate::support::me_as_env("bob");
    (key.leak(), user.leak())
}

fn setup() -> (crate::support::repo::Repo, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db").to_str().unwrap().to_string();
    (migration_repo(), dir, db)
}

/// A rollout of a migration (approval required) writing to `db`, its stdout
/// (JSON lines) and stderr read line by line on threads.
fn spawn_rollout(
    repo: &Path,
    db: &str,
    extra: &[&str],
) -> (Child, Receiver<String>, Receiver<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deploy-agent"));
    cmd.current_dir(repo)
        .args([
            "rollout",
            "HEAD",
            "--service",
            "checkout",
            "--format",
            "jsonl",
        ])
        .args(["--pace", PACE, "--journal", db])
        .args(extra)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env("NO_COLOR", "1")
        .envs(SHORT_LEASE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("DEPLOY_AGENT_") && !SHORT_LEASE.iter().any(|(s, _)| *s == k) {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().expect("spawn deploy-agent rollout");
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    (child, out, err)
}

fn lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line containing `needle`, within [`WAIT`].
fn wait_for(rx: &Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with `{needle}`: {e}"),
        }
    }
    panic!("no line with `{needle}` within {WAIT:?}");
}

/// SIGKILLs the agent, then waits until its lease has expired (a resume
/// takes over only rollouts no live process owns).
fn kill(mut child: Child) {
    child.kill().expect("SIGKILL the agent");
    let status = child.wait().unwrap();
    assert!(!status.success(), "the agent was killed, not finished");
    after_short_lease();
}

/// Resumes, then checks the journal: finished rolled back at 0%, no open intent,
/// no weight applied twice, and `show` tells of the resume.
fn resume_and_check(repo: &Path, db: &str, id: &str) -> Value {
    let journal = SqliteJournal::open(Path::new(db)).unwrap();
    assert!(journal.rollout(id).unwrap().finished_at.is_none());

    let out = run_cli(repo, &["resume", "--journal", db, "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let resumed = &report["resumed"][0];
    assert_eq!(resumed["id"], id);
    assert_eq!(resumed["outcome"], "rolled_back");
    assert_eq!(resumed["final_weight"], 0);

    let record = journal.rollout(id).unwrap();
    assert!(record.finished_at.is_some());
    assert_eq!(record.outcome.as_deref(), Some("rolled_back"));
    assert_eq!(record.weight, 0);
    assert!(journal.open_intents(id).unwrap().is_empty());
    let events = journal.events(id).unwrap();
    assert_eq!(events.last().unwrap().kind, "finished");
    let mut applied: HashMap<u64, usize> = HashMap::new();
    for e in events.iter().filter(|e| e.kind == "weight_changed") {
        *applied
            .entry(e.payload["to"].as_u64().unwrap())
            .or_default() += 1;
    }
    assert!(
        applied.values().all(|&n| n == 1),
        "a weight was changed twice: {applied:?}"
    );

    let show = run_cli(repo, &["show", id, "--journal", db], &[]);
    assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
    assert!(
        stdout(&show).contains("resumed after a crash: rolled back per on_resume"),
        "{}",
        stdout(&show)
    );

    // Nothing left to do: a second resume finds nothing.
    let again = run_cli(repo, &["resume", "--journal", db], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(stdout(&again).contains("no unfinished rollouts"));
    report
}

fn started_id(rx: &Receiver<String>) -> String {
    let line = wait_for(rx, "\"started\"");
    let v: Value = serde_json::from_str(&line).unwrap();
    v["rollout_id"].as_str().unwrap().to_string()
}

/// Starts an approved rollout, kills it right after its first weight change;
/// returns its id and that weight.
fn killed_after_first_weight(repo: &Path, db: &str) -> (String, u64) {
    let (child, out, _err) = spawn_rollout(repo, db, &["--approve-as", "alice"]);
    let id = started_id(&out);
    let line = wait_for(&out, "\"weight_changed\"");
    kill(child);
    let changed: Value = serde_json::from_str(&line).unwrap();
    (id, changed["to"].as_u64().unwrap())
}

/// Starts a rollout the journal must approve and kills it once the request is
/// in the journal; returns its id.
fn killed_awaiting_approval(repo: &Path, db: &str) -> String {
    // No terminal, no --approve-as: the journal is the approver.
    let (child, out, err) = spawn_rollout(repo, db, &[]);
    let id = started_id(&out);
    let hint = wait_for(&err, "approve from another shell");
    assert!(
        hint.contains(&format!("deploy-agent approve {id} --by NAME")),
        "{hint}"
    );
    // The request row is written just after the hint.
    let journal = SqliteJournal::open(Path::new(db)).unwrap();
    let deadline = Instant::now() + WAIT;
    while journal.pending_approvals().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no approval request in the journal"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(child);
    id
}

#[test]
fn killed_after_the_first_weight_change_is_rolled_back() {
    let (r, _dir, db) = setup();
    let db = db.as_str();
    let (id, first) = killed_after_first_weight(r.path(), db);
    assert!(id.starts_with("checkout-"), "{id}");
    assert!(first > 0);

    let journal = SqliteJournal::open(Path::new(db)).unwrap();
    assert!(journal.rollout(&id).unwrap().weight > 0);
    let report = resume_and_check(r.path(), db, &id);
    assert_eq!(report["resumed"][0]["live_weight"], first);
}

#[test]
fn killed_while_awaiting_a_journal_approval_is_rolled_back_and_the_approval_closed() {
    let (r, _dir, db) = setup();
    let db = db.as_str();
    let id = killed_awaiting_approval(r.path(), db);
    let journal = SqliteJournal::open(Path::new(db)).unwrap();

    let report = resume_and_check(r.path(), db, &id);
    assert_eq!(report["resumed"][0]["live_weight"], 0);
    assert!(journal.pending_approvals().unwrap().is_empty());
    let late = run_cli(
        r.path(),
        &["approve", &id, "--by", "bob", "--journal", db],
        &[bob_is_me()],
    );
    assert_eq!(late.status.code(), Some(2), "{}", stdout(&late));
}

#[test]
fn open_intents_are_reconciled_with_the_target_and_never_reapplied() {
    use deploy_agent::rollout::events::Event;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let journal = SqliteJournal::open(&db).unwrap();
    let id = "checkout-abcdef12-1";
    journal
        .begin(&crate::support::rollout::running_record(
            id,
            "abcdef1234",
            1.0,
        ))
        .unwrap();
    // 5% was set and journaled; the process died while asking for 20%, before
    // the router answered (so the simulated world, rebuilt from the journal, is at 5%).
    let set = |to: u64| serde_json::json!({"from": 0, "to": to});
    let five = journal.intent(id, 10.0, "set_weight", set(5)).unwrap();
    journal
        .append(id, 10.0, &Event::WeightChanged { from: 0, to: 5 })
        .unwrap();
    let twenty = journal.intent(id, 400.0, "set_weight", set(20)).unwrap();

    let out = run_cli(
        dir.path(),
        &[
            "resume",
            "--journal",
            db.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let r = &report["resumed"][0];
    assert_eq!(r["live_weight"], 5);
    let intents: Vec<(u64, bool)> = r["intents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["seq"].as_u64().unwrap(), i["applied"].as_bool().unwrap()))
        .collect();
    assert_eq!(intents, [(five, true), (twenty, false)]);
    assert!(journal.open_intents(id).unwrap().is_empty());
    assert_eq!(
        journaled_weights(&journal, id),
        [5, 0],
        "20% is never applied; 5% is rolled back once"
    );
    assert_eq!(
        journal.rollout(id).unwrap().outcome.as_deref(),
        Some("rolled_back")
    );
}

/// The default policy with `on_resume = "continue"`, written into `dir`.
fn continue_policy(dir: &Path) -> String {
    let policy = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/default.toml"
    ))
    .unwrap()
    .replace("on_resume = \"rollback\"", "on_resume = \"continue\"");
    let path = dir.join("continue.toml");
    std::fs::write(&path, policy).unwrap();
    path.to_str().unwrap().to_string()
}

/// `resume` with the continue policy, from `cwd`; its JSON report.
fn resume_continue(cwd: &Path, db: &str, policy: &str) -> Value {
    let out = run_cli(
        cwd,
        &[
            "resume",
            "--journal",
            db,
            "--policy",
            policy,
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out)
}

/// The weights the journal recorded, in order.
fn journaled_weights(journal: &SqliteJournal, id: &str) -> Vec<u64> {
    journal
        .events(id)
        .unwrap()
        .iter()
        .filter(|e| e.kind == "weight_changed")
        .map(|e| e.payload["to"].as_u64().unwrap())
        .collect()
}

#[test]
fn on_resume_continue_picks_up_at_the_live_weight_and_promotes() {
    let (r, dir, db) = setup();
    let db = db.as_str();
    let (id, first) = killed_after_first_weight(r.path(), db);
    let journal = SqliteJournal::open(Path::new(db)).unwrap();
    let before = journal.events(&id).unwrap().len();

    let report = resume_continue(r.path(), db, &continue_policy(dir.path()));
    let resumed = &report["resumed"][0];
    assert_eq!(resumed["action"], "continue", "{report}");
    assert_eq!(resumed["live_weight"], first);
    assert_eq!(resumed["outcome"], "promoted", "{report}");
    assert_eq!(resumed["final_weight"], 100);

    let record = journal.rollout(&id).unwrap();
    assert_eq!(record.outcome.as_deref(), Some("promoted"));
    assert!(journal.open_intents(&id).unwrap().is_empty());
    let events = journal.events(&id).unwrap();
    assert_eq!(events.last().unwrap().kind, "finished");
    assert_eq!(events.iter().filter(|e| e.kind == "started").count(), 1);
    let seam = events
        .iter()
        .position(|e| e.kind == "resumed")
        .expect("a resumed event");
    assert!(
        seam >= before,
        "the seam follows what the dead process wrote"
    );
    assert_eq!(events[seam].payload["weight"], first);
    // The approval given before the crash stands: nobody is asked again.
    assert!(events[seam..]
        .iter()
        .all(|e| e.kind != "approval_requested"));
    // No increase after the seam before a Pass judged after it.
    let after = &events[seam..];
    let first_increase = after
        .iter()
        .position(|e| e.kind == "weight_changed")
        .expect("the canary grew after the resume");
    assert!(
        after[..first_increase]
            .iter()
            .any(|e| e.kind == "judged" && e.payload["verdict"]["kind"] == "pass"),
        "a weight grew before a fresh Pass: {:?}",
        after.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
    // Every weight once, rising from where the target was: nothing re-applied.
    let weights = journaled_weights(&journal, &id);
    assert_eq!(weights[0], first);
    assert!(
        weights.windows(2).all(|w| w[0] < w[1]),
        "weights not strictly rising: {weights:?}"
    );
    assert_eq!(*weights.last().unwrap(), 100);
}

#[test]
fn on_resume_continue_joins_the_pending_approval_decided_meanwhile() {
    let (r, dir, db) = setup();
    let db = db.as_str();
    let id = killed_awaiting_approval(r.path(), db);
    let journal = SqliteJournal::open(Path::new(db)).unwrap();
    // Answered while no agent runs: the journal keeps it.
    let approve = run_cli(
        r.path(),
        &["approve", &id, "--by", "bob", "--journal", db],
        &[bob_is_me()],
    );
    assert_eq!(approve.status.code(), Some(0), "{}", stderr(&approve));

    let report = resume_continue(r.path(), db, &continue_policy(dir.path()));
    assert_eq!(report["resumed"][0]["outcome"], "promoted", "{report}");
    let events = journal.events(&id).unwrap();
    let decided: Vec<&Value> = events
        .iter()
        .filter(|e| e.kind == "approval_decided")
        .map(|e| &e.payload)
        .collect();
    assert!(
        !decided.is_empty()
            && decided
                .iter()
                .all(|d| d["approved"] == true && d["by"] == "bob"),
        "{decided:?}"
    );
    assert_eq!(journaled_weights(&journal, &id).last(), Some(&100));
}

#[test]
fn on_resume_continue_without_the_repository_rolls_back_and_says_why() {
    let (r, dir, db) = setup();
    let db = db.as_str();
    let (id, _) = killed_after_first_weight(r.path(), db);

    // Run from the temp dir, which is no git repository.
    let report = resume_continue(dir.path(), db, &continue_policy(dir.path()));
    let resumed = &report["resumed"][0];
    assert_eq!(resumed["outcome"], "rolled_back", "{report}");
    assert_eq!(resumed["final_weight"], 0);
    assert!(
        resumed["fallback"]
            .as_str()
            .is_some_and(|f| f.contains("no repository")),
        "{report}"
    );
    let journal = SqliteJournal::open(Path::new(db)).unwrap();
    let record = journal.rollout(&id).unwrap();
    assert_eq!(record.outcome.as_deref(), Some("rolled_back"));
    assert!(record
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("cannot continue")));
}

/// Regression: `resume` rolled back (and with `continue` would have co-driven)
/// a rollout whose process was still alive. Now a live owner keeps it: resume
/// says who owns it and changes nothing; once the owner is dead and its lease
/// expired, resume takes it over.
#[test]
fn resume_leaves_a_rollout_whose_owner_is_alive_and_takes_it_once_the_owner_died() {
    let (r, _dir, db) = setup();
    let db = db.as_str();
    let (child, out, _err) = spawn_rollout(r.path(), db, &["--approve-as", "alice"]);
    let id = started_id(&out);
    wait_for(&out, "\"weight_changed\"");
    std::thread::sleep(Duration::from_millis(1_500)); // past a short lease: it is renewed
    let owned = run_cli(
        r.path(),
        &["resume", "--journal", db, "--format", "json"],
        &[],
    );
    assert_eq!(owned.status.code(), Some(0), "{}", stderr(&owned));
    let report = json(&owned);
    let first = &report["resumed"][0];
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["outcome"], "owned", "{report}");
    let owner = first["owner"].as_str().unwrap_or_default();
    assert!(owner.contains(&format!("pid {}", child.id())), "{owner}");
    assert!(owner.contains("live for"), "{owner}");
    let journal = SqliteJournal::open(Path::new(db)).unwrap();
    assert!(
        journal.rollout(&id).unwrap().finished_at.is_none(),
        "left alone"
    );
    assert!(journal.rollout(&id).unwrap().weight > 0);

    kill(child);
    resume_and_check(r.path(), db, &id);
}
