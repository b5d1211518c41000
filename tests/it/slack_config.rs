//! Slack configured without the bot token: refused before anything runs, by
//! `rollout` and by `serve`.

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
