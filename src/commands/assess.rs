//! `deploy-agent assess`.

use std::path::PathBuf;

use crate::assess::{self, AssessRequest, Assessment};
use crate::error::{exit, Error};
use crate::git::LocalGit;
use crate::report::{self, Format};
use crate::settings::{Env, Settings};

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
