//! Kayenta-style judgement (Spinnaker automated canary analysis, NetflixACAJudge).
//!
//! Every `interval` (20 min; the 60 min variant judges once) Kayenta fetches
//! each metric as a per-minute time series for both versions over that interval
//! and classifies every metric with a Mann-Whitney test. Metrics here: error
//! rate per minute and mean latency per minute, both "increase is bad". A
//! minute without requests (or without latency samples) is a NaN point, which
//! Kayenta's default NaN strategy removes; a metric with no points left on
//! either side is *Nodata* and counts as not passing.
//!
//! Our reading of `MannWhitneyClassifier(tolerance = 0.25, confLevel = 0.98)`:
//! the metric is *High* when the canary is significantly greater at 98 %
//! two-sided confidence (the shift's confidence interval lies above zero, i.e.
//! one-sided p < 0.01) **and** the effect is larger than the tolerance, taken
//! as canary median / baseline median > 1.25. High fails the metric; Low and
//! Pass both pass it (direction "increase"). Score = 100 × passing / metrics.
//! A score below the marginal threshold (75) fails at that judgement; at the
//! end of the lifetime (60 min) the canary promotes if the last score reaches
//! the pass threshold (95) and fails otherwise.

use super::{check, verdict, Interval, IntervalClock, Seen};
use crate::canary::mw::{group, mann_whitney};
use crate::canary::{Judge, MetricCheck, MetricsWindow, Verdict, VerdictKind, VersionSample};

/// Settings for [`KayentaJudge`].
#[derive(Debug, Clone, Copy)]
pub struct KayentaConfig {
    /// Length of one judgement interval.
    pub interval_s: f64,
    /// Total analysis time; the last judgement decides promotion.
    pub lifetime_s: f64,
    /// Resolution of the metric series.
    pub step_s: f64,
    pub confidence: f64,
    /// Effect-size tolerance: High needs median ratio > 1 + tolerance.
    pub tolerance: f64,
    pub marginal_score: f64,
    pub pass_score: f64,
}

impl Default for KayentaConfig {
    fn default() -> Self {
        Self {
            interval_s: 20.0 * 60.0,
            lifetime_s: 60.0 * 60.0,
            step_s: 60.0,
            confidence: 0.98,
            tolerance: 0.25,
            marginal_score: 75.0,
            pass_score: 95.0,
        }
    }
}

impl KayentaConfig {
    /// One judgement over the whole lifetime.
    pub fn single_judgement() -> Self {
        let d = Self::default();
        Self {
            interval_s: d.lifetime_s,
            ..d
        }
    }
}

/// Per-minute values of one version over the current judgement interval.
#[derive(Debug, Clone, Default)]
struct Series {
    error_rate: Vec<f64>,
    latency_mean: Vec<f64>,
}

impl Series {
    /// Adds one minute's point of each metric; no data = NaN = removed.
    fn push(&mut self, minute: Option<&VersionSample>) {
        let Some(m) = minute else { return };
        if let Some(r) = m.error_rate() {
            self.error_rate.push(r);
        }
        if !m.latency_ms.is_empty() {
            let mean = m.latency_ms.iter().sum::<f64>() / m.latency_ms.len() as f64;
            self.latency_mean.push(mean);
        }
    }
}

/// Kayenta's canary analysis as a [`Judge`].
#[derive(Debug, Clone)]
pub struct KayentaJudge {
    config: KayentaConfig,
    minute_clock: IntervalClock,
    judge_clock: IntervalClock,
    minute: Interval,
    canary: Series,
    baseline: Series,
    judgements: u32,
    /// Requests seen per version, for every verdict's numbers.
    seen: Seen,
}

impl Default for KayentaJudge {
    fn default() -> Self {
        Self::new(KayentaConfig::default())
    }
}

impl KayentaJudge {
    pub fn new(config: KayentaConfig) -> Self {
        Self {
            config,
            minute_clock: IntervalClock::new(config.step_s),
            judge_clock: IntervalClock::new(config.interval_s),
            minute: Interval::default(),
            canary: Series::default(),
            baseline: Series::default(),
            judgements: 0,
            seen: Seen::default(),
        }
    }

    fn judge(&mut self) -> Verdict {
        self.judgements += 1;
        let checks = vec![
            self.classify(
                "error_rate",
                &self.canary.error_rate,
                &self.baseline.error_rate,
            ),
            self.classify(
                "latency_mean",
                &self.canary.latency_mean,
                &self.baseline.latency_mean,
            ),
        ];
        let passing = checks
            .iter()
            .filter(|c| c.verdict == VerdictKind::Pass)
            .count();
        let score = 100.0 * passing as f64 / checks.len() as f64;
        let at_end =
            f64::from(self.judgements) * self.config.interval_s >= self.config.lifetime_s - 1e-6;
        let kind = if score < self.config.marginal_score {
            VerdictKind::Fail
        } else if at_end && score >= self.config.pass_score {
            VerdictKind::Pass
        } else if at_end {
            VerdictKind::Fail
        } else {
            VerdictKind::Inconclusive
        };
        self.canary = Series::default();
        self.baseline = Series::default();
        verdict(
            kind,
            format!("judgement {}: score {score:.0}", self.judgements),
            checks,
            self.seen.canary,
            self.seen.baseline,
        )
    }

