//! `assess --github OWNER/REPO REV [--post]` against a fake GitHub API: the real
//! binary, real response shapes, `Link` pagination, comment upsert, check runs.

use serde_json::Value;

use crate::support::fake_github::shapes::{comment, commit, file, pull};
use crate::support::fake_github::{FakeGitHub, APP_TOKEN, REPO, TOKEN};
use crate::support::{json, run_cli, stderr};

pub(crate) const HEAD: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
const BASE: &str = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf00112233";
const DOCS_HEAD: &str = "d0c5d0c5d0c5d0c5d0c5d0c5d0c5d0c5d0c5d0c5";

fn change_files() -> Vec<Value> {
    vec![
        file(
            "migrations/002_add_column.sql",
            "added",
            1,
            0,
            Some("@@ -0,0 +1 @@\n+alter table orders add column note text;"),
        ),
        file(
            "src/app.rs",
            "modified",
            2,
            1,
            Some("@@ -1,3 +1,4 @@\n fn main() {\n-    run();\n+    run_with_notes();\n+    flush();\n }"),
        ),
        // Binary: GitHub sends no patch and no line counts.
        file("assets/logo.png", "added", 0, 0, None),
        // Too large: no patch, but the counts are there.
        file("data/fixtures.json", "modified", 4000, 10, None),
    ]
}

/// acme/shop: eight older commits, the base, a commit touching a migration,
/// PR #7 (that commit plus one more file) and PR #8 (docs only).
pub(crate) fn server() -> FakeGitHub {
    let gh = FakeGitHub::start();
    gh.with(|s| {
        let mut pr_files = change_files();
        pr_files.push(file(
            "src/notes.rs",
            "renamed",
            3,
            0,
            Some("@@ -1 +1,4 @@\n+pub fn note() {}"),
        ));
        let mut pr_files_renamed = pr_files.pop().unwrap();
        pr_files_renamed["previous_filename"] = "src/memo.rs".into();
        pr_files.push(pr_files_renamed);
        s.commits.push(commit(
            HEAD,
            Some(BASE),
            "alice@example.com",
            "2026-11-20T09:00:00Z",
            "Add a note column to orders\n\nAnd use it.",
            change_files(),
        ));
        s.commits.push(commit(
            DOCS_HEAD,
            Some(BASE),
            "bob@example.com",
            "2026-11-21T09:00:00Z",
            "Explain the notes",
            vec![file(
                "README.md",
                "modified",
                3,
                1,
                Some("@@ -1 +1,3 @@\n+notes"),
            )],
        ));
        let older: Vec<String> = (1..=8).map(|i| format!("{i:040x}")).collect();
        s.commits.push(commit(
            BASE,
            Some(&older[0]),
            "alice@example.com",
            "2026-11-19T09:00:00Z",
            "Fix the checkout total",
            vec![],
        ));
        for (i, sha) in older.iter().enumerate() {
            let date = format!("2026-11-{:02}T09:00:00Z", 18 - i);
            s.commits.push(commit(
                sha,
                older.get(i + 1).map(String::as_str),
                "carol@example.com",
                &date,
                &format!("Change number {i}"),
                vec![],
            ));
        }
        s.pulls
            .insert(7, pull(7, HEAD, BASE, "Add a note column to orders"));
        s.pull_files.insert(7, pr_files);
        s.pulls
            .insert(8, pull(8, DOCS_HEAD, BASE, "Explain the notes"));
        s.pull_files.insert(
            8,
            vec![file(
                "README.md",
                "modified",
                3,
                1,
                Some("@@ -1 +1,3 @@\n+notes"),
            )],
        );
        // Humans talked first, so the listing of comments has two pages at page size 2.
        s.comments.insert(
            7,
            (1..=3)
                .map(|i| comment(i, 7, &format!("looks good {i}"), "bob", "User"))
                .collect(),
        );
    });
    gh
}

