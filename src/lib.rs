//! deploy-agent: change-risk assessment and guarded, LLM-planned rollouts.
//!
//! The library holds all logic; `main.rs` only parses arguments and calls
//! [`cli_assess`]-style entry points. See ARCHITECTURE.md for the map.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod assess;
pub mod change;
pub mod error;
pub mod git;
pub mod llm;
pub mod policy;
pub mod report;
pub mod risk;
pub mod settings;

use std::path::PathBuf;

pub use error::{exit, Error};

use assess::{AssessRequest, Assessment};
use git::LocalGit;
use report::Format;
use settings::{Env, Settings};

/// Everything `deploy-agent assess` needs, already parsed.
#[derive(Debug, Clone)]
pub struct AssessCommand {
    pub request: AssessRequest,
    pub repo: PathBuf,
    pub config: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    pub format: Format,
    pub fail_above: Option<f64>,
}

/// The outcome of `assess`: what to print and the exit code.
#[derive(Debug)]
pub struct AssessOutcome {
    pub assessment: Assessment,
    pub rendered: String,
    pub exit_code: u8,
}

/// Runs `assess` end to end against a local repository.
pub async fn run_assess(cmd: &AssessCommand) -> Result<AssessOutcome, Error> {
    if let Some(t) = cmd.fail_above {
        if !(0.0..=1.0).contains(&t) {
            return Err(Error::Usage(format!(
                "--fail-above must be between 0 and 1, got {t}"
            )));
        }
    }
    let settings = Settings::load(cmd.config.as_deref(), &Env::from_process())?;
    let policy = settings.policy(cmd.policy.as_deref())?;
    let repo = LocalGit::open(&cmd.repo)?;
    let assessment = assess::assess(&repo, &policy, &settings.llm, &cmd.request).await?;
    let exit_code = match cmd.fail_above {
        Some(t) if assessment.risk_score > t => exit::RISK_ABOVE_THRESHOLD,
        _ => exit::OK,
    };
    Ok(AssessOutcome {
        rendered: report::render(&assessment, cmd.format),
        assessment,
        exit_code,
    })
}

/// JSON Schemas of the machine-readable outputs, by name.
pub fn output_schema(name: &str) -> Result<String, Error> {
    let schema = match name {
        "assess" => schemars::schema_for!(Assessment),
        other => {
            return Err(Error::Usage(format!(
                "no schema named `{other}`; available: assess"
            )))
        }
    };
    serde_json::to_string_pretty(&schema)
        .map(|s| s + "\n")
        .map_err(|e| Error::Usage(e.to_string()))
}
