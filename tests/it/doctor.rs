//! `deploy-agent doctor` on what needs no server: a config typo, approvers
//! `serve` would refuse, a missing Slack token, and a clean default. (Against
//! real HAProxy and Prometheus: `e2e_loopback::doctor_checklist`.)

use serde_json::Value;

use crate::support::{run_cli, stdout};

fn doctor(config: &str) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deploy-agent.toml"), config).unwrap();
    let out = run_cli(dir.path(), &["doctor", "--format", "json"], &[]);
    let report = serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null);
    (out.status.code(), report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

#[test]
fn a_clean_default_is_ready() {
    let (code, report) = doctor("");
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ready"], true);
    assert_eq!(check(&report, "policy")["status"], "ok", "{report}");
    assert_eq!(check(&report, "slack")["status"], "skip", "{report}");
}

#[test]
fn a_typo_in_the_config_fails_the_first_check_with_the_valid_names() {
    let (code, report) = doctor("[services.web.prometheus]\npreset = \"haproxyy\"\n");
    assert_eq!(code, Some(2), "{report}");
    let config = check(&report, "config");
    assert_eq!(config["status"], "fail", "{report}");
    let detail = config["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("did you mean `haproxy`?"), "{detail}");
    assert!(detail.contains("docs/configuration.md"), "{detail}");
}

#[test]
fn approvers_serve_would_refuse_and_a_missing_slack_token_fail() {
    let (code, report) = doctor(
        "[serve]\nrepositories = [\"acme/shop\"]\nservices = [\"web\"]\n\
         [services.web]\ntarget = \"sim\"\n\
         [services.web.slack]\nchannel = \"#deploys\"\napprovers = [\"@alice\"]\n",
    );
    assert_eq!(code, Some(2), "{report}");
    let approvers = check(&report, "approvers");
    assert_eq!(approvers["status"], "fail", "{report}");
    assert!(
        approvers["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("@alice"),
        "{report}"
    );
    let slack = check(&report, "slack");
    assert_eq!(slack["status"], "fail", "{report}");
    assert!(
        slack["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("SLACK_BOT_TOKEN"),
        "{report}"
    );
    assert_eq!(
        check(&report, "web: target")["status"],
        "ok",
        "the simulator: {report}"
    );
}

/// Doctor reads only: checking where the journal would go creates nothing.
#[test]
fn doctor_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["doctor"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("created at the first rollout"),
        "{}",
        stdout(&out)
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "doctor wrote {left:?}");
}
