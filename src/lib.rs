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
pub mod testsvc;
pub mod tools;
pub mod traffic;

pub mod commands;

pub use commands::assess::{run_assess, AssessCommand, AssessOutcome};
pub use commands::rollout::{run_rollout, RolloutCommand, RolloutOutcome};
pub use error::{exit, Error};

use assess::Assessment;

/// JSON Schemas of the machine-readable outputs, by name.
pub fn output_schema(name: &str) -> Result<String, Error> {
    let schema = match name {
        "assess" => schemars::schema_for!(Assessment),
        "rollout" => schemars::schema_for!(rollout::RolloutSummary),
        other => {
            return Err(Error::Usage(format!(
                "no schema named `{other}`; available: assess, rollout"
            )))
        }
    };
    serde_json::to_string_pretty(&schema)
        .map(|s| s + "\n")
        .map_err(|e| Error::Usage(e.to_string()))
}
