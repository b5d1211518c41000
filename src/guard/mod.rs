//! The guard: every proposed tool call is checked against policy and the rollout
//! state before any side effect. The answer is data — allow, or veto with the rule
//! and a reason — never a silent drop.
//!
//! Only [`check`] can make an [`Allowed`], and the executor only takes an
//! `Allowed`, so no tool runs without passing here.

use crate::canary::VerdictKind;
use crate::rollout::state::{Phase, RolloutState};
use crate::tools::ToolCall;

mod metrics;
mod strategy;

// The vocabulary of refusals lives with the calls it refuses (`tools::veto`),
// so parsing a proposal needs no guard: tools never imports guard.
pub use crate::tools::veto::{Rule, Veto};

/// A call the guard allowed. Only this module can construct one.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowed {
    call: ToolCall,
}

impl Allowed {
    pub fn call(&self) -> &ToolCall {
        &self.call
    }

    /// Rollback needs no permission (invariant: always allowed); the loop uses this
    /// for automatic rollbacks on a Fail verdict, budgets and the circuit breaker.
    pub fn rollback(reason: String) -> Self {
        Self {
            call: ToolCall::Rollback(crate::tools::RollbackArgs { reason }),
        }
    }
}

/// Checks `call` against the rollout state at time `now`.
pub fn check(call: ToolCall, state: &RolloutState, now: f64) -> Result<Allowed, Veto> {
    let veto = |rule, reason: String| Err(Veto { rule, reason });
    if state.phase == Phase::Promoted && matches!(call, ToolCall::Rollback(_)) {
        return veto(
            Rule::AlreadyPromoted,
            "the release is already promoted; roll back with a new deploy".into(),
        );
    }
    if state.phase.is_terminal() && call.has_side_effect() && !matches!(call, ToolCall::Rollback(_))
    {
        return veto(
            Rule::RolloutFinished,
            format!(
                "the rollout has ended ({:?}); no further changes",
                state.phase
            ),
        );
    }
    match &call {
        ToolCall::SetCanaryWeight(args) => check_weight(args.weight, state, now)?,
        ToolCall::Promote(_) => check_promote(state, now)?,
        ToolCall::RequestApproval(args) if args.without_pass => check_ask(state)?,
        ToolCall::ChooseStrategy(args) => strategy::check_choose(args.level, state)?,
        ToolCall::AddMetrics(args) => metrics::check_add(&args.metrics, state)?,
        ToolCall::GetDiff(_)
        | ToolCall::AssessRisk(_)
        | ToolCall::QueryMetrics(_)
        | ToolCall::Rollback(_)
        | ToolCall::RequestApproval(_) => {}
    }
    Ok(Allowed { call })
}

fn check_weight(weight: u8, state: &RolloutState, now: f64) -> Result<(), Veto> {
    let l = &state.limits;
    let current = state.weight;
    let veto = |rule, reason: String| Err(Veto { rule, reason });
    if weight > 100 {
        return veto(
            Rule::WeightRange,
            format!("weight must be 0–100, got {weight}"),
        );
    }
    if weight < current {
        return veto(
            Rule::WeightDecrease,
            format!("weight only goes up ({current}% → {weight}%); call rollback to go back"),
        );
    }
    if weight == current {
        return veto(
            Rule::WeightUnchanged,
            format!("the canary is already at {current}%"),
        );
    }
    check_approval(state)?;
    check_representable(weight, state)?;
    if current == 0 {
        if weight > l.max_first_weight {
            return veto(
                Rule::MaxFirstStep,
                format!(
                    "the first step may be at most {}% {}, got {weight}%",
                    l.max_first_weight,
                    strategy::limits_source(state)
                ),
            );
        }
        return Ok(());
    }
    if weight - current > l.max_step {
        return veto(
            Rule::MaxStep,
            format!(
                "steps may be at most {} points {} ({current}% → {weight}%)",
                l.max_step,
                strategy::limits_source(state)
            ),
        );
    }
    check_baked_and_passing(state, now, Some(weight))
}

/// Asking a human to go on without a Pass: only when policy lets humans decide
/// and the step has stayed Inconclusive for the bakes policy waits, once per weight.
fn check_ask(state: &RolloutState) -> Result<(), Veto> {
    let veto = |reason: String| {
        Err(Veto {
            rule: Rule::AskNotAllowed,
            reason,
        })
    };
    if !state.inconclusive.allows_asking() {
        return veto(
            "policy does not let a human go on without a Pass ([rollout.inconclusive] then = \"rollback\")".into(),
        );
    }
    if state.weight == 0 || !state.inconclusive_settled() {
        return veto(format!(
            "ask only when a step has stayed Inconclusive for {} bake periods (at {}%: {} judged, latest {})",
            state.inconclusive_bakes,
            state.weight,
            state.judgements_at_weight,
            state.verdict_kind().map_or("none yet", VerdictKind::as_str)
        ));
    }
    if state.asked_at == Some(state.weight) {
        return veto(format!("a human was already asked at {}%", state.weight));
    }
    Ok(())
}

