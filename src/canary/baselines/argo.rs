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
//!
//! # Loop mode ([`ArgoJudge::for_loop`])
//!
//! For the whole-rollout benchmark the loop steps the traffic through
//! [`ArgoConfig::schedule`] (the Rollout's `setWeight`/`pause` steps) and the
//! judge plays the AnalysisRun as the controller does (`analysis/analysis.go`,
//! `utils/evaluate/evaluate.go`):
//!
//! - a measurement is the documented query over the last `range_s` seconds:
//!   `sum(irate(…[5m])) / sum(irate(…[5m]))` is an *instant* rate, the last
//!   two scrapes, so we take the last 30 s window (the loop's resolution);
//!   no canary series = empty result = *Error*; a series without requests =
//!   NaN, and `NaN >= 0.95` is false = *Failed*;
//! - the first measurement is taken when the run starts (on its first window),
//!   the next `interval` after the last one, or 10 s after an *Error*
//!   (`DefaultErrorRetryInterval`; at the loop's 30 s resolution: the next window);
//! - the run fails when failed > `failureLimit` or consecutive errors >
//!   `consecutiveErrorLimit` → `Fail` (the rollout aborts);
//! - **background analysis** (the docs' first example) never holds a step: the
//!   rollout moves on when each pause ends, so every verdict is `Pass` unless
//!   the run failed; before `startingStep` there is no analysis at all. A new
//!   step does not touch the run (it spans the steps);
//! - **inline analysis** (an `analysis` step after the pause) blocks the step:
//!   `Inconclusive` during the pause and while the run is going, `Pass` once it
//!   took `count` measurements without failing; each step gets a new run.

use std::collections::VecDeque;

use super::{check, verdict, Interval, IntervalClock, Seen, EPS};
use crate::canary::{Judge, MetricCheck, MetricsWindow, Verdict, VerdictKind, VersionSample};
use crate::policy::Strategy;

/// How the AnalysisRun is attached to the Rollout's steps (loop mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgoAnalysis {
    /// `strategy.canary.analysis`: one run from the weight at index
    /// `from_weight` of the schedule (0 = the first `setWeight`) to the end of
    /// the rollout. Argo's `startingStep` counts every step, so the docs'
    /// `startingStep: 2` ("delay starting analysis run until setWeight: 40%")
    /// is `from_weight: 1`.
    Background { from_weight: usize },
    /// An `analysis` step after every step's pause, blocking until it completes.
    Inline,
}

/// Settings for [`ArgoJudge`]; the default is the one `bench canary` uses. See
/// [`documented`](Self::documented) and [`alternative`](Self::alternative) for
/// the examples of Argo Rollouts' docs.
#[derive(Debug, Clone, Copy)]
pub struct ArgoConfig {
    pub interval_s: f64,
    /// `successCondition: result >= min_success`.
    pub min_success: f64,
    /// The run fails when failed measurements exceed this.
    pub failure_limit: u32,
    /// The run fails when consecutive errored measurements exceed this.
    pub consecutive_error_limit: u32,
    /// Measurements in the run (`count`); success after the last one. In loop
    /// mode 0 = no count: the run goes on until the rollout ends.
    pub count: u32,
    /// Loop mode: background or inline analysis.
    pub analysis: ArgoAnalysis,
    /// The first `setWeight`, percent.
    pub first_weight: u8,
    /// Percent added by each later `setWeight`.
    pub weight_step: u8,
    /// The last `setWeight`; the rollout goes to 100 % after its pause.
    pub last_weight: u8,
    /// `pause: {duration}` after each `setWeight`, seconds.
    pub pause_s: u32,
    /// Loop mode: the range the measurement's query covers, seconds.
    pub range_s: f64,
    /// Loop mode: the wait before retrying an errored measurement, seconds.
    pub error_retry_s: f64,
}

impl Default for ArgoConfig {
    fn default() -> Self {
        Self {
            interval_s: 300.0,
            min_success: 0.95,
            failure_limit: 3,
            consecutive_error_limit: 4,
            count: 8,
            analysis: ArgoAnalysis::Background { from_weight: 0 },
            first_weight: 20,
            weight_step: 20,
            last_weight: 80,
            pause_s: 600,
            range_s: 300.0,
            error_retry_s: 10.0,
        }
    }
}

