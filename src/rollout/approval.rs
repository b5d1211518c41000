//! `request_approval`: asks the approver and waits for the answer. While the
//! approver thinks (up to an hour) a canary that already serves traffic is
//! still judged every check interval; a Fail rolls it back, and the budgets and
//! the operator's stop still end the rollout.

use serde_json::{json, Value};

use super::events::Event;
use super::runner::Runner;
use super::state::{ApprovalRecord, Outcome, Phase};
use crate::approval::{ApprovalAnswer, ApprovalRequest};

impl Runner<'_> {
    pub(super) async fn request_approval(&mut self, summary: String) -> Value {
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
        let Some(answer) = self.wait_for_answer(&request).await else {
            if !self.state.phase.is_terminal() {
                self.stop_if_asked().await;
            }
            return json!({"approved": null, "note": "the rollout ended while waiting for the approval"});
        };
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
        self.state.phase = Phase::Canary {
            weight: self.state.weight,
        };
        json!({"approved": true, "by": answer.by})
    }

    /// The approver's answer, or `None` when the rollout ended first (the
    /// canary failed, a budget ran out, the operator stopped it).
    async fn wait_for_answer(&mut self, request: &ApprovalRequest) -> Option<ApprovalAnswer> {
        let approver = self.backends.approver.clone();
        let stop = self.backends.stop.clone();
        let clock = self.backends.clock.clone();
        let check = self.limits.check_interval_seconds;
        let ask = approver.request(request);
        tokio::pin!(ask);
        loop {
            if self.state.weight == 0 {
                // Nothing serves the canary: nothing to judge meanwhile.
                return tokio::select! {
                    biased;
                    answer = &mut ask => Some(answer),
                    _ = stop.stopped() => None,
                };
            }
            tokio::select! {
                biased;
                answer = &mut ask => return Some(answer),
                _ = stop.stopped() => return None,
                _ = clock.sleep(check) => {}
            }
            self.judge_now(false).await;
            if self.state.phase.is_terminal() {
                return None;
            }
            if self.end_if_over_budget().await {
                return None;
            }
            // Let a real-time approver run when the rollout clock is virtual.
            tokio::task::yield_now().await;
        }
    }
}
