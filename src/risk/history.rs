//! An index over the history walk: per-file and per-author facts, built oldest first.
//!
//! Facts are added commit by commit in time order, so the same index answers "what
//! was known just before commit N" during calibration and "what is known now" for
//! the change being assessed. A revert only marks its target once the revert
//! itself has been added: nothing from the future leaks in.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::change::HistoryCommit;
use crate::git::reverted_sha;

use super::message::MessageCues;

/// Per-file facts: the commits (by index) that touched it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct FileFacts {
    commits: Vec<u32>,
    /// Of those, how many are known to have been reverted.
    reverted: u32,
}

/// Running counts for a directory or an author: cheap to update as commits
/// arrive and as reverts mark earlier commits, so a query costs O(1) however
/// long the history.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct Tally {
    commits: u32,
    reverted: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CommitFacts {
    sha: String,
    author: u32,
    time: i64,
    is_fix: bool,
    reverted: bool,
    files: Vec<u32>,
    dirs: Vec<u32>,
}

/// Facts about the touched files, for one query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryFacts {
    /// Earlier commits touching these files that were later reverted (known reverts only).
    pub reverted: Vec<String>,
    /// Earlier fix commits touching these files.
    pub fixes: usize,
    /// Commits touching these files in the recent window.
    pub recent: usize,
    /// Distinct authors who touched these files.
    pub authors: usize,
    /// Touched pre-existing files first seen within the "young" window.
    pub young: usize,
    /// Touched pre-existing files the history knows about.
    pub known: usize,
    /// Commits by this author before.
    pub author_commits: usize,
    /// Distinct earlier commits touching these files.
    pub touching: usize,
    /// Earlier commits touching these files' directories, and how many were reverted
    /// (summed over the distinct directories).
    pub dir_commits: usize,
    pub dir_reverted: usize,
    /// This author's earlier commits known to have been reverted.
    pub author_reverted: usize,
    /// This author's commits in the recent window.
    pub author_recent: usize,
    /// Mean age in days of the touched pre-existing files (since first seen).
    pub mean_file_age_days: f64,
    /// Days since any touched pre-existing file last changed (None when none is known).
    pub idle_days: Option<f64>,
    /// Of the earlier commits touching these files, how many are this author's.
    pub author_touching: usize,
    /// Days since this author's previous commit (None for a first commit).
    pub author_idle_days: Option<f64>,
    /// Commits in the whole repository in the 7 days before.
    pub repo_week: usize,
    /// Commits in the history so far, and how many are known reverted.
    pub repo_commits: usize,
    pub repo_reverted: usize,
}

/// The index. Paths and authors are interned to small integers.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct HistoryIndex {
    paths: HashMap<String, u32>,
    files: Vec<FileFacts>,
    authors: HashMap<String, u32>,
    author_tally: Vec<Tally>,
    /// Commit times per author, in the order added (for the recent window).
    author_times: Vec<Vec<i64>>,
    dirs: HashMap<String, u32>,
    dir_tally: Vec<Tally>,
    commits: Vec<CommitFacts>,
    reverted: usize,
    by_sha: HashMap<String, u32>,
    oldest_time: Option<i64>,
}

impl HistoryIndex {
    /// Builds the index from a newest-first history.
    pub fn from_newest_first(history: &[HistoryCommit]) -> Self {
        let mut index = Self::default();
        for commit in history.iter().rev() {
            index.add(commit);
        }
        index
    }

    /// Adds one commit (callers go oldest to newest).
    pub fn add(&mut self, commit: &HistoryCommit) {
        let id = self.commits.len() as u32;
        let author = intern(&mut self.authors, &commit.author_email);
        if author as usize == self.author_tally.len() {
            self.author_tally.push(Tally::default());
            self.author_times.push(Vec::new());
        }
        self.author_tally[author as usize].commits += 1;
        self.author_times[author as usize].push(commit.time);
        let mut files = Vec::with_capacity(commit.files.len());
        let mut dirs: Vec<u32> = Vec::new();
        for path in &commit.files {
            let f = intern(&mut self.paths, path);
            if f as usize == self.files.len() {
                self.files.push(FileFacts::default());
            }
            self.files[f as usize].commits.push(id);
            files.push(f);
            let d = intern(&mut self.dirs, parent(path));
            if d as usize == self.dir_tally.len() {
                self.dir_tally.push(Tally::default());
            }
            if !dirs.contains(&d) {
                dirs.push(d);
                self.dir_tally[d as usize].commits += 1;
            }
        }
        let cues = MessageCues::of(&commit.message);
        if let Some(target) = reverted_sha(&commit.message) {
            self.mark_reverted(target);
        }
        self.by_sha.insert(commit.sha.clone(), id);
        self.oldest_time = Some(self.oldest_time.map_or(commit.time, |t| t.min(commit.time)));
        self.commits.push(CommitFacts {
            sha: commit.sha.clone(),
            author,
            time: commit.time,
            is_fix: cues.fix || cues.hotfix,
            reverted: false,
            files,
            dirs,
        });
    }

    fn mark_reverted(&mut self, target: &str) {
        let id = self.by_sha.get(target).copied().or_else(|| {
            // Abbreviated shas: match by prefix (rare, so a scan is fine).
            self.by_sha
                .iter()
                .find(|(sha, _)| sha.starts_with(target))
                .map(|(_, id)| *id)
        });
        let Some(id) = id else { return };
        let c = &mut self.commits[id as usize];
        if c.reverted {
            return;
        }
        c.reverted = true;
        self.reverted += 1;
        self.author_tally[c.author as usize].reverted += 1;
        for f in &c.files {
            self.files[*f as usize].reverted += 1;
        }
        for d in &c.dirs {
            self.dir_tally[*d as usize].reverted += 1;
        }
    }