impl ArgoConfig {
    /// The "Background Analysis" example of Argo Rollouts' analysis docs:
    /// <https://argo-rollouts.readthedocs.io/en/stable/features/analysis/#background-analysis>
    /// (`argoproj/argo-rollouts` `docs/features/analysis.md`):
    ///
    /// ```yaml
    /// strategy:
    ///   canary:
    ///     analysis:
    ///       templates: [{templateName: success-rate}]
    ///       startingStep: 2 # delay starting analysis run until setWeight: 40%
    ///     steps:
    ///     - setWeight: 20
    ///     - pause: {duration: 10m}
    ///     - setWeight: 40
    ///     - pause: {duration: 10m}
    ///     - setWeight: 60
    ///     - pause: {duration: 10m}
    ///     - setWeight: 80
    ///     - pause: {duration: 10m}
    /// # AnalysisTemplate success-rate
    /// metrics:
    /// - name: success-rate
    ///   interval: 5m
    ///   successCondition: result[0] >= 0.95
    ///   failureLimit: 3
    ///   # query: sum(irate(…non-5xx…[5m])) / sum(irate(…[5m]))
    /// ```
    ///
    /// No `count`: "It has no end time, and continues until stopped or failed".
    /// `consecutiveErrorLimit` is the default 4. The page's prose says the run
    /// fails after "three such measurements"; the controller fails it when
    /// failed > `failureLimit`, i.e. at the fourth, which is what we do.
    pub fn documented() -> Self {
        Self {
            interval_s: 300.0,
            min_success: 0.95,
            failure_limit: 3,
            consecutive_error_limit: 4,
            count: 0,
            analysis: ArgoAnalysis::Background { from_weight: 1 },
            first_weight: 20,
            weight_step: 20,
            last_weight: 80,
            pause_s: 600,
            range_s: 30.0,
            error_retry_s: 10.0,
        }
    }

    /// The "Inline Analysis" example of the same page: `setWeight: 20`,
    /// `pause: {duration: 5m}`, then an `analysis` step with the same template
    /// but no `interval` (so "the analysis will perform a single measurement
    /// and complete") and no `failureLimit` (default 0); then the rollout goes
    /// to 100 %. (The page's variant with `interval: 60s`, `count: 5` is this
    /// config with `count: 5`, `interval_s: 60`.)
    pub fn alternative() -> Self {
        Self {
            interval_s: 60.0,
            min_success: 0.95,
            failure_limit: 0,
            consecutive_error_limit: 4,
            count: 1,
            analysis: ArgoAnalysis::Inline,
            first_weight: 20,
            weight_step: 80,
            last_weight: 20,
            pause_s: 300,
            range_s: 30.0,
            error_retry_s: 10.0,
        }
    }

    /// The Rollout's steps as a canary schedule: `setWeight` first, the same
    /// step up to the last `setWeight`, one pause (plus an inline analysis run
    /// of `count` measurements) per step, promotion on a pass at the last weight.
    pub fn schedule(&self) -> Strategy {
        let analysis = match self.analysis {
            ArgoAnalysis::Inline => f64::from(self.count.max(1) - 1) * self.interval_s,
            ArgoAnalysis::Background { .. } => 0.0,
        };
        Strategy::Canary {
            first_weight: self.first_weight,
            step: self.weight_step,
            bake_seconds: self.pause_s + analysis.round() as u32,
            promote_at: self.last_weight,
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
    /// Loop mode: `Pass` = this step may go on (see the module docs).
    loop_mode: bool,
    clock: IntervalClock,
    interval: Interval,
    measurements: u32,
    failed: u32,
    consecutive_errors: u32,
    /// Requests seen per version, for every verdict's numbers.
    seen: Seen,
    /// Loop mode: the windows the query range may still reach.
    recent: VecDeque<MetricsWindow>,
    /// Loop mode: the index of the current weight in the schedule.
    step: usize,
    /// Loop mode: a window was seen (so the next `new_step` is a real step).
    observed: bool,
    /// Loop mode: start of the current step's first window.
    step_start: Option<f64>,
    /// Loop mode: the run's state (`None`: no run yet at this point).
    run: Option<Run>,
}

/// Loop mode: one AnalysisRun.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Window end at or after which the next measurement is taken.
    next_due: f64,
    /// Successful, failed and errored measurements so far.
    measurements: u32,
    failed: u32,
    consecutive_errors: u32,
    /// Measurements that count towards `count` (errors do not).
    counted: u32,
    /// `Some(Pass)` once the run succeeded, `Some(Fail)` once it failed or errored.
    outcome: Option<VerdictKind>,
    /// The last measurement's check, shown until the next one.
    last: Option<(Measurement, Option<f64>)>,
}

impl Default for ArgoJudge {
    fn default() -> Self {
        Self::new(ArgoConfig::default())
    }
}

impl ArgoJudge {
    /// The `bench canary` judge: `Pass` = the run of `count` measurements
    /// succeeded, promote now.
    pub fn new(config: ArgoConfig) -> Self {
        Self {
            config,
            loop_mode: false,
            clock: IntervalClock::new(config.interval_s),
            interval: Interval::default(),
            measurements: 0,
            failed: 0,
            consecutive_errors: 0,
            seen: Seen::default(),
            recent: VecDeque::new(),
            step: 0,
            observed: false,
            step_start: None,
            run: None,
        }
    }

