//! The model client against servers that misbehave like the ones people run:
//! one test per quirk, each named for what broke with a real local model.

use std::time::Duration;

use deploy_agent::llm::compat::{StructuredOutput, ToolResults};
use deploy_agent::llm::{opinion, LlmClient};
use deploy_agent::planner::LlmPlanner;
use deploy_agent::rollout::state::Outcome;
use deploy_agent::settings::LlmSettings;
use deploy_agent::sim::Scenario;
use serde_json::Value;

use crate::support::quirky::{sensible, Model, Quirks, QuirkyServer};
use crate::support::rollout::{approve, migration_repo, run, Ran};

fn settings(server: &QuirkyServer) -> LlmSettings {
    LlmSettings {
        base_url: Some(server.base_url()),
        api_key: Some("k".into()),
        model: "quirky".into(),
        timeout_secs: 5,
        max_retries: 2,
        ..LlmSettings::default()
    }
}

async fn rollout(quirks: Quirks, model: Model) -> (Ran, QuirkyServer) {
    let server = QuirkyServer::start(quirks, model).await;
    let client = LlmClient::new(&settings(&server)).unwrap();
    let mut planner = LlmPlanner::new(client, "{\"task\":\"roll out\"}");
    let ran = run(
        &migration_repo(),
        Scenario::Healthy,
        3,
        &mut planner,
        approve(),
    )
    .await;
    (ran, server)
}

fn promoted(ran: &Ran) {
    assert_eq!(
        ran.summary.outcome,
        Outcome::Promoted,
        "{}",
        ran.summary.reason
    );
    let weights: Vec<u8> = ran.summary.steps.iter().map(|s| s.weight).collect();
    assert_eq!(weights, vec![5, 20, 35, 50]);
}

/// Requests that are planner turns (not the one-token probes).
fn turns(server: &QuirkyServer) -> Vec<Value> {
    server
        .requests()
        .into_iter()
        .filter(|r| r["max_tokens"] != 1)
        .collect()
}

fn messages(request: &Value) -> Vec<Value> {
    request["messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn assistant_tool_call_messages_always_carry_content() {
    let quirks = Quirks {
        needs_content: true,
        ..Quirks::default()
    };
    let (ran, server) = rollout(quirks, sensible()).await;
    promoted(&ran);
    let mut with_calls = 0;
    for r in server.requests() {
        for m in messages(&r).iter().filter(|m| m["role"] == "assistant") {
            assert!(
                m["content"].is_string(),
                "assistant message without content: {m}"
            );
            with_calls += usize::from(m.get("tool_calls").is_some());
        }
    }
    assert!(
        with_calls > 5,
        "the tool calls stay native where tool messages are kept"
    );
}

#[tokio::test]
async fn a_template_that_drops_tool_messages_gets_results_as_user_messages() {
    let quirks = Quirks {
        drops_tool_role: true,
        needs_content: true,
        ..Quirks::default()
    };
    let (ran, server) = rollout(quirks, sensible()).await;
    // The model sees results only through user messages: without them it
    // would assess forever.
    promoted(&ran);
    let probes = server
        .requests()
        .iter()
        .filter(|r| r["max_tokens"] == 1)
        .count();
    assert_eq!(probes, 2, "probed once: a short and a long tool result");
    let last = turns(&server).pop().unwrap();
    let msgs = messages(&last);
    assert!(
        msgs.iter().all(|m| m["role"] != "tool"),
        "no tool messages after the probe"
    );
    assert!(msgs.iter().all(|m| m.get("tool_calls").is_none()));
    let result = msgs
        .iter()
        .filter_map(|m| m["content"].as_str())
        .find(|c| c.starts_with("Result of tool call call_2 (assess_risk): {"))
        .expect("the assess_risk result reached the server as a user message");
    assert!(result.contains("requires_approval"), "{result}");
}

#[tokio::test]
async fn a_template_that_refuses_tool_messages_gets_results_as_user_messages() {
    let quirks = Quirks {
        refuses_tool_role: true,
        ..Quirks::default()
    };
    let (ran, server) = rollout(quirks, sensible()).await;
    promoted(&ran);
    let with_tool: Vec<Value> = server
        .requests()
        .into_iter()
        .filter(|r| messages(r).iter().any(|m| m["role"] == "tool"))
        .collect();
    assert_eq!(
        with_tool.len(),
        1,
        "one refused probe, not retried, then never again"
    );
    assert_eq!(with_tool[0]["max_tokens"], 1);
}

#[tokio::test]
async fn a_server_that_keeps_tool_messages_gets_tool_messages() {
    let (ran, server) = rollout(Quirks::default(), sensible()).await;
    promoted(&ran);
    let last = turns(&server).pop().unwrap();
    assert!(messages(&last).iter().any(|m| m["role"] == "tool"));
}

#[tokio::test]
async fn tool_calls_written_as_text_become_real_calls() {
    let quirks = Quirks {
        text_calls: true,
        drops_tool_role: true,
        ..Quirks::default()
    };
    let (ran, server) = rollout(quirks, sensible()).await;
    promoted(&ran);
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r["max_tokens"] == 1)
            .count(),
        0,
        "text calls are answered as text: no probe needed"
    );
    let last = turns(&server).pop().unwrap();
    let msgs = messages(&last);
    let answered: Vec<&str> = msgs
        .iter()
        .filter_map(|m| m["content"].as_str())
        .filter(|c| c.starts_with("Result of tool call text-"))
        .collect();
    assert!(
        answered[0].starts_with("Result of tool call text-1 (assess_risk): "),
        "{answered:?}"
    );
    assert!(msgs.iter().any(|m| m["role"] == "assistant"
        && m["content"]
            .as_str()
            .is_some_and(|c| c.contains("<tool_call>"))));
}

