//! The sequential judge: always-valid tests on errors, the latency distribution
//! and the latency tail, checked after every window, with the false-rollback
//! rate controlled across all three (Bonferroni split of α).
//!
//! - **Errors**: [`RatioTest`] on the canary's share of errors given its share
//!   of requests. Fails when the canary is worse than `1 + error_margin` times
//!   the baseline with e-value ≥ 1/α_errors; passes when the evidence against
//!   "at least `error_bad_ratio` times worse *and* at least `error_rate_floor`"
//!   reaches 1/β (a mixture of the ratio test's pass side and a [`FloorTest`]:
//!   valid for any baseline rate, including none). Pass evidence is kept
//!   across traffic steps; each step still needs `min_canary_requests` fresh
//!   canary requests.
//! - **Latency distribution**: Mann-Whitney on all latencies so far (bucketed,
//!   tie-corrected), its effect AUC − ½ tested with a normal-mixture mSPRT;
//!   fails beyond `latency_auc_margin`, passes when the always-valid upper
//!   bound is below `latency_auc_pass`.
//! - **Latency tail**: [`RatioTest`] on the share of requests slower than the
//!   baseline's running p99 (the threshold comes from earlier windows only).
//!   Its pass side tests against 1.5 × the bad ratio, so a healthy tail passes
//!   in hundreds of samples while a tail at the bad ratio still never passes.
//!
//! Improvements never fail (all tests are one-sided). Missing metrics give
//! NoData and never a Pass; evidence already gathered still counts.

use super::evalue::{rate_noise_variance, Outliers};
use super::floor::FloorTest;
use super::histogram::LatencyHistogram;
use super::ratio::RatioTest;
use super::{Judge, MetricCheck, MetricsWindow, Verdict, VerdictKind, VersionSample};

/// Settings, from policy (`[canary]`).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SequentialConfig {
    /// False-rollback budget for a healthy canary, across all metrics.
    pub alpha: f64,
    /// Chance of passing a canary that is bad.
    pub beta: f64,
    /// Relative error-rate excess that is tolerated (0.1 = up to 10 % worse).
    pub error_margin: f64,
    /// Error-rate ratio that must be caught (2 = doubling).
    pub error_bad_ratio: f64,
    /// AUC − ½ of latency (P(canary slower)) tolerated before failing.
    pub latency_auc_margin: f64,
    /// The latency upper bound (AUC − ½) must be below this to pass.
    pub latency_auc_pass: f64,
    /// Mixture scale of the latency mSPRT (the AUC shift it is tuned for).
    pub latency_tau: f64,
    /// Quantile of the baseline that defines "slow" for the tail test.
    pub tail_quantile: f64,
    /// Ratio of slow-request shares that must be caught.
    pub tail_bad_ratio: f64,
    /// Error rates below this are never harm: a canary shown to fail less
    /// often passes the error check whatever the baseline (0 disables it).
    pub error_rate_floor: f64,
    /// Canary requests needed (this step) before a Pass.
    pub min_canary_requests: u64,
    /// Baseline latency samples needed before the tail threshold is trusted.
    pub min_baseline_samples: u64,
    /// Treat a canary without latency samples as missing data (never Pass).
    pub require_latency: bool,
    /// Minutes of the baseline's history, before the canary starts, from which
    /// the judge learns how noisy the service's error rate is (0: none).
    pub history_minutes: u32,
}

impl Default for SequentialConfig {
    fn default() -> Self {
        Self {
            alpha: 0.002,
            beta: 0.002,
            error_margin: 0.0,
            error_bad_ratio: 2.0,
            latency_auc_margin: 0.03,
            latency_auc_pass: 0.08,
            latency_tau: 0.1,
            tail_quantile: 0.99,
            tail_bad_ratio: 2.0,
            error_rate_floor: 0.0005,
            min_canary_requests: 100,
            min_baseline_samples: 200,
            require_latency: true,
            history_minutes: 60,
        }
    }
}

/// Shares of α: errors, latency distribution, latency tail. Latency effects are
/// seen in thousands of samples per minute, so errors get most of the budget.
const ALPHA_SPLIT: [f64; 3] = [0.95, 0.025, 0.025];

