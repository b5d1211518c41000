//! The loop. Each turn: check budgets, let the judge look, ask the planner, and
//! take its calls one at a time through parse → guard → execute.

use serde_json::json;

use super::events::{Event, EventSink};
use super::state::{ApprovalRecord, Limits, Outcome, Phase, RiskSnapshot, RolloutState};
use super::{Backends, ChangeContext, RolloutSpec, RolloutSummary, VetoRecord};
use crate::canary::{Judge, MetricsWindow, VerdictKind};
use crate::guard::{self, Allowed, Rule, Veto};
use crate::planner::{Feedback, Planner};
use crate::policy::{Policy, RolloutPolicy};
use crate::tools::{self, ProposedCall};

/// Planner turns in a row without a tool call before the rollout is ended.
const MAX_IDLE_TURNS: u32 = 3;

/// Everything the loop holds while it runs.
pub(super) struct Runner<'a> {
    pub spec: &'a RolloutSpec,
    pub change: &'a ChangeContext,
    pub limits: RolloutPolicy,
    /// Distinct approvers policy asks for at this change's level.
    pub required_approvals: u32,
    pub backends: Backends,
    pub judge: Box<dyn Judge>,
    pub sink: &'a mut dyn EventSink,
    pub state: RolloutState,
    /// Metrics up to this time have been fed to the judge.
    pub judged_until: f64,
    pub vetoes: Vec<VetoRecord>,
    pub reason: String,
}

/// Runs one rollout to a terminal state and returns its summary.
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
    let limits = Limits::new(&risk.strategy);
    let mut runner = Runner {
        spec,
        change,
        limits: policy.rollout,
        required_approvals: policy.approval.required_approvals(risk.level),
        backends,
        judge,
        sink,
        state: RolloutState::new(spec.id.clone(), risk.clone(), limits, now),
        judged_until: now,
        vetoes: Vec::new(),
        reason: String::new(),
    };
    runner.emit(Event::Started {
        rollout_id: spec.id.clone(),
        service: spec.service.clone(),
        rev: spec.rev.clone(),
        target: spec.target.clone(),
        planner: planner.name(),
    });
    runner.emit(Event::Assessed { risk: risk.clone() });
    if let Some(f) = freeze.filter(|f| f.block) {
        // Nothing has moved yet; the rollout ends before the planner is asked.
        runner.state.finish(Outcome::Aborted);
        runner.reason = format!("blocked: {}", f.describe());
    } else {
        runner.calibrate_judge().await;
        runner.state.phase = if risk.requires_approval {
            Phase::AwaitingApproval
        } else {
            Phase::Canary { weight: 0 }
        };
        runner.drive(planner).await;
    }
    runner.conclude(planner)
}

/// Where a rollout picks up after its process died (`on_resume = "continue"`),
/// read from the journal and the live target by `deploy-agent resume`.
#[derive(Debug, Clone)]
pub struct ResumePoint {
    /// The risk facts journaled at the start (`assessed`): the limits and the
    /// approval rule stay those the rollout began under, whatever a new
    /// assessment would say now.
    pub risk: RiskSnapshot,
    /// The canary weight read back from the target.
    pub weight: u8,
    /// The approval decided before the crash (or meanwhile, in the journal).
    pub approval: Option<ApprovalRecord>,
    /// The rollout clock at the original start: the duration budget counts from it.
    pub started_at: f64,
    pub turns: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Continues a rollout from a [`ResumePoint`] to a terminal state. Nothing the
/// judge learned before the crash is trusted: the weight stays where the target
/// has it until a full bake there passes (the guard asks a Pass after
/// `weight_changed_at`, set to now), and a refused approval ends it at once.
/// `Started` and `Assessed` are not repeated; a `Resumed` event marks the seam.
#[allow(clippy::too_many_arguments)]
pub async fn resume(
    spec: &RolloutSpec,
    change: &ChangeContext,
    policy: &Policy,
    planner: &mut dyn Planner,
    judge: Box<dyn Judge>,
    backends: Backends,
    sink: &mut dyn EventSink,
    point: ResumePoint,
) -> RolloutSummary {
    let now = backends.clock.now();
    let limits = Limits::new(&point.risk.strategy);
    let mut state = RolloutState::new(
        spec.id.clone(),
        point.risk.clone(),
        limits,
        point.started_at,
    );
    state.weight = point.weight;
    state.weight_changed_at = now;
    state.approval = point.approval.clone();
    state.turns = point.turns;
    state.prompt_tokens = point.prompt_tokens;
    state.completion_tokens = point.completion_tokens;
    let mut runner = Runner {
        spec,
        change,
        limits: policy.rollout,
        backends,
        judge,
        sink,
        required_approvals: policy.approval.required_approvals(point.risk.level),
        state,
        judged_until: now,
        vetoes: Vec::new(),
        reason: String::new(),
    };
    runner.emit(Event::Resumed {
        weight: point.weight,
        detail: describe_resume(&point),
    });
    planner.notify(&format!(
        "The agent restarted after a crash; the rollout continues at {}% with the judge's evidence reset: bake again before any increase.",
        point.weight
    ));
    match &point.approval {
        Some(a) if !a.approved => {
            let who = a.by.clone().unwrap_or_else(|| "nobody".into());
            runner
                .end_safely(
                    Outcome::Aborted,
                    format!("approval refused ({who}): {}", a.reason),
                )
                .await;
        }
        _ => {
            runner.calibrate_judge().await;
            runner.state.phase = if point.risk.requires_approval && point.approval.is_none() {
                Phase::AwaitingApproval
            } else {
                Phase::Canary {
                    weight: point.weight,
                }
            };
            runner.drive(planner).await;
        }
    }
    runner.conclude(planner)
}

fn describe_resume(point: &ResumePoint) -> String {
    let approval = match &point.approval {
        Some(a) if a.approved => format!("approved by {}", a.by.as_deref().unwrap_or("nobody")),
        Some(_) => "approval refused".to_string(),
        None if point.risk.requires_approval => "approval still pending".to_string(),
        None => "no approval needed".to_string(),
    };
    format!(
        "continued per on_resume at {}% ({approval}, {} turn(s) and {} token(s) already spent); the judge starts over",
        point.weight,
        point.turns,
        point.prompt_tokens + point.completion_tokens
    )
}

impl Runner<'_> {
    /// Tells the planner how it ended, then emits `Finished` — after the last
    /// tool event, so it is always the last event — and returns the summary.
    fn conclude(self, planner: &mut dyn Planner) -> RolloutSummary {
        planner.notify(&format!(
            "The rollout has ended ({:?}): {}",
            self.state.phase, self.reason
        ));
        let summary = self.summary(planner.name());
        self.sink.emit(
            summary.ended_at,
            &Event::Finished {
                outcome: summary.outcome,
                reason: summary.reason.clone(),
                weight: summary.final_weight,
            },
        );
        summary
    }