    /// Mann-Whitney classification of one metric (see the module docs).
    fn classify(&self, metric: &str, canary: &[f64], baseline: &[f64]) -> MetricCheck {
        let (mc, mb) = (median(canary), median(baseline));
        let test = mann_whitney(&group(canary), &group(baseline));
        let (Some(test), Some(mc), Some(mb)) = (test, mc, mb) else {
            let detail = format!(
                "Nodata: {} canary and {} baseline points",
                canary.len(),
                baseline.len()
            );
            return check(metric, VerdictKind::NoData, mc, mb, None, detail);
        };
        let ratio = median_ratio(mc, mb);
        let alpha = (1.0 - self.config.confidence) / 2.0;
        let high = test.p_greater < alpha && ratio > 1.0 + self.config.tolerance;
        let detail = format!(
            "p(canary greater) = {:.4} (High below {alpha}), median ratio {ratio:.2} (High above {:.2})",
            test.p_greater,
            1.0 + self.config.tolerance
        );
        let kind = if high {
            VerdictKind::Fail
        } else {
            VerdictKind::Pass
        };
        check(
            metric,
            kind,
            Some(mc),
            Some(mb),
            Some(test.p_greater),
            detail,
        )
    }
}

/// Canary median over baseline median; a zero baseline median makes any
/// positive canary median infinitely larger and equal zeros no effect.
fn median_ratio(canary: f64, baseline: f64) -> f64 {
    if baseline > 0.0 {
        canary / baseline
    } else if canary > 0.0 {
        f64::INFINITY
    } else {
        1.0
    }
}

fn median(v: &[f64]) -> Option<f64> {
    super::quantile(v, 0.5)
}

impl Judge for KayentaJudge {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        self.minute.absorb(window);
        self.seen.absorb(window);
        if self.minute_clock.closes(window) {
            let minute = std::mem::take(&mut self.minute);
            self.canary.push(minute.canary.as_ref());
            self.baseline.push(minute.stable.as_ref());
        }
        if self.judge_clock.closes(window) {
            return self.judge();
        }
        self.seen.waiting("between judgements")
    }

    fn reset(&mut self) {
        *self = Self::new(self.config);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::window;
    use super::*;

    /// Feeds 20 minutes; `canary(minute)` gives that minute's canary counts.
    fn twenty_minutes(
        j: &mut KayentaJudge,
        from_minute: usize,
        canary: impl Fn(usize) -> Option<(u64, u64, f64)>,
    ) -> VerdictKind {
        let mut last = VerdictKind::NoData;
        for m in from_minute..from_minute + 20 {
            let stable = Some((1000, 10 + (m % 3) as u64, 80.0 + (m % 5) as f64));
            for w in 0..6 {
                let end = 60.0 * m as f64 + 10.0 * (w + 1) as f64;
                last = j.observe(&window(end, stable, canary(m))).kind;
            }
        }
        last
    }

    #[test]
    fn healthy_canary_promotes_after_the_lifetime() {
        let mut j = KayentaJudge::default();
        let same = |m: usize| Some((1000, 10 + (m % 3) as u64, 80.0 + (m % 5) as f64));
        assert_eq!(twenty_minutes(&mut j, 0, same), VerdictKind::Inconclusive);
        assert_eq!(twenty_minutes(&mut j, 20, same), VerdictKind::Inconclusive);
        assert_eq!(twenty_minutes(&mut j, 40, same), VerdictKind::Pass);
    }

    #[test]
    fn one_high_metric_scores_fifty_and_fails() {
        let mut j = KayentaJudge::default();
        // Error rate ×3 per minute: significant and ratio 3 > 1.25.
        let v = twenty_minutes(&mut j, 0, |m| {
            Some((1000, 30 + (m % 3) as u64, 80.0 + (m % 5) as f64))
        });
        assert_eq!(v, VerdictKind::Fail);
    }

    #[test]
    fn significant_but_small_effect_passes() {
        let mut j = KayentaJudge::default();
        // Latency +10 ms on ≈ 82 ms: every minute larger, ratio ≈ 1.12 < 1.25.
        let v = twenty_minutes(&mut j, 0, |m| {
            Some((1000, 10 + (m % 3) as u64, 90.0 + (m % 5) as f64))
        });
        assert_eq!(v, VerdictKind::Inconclusive);
        let test = mann_whitney(
            &group(&[90.0, 91.0, 92.0, 93.0, 94.0]),
            &group(&[80.0, 81.0, 82.0, 83.0, 84.0]),
        );
        assert!(test.is_some_and(|t| t.p_greater < 0.01));
    }

    #[test]
    fn missing_canary_metrics_do_not_pass() {
        let mut j = KayentaJudge::default();
        assert_eq!(twenty_minutes(&mut j, 0, |_| None), VerdictKind::Fail);
        let mut j = KayentaJudge::new(KayentaConfig::single_judgement());
        for start in [0, 20] {
            let v = twenty_minutes(&mut j, start, |_| None);
            assert_eq!(v, VerdictKind::Inconclusive);
        }
        assert_eq!(twenty_minutes(&mut j, 40, |_| None), VerdictKind::Fail);
    }

    #[test]
    fn median_ratio_handles_zero_baselines() {
        assert_eq!(median_ratio(0.0, 0.0), 1.0);
        assert_eq!(median_ratio(0.1, 0.0), f64::INFINITY);
        assert_eq!(median_ratio(2.0, 1.0), 2.0);
    }
}