fn check_promote(state: &RolloutState, now: f64) -> Result<(), Veto> {
    check_approval(state)?;
    let l = &state.limits;
    if l.unverified && state.weight == 0 {
        // Policy chose an unverified direct deploy (`verify_seconds = 0`).
        return Ok(());
    }
    if state.weight < l.promote_min_weight {
        return Err(Veto {
            rule: Rule::PromoteTooEarly,
            reason: format!(
                "promote needs the canary at {}% or more with a Pass verdict; it is at {}%",
                l.promote_min_weight, state.weight
            ),
        });
    }
    check_baked_and_passing(state, now, None)
}

/// The target must serve exactly what is allowed: a weight it would round
/// (up, for whole pods) is refused with the largest share it serves without
/// exceeding the request.
fn check_representable(weight: u8, state: &RolloutState) -> Result<(), Veto> {
    let g = &state.granularity;
    if g.exact(state.weight, weight) {
        return Ok(());
    }
    let below = g.floor(state.weight, weight);
    let hint = if below > state.weight {
        format!("the most it serves without exceeding {weight}% is {below}%: propose {below}%")
    } else {
        match g.next_above(state.weight) {
            Some(next) => format!(
                "its smallest share above {}% is {next}%, more than {weight}%",
                state.weight
            ),
            None => format!("it serves no share above {}%", state.weight),
        }
    };
    Err(Veto {
        rule: Rule::TargetGranularity,
        reason: format!(
            "the target cannot serve exactly {weight}% ({}); {hint}",
            g.describe()
        ),
    })
}

fn check_approval(state: &RolloutState) -> Result<(), Veto> {
    if state.approval_rejected() {
        return Err(Veto {
            rule: Rule::ApprovalRejected,
            reason: "the approver rejected this rollout; no traffic may move".into(),
        });
    }
    if state.approval_missing() {
        return Err(Veto {
            rule: Rule::ApprovalRequired,
            reason: format!(
                "policy requires a human approval before traffic moves ({}); call request_approval",
                state.risk.approval_reasons.join("; ")
            ),
        });
    }
    Ok(())
}

/// The canary baked long enough at this weight and the verdict allows going
/// on to `next` % (None: promotion): a Pass, or an Inconclusive step that
/// policy or a human lets go on (see [`RolloutState::may_go_on_without_pass`]).
fn check_baked_and_passing(state: &RolloutState, now: f64, next: Option<u8>) -> Result<(), Veto> {
    let baked = state.baked(now);
    let need = state.limits.min_bake_seconds;
    if baked + 1e-9 < need {
        return Err(Veto {
            rule: Rule::BakeTime,
            reason: format!(
                "the canary has baked {baked:.0} s of {need:.0} s at {}%; call query_metrics to wait",
                state.weight
            ),
        });
    }
    match state.verdict_kind() {
        Some(VerdictKind::Pass) => {}
        Some(VerdictKind::Inconclusive) if state.may_go_on_without_pass(next).is_ok() => {}
        other => {
            let without = match other {
                Some(VerdictKind::Inconclusive) => state
                    .may_go_on_without_pass(next)
                    .err()
                    .map_or(String::new(), |why| format!(" (not without one: {why})")),
                _ => String::new(),
            };
            return Err(Veto {
                rule: Rule::VerdictNotPass,
                reason: format!(
                    "no increase without a Pass verdict at {}% (latest: {}){without}; call query_metrics",
                    state.weight,
                    other.map_or("none yet", VerdictKind::as_str)
                ),
            });
        }
    }
    // The Pass must rest on evidence from the whole bake at this weight and be
    // recent: a verdict judged before the bake ended, or long ago, is not what
    // the canary does now.
    let bake_end = state.weight_changed_at + need;
    if state.verdict_until + 1e-9 < bake_end {
        return Err(Veto {
            rule: Rule::StaleVerdict,
            reason: format!(
                "the verdict at {}% rests on {:.0} s of the {need:.0} s bake; call query_metrics for a verdict on the whole bake",
                state.weight,
                (state.verdict_until - state.weight_changed_at).max(0.0)
            ),
        });
    }
    let age = now - state.verdict_until;
    if age > state.max_verdict_age + 1e-9 {
        return Err(Veto {
            rule: Rule::StaleVerdict,
            reason: format!(
                "the verdict at {}% is {age:.0} s old (at most {:.0} s); call query_metrics for a fresh verdict",
                state.weight, state.max_verdict_age
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
