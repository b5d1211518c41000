//! `deploy-agent resume`: finishing rollouts whose process died.
//!
//! For each unfinished rollout in the journal: read the live weight from its
//! target, reconcile the open write-ahead intents with it (an effect visible on
//! the target was applied, one not visible was not; nothing is re-applied), then
//! follow the policy's `on_resume`:
//! - `rollback`: all traffic back to stable, then `AutoRollback` and `Finished`.
//! - `continue`: the loop picks up at the live weight under the risk facts
//!   journaled at the start (limits, approval rule), with the approval decided
//!   in the journal (a pending one is joined, its deadline unchanged), the turns
//!   and tokens already spent, and the duration budget counted from the original
//!   start. The judge starts over: no increase before a full bake passes at the
//!   live weight. The rest is planned by the playbook (a model's conversation
//!   died with the process). When anything needed is missing — the repository,
//!   the journaled assessment, a router for the target — it rolls back instead
//!   and says why: missing data never continues a rollout.
//!
//! A promotion found already in effect is recorded as promoted, not undone.
//!
//! The simulated target lives in the process that died, so its world is rebuilt
//! from the journal: the live weight is the last `weight_changed` the journal
//! holds (a change made but not journaled died with the process).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::approval::{Approver, JournalApprover};
use crate::assess::{assess_change, AssessRequest, LlmMode};
use crate::canary::SequentialJudge;
use crate::clock::VirtualClock;
use crate::commands::backends;
use crate::commands::journal::{open_existing, JournalFormat, JournalLocation};
use crate::error::Error;
use crate::git::{ChangeSource, LocalGit};
use crate::journal::{
    wall_now, ApprovalDecision, Intent, Journal, JournalSink, RolloutRecord, StoredEvent,
};
use crate::planner::PlaybookPlanner;
use crate::policy::OnResume;
use crate::policy::Policy;
use crate::rollout::events::Fanout;
use crate::rollout::events::{Event, EventSink};
use crate::rollout::state::Outcome;
use crate::rollout::state::{ApprovalRecord, RiskSnapshot};
use crate::rollout::terminal::TerminalProgress;
use crate::rollout::{self, Backends, ChangeContext, ResumePoint, RolloutSpec};
use crate::settings::{Env, Settings};
use crate::sim::{Scenario, SimConfig};

/// The reason recorded for a rollout rolled back by `resume`.
pub const ROLLBACK_REASON: &str = "resumed after a crash: rolled back per on_resume";

/// `deploy-agent resume`.
#[derive(Debug, Clone)]
pub struct ResumeCommand {
    pub location: JournalLocation,
    /// Policy file (default: `policy` in the config, else the embedded default).
    pub policy: Option<PathBuf>,
    /// The repository the rollouts' revisions live in (`continue` re-reads the change).
    pub repo: PathBuf,
    pub format: JournalFormat,
}

/// What `resume` did with one rollout.
#[derive(Debug, Clone, Serialize)]
pub struct Resumed {
    pub id: String,
    pub target: String,
    /// The canary weight read from the target before anything was done.
    pub live_weight: u8,
    pub intents: Vec<Reconciled>,
    /// `rolled_back`, `promoted`, `aborted`, or `failed` (with `error`).
    pub outcome: String,
    /// `rollback` or `continue`: what was done after reconciling.
    pub action: String,
    /// Why `continue` fell back to a rollback, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    pub final_weight: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An open intent and what the target showed about it.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciled {
    pub seq: u64,
    pub kind: String,
    pub payload: Value,
    /// Whether its effect was visible on the target (marked applied) or not (failed).
    pub applied: bool,
}

