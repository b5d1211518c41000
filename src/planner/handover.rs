//! Repair, then degrade, never stall: a model planner wrapped so that a weak or
//! failing model hands the rollout to the playbook instead of aborting it.
//!
//! A model's first malformed call (invalid arguments, an unknown tool) or
//! text-only turn gets one repair turn: the feedback carries the parse error,
//! the tool's JSON Schema and an instruction to call again ([`super::repair`]).
//! After `[rollout] max_invalid_turns` such turns in a row — or earlier, when
//! one more would trip the circuit breaker or the loop's idle stop — and when
//! the model endpoint fails and `on_model_failure = "playbook"`, the playbook
//! takes over for the rest of the rollout from where the rollout stands
//! ([`PlaybookPlanner::taking_over`]). The loop and the guard do not change:
//! every call of either planner still goes through parse → guard → execute,
//! and the loop learns of the change through [`Planner::take_handover`].

use async_trait::async_trait;

use super::repair::{is_malformed, repaired};
use super::{Feedback, Handover, Plan, Planner, PlannerError, PlaybookPlanner};
use crate::policy::{OnModelFailure, RolloutPolicy};
use crate::rollout::state::RolloutState;
use crate::rollout::MAX_IDLE_TURNS;

/// A primary planner (a model) with the playbook behind it.
pub struct HandoverPlanner {
    primary: Box<dyn Planner>,
    /// Set once the playbook has taken over; it plans to the end.
    playbook: Option<PlaybookPlanner>,
    rollout: RolloutPolicy,
    /// The primary's turns in a row with a malformed call or no call.
    invalid_turns: u32,
    /// The primary's last plan had no call (an idle turn).
    last_idle: bool,
    /// The primary's idle turns in a row, as the loop counts them.
    idle_run: u32,
    /// The hand-over not yet reported to the loop.
    pending: Option<Handover>,
}

impl HandoverPlanner {
    /// `primary` plans until it cannot; the limits and `on_model_failure` are
    /// the policy's `[rollout]` section.
    pub fn new(primary: Box<dyn Planner>, rollout: &RolloutPolicy) -> Self {
        Self {
            primary,
            playbook: None,
            rollout: *rollout,
            invalid_turns: 0,
            last_idle: false,
            idle_run: 0,
            pending: None,
        }
    }

    /// Whether the playbook plans now.
    pub fn handed_over(&self) -> bool {
        self.playbook.is_some()
    }

    /// Hands over for `reason` and returns the playbook's first plan, with
    /// what the primary spent on this turn (`spent`) still counted.
    fn take_over(&mut self, state: &RolloutState, reason: String, spent: Plan) -> Plan {
        let mut playbook = PlaybookPlanner::taking_over(self.rollout.max_inconclusive_bakes, state);
        let mut plan = playbook.decide(state);
        self.pending = Some(Handover {
            from: self.primary.name(),
            to: playbook.name(),
            reason,
        });
        self.playbook = Some(playbook);
        plan.prompt_tokens = spent.prompt_tokens;
        plan.completion_tokens = spent.completion_tokens;
        plan.prompt_hash = spent.prompt_hash;
        plan.message = spent.message;
        plan
    }

    /// Counts the turn the feedback answers; returns why to hand over before
    /// asking the primary again, if it should.
    fn count(&mut self, state: &RolloutState, feedback: &[Feedback]) -> Option<String> {
        let malformed = feedback.iter().filter(|f| is_malformed(f)).count();
        if malformed > 0 || self.last_idle {
            self.invalid_turns += 1;
        } else if !feedback.is_empty() {
            self.invalid_turns = 0;
        }
        let what = |n: u32| {
            format!("{n} model turn(s) in a row without a valid tool call (malformed arguments, an unknown tool, or no call)")
        };
        if self.invalid_turns >= self.rollout.max_invalid_turns {
            return Some(format!(
                "{}, max_invalid_turns {}",
                what(self.invalid_turns),
                self.rollout.max_invalid_turns
            ));
        }
        // One more veto would end the rollout by the circuit breaker: the
        // repair turn would be the model's last, and a failed one an abort.
        let breaker = self.rollout.max_consecutive_vetoes;
        if malformed > 0 && state.consecutive_vetoes.saturating_add(1) >= breaker {
            return Some(format!(
                "{}, and {} vetoes in a row of max_consecutive_vetoes {}",
                what(self.invalid_turns),
                state.consecutive_vetoes,
                breaker
            ));
        }
        None
    }
}

#[async_trait]
impl Planner for HandoverPlanner {
    /// `llm:<model>` until the hand-over, then `llm:<model> → playbook`.
    fn name(&self) -> String {
        match &self.playbook {
            Some(p) => format!("{} → {}", self.primary.name(), p.name()),
            None => self.primary.name(),
        }
    }

    /// The playbook's after the hand-over, the primary's before.
    fn writes_rust_text(&self) -> bool {
        self.playbook.is_some() || self.primary.writes_rust_text()
    }

    async fn next(
        &mut self,
        state: &RolloutState,
        feedback: &[Feedback],
    ) -> Result<Plan, PlannerError> {
        if let Some(playbook) = &mut self.playbook {
            return playbook.next(state, feedback).await;
        }
        if let Some(reason) = self.count(state, feedback) {
            return Ok(self.take_over(state, reason, Plan::default()));
        }
        let plan = match self.primary.next(state, &repaired(feedback)).await {
            Ok(plan) => plan,
            Err(e) if self.rollout.on_model_failure == OnModelFailure::Playbook => {
                return Ok(self.take_over(state, e.to_string(), Plan::default()));
            }
            Err(e) => return Err(e),
        };
        self.last_idle = plan.calls.is_empty();
        self.idle_run = if self.last_idle { self.idle_run + 1 } else { 0 };
        if self.idle_run >= MAX_IDLE_TURNS {
            // The loop would stop the rollout on this turn; the playbook plays it instead.
            let reason = format!("{} model turns in a row without a tool call", self.idle_run);
            return Ok(self.take_over(state, reason, plan));
        }
        Ok(plan)
    }