    /// The whole-loop judge: `Pass` = this step's analysis lets the rollout go
    /// on, `Fail` = the AnalysisRun failed (abort); see the module docs. The
    /// loop must call `new_step` at every weight change, the first included.
    pub fn for_loop(config: ArgoConfig) -> Self {
        Self {
            loop_mode: true,
            ..Self::new(config)
        }
    }

    /// The traffic schedule of this judge's config ([`ArgoConfig::schedule`]).
    pub fn schedule(&self) -> Strategy {
        self.config.schedule()
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

    /// Loop mode: the canary over the query range ending at `end`.
    fn canary_over(&self, end: f64) -> Option<VersionSample> {
        let mut out: Option<VersionSample> = None;
        for w in self
            .recent
            .iter()
            .filter(|w| w.end > end - self.config.range_s + EPS)
        {
            if let Some(c) = &w.canary {
                out.get_or_insert_with(VersionSample::default).absorb(c);
            }
        }
        out
    }

    /// Loop mode: keeps the windows the query range can still reach.
    fn remember(&mut self, window: &MetricsWindow) {
        self.recent.push_back(window.clone());
        while self
            .recent
            .front()
            .is_some_and(|w| w.end <= window.end - self.config.range_s + EPS)
        {
            self.recent.pop_front();
        }
    }

    /// Loop mode: takes the run's measurement if one is due at `end` and
    /// assesses the run as `assessMetricStatus` does.
    fn run_measurements(&mut self, end: f64) {
        let Some(mut run) = self.run else { return };
        if run.outcome.is_some() || end + EPS < run.next_due {
            return;
        }
        let canary = self.canary_over(end);
        let value = canary
            .as_ref()
            .map(|c| 1.0 - c.errors as f64 / c.requests as f64);
        let phase = match value {
            None => Measurement::Error,
            Some(r) if r >= self.config.min_success => Measurement::Successful,
            // NaN (no requests) fails the condition, as in Argo.
            Some(_) => Measurement::Failed,
        };
        run.measurements += 1;
        match phase {
            Measurement::Successful => {
                run.counted += 1;
                run.consecutive_errors = 0;
            }
            Measurement::Failed => {
                run.counted += 1;
                run.failed += 1;
                run.consecutive_errors = 0;
            }
            Measurement::Error => run.consecutive_errors += 1,
        }
        let wait = if phase == Measurement::Error {
            self.config.error_retry_s
        } else {
            self.config.interval_s
        };
        run.next_due = end + wait;
        run.last = Some((phase, value));
        if run.failed > self.config.failure_limit
            || run.consecutive_errors > self.config.consecutive_error_limit
        {
            run.outcome = Some(VerdictKind::Fail);
        } else if self.config.count > 0 && run.counted >= self.config.count {
            run.outcome = Some(VerdictKind::Pass);
        }
        self.run = Some(run);
    }

    /// Loop mode: the verdict on the current step.
    fn observe_loop(&mut self, window: &MetricsWindow) -> Verdict {
        self.observed = true;
        self.remember(window);
        let step_start = *self.step_start.get_or_insert(window.start);
        let starts = match self.config.analysis {
            ArgoAnalysis::Background { from_weight } => self.step >= from_weight,
            ArgoAnalysis::Inline => window.end - step_start + EPS >= f64::from(self.config.pause_s),
        };
        if self.run.is_none() && starts {
            // The initial measurement is taken as the run starts.
            self.run = Some(Run {
                next_due: window.end,
                measurements: 0,
                failed: 0,
                consecutive_errors: 0,
                counted: 0,
                outcome: None,
                last: None,
            });
        }
        self.run_measurements(window.end);
        let background = matches!(self.config.analysis, ArgoAnalysis::Background { .. });
        let Some(run) = self.run else {
            let (kind, what) = if background {
                (
                    VerdictKind::Pass,
                    "no analysis before startingStep: the pause alone gates this step",
                )
            } else {
                (
                    VerdictKind::Inconclusive,
                    "pausing before the analysis step",
                )
            };
            return verdict(
                kind,
                what.into(),
                vec![],
                self.seen.canary,
                self.seen.baseline,
            );
        };
        let kind = match run.outcome {
            Some(outcome) => outcome,
            None if background => VerdictKind::Pass,
            None => VerdictKind::Inconclusive,
        };
        let checks = run
            .last
            .map(|(phase, value)| {
                let kind = match phase {
                    Measurement::Successful => VerdictKind::Pass,
                    Measurement::Failed => VerdictKind::Fail,
                    Measurement::Error => VerdictKind::NoData,
                };
                let detail = format!(
                    "success rate {value:?} over the last {} s (condition >= {}; no series = error, NaN = failed)",
                    self.config.range_s, self.config.min_success
                );
                vec![check("success_rate", kind, value, None, None, detail)]
            })
            .unwrap_or_default();
        let summary = format!(
            "{} run: {} measurements, {} failed (limit {}), {} consecutive errors (limit {}){}",
            if background { "background" } else { "inline" },
            run.measurements,
            run.failed,
            self.config.failure_limit,
            run.consecutive_errors,
            self.config.consecutive_error_limit,
            match run.outcome {
                Some(VerdictKind::Pass) => ": run successful",
                Some(_) => ": run failed, abort",
                None => "",
            }
        );
        verdict(kind, summary, checks, self.seen.canary, self.seen.baseline)
    }
}

impl Judge for ArgoJudge {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        if self.loop_mode {
            self.seen.absorb(window);
            return self.observe_loop(window);
        }
        self.interval.absorb(window);
        self.seen.absorb(window);
        if self.clock.closes(window) {
            return self.decide();
        }
        self.seen.waiting("between measurements")
    }