/// Resumes every unfinished rollout; returns the rendered report and the exit
/// code (0 all finished, 1 some could not be).
pub async fn run_resume(cmd: &ResumeCommand) -> Result<(String, u8), Error> {
    let settings = Settings::load(cmd.location.config.as_deref(), &Env::from_process())?;
    let policy = settings.policy(cmd.policy.as_deref())?;
    let journal: Arc<dyn Journal> = open_existing(&cmd.location)?;
    let unfinished = journal.unfinished()?;
    let mut report = Vec::new();
    for record in unfinished {
        let resumed = match resume_one(&journal, &settings, &policy, cmd, &record).await {
            Ok(r) => r,
            Err(e) => Resumed {
                id: record.id.clone(),
                target: record.target.clone(),
                live_weight: record.weight,
                intents: Vec::new(),
                outcome: "failed".into(),
                action: policy.rollout.on_resume.as_str().into(),
                fallback: None,
                final_weight: record.weight,
                error: Some(e),
            },
        };
        report.push(resumed);
    }
    let code = u8::from(report.iter().any(|r| r.error.is_some()));
    let rendered = match cmd.format {
        JournalFormat::Text => render(&report),
        JournalFormat::Json => {
            serde_json::to_string_pretty(&json!({ "resumed": report })).unwrap_or_default() + "\n"
        }
    };
    Ok((rendered, code))
}

async fn resume_one(
    journal: &Arc<dyn Journal>,
    settings: &Settings,
    policy: &Policy,
    cmd: &ResumeCommand,
    record: &RolloutRecord,
) -> Result<Resumed, String> {
    let events = journal.events(&record.id).map_err(|e| e.to_string())?;
    let approver: Arc<dyn Approver> = Arc::new(JournalApprover::new(journal.clone()));
    let (backends, simulated) = target_backends(settings, record, &events, approver)?;
    let live = backends
        .traffic
        .canary_weight()
        .await
        .map_err(|e| format!("cannot read the live weight: {e}"))?;
    let last_at = events.last().map_or(0.0, |e| e.at);
    // The simulated clock is virtual: continue from the last event's time.
    let at = if simulated {
        last_at
    } else {
        wall_now().max(last_at)
    };
    let (intents, promoted) = reconcile(journal.as_ref(), &record.id, live)?;

    let mut sink = JournalSink::resuming(journal.clone(), &record.id);
    // The journal catches up with the target (a change made but not journaled).
    if record.weight != live {
        sink.emit(
            at,
            &Event::WeightChanged {
                from: record.weight,
                to: live,
            },
        );
    }
    let mut resumed = Resumed {
        id: record.id.clone(),
        target: record.target.clone(),
        live_weight: live,
        intents,
        outcome: String::new(),
        action: "rollback".into(),
        fallback: None,
        final_weight: live,
        error: None,
    };
    let (outcome, final_weight) = if promoted && live == 100 {
        let reason = "resumed after a crash: the promotion had taken effect";
        finish(&mut sink, at, Outcome::Promoted, reason, 100)?;
        (Outcome::Promoted, 100)
    } else {
        let resumable = if policy.rollout.on_resume == OnResume::Continue {
            Some(
                continue_point(
                    journal.as_ref(),
                    settings,
                    policy,
                    cmd,
                    record,
                    &events,
                    live,
                )
                .await,
            )
        } else {
            None
        };
        match resumable {
            Some(Ok((point, context))) => {
                resumed.action = "continue".into();
                if let Some(a) = point
                    .approval
                    .as_ref()
                    .filter(|_| decided_before_crash(&events).is_none())
                {
                    // Decided with `deploy-agent approve` while no agent ran: the
                    // timeline shows it where the rollout learned of it.
                    sink.emit(
                        at,
                        &Event::ApprovalDecided {
                            approved: a.approved,
                            by: a.by.clone(),
                            reason: a.reason.clone(),
                        },
                    );
                }
                let summary =
                    continue_rollout(journal, policy, cmd, record, &context, backends, point).await;
                (summary.outcome, summary.final_weight)
            }
            other => {
                let reason = match other {
                    Some(Err(why)) => {
                        tracing::warn!(rollout = %record.id, "cannot continue, rolling back: {why}");
                        let reason =
                            format!("resumed after a crash: cannot continue ({why}): rolled back");
                        resumed.fallback = Some(why);
                        reason
                    }
                    _ => ROLLBACK_REASON.to_string(),
                };
                let j = journal.as_ref();
                roll_back(j, record, &backends, &mut sink, at, live, &reason).await?;
                (Outcome::RolledBack, 0)
            }
        }
    };
    if let Some(e) = sink.error() {
        return Err(format!("could not write to the journal: {e}"));
    }
    resumed.outcome = outcome.as_str().to_string();
    resumed.final_weight = final_weight;
    Ok(resumed)
}

