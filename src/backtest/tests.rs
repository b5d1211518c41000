//! The backtest on a small real repository, and the AUC on known cases.

use std::path::Path;
use std::process::Command;

use super::metrics::auc;
use super::*;
use crate::git::LocalGit;

fn git(dir: &Path, args: &[&str], time: i64) {
    let date = format!("{time} +0000");
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_AUTHOR_NAME", "a")
        .env("GIT_AUTHOR_EMAIL", "a@x")
        .env("GIT_COMMITTER_NAME", "a")
        .env("GIT_COMMITTER_EMAIL", "a@x")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn head(dir: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn auc_counts_ties_half_and_orders() {
    assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]), 1.0);
    assert_eq!(auc(&[0.4, 0.3, 0.2, 0.1], &[false, false, true, true]), 0.0);
    assert_eq!(auc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]), 0.5);
    assert!((auc(&[0.1, 0.3, 0.2, 0.4], &[false, false, true, true]) - 0.75).abs() < 1e-12);
}

/// A repository where two commits were reverted later: both are labelled,
/// the reverts themselves are not, young commits are left out, and every
/// score is taken before the commit joined the history.
#[test]
fn reverted_commits_are_labelled_and_scored_as_of_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = 86_400;
    let t0 = 1_700_000_000;
    git(d, &["init", "-q", "-b", "main"], t0);
    let mut reverted = Vec::new();
    for i in 0..30 {
        let t = t0 + i * day;
        let file = format!("src/f{}.rs", i % 5);
        std::fs::create_dir_all(d.join("src")).unwrap();
        std::fs::write(
            d.join(&file),
            format!("fn f() {{ {i} }}\n").repeat(1 + i as usize),
        )
        .unwrap();
        git(d, &["add", "-A"], t);
        git(d, &["commit", "-q", "-m", &format!("change {i}")], t);
        if i == 10 || i == 20 {
            let sha = head(d);
            git(d, &["revert", "--no-edit", &sha], t + 3600);
            reverted.push(sha);
        }
    }
    let repo = LocalGit::open(d).unwrap();
    let policy = Policy::embedded().unwrap();
    let options = BacktestOptions {
        tip: "HEAD".into(),
        commits: 1000,
        min_age_days: 5,
        seed: 1,
    };
    let mut calls = 0;
    let out = run(&repo, &policy, &options, &Default::default(), |_, _| {
        calls += 1
    })
    .unwrap();
    assert!(out.unreadable.is_empty());
    let scored = out.scored;
    // 32 commits; the 5 youngest days (commits 25..29) are left out.
    assert_eq!(
        scored.len(),
        32 - 5,
        "{:?}",
        scored.iter().map(|s| &s.sha).collect::<Vec<_>>()
    );
    assert_eq!(calls, scored.len());
    let labelled: Vec<&str> = scored
        .iter()
        .filter(|s| s.reverted)
        .map(|s| s.sha.as_str())
        .collect();
    assert_eq!(labelled.len(), 2);
    for sha in &reverted {
        assert!(labelled.contains(&sha.as_str()), "{sha} labelled");
    }
    // Oldest first, so "as of its own time" is the order they were scored in.
    assert!(scored.windows(2).all(|w| w[0].time <= w[1].time));
    let m = Metrics::of(&scored, 1).unwrap();
    assert_eq!((m.commits, m.reverted), (27, 2));
    assert!(m.auc_ci.0 <= m.auc && m.auc <= m.auc_ci.1, "{:?}", m);
    assert!(!m.levels.is_empty() && !m.factors.is_empty());
    let text = render::markdown(&m, "test");
    assert!(text.contains("ROC AUC of the score"), "{text}");
}

#[test]
fn no_reverts_is_a_clear_error() {
    let scored = vec![Scored {
        sha: "a".into(),
        time: 0,
        score: 0.2,
        level: Level::Low,
        lines: 3,
        reverted: false,
        contributions: vec![],
        values: vec![],
    }];
    let e = Metrics::of(&scored, 1).unwrap_err();
    assert!(e.to_string().contains("widen --commits"), "{e}");
}

/// A commit whose blob is missing (a partial clone, a damaged mirror) is left
/// out and listed; every other commit is still scored.
#[test]
fn an_unreadable_commit_is_left_out_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t0 = 1_700_000_000;
    git(d, &["init", "-q", "-b", "main"], t0);
    for i in 0..6 {
        // One file grown by every commit: a diff needs both versions' blobs.
        let text = (0..=i).map(|k| format!("line {k}\n")).collect::<String>();
        std::fs::write(d.join("f.txt"), text).unwrap();
        git(d, &["add", "-A"], t0 + i * 60);
        git(d, &["commit", "-q", "-m", &format!("c{i}")], t0 + i * 60);
    }
    let out = Command::new("git")
        .args(["rev-parse", "HEAD~2:f.txt"])
        .current_dir(d)
        .output()
        .unwrap();
    let blob = String::from_utf8(out.stdout).unwrap().trim().to_string();
    std::fs::remove_file(d.join(".git/objects").join(&blob[..2]).join(&blob[2..])).unwrap();
    let repo = LocalGit::open(d).unwrap();
    let policy = Policy::embedded().unwrap();
    let options = BacktestOptions {
        tip: "HEAD".into(),
        commits: 100,
        min_age_days: 0,
        seed: 1,
    };
    let out = run(&repo, &policy, &options, &Default::default(), |_, _| {}).unwrap();
    // The commit that wrote the blob and the one diffed against it.
    assert_eq!(out.unreadable.len(), 2, "{:?}", out.unreadable);
    assert_eq!(out.scored.len(), 4);
}

#[test]
fn roc_runs_from_nothing_to_everything_with_ties_moving_together() {
    let pts = super::plot::roc(&[0.9, 0.5, 0.5, 0.1], &[true, true, false, false]);
    assert_eq!(pts, vec![(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
}

/// GitHub's revert button: `Revert "<title>"` with no sha, pull request
/// numbers on both subjects; the most recent earlier match is the one.
#[test]
fn a_github_style_revert_by_title_labels_its_target() {
    let c = |sha: &str, time: i64, message: &str| HistoryCommit {
        sha: sha.into(),
        author_email: "a@x".into(),
        time,
        message: message.into(),
        files: vec!["a.rs".into()],
    };
    let day = 86_400;
    // Newest first, as the history arrives.
    let commits = vec![
        c(
            "d4",
            40 * day,
            "Revert \"Add cache (#12)\" (#15)\n\nbroke prod",
        ),
        c("c3", 30 * day, "Add cache (#12)"),
        c("b2", 10 * day, "Add cache"),
        c("a1", 0, "Revert \"Something never committed\""),
    ];
    let reverted = reverted_shas(&commits);
    assert_eq!(reverted.get("c3"), Some(&"d4"));
    assert_eq!(reverted.len(), 1, "{reverted:?}");
    assert_eq!(
        reverted_title("Revert \"Add cache (#12)\" (#15)"),
        Some("Add cache")
    );
    assert_eq!(bare_subject("Add cache (#12)"), "Add cache");
}
