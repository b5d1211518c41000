//! Executing allowed calls against the world. Only calls the guard allowed get
//! here (the functions take an [`Allowed`]); what the planner sees is kept short
//! and safe, the full detail goes to the event stream.

use serde_json::{json, Value};

use crate::canary::VerdictKind;

use super::events::Event;
use super::runner::Runner;
use super::state::{Outcome, Phase};
use crate::guard::Allowed;
use crate::tools::ToolCall;
use crate::traffic::TrafficError;

/// A call that did not do what was asked: the full error for operators and
/// what the planner is shown (true to the target's read-back).
pub(super) struct Failed {
    pub error: String,
    pub shown: Value,
}

impl Runner<'_> {
    /// Executes one allowed call and returns the planner's view of the result.
    pub(super) async fn execute(&mut self, call_id: &str, allowed: Allowed) -> Value {
        let result = match allowed.call().clone() {
            ToolCall::GetDiff(a) => Ok(self.get_diff(a.max_bytes)),
            ToolCall::AssessRisk(_) => Ok(self.assess_risk()),
            ToolCall::ChooseStrategy(a) => self.choose_strategy(a.level, a.reason),
            ToolCall::AddMetrics(a) => Ok(self.add_metrics(a.metrics, a.reason)),
            ToolCall::SetCanaryWeight(a) => self.set_weight(a.weight).await,
            ToolCall::QueryMetrics(a) => Ok(self.query_metrics(a.wait_seconds).await),
            ToolCall::Rollback(a) => {
                self.model_reason = !self.rust_planner;
                self.end_safely(
                    Outcome::RolledBack,
                    format!("planner rolled back: {}", a.reason),
                )
                .await;
                Ok(json!({"rolled_back": self.state.phase == Phase::RolledBack}))
            }
            ToolCall::RequestApproval(a) => {
                Ok(self.request_approval(a.summary, a.without_pass).await)
            }
            ToolCall::Promote(a) => self.promote(a.reason).await,
        };
        let tool = allowed.call().name().to_string();
        match result {
            Ok(value) => {
                let detail = value.to_string().chars().take(500).collect();
                self.emit(Event::ToolExecuted {
                    call_id: call_id.to_string(),
                    tool,
                    detail,
                });
                value
            }
            Err(failed) => {
                self.emit(Event::ToolFailed {
                    call_id: call_id.to_string(),
                    tool,
                    error: failed.error,
                });
                failed.shown
            }
        }
    }

    /// Counts a change the target refused; a target set up wrong, or one that
    /// refuses `max_target_failures` changes in a row, ends the rollout with
    /// the real cause rather than letting the planner retry until its budget.
    pub(super) async fn target_failed(&mut self, e: &TrafficError) {
        self.target_failures += 1;
        let n = self.target_failures;
        if !e.is_transient() {
            self.end_safely(
                Outcome::Aborted,
                format!("the target is misconfigured: {e}"),
            )
            .await;
        } else if n >= self.limits.max_target_failures {
            self.end_safely(
                Outcome::Aborted,
                format!("the target failed {n} traffic change(s) in a row; the last: {e}"),
            )
            .await;
        }
    }

    fn get_diff(&self, max_bytes: Option<u32>) -> Value {
        let max = max_bytes.unwrap_or(4_000).min(32_000) as usize;
        let diff = &self.change.diff;
        let mut cut = diff.len().min(max);
        while !diff.is_char_boundary(cut) {
            cut -= 1;
        }
        json!({"diff": &diff[..cut], "truncated": cut < diff.len()})
    }

    fn assess_risk(&self) -> Value {
        let a = &self.change.assessment;
        let l = &self.state.limits;
        let factors: Vec<Value> = a
            .factors
            .iter()
            .take(6)
            .map(
                |f| json!({"name": f.name, "contribution": f.contribution, "evidence": f.evidence}),
            )
            .collect();
        json!({
            "risk_score": a.risk_score,
            "level": a.level,
            "requires_approval": self.state.risk.requires_approval,
            "approval_reasons": self.state.risk.approval_reasons,
            "strategy": a.strategy,
            "limits": limits_view(l),
            "target": {
                "serves": self.state.granularity.describe(),
                "canary_weight_now": self.state.weight,
            },
            "metrics_catalogue": self.state.catalogue,
            "judged_metrics": self.judged_metrics(),
            "top_factors": factors,
            "subject": a.commit.subject,
        })
    }

    async fn query_metrics(&mut self, wait_seconds: Option<u32>) -> Value {
        if self.state.weight == 0 {
            return json!({"verdict": null, "note": "the canary has no traffic yet"});
        }
        // Wait to the end of the bake period, looking at every check interval so a
        // Fail rolls back as soon as the evidence is there; with `wait_seconds`,
        // on through later bake periods until one ends on a Pass.
        let mut target = self.next_bake_boundary();
        let until = self.now() + f64::from(wait_seconds.unwrap_or(0));
        let check = self.limits.check_interval_seconds;
        while !self.state.phase.is_terminal() {
            let now = self.backends.clock.now();
            if now >= target - 1e-9 {
                let passed = self.state.verdict_kind() == Some(VerdictKind::Pass);
                if passed || now >= until - 1e-9 || self.end_if_over_budget().await {
                    break;
                }
                target = self.next_bake_boundary();
            }
            if self.wait((target - now).min(check)).await {
                self.stop_if_asked().await;
                break;
            }
            let at_end = self.backends.clock.now() >= target - 1e-9;
            self.judge_now(at_end).await;
        }
        let mut out = json!({"canary_weight": self.state.weight});
        if let Some(v) = &self.state.verdict {
            out["verdict"] = json!(v.kind);
            out["summary"] = json!(v.summary);
            out["canary_requests"] = json!(v.canary_requests);
            out["baseline_requests"] = json!(v.baseline_requests);
        }
        if self.state.phase == Phase::RolledBack {
            out["rolled_back"] = json!(true);
            out["note"] = json!("the canary failed and was rolled back automatically");
        }
        out
    }
}

/// The guard's limits as the planner sees them (`assess_risk`, `choose_strategy`).
pub(super) fn limits_view(l: &super::state::Limits) -> Value {
    json!({
        "max_first_weight": l.max_first_weight,
        "max_step": l.max_step,
        "min_bake_seconds": l.min_bake_seconds,
        "promote_min_weight": l.promote_min_weight,
        "direct": l.direct,
        "promotion_without_verdict_allowed": l.unverified,
    })
}
