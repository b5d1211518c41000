//! The GitHub backend: a commit or a pull request read through the REST API,
//! for CI runs that have no clone (or only a shallow one).
//!
//! **Why reqwest and not octocrab.** Five endpoints are used (a commit, a pull
//! request, its files, the commit list, and — for `--post` — issue comments and
//! check runs), all plain JSON. octocrab would add a large typed dependency tree
//! and minutes of compile time on small CI machines for types we barely read;
//! reqwest (already a dependency, rustls) with `serde_json::Value`, our own
//! timeout, bounded retries and `Link` pagination is about as much code as the
//! glue octocrab would need, and tests point it at a fake server with `api_url`.
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

use serde_json::Value;

pub use super::github_client::{GitHubClient, GitHubError, GitHubSettings, DEFAULT_API_URL};
use super::{ChangeSource, GitError, HistoryBounds};
use crate::change::{Change, CommitInfo, FileChange, FileStatus, History, HistoryCommit};

/// `OWNER/REPO`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    pub fn parse(s: &str) -> Result<Self, GitHubError> {
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match s.split_once('/') {
            Some((o, n)) if ok(o) && ok(n) => Ok(Self {
                owner: o.into(),
                name: n.into(),
            }),
            _ => Err(GitHubError::Usage(format!(
                "--github expects OWNER/REPO, got `{s}`"
            ))),
        }
    }
}

impl std::fmt::Display for RepoName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// What to read: a commit sha or a pull request (`#N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Commit(String),
    Pull(u64),
}

impl Target {
    pub fn parse(rev: &str) -> Result<Self, GitHubError> {
        if let Some(n) = rev.strip_prefix('#') {
            return n.parse().map(Target::Pull).map_err(|_| {
                GitHubError::Usage(format!("`{rev}`: a pull request is #NUMBER, e.g. #42"))
            });
        }
        if !rev.is_empty() && rev.len() <= 64 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Target::Commit(rev.to_ascii_lowercase()));
        }
        Err(GitHubError::Usage(format!(
            "with --github the revision is a commit sha or #PR_NUMBER, got `{rev}`"
        )))
    }
}

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
        let base_path = format!("/repos/{repo}");
        let mut warnings = Vec::new();
        let (commit_json, base, files, html_url, pr) = match &target {
            Target::Commit(sha) => {
                let (files, first, more) = client
                    .get_pages(&format!("{base_path}/commits/{sha}"), Some("files"), 10)
                    .await
                    .map_err(not_found)?;
                let commit = first.unwrap_or_default();
                if more {
                    warnings.push("GitHub listed only part of the commit's files".into());
                }
                let base = commit["parents"][0]["sha"].as_str().map(str::to_string);
                let html = commit["html_url"].as_str().map(str::to_string);
                (commit, base, files, html, None)
            }
            Target::Pull(n) => {
                let pull = client
                    .get(&format!("{base_path}/pulls/{n}"))
                    .await
                    .map_err(not_found)?;
                let head = str_field(&pull, &["head", "sha"], "pull request")?;
                let (files, _, more) = client
                    .get_pages(
                        &format!("{base_path}/pulls/{n}/files?per_page=100"),
                        None,
                        30,
                    )
                    .await
                    .map_err(not_found)?;
                if more {
                    warnings.push(format!(
                        "GitHub listed only the first {} files of #{n} ([github] max_pages)",
                        files.len()
                    ));
                }
                let commit = client
                    .get(&format!("{base_path}/commits/{head}"))
                    .await
                    .map_err(not_found)?;
                let base = pull["base"]["sha"].as_str().map(str::to_string);
                let html = pull["html_url"].as_str().map(str::to_string);
                (commit, base, files, html, Some(pull))
            }
        };
        let mut commit = commit_info(&commit_json)?;
        if let Some(pull) = &pr {
            // The change is the whole pull request: its title and body describe it.
            let title = pull["title"].as_str().unwrap_or_default();
            let body = pull["body"].as_str().unwrap_or_default();
            commit.message = format!("{title}\n\n{body}").trim_end().to_string();
        }
        let mut patches = Vec::new();
        let mut file_changes = Vec::new();
        for f in &files {
            let (fc, patch) = file_change(f)?;
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

async fn fetch_history(
    client: &GitHubClient,
    repo: &RepoName,
    base: &str,
    before: i64,
    bounds: HistoryBounds,
) -> Result<History, GitHubError> {
    let pages = bounds.max_commits.div_ceil(100).max(1);
    let (items, _, more) = client
        .get_pages(
            &format!("/repos/{repo}/commits?sha={base}&per_page=100"),
            None,
            pages,
        )
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

fn str_field(v: &Value, keys: &[&str], what: &str) -> Result<String, GitHubError> {
    let mut cur = v;
    for k in keys {
        cur = &cur[*k];
    }
    cur.as_str()
        .map(str::to_string)
        .ok_or_else(|| GitHubError::Shape {
            path: what.into(),
            detail: format!("missing {}", keys.join(".")),
        })
}

fn commit_info(v: &Value) -> Result<CommitInfo, GitHubError> {
    let date = str_field(v, &["commit", "author", "date"], "commit")?;
    let time = parse_iso8601(&date).ok_or_else(|| GitHubError::Shape {
        path: "commit".into(),
        detail: format!("bad date `{date}`"),
    })?;
    Ok(CommitInfo {
        sha: str_field(v, &["sha"], "commit")?,
        parents: v["parents"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p["sha"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        author_name: v["commit"]["author"]["name"]
            .as_str()
            .unwrap_or_default()
            .into(),
        author_email: v["commit"]["author"]["email"]
            .as_str()
            .unwrap_or_default()
            .into(),
        time,
        message: v["commit"]["message"]
            .as_str()
            .unwrap_or_default()
            .trim_end()
            .into(),
    })
}

fn file_change(f: &Value) -> Result<(FileChange, Option<String>), GitHubError> {
    let path = str_field(f, &["filename"], "file")?;
    let status = match f["status"].as_str().unwrap_or("modified") {
        "added" => FileStatus::Added,
        "removed" => FileStatus::Deleted,
        "renamed" => FileStatus::Renamed,
        "copied" => FileStatus::Copied,
        "changed" => FileStatus::TypeChanged,
        _ => FileStatus::Modified,
    };
    let added = f["additions"].as_u64().unwrap_or(0);
    let deleted = f["deletions"].as_u64().unwrap_or(0);
    let patch = f["patch"].as_str().map(str::to_string);
    let fc = FileChange {
        old_path: f["previous_filename"].as_str().map(str::to_string),
        status,
        added,
        deleted,
        // No patch and no counted lines: GitHub saw binary content.
        binary: patch.is_none() && added + deleted == 0,
        submodule: false,
        path,
    };
    Ok((fc, patch))
}

/// `YYYY-MM-DDTHH:MM:SS(Z|±HH:MM)` → seconds since the epoch.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = rest.get(..8)?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let zone = rest
        .get(8..)?
        .trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "Z" | "" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (zh, zm) = z.get(1..)?.split_once(':')?;
            sign * (zh.parse::<i64>().ok()? * 3600 + zm.parse::<i64>().ok()? * 60)
        }
    };
    let days = crate::clock::days_from_civil(y, m, day);
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
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

    #[test]
    fn dates_and_targets_parse() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601("2011-04-14T16:00:49Z"), Some(1_302_796_849));
        assert_eq!(
            parse_iso8601("2011-04-14T18:00:49+02:00"),
            Some(1_302_796_849)
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
