//! What a refusal of a tool call cites: the rule ids (stable: reports and
//! evals count by them) and the veto itself. Both [`super::parse`] (a malformed
//! proposal) and the guard (a call policy forbids) answer with a [`Veto`].

use serde::Serialize;

/// The rules a veto can cite. Ids are stable: reports and evals count by them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    UnknownTool,
    InvalidArguments,
    RolloutFinished,
    WeightRange,
    WeightDecrease,
    WeightUnchanged,
    ApprovalRequired,
    ApprovalRejected,
    MaxFirstStep,
    MaxStep,
    BakeTime,
    VerdictNotPass,
    StaleVerdict,
    TargetGranularity,
    PromoteTooEarly,
    AlreadyPromoted,
    AskNotAllowed,
    /// `choose_strategy` after traffic moved: limits change only before the first step.
    StrategyAfterTraffic,
    /// `choose_strategy` for a strategy with a looser limit than the current one.
    StrategyTooFast,
    /// `add_metrics` naming a metric the service's catalogue does not list
    /// (or an empty list): the catalogue is the allow-list.
    MetricNotInCatalogue,
    /// `add_metrics` after traffic moved: the judged metrics are fixed before the first step.
    MetricsAfterTraffic,
    /// `add_metrics` under a `direct` strategy: no side-by-side baseline to compare with.
    MetricsNeedCanary,
    BudgetTurns,
    BudgetTokens,
    BudgetDuration,
    CircuitBreaker,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::UnknownTool => "unknown_tool",
            Rule::InvalidArguments => "invalid_arguments",
            Rule::RolloutFinished => "rollout_finished",
            Rule::WeightRange => "weight_range",
            Rule::WeightDecrease => "weight_decrease",
            Rule::WeightUnchanged => "weight_unchanged",
            Rule::ApprovalRequired => "approval_required",
            Rule::ApprovalRejected => "approval_rejected",
            Rule::MaxFirstStep => "max_first_step",
            Rule::MaxStep => "max_step",
            Rule::BakeTime => "bake_time",
            Rule::VerdictNotPass => "verdict_not_pass",
            Rule::StaleVerdict => "stale_verdict",
            Rule::TargetGranularity => "target_granularity",
            Rule::PromoteTooEarly => "promote_too_early",
            Rule::AlreadyPromoted => "already_promoted",
            Rule::AskNotAllowed => "ask_not_allowed",
            Rule::StrategyAfterTraffic => "strategy_after_traffic",
            Rule::StrategyTooFast => "strategy_too_fast",
            Rule::MetricNotInCatalogue => "metric_not_in_catalogue",
            Rule::MetricsAfterTraffic => "metrics_after_traffic",
            Rule::MetricsNeedCanary => "metrics_need_canary",
            Rule::BudgetTurns => "budget_turns",
            Rule::BudgetTokens => "budget_tokens",
            Rule::BudgetDuration => "budget_duration",
            Rule::CircuitBreaker => "circuit_breaker",
        }
    }
}

/// A refusal: the rule and a reason short and safe enough to show the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Veto {
    pub rule: Rule,
    pub reason: String,
}
