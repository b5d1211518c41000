//! Domain types for a change and the history around it.
//!
//! These are plain data: the git adapter fills them, the risk model reads them.
//! Nothing here does I/O, so the model can be tested on hand-built values.

use serde::Serialize;

/// How a file changed between the base and the revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
    TypeChanged,
}

/// One file touched by a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path after the change (the old path for deletions).
    pub path: String,
    /// Path before the change, when it was renamed or copied.
    pub old_path: Option<String>,
    pub status: FileStatus,
    pub added: u64,
    pub deleted: u64,
    /// Git could not count lines (binary content).
    pub binary: bool,
    /// The entry is a submodule (gitlink, mode 160000).
    pub submodule: bool,
}

impl FileChange {
    pub fn lines(&self) -> u64 {
        self.added + self.deleted
    }
}

/// The commit metadata of the revision being assessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub parents: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    /// Author time, seconds since the Unix epoch.
    pub time: i64,
    pub message: String,
}

impl CommitInfo {
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
}

/// A change: what one revision does relative to its base.
#[derive(Debug, Clone)]
pub struct Change {
    pub commit: CommitInfo,
    /// The commit the diff is taken against; `None` for a root commit.
    pub base: Option<String>,
    pub files: Vec<FileChange>,
}

impl Change {
    pub fn lines_added(&self) -> u64 {
        self.files.iter().map(|f| f.added).sum()
    }
    pub fn lines_deleted(&self) -> u64 {
        self.files.iter().map(|f| f.deleted).sum()
    }
}

/// One ancestor commit, as the history walk sees it (names only, no line counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCommit {
    pub sha: String,
    pub author_email: String,
    pub time: i64,
    pub message: String,
    pub files: Vec<String>,
}

/// Ancestors of the change's base, newest first, bounded by policy.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub commits: Vec<HistoryCommit>,
    /// True when the walk stopped at a bound rather than at the root.
    pub truncated: bool,
}
