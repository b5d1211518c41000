//! Feature extraction: a change (or a history commit) into named numbers with evidence.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::change::{Change, FileStatus, HistoryCommit};
use crate::policy::{Category, Policy};

use super::history::{HistoryFacts, HistoryIndex};
use super::signals;

/// One feature value with the evidence behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub name: &'static str,
    pub value: f64,
    pub evidence: String,
}

/// Size and shape of a change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ChangeStats {
    pub files: usize,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub directories: usize,
    pub subsystems: usize,
    pub binary_files: usize,
    pub submodules: usize,
    pub renames: usize,
    /// Normalized entropy of changed lines across files, in [0, 1].
    pub entropy: f64,
}

/// Everything the model reads, plus what the report shows.
#[derive(Debug, Clone)]
pub struct Features {
    pub observations: Vec<Observation>,
    /// Touched paths by category.
    pub categories: BTreeMap<Category, Vec<String>>,
    pub stats: ChangeStats,
    pub history: HistoryFacts,
}

impl Features {
    pub fn value(&self, name: &str) -> f64 {
        self.observations
            .iter()
            .find(|o| o.name == name)
            .map_or(0.0, |o| o.value)
    }
}

/// Features of the change being assessed, from its diff and the history index.
pub fn of_change(change: &Change, policy: &Policy, index: &HistoryIndex) -> Features {
    let categories = categorize(change.files.iter().map(|f| f.path.as_str()), policy);
    let stats = stats(change);
    let mut touched: Vec<(&str, bool)> = Vec::new();
    for f in &change.files {
        touched.push((&f.path, f.status != FileStatus::Added));
        if let Some(old) = &f.old_path {
            touched.push((old, true));
        }
    }
    let h = &policy.history;
    let history = index.facts(
        &touched,
        &change.commit.author_email,
        change.commit.time,
        h.recent_days,
        h.young_days,
    );
    let mut obs = Vec::new();
    push_category_features(&mut obs, &categories, stats.files);
    push_size_features(&mut obs, change, &stats);
    signals::push_history_features(&mut obs, &history, policy);
    signals::push_message_features(&mut obs, &change.commit.message);
    signals::push_history_signals(
        &mut obs,
        &history,
        &change.commit.author_email,
        &change.commit.message,
        h.recent_days,
        only(&categories, Category::Dependency),
    );
    let new_files = change
        .files
        .iter()
        .filter(|f| f.status == FileStatus::Added)
        .count();
    signals::push_change_signals(
        &mut obs,
        stats.lines_added,
        stats.lines_deleted,
        new_files,
        stats.files,
        stats.directories,
    );
    Features {
        observations: obs,
        categories,
        stats,
        history,
    }
}

/// Features of a history commit, from names only (no line counts), for calibration.
pub fn of_history_commit(
    commit: &HistoryCommit,
    policy: &Policy,
    index: &HistoryIndex,
) -> Features {
    let categories = categorize(commit.files.iter().map(String::as_str), policy);
    let touched: Vec<(&str, bool)> = commit.files.iter().map(|p| (p.as_str(), true)).collect();
    let h = &policy.history;
    let history = index.facts(
        &touched,
        &commit.author_email,
        commit.time,
        h.recent_days,
        h.young_days,
    );
    let stats = ChangeStats {
        files: commit.files.len(),
        directories: distinct(commit.files.iter().map(|p| parent(p))),
        subsystems: distinct(commit.files.iter().map(|p| subsystem(p))),
        ..ChangeStats::default()
    };
    let mut obs = Vec::new();
    push_category_features(&mut obs, &categories, stats.files);
    obs.push(obs_count("log_files", stats.files, "files"));
    obs.push(obs_count(
        "subsystems",
        stats.subsystems,
        "top-level directories",
    ));
    signals::push_history_features(&mut obs, &history, policy);
    signals::push_message_features(&mut obs, &commit.message);
    signals::push_history_signals(
        &mut obs,
        &history,
        &commit.author_email,
        &commit.message,
        h.recent_days,
        only(&categories, Category::Dependency),
    );
    Features {
        observations: obs,
        categories,
        stats,
        history,
    }
}

/// Every feature a change can have, in a fixed order.
pub use crate::policy::KNOWN_FEATURES as ALL_FEATURES;

/// Features that the history walk can compute for any commit (used to calibrate).
pub const NAME_ONLY_FEATURES: &[&str] = &[
    "touches_migration",
    "touches_security",
    "touches_infra",
    "touches_config",
    "touches_api_contract",
    "touches_dependency",
    "touches_ci",
    "touches_source",
    "touches_other",
    "tests_only",
    "docs_only",
    "log_files",
    "subsystems",
    "history_reverts",
    "history_fixes",
    "history_churn",
    "history_authors",
    "young_files",
    "author_experience",
    "message_revert",
    "message_hotfix",
    "message_fix",
    "message_wip",
];

