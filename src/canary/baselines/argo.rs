//! Argo-Rollouts-style analysis, after the documentation's success-rate example.
//!
//! Our reading of the AnalysisTemplate: a measurement every `interval` (5 min)
//! of `success rate = 1 − errors / requests` over that interval, with
//! `successCondition: result >= 0.95`. A measurement that cannot be taken (no
//! canary requests or no canary series: the query returns nothing) is an
//! *Error*, not a failure. The run fails when failed measurements exceed
//! `failureLimit` (3) or consecutive errors exceed `consecutiveErrorLimit` (4);
//! a successful or failed measurement ends an error streak. With `count: 8`
//! the run succeeds after 8 measurements (40 min) that did not fail it, which
//! is when the rollout promotes.

use super::{check, verdict, Interval, IntervalClock, Seen};
use crate::canary::{Judge, MetricCheck, MetricsWindow, Verdict, VerdictKind};

/// Settings for [`ArgoJudge`]; the default is the documentation example's.
#[derive(Debug, Clone, Copy)]
pub struct ArgoConfig {
    pub interval_s: f64,
    /// `successCondition: result >= min_success`.
    pub min_success: f64,
    /// The run fails when failed measurements exceed this.
    pub failure_limit: u32,
    /// The run fails when consecutive errored measurements exceed this.
    pub consecutive_error_limit: u32,
    /// Measurements in the run (`count`); success after the last one.
    pub count: u32,
}

impl Default for ArgoConfig {
    fn default() -> Self {
        Self {
            interval_s: 300.0,
            min_success: 0.95,
            failure_limit: 3,
            consecutive_error_limit: 4,
            count: 8,
        }
    }
}

/// One measurement's phase, as Argo names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measurement {
    Successful,
    Failed,
    Error,
}

/// Argo's AnalysisRun as a [`Judge`].
#[derive(Debug, Clone)]
pub struct ArgoJudge {
    config: ArgoConfig,
    clock: IntervalClock,
    interval: Interval,
    measurements: u32,
    failed: u32,
    consecutive_errors: u32,
    /// Requests seen per version, for every verdict's numbers.
    seen: Seen,
}

impl Default for ArgoJudge {
    fn default() -> Self {
        Self::new(ArgoConfig::default())
    }
}

impl ArgoJudge {
    pub fn new(config: ArgoConfig) -> Self {
        Self {
            config,
            clock: IntervalClock::new(config.interval_s),
            interval: Interval::default(),
            measurements: 0,
            failed: 0,
            consecutive_errors: 0,
            seen: Seen::default(),
        }
    }

    fn measure(&self) -> (Measurement, MetricCheck) {
        let rate = self
            .interval
            .canary
            .as_ref()
            .filter(|c| c.requests > 0)
            .map(|c| 1.0 - c.errors as f64 / c.requests as f64);
        let (phase, kind) = match rate {
            None => (Measurement::Error, VerdictKind::NoData),
            Some(r) if r >= self.config.min_success => (Measurement::Successful, VerdictKind::Pass),
            Some(_) => (Measurement::Failed, VerdictKind::Fail),
        };
        let detail = format!(
            "success rate {rate:?} (condition >= {}; no value = error)",
            self.config.min_success
        );
        (phase, check("success_rate", kind, rate, None, None, detail))
    }

    fn decide(&mut self) -> Verdict {
        let (phase, check) = self.measure();
        self.measurements += 1;
        match phase {
            Measurement::Successful => self.consecutive_errors = 0,
            Measurement::Failed => {
                self.failed += 1;
                self.consecutive_errors = 0;
            }
            Measurement::Error => self.consecutive_errors += 1,
        }
        let kind = if self.failed > self.config.failure_limit
            || self.consecutive_errors > self.config.consecutive_error_limit
        {
            VerdictKind::Fail
        } else if self.measurements >= self.config.count {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let summary = format!(
            "measurement {} of {}: {} failed (limit {}), {} consecutive errors (limit {})",
            self.measurements,
            self.config.count,
            self.failed,
            self.config.failure_limit,
            self.consecutive_errors,
            self.config.consecutive_error_limit
        );
        self.interval = Interval::default();
        verdict(
            kind,
            summary,
            vec![check],
            self.seen.canary,
            self.seen.baseline,
        )
    }
}

impl Judge for ArgoJudge {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        self.interval.absorb(window);
        self.seen.absorb(window);
        if self.clock.closes(window) {
            return self.decide();
        }
        self.seen.waiting("between measurements")
    }

    fn reset(&mut self) {
        *self = Self::new(self.config);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::feed;
    use super::*;

    const GOOD: Option<(u64, u64, f64)> = Some((1000, 10, 80.0));
    const BAD: Option<(u64, u64, f64)> = Some((1000, 100, 80.0));

    /// Feeds one 5-minute measurement and returns its verdict.
    fn measurement(
        j: &mut ArgoJudge,
        index: usize,
        canary: Option<(u64, u64, f64)>,
    ) -> VerdictKind {
        let kinds = feed(j, 10.0 + 300.0 * index as f64, 30, GOOD, canary);
        assert!(kinds[..29].iter().all(|k| *k == VerdictKind::Inconclusive));
        kinds[29]
    }

    #[test]
    fn promotes_after_eight_measurements() {
        let mut j = ArgoJudge::default();
        let kinds: Vec<_> = (0..8).map(|i| measurement(&mut j, i, GOOD)).collect();
        assert_eq!(kinds[7], VerdictKind::Pass);
        assert!(kinds[..7].iter().all(|k| *k == VerdictKind::Inconclusive));
    }

    #[test]
    fn fails_when_failures_exceed_the_limit() {
        let mut j = ArgoJudge::default();
        let kinds: Vec<_> = [BAD, GOOD, BAD, BAD, BAD]
            .iter()
            .enumerate()
            .map(|(i, c)| measurement(&mut j, i, *c))
            .collect();
        assert_eq!(
            kinds[3],
            VerdictKind::Inconclusive,
            "3 failures are allowed"
        );
        assert_eq!(kinds[4], VerdictKind::Fail);
    }

    #[test]
    fn fails_on_the_fifth_consecutive_error_only() {
        let mut j = ArgoJudge::new(ArgoConfig {
            count: 20,
            ..ArgoConfig::default()
        });
        // Four errors, a good one (ends the streak), then five errors.
        let plan = [None, None, None, None, GOOD, None, None, None, None, None];
        let kinds: Vec<_> = plan
            .iter()
            .enumerate()
            .map(|(i, c)| measurement(&mut j, i, *c))
            .collect();
        assert!(!kinds[..9].contains(&VerdictKind::Fail), "{kinds:?}");
        assert_eq!(kinds[9], VerdictKind::Fail);
        // A window with zero canary requests is an error too.
        let mut j = ArgoJudge::default();
        let kinds: Vec<_> = (0..5)
            .map(|i| measurement(&mut j, i, Some((0, 0, 0.0))))
            .collect();
        assert_eq!(kinds[4], VerdictKind::Fail);
    }
}