    /// Loop mode: the next step. A background run goes on across steps; an
    /// inline analysis is a new run after the new step's pause. Otherwise:
    /// forgets all.
    fn new_step(&mut self) {
        if !self.loop_mode {
            return self.reset();
        }
        if self.observed {
            self.step += 1;
        }
        self.step_start = None;
        if self.config.analysis == ArgoAnalysis::Inline {
            self.run = None;
        }
    }

    fn reset(&mut self) {
        let loop_mode = self.loop_mode;
        *self = Self::new(self.config);
        self.loop_mode = loop_mode;
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

#[cfg(test)]
mod loop_tests {
    use super::*;
    use VerdictKind::*;

    const GOOD: Option<(u64, u64, f64)> = Some((400, 4, 80.0));
    /// 10 % errors: success rate 0.90 < 0.95.
    const BAD: Option<(u64, u64, f64)> = Some((400, 40, 80.0));

    /// A 30 s window (the loop's `check_interval_seconds`) ending at `end`.
    fn w30(end: f64, canary: Option<(u64, u64, f64)>) -> MetricsWindow {
        let mut w = super::super::testutil::window(end, GOOD, canary);
        w.start = end - 30.0;
        w
    }

    /// Feeds the windows ending in `(from, to]` and returns their verdicts.
    fn feed(
        j: &mut ArgoJudge,
        from: f64,
        to: f64,
        canary: Option<(u64, u64, f64)>,
    ) -> Vec<VerdictKind> {
        let mut out = vec![];
        let mut end = from + 30.0;
        while end <= to + 1e-9 {
            out.push(j.observe(&w30(end, canary)).kind);
            end += 30.0;
        }
        out
    }

    #[test]
    fn schedules_are_the_documented_numbers() {
        let d = ArgoConfig::documented();
        assert_eq!(
            d.schedule(),
            Strategy::Canary {
                first_weight: 20,
                step: 20,
                bake_seconds: 600,
                promote_at: 80
            }
        );
        assert_eq!(d.schedule().weights(), vec![20, 40, 60, 80, 100]);
        assert_eq!(
            (d.interval_s, d.min_success, d.failure_limit, d.count),
            (300.0, 0.95, 3, 0)
        );
        assert_eq!(d.analysis, ArgoAnalysis::Background { from_weight: 1 });
        let a = ArgoConfig::alternative();
        assert_eq!(
            a.schedule(),
            Strategy::Canary {
                first_weight: 20,
                step: 80,
                bake_seconds: 300,
                promote_at: 20
            }
        );
        assert_eq!(a.schedule().weights(), vec![20, 100]);
        let five = ArgoConfig { count: 5, ..a };
        assert!(matches!(
            five.schedule(),
            Strategy::Canary {
                bake_seconds: 540,
                ..
            }
        ));
    }

    #[test]
    fn background_analysis_starts_at_its_step_and_spans_the_steps() {
        let mut j = ArgoJudge::for_loop(ArgoConfig::documented());
        j.new_step(); // the first weight: not a step yet
                      // 20 %: no analysis, a bad canary goes on.
        assert!(feed(&mut j, 0.0, 600.0, BAD).iter().all(|k| *k == Pass));
        j.new_step();
        // 40 %: measurements at 630 (the run's start), 930; 60 %: 1230, 1530.
        let mut kinds = feed(&mut j, 600.0, 1200.0, BAD);
        j.new_step();
        kinds.extend(feed(&mut j, 1200.0, 1800.0, BAD));
        let fail = kinds.iter().position(|k| *k == Fail);
        // The fourth failed measurement (failed 4 > failureLimit 3) at 1530 s.
        assert_eq!(fail, Some(((1530.0 - 630.0) / 30.0) as usize));
        assert!(kinds[..fail.unwrap()].iter().all(|k| *k == Pass));
    }

    #[test]
    fn a_healthy_background_run_passes_every_step() {
        let mut j = ArgoJudge::for_loop(ArgoConfig::documented());
        for step in 0..4 {
            j.new_step();
            let from = 600.0 * f64::from(step);
            assert!(feed(&mut j, from, from + 600.0, GOOD)
                .iter()
                .all(|k| *k == Pass));
        }
    }

    #[test]
    fn errors_retry_at_once_and_fail_after_the_limit() {
        let mut j = ArgoJudge::for_loop(ArgoConfig {
            analysis: ArgoAnalysis::Background { from_weight: 0 },
            ..ArgoConfig::documented()
        });
        // No canary series: errors at 30, 60, 90, 120 pass, the fifth (150) fails.
        let kinds = feed(&mut j, 0.0, 150.0, None);
        assert_eq!(kinds, vec![Pass, Pass, Pass, Pass, Fail]);
        // A measurement in between ends the streak.
        let mut j = ArgoJudge::for_loop(ArgoConfig {
            analysis: ArgoAnalysis::Background { from_weight: 0 },
            ..ArgoConfig::documented()
        });
        let mut kinds = feed(&mut j, 0.0, 120.0, None);
        kinds.extend(feed(&mut j, 120.0, 150.0, GOOD));
        kinds.extend(feed(&mut j, 150.0, 540.0, None));
        assert!(!kinds.contains(&Fail), "{kinds:?}");
    }

    #[test]
    fn no_requests_is_nan_and_a_failed_measurement() {
        let mut j = ArgoJudge::for_loop(ArgoConfig {
            analysis: ArgoAnalysis::Background { from_weight: 0 },
            ..ArgoConfig::documented()
        });
        // Failed measurements every 5 min: 30, 330, 630, 930 → fail at the 4th.
        let kinds = feed(&mut j, 0.0, 930.0, Some((0, 0, 0.0)));
        assert_eq!(kinds.iter().position(|k| *k == Fail), Some(30));
    }

    #[test]
    fn inline_analysis_measures_once_after_the_pause() {
        let mut j = ArgoJudge::for_loop(ArgoConfig::alternative());
        j.new_step();
        let kinds = feed(&mut j, 0.0, 300.0, GOOD);
        assert!(kinds[..9].iter().all(|k| *k == Inconclusive), "{kinds:?}");
        assert_eq!(kinds[9], Pass);
        let mut j = ArgoJudge::for_loop(ArgoConfig::alternative());
        j.new_step();
        let kinds = feed(&mut j, 0.0, 300.0, BAD);
        assert_eq!(
            kinds[9], Fail,
            "failureLimit 0: one failed measurement fails"
        );
        // Only the query range counts: bad until the last window passes.
        let mut j = ArgoJudge::for_loop(ArgoConfig::alternative());
        feed(&mut j, 0.0, 270.0, BAD);
        assert_eq!(feed(&mut j, 270.0, 300.0, GOOD), vec![Pass]);
    }

    #[test]
    fn the_bench_canary_judge_still_forgets_at_a_new_step() {
        let mut j = ArgoJudge::default();
        let first = super::super::testutil::feed(&mut j, 10.0, 30, GOOD, BAD);
        assert_eq!(first[29], Inconclusive, "1 failed of 3");
        j.new_step();
        assert_eq!(j.measurements, 0);
    }
}