/// Length of the blocks over which overdispersion is estimated.
const BLOCK_SECONDS: f64 = 60.0;

/// Weights of the error check's pass evidence: the ratio test's and the floor's.
const PASS_WEIGHTS: [f64; 2] = [0.9, 0.1];

/// Anytime-valid canary judge.
#[derive(Debug, Clone)]
pub struct SequentialJudge {
    config: SequentialConfig,
    errors: RatioTest,
    floor: FloorTest,
    tail: RatioTest,
    canary_latency: LatencyHistogram,
    baseline_latency: LatencyHistogram,
    /// The latest window's canary or baseline metrics were missing.
    missing_now: bool,
    missing_windows: u64,
    windows: u64,
    /// Start of the open one-minute block (for the overdispersion estimate).
    block_start: Option<f64>,
    /// Per-block rate noise learned by `calibrate` (kept across `reset`).
    noise_var: f64,
    /// The baseline's history as (requests, errors) per block (kept across `reset`).
    history: Vec<(u64, u64)>,
    /// The baseline is the previous version at another time (kept across `reset`).
    before_after: bool,
}

impl Default for SequentialJudge {
    fn default() -> Self {
        Self::new(SequentialConfig::default())
    }
}

impl SequentialJudge {
    pub fn new(config: SequentialConfig) -> Self {
        Self {
            config,
            errors: RatioTest::new(1.0 + config.error_margin, config.error_bad_ratio),
            floor: FloorTest::new(config.error_rate_floor),
            tail: RatioTest::new(1.0, config.tail_bad_ratio)
                .with_pass_null(config.tail_bad_ratio * 1.5),
            canary_latency: LatencyHistogram::default(),
            baseline_latency: LatencyHistogram::default(),
            missing_now: false,
            missing_windows: 0,
            windows: 0,
            block_start: None,
            noise_var: 0.0,
            history: Vec::new(),
            before_after: false,
        }
    }

    fn set_noise(&mut self, noise_var: f64) {
        self.noise_var = noise_var;
        self.errors.set_noise(noise_var, BLOCK_SECONDS);
    }

    fn add(&mut self, canary: &VersionSample, baseline: &VersionSample) {
        self.errors.add(
            canary.requests,
            canary.errors,
            baseline.requests,
            baseline.errors,
        );
        self.floor
            .add(canary.requests, canary.errors, self.errors.dispersion());
        // The tail threshold comes from earlier windows only, so it is fixed
        // before this window's data is seen (predictable: the test stays valid).
        if self.baseline_latency.total() >= self.config.min_baseline_samples {
            let quantile = self.config.tail_quantile;
            if let Some(bucket) = self.baseline_latency.tail_start(quantile) {
                let slow = LatencyHistogram::count_from_bucket;
                self.tail.add(
                    canary.latency_ms.len() as u64,
                    slow(&canary.latency_ms, bucket),
                    baseline.latency_ms.len() as u64,
                    slow(&baseline.latency_ms, bucket),
                );
            }
        }
        self.canary_latency.extend(&canary.latency_ms);
        self.baseline_latency.extend(&baseline.latency_ms);
    }

    fn verdict(&self) -> Verdict {
        let checks = vec![self.error_check(), self.latency_check(), self.tail_check()];
        let failed: Vec<&MetricCheck> = checks
            .iter()
            .filter(|c| c.verdict == VerdictKind::Fail)
            .collect();
        let (kind, summary) = if !failed.is_empty() {
            let names: Vec<&str> = failed.iter().map(|c| c.metric.as_str()).collect();
            (
                VerdictKind::Fail,
                format!("{} worse than baseline", names.join(", ")),
            )
        } else if self.missing_now || self.errors.canary_n == 0 {
            (VerdictKind::NoData, self.missing_summary())
        } else if self.config.require_latency && self.canary_latency.total() == 0 {
            (
                VerdictKind::NoData,
                "canary latency metrics are missing".into(),
            )
        } else if self.errors.step_canary_n < self.config.min_canary_requests {
            (
                VerdictKind::Inconclusive,
                format!(
                    "{} canary requests this step, {} needed",
                    self.errors.step_canary_n, self.config.min_canary_requests
                ),
            )
        } else if checks.iter().all(|c| {
            c.verdict == VerdictKind::Pass
                || (!self.config.require_latency && c.metric != "error_rate")
        }) {
            (VerdictKind::Pass, "errors and latency within bounds".into())
        } else {
            let open: Vec<&str> = checks
                .iter()
                .filter(|c| c.verdict != VerdictKind::Pass)
                .map(|c| c.metric.as_str())
                .collect();
            (
                VerdictKind::Inconclusive,
                format!("not enough evidence yet: {}", open.join(", ")),
            )
        };
        let harm = (self.errors.canary_n > 0).then(|| self.harm());
        Verdict {
            kind,
            checks,
            canary_requests: self.errors.canary_n,
            baseline_requests: self.errors.baseline_n,
            summary,
            harm,
        }
    }

