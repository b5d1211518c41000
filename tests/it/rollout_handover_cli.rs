//! Issue 18 from the command line: `rollout --planner llm` degrades to the
//! playbook when the model fails, says so in JSON lines, `show` and `history`,
//! and a policy whose hand-over would come after the circuit breaker is refused.

use serde_json::Value;

use crate::support::openai::FakeOpenAi;
use crate::support::rollout::migration_repo;
use crate::support::{run_cli, stderr, stdout};

/// `deploy-agent rollout --planner llm` against an endpoint that only fails:
/// the playbook finishes the rollout, and `show` and `history` say who planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_hands_a_failing_model_over_and_show_and_history_say_so() {
    let server = FakeOpenAi::start(vec![]).await; // every answer: HTTP 500
    let repo = migration_repo();
    let dir = repo.path_buf();
    let env = [
        ("OPENAI_BASE_URL", server.base_url()),
        ("OPENAI_API_KEY", "k".to_string()),
        ("DEPLOY_AGENT_LLM__MAX_RETRIES", "0".to_string()),
    ];
    let cli = move |args: &[&str]| {
        let (dir, env) = (dir.clone(), env.clone());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cli(&dir, &args, &env)
        })
    };
    let args = [
        "rollout",
        "HEAD",
        "--service",
        "checkout",
        "--planner",
        "llm",
        "--approve-as",
        "alice",
        "--format",
        "jsonl",
    ];
    let out = cli(&args).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let handover = events
        .iter()
        .find(|e| e["event"] == "planner_handover")
        .expect("a planner_handover line");
    assert_eq!(handover["from"], "llm:gpt-4o-mini");
    assert!(
        handover["reason"].as_str().unwrap().contains("HTTP 500"),
        "{handover}"
    );
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["planner"], "llm:gpt-4o-mini → playbook");
    assert_eq!(summary["handover"]["turn"], 1);
    assert_eq!(summary["outcome"], "promoted");
    let id = events[0]["rollout_id"].as_str().unwrap();
    let show = cli(&["show", id]).await.unwrap();
    let shown = stdout(&show);
    assert!(
        shown.contains("planner llm:gpt-4o-mini → playbook"),
        "{shown}"
    );
    assert!(shown.contains("planner_handover"), "{shown}");
    let history = stdout(&cli(&["history"]).await.unwrap());
    assert!(
        history.contains("[planner llm:gpt-4o-mini → playbook]"),
        "{history}"
    );
}

#[test]
fn a_policy_whose_hand_over_comes_after_the_circuit_breaker_is_refused() {
    let repo = migration_repo();
    let text = deploy_agent::policy::DEFAULT_POLICY
        .replace("max_invalid_turns = 2", "max_invalid_turns = 3");
    std::fs::write(repo.path().join("p.toml"), text).unwrap();
    let args = [
        "rollout",
        "HEAD",
        "--service",
        "checkout",
        "--policy",
        "p.toml",
    ];
    let out = run_cli(repo.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("p.toml")
            && err.contains("max_invalid_turns (3)")
            && err.contains("below max_consecutive_vetoes (3)"),
        "{err}"
    );
}
