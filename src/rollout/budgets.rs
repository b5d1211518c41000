//! The loop's limits: the circuit breaker on vetoes and the budgets (turns,
//! tokens, wall-clock). Running out ends the rollout safely, never in a
//! half-shifted state left alone.

use serde_json::json;

use super::events::Event;
use super::runner::Runner;
use super::state::Outcome;
use super::VetoRecord;
use crate::guard::{Rule, Veto};
use crate::tools::ProposedCall;

impl Runner<'_> {
    pub(super) async fn vetoed(&mut self, call: &ProposedCall, veto: Veto) -> serde_json::Value {
        self.state.vetoes += 1;
        self.state.consecutive_vetoes += 1;
        let tool: String = call.name.chars().take(60).collect();
        self.emit(Event::Vetoed {
            call_id: call.id.clone(),
            tool: tool.clone(),
            rule: veto.rule,
            reason: veto.reason.clone(),
        });
        self.vetoes.push(VetoRecord {
            call_id: call.id.clone(),
            tool,
            rule: veto.rule,
            reason: veto.reason.clone(),
        });
        let l = self.limits;
        if self.state.consecutive_vetoes >= l.max_consecutive_vetoes
            || self.state.vetoes >= l.max_vetoes
        {
            let detail = format!(
                "{} vetoes ({} in a row); limits {} in a row, {} in total",
                self.state.vetoes,
                self.state.consecutive_vetoes,
                l.max_consecutive_vetoes,
                l.max_vetoes
            );
            self.emit(Event::BudgetExhausted {
                rule: Rule::CircuitBreaker,
                detail: detail.clone(),
            });
            self.end_safely(Outcome::Aborted, format!("circuit breaker: {detail}"))
                .await;
        }
        json!({"vetoed": true, "rule": veto.rule.as_str(), "reason": veto.reason})
    }

    fn budget_exhausted(&self) -> Option<(Rule, String)> {
        let l = &self.limits;
        let s = &self.state;
        if s.turns >= l.max_turns {
            return Some((
                Rule::BudgetTurns,
                format!("{} planner turns used of {}", s.turns, l.max_turns),
            ));
        }
        if s.tokens() >= l.max_tokens {
            return Some((
                Rule::BudgetTokens,
                format!("{} tokens used of {}", s.tokens(), l.max_tokens),
            ));
        }
        let elapsed = self.now() - s.started_at;
        if elapsed >= l.max_duration_seconds as f64 {
            return Some((
                Rule::BudgetDuration,
                format!("{elapsed:.0} s elapsed of {} s", l.max_duration_seconds),
            ));
        }
        None
    }

    /// Ends the rollout when a budget is spent; true when it did.
    pub(super) async fn end_if_over_budget(&mut self) -> bool {
        let Some((rule, detail)) = self.budget_exhausted() else {
            return false;
        };
        self.emit(Event::BudgetExhausted {
            rule,
            detail: detail.clone(),
        });
        self.end_safely(Outcome::Aborted, format!("{}: {detail}", rule.as_str()))
            .await;
        true
    }
}
