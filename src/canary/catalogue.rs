//! Judging the catalogue metrics a planner added (`add_metrics`): each is a
//! ratio of bad events, tested like the error rate with its own sequential
//! [`RatioTest`] (and the policy's [`FloorTest`] for metrics too quiet for a
//! ratio), beside whatever judge policy chose for the required metrics.
//!
//! Kept apart from the [`super::Judge`] implementations so every judge
//! (sequential or a baseline) gets the same extra checks, and so the required
//! metrics' verdict is computed exactly as without the extras; [`combine`]
//! can only make it stricter: an extra Fail fails, an extra NoData makes it
//! NoData, and a Pass needs every extra metric to pass too.
//!
//! Each extra metric gets the whole α of policy (not a share of the required
//! metrics' budget): adding one raises the false-rollback rate a little and
//! never lowers the chance to catch a regression, which is the direction the
//! model may move a rollout in.

use std::collections::BTreeMap;

use super::floor::FloorTest;
use super::ratio::RatioTest;
use super::{MetricCheck, SequentialConfig, Verdict, VerdictKind};
use crate::metrics::ExtraWindow;

/// Weights of an extra metric's pass evidence: the ratio test's and the floor's.
const PASS_WEIGHTS: [f64; 2] = [0.9, 0.1];

/// One chosen metric's evidence.
#[derive(Debug, Clone)]
struct Extra {
    ratio: RatioTest,
    floor: FloorTest,
    /// The latest window lacked this metric for a version.
    missing_now: bool,
}

/// The extra metrics' tests, by name.
#[derive(Debug, Clone)]
pub struct ExtraJudge {
    config: SequentialConfig,
    metrics: BTreeMap<String, Extra>,
}

impl ExtraJudge {
    pub fn new(config: SequentialConfig) -> Self {
        Self {
            config,
            metrics: BTreeMap::new(),
        }
    }

    /// Starts judging `name` (evidence from the next window on); adding a
    /// metric already judged keeps its evidence.
    pub fn add(&mut self, name: &str) {
        let c = &self.config;
        self.metrics
            .entry(name.to_string())
            .or_insert_with(|| Extra {
                ratio: RatioTest::new(1.0 + c.error_margin, c.error_bad_ratio)
                    .with_pass_null(c.error_bad_ratio * 1.5),
                floor: FloorTest::new(c.error_rate_floor),
                missing_now: true,
            });
    }

    /// The names judged, sorted.
    pub fn names(&self) -> Vec<String> {
        self.metrics.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// Adds one window of the chosen metrics (`windows` may come in any
    /// order; a chosen metric absent from it counts as missing).
    pub fn observe(&mut self, seconds: f64, windows: &[ExtraWindow]) {
        for (name, m) in &mut self.metrics {
            let found = windows.iter().find(|w| &w.name == name);
            match found.and_then(|w| w.canary.zip(w.stable)) {
                Some((c, s)) => {
                    m.missing_now = false;
                    m.ratio.elapse(seconds);
                    m.ratio
                        .add(c.total, c.bad.min(c.total), s.total, s.bad.min(s.total));
                    m.floor
                        .add(c.total, c.bad.min(c.total), m.ratio.dispersion());
                    m.ratio.close_block();
                }
                None => m.missing_now = true,
            }
        }
    }

    /// A new traffic step: each metric asks fresh evidence like the error rate.
    pub fn new_step(&mut self) {
        for m in self.metrics.values_mut() {
            m.ratio.restart_step();
        }
    }

    /// Each chosen metric's check on the evidence so far.
    pub fn checks(&self) -> Vec<MetricCheck> {
        self.metrics
            .iter()
            .map(|(name, m)| self.check(name, m))
            .collect()
    }

    fn check(&self, name: &str, m: &Extra) -> MetricCheck {
        let c = &self.config;
        let t = &m.ratio;
        let e_fail = t.fail_evalue();
        let e_pass = PASS_WEIGHTS[0] * t.pass_evalue() + PASS_WEIGHTS[1] * m.floor.evalue();
        let verdict = if e_fail >= 1.0 / c.alpha {
            VerdictKind::Fail
        } else if m.missing_now || t.canary_n == 0 {
            VerdictKind::NoData
        } else if e_pass >= 1.0 / c.beta {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let rate = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
        let missing = if m.missing_now {
            "; missing in the latest window (missing data never passes)"
        } else {
            ""
        };
        MetricCheck {
            metric: name.to_string(),
            verdict,
            canary: rate(t.canary_events, t.canary_n),
            baseline: rate(t.baseline_events, t.baseline_n),
            statistic: Some(e_fail),
            detail: format!(
                "chosen metric: canary {} bad of {} vs baseline {} of {} (ratio {}), e-value {:.3} (fail at {:.0}), pass evidence {:.2} (at {:.0}){missing}",
                t.canary_events,
                t.canary_n,
                t.baseline_events,
                t.baseline_n,
                t.ratio_estimate().map_or("n/a".into(), |r| format!("{r:.2}")),
                e_fail,
                1.0 / c.alpha,
                e_pass,
                1.0 / c.beta,
            ),
        }
    }
}

/// The required metrics' verdict made stricter by the extra metrics' checks:
/// any extra Fail fails; else a required Fail or NoData stands; else an extra
/// NoData makes it NoData; a Pass stays one only when every extra passed.
pub fn combine(mut verdict: Verdict, extra: Vec<MetricCheck>) -> Verdict {
    if extra.is_empty() {
        return verdict;
    }
    let named = |kind: VerdictKind| {
        extra
            .iter()
            .filter(|c| c.verdict == kind)
            .map(|c| c.metric.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (failed, missing, open) = (
        named(VerdictKind::Fail),
        named(VerdictKind::NoData),
        extra
            .iter()
            .filter(|c| c.verdict != VerdictKind::Pass)
            .map(|c| c.metric.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    );
    if !failed.is_empty() {
        verdict.summary = if verdict.kind == VerdictKind::Fail {
            format!("{}; {failed} worse than baseline", verdict.summary)
        } else {
            format!("{failed} worse than baseline")
        };
        verdict.kind = VerdictKind::Fail;
    } else if matches!(verdict.kind, VerdictKind::Fail | VerdictKind::NoData) {
        // The required metrics already decide: nothing an extra check says can soften it.
    } else if !missing.is_empty() {
        verdict.kind = VerdictKind::NoData;
        verdict.summary = format!("chosen metric(s) {missing} missing; missing data never passes");
    } else if verdict.kind == VerdictKind::Pass && !open.is_empty() {
        verdict.kind = VerdictKind::Inconclusive;
        verdict.summary = format!("required metrics pass; not enough evidence yet: {open}");
    } else if verdict.kind == VerdictKind::Pass {
        verdict.summary = format!("{}; chosen metrics within bounds", verdict.summary);
    }
    verdict.checks.extend(extra);
    verdict
}

#[cfg(test)]
mod tests;
