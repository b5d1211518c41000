//! The loop. Each turn: check budgets and the operator's stop, let the judge
//! look, ask the planner, and take its calls one at a time through parse →
//! guard → execute.

use serde_json::json;

use super::events::{Event, EventSink};
use super::state::{Limits, Outcome, Phase, RiskSnapshot, RolloutState};
use super::{Backends, ChangeContext, RolloutSpec, RolloutSummary, VetoRecord};
use crate::canary::Judge;
use crate::guard;
use crate::planner::{Feedback, Planner};
use crate::policy::{Policy, RolloutPolicy};
use crate::tools::{self, ProposedCall, ToolCall};

/// Planner turns in a row without a tool call before the rollout is ended.
pub const MAX_IDLE_TURNS: u32 = 3;

/// A promotion whose first phase changed the target (the stable Deployment
/// took the new image): until it completes, ending the rollout undoes it.
#[derive(Debug, Clone)]
pub(super) struct StagedPromotion {
    pub undo: serde_json::Value,
    pub detail: String,
}

/// Everything the loop holds while it runs.
pub(super) struct Runner<'a> {
    pub spec: &'a RolloutSpec,
    pub change: &'a ChangeContext,
    pub limits: RolloutPolicy,
    /// Distinct approvers policy asks for at this change's level.
    pub required_approvals: u32,
    pub backends: Backends,
    pub judge: Box<dyn Judge>,
    /// The catalogue metrics a planner added, judged beside `judge`'s.
    pub extra: crate::canary::catalogue::ExtraJudge,
    pub sink: &'a mut dyn EventSink,
    pub state: RolloutState,
    /// Metrics up to this time have been fed to the judge.
    pub judged_until: f64,
    pub vetoes: Vec<VetoRecord>,
    pub reason: String,
    /// The loop asked the target for a traffic change (or started on a live
    /// canary): ending must roll back. Untouched at 0 %, there is nothing to undo.
    pub touched: bool,
    /// A staged promotion in progress (see [`StagedPromotion`]).
    pub staged: Option<StagedPromotion>,
    /// Traffic changes the target failed in a row.
    pub target_failures: u32,
    /// Where the baseline comes from once the stable version serves nothing
    /// (chosen at the first such window; see [`super::reference`]).
    pub reference: Option<super::reference::Reference>,
    /// The planner handed the rollout over (see [`super::handover`]).
    pub handover: Option<super::HandoverRecord>,
    /// The planner's texts are Rust's (the playbook): shown as written.
    pub rust_planner: bool,
    /// The end reason holds a model's words (it rolled back, with its reason).
    pub model_reason: bool,
}

impl<'a> Runner<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        spec: &'a RolloutSpec,
        change: &'a ChangeContext,
        policy: &Policy,
        risk: RiskSnapshot,
        started_at: f64,
        judge: Box<dyn Judge>,
        backends: Backends,
        sink: &'a mut dyn EventSink,
    ) -> Self {
        let limits = Limits::new(&risk.strategy);
        let now = backends.clock.now();
        let required_approvals = policy.approval.required_approvals(risk.level);
        let mut state = RolloutState::new(spec.id.clone(), risk, limits, started_at);
        state.weight_changed_at = now;
        state.verdict_until = now;
        state.max_verdict_age = policy.rollout.max_verdict_age_seconds;
        state.inconclusive_bakes = policy.rollout.max_inconclusive_bakes;
        state.inconclusive = policy.rollout.inconclusive;
        state.strategies = policy.strategies();
        state.catalogue = backends.metrics.catalogue();
        Self {
            spec,
            change,
            limits: policy.rollout,
            required_approvals,
            backends,
            judge,
            extra: crate::canary::catalogue::ExtraJudge::new(policy.canary),
            sink,
            state,
            judged_until: now,
            vetoes: Vec::new(),
            reason: String::new(),
            touched: false,
            staged: None,
            target_failures: 0,
            reference: None,
            handover: None,
            rust_planner: false,
            model_reason: false,
        }
    }
}

