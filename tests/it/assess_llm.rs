//! The model's opinion, over real HTTP to a local OpenAI-compatible server.

use std::time::Duration;

use deploy_agent::assess::{assess, AssessRequest, Assessment, LlmMode};
use deploy_agent::git::LocalGit;
use deploy_agent::policy::Policy;
use deploy_agent::settings::LlmSettings;
use serde_json::json;

use crate::support::openai::{FakeOpenAi, Reply};
use crate::support::repo::Repo;

fn settings(server: &FakeOpenAi, timeout_secs: u64, max_retries: u32) -> LlmSettings {
    LlmSettings {
        base_url: Some(server.base_url()),
        api_key: Some("test-key".into()),
        model: "scripted-model".into(),
        timeout_secs,
        max_retries,
        excerpt_bytes: 4_000,
        ..LlmSettings::default()
    }
}

fn opinion(score: f64) -> Reply {
    Reply::Content(
        json!({"score": score, "rationale": "The change rewrites retry logic.", "concerns": ["retries"]})
            .to_string(),
    )
}

async fn run(repo: &Repo, server: &FakeOpenAi, timeout: u64, retries: u32) -> Assessment {
    let git = LocalGit::open(repo.path()).unwrap();
    let request = AssessRequest {
        rev: "HEAD".into(),
        base: None,
        llm: LlmMode::Auto,
    };
    let policy = Policy::embedded().unwrap();
    assess(&git, &policy, &settings(server, timeout, retries), &request)
        .await
        .unwrap()
}

fn source_change() -> Repo {
    let r = Repo::new();
    r.lines("src/retry.rs", 30, "a");
    r.commit("initial");
    r.lines("src/retry.rs", 40, "b");
    r.commit("retry harder");
    r
}

fn migration_change() -> Repo {
    let r = Repo::new();
    r.lines("src/app.rs", 10, "a");
    r.commit("initial");
    r.write("migrations/002.sql", "drop table users;\n");
    r.commit("drop users");
    r
}

#[tokio::test]
async fn model_may_raise_the_score() {
    let r = source_change();
    let server = FakeOpenAi::start(vec![opinion(0.9)]).await;
    let a = run(&r, &server, 5, 0).await;
    assert_eq!(a.llm.status, "used");
    assert_eq!(a.llm.score, Some(0.9));
    assert!(a.deterministic_score < 0.5);
    assert_eq!(a.risk_score, 0.9);
    assert_eq!(a.level.as_str(), "critical");
    assert!(a.requires_approval, "approval follows the final level");
    assert_eq!(
        a.llm.rationale.as_deref(),
        Some("The change rewrites retry logic.")
    );
    assert_eq!(a.llm.prompt_tokens, Some(120));
    assert_eq!(a.llm.prompt_hash.as_ref().map(String::len), Some(12));

    // What went over the wire: model, structured-output schema, prompt, diff excerpt, key.
    let req = &server.requests()[0];
    assert_eq!(req["model"], "scripted-model");
    assert_eq!(req["response_format"]["type"], "json_schema");
    assert_eq!(
        req["response_format"]["json_schema"]["name"],
        "risk_opinion"
    );
    let schema = &req["response_format"]["json_schema"]["schema"];
    assert!(schema["properties"]["score"].is_object(), "{schema}");
    assert!(req["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("risk reviewer"));
    let user = req["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("src/retry.rs") && user.contains("+b line"),
        "{user}"
    );
    assert_eq!(server.auth_headers()[0].as_deref(), Some("Bearer test-key"));
}

#[tokio::test]
async fn model_cannot_go_below_the_floor() {
    let r = migration_change();
    let server = FakeOpenAi::start(vec![opinion(0.05)]).await;
    let a = run(&r, &server, 5, 0).await;
    let floor = a.floor.as_ref().unwrap().value;
    assert_eq!(a.llm.score, Some(0.05));
    assert_eq!(a.risk_score, floor.max(a.deterministic_score - 0.10));
    assert!(a.risk_score >= floor);
    assert!(a.llm.clamped.as_deref().unwrap().contains("clamped"));
    assert!(
        a.warnings.iter().any(|w| w.contains("clamped")),
        "{:?}",
        a.warnings
    );
    assert!(a.requires_approval);
}

#[tokio::test]
async fn model_cannot_go_far_below_the_deterministic_score() {
    let r = source_change();
    let server = FakeOpenAi::start(vec![opinion(0.0)]).await;
    let a = run(&r, &server, 5, 0).await;
    assert!(a.floor.is_none());
    let want = ((a.deterministic_score - 0.10) * 1e4).round() / 1e4;
    assert!(
        (a.risk_score - want).abs() < 1e-3,
        "{} vs {want}",
        a.risk_score
    );
}

/// The default policy with the `high` level starting at `high`.
fn policy_with_high_at(dir: &std::path::Path, high: f64) -> Policy {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/default.toml"
    ))
    .unwrap()
    .replace("medium = 0.25", &format!("medium = {:.4}", high / 2.0))
    .replace("high = 0.50", &format!("high = {high:.4}"));
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    Policy::load(&path).unwrap()
}