    fn outliers(&self) -> Outliers {
        if self.before_after {
            Outliers::Mean
        } else {
            Outliers::Robust
        }
    }

    fn missing_summary(&self) -> String {
        format!(
            "metrics missing ({} of {} windows); missing data never passes",
            self.missing_windows, self.windows
        )
    }
}

/// The baseline's `(requests, errors)` per `BLOCK_SECONDS` block of its
/// history; windows without baseline metrics are skipped.
fn baseline_blocks(history: &[MetricsWindow]) -> Vec<(u64, u64)> {
    let mut blocks = Vec::new();
    let (mut start, mut n, mut k) = (None, 0, 0);
    for w in history {
        let Some(s) = &w.stable else { continue };
        let from = *start.get_or_insert(w.start);
        n += s.requests;
        k += s.errors;
        if w.end - from >= BLOCK_SECONDS {
            blocks.push((n, k));
            (start, n, k) = (None, 0, 0);
        }
    }
    blocks
}

impl Judge for SequentialJudge {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        self.windows += 1;
        let start = *self.block_start.get_or_insert(window.start);
        match (&window.canary, &window.stable) {
            (Some(c), Some(s)) => {
                self.missing_now = false;
                self.errors.elapse(window.end - window.start);
                self.add(c, s);
            }
            _ => {
                self.missing_now = true;
                self.missing_windows += 1;
            }
        }
        // The window belongs to the block it ends in; blocks close after it.
        if window.end - start >= BLOCK_SECONDS {
            self.errors.close_block();
            self.tail.close_block();
            self.block_start = Some(window.end);
        }
        self.verdict()
    }

    fn history_seconds(&self) -> f64 {
        f64::from(self.config.history_minutes) * 60.0
    }

    fn calibrate(&mut self, baseline_history: &[MetricsWindow]) -> String {
        let blocks = baseline_blocks(baseline_history);
        self.set_noise(rate_noise_variance(&blocks, self.outliers()));
        self.history = blocks.clone();
        if self.noise_var > 0.0 {
            format!(
                "baseline error rate is noisy over {} one-minute blocks (log-rate variance {:.3}): error evidence is tempered until the canary's own blocks say otherwise",
                blocks.len(),
                self.noise_var
            )
        } else {
            format!(
                "baseline error rate shows no excess noise over {} one-minute blocks: full-strength error test",
                blocks.len()
            )
        }
    }

    fn compare_before_after(&mut self) -> String {
        self.before_after = true;
        self.set_noise(rate_noise_variance(&self.history, Outliers::Mean));
        format!(
            "baseline: the previous version at another time, so noise no longer cancels: error evidence tempered for every minute of the history's noise, blips included (log-rate variance {:.3} over {} one-minute blocks)",
            self.noise_var,
            self.history.len()
        )
    }

    fn new_step(&mut self) {
        self.errors.restart_step();
        self.tail.restart_step();
    }

    /// Forgets the canary's evidence but keeps what was learned about the service.
    fn reset(&mut self) {
        let (noise, history, before_after) = (
            self.noise_var,
            std::mem::take(&mut self.history),
            self.before_after,
        );
        *self = Self::new(self.config);
        self.set_noise(noise);
        self.history = history;
        self.before_after = before_after;
    }
}

mod checks;
#[cfg(test)]
mod tests;