#[tokio::test]
async fn replies_without_usage_are_tolerated() {
    let quirks = Quirks {
        no_usage: true,
        ..Quirks::default()
    };
    let (ran, server) = rollout(quirks, sensible()).await;
    promoted(&ran);
    assert_eq!(ran.summary.prompt_tokens, 0);
    // No usage, no way to tell whether tool messages arrive: user messages do.
    let last = turns(&server).pop().unwrap();
    assert!(messages(&last).iter().all(|m| m["role"] != "tool"));
}

#[tokio::test]
async fn every_request_caps_the_answer() {
    // Uncapped requests would take 30 s against a 5 s timeout.
    let quirks = Quirks {
        slow_without_cap: Some(Duration::from_secs(30)),
        ..Quirks::default()
    };
    let (ran, server) = rollout(quirks, sensible()).await;
    promoted(&ran);
    for r in server.requests() {
        let cap = r["max_tokens"]
            .as_u64()
            .expect("max_tokens on every request");
        assert!(cap == 1 || cap == 512, "{cap}");
    }
    let client = LlmClient::new(&settings(&server)).unwrap();
    opinion::ask(&client, "a change").await.unwrap();
    assert_eq!(server.requests().last().unwrap()["max_tokens"], 400);
}

#[tokio::test]
async fn json_schema_refusal_steps_down_once_and_is_not_retried() {
    let quirks = Quirks {
        refuses_json_schema: true,
        ..Quirks::default()
    };
    let server = QuirkyServer::start(quirks, sensible()).await;
    let client = LlmClient::new(&settings(&server)).unwrap();
    let reply = opinion::ask(&client, "a change").await.unwrap();
    assert_eq!(reply.value.score, 0.4);
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        2,
        "one refusal (not retried), then json_object"
    );
    assert_eq!(requests[0]["response_format"]["type"], "json_schema");
    assert_eq!(requests[1]["response_format"]["type"], "json_object");
    let system = requests[1]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("JSON Schema") && system.contains("\"rationale\""),
        "{system}"
    );
    // Remembered for the endpoint: the next ask goes straight to json_object.
    let again = LlmClient::new(&settings(&server)).unwrap();
    opinion::ask(&again, "another change").await.unwrap();
    assert_eq!(server.requests().len(), 3);
    assert_eq!(
        server.requests()[2]["response_format"]["type"],
        "json_object"
    );
}

#[tokio::test]
async fn a_server_without_any_json_mode_gets_the_schema_in_the_prompt() {
    let quirks = Quirks {
        refuses_json_schema: true,
        refuses_json_object: true,
        ..Quirks::default()
    };
    let server = QuirkyServer::start(quirks, sensible()).await;
    let client = LlmClient::new(&settings(&server)).unwrap();
    opinion::ask(&client, "a change").await.unwrap();
    let formats: Vec<Value> = server
        .requests()
        .iter()
        .map(|r| r["response_format"].clone())
        .collect();
    assert_eq!(formats.len(), 3);
    assert_eq!(formats[2], Value::Null);
    // A fixed mode never steps down: the refusal is the answer.
    let server = QuirkyServer::start(
        Quirks {
            refuses_json_schema: true,
            ..Quirks::default()
        },
        sensible(),
    )
    .await;
    let fixed = LlmSettings {
        structured_output: StructuredOutput::JsonSchema,
        ..settings(&server)
    };
    let e = opinion::ask(&LlmClient::new(&fixed).unwrap(), "x")
        .await
        .unwrap_err();
    assert_eq!(e.label(), "http_error");
    assert_eq!(
        server.requests().len(),
        1,
        "a validation 500 is not retried"
    );
}

#[tokio::test]
async fn max_tokens_refused_for_max_completion_tokens_switches_and_remembers() {
    let quirks = Quirks {
        wants_max_completion_tokens: true,
        ..Quirks::default()
    };
    let server = QuirkyServer::start(quirks, sensible()).await;
    let client = LlmClient::new(&settings(&server)).unwrap();
    opinion::ask(&client, "a change").await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["max_tokens"], 400);
    assert!(requests[1].get("max_tokens").is_none());
    assert_eq!(requests[1]["max_completion_tokens"], 400);
    opinion::ask(&client, "again").await.unwrap();
    assert_eq!(server.requests().len(), 3, "no second refusal");
}

#[tokio::test]
async fn a_fixed_user_mode_never_probes() {
    let server = QuirkyServer::start(Quirks::default(), sensible()).await;
    let s = LlmSettings {
        tool_results: ToolResults::User,
        ..settings(&server)
    };
    let mut planner = LlmPlanner::new(LlmClient::new(&s).unwrap(), "{}");
    let ran = run(
        &migration_repo(),
        Scenario::Healthy,
        3,
        &mut planner,
        approve(),
    )
    .await;
    promoted(&ran);
    assert!(server.requests().iter().all(|r| r["max_tokens"] != 1));
}
