//! `deploy-agent backtest`: how well the risk score ranks this repository's own
//! history.
//!
//! One pass over the history, oldest first: each scored commit is scored from
//! what was known just before it (the [`HistoryIndex`] holds only earlier
//! commits; a revert marks its target only once the revert itself is added),
//! then added. Labels come from the whole history up to the tip: a commit is
//! *reverted* when a later commit says `This reverts commit <sha>` or is
//! GitHub's `Revert "<its subject>"` (see [`reverted_shas`]), or when a merge
//! that brought it in was reverted (see [`labels`]). Commits
//! younger than `min_age_days` at the tip are left out (they have had no time
//! to be reverted), as are merges (no change of their own under `--name-only`).
//!
//! The score is the shipped model's under the policy's weights, floors
//! included — no per-repository calibration and no model opinion — over the
//! whole earlier history rather than `assess`'s bounded window: it measures
//! the model a new user gets.

pub mod cache;
pub mod calibrate;
pub mod metrics;
pub mod plot;
pub mod render;
pub mod rows;

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::change::HistoryCommit;
use crate::git::{reverted_sha, ChangeSource, GitError, HistoryBounds};
use crate::policy::{Level, Policy};
use crate::risk::features;
use crate::risk::history::HistoryIndex;
use crate::risk::model;

pub use metrics::{Metrics, MetricsError};
pub use rows::{read_features, write_features};

/// What to score.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// The tip whose history is walked.
    pub tip: String,
    /// Score at most this many of the newest eligible commits.
    pub commits: usize,
    /// Leave out commits younger than this at the tip.
    pub min_age_days: u32,
    /// Seed of the bootstrap.
    pub seed: u64,
}

/// One scored commit.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    pub sha: String,
    pub time: i64,
    pub score: f64,
    pub level: Level,
    pub lines: u64,
    /// Later reverted (by a commit in the tip's history).
    pub reverted: bool,
    /// Each factor's contribution to the log-odds.
    #[serde(skip)]
    pub contributions: Vec<(String, f64)>,
    /// Every feature's value, in [`features::ALL_FEATURES`] order.
    #[serde(skip)]
    pub values: Vec<f64>,
}

/// The scored commits, and those whose change could not be read.
#[derive(Debug, Clone, Default)]
pub struct Backtest {
    /// Oldest first.
    pub scored: Vec<Scored>,
    /// The history index at the tip (every commit walked).
    pub index: HistoryIndex,
    /// The tip's full sha and time.
    pub tip: String,
    pub tip_time: i64,
    /// Rows taken from `known` instead of being computed.
    pub reused: usize,
    /// (sha, why) for commits left out because git could not show their
    /// change (objects missing from a partial clone or a damaged mirror).
    pub unreadable: Vec<(String, String)>,
}

