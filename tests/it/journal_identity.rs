//! Who approves: `deploy-agent approve` decides as the OS account running it
//! (its real uid), mapped by `[people]` to a person, and is checked against the
//! same allow-list as Slack clicks; the SQLite journal counts each person once,
//! whichever channel they vote from. These run as whatever user the tests run
//! as (`support::os_user`), and map it in the config.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deploy_agent::journal::{wall_now, ApprovalStatus, Journal, SqliteJournal};
use deploy_agent::serve::slack::{router, sign, SlackState, PATH};
use deploy_agent::settings::{Env, Settings};
use serde_json::Value;

use crate::support::fake_slack::{click_form, FakeSlack};
use crate::support::rollout::migration_repo;
use crate::support::{me_as, os_user, run_cli, stderr, stdout};

const REV: &str = "0123456789abcdef0123";
const SECRET: &str = "slack-signing-secret";

/// A journal at `dir/journal.db` with rollout `id` of `checkout` waiting for
/// `required` approvals; `dir/deploy-agent.toml` holds `config`.
fn waiting(dir: &Path, ids: &[&str], required: u32, config: &str) -> SqliteJournal {
    std::fs::write(dir.join("deploy-agent.toml"), config).unwrap();
    let journal = SqliteJournal::open(&dir.join("journal.db")).unwrap();
    for id in ids {
        journal
            .begin(&crate::support::rollout::running_record(
                id,
                REV,
                wall_now(),
            ))
            .unwrap();
        journal
            .request_approval(id, REV, "migration", f64::MAX, required)
            .unwrap();
    }
    journal
}

fn approve(dir: &Path, args: &[&str]) -> std::process::Output {
    let db = dir.join("journal.db");
    let mut all = vec!["approve"];
    all.extend(args);
    all.extend(["--journal", db.to_str().unwrap()]);
    run_cli(dir, &all, &[])
}

fn pending(journal: &SqliteJournal, id: &str) -> bool {
    matches!(
        journal.approval_status(id, REV).unwrap(),
        Some(ApprovalStatus::Pending(_))
    )
}

