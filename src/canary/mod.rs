//! Canary analysis: metrics of both versions in, a verdict with its numbers out.
//!
//! The judge is stateful so a sequential test can accumulate evidence across
//! windows; `reset` starts over (e.g. after a rollback). Pure: no I/O.

pub mod baselines;
pub mod catalogue;
pub mod evalue;
pub mod floor;
pub mod histogram;
pub mod mw;
pub mod ratio;
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
    /// What the evidence still allows, for a decision without a Pass (judges
    /// that cannot bound the harm leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harm: Option<HarmBound>,
}

/// Upper bounds on the canary's harm at confidence `confidence`, always valid
/// (they hold at every look): what the judge could still have missed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct HarmBound {
    /// Canary error rate ÷ baseline error rate, at most (None: no ratio up to
    /// 100 is excluded yet, or the baseline has no errors).
    pub error_ratio_upper: Option<f64>,
    /// The baseline's error rate over the canary's life.
    pub baseline_error_rate: f64,
    /// P(a canary request is slower than a baseline one), at most (None: too few samples).
    pub slower_upper: Option<f64>,
    pub confidence: f64,
}

impl HarmBound {
    /// Extra failed requests per 1,000 requests of all users the canary could
    /// cause at `weight` %, at worst; None when the ratio is not bounded.
    pub fn extra_errors_per_1000(&self, weight: u8) -> Option<f64> {
        self.error_ratio_upper.map(|upper| {
            1000.0 * (upper - 1.0).max(0.0) * self.baseline_error_rate * f64::from(weight) / 100.0
        })
    }

    /// One line for people.
    pub fn describe(&self, weight: u8) -> String {
        let errors = match (self.error_ratio_upper, self.extra_errors_per_1000(weight)) {
            (Some(u), Some(extra)) => format!(
                "error rate at most {u:.2}× the baseline's ({:.3} %), i.e. at most {extra:.2} extra failed requests per 1,000 at {weight} %",
                100.0 * self.baseline_error_rate
            ),
            _ => "error ratio not bounded yet".into(),
        };
        let latency = self
            .slower_upper
            .map_or("latency not bounded yet".into(), |p| {
                format!("P(canary slower) at most {p:.3}")
            });
        format!(
            "{errors}; {latency} ({:.0} % always-valid bounds)",
            100.0 * self.confidence
        )
    }
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
    /// From now on the baseline is the previous version at another time (a
    /// `direct` deploy verified before/after), not a version serving side by
    /// side: noise that used to cancel no longer does. Says what changed.
    fn compare_before_after(&mut self) -> String {
        "this judge compares the windows it is given".into()
    }
}
