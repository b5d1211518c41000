//! The octocrab client at the wire, through the real binary: a GitHub Enterprise
//! base path, rate limits waited out, retries that stop, a hung server, and
//! errors that are not retried.

use std::time::{Duration, Instant};

use crate::github::{server, HEAD};
use crate::support::fake_github::{FakeGitHub, APP_TOKEN, REPO, TOKEN};
use crate::support::{json, run_cli, stderr};

/// `assess --github REPO ARGS… --llm off` with `[github]` overrides from `env`.
fn assess(gh: &FakeGitHub, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let url = gh.url();
    let mut all = vec!["assess", "--github", REPO];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--llm", "off"]);
    let mut vars = vec![
        ("DEPLOY_AGENT_GITHUB__API_URL", url.as_str()),
        ("DEPLOY_AGENT_GITHUB__MAX_RETRIES", "2"),
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_APP_INSTALLATION_TOKEN", ""),
    ];
    vars.extend_from_slice(env);
    run_cli(dir.path(), &all, &vars)
}

fn count(gh: &FakeGitHub, needle: &str) -> usize {
    gh.requests().iter().filter(|r| r.contains(needle)).count()
}

#[test]
fn a_github_enterprise_base_path_carries_reads_pages_comments_and_check_runs() {
    let gh = server();
    gh.with(|s| {
        s.base_path = "/api/v3".into();
        s.page_size = 2;
    });
    assert!(gh.url().ends_with("/api/v3"), "{}", gh.url());
    for round in 0..2 {
        let out = assess(
            &gh,
            &["#7", "--post", "--format", "json"],
            &[("GITHUB_APP_INSTALLATION_TOKEN", APP_TOKEN)],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let verb = if round == 0 { "posted" } else { "updated" };
        assert!(stderr(&out).contains(verb), "{}", stderr(&out));
        assert_eq!(json(&out)["stats"]["files"], 5, "three pages of two");
    }
    let reqs = gh.requests();
    assert!(
        reqs.iter()
            .all(|r| r.split(' ').nth(1).unwrap().starts_with("/api/v3/repos/")),
        "every call under the base path, pages included: {reqs:#?}"
    );
    assert_eq!(count(&gh, "/pulls/7/files"), 6, "{reqs:#?}");
    assert!(reqs
        .iter()
        .any(|r| r.contains("/commits?") && r.contains("page=5")));
    let comments = gh.with(|s| s.comments[&7].clone());
    assert_eq!(comments.len(), 4, "three human comments and ours, once");
    let patches: Vec<_> = reqs.iter().filter(|r| r.starts_with("PATCH ")).collect();
    assert_eq!(
        patches,
        [&format!("PATCH /api/v3/repos/{REPO}/issues/comments/1001")]
    );
    let runs = gh.with(|s| s.check_runs.clone());
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["head_sha"], HEAD);
    assert_eq!(runs[1]["conclusion"], "action_required");
    assert_eq!(
        runs[1]["details_url"],
        format!("https://github.com/{REPO}/pull/7")
    );
}

#[test]
fn a_rate_limit_is_waited_out_then_the_call_succeeds() {
    let gh = server();
    let reset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    gh.with(|s| {
        s.failures = vec![
            (429, vec![("retry-after".into(), "1".into())]),
            (
                403,
                vec![
                    ("x-ratelimit-remaining".into(), "0".into()),
                    ("x-ratelimit-reset".into(), reset),
                ],
            ),
        ]
    });
    let started = Instant::now();
    let out = assess(&gh, &["#8", "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json(&out)["rev"],
        "d0c5d0c5d0c5d0c5d0c5d0c5d0c5d0c5d0c5d0c5"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After 1 s, then until the reset: {:?}",
        started.elapsed()
    );
    let pull = format!("GET /repos/{REPO}/pulls/8");
    let reqs = gh.requests();
    assert_eq!(
        reqs[..3],
        [pull.clone(), pull.clone(), pull.clone()],
        "{reqs:#?}"
    );
    assert_eq!(reqs.iter().filter(|r| **r == pull).count(), 3, "{reqs:#?}");
    assert!(stderr(&out).contains("retrying"), "{}", stderr(&out));
}

#[test]
fn persistent_server_errors_give_up_after_bounded_retries() {
    let gh = server();
    gh.with(|s| s.failures = vec![(503, vec![]); 10]);
    let out = assess(&gh, &["#8"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "GitHub answered 503 for /repos/{REPO}/pulls/8 on all 3 attempts"
        )),
        "{err}"
    );
    assert!(err.contains("try again later"), "{err}");
    assert_eq!(gh.requests().len(), 3, "one call and max_retries = 2");
}

#[test]
fn a_hung_server_times_out_and_the_retries_stop() {
    let gh = server();
    gh.with(|s| s.stalls = 10);
    let started = Instant::now();
    let out = assess(
        &gh,
        &["#8"],
        &[
            ("DEPLOY_AGENT_GITHUB__TIMEOUT_SECS", "1"),
            ("DEPLOY_AGENT_GITHUB__MAX_RETRIES", "1"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("GitHub API unreachable at {}", gh.url())),
        "{err}"
    );
    assert!(err.contains("check [github] api_url"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "two 1 s attempts, not the server's 30 s: {:?}",
        started.elapsed()
    );
}

#[test]
fn bad_tokens_and_missing_repositories_say_what_to_do_and_are_not_retried() {
    let gh = server();
    let out = assess(&gh, &["#7"], &[("GITHUB_TOKEN", "wrong")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("token missing or invalid: set GITHUB_TOKEN"),
        "{err}"
    );
    assert!(
        err.contains(&format!("401 for /repos/{REPO}/pulls/7")),
        "{err}"
    );
    assert_eq!(gh.requests().len(), 1, "a 401 is not retried");

    let dir = tempfile::tempdir().unwrap();
    let url = gh.url();
    let out = run_cli(
        dir.path(),
        &["assess", "--github", "acme/nope", "#7", "--llm", "off"],
        &[
            ("DEPLOY_AGENT_GITHUB__API_URL", url.as_str()),
            ("GITHUB_TOKEN", TOKEN),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("check `acme/nope` and `#7`"), "{err}");
    assert!(err.contains("GITHUB_TOKEN cannot read it"), "{err}");
    assert_eq!(gh.requests().len(), 2, "a 404 is not retried");
}

#[test]
fn a_check_run_without_the_app_token_is_forbidden_with_the_permission_named() {
    let gh = server();
    // A token that reads but is no App installation token: GitHub answers 403.
    let out = assess(
        &gh,
        &[HEAD, "--post"],
        &[("GITHUB_APP_INSTALLATION_TOKEN", TOKEN)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("You must authenticate via a GitHub App."),
        "{err}"
    );
    assert!(err.contains("checks:write"), "{err}");
    assert_eq!(count(&gh, "POST "), 1, "a plain 403 is not retried");
}
