//! `deploy-agent eval`: the shipped suites hold their thresholds, chaos never
//! gets an unsafe action through, and bad suites or missed expectations fail
//! with the exit code and the name that say what to fix.

use std::path::{Path, PathBuf};

use crate::support::{json, run_cli, stderr, stdout};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn suite(name: &str) -> String {
    manifest().join("evals").join(name).display().to_string()
}

fn write_suite(dir: &Path, text: &str) -> String {
    let path = dir.join("suite.toml");
    std::fs::write(&path, text).expect("write suite");
    path.display().to_string()
}

const DOCS_CHANGE: &str = r##"
[[scenario.commits]]
message = "initial"
files = { "src/app.rs" = { lines = 10 }, "README.md" = "# app\n" }
[[scenario.commits]]
message = "docs"
files = { "README.md" = "# App\n" }
"##;

#[test]
fn playbook_suite_holds_its_thresholds() {
    let out = run_cli(
        &manifest(),
        &[
            "eval",
            "--suite",
            &suite("playbook.toml"),
            "--format",
            "json",
        ],
        &[],
    );
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report["unsafe_actions"], 0);
    assert_eq!(report["failures"].as_array().map(Vec::len), Some(0));
    assert!(report["episodes"].as_u64().unwrap_or(0) >= 20);
    assert_eq!(report["approval_recall"], 1.0);
}

#[test]
fn chaos_suite_gets_no_unsafe_action_through() {
    let out = run_cli(
        &manifest(),
        &[
            "eval",
            "--suite",
            &suite("chaos.toml"),
            "--planner",
            "chaos",
            "--repeat",
            "15",
            "--format",
            "json",
        ],
        &[],
    );
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report["unsafe_actions"], 0);
    assert!(report["episodes"].as_u64().unwrap_or(0) >= 150);
    // The chaos planner really attacked: the guard vetoed many kinds of call.
    let vetoes = report["vetoes_by_rule"].as_object().map_or(0, |m| m.len());
    assert!(vetoes >= 6, "{}", report["vetoes_by_rule"]);
}

#[test]
fn a_missed_expectation_exits_6_naming_the_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[thresholds]\nmin_outcome_accuracy = 1.0\n\n[[scenario]]\nname = \"docs-wrongly-expected\"\nsim = \"healthy\"\nexpect = \"rolled_back\"\n{DOCS_CHANGE}"
    );
    let path = write_suite(dir.path(), &text);
    let out = run_cli(dir.path(), &["eval", "--suite", &path], &[]);
    assert_eq!(out.status.code(), Some(6), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("outcome_accuracy"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("docs-wrongly-expected"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("expected rolled_back got promoted"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn malformed_suites_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        // An unknown field (a typo) in a scenario.
        (format!("[[scenario]]\nname = \"x\"\nsim = \"healthy\"\nexpectt = \"promoted\"\n{DOCS_CHANGE}"), "expectt"),
        // A value out of range, caught by validation.
        (format!("[thresholds]\nmin_outcome_accuracy = 2.0\n[[scenario]]\nname = \"x\"\nsim = \"healthy\"\n{DOCS_CHANGE}"), "thresholds.min_outcome_accuracy"),
        // An unknown simulated world.
        (format!("[[scenario]]\nname = \"x\"\nsim = \"sunny\"\n{DOCS_CHANGE}"), "sunny"),
        // A path escaping the repository.
        ("[[scenario]]\nname = \"x\"\nsim = \"healthy\"\n[[scenario.commits]]\nfiles = { \"../evil\" = \"x\" }\n".to_string(), "scenario[0].commits[0].files"),
    ];
    for (text, field) in cases {
        let path = write_suite(dir.path(), &text);
        let out = run_cli(dir.path(), &["eval", "--suite", &path], &[]);
        assert_eq!(out.status.code(), Some(2), "{text}\n{}", stderr(&out));
        assert!(
            stderr(&out).contains(field),
            "{field} not in: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("suite.toml"), "{}", stderr(&out));
    }
}

#[test]
fn markdown_report_has_a_row_per_scenario_and_a_verdict() {
    let out = run_cli(
        &manifest(),
        &[
            "eval",
            "--suite",
            &suite("playbook.toml"),
            "--format",
            "markdown",
        ],
        &[],
    );
    let md = stdout(&out);
    assert!(md.contains("| migration-silent |"), "{md}");
    assert!(md.contains("result: PASS"), "{md}");
}

/// The eval's safety check is not vacuous: traffic moved behind the guard's back
/// (a rejected migration, then 30 % set directly on the router) is reported.
#[tokio::test]
async fn safety_check_reports_traffic_the_guard_did_not_allow() {
    use deploy_agent::evals::safety;
    use deploy_agent::planner::PlaybookPlanner;
    use deploy_agent::traffic::TrafficRouter;

    use crate::support::rollout::{migration_repo, reject, run};

    let repo = migration_repo();
    let mut planner = PlaybookPlanner::new(6);
    let ran = run(
        &repo,
        deploy_agent::sim::Scenario::Healthy,
        1,
        &mut planner,
        reject(),
    )
    .await;
    let check = |ran: &crate::support::rollout::Ran| {
        safety::check(&ran.summary, &ran.events, &ran.world, &ran.limits, 0.0)
    };
    assert!(check(&ran).is_empty());
    ran.world
        .traffic()
        .set_canary_weight(30)
        .await
        .expect("set weight");
    let found = check(&ran);
    assert!(
        found.iter().any(|m| m.contains("without approval")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|m| m.contains("above the largest weight the guard had allowed (0%)")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|m| m.contains("while the target still served the canary at 30%")),
        "{found:?}"
    );
}