    pub(super) fn emit(&mut self, event: Event) {
        let at = self.backends.clock.now();
        self.sink.emit(at, &event);
    }

    fn now(&self) -> f64 {
        self.backends.clock.now()
    }

    /// Records a rollback about to be made (write-ahead), when journaled. A journal
    /// error is logged, not fatal: a rollback must happen whatever the journal says.
    pub(super) fn intent(&self, kind: &str, payload: serde_json::Value) -> Option<u64> {
        let journal = self.backends.journal.as_ref()?;
        match journal.intent(&self.spec.id, self.now(), kind, payload) {
            Ok(seq) => Some(seq),
            Err(e) => {
                tracing::error!(error = %e, kind, "could not record an intent in the journal");
                None
            }
        }
    }

    /// Records the intent of a forward traffic change (a weight, a promotion). A
    /// journaled rollout whose journal refuses it makes no change — after a crash
    /// nobody could tell whether it happened — and ends now, rolled back.
    pub(super) async fn intent_or_end(
        &mut self,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<Option<u64>, String> {
        let Some(journal) = self.backends.journal.clone() else {
            return Ok(None);
        };
        match journal.intent(&self.spec.id, self.now(), kind, payload) {
            Ok(seq) => {
                crate::failpoint::hit(crate::failpoint::Point::AfterIntent);
                Ok(Some(seq))
            }
            Err(e) => {
                tracing::error!(error = %e, kind, "the journal refused an intent: ending the rollout");
                let reason = format!(
                    "the journal could not record the intent to {kind} ({e}): no traffic change without a write-ahead record"
                );
                self.end_safely(Outcome::Aborted, reason.clone()).await;
                Err(reason)
            }
        }
    }

    /// Marks an intent from [`Runner::intent`] applied or failed.
    pub(super) fn applied(&self, seq: Option<u64>, ok: bool, detail: &str) {
        let (Some(journal), Some(seq)) = (self.backends.journal.as_ref(), seq) else {
            return;
        };
        if let Err(e) = journal.applied(&self.spec.id, seq, ok, detail) {
            tracing::error!(error = %e, seq, "could not mark an intent applied in the journal");
        }
    }

    /// Lets the judge learn the service's noise from the baseline's recent
    /// history before the canary gets traffic. Without history the judge keeps
    /// its full-strength error test: it may fail sooner, never pass sooner.
    async fn calibrate_judge(&mut self) {
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

    async fn drive(&mut self, planner: &mut dyn Planner) {
        let mut feedback: Vec<Feedback> = Vec::new();
        let mut idle_turns = 0;
        while !self.state.phase.is_terminal() {
            if let Some((rule, detail)) = self.budget_exhausted() {
                self.emit(Event::BudgetExhausted {
                    rule,
                    detail: detail.clone(),
                });
                self.end_safely(Outcome::Aborted, format!("{}: {detail}", rule.as_str()))
                    .await;
                break;
            }
            self.judge_if_due().await;
            if self.state.phase.is_terminal() {
                break;
            }
            let plan = match planner.next(&self.state, &feedback).await {
                Ok(plan) => plan,
                Err(e) => {
                    self.end_safely(Outcome::Aborted, format!("planner failed: {e}"))
                        .await;
                    break;
                }
            };
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
        let now = self.now();
        let decision = tools::parse(call).and_then(|c| guard::check(c, &self.state, now));
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

    async fn vetoed(&mut self, call: &ProposedCall, veto: Veto) -> serde_json::Value {
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

    /// The end of the current bake period: the first bake boundary after now.
    pub(super) fn next_bake_boundary(&self) -> f64 {
        let bake = self
            .state
            .limits
            .min_bake_seconds
            .max(self.limits.check_interval_seconds);
        let since = self.now() - self.state.weight_changed_at;
        let periods = (since / bake).floor() + 1.0;
        self.state.weight_changed_at + bake * periods
    }

    /// Looks at the metrics if a check is due (every `check_interval_seconds` while
    /// the canary has traffic), independently of the planner.
    pub(super) async fn judge_if_due(&mut self) {
        let due = self.judged_until + self.limits.check_interval_seconds;
        if self.state.weight > 0 && !self.state.phase.is_terminal() && self.now() >= due {
            let boundary = self.at_bake_boundary();
            self.judge_now(boundary).await;
        }
    }

    fn at_bake_boundary(&self) -> bool {
        let bake = self
            .state
            .limits
            .min_bake_seconds
            .max(self.limits.check_interval_seconds);
        let baked = self.now() - self.state.weight_changed_at;
        let done = (baked / bake + 1e-9).floor();
        let before = ((self.judged_until - self.state.weight_changed_at) / bake + 1e-9).floor();
        done >= 1.0 && done > before
    }

    /// Feeds the metrics since the last look to the judge. A Fail rolls back at
    /// once; `bake_end` marks the judgement that closes a bake period.
    pub(super) async fn judge_now(&mut self, bake_end: bool) {
        let now = self.now();
        if self.state.weight == 0 || self.state.phase.is_terminal() || now <= self.judged_until {
            return;
        }
        let window = match self.backends.metrics.window(self.judged_until, now).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "metrics unavailable; judging as no data");
                MetricsWindow {
                    start: self.judged_until,
                    end: now,
                    stable: None,
                    canary: None,
                }
            }
        };
        self.judged_until = now;
        let verdict = self.judge.observe(&window);
        let changed = self.state.verdict_kind() != Some(verdict.kind);
        if changed || bake_end || verdict.kind == VerdictKind::Fail {
            self.emit(Event::Judged {
                weight: self.state.weight,
                verdict: verdict.clone(),
            });
        }
        let failed = verdict.kind == VerdictKind::Fail;
        let summary = verdict.summary.clone();
        self.state.record_verdict(verdict, bake_end);
        if failed {
            let reason = format!("canary verdict Fail at {}%: {summary}", self.state.weight);
            self.emit(Event::AutoRollback {
                reason: reason.clone(),
            });
            self.end_safely(Outcome::RolledBack, reason).await;
        }
    }

    /// Ends the rollout; traffic goes back to stable unless it was promoted. The
    /// `Finished` event follows when the loop has stopped.
    pub(super) async fn end_safely(&mut self, outcome: Outcome, reason: String) {
        if outcome != Outcome::Promoted {
            self.rollback_traffic(Allowed::rollback(reason.clone()))
                .await;
        }
        self.state.finish(outcome);
        self.reason = reason;
    }

    /// Rollback is always allowed; retried a few times because it must happen.
    /// Takes an [`Allowed`] like every other side effect.
    pub(super) async fn rollback_traffic(&mut self, _allowed: Allowed) {
        for attempt in 1..=3 {
            let seq = self.intent("rollback", json!({"from": self.state.weight}));
            let result = self.backends.traffic.rollback().await;
            match &result {
                Ok(()) => self.applied(seq, true, "rolled back"),
                Err(e) => self.applied(seq, false, &e.to_string()),
            }
            match result {
                Ok(()) => {
                    if self.state.weight > 0 {
                        self.emit(Event::WeightChanged {
                            from: self.state.weight,
                            to: 0,
                        });
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, attempt, "rollback failed");
                    self.emit(Event::ToolFailed {
                        call_id: "rollback".into(),
                        tool: "rollback".into(),
                        error: e.to_string(),
                    });
                    self.backends.clock.sleep(1.0).await;
                }
            }
        }
    }

    fn summary(&self, planner: String) -> RolloutSummary {
        let s = &self.state;
        let outcome = match s.phase {
            Phase::Promoted => Outcome::Promoted,
            Phase::RolledBack => Outcome::RolledBack,
            _ => Outcome::Aborted,
        };
        RolloutSummary {
            id: self.spec.id.clone(),
            service: self.spec.service.clone(),
            rev: self.spec.rev.clone(),
            planner,
            outcome,
            reason: self.reason.clone(),
            final_weight: s.weight,
            risk: s.risk.clone(),
            steps: s.steps.clone(),
            vetoes: self.vetoes.clone(),
            approval: s.approval.clone(),
            turns: s.turns,
            prompt_tokens: s.prompt_tokens,
            completion_tokens: s.completion_tokens,
            started_at: s.started_at,
            ended_at: self.backends.clock.now(),
        }
    }
}
