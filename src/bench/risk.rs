//! `deploy-agent bench risk`: the risk model on the development set,
//! leave-one-repository-out.
//!
//! Input: one features file per repository (`backtest --features`, named
//! `OWNER+NAME.csv`). For each repository, the prior is fitted on the *other*
//! repositories only (each on its own percentile scale) and scores the held-out
//! one: nothing about the tested repository's labels is seen. The figure
//! "with this repository's calibration" adds what `calibrate` does there —
//! a fit centred on that prior, scored out of fold by blocked cross-validation.
//! The prior shipped in the binary is the fit on all of them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backtest::calibrate::with_scores;
use crate::backtest::{metrics, read_features, Scored};
use crate::risk::features::ALL_FEATURES;
use crate::risk::fitted::{self, Prior, FORMAT};
use crate::risk::scale::Scale;

/// Precision of the pooled fit's Gaussian prior around zero.
pub const POOLED_STRENGTH: f64 = 10.0;
/// Precision around the prior of a repository's own calibration.
pub const REPO_STRENGTH: f64 = 8.0;
/// Folds of the blocked cross-validation.
pub const FOLDS: usize = 5;

/// One held-out repository.
#[derive(Debug, Clone, Serialize)]
pub struct RepoFigures {
    pub repo: String,
    pub commits: usize,
    pub reverted: usize,
    /// The prior trained on the other repositories.
    pub auc: f64,
    pub auc_low: f64,
    pub auc_high: f64,
    pub top10_recall: f64,
    /// The shipped policy's score, and lines changed alone.
    pub policy_auc: f64,
    pub lines_auc: f64,
    /// With this repository's own calibration on top, out of fold.
    pub calibrated_auc: f64,
    /// What `calibrate` would give: the best of policy / prior / refit chosen
    /// on the older half of the history, judged on the newer half only.
    pub chosen: &'static str,
    pub chosen_newer_auc: f64,
    /// The prior alone and lines changed, on the same newer half.
    pub prior_newer_auc: f64,
    pub lines_newer_auc: f64,
}

/// The whole table, and the prior fitted on every repository.
#[derive(Debug, Clone, Serialize)]
pub struct RiskBench {
    pub repos: Vec<RepoFigures>,
    pub macro_auc: f64,
    pub macro_policy_auc: f64,
    pub macro_lines_auc: f64,
    pub macro_calibrated_auc: f64,
    pub macro_chosen_newer_auc: f64,
    pub macro_prior_newer_auc: f64,
    pub macro_lines_newer_auc: f64,
    /// Reverted commits in their repository's top 10 %, over all repositories.
    pub top10_recall: f64,
    #[serde(skip)]
    pub prior: Prior,
}

struct Repo {
    name: String,
    encoded: Vec<Vec<f64>>,
    labels: Vec<bool>,
    rows: Vec<Scored>,
}