/// Scores `options.commits` commits of `source`'s history as of their own time.
/// `progress(done, total)` is called as commits are scored. A commit whose
/// change git cannot show is left out and listed, not fatal: one missing blob
/// must not cost the figures of the thousands of commits around it.
///
/// `known` holds rows of an earlier run under the same policy: a commit found
/// there is not read again (its features depend only on its ancestors), only
/// relabelled — reverts that landed since count.
pub fn run(
    source: &dyn ChangeSource,
    policy: &Policy,
    options: &BacktestOptions,
    known: &HashMap<String, Scored>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Backtest, GitError> {
    // The whole history: from ten years ahead of now back fifty years (git
    // reads `--since` from that; nothing in a repository is older than 1986).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let history = source.history(
        &options.tip,
        now + 10 * 365 * 86_400,
        HistoryBounds {
            max_commits: 10_000_000,
            max_age_days: 50 * 365,
        },
    )?;
    let commits = &history.commits; // newest first
    let reverted = labels(source, commits);
    let newest = commits.first().map_or(0, |c| c.time);
    let cutoff = newest - i64::from(options.min_age_days) * 86_400;
    let chosen: Vec<usize> = commits
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.files.is_empty() && c.time <= cutoff)
        .map(|(i, _)| i)
        .take(options.commits)
        .collect();
    let total = chosen.len();
    let oldest_chosen = chosen.last().copied();
    let mut out = Backtest {
        tip: commits.first().map(|c| c.sha.clone()).unwrap_or_default(),
        tip_time: newest,
        ..Backtest::default()
    };
    let mut index = HistoryIndex::default();
    for (i, commit) in commits.iter().enumerate().rev() {
        if oldest_chosen.is_some_and(|o| i <= o)
            && !commit.files.is_empty()
            && commit.time <= cutoff
        {
            if let Some(row) = known.get(&commit.sha) {
                out.scored.push(Scored {
                    reverted: reverted.contains(commit.sha.as_str()),
                    level: policy.level_for(row.score),
                    ..row.clone()
                });
                out.reused += 1;
                index.add(commit);
                progress(out.scored.len() + out.unreadable.len(), total);
                continue;
            }
            let change = match source.change(&commit.sha, None) {
                Ok(change) => change,
                Err(e @ (GitError::Command { .. } | GitError::Parse { .. })) => {
                    tracing::warn!(sha = %commit.sha, error = %e, "change unreadable; left out");
                    out.unreadable.push((commit.sha.clone(), e.to_string()));
                    index.add(commit);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let f = features::of_change(&change, policy, &index);
            let s = model::score(&f, policy, &policy.risk.weights);
            out.scored.push(Scored {
                sha: commit.sha.clone(),
                time: commit.time,
                score: s.score,
                level: policy.level_for(s.score),
                lines: change.lines_added() + change.lines_deleted(),
                reverted: reverted.contains(commit.sha.as_str()),
                contributions: s
                    .factors
                    .iter()
                    .map(|f| (f.name.clone(), f.contribution))
                    .collect(),
                values: features::ALL_FEATURES.iter().map(|n| f.value(n)).collect(),
            });
            progress(out.scored.len() + out.unreadable.len(), total);
        }
        index.add(commit);
    }
    out.index = index;
    Ok(out)
}

/// Merges with more commits than this are syncs, not one change: their
/// revert does not label each commit.
const MERGE_FANOUT: usize = 50;

/// Shas labelled reverted: those [`reverted_shas`] finds, and the commits a
/// reverted merge brought in (a pull request reverted as a whole, by
/// `git revert -m 1 <merge>`), unless the merge brought more than
/// [`MERGE_FANOUT`].
fn labels(source: &dyn ChangeSource, commits: &[HistoryCommit]) -> HashSet<String> {
    let merges: HashSet<&str> = commits
        .iter()
        .filter(|c| c.files.is_empty())
        .map(|c| c.sha.as_str())
        .collect();
    let mut out = HashSet::new();
    for target in reverted_shas(commits).into_keys() {
        if merges.contains(target) {
            out.extend(source.merged_commits(target, MERGE_FANOUT));
        }
        out.insert(target.to_string());
    }
    out
}

/// Full shas of reverted commits, with the commit that reverted them: named
/// by a later `This reverts commit <sha>` (prefixes of 7 or more characters
/// resolved when they name exactly one commit), or, when a revert names no
/// sha, a later GitHub-style `Revert "<subject>"` whose subject is exactly an
/// earlier commit's within 180 days (the most recent such; ` (#123)` pull
/// request suffixes ignored on both sides).
fn reverted_shas(commits: &[HistoryCommit]) -> HashMap<&str, &str> {
    let by_sha: HashMap<&str, &HistoryCommit> =
        commits.iter().map(|c| (c.sha.as_str(), c)).collect();
    // Subject → indices, newest first (the list is newest first).
    let mut by_subject: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in commits.iter().enumerate() {
        by_subject
            .entry(bare_subject(&c.message))
            .or_default()
            .push(i);
    }
    let mut out = HashMap::new();
    for (i, c) in commits.iter().enumerate() {
        let target = match reverted_sha(&c.message) {
            Some(named) => by_sha.get(named).copied().or_else(|| {
                let mut matches = commits.iter().filter(|x| x.sha.starts_with(named));
                match (matches.next(), matches.next()) {
                    (Some(one), None) => Some(one),
                    _ => None,
                }
            }),
            None => reverted_title(&c.message).and_then(|title| {
                let earlier = by_subject.get(title)?.iter().find(|&&j| j > i)?;
                let t = &commits[*earlier];
                (c.time - t.time <= 180 * 86_400).then_some(t)
            }),
        };
        if let Some(t) = target {
            out.insert(t.sha.as_str(), c.sha.as_str());
        }
    }
    out
}

/// The first line without a trailing ` (#123)`.
fn bare_subject(message: &str) -> &str {
    let subject = message.lines().next().unwrap_or("").trim();
    match subject.rfind(" (#") {
        Some(at)
            if subject.ends_with(')')
                && subject[at + 3..subject.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_digit()) =>
        {
            &subject[..at]
        }
        _ => subject,
    }
}

/// `S` from a subject `Revert "S"` (GitHub's revert button).
fn reverted_title(message: &str) -> Option<&str> {
    let subject = bare_subject(message);
    let inner = bare_subject(subject.strip_prefix("Revert \"")?.strip_suffix('"')?);
    (!inner.is_empty() && !inner.ends_with("...")).then_some(inner)
}

#[cfg(test)]
mod tests;
