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
use crate::policy::{OnModelFailure, OnModelStop, RolloutPolicy};
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
        let playbook = PlaybookPlanner::taking_over(self.rollout.max_inconclusive_bakes, state);
        self.hand_to(playbook, state, reason, spent)
    }

    /// Hands over to `playbook` (see [`Self::take_over`]).
    fn hand_to(
        &mut self,
        mut playbook: PlaybookPlanner,
        state: &RolloutState,
        reason: String,
        spent: Plan,
    ) -> Plan {
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

    /// The model's reason when it asks to stop before any traffic moved and
    /// policy puts that to a human (`on_model_stop = "ask"`, no approval
    /// decided yet). A rollback after a weight change in the same plan is an
    /// ordinary rollback of a canary that served.
    fn stop_to_ask(&self, state: &RolloutState, plan: &Plan) -> Option<String> {
        if self.rollout.on_model_stop != OnModelStop::Ask
            || state.traffic_moved()
            || state.approval.is_some()
        {
            return None;
        }
        let first_effect = plan.calls.iter().find(|c| {
            matches!(
                c.name.as_str(),
                "rollback" | "set_canary_weight" | "promote"
            )
        })?;
        if first_effect.name != "rollback" {
            return None;
        }
        let args: serde_json::Value =
            serde_json::from_str(&first_effect.arguments).unwrap_or_default();
        let reason: String = args["reason"]
            .as_str()
            .unwrap_or("no reason given")
            .chars()
            .take(300)
            .collect();
        Some(reason)
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
        if let Some(why) = self.stop_to_ask(state, &plan) {
            let question = format!(
                "The model asked to stop this rollout before any traffic moved: \"{why}\". Approve to roll it out by the policy's strategy (the playbook plans it; the guard and the judge as ever); refuse to stop it."
            );
            let playbook = PlaybookPlanner::taking_over(self.rollout.max_inconclusive_bakes, state)
                .asking(question);
            let reason = format!(
                "the model asked to stop before any traffic moved (\"{why}\"); on_model_stop = ask: a human decides"
            );
            return Ok(self.hand_to(playbook, state, reason, plan));
        }
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
mod tests;