/// Marks each open intent applied if its effect shows on the target, failed
/// otherwise (never re-applied); says whether a promotion had taken effect.
fn reconcile(
    journal: &dyn Journal,
    rollout_id: &str,
    live: u8,
) -> Result<(Vec<Reconciled>, bool), String> {
    let mut intents = Vec::new();
    let mut promoted = false;
    for intent in journal
        .open_intents(rollout_id)
        .map_err(|e| e.to_string())?
    {
        let applied = visible(&intent, live);
        promoted |= applied && intent.kind == "promote";
        let detail = if applied {
            format!("resume: effect visible on the target (live weight {live}%)")
        } else {
            format!("resume: not visible on the target (live weight {live}%); not re-applied")
        };
        journal
            .applied(rollout_id, intent.seq, applied, &detail)
            .map_err(|e| e.to_string())?;
        intents.push(Reconciled {
            seq: intent.seq,
            kind: intent.kind,
            payload: intent.payload,
            applied,
        });
    }
    Ok((intents, promoted))
}

/// All traffic back to stable (write-ahead, like the loop does), the pending
/// approval closed, then `Finished` as rolled back.
async fn roll_back(
    journal: &dyn Journal,
    record: &RolloutRecord,
    backends: &Backends,
    sink: &mut JournalSink,
    at: f64,
    live: u8,
    reason: &str,
) -> Result<(), String> {
    close_pending_approval(journal, record);
    sink.emit(
        at,
        &Event::AutoRollback {
            reason: reason.into(),
        },
    );
    let seq = journal
        .intent(&record.id, at, "rollback", json!({"from": live}))
        .map_err(|e| e.to_string())?;
    let result = backends.traffic.rollback().await;
    let detail = result
        .as_ref()
        .err()
        .map_or("rolled back".to_string(), |e| e.to_string());
    journal
        .applied(&record.id, seq, result.is_ok(), &detail)
        .map_err(|e| e.to_string())?;
    if let Err(e) = result {
        return Err(format!("rollback failed: {e} (run `resume` again)"));
    }
    if live > 0 {
        sink.emit(at, &Event::WeightChanged { from: live, to: 0 });
    }
    finish(sink, at, Outcome::RolledBack, reason, 0)
}

fn finish(
    sink: &mut JournalSink,
    at: f64,
    outcome: Outcome,
    reason: &str,
    weight: u8,
) -> Result<(), String> {
    sink.emit(
        at,
        &Event::Finished {
            outcome,
            reason: reason.into(),
            weight,
        },
    );
    Ok(())
}

/// What `continue` needs, all from the journal and the repository; an `Err`
/// says what is missing (and the caller rolls back).
async fn continue_point(
    journal: &dyn Journal,
    settings: &Settings,
    policy: &Policy,
    cmd: &ResumeCommand,
    record: &RolloutRecord,
    events: &[StoredEvent],
    live: u8,
) -> Result<(ResumePoint, ChangeContext), String> {
    let risk: RiskSnapshot = events
        .iter()
        .find(|e| e.kind == "assessed")
        .and_then(|e| serde_json::from_value(e.payload["risk"].clone()).ok())
        .ok_or("the journal holds no readable `assessed` event")?;
    let mut context = change_context(settings, policy, cmd, record).await?;
    // What the tools show the planner agrees with what the guard enforces.
    let a = &mut context.assessment;
    a.risk_score = risk.score;
    a.level = risk.level;
    a.requires_approval = risk.requires_approval;
    a.approval_reasons = risk.approval_reasons.clone();
    a.strategy = risk.strategy.clone();
    let approval = match decided_before_crash(events) {
        Some(a) => Some(a),
        None => decided_in_journal(journal, record)?,
    };
    let turns = events.iter().filter(|e| e.kind == "planner_turn");
    let tokens = |field: &str| -> u64 {
        turns
            .clone()
            .filter_map(|e| e.payload[field].as_u64())
            .sum()
    };
    let point = ResumePoint {
        risk,
        weight: live,
        approval,
        started_at: events.first().map_or(0.0, |e| e.at),
        turns: u32::try_from(turns.clone().count()).unwrap_or(u32::MAX),
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
    };
    Ok((point, context))
}