/// Whether every touched path is of category `cat`.
fn only(categories: &BTreeMap<Category, Vec<String>>, cat: Category) -> bool {
    categories.len() == 1 && categories.contains_key(&cat)
}

fn categorize<'a>(
    paths: impl Iterator<Item = &'a str>,
    policy: &Policy,
) -> BTreeMap<Category, Vec<String>> {
    let mut out: BTreeMap<Category, Vec<String>> = BTreeMap::new();
    for path in paths {
        out.entry(policy.categories.classify(path))
            .or_default()
            .push(path.to_string());
    }
    out
}

fn push_category_features(
    obs: &mut Vec<Observation>,
    categories: &BTreeMap<Category, Vec<String>>,
    files: usize,
) {
    for (cat, paths) in categories {
        if let Some(name) = cat.touch_feature() {
            obs.push(Observation {
                name,
                value: 1.0,
                evidence: list_paths(paths),
            });
        }
    }
    let only = |cat: Category| files > 0 && categories.get(&cat).is_some_and(|p| p.len() == files);
    if only(Category::Test) {
        obs.push(Observation {
            name: "tests_only",
            value: 1.0,
            evidence: format!("all {files} files are tests"),
        });
    }
    if only(Category::Docs) {
        obs.push(Observation {
            name: "docs_only",
            value: 1.0,
            evidence: format!("all {files} files are documentation"),
        });
    }
}

fn push_size_features(obs: &mut Vec<Observation>, change: &Change, s: &ChangeStats) {
    let lines = s.lines_added + s.lines_deleted;
    obs.push(Observation {
        name: "log_lines",
        value: ln1p(lines as f64),
        evidence: format!("+{} −{} lines", s.lines_added, s.lines_deleted),
    });
    obs.push(obs_count("log_files", s.files, "files"));
    obs.push(obs_count(
        "subsystems",
        s.subsystems,
        "top-level directories",
    ));
    if s.files > 1 {
        obs.push(Observation {
            name: "entropy",
            value: s.entropy,
            evidence: format!(
                "changed lines spread across {} files (normalized entropy {:.2})",
                s.files, s.entropy
            ),
        });
    }
    let binaries: Vec<String> = change
        .files
        .iter()
        .filter(|f| f.binary)
        .map(|f| f.path.clone())
        .collect();
    if !binaries.is_empty() {
        obs.push(Observation {
            name: "binary_files",
            value: 1.0,
            evidence: list_paths(&binaries),
        });
    }
    let subs: Vec<String> = change
        .files
        .iter()
        .filter(|f| f.submodule)
        .map(|f| f.path.clone())
        .collect();
    if !subs.is_empty() {
        obs.push(Observation {
            name: "submodule_bump",
            value: 1.0,
            evidence: list_paths(&subs),
        });
    }
}

fn stats(change: &Change) -> ChangeStats {
    let files = &change.files;
    let lines: Vec<f64> = files.iter().map(|f| f.lines() as f64).collect();
    ChangeStats {
        files: files.len(),
        lines_added: change.lines_added(),
        lines_deleted: change.lines_deleted(),
        directories: distinct(files.iter().map(|f| parent(&f.path))),
        subsystems: distinct(files.iter().map(|f| subsystem(&f.path))),
        binary_files: files.iter().filter(|f| f.binary).count(),
        submodules: files.iter().filter(|f| f.submodule).count(),
        renames: files
            .iter()
            .filter(|f| f.status == FileStatus::Renamed)
            .count(),
        entropy: normalized_entropy(&lines),
    }
}

/// Shannon entropy of the distribution of `weights`, divided by its maximum (log n).
pub fn normalized_entropy(weights: &[f64]) -> f64 {
    let total: f64 = weights.iter().sum();
    let n = weights.iter().filter(|w| **w > 0.0).count();
    if n < 2 || total <= 0.0 {
        return 0.0;
    }
    let h: f64 = weights
        .iter()
        .filter(|w| **w > 0.0)
        .map(|w| {
            let p = w / total;
            -p * p.ln()
        })
        .sum();
    h / (n as f64).ln()
}

pub(super) fn obs_count(name: &'static str, n: usize, what: &str) -> Observation {
    Observation {
        name,
        value: ln1p(n as f64),
        evidence: format!("{n} {what}"),
    }
}

fn ln1p(x: f64) -> f64 {
    x.ln_1p()
}

use super::history::parent;

fn subsystem(path: &str) -> &str {
    path.split_once('/').map_or("", |(top, _)| top)
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> usize {
    items.collect::<BTreeSet<_>>().len()
}

fn list_paths(paths: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = paths
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        s.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    s
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::normalized_entropy;

    #[test]
    fn entropy_bounds() {
        assert_eq!(normalized_entropy(&[10.0]), 0.0);
        assert!((normalized_entropy(&[5.0, 5.0, 5.0]) - 1.0).abs() < 1e-12);
        let skewed = normalized_entropy(&[100.0, 1.0]);
        assert!(skewed > 0.0 && skewed < 0.2, "{skewed}");
    }
}
