//! A real model's answers, replayed. `RECORD=1 bash evals/real-model.sh` runs the
//! real-model suite against SmolLM2-135M-Instruct on llama.cpp through a recording
//! proxy: every exchange lands in `tests/cassettes/<suite>.jsonl` and the eval's
//! report in `<suite>.report.json`. Here the same suite runs against a server that
//! answers the recorded responses in order, so CI exercises the real model's output
//! (malformed calls, text-only turns, odd weights) without building or running it.
//!
//! The agent is deterministic given the answers (seeded simulator, fixed commit
//! dates), so the replay must ask the same questions in the same order and reach
//! the recorded report. When the agent's requests change on purpose, re-record.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::openai::{FakeOpenAi, Reply};
use crate::support::{json, run_cli, stderr};

const RERECORD: &str = "re-record with `RECORD=1 bash evals/real-model.sh`";

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The recorded chat completions of one suite, in order, and the report they produced.
fn cassette(suite: &str) -> (Vec<Value>, Value) {
    let dir = manifest().join("tests").join("cassettes");
    let lines = std::fs::read_to_string(dir.join(format!("{suite}.jsonl")))
        .unwrap_or_else(|e| panic!("read the {suite} cassette: {e}; {RERECORD}"));
    let exchanges = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("a cassette line is JSON"))
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/chat/completions"))
        })
        .collect();
    let report = std::fs::read_to_string(dir.join(format!("{suite}.report.json")))
        .unwrap_or_else(|e| panic!("read the {suite} report: {e}; {RERECORD}"));
    (
        exchanges,
        serde_json::from_str(&report).expect("the report is JSON"),
    )
}

/// What must agree between the recorded run and the replay, per scenario.
fn scenario_figures(report: &Value) -> Vec<(String, Value, Value, Value)> {
    report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["outcomes"].clone(),
                s["turns"].clone(),
                s["vetoes_by_rule"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_models_answers_replay_to_the_recorded_report() {
    let (exchanges, recorded) = cassette("real-model");
    assert!(
        exchanges.len() >= 10,
        "the cassette holds {} exchanges; {RERECORD}",
        exchanges.len()
    );
    let script = exchanges
        .iter()
        .map(|e| {
            Reply::Status(
                e["status"].as_u64().unwrap_or(500) as u16,
                e["response"].to_string(),
            )
        })
        .collect();
    let server = FakeOpenAi::start(script).await;
    let base = server.base_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal.db").display().to_string();
    let config = manifest()
        .join("evals/llm/deploy-agent.toml")
        .display()
        .to_string();
    let suite = manifest()
        .join("evals/real-model.toml")
        .display()
        .to_string();
    let out = tokio::task::spawn_blocking(move || {
        run_cli(
            &manifest(),
            &[
                "--config",
                &config,
                "--journal",
                &journal,
                "eval",
                "--suite",
                &suite,
                "--planner",
                "llm",
                "--format",
                "json",
            ],
            &[("OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", "none")],
        )
    })
    .await
    .expect("join");
    let report = json(&out);

    // The replay asked what the real run asked, in the same order.
    let asked = server.requests();
    for (i, (want, got)) in exchanges.iter().zip(&asked).enumerate() {
        let roles = |v: &Value| -> Vec<String> {
            v["messages"]
                .as_array()
                .map(|m| m.iter().map(|m| m["role"].to_string()).collect())
                .unwrap_or_default()
        };
        assert_eq!(
            roles(&want["request"]),
            roles(got),
            "exchange {i}: the conversation differs from the recorded one; {RERECORD}"
        );
    }
    assert_eq!(
        asked.len(),
        exchanges.len(),
        "the replay made {} model calls, the recording {}; {RERECORD}\n{}",
        asked.len(),
        exchanges.len(),
        stderr(&out)
    );

    // Nothing unsafe, whatever the small model said; and the same results as recorded.
    assert_eq!(report["unsafe_actions"], 0, "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report["episodes"], recorded["episodes"]);
    assert_eq!(report["handovers"], recorded["handovers"]);
    assert_eq!(report["tokens"], recorded["tokens"]);
    assert_eq!(scenario_figures(&report), scenario_figures(&recorded));
}
