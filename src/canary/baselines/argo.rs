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
//! [`ArgoAnalysisConfig::schedule`] (the Rollout's `setWeight`/`pause` steps) and the
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

mod config;
pub use config::{ArgoAnalysis, ArgoAnalysisConfig};

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
    config: ArgoAnalysisConfig,
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
        Self::new(ArgoAnalysisConfig::default())
    }
}

impl ArgoJudge {
    /// The `bench canary` judge: `Pass` = the run of `count` measurements
    /// succeeded, promote now.
    pub fn new(config: ArgoAnalysisConfig) -> Self {
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
    pub fn for_loop(config: ArgoAnalysisConfig) -> Self {
        Self {
            loop_mode: true,
            ..Self::new(config)
        }
    }

    /// The traffic schedule of this judge's config ([`ArgoAnalysisConfig::schedule`]).
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
mod tests;

#[cfg(test)]
mod loop_tests;
