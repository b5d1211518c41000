//! What kind of change it is: ordering, floors, evidence and the git edge cases.

use serde_json::Value;

use crate::support::repo::Repo;
use crate::support::{json, run_cli};

/// Assesses `rev` through the binary, offline, and returns the JSON report.
pub fn assess(repo: &Repo, rev: &str, extra: &[&str]) -> Value {
    let mut args = vec!["assess", rev, "--format", "json", "--llm", "off"];
    args.extend_from_slice(extra);
    let out = run_cli(repo.path(), &args, &[]);
    assert!(
        out.status.success(),
        "assess {rev} failed: {}",
        crate::support::stderr(&out)
    );
    json(&out)
}

pub fn score(v: &Value) -> f64 {
    v["risk_score"].as_f64().expect("risk_score")
}

pub fn factor<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["factors"].as_array()?.iter().find(|f| f["name"] == name)
}

/// A base commit with one file of each kind, each with the same history.
fn base_repo() -> Repo {
    let r = Repo::new();
    for (path, tag) in [
        ("db/migrations/001_init.sql", "sql"),
        ("config/app.yaml", "cfg"),
        ("src/app.py", "src"),
        ("tests/test_app.py", "test"),
        ("docs/guide.md", "doc"),
    ] {
        r.lines(path, 40, tag);
    }
    r.commit("initial import");
    r
}

/// Makes one branch from `main` changing `path` with 20 new lines; returns its sha.
fn change_on_branch(r: &Repo, branch: &str, path: &str) -> String {
    r.git(&["checkout", "-q", "-b", branch, "main"]);
    let old = std::fs::read_to_string(r.path().join(path)).unwrap_or_default();
    let extra: String = (0..20).map(|i| format!("{branch} change {i}\n")).collect();
    r.write(path, old + &extra);
    let sha = r.commit(&format!("update {path}"));
    r.git(&["checkout", "-q", "main"]);
    sha
}

#[test]
fn migration_outranks_config_outranks_source_outranks_tests_outranks_docs() {
    let r = base_repo();
    let kinds = [
        ("mig", "db/migrations/002_add_column.sql"),
        ("cfg", "config/app.yaml"),
        ("src", "src/app.py"),
        ("tst", "tests/test_app.py"),
        ("doc", "docs/guide.md"),
    ];
    let scores: Vec<(String, f64)> = kinds
        .iter()
        .map(|(b, p)| {
            let sha = change_on_branch(&r, b, p);
            (b.to_string(), score(&assess(&r, &sha, &[])))
        })
        .collect();
    for pair in scores.windows(2) {
        assert!(
            pair[0].1 > pair[1].1,
            "{} ({:.3}) should outrank {} ({:.3}); all: {scores:?}",
            pair[0].0,
            pair[0].1,
            pair[1].0,
            pair[1].1
        );
    }
}

#[test]
fn migration_is_held_at_its_floor_and_needs_approval() {
    let r = base_repo();
    // A one-line migration by a long-standing author: tiny, but never below the floor.
    for i in 0..30 {
        r.lines("src/app.py", 40 + i, "grow");
        r.commit(&format!("grow {i}"));
    }
    r.write("db/migrations/002.sql", "alter table t add column c int;\n");
    let sha = r.commit("add column");
    let v = assess(&r, &sha, &[]);
    assert_eq!(v["floor"]["category"], "migration");
    let floor = v["floor"]["value"].as_f64().unwrap();
    // The logistic model alone says less than the floor; the floor wins.
    assert!(v["logistic_score"].as_f64().unwrap() < floor, "{v}");
    assert_eq!(score(&v), floor);
    assert_eq!(v["level"], "high");
    assert_eq!(v["requires_approval"], true);
    let reasons = v["approval_reasons"].to_string();
    assert!(reasons.contains("migration"), "{reasons}");
    let f = factor(&v, "touches_migration").expect("migration factor");
    assert!(f["evidence"]
        .as_str()
        .unwrap()
        .contains("db/migrations/002.sql"));
    assert!(f["contribution"].as_f64().unwrap() > 0.0);
}

