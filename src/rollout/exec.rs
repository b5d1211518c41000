//! Executing allowed calls against the world. Only calls the guard allowed get
//! here (the functions take an [`Allowed`]); what the planner sees is kept short
//! and safe, the full detail goes to the event stream.

use serde_json::{json, Value};

use super::events::Event;
use super::runner::Runner;
use super::state::{ApprovalRecord, Outcome, Phase};
use crate::approval::ApprovalRequest;
use crate::guard::Allowed;
use crate::tools::ToolCall;

impl Runner<'_> {
    /// Executes one allowed call and returns the planner's view of the result.
    pub(super) async fn execute(&mut self, call_id: &str, allowed: Allowed) -> Value {
        let result = match allowed.call().clone() {
            ToolCall::GetDiff(a) => Ok(self.get_diff(a.max_bytes)),
            ToolCall::AssessRisk(_) => Ok(self.assess_risk()),
            ToolCall::SetCanaryWeight(a) => self.set_weight(a.weight).await,
            ToolCall::QueryMetrics(_) => Ok(self.query_metrics().await),
            ToolCall::Rollback(a) => {
                self.end_safely(
                    Outcome::RolledBack,
                    format!("planner rolled back: {}", a.reason),
                )
                .await;
                Ok(json!({"rolled_back": true}))
            }
            ToolCall::RequestApproval(a) => Ok(self.request_approval(a.summary).await),
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
            Err(error) => {
                self.emit(Event::ToolFailed {
                    call_id: call_id.to_string(),
                    tool,
                    error: error.clone(),
                });
                // The model gets a short, safe reason; operators get the full error above.
                json!({"executed": false, "error": "the backend did not apply the change; traffic is unchanged"})
            }
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
            "requires_approval": a.requires_approval,
            "approval_reasons": a.approval_reasons,
            "strategy": a.strategy,
            "limits": {
                "max_first_weight": l.max_first_weight,
                "max_step": l.max_step,
                "min_bake_seconds": l.min_bake_seconds,
                "promote_min_weight": l.promote_min_weight,
                "direct_promotion_allowed": l.direct,
            },
            "top_factors": factors,
            "subject": a.commit.subject,
        })
    }

    async fn set_weight(&mut self, weight: u8) -> Result<Value, String> {
        let from = self.state.weight;
        // One last look before more traffic moves: evidence since the last check counts.
        self.judge_now(false).await;
        if self.state.phase.is_terminal() {
            return Ok(
                json!({"executed": false, "note": "the canary failed its last check and was rolled back"}),
            );
        }
        let traffic = self.backends.traffic.clone();
        let seq = self
            .intent_or_end("set_weight", json!({"from": from, "to": weight}))
            .await?;
        let result = traffic
            .set_canary_weight(weight)
            .await
            .map_err(|e| e.to_string());
        if result.is_ok() {
            crate::failpoint::hit(crate::failpoint::Point::AfterEffect);
        }
        self.applied(
            seq,
            result.is_ok(),
            result.as_ref().err().map_or("set", |e| e),
        );
        result?;
        // Verify it took effect; a router that silently ignored us must not pass.
        let found = traffic.canary_weight().await.map_err(|e| e.to_string())?;
        if found != weight {
            return Err(format!(
                "weight {weight}% did not take effect (router reports {found}%)"
            ));
        }
        let now = self.backends.clock.now();
        self.state.set_weight(weight, now);
        self.judge.new_step();
        self.judged_until = now;
        self.emit(Event::WeightChanged { from, to: weight });
        Ok(json!({"canary_weight": weight, "bake_seconds": self.state.limits.min_bake_seconds}))
    }

    async fn query_metrics(&mut self) -> Value {
        if self.state.weight == 0 {
            return json!({"verdict": null, "note": "the canary has no traffic yet"});
        }
        // Wait to the end of the bake period, looking at every check interval so a
        // Fail rolls back as soon as the evidence is there.
        let target = self.next_bake_boundary();
        let check = self.limits.check_interval_seconds;
        while !self.state.phase.is_terminal() {
            let now = self.backends.clock.now();
            if now >= target - 1e-9 {
                break;
            }
            self.backends.clock.sleep((target - now).min(check)).await;
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

    async fn request_approval(&mut self, summary: String) -> Value {
        if let Some(a) = &self.state.approval {
            return json!({"approved": a.approved, "by": a.by, "note": "already decided"});
        }
        let timeout = self.limits.approval_timeout_seconds;
        let request = ApprovalRequest {
            rollout_id: self.spec.id.clone(),
            service: self.spec.service.clone(),
            rev: self.spec.rev.clone(),
            risk_score: self.state.risk.score,
            level: self.state.risk.level,
            reasons: self.state.risk.approval_reasons.clone(),
            summary: summary.chars().take(1_000).collect(),
            timeout_seconds: timeout,
            required_approvals: self.required_approvals,
        };
        self.state.phase = Phase::AwaitingApproval;
        self.emit(Event::ApprovalRequested {
            summary: request.summary.clone(),
        });
        let approver = self.backends.approver.clone();
        let answer = approver.request(&request).await;
        let record = ApprovalRecord {
            approved: answer.approved,
            by: answer.by.clone(),
            at: self.backends.clock.now(),
            reason: answer.reason.clone(),
        };
        self.emit(Event::ApprovalDecided {
            approved: record.approved,
            by: record.by.clone(),
            reason: record.reason.clone(),
        });
        self.state.approval = Some(record);
        if !answer.approved {
            let who = answer.by.unwrap_or_else(|| "nobody".into());
            self.end_safely(
                Outcome::Aborted,
                format!("approval refused ({who}): {}", answer.reason),
            )
            .await;
            return json!({"approved": false, "note": "the rollout has ended"});
        }
        self.state.phase = super::state::Phase::Canary {
            weight: self.state.weight,
        };
        json!({"approved": true, "by": answer.by})
    }

    async fn promote(&mut self, reason: String) -> Result<Value, String> {
        let traffic = self.backends.traffic.clone();
        let from = self.state.weight;
        let seq = self
            .intent_or_end("promote", json!({"from": from, "to": 100}))
            .await?;
        let result = traffic.promote().await.map_err(|e| e.to_string());
        self.applied(
            seq,
            result.is_ok(),
            result.as_ref().err().map_or("promoted", |e| e),
        );
        result?;
        if from != 100 {
            self.emit(Event::WeightChanged { from, to: 100 });
        }
        self.end_safely(Outcome::Promoted, format!("promoted: {reason}"))
            .await;
        Ok(json!({"promoted": true}))
    }
}
