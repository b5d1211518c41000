//! deploy-agent: change-risk assessment and guarded, LLM-planned rollouts.
//!
//! The library holds all logic; `main.rs` only parses arguments and calls
//! the `run_*` entry points in [`commands`]. See ARCHITECTURE.md for the map.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod approval;
pub mod assess;
pub mod backtest;
pub mod bench;
pub mod canary;
pub mod change;
pub mod clock;
pub mod doctor;
pub mod error;
pub mod evals;
pub mod failpoint;
pub mod git;
pub mod guard;
pub mod journal;
pub mod llm;
pub mod metrics;
pub mod planner;
pub mod policy;
pub mod progress;
pub mod report;
pub mod retry;
pub mod risk;
pub mod rollout;
pub mod serve;
pub mod settings;
pub mod sim;
pub mod tools;
pub mod traffic;

pub mod commands;

pub use commands::assess::{run_assess, AssessCommand, AssessOutcome};
pub use commands::rollout::{run_rollout, RolloutCommand, RolloutOutcome};
pub use error::{exit, Error};

use assess::Assessment;

/// JSON Schemas of the machine-readable outputs and of `deploy-agent.toml`
/// (`config`), by name; `markdown` renders the configuration reference.
pub fn output_schema(name: &str, markdown: bool) -> Result<String, Error> {
    let schema = match (name, markdown) {
        ("config", true) => return Ok(settings::reference::config_markdown()),
        (_, true) => {
            return Err(Error::Usage(format!(
                "--format markdown is for `schema config` only; `{name}` has a JSON Schema"
            )))
        }
        ("config", false) => settings::reference::config_schema(),
        ("assess", false) => serde_json::to_value(schemars::schema_for!(Assessment))
            .map_err(|e| Error::Usage(e.to_string()))?,
        ("rollout", false) => serde_json::to_value(schemars::schema_for!(rollout::RolloutSummary))
            .map_err(|e| Error::Usage(e.to_string()))?,
        (other, _) => {
            return Err(Error::Usage(format!(
                "no schema named `{other}`; available: assess, rollout, config"
            )))
        }
    };
    serde_json::to_string_pretty(&schema)
        .map(|s| s + "\n")
        .map_err(|e| Error::Usage(e.to_string()))
}