/// The approval the dead process recorded as an event (any approver, including
/// `--approve-as` and the terminal, which leave no journal request).
fn decided_before_crash(events: &[StoredEvent]) -> Option<ApprovalRecord> {
    let e = events.iter().rev().find(|e| e.kind == "approval_decided")?;
    Some(ApprovalRecord {
        approved: e.payload["approved"].as_bool()?,
        by: e.payload["by"].as_str().map(str::to_string),
        at: e.at,
        reason: e.payload["reason"].as_str().unwrap_or_default().to_string(),
    })
}

/// A decision made in the journal while no agent ran (`deploy-agent approve`).
fn decided_in_journal(
    journal: &dyn Journal,
    record: &RolloutRecord,
) -> Result<Option<ApprovalRecord>, String> {
    match journal.approval_status(&record.id, &record.rev) {
        Ok(Some(crate::journal::ApprovalStatus::Decided(d))) => Ok(Some(ApprovalRecord {
            approved: d.approved,
            by: d.by,
            at: d.decided_at,
            reason: d.reason,
        })),
        Ok(_) => Ok(None),
        Err(e) => Err(format!("cannot read the approval: {e}")),
    }
}

/// The change and its diff, re-read from the repository (offline, no model) for
/// the tools; the caller puts the journaled risk facts back over its score.
async fn change_context(
    settings: &Settings,
    policy: &Policy,
    cmd: &ResumeCommand,
    record: &RolloutRecord,
) -> Result<ChangeContext, String> {
    let repo = LocalGit::open(&cmd.repo).map_err(|e| {
        format!(
            "no repository at {} ({e}); run resume in the repository or pass --repo",
            cmd.repo.display()
        )
    })?;
    let request = AssessRequest {
        rev: record.rev.clone(),
        base: None,
        llm: LlmMode::Off,
    };
    let (change, assessment) = assess_change(&repo, policy, &settings.llm, &request)
        .await
        .map_err(|e| {
            format!(
                "cannot read revision {} in {}: {e}",
                record.rev,
                cmd.repo.display()
            )
        })?;
    let diff = repo
        .diff_excerpt(&change, 32_000)
        .map_err(|e| e.to_string())?;
    Ok(ChangeContext { assessment, diff })
}

/// Runs the loop from `point` to the end, journaled (and shown on stderr in
/// text mode), with the playbook planner and a fresh judge.
async fn continue_rollout(
    journal: &Arc<dyn Journal>,
    policy: &Policy,
    cmd: &ResumeCommand,
    record: &RolloutRecord,
    context: &ChangeContext,
    backends: Backends,
    point: ResumePoint,
) -> crate::rollout::RolloutSummary {
    let spec = RolloutSpec {
        id: record.id.clone(),
        service: record.service.clone(),
        rev: record.rev.clone(),
        target: record.target.clone(),
        start_weight: point.weight,
    };
    let mut sink = Fanout::default();
    sink.sinks
        .push(Box::new(JournalSink::resuming(journal.clone(), &record.id)));
    if cmd.format == JournalFormat::Text {
        sink.sinks
            .push(Box::new(TerminalProgress::new(std::io::stderr())));
    }
    let mut planner = PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes);
    let judge = Box::new(SequentialJudge::new(policy.canary));
    rollout::resume(
        &spec,
        context,
        policy,
        &mut planner,
        judge,
        backends.with_journal(journal.clone()),
        &mut sink,
        point,
    )
    .await
}