/// Runs one rollout to a terminal state and returns its summary. The caller
/// has checked the target ([`super::check_start`]): it serves
/// `spec.start_weight` (0 unless a live canary was adopted).
pub async fn run(
    spec: &RolloutSpec,
    change: &ChangeContext,
    policy: &Policy,
    planner: &mut dyn Planner,
    judge: Box<dyn Judge>,
    backends: Backends,
    sink: &mut dyn EventSink,
) -> RolloutSummary {
    let now = backends.clock.now();
    let freeze = policy.active_freeze(now).cloned();
    let mut risk = change.risk();
    if let Some(f) = freeze.as_ref().filter(|f| !f.block) {
        // Break glass: during a freeze every change needs a human, whatever its score.
        risk.requires_approval = true;
        risk.approval_reasons.push(f.describe());
    }
    let mut runner = Runner::new(
        spec,
        change,
        policy,
        risk.clone(),
        now,
        judge,
        backends,
        sink,
    );
    runner.emit(Event::Started {
        rollout_id: spec.id.clone(),
        service: spec.service.clone(),
        rev: spec.rev.clone(),
        target: spec.target.clone(),
        planner: planner.name(),
    });
    runner.emit(Event::Assessed { risk: risk.clone() });
    runner.refresh_granularity().await;
    if spec.start_weight > 0 {
        runner.adopt(spec.start_weight, planner);
    }
    if let Some(f) = freeze.filter(|f| f.block) {
        // The planner is never asked; an adopted canary goes back to stable.
        runner
            .end_safely(Outcome::Aborted, format!("blocked: {}", f.describe()))
            .await;
    } else {
        runner.calibrate_judge().await;
        runner.state.phase = if risk.requires_approval {
            Phase::AwaitingApproval
        } else {
            Phase::Canary {
                weight: runner.state.weight,
            }
        };
        runner.drive(planner).await;
    }
    runner.conclude(planner).await
}

