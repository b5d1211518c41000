//! The Rollout's analysis settings as the documentation's examples give them.

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
pub struct ArgoAnalysisConfig {
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

impl Default for ArgoAnalysisConfig {
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

impl ArgoAnalysisConfig {
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
