//! Reading changes and history. One trait, one file per backend.
//!
//! The local backend shells out to the `git` binary: it is on every machine that
//! has a repository, handles every object format and config git itself handles,
//! and its diff machinery (renames, binary detection) is the reference users trust.

pub mod fetch;
pub mod github;
pub mod github_client;
mod github_error;
pub mod github_post;
mod github_target;
mod local;
mod parse;

pub use fetch::{ensure_commit, FetchError, FetchPolicy, Fetched};
pub use github::{GitHubClient, GitHubError, GitHubSettings, GitHubSource};
pub use local::LocalGit;
pub use parse::{parse_diff_tree, parse_log, reverted_sha};

use crate::change::{Change, History};

/// Bounds for the history walk, so big repositories stay fast.
#[derive(Debug, Clone, Copy)]
pub struct HistoryBounds {
    pub max_commits: usize,
    /// Only commits at most this many days older than the change.
    pub max_age_days: u32,
}

/// Something that can describe a change and the history before it.
pub trait ChangeSource {
    /// The change `rev` makes against `base` (or against its first parent).
    fn change(&self, rev: &str, base: Option<&str>) -> Result<Change, GitError>;
    /// Ancestors of `tip` (inclusive), newest first, within `bounds`, older than `before`.
    fn history(&self, tip: &str, before: i64, bounds: HistoryBounds) -> Result<History, GitError>;
    /// The unified diff of the change, cut at `max_bytes` (for a model's eyes).
    fn diff_excerpt(&self, change: &Change, max_bytes: usize) -> Result<String, GitError>;
    /// The repository's git directory, where per-repository caches live (none
    /// for a remote source).
    fn git_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// The non-merge commits a merge brought in (`merge^1..merge`), up to
    /// `max`; empty when it brought more (a sync merge) or the source cannot tell.
    fn merged_commits(&self, _merge: &str, _max: usize) -> Vec<String> {
        Vec::new()
    }
    /// Commits reachable from `to` but not from `from` (git's `from..to`),
    /// newest first; `None` when the source cannot tell.
    fn commits_since(
        &self,
        _from: &str,
        _to: &str,
    ) -> Result<Option<Vec<crate::change::HistoryCommit>>, GitError> {
        Ok(None)
    }
}

/// Why reading git failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not a git repository (run inside a repository or pass --repo PATH; for `serve`, set [serve] repo to a clone)")]
    NotARepository { path: String },
    #[error(
        "unknown revision `{rev}` (check the name with `git rev-parse {rev}`, or fetch it first)"
    )]
    UnknownRevision { rev: String },
    #[error("could not run git: {0} (is git installed and on PATH?)")]
    Spawn(#[source] std::io::Error),
    #[error("git {command} failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("could not parse the output of git {command}: {detail}")]
    Parse { command: String, detail: String },
}
