//! How well scores rank reverted commits: ROC AUC with a bootstrap interval,
//! reverted commits caught in the top of the ranking, calibration per level,
//! the lines-changed baseline and the factors that separate best here.

use std::collections::BTreeMap;

use rand::RngExt;
use serde::Serialize;

use super::Scored;
use crate::canary::mw::{group, mann_whitney};
use crate::policy::Level;
use crate::sim::seeded;

/// Bootstrap resamples for the AUC interval.
const RESAMPLES: usize = 400;

/// Why no figures could be computed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("no commits were scored (the range is empty or every commit is younger than --min-age-days); widen --commits or lower --min-age-days")]
    NoCommits,
    #[error("none of the {scored} scored commits was later reverted, so the ranking cannot be judged; widen --commits (reverts are rare: hundreds of commits per revert are common)")]
    NoReverts { scored: usize },
    #[error("every one of the {scored} scored commits was later reverted, so the ranking cannot be judged; widen --commits")]
    OnlyReverts { scored: usize },
}

/// The figures for one backtest.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub commits: usize,
    pub reverted: usize,
    pub auc: f64,
    /// 95 % percentile-bootstrap interval of the AUC.
    pub auc_ci: (f64, f64),
    /// The same ranking by lines changed alone.
    pub lines_auc: f64,
    /// Share of reverted commits among the top 10 % / 20 % of scores.
    pub top10_recall: f64,
    pub top20_recall: f64,
    pub levels: Vec<LevelRow>,
    /// Factors by how well their contribution alone separates (|AUC − ½|), best first.
    pub factors: Vec<FactorRow>,
}

/// Predicted against observed, per risk level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelRow {
    pub level: Level,
    pub commits: usize,
    pub mean_score: f64,
    pub reverted: usize,
    pub observed_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FactorRow {
    pub name: String,
    /// Share of commits where the factor contributed at all.
    pub present: f64,
    pub auc: f64,
}

impl Metrics {
    pub fn of(scored: &[Scored], seed: u64) -> Result<Self, MetricsError> {
        let n = scored.len();
        let reverted = scored.iter().filter(|s| s.reverted).count();
        match reverted {
            _ if n == 0 => return Err(MetricsError::NoCommits),
            0 => return Err(MetricsError::NoReverts { scored: n }),
            r if r == n => return Err(MetricsError::OnlyReverts { scored: n }),
            _ => {}
        }
        let labels: Vec<bool> = scored.iter().map(|s| s.reverted).collect();
        let scores: Vec<f64> = scored.iter().map(|s| s.score).collect();
        let lines: Vec<f64> = scored.iter().map(|s| s.lines as f64).collect();
        Ok(Metrics {
            commits: n,
            reverted,
            auc: auc(&scores, &labels),
            auc_ci: bootstrap(&scores, &labels, seed),
            lines_auc: auc(&lines, &labels),
            top10_recall: top_recall(&scores, &labels, 0.10),
            top20_recall: top_recall(&scores, &labels, 0.20),
            levels: levels(scored),
            factors: factors(scored, &labels),
        })
    }
}

/// ROC AUC: P(a reverted commit outscores another), ties counting half —
/// the judge's Mann-Whitney AUC with the reverted commits as the "canary".
/// NaN without both kinds.
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let side = |want: bool| -> Vec<f64> {
        scores
            .iter()
            .zip(labels)
            .filter(|(_, l)| **l == want)
            .map(|(s, _)| *s)
            .collect()
    };
    mann_whitney(&group(&side(true)), &group(&side(false))).map_or(f64::NAN, |m| m.auc)
}

fn bootstrap(scores: &[f64], labels: &[bool], seed: u64) -> (f64, f64) {
    let n = scores.len();
    let mut rng = seeded(seed);
    let mut aucs = Vec::with_capacity(RESAMPLES);
    let (mut s, mut l) = (vec![0.0; n], vec![false; n]);
    for _ in 0..RESAMPLES {
        for i in 0..n {
            let k = rng.random_range(0..n);
            s[i] = scores[k];
            l[i] = labels[k];
        }
        let a = auc(&s, &l);
        if a.is_finite() {
            aucs.push(a);
        }
    }
    aucs.sort_by(f64::total_cmp);
    let at = |q: f64| aucs[((aucs.len() - 1) as f64 * q).round() as usize];
    if aucs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (at(0.025), at(0.975))
}

/// Share of reverted commits found among the top `share` of scores (ties at
/// the cut broken towards the older commit, which is how the rows arrive).
fn top_recall(scores: &[f64], labels: &[bool], share: f64) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let k = ((scores.len() as f64 * share).ceil() as usize).max(1);
    let found = order[..k].iter().filter(|&&i| labels[i]).count();
    found as f64 / labels.iter().filter(|&&l| l).count().max(1) as f64
}

fn levels(scored: &[Scored]) -> Vec<LevelRow> {
    let mut by: BTreeMap<u8, (Level, usize, f64, usize)> = BTreeMap::new();
    for s in scored {
        let e = by.entry(s.level as u8).or_insert((s.level, 0, 0.0, 0));
        e.1 += 1;
        e.2 += s.score;
        e.3 += usize::from(s.reverted);
    }
    by.into_values()
        .map(|(level, commits, sum, reverted)| LevelRow {
            level,
            commits,
            mean_score: sum / commits as f64,
            reverted,
            observed_rate: reverted as f64 / commits as f64,
        })
        .collect()
}

fn factors(scored: &[Scored], labels: &[bool]) -> Vec<FactorRow> {
    let mut names: Vec<&str> = scored
        .iter()
        .flat_map(|s| s.contributions.iter().map(|(n, _)| n.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut rows: Vec<FactorRow> = names
        .into_iter()
        .map(|name| {
            let values: Vec<f64> = scored
                .iter()
                .map(|s| {
                    s.contributions
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(0.0, |(_, c)| *c)
                })
                .collect();
            let present = values.iter().filter(|v| **v != 0.0).count() as f64 / values.len() as f64;
            FactorRow {
                name: name.to_string(),
                present,
                auc: auc(&values, labels),
            }
        })
        .collect();
    rows.sort_by(|a, b| (b.auc - 0.5).abs().total_cmp(&(a.auc - 0.5).abs()));
    rows
}