#[test]
fn journal_identity_cli_approver_not_on_the_allow_list_is_refused_and_on_it_counts() {
    let dir = tempfile::tempdir().unwrap();
    let listed = "[services.checkout.slack]\napprovers = [\"U0123ABC\", \"alice\"]\n";
    let journal = waiting(dir.path(), &["r1"], 1, listed);

    // Not mapped to anyone: refused, saying what to configure.
    let out = approve(dir.path(), &["r1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("OS user {}", os_user()))
            && err.contains("is not an approver of checkout")
            && err.contains("[services.checkout.slack] approvers")
            && err.contains(&format!("os_user = \"{}\"", os_user())),
        "{err}"
    );
    // Mapped to a person who is not listed: refused too.
    std::fs::write(
        dir.path().join("deploy-agent.toml"),
        format!("{listed}{}", me_as("mallory")),
    )
    .unwrap();
    let out = approve(dir.path(), &["r1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("add \"mallory\" to"),
        "{}",
        stderr(&out)
    );
    // A flag cannot stand in for the identity.
    let out = approve(dir.path(), &["r1", "--by", "alice"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--by alice is not you") && stderr(&out).contains("mallory"),
        "{}",
        stderr(&out)
    );
    assert!(pending(&journal, "r1"), "nothing was recorded");

    // Mapped to alice, who is listed: it counts, as alice.
    std::fs::write(
        dir.path().join("deploy-agent.toml"),
        format!("{listed}{}", me_as("alice")),
    )
    .unwrap();
    let out = approve(dir.path(), &["r1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("as alice"), "{}", stdout(&out));
    let Some(ApprovalStatus::Decided(d)) = journal.approval_status("r1", REV).unwrap() else {
        panic!("not decided");
    };
    assert_eq!((d.approved, d.by.as_deref()), (true, Some("alice")));
}

#[test]
fn journal_identity_two_votes_by_the_same_identity_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[services.checkout.slack]\napprovers = [\"alice\"]\n",
        me_as("alice")
    );
    let journal = waiting(dir.path(), &["r1"], 2, &config);

    let out = approve(dir.path(), &["r1"]);
    assert!(
        stdout(&out).contains("1 of 2 approvals recorded for rollout r1 as alice"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // Again, with or without naming herself: the same person, refused.
    for args in [&["r1"][..], &["r1", "--by", "alice"][..]] {
        let out = approve(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("alice already approved rollout `r1`"),
            "{}",
            stderr(&out)
        );
    }
    assert!(pending(&journal, "r1"));
    let votes = journal.approval_votes("r1", REV).unwrap();
    assert_eq!(votes.len(), 1, "{votes:?}");

    // Without any allow-list or [people], the OS account is still the voter:
    // two shells of one user are one approver.
    let open = tempfile::tempdir().unwrap();
    let journal = waiting(open.path(), &["r2"], 2, "");
    let me = format!("os:{}", os_user());
    let out = approve(open.path(), &["r2"]);
    assert!(
        stdout(&out).contains(&format!("as {me}")),
        "{}",
        stderr(&out)
    );
    let out = approve(open.path(), &["r2", "--by", &os_user()]);
    assert!(
        stderr(&out).contains(&format!("{me} already approved")),
        "{}",
        stderr(&out)
    );
    assert!(pending(&journal, "r2"));
}

/// Serves Slack clicks for the config in `dir` (as `serve` would: its
/// directory and `[slack]`); returns the handler's URL.
async fn click_handler(dir: &Path, slack: &FakeSlack) -> String {
    let mut settings =
        Settings::load(Some(&dir.join("deploy-agent.toml")), &Env::default()).unwrap();
    settings.slack.api_url = slack.url();
    let served: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&dir.join("journal.db")).unwrap());
    let state = SlackState::new(
        SECRET.as_bytes(),
        served,
        settings.directory(),
        &settings.slack,
    )
    .unwrap();
    let addr = crate::support::loopback::serve(router(Some(state))).await;
    let url = format!("http://{addr}{PATH}");
    url
}

/// A signed Approve click by `user` on rollout `id`; returns the reply.
async fn click(
    handler: &str,
    slack: &FakeSlack,
    journal: &SqliteJournal,
    user: &str,
    id: &str,
) -> String {
    let nonce = format!("n-{id}-{user}");
    journal.issue_nonce(id, REV, &nonce).unwrap();
    let value = format!("{id}:{REV}:{nonce}");
    let body = click_form(user, "approve", &value, &slack.response_url(&nonce));
    let ts = (wall_now() as i64).to_string();
    let resp = reqwest::Client::new()
        .post(handler)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            sign(SECRET.as_bytes(), &ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    slack.reply(&nonce, 1, Duration::from_secs(10)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_identity_slack_and_cli_votes_by_one_person_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start().await;
    let config = format!(
        "[people.alice]\nos_user = {:?}\nslack = \"U0ALICE\"\n[slack]\nresponse_url_hosts = [\"127.0.0.1\"]\n[services.checkout.slack]\napprovers = [\"alice\", \"U0BOB\"]\n",
        os_user()
    );
    let journal = waiting(dir.path(), &["slack-first", "cli-first"], 2, &config);
    let handler = click_handler(dir.path(), &slack).await;

    // Slack, then the CLI: the click is alice's vote, her shell adds nothing.
    let text = click(&handler, &slack, &journal, "U0ALICE", "slack-first").await;
    assert!(text.contains("1 of 2 approvals recorded"), "{text}");
    let out = approve(dir.path(), &["slack-first"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("alice already approved"),
        "{}",
        stderr(&out)
    );

    // The CLI, then Slack: the same.
    let out = approve(dir.path(), &["cli-first"]);
    assert!(
        stdout(&out).contains("1 of 2 approvals"),
        "{}",
        stderr(&out)
    );
    let text = click(&handler, &slack, &journal, "U0ALICE", "cli-first").await;
    assert!(text.contains("alice already approved"), "{text}");

    for id in ["slack-first", "cli-first"] {
        assert!(pending(&journal, id), "{id}: one person is one vote");
        let votes = journal.approval_votes(id, REV).unwrap();
        let voters: Vec<&str> = votes.iter().map(|v| v.by.as_str()).collect();
        assert_eq!(voters, ["alice"], "{id}");
    }
    // A second person decides.
    let text = click(&handler, &slack, &journal, "U0BOB", "cli-first").await;
    assert!(text.contains("approved by slack:U0BOB"), "{text}");
    assert!(!pending(&journal, "cli-first"));
}

fn approval_by(out: &std::process::Output) -> Option<String> {
    stdout(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "approval_decided")
        .and_then(|e| e["by"].as_str().map(str::to_string))
}

#[test]
fn journal_identity_approve_as_needs_the_os_user_on_the_allow_list() {
    let r = migration_repo();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("deploy-agent.toml");
    let config_arg = config.to_str().unwrap().to_string();
    // Runs with the whole config text given.
    let run_with = |text: &str| {
        std::fs::write(&config, text).unwrap();
        let args = [
            "rollout",
            "HEAD",
            "--service",
            "checkout",
            "--approve-as",
            "ci",
            "--format",
            "jsonl",
            "--no-journal",
            "--config",
            &config_arg,
        ];
        run_cli(r.path(), &args, &[])
    };
    let listed = "[services.checkout.slack]\napprovers = [\"U0123ABC\", \"alice\"]\n";
    let rollout = |extra: &str| run_with(&format!("{listed}{extra}"));
    let out = rollout("");
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--approve-as is refused for checkout") && err.contains("[people]"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "refused before it started");

    let out = rollout(&me_as("alice"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(approval_by(&out).as_deref(), Some("alice"));

    // No allow-list: --approve-as NAME as always (the README's demo, CI).
    let out = run_with("");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(approval_by(&out).as_deref(), Some("ci"));
}
