//! The command line: exit codes, error messages, formats, schema, configuration.

use crate::support::repo::Repo;
use crate::support::{json, run_cli, stderr, stdout};

fn migration_repo() -> Repo {
    let r = Repo::new();
    r.lines("src/app.rs", 10, "a");
    r.commit("initial");
    r.write("migrations/002.sql", "alter table t add column c int;\n");
    r.commit("add column");
    r
}

#[test]
fn fail_above_gates_ci() {
    let r = migration_repo();
    let high = run_cli(
        r.path(),
        &["assess", "HEAD", "--llm", "off", "--fail-above", "0.3"],
        &[],
    );
    assert_eq!(high.status.code(), Some(3), "{}", stderr(&high));
    assert!(
        stdout(&high).contains("Risk"),
        "the report is still printed"
    );
    let ok = run_cli(
        r.path(),
        &["assess", "HEAD", "--llm", "off", "--fail-above", "0.99"],
        &[],
    );
    assert_eq!(ok.status.code(), Some(0));
}

#[test]
fn bad_input_exits_2_with_a_message_that_says_what_to_do() {
    let r = migration_repo();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["assess", "no-such-rev"],
            "unknown revision `no-such-rev`",
        ),
        (
            vec!["assess", "HEAD", "--base", "nope"],
            "unknown revision `nope`",
        ),
        (
            vec!["assess", "HEAD", "--fail-above", "7"],
            "--fail-above must be between 0 and 1",
        ),
        (
            vec!["assess", "HEAD", "--policy", "missing.toml"],
            "cannot read policy missing.toml",
        ),
        (
            vec!["assess", "HEAD", "--config", "nope.toml"],
            "config file nope.toml does not exist",
        ),
        (
            vec!["assess", "HEAD", "--format", "yaml"],
            "invalid value 'yaml'",
        ),
        (vec!["schema", "nothing"], "no schema named `nothing`"),
    ];
    for (args, needle) in cases {
        let out = run_cli(r.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn not_a_repository_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["assess", "HEAD"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn invalid_policy_names_the_problem() {
    let r = migration_repo();
    let cases = [
        (
            "touches_ci = 0.8",
            "touches_cj = 0.8",
            "unknown feature `touches_cj`",
        ),
        ("medium = 0.25", "medium = 0.95", "[levels] must satisfy"),
        ("name = \"default\"", "name = ", "not valid TOML"),
        (
            "migration = 0.55",
            "migration = 1.5",
            "floor for `migration`",
        ),
    ];
    for (from, to, needle) in cases {
        let text = deploy_agent::policy::DEFAULT_POLICY.replace(from, to);
        std::fs::write(r.path().join("p.toml"), text).unwrap();
        let out = run_cli(r.path(), &["assess", "HEAD", "--policy", "p.toml"], &[]);
        assert_eq!(out.status.code(), Some(2), "{needle}");
        let err = stderr(&out);
        assert!(err.contains("p.toml") && err.contains(needle), "{err}");
    }
}

#[test]
fn config_file_and_environment_layers() {
    let r = migration_repo();
    // A policy path from the config file is used…
    let text =
        deploy_agent::policy::DEFAULT_POLICY.replace("name = \"default\"", "name = \"strict\"");
    std::fs::write(r.path().join("strict.toml"), text).unwrap();
    std::fs::write(
        r.path().join("deploy-agent.toml"),
        "policy = \"strict.toml\"\n",
    )
    .unwrap();
    let v = json(&run_cli(
        r.path(),
        &["assess", "HEAD", "--format", "json"],
        &[],
    ));
    assert_eq!(v["policy"]["name"], "strict");
    // …and an environment variable overrides the file.
    let out = run_cli(
        r.path(),
        &["assess", "HEAD"],
        &[("DEPLOY_AGENT_POLICY", "missing-from-env.toml")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing-from-env.toml"),
        "{}",
        stderr(&out)
    );
    // Secrets in the file are refused.
    std::fs::write(
        r.path().join("deploy-agent.toml"),
        "[llm]\napi_key = \"sk-x\"\n",
    )
    .unwrap();
    let out = run_cli(r.path(), &["assess", "HEAD"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("OPENAI_API_KEY"), "{}", stderr(&out));
}

#[test]
fn markdown_is_a_pr_comment() {
    let r = migration_repo();
    let out = run_cli(
        r.path(),
        &["assess", "HEAD", "--format", "markdown", "--llm", "off"],
        &[],
    );
    let md = stdout(&out);
    assert!(md.starts_with("<!-- deploy-agent:assess -->"), "{md}");
    assert!(md.contains("approval required"));
    assert!(md.contains("| `touches_migration` |"));
    // The factors as bars GitHub draws, beside the table, with the policy's levels.
    let chart = md
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a mermaid block");
    assert!(chart.starts_with("xychart-beta\n"), "{chart}");
    assert!(chart.contains("\"touches_migration\""), "{chart}");
    assert!(chart.contains("levels: medium ≥ "), "{chart}");
    assert_eq!(
        chart
            .lines()
            .filter(|l| l.trim().starts_with("bar ["))
            .count(),
        1
    );
}

#[test]
fn schema_describes_the_json_report() {
    let r = migration_repo();
    let schema = json(&run_cli(r.path(), &["schema", "assess"], &[]));
    let props = &schema["properties"];
    for key in [
        "risk_score",
        "level",
        "requires_approval",
        "strategy",
        "factors",
        "deterministic_score",
        "llm",
        "rev",
        "base",
    ] {
        assert!(props.get(key).is_some(), "schema lacks {key}");
    }
    // And a real report has every required property.
    let report = json(&run_cli(
        r.path(),
        &["assess", "HEAD", "--format", "json"],
        &[],
    ));
    for key in schema["required"].as_array().unwrap() {
        assert!(
            report.get(key.as_str().unwrap()).is_some(),
            "report lacks {key}"
        );
    }
}
