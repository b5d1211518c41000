//! What the loop does when a step stays Inconclusive: the judge has seen no
//! evidence of harm, and not enough evidence of health for a Pass (low
//! traffic, rare errors, a noisy service). Inconclusive is not Fail: rolling a
//! healthy-looking release back for lack of evidence trains people to ignore
//! rollbacks. Policy (`[rollout.inconclusive]`) chooses, after
//! `max_inconclusive_bakes` bake periods at one weight:
//!
//! 1. **hold**: keep judging at the same weight, up to `hold_seconds` over the
//!    whole rollout (evidence keeps accumulating; most low-traffic Passes come here);
//! 2. then `then`:
//!    - `ask`: a human decides with the numbers (the judge's counts, its
//!      always-valid harm bounds); approving goes on without a Pass, for this
//!      weight only;
//!    - `step`: raise traffic without a Pass when the harm the judge could
//!      still have missed at the next weight is within `max_unproven_harm_per_1000`
//!      extra failed requests per 1,000 of all users and P(canary slower) is at
//!      most `max_unproven_slower` (both upper bounds at 1 − β, valid at any
//!      look); otherwise ask. Promotion always needs a Pass or a human;
//!    - `rollback`: give up (the old behaviour).
//!
//! Rollback stays for evidence of harm (a Fail), budgets, missing metrics
//! (NoData is never Inconclusive) and humans.

use serde::{Deserialize, Serialize};

use crate::canary::HarmBound;

/// After the hold: ask, step on bounded harm, or roll back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInconclusive {
    #[default]
    Ask,
    Step,
    Rollback,
}

impl OnInconclusive {
    pub fn as_str(self) -> &'static str {
        match self {
            OnInconclusive::Ask => "ask",
            OnInconclusive::Step => "step",
            OnInconclusive::Rollback => "rollback",
        }
    }
}

/// `[rollout.inconclusive]`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InconclusivePolicy {
    /// Seconds of holding (judging on at a weight past `max_inconclusive_bakes`)
    /// allowed over the whole rollout.
    pub hold_seconds: f64,
    pub then: OnInconclusive,
    /// `step`: extra failed requests per 1,000 requests of all users the
    /// canary may still cause, at worst, at the next weight.
    pub max_unproven_harm_per_1000: f64,
    /// `step`: the largest upper bound on P(a canary request is slower than a
    /// baseline one) allowed (0.5 = no slower).
    pub max_unproven_slower: f64,
}

impl Default for InconclusivePolicy {
    fn default() -> Self {
        Self {
            hold_seconds: 7200.0,
            then: OnInconclusive::Ask,
            max_unproven_harm_per_1000: 1.0,
            max_unproven_slower: 0.6,
        }
    }
}

impl InconclusivePolicy {
    /// Whether a human may be asked to go on without a Pass.
    pub fn allows_asking(&self) -> bool {
        self.then != OnInconclusive::Rollback
    }

    /// Whether `step` allows going to `next` % on these bounds: `Ok` says what
    /// the step could cost at worst, `Err` why it is not allowed.
    pub fn unproven_step(
        &self,
        harm: Option<&HarmBound>,
        next: u8,
    ) -> Result<String, UnprovenStepRefused> {
        if self.then != OnInconclusive::Step {
            return Err(UnprovenStepRefused::NotPolicy {
                then: self.then.as_str(),
            });
        }
        let Some(harm) = harm else {
            return Err(UnprovenStepRefused::NoHarmBound);
        };
        let Some(extra) = harm.extra_errors_per_1000(next) else {
            return Err(UnprovenStepRefused::ErrorsUnbounded);
        };
        if extra > self.max_unproven_harm_per_1000 {
            return Err(UnprovenStepRefused::TooManyErrors {
                next,
                extra,
                allowed: self.max_unproven_harm_per_1000,
            });
        }
        match harm.slower_upper {
            Some(p) if p <= self.max_unproven_slower => Ok(harm.describe(next)),
            Some(p) => Err(UnprovenStepRefused::TooSlow {
                p,
                allowed: self.max_unproven_slower,
            }),
            None => Err(UnprovenStepRefused::LatencyUnbounded),
        }
    }
}

/// Why an Inconclusive step may not go on to the next weight on policy's
/// bounds alone: the guard shows it in its veto, so it says what is missing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnprovenStepRefused {
    #[error("policy does not step without a Pass ([rollout.inconclusive] then = \"{then}\")")]
    NotPolicy { then: &'static str },
    #[error("the judge gives no harm bound to step on")]
    NoHarmBound,
    #[error("the error ratio is not bounded yet")]
    ErrorsUnbounded,
    #[error("at {next}% the canary could still cause {extra:.2} extra failed requests per 1,000 (at most {allowed:.2} allowed)")]
    TooManyErrors { next: u8, extra: f64, allowed: f64 },
    #[error("P(canary slower) could still be {p:.3} (at most {allowed:.3} allowed)")]
    TooSlow { p: f64, allowed: f64 },
    #[error("latency is not bounded yet")]
    LatencyUnbounded,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn harm(ratio: Option<f64>, slower: Option<f64>) -> HarmBound {
        HarmBound {
            error_ratio_upper: ratio,
            baseline_error_rate: 0.005,
            slower_upper: slower,
            confidence: 0.99,
        }
    }

    #[test]
    fn step_needs_policy_and_bounded_harm() {
        let ask = InconclusivePolicy::default();
        assert!(ask
            .unproven_step(Some(&harm(Some(1.2), Some(0.52))), 40)
            .is_err());
        let step = InconclusivePolicy {
            then: OnInconclusive::Step,
            ..ask
        };
        // (1.2 − 1) × 0.5 % × 40 % = 0.4 extra per 1,000: within 1.
        assert!(step
            .unproven_step(Some(&harm(Some(1.2), Some(0.52))), 40)
            .is_ok());
        // (2 − 1) × 0.5 % × 40 % = 2 per 1,000: too much.
        let err = step
            .unproven_step(Some(&harm(Some(2.0), Some(0.52))), 40)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2.00 extra"), "{err}");
        assert!(step
            .unproven_step(Some(&harm(None, Some(0.52))), 40)
            .is_err());
        assert!(step
            .unproven_step(Some(&harm(Some(1.2), Some(0.7))), 40)
            .is_err());
        assert!(step.unproven_step(None, 40).is_err());
    }
}
