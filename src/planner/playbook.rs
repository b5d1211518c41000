//! The playbook planner: no model. It plays the policy's strategy for the assessed
//! risk through the same tools and the same guard as a model would.

use async_trait::async_trait;

use super::{Feedback, Plan, Planner, PlannerError};
use crate::canary::VerdictKind;
use crate::rollout::state::RolloutState;
use crate::tools::ProposedCall;

/// Plays: assess → approval if required → first weight → bake and judge → step
/// up on Pass → promote from the policy's promotion weight. Gives up (rolls back)
/// after `max_inconclusive` judgements at one weight without a Pass.
#[derive(Debug, Clone)]
pub struct PlaybookPlanner {
    max_inconclusive: u32,
    assessed: bool,
    asked_approval: bool,
    next_id: u32,
}

impl PlaybookPlanner {
    pub fn new(max_inconclusive: u32) -> Self {
        Self {
            max_inconclusive,
            assessed: false,
            asked_approval: false,
            next_id: 0,
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

    fn decide(&mut self, s: &RolloutState) -> Plan {
        use serde_json::json;
        if !self.assessed {
            self.assessed = true;
            return self.call("assess_risk", json!({}));
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
            if limits.direct {
                return self.call(
                    "promote",
                    json!({"reason": "low risk: direct rollout per policy"}),
                );
            }
            // The largest first step the target serves exactly.
            let first = s.granularity.floor(0, limits.max_first_weight);
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
                if s.weight >= limits.promote_min_weight {
                    return self.call(
                        "promote",
                        json!({"reason": format!("Pass at {}%", s.weight)}),
                    );
                }
                let step = s.weight.saturating_add(limits.max_step).min(100);
                let next = s.granularity.floor(s.weight, step);
                if next <= s.weight {
                    return self.call(
                        "rollback",
                        json!({"reason": format!(
                            "the target cannot serve a step of at most {} points from {}% ({})",
                            limits.max_step,
                            s.weight,
                            s.granularity.describe()
                        )}),
                    );
                }
                self.call(
                    "set_canary_weight",
                    json!({"weight": next, "reason": format!("Pass at {}%", s.weight)}),
                )
            }
            Some(VerdictKind::Fail) => {
                self.call("rollback", json!({"reason": "canary verdict Fail"}))
            }
            Some(kind) if s.judgements_at_weight >= self.max_inconclusive => self.call(
                "rollback",
                json!({"reason": format!(
                    "{} judgements at {}% without a Pass (latest {})",
                    s.judgements_at_weight, s.weight, kind.as_str()
                )}),
            ),
            _ => self.call("query_metrics", json!({})),
        }
    }
}

#[async_trait]
impl Planner for PlaybookPlanner {
    fn name(&self) -> String {
        "playbook".into()
    }

    async fn next(
        &mut self,
        state: &RolloutState,
        _feedback: &[Feedback],
    ) -> Result<Plan, PlannerError> {
        Ok(self.decide(state))
    }
}