/// Whether an intent's effect shows in the live weight.
fn visible(intent: &Intent, live: u8) -> bool {
    match intent.kind.as_str() {
        "set_weight" => intent.payload["to"].as_u64() == Some(u64::from(live)),
        "promote" => live == 100,
        "rollback" => live == 0,
        _ => false,
    }
}

/// A pending approval of a rollout that is being ended is decided as a
/// rejection, so a late `approve` is refused rather than silently ignored.
fn close_pending_approval(journal: &dyn Journal, record: &RolloutRecord) {
    let decision = ApprovalDecision {
        approved: false,
        by: None,
        reason: "the rollout was resumed after a crash and ended".into(),
        decided_at: wall_now(),
    };
    if let Ok(Some(crate::journal::ApprovalStatus::Pending(_))) =
        journal.approval_status(&record.id, &record.rev)
    {
        if let Err(e) = journal.decide_approval(&record.id, &record.rev, &decision) {
            tracing::warn!(error = %e, rollout = %record.id, "could not close the pending approval");
        }
    }
}

/// The backends of a rollout's target, and whether it is simulated. The
/// simulated world is rebuilt from the journal's weight changes (its scenario
/// from the target label); a real target is reached through the service's
/// settings, which must still name the target the rollout ran on.
fn target_backends(
    settings: &Settings,
    record: &RolloutRecord,
    events: &[StoredEvent],
    approver: Arc<dyn Approver>,
) -> Result<(Backends, bool), String> {
    if let Some(scenario) = record.target.strip_prefix("sim:") {
        let scenario = <Scenario as clap::ValueEnum>::from_str(scenario, false)
            .map_err(|_| format!("unknown simulated scenario in target `{}`", record.target))?;
        let start = events.first().map_or(0.0, |e| e.at);
        let clock = Arc::new(VirtualClock::new(start));
        let (backends, world) =
            Backends::simulated(SimConfig::new(scenario, 0), clock.clone(), approver);
        for e in events.iter().filter(|e| e.kind == "weight_changed") {
            if let Some(to) = e.payload["to"].as_u64() {
                clock.advance((e.at - world.now()).max(0.0));
                world.set_weight(u8::try_from(to).unwrap_or(0));
            }
        }
        // Virtual time goes on from the last thing the dead process recorded.
        let last = events.last().map_or(start, |e| e.at);
        clock.advance((last - world.now()).max(0.0));
        return Ok((backends, true));
    }
    let kind = record.target.split(':').next().unwrap_or_default();
    let built = match kind {
        "haproxy" => backends::haproxy_prometheus(&record.service, settings, false, approver),
        "kubernetes" => backends::kubernetes_prometheus(&record.service, settings, false, approver),
        "argo" => backends::argo_prometheus(&record.service, settings, false, approver),
        _ => {
            return Err(format!(
                "cannot resume a rollout on target `{}`: no router for it",
                record.target
            ))
        }
    };
    let (backends, label) = built.map_err(|e| e.to_string())?;
    if label != record.target {
        return Err(format!(
            "the settings of {} now point at `{label}` but the rollout ran on `{}`: restore the settings it ran with, then resume",
            record.service, record.target
        ));
    }
    Ok((backends, false))
}

fn render(report: &[Resumed]) -> String {
    if report.is_empty() {
        return "no unfinished rollouts in the journal\n".into();
    }
    let mut out = String::new();
    for r in report {
        let intents = if r.intents.is_empty() {
            "no open intents".to_string()
        } else {
            r.intents
                .iter()
                .map(|i| {
                    let verdict = if i.applied { "applied" } else { "not applied" };
                    format!("#{} {} {}: {verdict}", i.seq, i.kind, i.payload)
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        match &r.error {
            Some(e) => out.push_str(&format!("{}: could not resume: {e}\n", r.id)),
            None => out.push_str(&format!(
                "{}: live weight {}%, {intents}; {}{} at {}%\n",
                r.id,
                r.live_weight,
                match &r.fallback {
                    Some(why) => format!("cannot continue ({why}); "),
                    None if r.action == "continue" => "continued, ".to_string(),
                    None => String::new(),
                },
                r.outcome,
                r.final_weight
            )),
        }
    }
    out
}
