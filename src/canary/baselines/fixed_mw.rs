//! A fixed-sample Mann-Whitney test re-run every interval on everything so far:
//! the common home-grown judge, and the textbook example of "peeking".
//!
//! Every minute it runs one-sided Mann-Whitney tests (canary greater) on all
//! request-level samples accumulated since the start: the error indicator
//! (each request a 0 or a 1: buckets `(0, n − e)` and `(1, e)`) and the latency
//! samples. It fails as soon as any p < 0.05 and promotes after 10 minutes
//! without a failure. A test that cannot run (a side without samples) is no
//! failure, as in the scripts this imitates, so a canary whose metrics never
//! arrive is promoted: the benchmark counts that.

use super::{check, verdict, IntervalClock};
use crate::canary::mw::{group, mann_whitney};
use crate::canary::{Judge, MetricCheck, MetricsWindow, Verdict, VerdictKind, VersionSample};

/// Settings for [`FixedMwJudge`].
#[derive(Debug, Clone, Copy)]
pub struct FixedMwConfig {
    pub interval_s: f64,
    /// Nominal per-test level (not corrected for repeated looks).
    pub alpha: f64,
    /// Time without failure after which the canary is promoted.
    pub promote_after_s: f64,
}

impl Default for FixedMwConfig {
    fn default() -> Self {
        Self {
            interval_s: 60.0,
            alpha: 0.05,
            promote_after_s: 600.0,
        }
    }
}

/// Repeated fixed-sample Mann-Whitney tests as a [`Judge`].
#[derive(Debug, Clone)]
pub struct FixedMwJudge {
    config: FixedMwConfig,
    clock: IntervalClock,
    started: Option<f64>,
    stable: VersionSample,
    canary: VersionSample,
}

impl Default for FixedMwJudge {
    fn default() -> Self {
        Self::new(FixedMwConfig::default())
    }
}

impl FixedMwJudge {
    pub fn new(config: FixedMwConfig) -> Self {
        Self {
            config,
            clock: IntervalClock::new(config.interval_s),
            started: None,
            stable: VersionSample::default(),
            canary: VersionSample::default(),
        }
    }

    fn error_check(&self) -> MetricCheck {
        let buckets = |s: &VersionSample| {
            let ok = s.requests.saturating_sub(s.errors);
            [(0.0, ok), (1.0, s.errors)]
                .into_iter()
                .filter(|b| b.1 > 0)
                .collect::<Vec<_>>()
        };
        let test = mann_whitney(&buckets(&self.canary), &buckets(&self.stable));
        self.to_check(
            "error_rate",
            test.map(|t| t.p_greater),
            self.canary.error_rate(),
            self.stable.error_rate(),
        )
    }

    fn latency_check(&self) -> MetricCheck {
        let test = mann_whitney(
            &group(&self.canary.latency_ms),
            &group(&self.stable.latency_ms),
        );
        self.to_check("latency", test.map(|t| t.p_greater), None, None)
    }

    fn to_check(
        &self,
        metric: &str,
        p: Option<f64>,
        canary: Option<f64>,
        baseline: Option<f64>,
    ) -> MetricCheck {
        let kind = match p {
            Some(p) if p < self.config.alpha => VerdictKind::Fail,
            Some(_) => VerdictKind::Pass,
            None => VerdictKind::NoData,
        };
        let detail = format!("one-sided p = {p:?} (fail below {})", self.config.alpha);
        check(metric, kind, canary, baseline, p, detail)
    }

    fn decide(&self, end: f64) -> Verdict {
        let checks = vec![self.error_check(), self.latency_check()];
        let elapsed = end - self.started.unwrap_or(end);
        let kind = if checks.iter().any(|c| c.verdict == VerdictKind::Fail) {
            VerdictKind::Fail
        } else if elapsed + 1e-6 >= self.config.promote_after_s {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let summary = format!("{:.0} s without a p below {}", elapsed, self.config.alpha);
        self.verdict(kind, summary, checks)
    }

    fn verdict(&self, kind: VerdictKind, summary: String, checks: Vec<MetricCheck>) -> Verdict {
        verdict(
            kind,
            summary,
            checks,
            self.canary.requests,
            self.stable.requests,
        )
    }
}

impl Judge for FixedMwJudge {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        self.started.get_or_insert(window.start);
        if let Some(c) = &window.canary {
            self.canary.absorb(c);
        }
        if let Some(s) = &window.stable {
            self.stable.absorb(s);
        }
        if self.clock.closes(window) {
            return self.decide(window.end);
        }
        self.verdict(VerdictKind::Inconclusive, "between tests".into(), vec![])
    }

    fn reset(&mut self) {
        *self = Self::new(self.config);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::feed;
    use super::*;

    #[test]
    fn fails_on_more_canary_errors() {
        let mut j = FixedMwJudge::default();
        let kinds = feed(
            &mut j,
            10.0,
            6,
            Some((1000, 10, 80.0)),
            Some((1000, 40, 80.0)),
        );
        assert_eq!(kinds[5], VerdictKind::Fail);
        assert!(kinds[..5].iter().all(|k| *k == VerdictKind::Inconclusive));
    }

    #[test]
    fn promotes_after_ten_quiet_minutes_even_without_canary_data() {
        let same = Some((1000, 10, 80.0));
        let mut j = FixedMwJudge::default();
        let kinds = feed(&mut j, 10.0, 60, same, same);
        assert_eq!(kinds.iter().position(|k| *k == VerdictKind::Pass), Some(59));
        let mut j = FixedMwJudge::default();
        let kinds = feed(&mut j, 10.0, 60, same, None);
        assert_eq!(
            kinds[59],
            VerdictKind::Pass,
            "the naive rule promotes blind"
        );
    }

    #[test]
    fn error_buckets_match_raw_indicators() {
        let mut j = FixedMwJudge::default();
        feed(&mut j, 10.0, 1, Some((200, 2, 80.0)), Some((100, 5, 80.0)));
        let raw = |n: usize, e: usize| {
            let mut v = vec![0.0; n - e];
            v.extend(std::iter::repeat_n(1.0, e));
            group(&v)
        };
        let want = mann_whitney(&raw(100, 5), &raw(200, 2)).map(|t| t.p_greater);
        assert_eq!(j.error_check().statistic, want);
    }
}