    fn notify(&mut self, note: &str) {
        match &mut self.playbook {
            Some(p) => p.notify(note),
            None => self.primary.notify(note),
        }
    }

    fn take_handover(&mut self) -> Option<Handover> {
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use serde_json::json;

    use super::*;
    use crate::policy::{Level, Policy, Strategy};
    use crate::rollout::state::{Limits, RiskSnapshot};
    use crate::tools::{ProposedCall, Rule};

    /// A primary that answers from a script and counts its turns.
    struct Scripted(VecDeque<Plan>);

    #[async_trait]
    impl Planner for Scripted {
        fn name(&self) -> String {
            "llm:scripted".into()
        }
        async fn next(&mut self, _: &RolloutState, _: &[Feedback]) -> Result<Plan, PlannerError> {
            Ok(self.0.pop_front().unwrap_or_default())
        }
    }

    fn state() -> RolloutState {
        let strategy = Strategy::Canary {
            first_weight: 5,
            step: 15,
            bake_seconds: 300,
            promote_at: 50,
        };
        let risk = RiskSnapshot {
            score: 0.3,
            level: Level::Medium,
            requires_approval: false,
            approval_reasons: vec![],
            strategy: strategy.clone(),
        };
        RolloutState::new("r1".into(), risk, Limits::new(&strategy), 0.0)
    }

    fn wrapped(script: Vec<Plan>, edit: impl FnOnce(&mut RolloutPolicy)) -> HandoverPlanner {
        let mut rollout = Policy::embedded().unwrap().rollout;
        edit(&mut rollout);
        HandoverPlanner::new(Box::new(Scripted(script.into())), &rollout)
    }

    fn one_call(name: &str) -> Plan {
        Plan {
            calls: vec![ProposedCall {
                id: "m1".into(),
                name: name.into(),
                arguments: "{".into(),
            }],
            ..Plan::default()
        }
    }

    fn vetoed(rule: Rule) -> Vec<Feedback> {
        vec![Feedback {
            call_id: "m1".into(),
            tool: "set_canary_weight".into(),
            content: json!({"vetoed": true, "rule": rule.as_str(), "reason": "x"}),
        }]
    }

    #[tokio::test]
    async fn a_malformed_turn_one_veto_before_the_breaker_hands_over_at_once() {
        let mut p = wrapped(vec![one_call("set_canary_weight"); 3], |_| {});
        let mut s = state();
        s.consecutive_vetoes = 2; // a policy veto, then this malformed call
        let plan = p.next(&s, &vetoed(Rule::InvalidArguments)).await.unwrap();
        let h = p.take_handover().expect("handed over");
        assert!(
            h.reason.contains("max_consecutive_vetoes 3"),
            "{}",
            h.reason
        );
        assert_eq!(plan.calls[0].name, "set_canary_weight");
        assert!(
            plan.calls[0].id.starts_with("playbook-"),
            "{:?}",
            plan.calls
        );
        assert_eq!(p.name(), "llm:scripted → playbook");
        assert!(p.take_handover().is_none(), "reported once");
    }

    #[tokio::test]
    async fn a_policy_veto_is_the_models_to_replan_and_a_valid_turn_resets_the_count() {
        let mut p = wrapped(vec![one_call("set_canary_weight"); 4], |_| {});
        let s = state();
        p.next(&s, &[]).await.unwrap();
        p.next(&s, &vetoed(Rule::InvalidArguments)).await.unwrap();
        p.next(&s, &vetoed(Rule::MaxStep)).await.unwrap();
        p.next(&s, &vetoed(Rule::InvalidArguments)).await.unwrap();
        assert!(p.take_handover().is_none());
        assert!(!p.handed_over());
    }

    #[tokio::test]
    async fn text_only_turns_hand_over_before_the_loop_stops_them() {
        let mut p = wrapped(vec![Plan::default(); 5], |r| {
            r.max_invalid_turns = 5;
            r.max_consecutive_vetoes = 10;
        });
        let s = state();
        for _ in 1..MAX_IDLE_TURNS {
            assert!(p.next(&s, &[]).await.unwrap().calls.is_empty());
        }
        let plan = p.next(&s, &[]).await.unwrap();
        assert_eq!(plan.calls.len(), 1, "the playbook plays this turn");
        let h = p.take_handover().expect("handed over");
        assert!(h.reason.contains("without a tool call"), "{}", h.reason);
    }

    #[tokio::test]
    async fn an_abort_policy_passes_the_endpoint_failure_on() {
        struct Down;
        #[async_trait]
        impl Planner for Down {
            fn name(&self) -> String {
                "llm:down".into()
            }
            async fn next(
                &mut self,
                _: &RolloutState,
                _: &[Feedback],
            ) -> Result<Plan, PlannerError> {
                Err(PlannerError::Llm(crate::llm::LlmError::Transport(
                    "down".into(),
                )))
            }
        }
        let mut rollout = Policy::embedded().unwrap().rollout;
        rollout.on_model_failure = OnModelFailure::Abort;
        let mut p = HandoverPlanner::new(Box::new(Down), &rollout);
        assert!(p.next(&state(), &[]).await.is_err());
        assert!(p.take_handover().is_none());
    }
}
