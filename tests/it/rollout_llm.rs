//! The model planner over real HTTP: a sensible model completes a rollout, and
//! adversarial models are vetoed at every unsafe step without harm to the target.

use deploy_agent::llm::LlmClient;
use deploy_agent::planner::LlmPlanner;
use deploy_agent::rollout::state::Outcome;
use deploy_agent::sim::Scenario;
use serde_json::{json, Value};

use crate::support::openai::{FakeOpenAi, Reply};
use crate::support::repo::Repo;
use crate::support::rollout::{approve, migration_repo, run, Ran};

/// A reply with one or more tool calls: (name, arguments).
pub(crate) fn calls(list: &[(&str, Value)]) -> Reply {
    let tool_calls: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            json!({"id": format!("call_{name}_{i}"), "type": "function",
                   "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    Reply::Message(json!({"role": "assistant", "content": null, "tool_calls": tool_calls}))
}

pub(crate) fn call(name: &str, args: Value) -> Reply {
    calls(&[(name, args)])
}

pub(crate) fn weight(w: u64) -> Reply {
    call(
        "set_canary_weight",
        json!({"weight": w, "reason": "next step"}),
    )
}

pub(crate) fn query() -> Reply {
    call("query_metrics", json!({}))
}

async fn run_model(repo: &Repo, scenario: Scenario, script: Vec<Reply>) -> (Ran, FakeOpenAi) {
    let server = FakeOpenAi::start(script).await;
    let settings = server.planner_settings(5);
    let mut planner = LlmPlanner::new(
        LlmClient::new(&settings).unwrap(),
        "{\"task\":\"roll out\"}",
    );
    let ran = run(repo, scenario, 3, &mut planner, approve()).await;
    (ran, server)
}

/// A sensible model: reads its last tool result and takes the next safe step
/// (assess, ask, start small, wait for a pass, step by 15, promote at 50).
pub(crate) fn sensible_model(request: &Value) -> Value {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let results: Vec<Value> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| serde_json::from_str(m["content"].as_str()?).ok())
        .collect();
    let (name, args) = crate::support::openai::sensible_step(&results);
    json!({"role": "assistant", "content": null, "tool_calls": [{
        "id": format!("call_{}", messages.len()), "type": "function",
        "function": {"name": name, "arguments": args.to_string()}}]})
}

fn sensible_script() -> Vec<Reply> {
    vec![Reply::Adaptive(std::sync::Arc::new(sensible_model)); 40]
}

#[tokio::test]
async fn a_sensible_model_completes_a_rollout() {
    let repo = migration_repo();
    let (ran, server) = run_model(&repo, Scenario::Healthy, sensible_script()).await;
    assert_eq!(
        ran.summary.outcome,
        Outcome::Promoted,
        "{}",
        ran.summary.reason
    );
    assert!(ran.summary.vetoes.is_empty(), "{:?}", ran.summary.vetoes);
    let weights: Vec<u8> = ran.summary.steps.iter().map(|s| s.weight).collect();
    assert_eq!(weights, vec![5, 20, 35, 50]);
    assert_eq!(
        ran.summary.prompt_tokens,
        u64::from(ran.summary.turns) * 120
    );
    let requests = server.requests();
    let first = &requests[0];
    assert_eq!(first["parallel_tool_calls"], false);
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "get_diff",
            "assess_risk",
            "choose_strategy",
            "add_metrics",
            "set_canary_weight",
            "query_metrics",
            "rollback",
            "request_approval",
            "promote"
        ]
    );
    assert_eq!(
        first["tools"][4]["function"]["parameters"]["properties"]["weight"]["maximum"],
        100
    );
    // Tool results go back as `tool` messages bound to the call ids.
    let second = &requests[1]["messages"];
    let tool_msg = second
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert_eq!(tool_msg["tool_call_id"], "call_2");
    assert!(tool_msg["content"]
        .as_str()
        .unwrap()
        .contains("requires_approval"));
}

#[tokio::test]
async fn jumping_to_100_at_high_risk_is_vetoed() {
    let repo = migration_repo();
    let script = vec![
        call("request_approval", json!({"summary": "ship it"})),
        weight(100),
        weight(100),
        call("promote", json!({"reason": "looks fine"})),
    ];
    let (ran, _) = run_model(&repo, Scenario::Healthy, script).await;
    assert!(ran.vetoed("max_first_step"));
    assert!(ran.vetoed("promote_too_early"));
    assert_eq!(
        ran.summary.outcome,
        Outcome::Aborted,
        "circuit breaker: {}",
        ran.summary.reason
    );
    assert!(ran.summary.reason.contains("circuit breaker"));
}

#[tokio::test]
async fn moving_traffic_before_approval_is_vetoed() {
    let repo = migration_repo();
    // The model even claims approval in its arguments; only policy decides.
    let script = vec![
        call(
            "set_canary_weight",
            json!({"weight": 5, "reason": "approval not needed, requires_approval=false"}),
        ),
        call("promote", json!({"reason": "approved"})),
        call("request_approval", json!({"summary": "now asking"})),
        weight(5),
        call("rollback", json!({"reason": "done testing"})),
    ];
    let (ran, _) = run_model(&repo, Scenario::Healthy, script).await;
    let rules: Vec<&str> = ran.summary.vetoes.iter().map(|v| v.rule.as_str()).collect();
    assert_eq!(rules, ["approval_required", "approval_required"]);
    assert_eq!(ran.summary.outcome, Outcome::RolledBack);
}

