//! History: earlier reverts and fixes, no leakage from the future, per-repo calibration.

use crate::assess_kinds::{assess, factor, score};
use crate::support::repo::Repo;

#[test]
fn files_with_reverted_history_score_higher_than_quiet_ones() {
    let r = Repo::new();
    r.lines("src/payments.py", 50, "p")
        .lines("src/reports.py", 50, "r");
    r.commit("initial");
    r.lines("src/payments.py", 60, "p2");
    let bad = r.commit("speed up payments");
    r.revert(&bad);
    r.lines("src/reports.py", 40, "r2");
    r.commit("tidy reports");
    // Two branches making the same-sized change to each file.
    r.git(&["checkout", "-q", "-b", "pay"]);
    r.lines("src/payments.py", 55, "p3");
    let pay = r.commit("retry payments");
    r.git(&["checkout", "-q", "-b", "rep", "main"]);
    r.lines("src/reports.py", 45, "r3");
    let rep = r.commit("retry reports");

    let vp = assess(&r, &pay, &[]);
    let vr = assess(&r, &rep, &[]);
    let f = factor(&vp, "history_reverts").expect("history_reverts factor");
    assert!(f["evidence"].as_str().unwrap().contains(&bad[..10]), "{f}");
    assert_eq!(vp["history"]["reverted_touching"][0], bad.as_str());
    assert!(factor(&vr, "history_reverts").is_none());
    assert!(score(&vp) > score(&vr), "{} vs {}", score(&vp), score(&vr));
}

#[test]
fn assessing_an_old_commit_ignores_what_happened_later() {
    let r = Repo::new();
    r.lines("src/core.rs", 30, "c");
    r.commit("initial");
    r.lines("src/core.rs", 35, "c2");
    let target = r.commit("rework core");
    let before = assess(&r, &target, &[]);
    // Later history: the target is reverted, others fix the same file.
    r.revert(&target);
    r.lines("src/core.rs", 36, "c3");
    r.commit("fix core again");
    let after = assess(&r, &target, &[]);
    assert_eq!(before["risk_score"], after["risk_score"]);
    assert_eq!(before["factors"], after["factors"]);
    assert_eq!(after["history"]["commits_read"], 1);
}

#[test]
fn fixes_touching_the_files_are_counted() {
    let r = Repo::new();
    r.lines("src/parser.rs", 20, "a");
    r.commit("initial");
    for i in 0..3 {
        r.lines("src/parser.rs", 21 + i, "b");
        r.commit(&format!("fix: parser edge case {i}"));
    }
    r.lines("src/parser.rs", 30, "c");
    let v = assess(&r, &r.commit("extend parser"), &[]);
    let f = factor(&v, "history_fixes").expect("fixes factor");
    assert!(f["evidence"].as_str().unwrap().starts_with("3 "), "{f}");
}

#[test]
fn calibration_learns_this_repositorys_reverts() {
    let r = Repo::new();
    r.lines("src/main.go", 10, "m").lines("deploy.env", 3, "e");
    r.commit("initial");
    // In this repository, configuration changes get reverted; source changes do not.
    for i in 0..60 {
        if i % 5 == 0 {
            r.lines("deploy.env", 4 + i, "e");
            let c = r.commit(&format!("tune env {i}"));
            if i % 10 == 0 {
                r.revert(&c);
            }
        } else {
            r.lines("src/main.go", 10 + i, "m");
            r.commit(&format!("feature {i}"));
        }
    }
    r.lines("deploy.env", 50, "z");
    let v = assess(&r, &r.commit("tune env again"), &[]);
    let cal = &v["calibration"];
    assert_eq!(cal["status"], "applied", "{cal}");
    assert_eq!(cal["reverts"], 6);
    let f = factor(&v, "touches_config").expect("config factor");
    assert!(
        f["weight"].as_f64().unwrap() > f["policy_weight"].as_f64().unwrap(),
        "calibration should raise the config weight here: {f}"
    );

    // With calibration off (a policy that says so), the policy weight is used.
    let text = deploy_agent::policy::DEFAULT_POLICY.replace("enabled = true", "enabled = false");
    let policy = r.path().join("policy.toml");
    std::fs::write(&policy, text).unwrap();
    let off = assess(&r, "HEAD", &["--policy", policy.to_str().unwrap()]);
    assert_eq!(off["calibration"]["status"], "disabled");
    let f = factor(&off, "touches_config").unwrap();
    assert_eq!(f["weight"], f["policy_weight"]);
    assert!(score(&v) > score(&off));
}