    /// Whether the commit with this sha has been reverted by a commit added so far.
    pub fn is_reverted(&self, sha: &str) -> bool {
        self.by_sha
            .get(sha)
            .is_some_and(|id| self.commits[*id as usize].reverted)
    }

    /// Whether the commit with this sha has been added.
    pub fn contains(&self, sha: &str) -> bool {
        self.by_sha.contains_key(sha)
    }

    pub fn len(&self) -> usize {
        self.commits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }

    pub fn reverted_count(&self) -> usize {
        self.reverted
    }

    /// Facts about `paths` (touched files) and `author`, as of time `now`.
    ///
    /// `existing` says which of `paths` existed before the change (not added by it).
    pub fn facts(
        &self,
        paths: &[(&str, bool)],
        author: &str,
        now: i64,
        recent_days: u32,
        young_days: u32,
    ) -> HistoryFacts {
        let recent_from = now - i64::from(recent_days) * 86_400;
        let young_from = now - i64::from(young_days) * 86_400;
        let window_reaches = self.oldest_time.is_some_and(|t| t < young_from);
        let mut touching: BTreeSet<u32> = BTreeSet::new();
        let mut facts = HistoryFacts::default();
        let mut ages = Vec::new();
        let mut seen_dirs: Vec<u32> = Vec::new();
        for (path, existing) in paths {
            if let Some(&d) = self.dirs.get(parent(path)) {
                if !seen_dirs.contains(&d) {
                    seen_dirs.push(d);
                    let t = self.dir_tally[d as usize];
                    facts.dir_commits += t.commits as usize;
                    facts.dir_reverted += t.reverted as usize;
                }
            }
            let Some(&f) = self.paths.get(*path) else {
                continue;
            };
            let commits = &self.files[f as usize].commits;
            touching.extend(commits.iter().copied());
            if *existing {
                facts.known += 1;
                let times = commits.iter().map(|c| self.commits[*c as usize].time);
                let first = times.clone().min();
                if window_reaches && first.is_some_and(|t| t >= young_from) {
                    facts.young += 1;
                }
                if let Some(first) = first {
                    ages.push(((now - first) as f64 / 86_400.0).max(0.0));
                }
                if let Some(last) = times.max() {
                    let idle = ((now - last) as f64 / 86_400.0).max(0.0);
                    facts.idle_days = Some(facts.idle_days.map_or(idle, |d: f64| d.min(idle)));
                }
            }
        }
        if !ages.is_empty() {
            facts.mean_file_age_days = ages.iter().sum::<f64>() / ages.len() as f64;
        }
        facts.touching = touching.len();
        let week_from = now - 7 * 86_400;
        facts.repo_week = self
            .commits
            .iter()
            .rev()
            .take_while(|c| c.time >= week_from)
            .count();
        facts.repo_commits = self.commits.len();
        facts.repo_reverted = self.reverted;
        let mut authors = BTreeSet::new();
        let me = self.authors.get(author).copied();
        for id in &touching {
            let c = &self.commits[*id as usize];
            authors.insert(c.author);
            facts.author_touching += usize::from(Some(c.author) == me);
            if c.reverted {
                facts.reverted.push(c.sha.clone());
            }
            facts.fixes += usize::from(c.is_fix);
            facts.recent += usize::from(c.time >= recent_from);
        }
        facts.authors = authors.len();
        if let Some(&a) = self.authors.get(author) {
            facts.author_commits = self.author_tally[a as usize].commits as usize;
            facts.author_reverted = self.author_tally[a as usize].reverted as usize;
            let times = &self.author_times[a as usize];
            facts.author_recent = times
                .iter()
                .rev()
                .take_while(|t| **t >= recent_from)
                .count();
        }
        facts
    }
}

/// The directory of a path ("" at the top).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn intern(map: &mut HashMap<String, u32>, key: &str) -> u32 {
    if let Some(id) = map.get(key) {
        return *id;
    }
    let id = map.len() as u32;
    map.insert(key.to_string(), id);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(sha: &str, time: i64, msg: &str, files: &[&str]) -> HistoryCommit {
        HistoryCommit {
            sha: sha.into(),
            author_email: format!("{sha}@x"),
            time,
            message: msg.into(),
            files: files.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn reverts_count_only_once_known() {
        let mut idx = HistoryIndex::default();
        idx.add(&commit("aaaaaaa1", 10, "feature", &["a.rs"]));
        idx.add(&commit("bbbbbbb2", 20, "fix: thing", &["a.rs", "b.rs"]));
        let before = idx.facts(&[("a.rs", true)], "x", 30, 90, 30);
        assert!(before.reverted.is_empty());
        assert_eq!(before.fixes, 1);
        assert_eq!(before.authors, 2);
        idx.add(&commit(
            "ccccccc3",
            25,
            "Revert\n\nThis reverts commit aaaaaaa1.",
            &["a.rs"],
        ));
        let after = idx.facts(&[("a.rs", true)], "x", 30, 90, 30);
        assert_eq!(after.reverted, vec!["aaaaaaa1".to_string()]);
        assert!(idx.is_reverted("aaaaaaa1"));
    }
}