fn assess(gh: &FakeGitHub, args: &[&str], token: &str, app: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let url = gh.url();
    let mut all = vec!["assess", "--github"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--llm", "off"]);
    run_cli(
        dir.path(),
        &all,
        &[
            ("DEPLOY_AGENT_GITHUB__API_URL", url.as_str()),
            ("DEPLOY_AGENT_GITHUB__MAX_RETRIES", "2"),
            ("GITHUB_TOKEN", token),
            ("GITHUB_APP_INSTALLATION_TOKEN", app),
        ],
    )
}

fn categories(out: &Value) -> Vec<String> {
    out["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["category"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_commit_is_assessed_with_files_categories_and_missing_patches_flagged() {
    let gh = server();
    let out = assess(&gh, &[REPO, HEAD, "--format", "json"], TOKEN, "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["rev"], HEAD);
    assert_eq!(j["base"], BASE);
    assert_eq!(j["stats"]["files"], 4);
    assert_eq!(j["stats"]["lines_added"], 4003);
    assert_eq!(j["stats"]["binary_files"], 1, "the patch-less png");
    assert!(categories(&j).contains(&"migration".to_string()), "{j}");
    assert!(j["risk_score"].as_f64().unwrap() > 0.0);
    assert_eq!(j["requires_approval"], true);
    assert_eq!(j["history"]["commits_read"], 9, "base and the 8 before it");
    let warnings = j["warnings"].to_string();
    assert!(warnings.contains("2 file(s) without a patch"), "{warnings}");
    assert!(warnings.contains("assets/logo.png"), "{warnings}");
    assert!(warnings.contains("no file lists"), "{warnings}");
}

#[test]
fn a_pull_request_follows_link_pagination_for_files_and_history() {
    let gh = server();
    gh.with(|s| s.page_size = 2);
    let out = assess(&gh, &[REPO, "#7", "--format", "json"], TOKEN, "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["rev"], HEAD);
    assert_eq!(j["stats"]["files"], 5, "three pages of two");
    assert_eq!(j["stats"]["renames"], 1);
    assert_eq!(j["commit"]["subject"], "Add a note column to orders");
    assert_eq!(j["history"]["commits_read"], 9);
    let reqs = gh.requests();
    let files_pages = reqs.iter().filter(|r| r.contains("/pulls/7/files")).count();
    assert_eq!(files_pages, 3, "{reqs:#?}");
    assert!(reqs
        .iter()
        .any(|r| r.contains("/commits?") && r.contains("page=5")));
}

#[test]
fn post_twice_creates_one_comment_then_updates_it() {
    let gh = server();
    gh.with(|s| s.page_size = 2);
    for round in 0..2 {
        let out = assess(&gh, &[REPO, "#7", "--post"], TOKEN, "");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let verb = if round == 0 { "posted" } else { "updated" };
        assert!(stderr(&out).contains(verb), "{}", stderr(&out));
    }
    let comments = gh.with(|s| s.comments[&7].clone());
    assert_eq!(comments.len(), 4, "three human comments and ours, once");
    let ours = comments[3]["body"].as_str().unwrap();
    assert!(ours.starts_with("<!-- deploy-agent:assess -->"), "{ours}");
    assert!(ours.contains("deploy-agent risk"), "{ours}");
    assert!(
        ours.contains("```mermaid\nxychart-beta\n"),
        "the factors' chart GitHub draws: {ours}"
    );
    let reqs = gh.requests();
    let posts = reqs.iter().filter(|r| r.starts_with("POST ")).count();
    let patches = reqs.iter().filter(|r| r.starts_with("PATCH ")).count();
    assert_eq!((posts, patches), (1, 1), "{reqs:#?}");
    assert!(
        gh.with(|s| s.check_runs.is_empty()),
        "no App token, no check run"
    );
}

#[test]
fn check_runs_carry_the_policy_conclusion() {
    let gh = server();
    for (rev, conclusion) in [("#7", "action_required"), ("#8", "success")] {
        let out = assess(
            &gh,
            &[REPO, rev, "--post", "--format", "json"],
            TOKEN,
            APP_TOKEN,
        );
        assert_eq!(out.status.code(), Some(0), "{rev}: {}", stderr(&out));
        let j = json(&out);
        let run = gh.with(|s| s.check_runs.last().cloned().unwrap());
        assert_eq!(run["name"], "deploy-agent risk");
        assert_eq!(run["status"], "completed");
        assert_eq!(run["conclusion"], conclusion, "{rev}");
        assert_eq!(run["head_sha"], j["rev"]);
        let title = run["output"]["title"].as_str().unwrap();
        let score = format!("{:.2}", j["risk_score"].as_f64().unwrap());
        assert!(title.contains(&score), "{title}");
        assert!(title.contains(j["level"].as_str().unwrap()), "{title}");
        let summary = run["output"]["summary"].as_str().unwrap();
        assert!(summary.contains("deploy-agent risk"));
        assert!(summary.contains("```mermaid\nxychart-beta\n"), "{summary}");
    }
    // A commit gets the check run only.
    let out = assess(&gh, &[REPO, HEAD, "--post"], TOKEN, APP_TOKEN);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(gh.with(|s| s.check_runs.len()), 3);
}

#[test]
fn bad_credentials_unknown_targets_and_unpostable_commits_are_clear_errors() {
    let gh = server();
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec![REPO, "#7"],
            "wrong",
            "token missing or invalid: set GITHUB_TOKEN",
        ),
        (
            vec!["acme/nope", "#7"],
            TOKEN,
            "OWNER/REPO or revision not found",
        ),
        (vec![REPO, "#99"], TOKEN, "OWNER/REPO or revision not found"),
        (
            vec![REPO, "deadbeef"],
            TOKEN,
            "OWNER/REPO or revision not found",
        ),
        (vec![REPO, "main"], TOKEN, "commit sha or #PR_NUMBER"),
        (vec!["acme", "#7"], TOKEN, "--github expects OWNER/REPO"),
        (
            vec![REPO, HEAD, "--post"],
            TOKEN,
            "needs GITHUB_APP_INSTALLATION_TOKEN",
        ),
    ];
    for (args, token, needle) in cases {
        let out = assess(&gh, &args, token, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn server_errors_and_rate_limits_are_retried_within_bounds() {
    let gh = server();
    gh.with(|s| {
        s.failures = vec![
            (502, vec![]),
            (429, vec![("retry-after".into(), "0".into())]),
        ]
    });
    let out = assess(&gh, &[REPO, "#8", "--format", "json"], TOKEN, "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A reset an hour away is not waited for.
    let reset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    gh.with(|s| {
        s.failures = vec![(
            403,
            vec![
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-reset".into(), reset),
            ],
        )]
    });
    let out = assess(&gh, &[REPO, "#8"], TOKEN, "");
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("rate limit"), "{}", stderr(&out));
}
