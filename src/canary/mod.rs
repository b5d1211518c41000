//! Canary analysis: metrics of both versions in, a verdict with its numbers out.
//!
//! The judge is stateful so a sequential test can accumulate evidence across
//! windows; `reset` starts over (e.g. after a rollback). Pure: no I/O.

pub mod baselines;
pub mod evalue;
pub mod histogram;
pub mod mw;
mod sequential;

pub use sequential::{SequentialConfig, SequentialJudge};

use serde::Serialize;

/// Requests, errors and latencies of one version over one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VersionSample {
    pub requests: u64,
    pub errors: u64,
    /// Latency samples in milliseconds (possibly a bounded subsample of all requests).
    pub latency_ms: Vec<f64>,
}

impl VersionSample {
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }

    /// Adds another window's counts and samples to this one.
    pub fn absorb(&mut self, other: &VersionSample) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency_ms.extend_from_slice(&other.latency_ms);
    }
}

/// Metrics for both versions over `[start, end)` (seconds on the rollout clock).
///
/// `None` for a version means its metrics are missing (no series, scrape failures):
/// a risk signal, never a pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsWindow {
    pub start: f64,
    pub end: f64,
    pub stable: Option<VersionSample>,
    pub canary: Option<VersionSample>,
}

/// The four verdicts. Only `Pass` lets traffic grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Pass,
    Fail,
    Inconclusive,
    NoData,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Pass => "pass",
            VerdictKind::Fail => "fail",
            VerdictKind::Inconclusive => "inconclusive",
            VerdictKind::NoData => "no_data",
        }
    }
}

/// One metric's comparison, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MetricCheck {
    /// `error_rate`, `latency_mean`, `latency_p99`, ...
    pub metric: String,
    pub verdict: VerdictKind,
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
    /// The test statistic or evidence (z, e-value, p-value: see `detail`).
    pub statistic: Option<f64>,
    pub detail: String,
}

/// A judge's verdict on everything it has seen.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Verdict {
    pub kind: VerdictKind,
    pub checks: Vec<MetricCheck>,
    pub canary_requests: u64,
    pub baseline_requests: u64,
    /// One line for people: why this verdict.
    pub summary: String,
}

/// A canary judge: feed it windows, read its verdict.
pub trait Judge: Send {
    /// Adds a window and returns the verdict on all evidence so far.
    fn observe(&mut self, window: &MetricsWindow) -> Verdict;
    /// The canary moved to a new traffic weight. Sequential judges keep their
    /// evidence of harm and restart their evidence of health; the default forgets all.
    fn new_step(&mut self) {
        self.reset();
    }
    /// Forgets all evidence (a new canary).
    fn reset(&mut self);
    /// Seconds of baseline history before the canary that `calibrate` wants (0: none).
    fn history_seconds(&self) -> f64 {
        0.0
    }
    /// Learns the service's noise from the baseline's recent history (windows
    /// before the canary started, stable only) and says what it learned.
    /// Judges without a noise model ignore it.
    fn calibrate(&mut self, _baseline_history: &[MetricsWindow]) -> String {
        "this judge has no noise model".into()
    }
}
