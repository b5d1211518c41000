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