impl Runner<'_> {
    /// Starts from a live canary the operator adopted: the judge must pass a
    /// full bake at this weight before anything increases, and ending rolls
    /// it back like any canary.
    fn adopt(&mut self, weight: u8, planner: &mut dyn Planner) {
        let now = self.now();
        self.state.set_weight(weight, now);
        self.touched = true;
        self.emit(Event::Adopted {
            weight,
            detail: format!(
                "{} already served the canary at {weight}%; adopted (--adopt): bake and judge here before any increase",
                self.backends.traffic.describe()
            ),
        });
        planner.notify(&format!(
            "The canary already serves {weight}% of traffic (adopted by the operator); bake and judge at {weight}% before any increase."
        ));
    }

    pub(super) fn emit(&mut self, event: Event) {
        let at = self.backends.clock.now();
        self.sink.emit(at, &event);
    }

    pub(super) fn now(&self) -> f64 {
        self.backends.clock.now()
    }

    /// Reads what the target can serve; on failure the last answer stands (a
    /// target that cannot be read will fail the change itself).
    pub(super) async fn refresh_granularity(&mut self) {
        match self.backends.traffic.granularity().await {
            Ok(g) => self.state.granularity = g,
            Err(e) => tracing::warn!(error = %e, "could not read the target's granularity"),
        }
    }

    /// Lets the judge learn the service's noise from the baseline's recent
    /// history before the canary gets traffic. Without history the judge keeps
    /// its full-strength error test: it may fail sooner, never pass sooner.
    pub(super) async fn calibrate_judge(&mut self) {
        let span = self.judge.history_seconds();
        if span <= 0.0 {
            return;
        }
        let now = self.now();
        let event = match self.backends.metrics.history(now - span, now, 60.0).await {
            Ok(history) => Event::Calibrated {
                windows: history.len(),
                detail: self.judge.calibrate(&history),
            },
            Err(e) => Event::Calibrated {
                windows: 0,
                detail: format!("baseline history unavailable ({e}): no noise model"),
            },
        };
        self.emit(event);
    }

    /// Ends the rollout when the operator asked to stop; true when it did.
    pub(super) async fn stop_if_asked(&mut self) -> bool {
        let Some(why) = self.backends.stop.requested() else {
            return false;
        };
        if !self.state.phase.is_terminal() {
            self.end_safely(Outcome::Aborted, format!("aborted (operator): {why}"))
                .await;
        }
        true
    }

    pub(super) async fn drive(&mut self, planner: &mut dyn Planner) {
        let mut feedback: Vec<Feedback> = Vec::new();
        let mut idle_turns = 0;
        let stop = self.backends.stop.clone();
        while !self.state.phase.is_terminal() {
            if self.stop_if_asked().await {
                break;
            }
            if let Some(why) = self.lease_lost() {
                self.hand_off("stopped".into(), &why);
                break;
            }
            if self.end_if_over_budget().await {
                break;
            }
            self.judge_if_due().await;
            if self.state.phase.is_terminal() {
                break;
            }
            let plan = tokio::select! {
                biased;
                _ = stop.stopped() => continue,
                plan = planner.next(&self.state, &feedback) => plan,
            };
            let plan = match plan {
                Ok(plan) => plan,
                Err(e) => {
                    self.end_safely(Outcome::Aborted, format!("planner failed: {e}"))
                        .await;
                    break;
                }
            };
            if let Some(handover) = planner.take_handover() {
                self.planner_handed_over(handover);
            }
            self.rust_planner = planner.writes_rust_text();
            self.state.turns += 1;
            self.state.prompt_tokens += u64::from(plan.prompt_tokens);
            self.state.completion_tokens += u64::from(plan.completion_tokens);
            self.emit(Event::PlannerTurn {
                turn: self.state.turns,
                calls: plan.calls.len(),
                prompt_tokens: plan.prompt_tokens,
                completion_tokens: plan.completion_tokens,
                prompt_hash: plan.prompt_hash.clone(),
                message: plan.message.clone(),
            });
            idle_turns = if plan.calls.is_empty() {
                idle_turns + 1
            } else {
                0
            };
            if idle_turns >= MAX_IDLE_TURNS {
                self.end_safely(
                    Outcome::Aborted,
                    format!("the planner made {MAX_IDLE_TURNS} turns without calling a tool"),
                )
                .await;
                break;
            }
            feedback.clear();
            for call in &plan.calls {
                let content = self.handle(call).await;
                feedback.push(Feedback {
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    content,
                });
            }
        }
    }

    /// One proposed call: parse, guard, execute. Returns what the planner sees.
    async fn handle(&mut self, call: &ProposedCall) -> serde_json::Value {
        if self.state.phase.is_terminal() {
            return json!({"executed": false, "reason": "the rollout has already ended"});
        }
        self.emit(Event::ToolProposed {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments: call.arguments.chars().take(2_000).collect(),
        });
        let parsed = tools::parse(call);
        if matches!(parsed, Ok(ToolCall::SetCanaryWeight(_))) {
            // The guard decides on what the target can serve now.
            self.refresh_granularity().await;
        }
        let now = self.now();
        let decision = parsed.and_then(|c| guard::check(c, &self.state, now));
        let content = match decision {
            Ok(allowed) => {
                self.state.consecutive_vetoes = 0;
                self.execute(&call.id, allowed).await
            }
            Err(veto) => self.vetoed(call, veto).await,
        };
        self.judge_if_due().await;
        content
    }

    pub(super) fn summary(&self, planner: String) -> RolloutSummary {
        let s = &self.state;
        let outcome = match s.phase {
            Phase::Promoted => Outcome::Promoted,
            Phase::RolledBack => Outcome::RolledBack,
            Phase::RollbackFailed => Outcome::RollbackFailed,
            _ => Outcome::Aborted,
        };
        RolloutSummary {
            id: self.spec.id.clone(),
            service: self.spec.service.clone(),
            rev: self.spec.rev.clone(),
            planner,
            handover: self.handover.clone(),
            outcome,
            reason: self.reason.clone(),
            final_weight: s.weight,
            risk: s.risk.clone(),
            steps: s.steps.clone(),
            vetoes: self.vetoes.clone(),
            approval: s.approval.clone(),
            promoted_on: self.state.promoted_on,
            explanation: None,
            turns: s.turns,
            prompt_tokens: s.prompt_tokens,
            completion_tokens: s.completion_tokens,
            started_at: s.started_at,
            ended_at: self.backends.clock.now(),
        }
    }
}
