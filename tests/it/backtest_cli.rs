//! `deploy-agent backtest` through the binary: figures, JSON, and bad input.

use crate::support::repo::Repo;
use crate::support::{json, run_cli, stderr, stdout};

#[test]
fn backtest_reports_the_ranking_and_says_when_it_cannot() {
    let r = Repo::new();
    for i in 0..12 {
        r.lines(&format!("src/m{}.rs", i % 3), 5 + i, &format!("v{i}"));
        let sha = r.commit(&format!("change {i}"));
        if i == 4 {
            r.revert(&sha);
        }
    }
    let text = run_cli(r.path(), &["backtest", "--min-age-days", "0"], &[]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    assert!(
        stdout(&text).contains("ROC AUC of the score"),
        "{}",
        stdout(&text)
    );
    assert!(
        stdout(&text).contains("1 later reverted"),
        "{}",
        stdout(&text)
    );
    assert!(
        stderr(&text).contains("commits scored"),
        "progress on stderr"
    );

    let j = run_cli(
        r.path(),
        &["backtest", "--min-age-days", "0", "--format", "json"],
        &[],
    );
    let v = json(&j);
    assert_eq!(v["metrics"]["reverted"], 1);
    assert_eq!(v["commits"].as_array().map(Vec::len), Some(13));

    // Too few commits to hold a revert: a clear error, exit 2.
    let none = run_cli(
        r.path(),
        &["backtest", "--commits", "2", "--min-age-days", "0"],
        &[],
    );
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("widen --commits"),
        "{}",
        stderr(&none)
    );
    let zero = run_cli(r.path(), &["backtest", "--commits", "0"], &[]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(
        stderr(&zero).contains("--commits must be at least 1"),
        "{}",
        stderr(&zero)
    );
}

/// `calibrate` fits and caches this repository's model; `assess` then uses it
/// (reading only the commits since), says how well it ranks this history, and
/// falls back to the policy — saying why — on a forked branch or a damaged cache.
#[test]
fn calibrate_caches_a_model_that_assess_uses_and_reports() {
    let r = Repo::new();
    for i in 0..40 {
        let path = if i % 4 == 0 {
            "src/risky.rs"
        } else {
            "src/calm.rs"
        };
        r.lines(path, 3 + i % 7, &format!("v{i}"));
        let sha = r.commit(&format!("change {i}"));
        if i % 8 == 0 {
            r.revert(&sha);
        }
    }
    let fit = run_cli(
        r.path(),
        &["calibrate", "--min-age-days", "0", "--format", "json"],
        &[],
    );
    assert_eq!(fit.status.code(), Some(0), "{}", stderr(&fit));
    let v = json(&fit);
    let commits = v["prior"]["commits"].as_u64().unwrap();
    assert!(commits >= 40, "{v}");
    assert!(v["prior"]["reverted"].as_u64().unwrap() >= 4, "{v}");
    assert!(["policy", "prior", "refit"].contains(&v["chosen"].as_str().unwrap()));
    assert_eq!(v["reused"], 0);
    assert!(r.path().join(".git/deploy-agent/risk/model.json").is_file());

    // A new commit after the fit: scored by the repository's model.
    r.lines("src/risky.rs", 12, "new");
    r.commit("touch the risky file again");
    let a = json(&run_cli(
        r.path(),
        &["assess", "HEAD", "--format", "json", "--llm", "off"],
        &[],
    ));
    assert_eq!(a["model"]["source"], "repository", "{a}");
    assert_eq!(a["model"]["how_well"]["commits"].as_u64(), Some(commits));
    assert!(a["calibration"]["status"]
        .as_str()
        .unwrap()
        .starts_with("repository_model"));
    let text = stdout(&run_cli(r.path(), &["assess", "HEAD", "--llm", "off"], &[]));
    assert!(text.contains("ROC AUC"), "{text}");

    // Again: the rows are reused, only the new commit is read.
    let again = json(&run_cli(
        r.path(),
        &["calibrate", "--min-age-days", "0", "--format", "json"],
        &[],
    ));
    assert!(again["reused"].as_u64().unwrap() >= commits, "{again}");

    // A branch forked before the fitted tip (a pull request on an older
    // main): still the repository's model, with the branch's own commits.
    r.git(&["checkout", "-q", "-b", "old", "HEAD~20"]);
    r.lines("src/calm.rs", 4, "fork");
    r.commit("on an old branch, first");
    r.lines("src/calm.rs", 5, "fork2");
    r.commit("on an old branch, second");
    let f = json(&run_cli(
        r.path(),
        &["assess", "HEAD", "--format", "json", "--llm", "off"],
        &[],
    ));
    assert_eq!(f["model"]["source"], "repository", "{f}");

    // A commit the model was fitted on is history: the policy scores it
    // (its reverts are in the cache), and the report says why.
    let h = json(&run_cli(
        r.path(),
        &["assess", "HEAD~3", "--format", "json", "--llm", "off"],
        &[],
    ));
    assert_eq!(h["model"]["source"], "policy");
    assert!(
        h["warnings"].to_string().contains("part of the history"),
        "{h}"
    );

    // A damaged cache never fails an assessment: a warning says what to do.
    std::fs::write(r.path().join(".git/deploy-agent/risk/model.json"), "{").unwrap();
    let d = run_cli(
        r.path(),
        &["assess", "HEAD", "--format", "json", "--llm", "off"],
        &[],
    );
    assert_eq!(d.status.code(), Some(0), "{}", stderr(&d));
    let d = json(&d);
    assert_eq!(d["model"]["source"], "policy");
    assert!(d["warnings"].to_string().contains("damaged"), "{d}");
}

/// A pull request reverted as a whole (`git revert -m 1 <merge>`) labels the
/// commits the merge brought in — not just the merge, which has no change of
/// its own to score.
#[test]
fn a_reverted_merge_labels_its_commits() {
    let r = Repo::new();
    for i in 0..6 {
        r.lines("src/base.rs", 3 + i, &format!("b{i}"));
        r.commit(&format!("base {i}"));
    }
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.lines("src/feature.rs", 5, "f1");
    let first = r.commit("feature, part one");
    r.lines("src/feature.rs", 9, "f2");
    let second = r.commit("feature, part two");
    r.git(&["checkout", "-q", "-"]);
    r.lines("src/base.rs", 2, "meanwhile");
    let meanwhile = r.commit("meanwhile on main");
    r.git(&[
        "merge",
        "--no-ff",
        "-q",
        "-m",
        "Merge pull request #7",
        "feature",
    ]);
    let merge = r.head();
    r.git(&["revert", "-m", "1", "--no-edit", &merge]);
    r.lines("src/base.rs", 4, "after");
    r.commit("after the revert");
    let v = json(&run_cli(
        r.path(),
        &["backtest", "--min-age-days", "0", "--format", "json"],
        &[],
    ));
    let label = |sha: &str| {
        v["commits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["sha"] == sha)
            .map(|c| c["reverted"].as_bool().unwrap())
    };
    assert_eq!(label(&first), Some(true), "{v}");
    assert_eq!(label(&second), Some(true));
    assert_eq!(label(&meanwhile), Some(false));
    assert_eq!(v["metrics"]["reverted"], 2);
}
