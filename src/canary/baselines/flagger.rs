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
//!
//! # Loop mode ([`FlaggerJudge::for_loop`])
//!
//! For the whole-rollout benchmark the loop itself steps the traffic through
//! [`FlaggerConfig::schedule`] and the judge answers per interval, as Flagger's
//! scheduler (`pkg/controller/scheduler.go`, `advanceCanary`) does on each tick:
//!
//! - at each interval boundary it runs the built-in checks, each over its own
//!   query range (`metrics[].interval`: the tutorial queries the success rate
//!   over 1 m and the p99 over 30 s) ending at that boundary;
//! - all checks pass → `Pass` ("advance canary weight"; at `maxWeight` Flagger
//!   promotes on that same passing tick, as the loop does on a Pass at
//!   `promote_at`);
//! - a check fails or has no value → the failed-checks counter grows and the
//!   weight halts: `Inconclusive`, or `Fail` once the counter reaches
//!   `threshold` (Flagger rolls back on the tick after that; the docs' formula
//!   "interval * threshold" is the time we use);
//! - between boundaries: `Inconclusive`.
//!
//! `new_step` keeps the failed-checks counter (Flagger resets
//! `status.failedChecks` only when a new canary run starts, i.e. on
//! [`reset`](crate::canary::Judge::reset)) and restarts the interval clock at
//! the weight change, since Flagger changes the weight on a tick.

use std::collections::VecDeque;

use super::{check, quantile, verdict, Interval, IntervalClock, Seen, EPS};
use crate::canary::{Judge, MetricCheck, MetricsWindow, Verdict, VerdictKind, VersionSample};
use crate::policy::Strategy;

/// Settings for [`FlaggerJudge`]; the default is the one `bench canary` uses
/// (interval 1 m, threshold 5, stepWeight 5, maxWeight 50). See
/// [`documented`](Self::documented) and [`alternative`](Self::alternative) for
/// Flagger's own examples.
#[derive(Debug, Clone, Copy)]
pub struct FlaggerConfig {
    pub interval_s: f64,
    /// Minimum request success rate, in percent.
    pub min_success_pct: f64,
    /// Maximum p99 request duration, in milliseconds.
    pub max_p99_ms: f64,
    /// Failed checks that trigger a rollback.
    pub threshold: u32,
    /// Successful intervals to promotion (maxWeight / stepWeight); `bench canary` only.
    pub promote_after: u32,
    /// `stepWeight`: percent of traffic added at each step (and the first weight).
    pub step_weight: u8,
    /// `maxWeight`: the weight at which a passing interval promotes.
    pub max_weight: u8,
    /// Query range of `request-success-rate` (its `interval`), seconds; loop mode only.
    pub success_range_s: f64,
    /// Query range of `request-duration` (its `interval`), seconds; loop mode only.
    pub duration_range_s: f64,
}

impl Default for FlaggerConfig {
    fn default() -> Self {
        Self {
            interval_s: 60.0,
            min_success_pct: 99.0,
            max_p99_ms: 500.0,
            threshold: 5,
            promote_after: 50 / 5,
            step_weight: 5,
            max_weight: 50,
            success_range_s: 60.0,
            duration_range_s: 60.0,
        }
    }
}

impl FlaggerConfig {
    /// Flagger's canary tutorial (Istio), the first example of its docs:
    /// <https://docs.flagger.app/tutorials/istio-progressive-delivery>
    /// (`fluxcd/flagger` `docs/gitbook/tutorials/istio-progressive-delivery.md`):
    ///
    /// ```yaml
    /// analysis:
    ///   interval: 1m      # schedule interval (default 60s)
    ///   threshold: 5      # max number of failed metric checks before rollback
    ///   maxWeight: 50
    ///   stepWeight: 10
    ///   metrics:
    ///   - name: request-success-rate
    ///     thresholdRange: {min: 99}
    ///     interval: 1m
    ///   - name: request-duration
    ///     thresholdRange: {max: 500}
    ///     interval: 30s
    /// ```
    ///
    /// "The canary analysis will run for five minutes while validating the
    /// HTTP metrics and rollout hooks every minute": weights 10…50, 5 intervals.
    /// The Linkerd, Contour, Gateway API and Kuma tutorials use other numbers
    /// (interval 30 s / 1 m, threshold 5, stepWeight 5 or 10).
    pub fn documented() -> Self {
        Self {
            interval_s: 60.0,
            min_success_pct: 99.0,
            max_p99_ms: 500.0,
            threshold: 5,
            promote_after: 50 / 10,
            step_weight: 10,
            max_weight: 50,
            success_range_s: 60.0,
            duration_range_s: 30.0,
        }
    }

    /// The example of Flagger's "How it works" page and of its repository
    /// README, where the docs disagree with the tutorial:
    /// <https://docs.flagger.app/usage/how-it-works>
    /// (`docs/gitbook/usage/how-it-works.md`): `interval: 1m`, `threshold: 10`,
    /// `maxWeight: 50`, `stepWeight: 5`, success rate min 99 over 1 m, duration
    /// max 500 ms over 1 m (the README has the same numbers with a 30 s duration
    /// range). 10 intervals to promotion, 10 failed checks to rollback. (The
    /// "Deployment Strategies" page uses `stepWeight: 2`, `threshold: 10`: "will
    /// run for 25 minutes".)
    pub fn alternative() -> Self {
        Self {
            interval_s: 60.0,
            min_success_pct: 99.0,
            max_p99_ms: 500.0,
            threshold: 10,
            promote_after: 50 / 5,
            step_weight: 5,
            max_weight: 50,
            success_range_s: 60.0,
            duration_range_s: 60.0,
        }
    }

