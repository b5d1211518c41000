//! Slack configured wrong — no bot token, approvers that can never match, a
//! section for an unknown service, a channel nobody may answer — is refused
//! before anything runs, by `rollout` and by `serve`.

use std::path::Path;

use crate::support::repo::Repo;
use crate::support::{run_cli, stderr};

#[test]
fn slack_rollout_without_a_token_is_refused_before_it_starts() {
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    let sha = repo.commit("initial");
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    std::fs::write(&config, "[services.demo.slack]\nchannel = \"#demo\"\n").expect("config");
    let config = config.to_str().expect("utf-8");
    let repo_path = repo.path().to_str().expect("utf-8").to_string();
    let args = [
        "rollout",
        &sha,
        "--repo",
        &repo_path,
        "--service",
        "demo",
        "--config",
        config,
    ];
    let out = run_cli(work.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("SLACK_BOT_TOKEN") && err.contains("#demo"),
        "{err}"
    );
    assert!(
        !Path::new(&work.path().join(".deploy-agent/journal.db")).exists(),
        "nothing started"
    );
}

#[test]
fn slack_serve_without_a_token_refuses_to_start() {
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nrepo = {:?}\nrepositories = [\"acme/shop\"]\nservices = [\"demo\"]\n[slack]\nchannel = \"#deploys\"\n",
            repo.path()
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8");
    let args = ["serve", "--listen", "127.0.0.1:0", "--config", config];
    let out = run_cli(work.path(), &args, &[("GITHUB_WEBHOOK_SECRET", "x")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("SLACK_BOT_TOKEN"), "{}", stderr(&out));
}

/// `serve` with `[serve]` for service `demo` (simulated) plus `extra`, the
/// bot token set: the exit code and stderr. It must refuse before listening.
fn serve_with(extra: &str) -> (Option<i32>, String) {
    let repo = Repo::new();
    repo.lines("src/app.rs", 20, "a");
    repo.commit("initial");
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("deploy-agent.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nrepo = {:?}\nrepositories = [\"acme/shop\"]\nservices = [\"demo\"]\n[services.demo]\ntarget = \"sim\"\n{extra}",
            repo.path()
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8");
    let args = ["serve", "--listen", "127.0.0.1:0", "--config", config];
    let env = [
        ("GITHUB_WEBHOOK_SECRET", "x"),
        ("SLACK_BOT_TOKEN", "xoxb-test"),
        ("SLACK_SIGNING_SECRET", "s"),
    ];
    let out = run_cli(work.path(), &args, &env);
    (out.status.code(), stderr(&out))
}

#[test]
fn slack_serve_refuses_an_approver_that_can_never_match() {
    let (code, err) = serve_with(
        "[slack]\nchannel = \"#deploys\"\n[services.demo.slack]\napprovers = [\"U0123ABC\", \"@alice\"]\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("[services.demo.slack] approvers: `@alice` can never match")
            && err.contains("member id")
            && err.contains("[people.alice]"),
        "{err}"
    );
    // A person from [people] is a fine entry.
    let (code, err) = serve_with(
        "[slack]\nchannel = \"#deploys\"\napprovers = [\"bob\"]\n[people.bob]\nslack = \"U0BOB\"\n[services.demo.slack]\napprovers = [\"carol\"]\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`carol` can never match"), "{err}");
}

#[test]
fn slack_serve_refuses_a_slack_section_for_a_service_it_does_not_roll_out() {
    let (code, err) =
        serve_with("[services.dmeo.slack]\nchannel = \"#demo\"\napprovers = [\"U0123ABC\"]\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("[services.dmeo.slack] is for a service serve does not roll out")
            && err.contains("[\"demo\"]"),
        "{err}"
    );
}

#[test]
fn slack_serve_refuses_a_channel_nobody_may_answer() {
    let (code, err) = serve_with("[slack]\nchannel = \"#deploys\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("approvals of demo go to Slack (#deploys) but nobody may answer them")
            && err.contains("[slack] approvers"),
        "{err}"
    );
    let (code, err) = serve_with("[services.demo.slack]\nchannel = \"#demo\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("(#demo) but nobody may answer"), "{err}");
}
