//! `deploy-agent assess`.

use crate::commands::ArgError;
use std::path::PathBuf;

use crate::assess::{self, AssessRequest, Assessment};
use crate::error::{exit, Error};
use crate::git::github::{RepoName, Target};
use crate::git::github_post::{self, Posted};
use crate::git::{GitHubClient, GitHubSource, HistoryBounds, LocalGit};
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
    /// `--github OWNER/REPO`: read the change through the GitHub API instead of `repo`.
    pub github: Option<String>,
    /// `--post` (with `--github`): publish the report as a PR comment (+ check run).
    pub post: bool,
}

/// The outcome of `assess`: what to print and the exit code.
#[derive(Debug)]
pub struct AssessOutcome {
    pub assessment: Assessment,
    pub rendered: String,
    pub exit_code: u8,
    /// What `--post` published (empty without it).
    pub posted: Vec<Posted>,
}

/// Runs `assess` end to end against a local repository or, with `--github`, the GitHub API.
pub async fn run_assess(cmd: &AssessCommand) -> Result<AssessOutcome, Error> {
    if let Some(t) = cmd.fail_above {
        if !(0.0..=1.0).contains(&t) {
            return Err(ArgError::FailAboveOutOfRange { got: t }.into());
        }
    }
    if cmd.post && cmd.github.is_none() {
        return Err(ArgError::PostNeedsGitHub.into());
    }
    if cmd.github.is_some() && cmd.request.base.is_some() {
        return Err(ArgError::BaseWithGitHub.into());
    }
    let settings = Settings::load(cmd.config.as_deref(), &Env::from_process())?;
    let mut policy = settings.policy(cmd.policy.as_deref())?;
    let mut posted = Vec::new();
    let assessment = match &cmd.github {
        None => {
            let repo = LocalGit::open(&cmd.repo)?;
            assess::assess(&repo, &policy, &settings.llm, &cmd.request).await?
        }
        Some(name) => {
            let repo = RepoName::parse(name)?;
            let target = Target::parse(&cmd.request.rev)?;
            if cmd.post {
                github_post::check_postable(&target, &settings.github)?;
            }
            let client = GitHubClient::new(&settings.github, settings.github.token.clone())?;
            let bounds = HistoryBounds {
                max_commits: policy.history.max_commits,
                max_age_days: policy.history.max_age_days,
            };
            let source = GitHubSource::fetch(&client, &repo, &cmd.request.rev, bounds).await?;
            // History without file lists would calibrate on rows of zeros.
            policy.calibration.enabled = false;
            let mut a = assess::assess(&source, &policy, &settings.llm, &cmd.request).await?;
            a.warnings.extend(source.warnings.iter().cloned());
            if cmd.post {
                posted = github_post::publish(
                    &settings.github,
                    &repo,
                    &target,
                    &source.change.commit.sha,
                    source.html_url.as_deref(),
                    &a,
                )
                .await?;
            }
            a
        }
    };
    let exit_code = match cmd.fail_above {
        Some(t) if assessment.risk_score > t => exit::RISK_ABOVE_THRESHOLD,
        _ => exit::OK,
    };
    Ok(AssessOutcome {
        rendered: report::render(&assessment, cmd.format),
        assessment,
        exit_code,
        posted,
    })
}