    /// Flagger's traffic schedule: `stepWeight` first, `+stepWeight` per passing
    /// interval, a bake of one `interval` per step, promotion on a pass at `maxWeight`.
    pub fn schedule(&self) -> Strategy {
        Strategy::Canary {
            first_weight: self.step_weight,
            step: self.step_weight,
            bake_seconds: self.interval_s.round() as u32,
            promote_at: self.max_weight,
        }
    }
}

/// Flagger's analysis loop as a [`Judge`].
#[derive(Debug, Clone)]
pub struct FlaggerJudge {
    config: FlaggerConfig,
    /// Loop mode: `Pass` = this interval passed (see the module docs).
    loop_mode: bool,
    clock: IntervalClock,
    interval: Interval,
    /// Loop mode: the windows a range query may still reach.
    recent: VecDeque<MetricsWindow>,
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
    /// The `bench canary` judge: `Pass` = promote now.
    pub fn new(config: FlaggerConfig) -> Self {
        Self {
            config,
            loop_mode: false,
            clock: IntervalClock::new(config.interval_s),
            interval: Interval::default(),
            recent: VecDeque::new(),
            failed_checks: 0,
            successes: 0,
            seen: Seen::default(),
        }
    }

    /// The whole-loop judge: `Pass` = this interval's checks passed, go to the
    /// next step; `Fail` = failed checks reached `threshold`; see the module docs.
    pub fn for_loop(config: FlaggerConfig) -> Self {
        Self {
            loop_mode: true,
            ..Self::new(config)
        }
    }

    /// The traffic schedule of this judge's config ([`FlaggerConfig::schedule`]).
    pub fn schedule(&self) -> Strategy {
        self.config.schedule()
    }

    /// The two built-in checks on the interval just closed.
    fn checks(&self) -> Vec<MetricCheck> {
        let canary = self.interval.canary.as_ref();
        self.checks_on(canary, canary)
    }

    /// The two built-in checks on the canary's samples for each query range
    /// (`None` or no requests: the query has no value, a failed check).
    fn checks_on(
        &self,
        for_success: Option<&VersionSample>,
        for_duration: Option<&VersionSample>,
    ) -> Vec<MetricCheck> {
        let success = for_success
            .filter(|c| c.requests > 0)
            .map(|c| 100.0 * (1.0 - c.errors as f64 / c.requests as f64));
        let p99 = for_duration
            .filter(|c| c.requests > 0)
            .and_then(|c| quantile(&c.latency_ms, 0.99));
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

    /// The canary's samples over the query range `(end − range, end]`: every
    /// window that overlaps it, as a Prometheus range query ending at `end` would.
    fn canary_over(&self, end: f64, range: f64) -> Option<VersionSample> {
        let mut out: Option<VersionSample> = None;
        for w in self.recent.iter().filter(|w| w.end > end - range + EPS) {
            if let Some(c) = &w.canary {
                out.get_or_insert_with(VersionSample::default).absorb(c);
            }
        }
        out
    }

    /// Loop mode: one tick of Flagger's scheduler at the interval boundary `end`.
    fn decide_loop(&mut self, end: f64) -> Verdict {
        let success = self.canary_over(end, self.config.success_range_s);
        let duration = self.canary_over(end, self.config.duration_range_s);
        let checks = self.checks_on(success.as_ref(), duration.as_ref());
        let passed = checks.iter().all(|c| c.verdict == VerdictKind::Pass);
        let kind = if passed {
            self.successes += 1;
            VerdictKind::Pass
        } else {
            self.failed_checks += 1;
            if self.failed_checks >= self.config.threshold {
                VerdictKind::Fail
            } else {
                VerdictKind::Inconclusive
            }
        };
        let summary = format!(
            "{}: {} failed checks of {}",
            if passed {
                "checks passed, advance"
            } else {
                "check failed, halt advancement"
            },
            self.failed_checks,
            self.config.threshold
        );
        verdict(kind, summary, checks, self.seen.canary, self.seen.baseline)
    }

    /// Loop mode: keeps the windows the longest query range can still reach.
    fn remember(&mut self, window: &MetricsWindow) {
        self.recent.push_back(window.clone());
        let reach = self
            .config
            .success_range_s
            .max(self.config.duration_range_s);
        while self
            .recent
            .front()
            .is_some_and(|w| w.end <= window.end - reach + EPS)
        {
            self.recent.pop_front();
        }
    }
}

impl Judge for FlaggerJudge {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        self.seen.absorb(window);
        if self.loop_mode {
            self.remember(window);
            if self.clock.closes(window) {
                return self.decide_loop(window.end);
            }
            return self.seen.waiting("between intervals");
        }
        self.interval.absorb(window);
        if self.clock.closes(window) {
            return self.decide();
        }
        self.seen.waiting("between intervals")
    }

    /// Loop mode: the failed-checks counter stays (Flagger's
    /// `status.failedChecks` lives for the whole canary run) and the interval
    /// clock restarts at the weight change. Otherwise: forgets all.
    fn new_step(&mut self) {
        if self.loop_mode {
            self.clock = IntervalClock::new(self.config.interval_s);
        } else {
            self.reset();
        }
    }

    fn reset(&mut self) {
        let loop_mode = self.loop_mode;
        *self = Self::new(self.config);
        self.loop_mode = loop_mode;
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod loop_tests;
