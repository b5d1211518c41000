//! The GitHub backend: a commit or a pull request read through the REST API,
//! for CI runs that have no clone (or only a shallow one).
//!
//! **Through octocrab.** The calls are octocrab's typed ones (`pulls().get`,
//! `commits().get`, `repos().list_commits`) with its models, so the wire format
//! is the crate's job, not ours; a pull request's files are read with
//! `octocrab.get` into its `Page<DiffEntry>` (its builder has no `per_page`,
//! and 30 a page would cut a large pull request at a tenth of GitHub's 3 000),
//! and a commit's files, paginated inside the commit object, with
//! `octocrab._get` (see [`GitHubClient::object_page`]).
//!
//! **Prefetched, then synchronous.** [`ChangeSource`] is synchronous (the git
//! binary is), so [`GitHubSource::fetch`] reads everything `assess` needs up
//! front — the change, its files and patches, and the bounded commit list
//! before its base — and the trait methods answer from that snapshot.
//!
//! **What is unavailable without a clone.** The commit list endpoint has no
//! file names per commit, so history commits carry no files: the per-file
//! history features (`history_reverts`, `history_fixes`, `history_churn`,
//! `history_authors`, young files) are zero, and calibration is turned off
//! (its rows would be all zeros). Author experience and revert detection by
//! message still work. A pull request's history is read from its `base.sha`
//! (the base branch tip GitHub recorded), not from the exact merge base.
//! Files without a `patch` (binary, or too large for the API) keep GitHub's
//! line counts, are flagged as binary when those are zero, and are listed in a
//! warning and in the diff excerpt; they never fail the assessment.

use octocrab::models::pulls::PullRequest;
use octocrab::models::repos::{DiffEntry, DiffEntryStatus, RepoCommit};
use octocrab::Page;

pub use super::github_client::{GitHubClient, GitHubError, GitHubSettings, DEFAULT_API_URL};
pub use super::github_target::{RepoName, Target};
use super::{ChangeSource, GitError, HistoryBounds};
use crate::change::{Change, CommitInfo, FileChange, FileStatus, History, HistoryCommit};

/// What the GitHub source read: a snapshot answering [`ChangeSource`].
#[derive(Debug, Clone)]
pub struct GitHubSource {
    pub repo: RepoName,
    pub target: Target,
    pub change: Change,
    history: History,
    /// `(path, patch)`; `None` when GitHub sent no patch.
    patches: Vec<(String, Option<String>)>,
    /// Web page of the commit or pull request (check runs link to it).
    pub html_url: Option<String>,
    /// Things the report should say (missing patches, truncated listings, no file history).
    pub warnings: Vec<String>,
}

/// A pull request's files: 100 a page (octocrab's `list_files` has no `per_page`).
const PER_PAGE: [(&str, u8); 1] = [("per_page", 100)];

impl GitHubSource {
    /// Reads the change and the bounded history before its base.
    pub async fn fetch(
        client: &GitHubClient,
        repo: &RepoName,
        rev: &str,
        bounds: HistoryBounds,
    ) -> Result<Self, GitHubError> {
        let target = Target::parse(rev)?;
        // GitHub answers an unknown sha with 422 "No commit found for SHA".
        let not_found = |e: GitHubError| match e {
            GitHubError::NotFound { path, .. }
            | GitHubError::Status {
                code: 422, path, ..
            } => GitHubError::NotFound {
                path,
                repo: repo.to_string(),
                rev: rev.to_string(),
            },
            other => other,
        };
        let crab = client.octocrab();
        let (owner, name) = (repo.owner.as_str(), repo.name.as_str());
        let mut warnings = Vec::new();
        let (commit, base, files, html_url, pr) = match &target {
            Target::Commit(sha) => {
                let (commit, files, more) =
                    fetch_commit(client, repo, sha).await.map_err(not_found)?;
                if more {
                    warnings.push("GitHub listed only part of the commit's files".into());
                }
                let base = commit.parents.first().and_then(|p| p.sha.clone());
                let html = Some(commit.html_url.clone());
                (commit, base, files, html, None)
            }
            Target::Pull(n) => {
                let n = *n;
                let pull: PullRequest = client
                    .call(&format!("/repos/{repo}/pulls/{n}"), || async move {
                        crab.pulls(owner, name).get(n).await
                    })
                    .await
                    .map_err(not_found)?;
                let files_path = format!("/repos/{repo}/pulls/{n}/files");
                let route = files_path.as_str();
                let (files, more) = client
                    .pages(route, 30, || {
                        crab.get::<Page<DiffEntry>, _, _>(route, Some(&PER_PAGE))
                    })
                    .await
                    .map_err(not_found)?;
                if more {
                    warnings.push(format!(
                        "GitHub listed only the first {} files of #{n} ([github] max_pages)",
                        files.len()
                    ));
                }
                let head = pull.head.sha.as_str();
                let commit: RepoCommit = client
                    .call(&format!("/repos/{repo}/commits/{head}"), || async move {
                        crab.commits(owner, name).get(head).await
                    })
                    .await
                    .map_err(not_found)?;
                let base = Some(pull.base.sha.clone());
                let html = pull.html_url.as_ref().map(|u| u.to_string());
                (commit, base, files, html, Some(pull))
            }
        };
        let mut commit = commit_info(&commit)?;
        if let Some(pull) = &pr {
            // The change is the whole pull request: its title and body describe it.
            let title = pull.title.as_deref().unwrap_or_default();
            let body = pull.body.as_deref().unwrap_or_default();
            commit.message = format!("{title}\n\n{body}").trim_end().to_string();
        }
        let mut patches = Vec::new();
        let mut file_changes = Vec::new();
        for f in &files {
            let (fc, patch) = file_change(f);
            patches.push((fc.path.clone(), patch));
            file_changes.push(fc);
        }
        let missing: Vec<&str> = patches
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(p, _)| p.as_str())
            .collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "{} file(s) without a patch from GitHub (binary or too large; line counts from GitHub, not in the diff excerpt): {}",
                missing.len(),
                missing.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            ));
        }
        let history = match &base {
            Some(b) => fetch_history(client, repo, b, commit.time, bounds).await?,
            None => History::default(),
        };
        warnings.push(
            "history read from the GitHub API has no file lists: per-file history features and calibration are off (run in a clone for them)".into(),
        );
        Ok(Self {
            repo: repo.clone(),
            target,
            change: Change {
                commit,
                base,
                files: file_changes,
            },
            history,
            patches,
            html_url,
            warnings,
        })
    }
}