/// Regression: the model's opinion lowered a high change (approval required)
/// to medium (no approval). It may lower the displayed score within its margin;
/// level, strategy and approval stay those of the deterministic score, and the
/// rollout still asks for the approval before any traffic moves.
#[tokio::test]
async fn model_cannot_lower_the_level_or_the_approval() {
    let r = source_change();
    let git = LocalGit::open(r.path()).unwrap();
    let request = |llm| AssessRequest {
        rev: "HEAD".into(),
        base: None,
        llm,
    };
    let dir = tempfile::tempdir().unwrap();
    let det = assess(
        &git,
        &Policy::embedded().unwrap(),
        &settings(&FakeOpenAi::start(vec![]).await, 5, 0),
        &request(LlmMode::Off),
    )
    .await
    .unwrap()
    .deterministic_score;
    // `high` just under this change's deterministic score: the model's 0 would
    // bring the merged score (det − 0.10) under it.
    let policy = policy_with_high_at(dir.path(), det - 0.05);
    let server = FakeOpenAi::start(vec![opinion(0.0)]).await;
    let a = assess(
        &git,
        &policy,
        &settings(&server, 5, 0),
        &request(LlmMode::Auto),
    )
    .await
    .unwrap();
    assert_eq!(a.llm.score, Some(0.0));
    assert!(
        a.risk_score < det - 0.05,
        "displayed score lowered: {}",
        a.risk_score
    );
    assert_eq!(
        a.level.as_str(),
        "high",
        "level stays the deterministic one"
    );
    assert!(a.requires_approval);
    assert!(
        a.warnings.iter().any(|w| w.contains("never lower")),
        "{:?}",
        a.warnings
    );

    let context = deploy_agent::rollout::ChangeContext {
        assessment: a,
        diff: String::new(),
    };
    let mut planner = deploy_agent::planner::PlaybookPlanner::new(6);
    let ran = crate::support::rollout::run_context(
        &context,
        &policy,
        deploy_agent::sim::Scenario::Healthy,
        1,
        &mut planner,
        crate::support::rollout::approve(),
        None,
    )
    .await;
    assert!(
        ran.events.iter().any(|(_, e)| matches!(
            e,
            deploy_agent::rollout::events::Event::ApprovalRequested { .. }
        )),
        "the rollout asked for the approval"
    );
    assert!(ran.summary.approval.as_ref().is_some_and(|a| a.approved));
}

#[tokio::test]
async fn malformed_answers_leave_the_deterministic_result() {
    let r = source_change();
    for reply in [
        Reply::Content("I think it is fine!".into()),
        Reply::Content(json!({"score": 7.0, "rationale": "x", "concerns": []}).to_string()),
        Reply::Content(json!({"risk": 0.2}).to_string()),
    ] {
        let server = FakeOpenAi::start(vec![reply.clone()]).await;
        let a = run(&r, &server, 5, 0).await;
        assert_eq!(a.llm.status, "malformed", "{reply:?}");
        assert_eq!(a.risk_score, a.deterministic_score);
        assert!(a
            .warnings
            .iter()
            .any(|w| w.contains("deterministic result used")));
    }
}

#[tokio::test]
async fn a_slow_endpoint_times_out_and_is_not_fatal() {
    let r = source_change();
    let server = FakeOpenAi::start(vec![Reply::Delay(
        Duration::from_secs(5),
        Box::new(opinion(0.9)),
    )])
    .await;
    let started = std::time::Instant::now();
    let a = run(&r, &server, 1, 0).await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(a.llm.status, "timeout");
    assert_eq!(a.risk_score, a.deterministic_score);
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let r = source_change();
    let server = FakeOpenAi::start(vec![
        Reply::Status(503, "overloaded".into()),
        Reply::Status(
            429,
            r#"{"error":{"message":"slow down","type":"rate_limit","param":null,"code":null}}"#
                .into(),
        ),
        opinion(0.8),
    ])
    .await;
    let a = run(&r, &server, 5, 2).await;
    assert_eq!(a.llm.status, "used");
    assert_eq!(server.requests().len(), 3);

    let server = FakeOpenAi::start(vec![Reply::Status(500, "down".into()); 5]).await;
    let a = run(&r, &server, 5, 1).await;
    assert_eq!(a.llm.status, "http_error");
    assert_eq!(server.requests().len(), 2, "one try and one retry, no more");

    // Client errors are not retried.
    let server = FakeOpenAi::start(vec![Reply::Status(
        401,
        r#"{"error":{"message":"bad key","type":"auth","param":null,"code":null}}"#.into(),
    )])
    .await;
    let a = run(&r, &server, 5, 3).await;
    assert_eq!(a.llm.status, "http_error");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_not_fatal() {
    let r = source_change();
    let git = LocalGit::open(r.path()).unwrap();
    let mut s = LlmSettings {
        base_url: Some("http://127.0.0.1:9/v1".into()),
        api_key: None,
        model: "m".into(),
        timeout_secs: 2,
        max_retries: 0,
        excerpt_bytes: 100,
        ..LlmSettings::default()
    };
    let request = AssessRequest {
        rev: "HEAD".into(),
        base: None,
        llm: LlmMode::Auto,
    };
    let policy = Policy::embedded().unwrap();
    let a = assess(&git, &policy, &s, &request).await.unwrap();
    assert_eq!(a.llm.status, "unreachable");
    // And `--llm off` never calls out even when configured.
    s.base_url = Some("http://127.0.0.1:9/v1".into());
    let off = AssessRequest {
        llm: LlmMode::Off,
        ..request
    };
    assert_eq!(
        assess(&git, &policy, &s, &off).await.unwrap().llm.status,
        "off"
    );
}
