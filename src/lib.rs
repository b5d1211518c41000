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
pub mod chart;
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
pub mod narrate;
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
        (_, true) => return Err(SchemaError::MarkdownIsForConfig { name: name.into() }.into()),
        ("config", false) => settings::reference::config_schema(),
        ("assess", false) => {
            serde_json::to_value(schemars::schema_for!(Assessment)).map_err(SchemaError::Render)?
        }
        ("rollout", false) => serde_json::to_value(schemars::schema_for!(rollout::RolloutSummary))
            .map_err(SchemaError::Render)?,
        (other, _) => return Err(SchemaError::Unknown { name: other.into() }.into()),
    };
    serde_json::to_string_pretty(&schema)
        .map(|s| s + "\n")
        .map_err(|e| SchemaError::Render(e).into())
}

/// The schema names `deploy-agent schema NAME` knows, in the order shown.
pub const SCHEMA_NAMES: &[&str] = &["assess", "rollout", "config"];

/// Why `deploy-agent schema` printed nothing.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("no schema named `{name}`; available: {}", SCHEMA_NAMES.join(", "))]
    Unknown { name: String },
    #[error("--format markdown is for `schema config` only; `{name}` has a JSON Schema")]
    MarkdownIsForConfig { name: String },
    /// A schema that does not serialize is a defect, not the caller's input.
    #[error("cannot render the schema as JSON ({0}); this is a defect, please report it")]
    Render(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_schema_lists_the_valid_names() {
        let e = output_schema("nothing", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no schema named `nothing`; available: assess, rollout, config"
        );
        assert_eq!(e.exit_code(), exit::BAD_INPUT);
        for name in SCHEMA_NAMES {
            assert!(output_schema(name, false).is_ok(), "{name}");
        }
        let e = output_schema("assess", true).unwrap_err().to_string();
        assert!(e.contains("`schema config` only"), "{e}");
    }
}
