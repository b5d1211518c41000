//! An index over the history walk: per-file and per-author facts, built oldest first.
//!
//! Facts are added commit by commit in time order, so the same index answers "what
//! was known just before commit N" during calibration and "what is known now" for
//! the change being assessed. A revert only marks its target once the revert
//! itself has been added: nothing from the future leaks in.

use std::collections::{BTreeSet, HashMap};

use crate::change::HistoryCommit;
use crate::git::reverted_sha;

use super::message::MessageCues;

/// Per-file facts: the commits (by index) that touched it.
#[derive(Debug, Default, Clone)]
struct FileFacts {
    commits: Vec<u32>,
}

#[derive(Debug, Clone)]
struct CommitFacts {
    sha: String,
    author: u32,
    time: i64,
    is_fix: bool,
    reverted: bool,
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
}

/// The index. Paths and authors are interned to small integers.
#[derive(Debug, Default, Clone)]
pub struct HistoryIndex {
    paths: HashMap<String, u32>,
    files: Vec<FileFacts>,
    authors: HashMap<String, u32>,
    author_commits: Vec<u32>,
    commits: Vec<CommitFacts>,
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
        if author as usize == self.author_commits.len() {
            self.author_commits.push(0);
        }
        self.author_commits[author as usize] += 1;
        for path in &commit.files {
            let f = intern(&mut self.paths, path);
            if f as usize == self.files.len() {
                self.files.push(FileFacts::default());
            }
            self.files[f as usize].commits.push(id);
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
        if let Some(id) = id {
            self.commits[id as usize].reverted = true;
        }
    }

    /// Whether the commit with this sha has been reverted by a commit added so far.
    pub fn is_reverted(&self, sha: &str) -> bool {
        self.by_sha
            .get(sha)
            .is_some_and(|id| self.commits[*id as usize].reverted)
    }

    pub fn len(&self) -> usize {
        self.commits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }

    pub fn reverted_count(&self) -> usize {
        self.commits.iter().filter(|c| c.reverted).count()
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
        for (path, existing) in paths {
            let Some(&f) = self.paths.get(*path) else {
                continue;
            };
            let commits = &self.files[f as usize].commits;
            touching.extend(commits.iter().copied());
            if *existing {
                facts.known += 1;
                let first = commits.iter().map(|c| self.commits[*c as usize].time).min();
                if window_reaches && first.is_some_and(|t| t >= young_from) {
                    facts.young += 1;
                }
            }
        }
        let mut authors = BTreeSet::new();
        for id in &touching {
            let c = &self.commits[*id as usize];
            authors.insert(c.author);
            if c.reverted {
                facts.reverted.push(c.sha.clone());
            }
            facts.fixes += usize::from(c.is_fix);
            facts.recent += usize::from(c.time >= recent_from);
        }
        facts.authors = authors.len();
        facts.author_commits = self
            .authors
            .get(author)
            .map_or(0, |a| self.author_commits[*a as usize] as usize);
        facts
    }
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