/// Why the risk benchmark could not run. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RiskBenchError {
    #[error("cannot read {}: {source} (pass --rows DIR, a folder of `backtest --features` files)", dir.display())]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds {found} features files; leave-one-out needs at least two (write them with `deploy-agent backtest --features DIR/OWNER+NAME.csv`)", dir.display())]
    TooFew { dir: PathBuf, found: usize },
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: crate::backtest::rows::FeaturesError,
    },
    #[error("{repo}: {source}")]
    Judged {
        repo: String,
        source: metrics::MetricsError,
    },
    #[error("cannot write --write-prior {}: {source}; choose a writable path", path.display())]
    WritePrior {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs the benchmark over every `*.csv` in `dir`.
pub fn run(
    dir: &Path,
    seed: u64,
    mut progress: impl FnMut(&str),
) -> Result<RiskBench, RiskBenchError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| RiskBenchError::Folder {
            dir: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    paths.sort();
    if paths.len() < 2 {
        return Err(RiskBenchError::TooFew {
            dir: dir.to_path_buf(),
            found: paths.len(),
        });
    }
    let mut repos = Vec::new();
    for path in &paths {
        let file_error = |source| RiskBenchError::File {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(|e| file_error(e.into()))?;
        let mut rows = read_features(std::io::BufReader::new(file)).map_err(file_error)?;
        rows.sort_by_key(|r| r.time);
        let values: Vec<&[f64]> = rows.iter().map(|r| r.values.as_slice()).collect();
        let scale = Scale::fit(ALL_FEATURES, &values);
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().replace('+', "/"))
            .unwrap_or_default();
        repos.push(Repo {
            encoded: values.iter().map(|v| scale.encode(v)).collect(),
            labels: rows.iter().map(|r| r.reverted).collect(),
            rows,
            name,
        });
    }
    let zero = Prior::flat(ALL_FEATURES).weights;
    let mut figures = Vec::new();
    for (k, held) in repos.iter().enumerate() {
        progress(&held.name);
        let (x, y) = pooled(&repos, Some(k));
        let w = fitted::fit_steps(&x, &y, &zero, POOLED_STRENGTH);
        let scores: Vec<f64> = held.encoded.iter().map(|e| fitted::dot(e, &w)).collect();
        let calibrated = fitted::out_of_fold(&held.encoded, &held.labels, &w, REPO_STRENGTH, FOLDS);
        let m =
            metrics::Metrics::of(&with_scores(&held.rows, &scores), seed).map_err(|source| {
                RiskBenchError::Judged {
                    repo: held.name.clone(),
                    source,
                }
            })?;
        let policy: Vec<f64> = held.rows.iter().map(|r| r.score).collect();
        let lines: Vec<f64> = held.rows.iter().map(|r| r.lines as f64).collect();
        let half = held.rows.len() / 2;
        let (older, newer) = held.labels.split_at(half);
        let candidates = [
            ("policy", &policy),
            ("prior", &scores),
            ("refit", &calibrated),
        ];
        let (chosen, chosen_scores) = candidates
            .iter()
            .map(|(name, s)| (*name, *s, metrics::auc(&s[..half], older)))
            .filter(|(_, _, a)| a.is_finite())
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map_or(("prior", &scores), |(n, s, _)| (n, s));
        let newer_auc = |s: &[f64]| metrics::auc(&s[half..], newer);
        figures.push(RepoFigures {
            repo: held.name.clone(),
            commits: m.commits,
            reverted: m.reverted,
            auc: m.auc,
            auc_low: m.auc_ci.0,
            auc_high: m.auc_ci.1,
            top10_recall: m.top10_recall,
            policy_auc: metrics::auc(&policy, &held.labels),
            lines_auc: m.lines_auc,
            calibrated_auc: metrics::auc(&calibrated, &held.labels),
            chosen,
            chosen_newer_auc: newer_auc(chosen_scores),
            prior_newer_auc: newer_auc(&scores),
            lines_newer_auc: newer_auc(&lines),
        });
    }
    progress("all repositories (the shipped prior)");
    let (x, y) = pooled(&repos, None);
    let prior = Prior {
        format: FORMAT,
        features: ALL_FEATURES.iter().map(|f| f.to_string()).collect(),
        weights: fitted::fit_steps(&x, &y, &zero, POOLED_STRENGTH)
            .into_iter()
            .map(|w| crate::risk::model::round(w, 4))
            .collect(),
        trained_on: repos.iter().map(|r| r.name.clone()).collect(),
    };
    let mean =
        |f: fn(&RepoFigures) -> f64| figures.iter().map(f).sum::<f64>() / figures.len() as f64;
    let reverted: usize = figures.iter().map(|f| f.reverted).sum();
    let caught: f64 = figures
        .iter()
        .map(|f| f.top10_recall * f.reverted as f64)
        .sum();
    Ok(RiskBench {
        macro_auc: mean(|f| f.auc),
        macro_policy_auc: mean(|f| f.policy_auc),
        macro_lines_auc: mean(|f| f.lines_auc),
        macro_calibrated_auc: mean(|f| f.calibrated_auc),
        macro_chosen_newer_auc: mean(|f| f.chosen_newer_auc),
        macro_prior_newer_auc: mean(|f| f.prior_newer_auc),
        macro_lines_newer_auc: mean(|f| f.lines_newer_auc),
        top10_recall: caught / reverted.max(1) as f64,
        repos: figures,
        prior,
    })
}

fn pooled(repos: &[Repo], leave_out: Option<usize>) -> (Vec<Vec<f64>>, Vec<bool>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (i, r) in repos.iter().enumerate() {
        if Some(i) != leave_out {
            x.extend(r.encoded.iter().cloned());
            y.extend(r.labels.iter().copied());
        }
    }
    (x, y)
}

/// The table, in Markdown.
pub fn render_markdown(b: &RiskBench) -> String {
    let mut s = String::from(
        "| repository | commits | reverted | ROC AUC, prior from the others [95 %] | + own calibration | shipped policy | lines changed | reverted in top 10 % |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in &b.repos {
        s.push_str(&format!(
            "| {} | {} | {} | {:.3} [{:.3}, {:.3}] | {:.3} | {:.3} | {:.3} | {:.1} % |\n",
            r.repo,
            r.commits,
            r.reverted,
            r.auc,
            r.auc_low,
            r.auc_high,
            r.calibrated_auc,
            r.policy_auc,
            r.lines_auc,
            100.0 * r.top10_recall
        ));
    }
    s.push_str(&format!(
        "| **macro** | | | **{:.3}** | {:.3} | {:.3} | {:.3} | {:.1} % (pooled) |\n",
        b.macro_auc,
        b.macro_calibrated_auc,
        b.macro_policy_auc,
        b.macro_lines_auc,
        100.0 * b.top10_recall
    ));
    let above = b.repos.iter().filter(|r| r.auc > r.lines_auc).count();
    s.push_str(&format!(
        "\nAbove its lines-changed baseline: {above} of {} repositories.\n",
        b.repos.len()
    ));
    s.push_str("\nWhat `calibrate` gives: the best of policy / prior / refit chosen on the older half of each history, judged on the newer half only (AUC on the newer half):\n\n| repository | chosen | chosen | prior alone | lines changed |\n|---|---|---|---|---|\n");
    for r in &b.repos {
        s.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} |\n",
            r.repo, r.chosen, r.chosen_newer_auc, r.prior_newer_auc, r.lines_newer_auc
        ));
    }
    let above = b
        .repos
        .iter()
        .filter(|r| r.chosen_newer_auc > r.lines_newer_auc)
        .count();
    s.push_str(&format!(
        "| **macro** | | **{:.3}** | {:.3} | {:.3} |\n\nAbove lines changed on the newer half: {above} of {}.\n",
        b.macro_chosen_newer_auc,
        b.macro_prior_newer_auc,
        b.macro_lines_newer_auc,
        b.repos.len()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::write_features;
    use crate::policy::Level;
    use crate::sim::Draws;

    /// Three repositories where `file_revert_rate` above its median raises
    /// reverts fifteenfold: each held-out one must be ranked by what the other
    /// two taught, and the prior must have learned the step.
    #[test]
    fn leave_one_out_learns_a_planted_signal() {
        let dir = tempfile::tempdir().unwrap();
        let at = ALL_FEATURES
            .iter()
            .position(|f| *f == "file_revert_rate")
            .unwrap();
        let mut rng = crate::sim::seeded(3);
        for repo in ["a+one", "b+two", "c+three"] {
            let rows: Vec<Scored> = (0..500)
                .map(|i| {
                    let values: Vec<f64> = (0..ALL_FEATURES.len()).map(|_| rng.uniform()).collect();
                    let risky = values[at] > 0.5;
                    Scored {
                        sha: format!("{repo}{i}"),
                        time: i64::from(i),
                        score: 0.1,
                        level: Level::Low,
                        lines: 10,
                        reverted: rng.uniform() < if risky { 0.30 } else { 0.02 },
                        contributions: vec![],
                        values,
                    }
                })
                .collect();
            let mut f = std::fs::File::create(dir.path().join(format!("{repo}.csv"))).unwrap();
            write_features(&rows, &mut f).unwrap();
        }
        let b = run(dir.path(), 1, |_| {}).unwrap();
        assert_eq!(b.repos.len(), 3);
        assert!(b.macro_auc > 0.65, "{}", b.macro_auc);
        assert!(b.repos.iter().all(|r| r.auc > r.lines_auc), "{:?}", b.repos);
        let steps = &b.prior.weights[at * 4..at * 4 + 4];
        assert!(steps.iter().sum::<f64>() > 1.0, "{steps:?}");

        // One file is not a leave-one-out: a clear error.
        let lone = tempfile::tempdir().unwrap();
        std::fs::copy(dir.path().join("a+one.csv"), lone.path().join("a+one.csv")).unwrap();
        let e = run(lone.path(), 1, |_| {}).unwrap_err();
        assert!(e.to_string().contains("at least two"), "{e}");
    }
}
