//! The playbook planner: no model. It plays the policy's strategy for the assessed
//! risk through the same tools and the same guard as a model would.

use async_trait::async_trait;
use serde_json::json;

use super::{Feedback, Plan, Planner, PlannerError};
use crate::canary::VerdictKind;
use crate::policy::OnInconclusive;
use crate::rollout::state::RolloutState;
use crate::tools::ProposedCall;

/// Plays: assess → approval if required → first weight (all of it for a
/// direct deploy, then verified) → bake and judge → step up on Pass → promote
/// from the policy's promotion weight. A Fail rolls back (the loop does that
/// itself). A step without a Pass after `max_inconclusive` judgements: missing
/// data rolls back; an Inconclusive one follows `[rollout.inconclusive]` —
/// hold (judge on) within its time budget, then step on bounded harm, ask a
/// human with the numbers, or roll back, as policy says. It never adds
/// catalogue metrics (`add_metrics`): which endpoint a diff touches is a
/// reading of the change the playbook does not make.
#[derive(Debug, Clone)]
pub struct PlaybookPlanner {
    max_inconclusive: u32,
    assessed: bool,
    asked_approval: bool,
    next_id: u32,
    /// Seconds held at earlier weights, and when holding began at this one.
    held: f64,
    holding: Option<(u8, f64)>,
    /// A question for a human before anything else (see [`Self::asking`]).
    ask_first: Option<String>,
}

impl PlaybookPlanner {
    pub fn new(max_inconclusive: u32) -> Self {
        Self {
            max_inconclusive,
            assessed: false,
            asked_approval: false,
            next_id: 0,
            held: 0.0,
            holding: None,
            ask_first: None,
        }
    }

    /// Asks a human `summary` (with the risk) before playing on: a refusal
    /// ends the rollout aborted, as any refused approval does. Used when a
    /// model asked to stop before any traffic and policy says `on_model_stop
    /// = "ask"`.
    pub fn asking(mut self, summary: String) -> Self {
        self.ask_first = Some(summary);
        self
    }

    /// A playbook that takes over a rollout another planner began, from what
    /// the rollout state says was already done: the risk is policy's and
    /// already in the state (no `assess_risk` again), an approval already
    /// decided is not asked again, and the weight and verdicts are the
    /// state's, so it goes on from the current step and never back (only the
    /// judge's Fail or a rollback ends lower). Time held on an Inconclusive
    /// step counts from the take-over: it may hold longer than a planner
    /// that held from the start, never step sooner.
    pub fn taking_over(max_inconclusive: u32, state: &RolloutState) -> Self {
        Self {
            assessed: true,
            asked_approval: state.approval.is_some(),
            ..Self::new(max_inconclusive)
        }
    }

    fn call(&mut self, name: &str, arguments: serde_json::Value) -> Plan {
        self.next_id += 1;
        Plan {
            calls: vec![ProposedCall {
                id: format!("playbook-{}", self.next_id),
                name: name.to_string(),
                arguments: arguments.to_string(),
            }],
            ..Plan::default()
        }
    }

    pub(super) fn decide(&mut self, s: &RolloutState) -> Plan {
        if !self.assessed {
            self.assessed = true;
            return self.call("assess_risk", json!({}));
        }
        if let Some(question) = self.ask_first.take().filter(|_| s.approval.is_none()) {
            self.asked_approval = true;
            let summary = format!(
                "{question} Risk {:.2} ({}). {}",
                s.risk.score,
                s.risk.level.as_str(),
                s.risk.approval_reasons.join("; ")
            );
            return self.call("request_approval", json!({ "summary": summary.trim_end() }));
        }
        if s.risk.requires_approval && s.approval.is_none() && !self.asked_approval {
            self.asked_approval = true;
            let summary = format!(
                "Risk {:.2} ({}). {}",
                s.risk.score,
                s.risk.level.as_str(),
                s.risk.approval_reasons.join("; ")
            );
            return self.call("request_approval", json!({ "summary": summary }));
        }
        let limits = s.limits;
        if s.weight == 0 {
            if limits.unverified {
                return self.call(
                    "promote",
                    json!({"reason": "direct deploy without verification, as policy allows (verify_seconds = 0)"}),
                );
            }
            // The largest first step the target serves exactly (all of it for
            // a direct deploy, which is then verified before/after).
            let first = s.granularity.floor(0, limits.max_first_weight);
            if limits.direct && first == 100 {
                return self.call(
                    "set_canary_weight",
                    json!({"weight": 100, "reason": format!(
                        "direct deploy per policy: all traffic to the new version, verified against the previous version for {:.0} s before promotion",
                        limits.min_bake_seconds
                    )}),
                );
            }
            if first == 0 {
                return self.call(
                    "rollback",
                    json!({"reason": format!(
                        "the target cannot serve a first step of at most {}% ({})",
                        limits.max_first_weight,
                        s.granularity.describe()
                    )}),
                );
            }
            return self.call(
                "set_canary_weight",
                json!({"weight": first, "reason": "first canary step per policy"}),
            );
        }
        match s.verdict_kind() {
            Some(VerdictKind::Pass) if s.baked(s.weight_changed_at) >= 0.0 => {
                self.go_on(s, format!("Pass at {}%", s.weight))
            }
            Some(VerdictKind::Fail) => {
                self.call("rollback", json!({"reason": "canary verdict Fail"}))
            }
            Some(VerdictKind::Inconclusive) if s.continued_at == Some(s.weight) => self.go_on(
                s,
                format!("a human decided to go on from {}% without a Pass", s.weight),
            ),
            Some(VerdictKind::Inconclusive) if s.judgements_at_weight >= self.max_inconclusive => {
                self.inconclusive(s)
            }
            Some(kind) if s.judgements_at_weight >= self.max_inconclusive => self.call(
                "rollback",
                json!({"reason": format!(
                    "{} judgements at {}% without a Pass (latest {}): missing data never passes",
                    s.judgements_at_weight, s.weight, kind.as_str()
                )}),
            ),
            _ => {
                // One call for the bake periods still to wait at this weight.
                let left = self
                    .max_inconclusive
                    .saturating_sub(s.judgements_at_weight)
                    .max(1);
                // (At most a day: the rollout's own duration budget ends it sooner.)
                let wait = (f64::from(left) * s.limits.min_bake_seconds).min(86_400.0);
                self.call("query_metrics", json!({"wait_seconds": wait.ceil() as u64}))
            }
        }
    }

