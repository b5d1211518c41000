//! The sequential judge: always-valid tests on errors, the latency distribution
//! and the latency tail, checked after every window, with the false-rollback
//! rate controlled across all three (Bonferroni split of α).
//!
//! - **Errors**: [`RatioTest`] on the canary's share of errors given its share
//!   of requests. Fails when the canary is worse than `1 + error_margin` times
//!   the baseline with e-value ≥ 1/α_errors; passes (this step) when the
//!   evidence against "at least `error_bad_ratio` times worse" reaches 1/β.
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

use super::evalue::{msprt, msprt_radius, rate_noise_variance, RatioTest};
use super::histogram::LatencyHistogram;
use super::mw::mann_whitney;
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
            alpha: 0.01,
            beta: 0.01,
            error_margin: 0.0,
            error_bad_ratio: 2.0,
            latency_auc_margin: 0.03,
            latency_auc_pass: 0.08,
            latency_tau: 0.1,
            tail_quantile: 0.99,
            tail_bad_ratio: 2.0,
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

/// Anytime-valid canary judge.
#[derive(Debug, Clone)]
pub struct SequentialJudge {
    config: SequentialConfig,
    errors: RatioTest,
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
            tail: RatioTest::new(1.0, config.tail_bad_ratio)
                .with_pass_null(config.tail_bad_ratio * 1.5),
            canary_latency: LatencyHistogram::default(),
            baseline_latency: LatencyHistogram::default(),
            missing_now: false,
            missing_windows: 0,
            windows: 0,
            block_start: None,
            noise_var: 0.0,
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

    fn error_check(&self) -> MetricCheck {
        let c = &self.config;
        let t = &self.errors;
        let alpha = c.alpha * ALPHA_SPLIT[0];
        let e_fail = t.fail_evalue();
        let zero_error_pass =
            t.step_canary_events == 0 && t.step_canary_n as f64 >= (1.0 / c.beta).ln() / 0.01;
        let verdict = if e_fail >= 1.0 / alpha {
            VerdictKind::Fail
        } else if t.pass_evalue() >= 1.0 / c.beta || zero_error_pass {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let rate = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
        MetricCheck {
            metric: "error_rate".into(),
            verdict,
            canary: rate(t.canary_events, t.canary_n),
            baseline: rate(t.baseline_events, t.baseline_n),
            statistic: Some(e_fail),
            detail: format!(
                "canary {} of {} vs baseline {} of {} (ratio {}), e-value {:.3} (fail at {:.0}), pass evidence {:.2} (at {:.0}), noise φ {:.2}",
                t.canary_events,
                t.canary_n,
                t.baseline_events,
                t.baseline_n,
                t.ratio_estimate().map_or("n/a".into(), |r| format!("{r:.2}")),
                e_fail,
                1.0 / alpha,
                t.pass_evalue(),
                1.0 / c.beta,
                t.dispersion()
            ),
        }
    }

    fn latency_check(&self) -> MetricCheck {
        let c = &self.config;
        let alpha = c.alpha * ALPHA_SPLIT[1];
        let Some(mw) = mann_whitney(&self.canary_latency.pairs(), &self.baseline_latency.pairs())
        else {
            return no_data("latency_distribution", "no latency samples for one version");
        };
        let effect = mw.auc - 0.5;
        // Only the excess over the margin is evidence of harm (one-sided).
        let e = msprt(
            (effect - c.latency_auc_margin).max(0.0),
            mw.auc_se,
            c.latency_tau,
        );
        let upper = effect + msprt_radius(mw.auc_se, c.latency_tau, c.beta);
        let verdict = if effect > c.latency_auc_margin && e >= 1.0 / alpha {
            VerdictKind::Fail
        } else if upper <= c.latency_auc_pass {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let median = |h: &LatencyHistogram| h.quantile(0.5);
        MetricCheck {
            metric: "latency_distribution".into(),
            verdict,
            canary: median(&self.canary_latency),
            baseline: median(&self.baseline_latency),
            statistic: Some(e),
            detail: format!(
                "P(canary slower) {:.3} (upper bound {:.3}), Mann-Whitney z {:.2} on {} vs {} samples, mSPRT e-value {:.3} (fail at {:.0})",
                mw.auc,
                0.5 + upper,
                mw.z,
                mw.n_canary,
                mw.n_baseline,
                e,
                1.0 / alpha
            ),
        }
    }

    fn tail_check(&self) -> MetricCheck {
        let c = &self.config;
        let t = &self.tail;
        let alpha = c.alpha * ALPHA_SPLIT[2];
        let e_fail = t.fail_evalue();
        // Passing asks for evidence against "1.5 × the bad ratio": proving a 1 %
        // event is not merely doubled would take thousands of samples, yet a
        // canary at the bad ratio still drifts away from a Pass and toward a Fail.
        let verdict = if e_fail >= 1.0 / alpha {
            VerdictKind::Fail
        } else if t.pass_evalue() >= 1.0 / c.beta {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        MetricCheck {
            metric: "latency_tail".into(),
            verdict,
            canary: (t.canary_n > 0).then(|| t.canary_events as f64 / t.canary_n as f64),
            baseline: (t.baseline_n > 0).then(|| t.baseline_events as f64 / t.baseline_n as f64),
            statistic: Some(e_fail),
            detail: format!(
                "slower than the baseline's p{:.0}: canary {} of {} vs baseline {} of {}, e-value {:.3} (fail at {:.0})",
                c.tail_quantile * 100.0,
                t.canary_events,
                t.canary_n,
                t.baseline_events,
                t.baseline_n,
                e_fail,
                1.0 / alpha
            ),
        }
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
        Verdict {
            kind,
            checks,
            canary_requests: self.errors.canary_n,
            baseline_requests: self.errors.baseline_n,
            summary,
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

fn no_data(metric: &str, detail: &str) -> MetricCheck {
    MetricCheck {
        metric: metric.into(),
        verdict: VerdictKind::NoData,
        canary: None,
        baseline: None,
        statistic: None,
        detail: detail.into(),
    }
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
        self.set_noise(rate_noise_variance(&blocks));
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

    fn new_step(&mut self) {
        self.errors.restart_step();
        self.tail.restart_step();
    }

    /// Forgets the canary's evidence but keeps what was learned about the service.
    fn reset(&mut self) {
        let noise = self.noise_var;
        *self = Self::new(self.config);
        self.set_noise(noise);
    }
}

#[cfg(test)]
mod tests;