/// A commit and its files, which GitHub paginates inside the commit object
/// (300 a page, `Link` header) for at most 10 pages. Returns whether pages
/// were left unread.
async fn fetch_commit(
    client: &GitHubClient,
    repo: &RepoName,
    sha: &str,
) -> Result<(RepoCommit, Vec<DiffEntry>, bool), GitHubError> {
    let path = format!("/repos/{repo}/commits/{sha}");
    let mut uri = path.clone();
    let mut first: Option<RepoCommit> = None;
    let mut files = Vec::new();
    for _ in 0..client.page_cap(10) {
        let (body, next) = client.object_page(&path, &uri).await?;
        let mut page: RepoCommit = serde_json::from_str(&body).map_err(|e| GitHubError::Shape {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        files.extend(page.files.take().unwrap_or_default());
        let commit = first.get_or_insert(page);
        match next {
            Some(next) => uri = next,
            None => return Ok((commit.clone(), files, false)),
        }
    }
    let commit = first.ok_or_else(|| GitHubError::Shape {
        path,
        detail: "no commit read".into(),
    })?;
    Ok((commit, files, true))
}

async fn fetch_history(
    client: &GitHubClient,
    repo: &RepoName,
    base: &str,
    before: i64,
    bounds: HistoryBounds,
) -> Result<History, GitHubError> {
    let pages = bounds.max_commits.div_ceil(100).max(1);
    let crab = client.octocrab();
    let (owner, name) = (repo.owner.as_str(), repo.name.as_str());
    let (items, more) = client
        .pages(&format!("/repos/{repo}/commits"), pages, || async move {
            crab.repos(owner, name)
                .list_commits()
                .sha(base)
                .per_page(100u8)
                .send()
                .await
        })
        .await?;
    let cutoff = before - i64::from(bounds.max_age_days) * 86_400;
    let mut commits = Vec::new();
    let mut truncated = more;
    for item in &items {
        let info = commit_info(item)?;
        if info.time < cutoff {
            continue;
        }
        if commits.len() >= bounds.max_commits {
            truncated = true;
            break;
        }
        commits.push(HistoryCommit {
            sha: info.sha,
            author_email: info.author_email,
            time: info.time,
            message: info.message,
            files: Vec::new(),
        });
    }
    Ok(History { commits, truncated })
}

fn commit_info(c: &RepoCommit) -> Result<CommitInfo, GitHubError> {
    let author = c.commit.author.as_ref();
    let time = author
        .and_then(|a| a.date)
        .map(|d| d.timestamp())
        .ok_or_else(|| GitHubError::Shape {
            path: "commit".into(),
            detail: format!("missing commit.author.date for {}", c.sha),
        })?;
    Ok(CommitInfo {
        sha: c.sha.clone(),
        parents: c.parents.iter().filter_map(|p| p.sha.clone()).collect(),
        author_name: author.map(|a| a.name.clone()).unwrap_or_default(),
        author_email: author.and_then(|a| a.email.clone()).unwrap_or_default(),
        time,
        message: c.commit.message.trim_end().into(),
    })
}

fn file_change(f: &DiffEntry) -> (FileChange, Option<String>) {
    let status = match f.status {
        DiffEntryStatus::Added => FileStatus::Added,
        DiffEntryStatus::Removed => FileStatus::Deleted,
        DiffEntryStatus::Renamed => FileStatus::Renamed,
        DiffEntryStatus::Copied => FileStatus::Copied,
        DiffEntryStatus::Changed => FileStatus::TypeChanged,
        _ => FileStatus::Modified,
    };
    let (added, deleted) = (f.additions, f.deletions);
    let patch = f.patch.clone();
    let fc = FileChange {
        old_path: f.previous_filename.clone(),
        status,
        added,
        deleted,
        // No patch and no counted lines: GitHub saw binary content.
        binary: patch.is_none() && added + deleted == 0,
        submodule: false,
        path: f.filename.clone(),
    };
    (fc, patch)
}

impl ChangeSource for GitHubSource {
    fn change(&self, rev: &str, _base: Option<&str>) -> Result<Change, GitError> {
        let matches = match &self.target {
            Target::Pull(n) => rev == format!("#{n}"),
            Target::Commit(_) => self
                .change
                .commit
                .sha
                .starts_with(&rev.to_ascii_lowercase()),
        };
        if !matches {
            return Err(GitError::UnknownRevision { rev: rev.into() });
        }
        Ok(self.change.clone())
    }

    fn history(&self, tip: &str, before: i64, bounds: HistoryBounds) -> Result<History, GitError> {
        if self.change.base.as_deref() != Some(tip) {
            return Err(GitError::UnknownRevision { rev: tip.into() });
        }
        let cutoff = before - i64::from(bounds.max_age_days) * 86_400;
        let commits: Vec<_> = self
            .history
            .commits
            .iter()
            .filter(|c| c.time >= cutoff)
            .take(bounds.max_commits)
            .cloned()
            .collect();
        Ok(History {
            truncated: self.history.truncated || commits.len() >= bounds.max_commits,
            commits,
        })
    }

    fn diff_excerpt(&self, _change: &Change, max_bytes: usize) -> Result<String, GitError> {
        let mut text = String::new();
        for (path, patch) in &self.patches {
            text.push_str(&format!("diff --git a/{path} b/{path}\n"));
            match patch {
                Some(p) => {
                    text.push_str(p);
                    text.push('\n');
                }
                None => text.push_str("[no patch from GitHub: binary or too large]\n"),
            }
            if text.len() > max_bytes {
                let mut cut = max_bytes;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push_str("\n[... diff cut at the excerpt limit ...]\n");
                break;
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit as GitHub sends it, reduced to what octocrab's model requires.
    fn commit_at(date: &str) -> RepoCommit {
        let sha = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
        serde_json::from_value(serde_json::json!({
            "url": "https://api.github.com/repos/acme/shop/commits/a1b2",
            "sha": sha,
            "node_id": "C_kwDOAAAB",
            "html_url": "https://github.com/acme/shop/commit/a1b2",
            "comments_url": "https://api.github.com/repos/acme/shop/commits/a1b2/comments",
            "commit": {
                "url": "https://api.github.com/repos/acme/shop/git/commits/a1b2",
                "author": {"name": "alice", "email": "alice@example.com", "date": date},
                "committer": null,
                "message": "Add a column\n",
                "comment_count": 0,
                "tree": {"sha": "9c48", "url": "https://api.github.com/repos/acme/shop/git/trees/9c48"}
            },
            "author": null,
            "committer": null,
            "parents": [{"sha": "b0b1", "url": "https://api.github.com/repos/acme/shop/commits/b0b1"}]
        }))
        .unwrap()
    }

    #[test]
    fn dates_and_targets_parse() {
        let time = |date: &str| commit_info(&commit_at(date)).unwrap().time;
        assert_eq!(time("1970-01-01T00:00:00Z"), 0);
        assert_eq!(time("2011-04-14T16:00:49Z"), 1_302_796_849);
        assert_eq!(time("2011-04-14T18:00:49+02:00"), 1_302_796_849);
        let info = commit_info(&commit_at("2011-04-14T16:00:49Z")).unwrap();
        assert_eq!(
            (info.parents, info.message.as_str()),
            (vec!["b0b1".to_string()], "Add a column")
        );
        assert_eq!(Target::parse("#42").unwrap(), Target::Pull(42));
        assert!(Target::parse("main").is_err());
        assert!(RepoName::parse("acme").is_err());
        assert_eq!(
            RepoName::parse("acme/shop").unwrap().to_string(),
            "acme/shop"
        );
    }
}