    /// The next step up, or the promotion, for `why`.
    fn go_on(&mut self, s: &RolloutState, why: String) -> Plan {
        let limits = s.limits;
        if s.weight >= limits.promote_min_weight {
            return self.call("promote", json!({ "reason": why }));
        }
        match self.next_weight(s) {
            Some(next) => self.call("set_canary_weight", json!({"weight": next, "reason": why})),
            None => self.call(
                "rollback",
                json!({"reason": format!(
                    "the target cannot serve a step of at most {} points from {}% ({})",
                    limits.max_step,
                    s.weight,
                    s.granularity.describe()
                )}),
            ),
        }
    }

    /// The largest step the policy and the target allow, if any.
    fn next_weight(&self, s: &RolloutState) -> Option<u8> {
        let step = s.weight.saturating_add(s.limits.max_step).min(100);
        let next = s.granularity.floor(s.weight, step);
        (next > s.weight).then_some(next)
    }

    /// The step stayed Inconclusive for the bakes policy waits: hold within
    /// the budget, then step on bounded harm, ask, or roll back.
    fn inconclusive(&mut self, s: &RolloutState) -> Plan {
        let policy = s.inconclusive;
        let now = s.verdict_until;
        let since = match self.holding {
            Some((w, since)) if w == s.weight => since,
            _ => {
                if let Some((_, since)) = self.holding.take() {
                    self.held += (now - since).max(0.0);
                }
                self.holding = Some((s.weight, now));
                now
            }
        };
        let left = policy.hold_seconds - self.held - (now - since);
        if left > 0.0 {
            let wait = left.min(86_400.0).ceil() as u64;
            return self.call("query_metrics", json!({"wait_seconds": wait}));
        }
        let settled = format!(
            "Inconclusive at {}% after {} bake periods and {:.0} s of holding",
            s.weight,
            s.judgements_at_weight,
            self.held + (now - since)
        );
        if policy.then == OnInconclusive::Rollback {
            return self.call(
                "rollback",
                json!({"reason": format!("{settled}: policy rolls back without a Pass")}),
            );
        }
        if s.weight < s.limits.promote_min_weight {
            if let Some(next) = self.next_weight(s) {
                let harm = s.verdict.as_ref().and_then(|v| v.harm.as_ref());
                if let Ok(bound) = policy.unproven_step(harm, next) {
                    return self.call(
                        "set_canary_weight",
                        json!({"weight": next, "reason": format!("{settled}; no evidence of harm, and at worst: {bound}")}),
                    );
                }
            }
        }
        if s.asked_at != Some(s.weight) {
            return self.call(
                "request_approval",
                json!({"summary": format!("{settled}. Go on without a Pass?"), "without_pass": true}),
            );
        }
        self.call("query_metrics", json!({}))
    }
}

#[async_trait]
impl Planner for PlaybookPlanner {
    fn name(&self) -> String {
        "playbook".into()
    }

    fn writes_rust_text(&self) -> bool {
        true
    }

    async fn next(
        &mut self,
        state: &RolloutState,
        _feedback: &[Feedback],
    ) -> Result<Plan, PlannerError> {
        Ok(self.decide(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Level, Strategy};
    use crate::rollout::state::{Limits, RiskSnapshot};

    /// The playbook plays `state.limits`, not the assessed strategy: after a
    /// model chose a more cautious one and handed over, it keeps it.
    #[test]
    fn a_taking_over_playbook_plays_the_chosen_slower_limits() {
        let direct = Strategy::Direct {
            verify_seconds: 300,
        };
        let risk = RiskSnapshot {
            score: 0.1,
            level: Level::Low,
            requires_approval: false,
            approval_reasons: vec![],
            strategy: direct.clone(),
        };
        let mut s = RolloutState::new("r1".into(), risk, Limits::new(&direct), 0.0);
        s.limits = Limits::new(&Strategy::Canary {
            first_weight: 5,
            step: 15,
            bake_seconds: 300,
            promote_at: 50,
        });
        let plan = PlaybookPlanner::taking_over(6, &s).decide(&s);
        assert_eq!(plan.calls[0].name, "set_canary_weight");
        let args: serde_json::Value = serde_json::from_str(&plan.calls[0].arguments).unwrap();
        assert_eq!(args["weight"], 5, "not the direct deploy's 100 %");
    }
}