#[test]
fn json_report_has_the_documented_fields() {
    let r = base_repo();
    let sha = change_on_branch(&r, "src", "src/app.py");
    let v = assess(&r, &sha, &[]);
    assert!(v["risk_score"].is_f64());
    assert!(v["deterministic_score"].is_f64());
    assert!(["low", "medium", "high", "critical"].contains(&v["level"].as_str().unwrap()));
    assert!(v["requires_approval"].is_boolean());
    assert!(v["strategy"]["kind"].is_string());
    assert_eq!(v["rev"], sha.as_str());
    assert!(v["base"].is_string());
    assert_eq!(v["llm"]["status"], "off");
    assert!(v["llm"]["score"].is_null());
    for f in v["factors"].as_array().unwrap() {
        assert!(
            f["name"].is_string() && f["contribution"].is_f64() && f["evidence"].is_string(),
            "{f}"
        );
    }
    // The report's score is reproducible from its own factors.
    let sum: f64 = v["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["contribution"].as_f64().unwrap())
        .sum();
    let z = v["intercept"].as_f64().unwrap() + sum;
    let logistic = 1.0 / (1.0 + (-z).exp());
    assert!(
        (logistic - v["logistic_score"].as_f64().unwrap()).abs() < 1e-3,
        "{v}"
    );
}

#[test]
fn root_commit_is_compared_with_the_empty_tree() {
    let r = Repo::new();
    r.lines("src/main.rs", 10, "x").lines("README.md", 3, "y");
    let sha = r.commit("first");
    let v = assess(&r, &sha, &[]);
    assert!(v["base"].is_null());
    assert_eq!(v["stats"]["files"], 2);
    assert_eq!(v["stats"]["lines_added"], 13);
    assert_eq!(v["history"]["commits_read"], 0);
}

#[test]
fn merge_commit_is_compared_with_its_first_parent() {
    let r = Repo::new();
    r.lines("src/a.rs", 5, "a");
    r.commit("base");
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.lines("src/b.rs", 7, "b");
    r.commit("feature one");
    r.lines("src/c.rs", 3, "c");
    r.commit("feature two");
    r.git(&["checkout", "-q", "main"]);
    r.lines("docs/x.md", 2, "d");
    r.commit("main moves on");
    r.git(&["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"]);
    let v = assess(&r, "HEAD", &[]);
    assert_eq!(v["commit"]["parents"], 2);
    assert_eq!(v["stats"]["files"], 2, "{v}");
    assert_eq!(v["stats"]["lines_added"], 10);
}

#[test]
fn base_flag_compares_with_the_merge_base() {
    let r = Repo::new();
    r.lines("src/a.rs", 5, "a");
    r.commit("base");
    r.git(&["checkout", "-q", "-b", "pr"]);
    r.lines("src/b.rs", 4, "b");
    r.commit("pr one");
    r.lines("src/c.rs", 6, "c");
    r.commit("pr two");
    let v = assess(&r, "pr", &["--base", "main"]);
    assert_eq!(v["stats"]["files"], 2);
    assert_eq!(v["stats"]["lines_added"], 10);
}

#[test]
fn renames_binaries_and_submodule_bumps_are_recognized() {
    let r = Repo::new();
    r.lines("src/old_name.rs", 30, "x");
    r.write("assets/logo.bin", [0u8, 159, 146, 150, 0, 1, 2, 3]);
    // An unpopulated submodule is an empty directory; `git add -A` then keeps the gitlink.
    std::fs::create_dir_all(r.path().join("vendor/lib")).unwrap();
    r.git(&["add", "-A"]);
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,vendor/lib",
    ]);
    r.commit("base");
    r.git(&["mv", "src/old_name.rs", "src/new_name.rs"]);
    r.write("assets/logo.bin", [0u8, 1, 2, 3, 4, 5, 6, 7, 8]);
    r.git(&["add", "-A"]);
    r.git(&[
        "update-index",
        "--cacheinfo",
        "160000,2222222222222222222222222222222222222222,vendor/lib",
    ]);
    let sha = r.commit("rename, new logo, bump vendor/lib");
    let v = assess(&r, &sha, &[]);
    assert_eq!(v["stats"]["renames"], 1, "{v}");
    assert_eq!(v["stats"]["binary_files"], 1);
    assert_eq!(v["stats"]["submodules"], 1);
    assert!(factor(&v, "submodule_bump").unwrap()["evidence"]
        .as_str()
        .unwrap()
        .contains("vendor/lib"));
    assert!(factor(&v, "binary_files").is_some());
}

#[test]
fn a_large_commit_is_read_whole() {
    let r = Repo::new();
    r.lines("README.md", 1, "r");
    r.commit("base");
    for i in 0..600 {
        r.lines(&format!("src/m{}/f{i}.rs", i % 30), 20, "big");
    }
    let sha = r.commit("vendor a big module");
    let v = assess(&r, &sha, &[]);
    assert_eq!(v["stats"]["files"], 600);
    assert_eq!(v["stats"]["lines_added"], 12_000);
    assert!(factor(&v, "touches_source").unwrap()["evidence"]
        .as_str()
        .unwrap()
        .contains("and 597 more"));
}

#[test]
fn message_cues_are_factors() {
    let r = base_repo();
    r.lines("src/app.py", 45, "w");
    let sha = r.commit("WIP: hotfix the payment path");
    let v = assess(&r, &sha, &[]);
    assert!(factor(&v, "message_wip").is_some(), "{v}");
    assert!(factor(&v, "message_hotfix").is_some());
}
