//! `request_approval`: asks the approver and waits for the answer. While the
//! approver thinks (up to an hour) a canary that already serves traffic is
//! still judged every check interval; a Fail rolls it back, and the budgets and
//! the operator's stop still end the rollout.

use serde_json::{json, Value};

use super::events::Event;
use super::runner::Runner;
use super::state::{ApprovalRecord, Outcome, Phase};
use crate::approval::{ApprovalAnswer, ApprovalRequest};
use crate::narrate::{Facts, Kind, Narrative};

impl Runner<'_> {
    /// The rollout's approval (before traffic moves), or — `without_pass` —
    /// a human's decision to go on from an Inconclusive step (the guard has
    /// checked policy allows asking here). The approver sees the judge's
    /// numbers, written by Rust, before the planner's summary.
    pub(super) async fn request_approval(&mut self, summary: String, without_pass: bool) -> Value {
        if without_pass {
            return self.ask_to_go_on(summary).await;
        }
        if let Some(a) = &self.state.approval {
            return json!({"approved": a.approved, "by": a.by, "note": "already decided"});
        }
        let request = self.approval_request(&summary, None, None);
        self.state.phase = Phase::AwaitingApproval;
        self.emit(Event::ApprovalRequested {
            summary: request.summary.clone(),
        });
        let Some(answer) = self.answer_or_end(&request).await else {
            return json!({"approved": null, "note": "the rollout ended while waiting for the approval"});
        };
        let record = self.record_answer(&answer);
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

    /// Asks whether to go on from this Inconclusive step without a Pass. A
    /// no (or silence) ends the rollout: traffic goes back to stable.
    async fn ask_to_go_on(&mut self, summary: String) -> Value {
        let weight = self.state.weight;
        self.state.asked_at = Some(weight);
        let numbers = self.go_on_numbers();
        let request = self.approval_request(&summary, Some(weight), Some(&numbers));
        self.emit(Event::ApprovalRequested {
            summary: request.summary.clone(),
        });
        let Some(answer) = self.answer_or_end(&request).await else {
            return json!({"approved": null, "note": "the rollout ended while waiting for the answer"});
        };
        self.record_answer(&answer);
        if !answer.approved {
            let who = answer.by.unwrap_or_else(|| "nobody".into());
            self.end_safely(
                Outcome::Aborted,
                format!(
                    "not going on from {weight}% without a Pass ({who}): {}",
                    answer.reason
                ),
            )
            .await;
            return json!({"approved": false, "note": "the rollout has ended"});
        }
        self.state.continued_at = Some(weight);
        json!({"approved": true, "by": answer.by, "note": format!("you may go on from {weight}% without a Pass (this weight only)")})
    }

    /// The judge's numbers for a human deciding without a Pass.
    fn go_on_numbers(&self) -> String {
        let s = &self.state;
        let Some(v) = &s.verdict else {
            return format!("No verdict at {}% yet.", s.weight);
        };
        let next = s
            .weight
            .saturating_add(s.limits.max_step)
            .min(100)
            .max(s.limits.promote_min_weight);
        let bounds = v
            .harm
            .as_ref()
            .map_or("The judge gives no harm bound.".into(), |h| {
                format!("At {next}%: {}.", h.describe(next))
            });
        let checks: Vec<String> = v
            .checks
            .iter()
            .map(|c| format!("{} {}: {}", c.metric, c.verdict.as_str(), c.detail))
            .collect();
        format!(
            "Inconclusive at {}% after {} bake periods: no evidence of harm, not enough for a Pass ({}). {bounds}\n{}",
            s.weight,
            s.judgements_at_weight,
            v.summary,
            checks.join("\n")
        )
    }

    /// The request an approver sees: Rust's numbers (`judge`, going on
    /// without a Pass) first, then the planner's summary — a model's only when
    /// it is grounded in the numbers, else the template and why.
    fn approval_request(
        &self,
        summary: &str,
        go_on_at: Option<u8>,
        judge: Option<&str>,
    ) -> ApprovalRequest {
        let mut request = ApprovalRequest {
            rollout_id: self.spec.id.clone(),
            service: self.spec.service.clone(),
            rev: self.spec.rev.clone(),
            risk_score: self.state.risk.score,
            level: self.state.risk.level,
            reasons: self.state.risk.approval_reasons.clone(),
            summary: String::new(),
            timeout_seconds: self.limits.approval_timeout_seconds,
            required_approvals: self.required_approvals.max(1),
            go_on_at,
        };
        let shown = self.shown_summary(&request, summary, judge);
        let summary = match judge {
            Some(numbers) => format!("{numbers}\n{shown}"),
            None => shown,
        };
        request.summary = summary.chars().take(2_500).collect();
        request
    }

    /// The planner's summary as shown: the playbook's as written (Rust's
    /// words), a model's checked against the facts of `request`.
    fn shown_summary(
        &self,
        request: &ApprovalRequest,
        summary: &str,
        judge: Option<&str>,
    ) -> String {
        if self.rust_planner {
            return summary.to_string();
        }
        let mut facts = Facts::for_approval(
            request,
            &self.state.risk.strategy,
            self.state.verdict.as_ref(),
            judge,
        );
        // The model read the assessment (`assess_risk`): its numbers are facts too.
        facts.include("assessment", Facts::for_assessment(&self.change.assessment));
        let narrative = if summary.trim().is_empty() {
            Narrative::template(Kind::Approval, &facts)
        } else {
            Narrative::check(Kind::Approval, summary, &facts)
        };
        narrative.display()
    }

    /// Waits for the answer; `None` when the rollout ended meanwhile.
    async fn answer_or_end(&mut self, request: &ApprovalRequest) -> Option<ApprovalAnswer> {
        let answer = self.wait_for_answer(request).await;
        if answer.is_none() && !self.state.phase.is_terminal() {
            self.stop_if_asked().await;
        }
        answer
    }

    fn record_answer(&mut self, answer: &ApprovalAnswer) -> ApprovalRecord {
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
        record
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
