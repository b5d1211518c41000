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

    // A branch forked before the fitted tip: the policy scores it, and says why.
    r.git(&["checkout", "-q", "-b", "old", "HEAD~20"]);
    r.lines("src/calm.rs", 4, "fork");
    r.commit("on an old branch");
    let f = json(&run_cli(
        r.path(),
        &["assess", "HEAD", "--format", "json", "--llm", "off"],
        &[],
    ));
    assert_eq!(f["model"]["source"], "policy");
    assert!(f["warnings"].to_string().contains("not an ancestor"), "{f}");

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