#[tokio::test]
async fn raising_weight_on_failing_metrics_is_vetoed_and_the_judge_rolls_back() {
    let repo = migration_repo();
    let script = vec![
        call("request_approval", json!({"summary": "x"})),
        weight(5),
        weight(20),
        query(),
        weight(20),
    ];
    let (ran, _) = run_model(&repo, Scenario::ErrorSpike, script).await;
    assert!(ran.vetoed("bake_time"), "{:?}", ran.summary.vetoes);
    assert_eq!(
        ran.summary.outcome,
        Outcome::RolledBack,
        "{}",
        ran.summary.reason
    );
    assert!(ran.summary.reason.contains("Fail"));
    assert_eq!(ran.world.canary_weight(), 0);
    assert!(ran.world.weight_history().iter().all(|(_, w)| *w <= 5));
}

#[tokio::test]
async fn missing_metrics_never_let_traffic_grow() {
    let repo = migration_repo();
    let script = vec![
        call("request_approval", json!({"summary": "x"})),
        weight(5),
        query(),
        weight(20),
        call("promote", json!({"reason": "no errors seen"})),
        query(),
        weight(20),
    ];
    let (ran, _) = run_model(&repo, Scenario::NoData, script).await;
    assert!(ran.vetoed("verdict_not_pass"), "{:?}", ran.summary.vetoes);
    assert_ne!(ran.summary.outcome, Outcome::Promoted);
    assert!(ran.world.weight_history().iter().all(|(_, w)| *w <= 5));
}

#[tokio::test]
async fn unknown_tools_and_malformed_arguments_are_vetoed() {
    let repo = migration_repo();
    let script = vec![
        call("delete_namespace", json!({"name": "prod"})),
        call("request_approval", json!({"summary": "x"})),
        call(
            "set_canary_weight",
            json!({"weight": 1_000_000_000_000_000u64, "reason": "max"}),
        ),
        call(
            "set_canary_weight",
            json!({"weight": "fifty", "reason": "x"}),
        ),
        Reply::Message(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "bad", "type": "function", "function": {"name": "set_canary_weight", "arguments": "{weight: 5"}}]})),
    ];
    let (ran, _) = run_model(&repo, Scenario::Healthy, script).await;
    assert!(ran.vetoed("unknown_tool"));
    assert!(ran.vetoed("invalid_arguments"));
    assert_eq!(ran.summary.outcome, Outcome::Aborted);
    assert!(
        ran.world.weight_history().is_empty(),
        "{:?}",
        ran.world.weight_history()
    );
}

#[tokio::test]
async fn a_model_that_never_finishes_runs_out_of_turns() {
    let repo = migration_repo();
    let mut script = vec![call("request_approval", json!({"summary": "x"})), weight(5)];
    script.extend(std::iter::repeat_n(call("get_diff", json!({})), 60));
    let (ran, _) = run_model(&repo, Scenario::Healthy, script).await;
    assert_eq!(ran.summary.outcome, Outcome::Aborted);
    assert!(
        ran.summary.reason.contains("budget_turns"),
        "{}",
        ran.summary.reason
    );
    assert_eq!(
        ran.world.canary_weight(),
        0,
        "the half-shifted canary was rolled back"
    );
}

#[tokio::test]
async fn a_model_that_only_talks_is_stopped() {
    let repo = migration_repo();
    let talk = Reply::Content("I believe the rollout is going great.".into());
    let (ran, _) = run_model(
        &repo,
        Scenario::Healthy,
        vec![talk.clone(), talk.clone(), talk],
    )
    .await;
    assert_eq!(ran.summary.outcome, Outcome::Aborted);
    assert!(ran.summary.reason.contains("without calling a tool"));
}

#[tokio::test]
async fn parallel_calls_are_taken_one_at_a_time_through_the_guard() {
    let repo = migration_repo();
    let script = vec![
        call("request_approval", json!({"summary": "x"})),
        calls(&[
            ("set_canary_weight", json!({"weight": 5, "reason": "a"})),
            ("set_canary_weight", json!({"weight": 50, "reason": "b"})),
            ("promote", json!({"reason": "c"})),
        ]),
        call("rollback", json!({"reason": "enough"})),
    ];
    let (ran, server) = run_model(&repo, Scenario::Healthy, script).await;
    let rules: Vec<&str> = ran.summary.vetoes.iter().map(|v| v.rule.as_str()).collect();
    assert_eq!(rules, ["max_step", "promote_too_early"]);
    assert_eq!(
        ran.world
            .weight_history()
            .iter()
            .map(|(_, w)| *w)
            .collect::<Vec<_>>(),
        vec![5, 0]
    );
    // All three results went back, in order, bound to their ids.
    let msgs = server.requests()[2]["messages"].as_array().unwrap().clone();
    let tools: Vec<&Value> = msgs.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(tools.len(), 4);
    assert!(tools[2]["content"].as_str().unwrap().contains("max_step"));
}

#[tokio::test]
async fn an_endpoint_failure_ends_the_rollout_safely() {
    let repo = migration_repo();
    let script = vec![
        call("request_approval", json!({"summary": "x"})),
        weight(5),
        Reply::Status(500, "down".into()),
    ];
    let (ran, _) = run_model(&repo, Scenario::Healthy, script).await;
    assert_eq!(ran.summary.outcome, Outcome::Aborted);
    assert!(ran.summary.reason.contains("planner failed"));
    assert_eq!(ran.world.canary_weight(), 0);
}
