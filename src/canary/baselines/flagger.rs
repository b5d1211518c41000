//! Flagger-style analysis with the settings of Flagger's tutorials.
//!
//! Our reading of Flagger's canary loop: every `interval` (1 min) it queries the
//! built-in `request-success-rate` (threshold min 99 %) and `request-duration`
//! (p99, threshold max 500 ms) over that interval for the canary only. If every
//! check passes the canary weight grows by `stepWeight`; if any check fails the
//! weight stays and a cumulative failed-checks counter grows. A query that
//! returns no value (NaN: no canary requests, or no canary series) is an error,
//! which Flagger counts as a failed check. Rollback when failed checks reach
//! `threshold` (5). Promotion once the weight reaches `maxWeight`: with
//! stepWeight 5 and maxWeight 50 that is 10 successful intervals, ≈ 10 min.
//! (Flagger promotes on the iteration after reaching maxWeight; we promote at
//! the 10th success, which favours Flagger by one interval.) The simulated
//! traffic keeps the canary share fixed, so the weight only counts progress.

use super::{check, quantile, verdict, Interval, IntervalClock, Seen};
use crate::canary::{Judge, MetricCheck, MetricsWindow, Verdict, VerdictKind};

/// Settings for [`FlaggerJudge`]; the default is the tutorial's.
#[derive(Debug, Clone, Copy)]
pub struct FlaggerConfig {
    pub interval_s: f64,
    /// Minimum request success rate, in percent.
    pub min_success_pct: f64,
    /// Maximum p99 request duration, in milliseconds.
    pub max_p99_ms: f64,
    /// Failed checks that trigger a rollback.
    pub threshold: u32,
    /// Successful intervals to promotion (maxWeight / stepWeight).
    pub promote_after: u32,
}

impl Default for FlaggerConfig {
    fn default() -> Self {
        Self {
            interval_s: 60.0,
            min_success_pct: 99.0,
            max_p99_ms: 500.0,
            threshold: 5,
            promote_after: 50 / 5,
        }
    }
}

/// Flagger's analysis loop as a [`Judge`].
#[derive(Debug, Clone)]
pub struct FlaggerJudge {
    config: FlaggerConfig,
    clock: IntervalClock,
    interval: Interval,
    failed_checks: u32,
    successes: u32,
    /// Requests seen per version, for every verdict's numbers.
    seen: Seen,
}

impl Default for FlaggerJudge {
    fn default() -> Self {
        Self::new(FlaggerConfig::default())
    }
}

impl FlaggerJudge {
    pub fn new(config: FlaggerConfig) -> Self {
        Self {
            config,
            clock: IntervalClock::new(config.interval_s),
            interval: Interval::default(),
            failed_checks: 0,
            successes: 0,
            seen: Seen::default(),
        }
    }

    /// The two built-in checks on the interval just closed.
    fn checks(&self) -> Vec<MetricCheck> {
        let canary = self.interval.canary.as_ref().filter(|c| c.requests > 0);
        let success = canary.map(|c| 100.0 * (1.0 - c.errors as f64 / c.requests as f64));
        let p99 = canary.and_then(|c| quantile(&c.latency_ms, 0.99));
        let judge = |value: Option<f64>, ok: &dyn Fn(f64) -> bool| match value {
            Some(v) if ok(v) => VerdictKind::Pass,
            _ => VerdictKind::Fail,
        };
        let (min, max) = (self.config.min_success_pct, self.config.max_p99_ms);
        vec![
            check(
                "request_success_rate",
                judge(success, &|v| v >= min),
                success,
                None,
                None,
                format!("{success:?} % (min {min} %; no value = failed check)"),
            ),
            check(
                "latency_p99",
                judge(p99, &|v| v <= max),
                p99,
                None,
                None,
                format!("{p99:?} ms (max {max} ms; no value = failed check)"),
            ),
        ]
    }

    fn decide(&mut self) -> Verdict {
        let checks = self.checks();
        if checks.iter().all(|c| c.verdict == VerdictKind::Pass) {
            self.successes += 1;
        } else {
            self.failed_checks += 1;
        }
        let kind = if self.failed_checks >= self.config.threshold {
            VerdictKind::Fail
        } else if self.successes >= self.config.promote_after {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let summary = format!(
            "{} successful intervals of {}, {} failed checks of {}",
            self.successes, self.config.promote_after, self.failed_checks, self.config.threshold
        );
        self.interval = Interval::default();
        verdict(kind, summary, checks, self.seen.canary, self.seen.baseline)
    }
}

impl Judge for FlaggerJudge {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        self.interval.absorb(window);
        self.seen.absorb(window);
        if self.clock.closes(window) {
            return self.decide();
        }
        self.seen.waiting("between intervals")
    }

    fn reset(&mut self) {
        *self = Self::new(self.config);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::feed;
    use super::*;

    const HEALTHY: Option<(u64, u64, f64)> = Some((1000, 0, 80.0));

    #[test]
    fn promotes_after_ten_good_intervals() {
        let mut j = FlaggerJudge::default();
        let kinds = feed(&mut j, 10.0, 60, HEALTHY, HEALTHY);
        assert_eq!(kinds.iter().position(|k| *k == VerdictKind::Pass), Some(59));
        assert!(!kinds.contains(&VerdictKind::Fail));
    }

    #[test]
    fn fails_after_five_failed_intervals() {
        let mut j = FlaggerJudge::default();
        // 2 % errors: success rate 98 % < 99 %.
        let kinds = feed(&mut j, 10.0, 30, HEALTHY, Some((1000, 20, 80.0)));
        assert_eq!(kinds.iter().position(|k| *k == VerdictKind::Fail), Some(29));
    }

    #[test]
    fn slow_p99_fails_the_check() {
        let mut j = FlaggerJudge::default();
        let kinds = feed(&mut j, 10.0, 30, HEALTHY, Some((1000, 0, 600.0)));
        assert_eq!(kinds[29], VerdictKind::Fail);
    }

    #[test]
    fn nan_counts_as_failed_and_failures_are_cumulative() {
        let mut j = FlaggerJudge::default();
        // 3 intervals without canary metrics, then 2 with zero canary requests,
        // interleaved with good ones: the counter never resets.
        let mut t = 10.0;
        for canary in [None, None, HEALTHY, None, Some((0, 0, 0.0)), HEALTHY] {
            let kinds = feed(&mut j, t, 6, HEALTHY, canary);
            t += 60.0;
            assert!(!kinds[..5].contains(&VerdictKind::Fail));
            if canary == HEALTHY {
                assert_eq!(kinds[5], VerdictKind::Inconclusive);
            }
        }
        let kinds = feed(&mut j, t, 6, HEALTHY, None);
        assert_eq!(kinds[5], VerdictKind::Fail);
    }
}
