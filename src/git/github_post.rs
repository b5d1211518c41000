//! `assess --github ... --post`: the report as a pull-request comment, updated
//! in place, and a check run when a GitHub App installation token is given.
//!
//! **One comment per pull request.** The markdown report starts with
//! [`COMMENT_MARKER`]; a re-run lists the issue comments (paginated), PATCHes
//! the first one carrying the marker and POSTs only when there is none.
//!
//! **Commits get no comment.** Commit comments clutter the commit page and are
//! rarely read; with a commit sha, `--post` posts only the check run and
//! refuses (before reading anything) when no App token is set.
//!
//! **Typed calls.** Listing and creating comments and creating the check run
//! are octocrab's typed calls (`issues().list_comments`, `create_comment`,
//! `checks().create_check_run`), each inside [`GitHubClient::call`] for the
//! deadline and bounded retries. The update is `octocrab.patch` into its
//! `Comment` model: GitHub documents `PATCH`, and octocrab's `update_comment`
//! sends `POST`.
//!
//! **Check runs need an App.** GitHub accepts `POST /check-runs` only from a
//! GitHub App. Signing the App's JWT and exchanging it is out of scope: pass an
//! installation token in `GITHUB_APP_INSTALLATION_TOKEN` (in Actions, the
//! workflow's `GITHUB_TOKEN` with `checks: write` is one). Conclusion: approval
//! required → `action_required`; else `high`/`critical` → `neutral` (look, but
//! not blocking); else `success`.

use octocrab::models::issues::Comment;
use octocrab::params::checks::{CheckRunConclusion, CheckRunOutput, CheckRunStatus};

use super::github::{GitHubClient, GitHubError, GitHubSettings, RepoName, Target};
use crate::assess::Assessment;
use crate::policy::Level;
use crate::report::{markdown, COMMENT_MARKER};

/// The check run's name.
pub const CHECK_NAME: &str = "deploy-agent risk";

/// What `--post` did, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    CommentCreated { id: u64, url: String },
    CommentUpdated { id: u64, url: String },
    CheckRun { id: u64, conclusion: String },
}

impl std::fmt::Display for Posted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Posted::CommentCreated { url, .. } => write!(f, "posted the report: {url}"),
            Posted::CommentUpdated { url, .. } => write!(f, "updated the report: {url}"),
            Posted::CheckRun { conclusion, .. } => {
                write!(f, "check run \"{CHECK_NAME}\" posted: {conclusion}")
            }
        }
    }
}

/// Refuses `--post` early when it could do nothing for this target.
pub fn check_postable(target: &Target, settings: &GitHubSettings) -> Result<(), GitHubError> {
    if matches!(target, Target::Commit(_)) && settings.app_installation_token.is_none() {
        return Err(GitHubError::PostNeedsAppToken);
    }
    Ok(())
}

/// Publishes the report: the comment (pull requests) and the check run (App token).
pub async fn publish(
    settings: &GitHubSettings,
    repo: &RepoName,
    target: &Target,
    head_sha: &str,
    details_url: Option<&str>,
    assessment: &Assessment,
) -> Result<Vec<Posted>, GitHubError> {
    check_postable(target, settings)?;
    let mut done = Vec::new();
    let body = markdown(assessment);
    if let Target::Pull(n) = target {
        let client = GitHubClient::new(settings, settings.token.clone())?;
        done.push(upsert_comment(&client, repo, *n, &body).await?);
    }
    if let Some(token) = &settings.app_installation_token {
        let client = GitHubClient::new(settings, Some(token.clone()))?;
        done.push(check_run(&client, repo, head_sha, details_url, assessment, &body).await?);
    }
    Ok(done)
}

/// The body of a comment update.
#[derive(serde::Serialize)]
struct CommentBody<'a> {
    body: &'a str,
}

/// Updates the comment carrying the marker, or creates it.
pub async fn upsert_comment(
    client: &GitHubClient,
    repo: &RepoName,
    number: u64,
    body: &str,
) -> Result<Posted, GitHubError> {
    let crab = client.octocrab();
    let (owner, name) = (repo.owner.as_str(), repo.name.as_str());
    let (comments, _) = client
        .pages(
            &format!("/repos/{repo}/issues/{number}/comments"),
            usize::MAX,
            || async move {
                crab.issues(owner, name)
                    .list_comments(number)
                    .per_page(100u8)
                    .send()
                    .await
            },
        )
        .await?;
    let existing = comments
        .iter()
        .find(|c| {
            c.body
                .as_deref()
                .is_some_and(|b| b.contains(COMMENT_MARKER))
        })
        .map(|c| c.id);
    Ok(match existing {
        Some(id) => {
            // GitHub documents PATCH; octocrab's `update_comment` sends POST.
            let route = format!("/repos/{repo}/issues/comments/{id}");
            let payload = CommentBody { body };
            let c: Comment = client
                .call(&route, || crab.patch(route.as_str(), Some(&payload)))
                .await?;
            Posted::CommentUpdated {
                id: c.id.into_inner(),
                url: c.html_url.to_string(),
            }
        }
        None => {
            let c = client
                .call(
                    &format!("/repos/{repo}/issues/{number}/comments"),
                    || async move { crab.issues(owner, name).create_comment(number, body).await },
                )
                .await?;
            Posted::CommentCreated {
                id: c.id.into_inner(),
                url: c.html_url.to_string(),
            }
        }
    })
}

/// The check run's conclusion for an assessment.
pub fn conclusion(a: &Assessment) -> &'static str {
    if a.requires_approval {
        "action_required"
    } else if matches!(a.level, Level::High | Level::Critical) {
        "neutral"
    } else {
        "success"
    }
}

async fn check_run(
    client: &GitHubClient,
    repo: &RepoName,
    head_sha: &str,
    details_url: Option<&str>,
    a: &Assessment,
    summary: &str,
) -> Result<Posted, GitHubError> {
    let conclusion = conclusion(a);
    let title = format!(
        "risk {:.2} ({}){}",
        a.risk_score,
        a.level.as_str(),
        if a.requires_approval {
            " — approval required"
        } else {
            ""
        }
    );
    let wire = match conclusion {
        "action_required" => CheckRunConclusion::ActionRequired,
        "neutral" => CheckRunConclusion::Neutral,
        _ => CheckRunConclusion::Success,
    };
    let crab = client.octocrab();
    let (owner, name) = (repo.owner.as_str(), repo.name.as_str());
    let (title, summary) = (title.as_str(), cut(summary, 65_000));
    let run = client
        .call(&format!("/repos/{repo}/check-runs"), || async move {
            let checks = crab.checks(owner, name);
            let mut run = checks
                .create_check_run(CHECK_NAME, head_sha)
                .status(CheckRunStatus::Completed)
                .conclusion(wire)
                .output(CheckRunOutput {
                    title: title.into(),
                    summary: summary.into(),
                    text: None,
                    annotations: Vec::new(),
                    images: Vec::new(),
                });
            if let Some(url) = details_url {
                run = run.details_url(url);
            }
            run.send().await
        })
        .await?;
    Ok(Posted::CheckRun {
        id: run.id.into_inner(),
        conclusion: conclusion.into(),
    })
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
