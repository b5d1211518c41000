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
//! A promotion found already in effect (the target's own read-back) is
//! recorded as promoted, not undone. A staged promotion that did not complete
//! is undone and rolled back, and so is a rollout whose rollback was never
//! confirmed (`rollback_failed`), whatever `on_resume` says. The rollback is
//! retried until the target confirms it; if it never does, the rollout stays
//! open as `rollback_failed` and the report says what still serves.
//!
//! The simulated target lives in the process that died, so its world is rebuilt
//! from the journal: the live weight is the last `weight_changed` the journal
//! holds (a change made but not journaled died with the process).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

mod continuing;
mod error;
mod reconcile;
mod takeover;
mod target;

use crate::approval::{Approver, JournalApprover};
use crate::commands::journal::{open_existing, JournalFormat, JournalLocation};
use crate::error::Error;
use crate::journal::{wall_now, Journal, JournalError, JournalSink, LeaseKeeper, RolloutRecord};
use crate::policy::OnResume;
use crate::policy::Policy;
use crate::rollout::events::{Event, EventSink};
use crate::rollout::state::Outcome;
use crate::rollout::Backends;
use crate::settings::{Env, Settings};
use continuing::{continue_point, continue_rollout, decided_before_crash};
use reconcile::{reconcile, roll_back, RollBack};
use takeover::failed;
pub use takeover::{take_lease, take_over};
use target::target_backends;

pub use error::{ResumeError, RollbackError};

/// The reason recorded for a rollout rolled back by `resume`.
pub const ROLLBACK_REASON: &str = "resumed after a crash: rolled back per on_resume";

/// What resuming a rollout needs besides the journal and the rollout.
#[derive(Debug, Clone, Copy)]
pub struct ResumeContext<'a> {
    pub settings: &'a Settings,
    pub policy: &'a Policy,
    /// The repository the rollouts' revisions live in (`continue` re-reads the change).
    pub repo: &'a Path,
    /// Show the continued loop's progress on stderr.
    pub show_progress: bool,
}

/// The journal sink of a resumed rollout: its writes carry the lease when there is one.
fn resuming_sink(journal: &Arc<dyn Journal>, backends: &Backends, rollout_id: &str) -> JournalSink {
    let sink = JournalSink::resuming(journal.clone(), rollout_id);
    match &backends.lease {
        Some(lease) => sink.fenced(lease.fence()),
        None => sink,
    }
}

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
    /// Who still owns it, when its lease is live (`outcome` is `owned`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
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
/// code (0 all finished, 7 a rollback still not confirmed, 1 some could not be
/// resumed).
pub async fn run_resume(cmd: &ResumeCommand) -> Result<(String, u8), Error> {
    let settings = Settings::load(cmd.location.config.as_deref(), &Env::from_process())?;
    let policy = settings.policy(cmd.policy.as_deref())?;
    let journal: Arc<dyn Journal> = open_existing(&cmd.location)?;
    let ctx = ResumeContext {
        settings: &settings,
        policy: &policy,
        repo: &cmd.repo,
        show_progress: cmd.format == JournalFormat::Text,
    };
    let mut report = Vec::new();
    for record in journal.unfinished()? {
        // Only rollouts no live process owns: a takeover of an expired lease.
        let resumed = match take_lease(&journal, &settings, &record) {
            Ok(lease) => take_over(&journal, &ctx, &record, Arc::new(lease)).await,
            Err(held @ JournalError::LeaseHeld { .. }) => Resumed {
                outcome: "owned".into(),
                owner: Some(held.to_string()),
                error: None,
                ..failed(&policy, &record, String::new())
            },
            Err(e) => failed(&policy, &record, e.to_string()),
        };
        report.push(resumed);
    }
    let failed_rollback = |r: &Resumed| r.outcome == Outcome::RollbackFailed.as_str();
    let code = if report.iter().any(failed_rollback) {
        crate::commands::rollout::codes::ROLLBACK_FAILED
    } else {
        u8::from(report.iter().any(|r| r.error.is_some()))
    };
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
    ctx: &ResumeContext<'_>,
    record: &RolloutRecord,
    lease: Option<Arc<LeaseKeeper>>,
) -> Result<Resumed, ResumeError> {
    let (settings, policy) = (ctx.settings, ctx.policy);
    let events = journal.events(&record.id)?;
    let approver: Arc<dyn Approver> = Arc::new(
        JournalApprover::new(journal.clone())
            .checking_voters(settings.directory(), &record.service),
    );
    let (mut backends, simulated) = target_backends(settings, record, &events, approver)?;
    if let Some(lease) = lease {
        backends = backends.with_lease(lease);
    }
    let live = backends
        .traffic
        .canary_weight()
        .await
        .map_err(ResumeError::LiveWeight)?;
    let last_at = events.last().map_or(0.0, |e| e.at);
    // The simulated clock is virtual: continue from the last event's time.
    let at = if simulated {
        last_at
    } else {
        wall_now().max(last_at)
    };
    let found = reconcile(
        journal.as_ref(),
        &record.id,
        backends.traffic.as_ref(),
        live,
    )
    .await?;

    let mut sink = resuming_sink(journal, &backends, &record.id);
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
        intents: found.intents,
        outcome: String::new(),
        action: "rollback".into(),
        fallback: None,
        final_weight: live,
        owner: None,
        error: None,
    };
    let rollback_failed = record.outcome.as_deref() == Some(Outcome::RollbackFailed.as_str());
    let (outcome, final_weight) = if found.promoted {
        let reason = "resumed after a crash: the promotion had taken effect";
        finish(&mut sink, at, Outcome::Promoted, reason, 100);
        (Outcome::Promoted, 100)
    } else {
        // A rollout that had decided to roll back, or whose promotion was half
        // staged, is rolled back whatever on_resume says.
        let mut why_not = if rollback_failed {
            Some(ResumeError::RollbackUnconfirmed)
        } else if found.undo.is_some() {
            Some(ResumeError::StagedPromotion)
        } else {
            None
        };
        let resumable = match (&why_not, policy.rollout.on_resume) {
            (None, OnResume::Continue) => Some(
                continue_point(
                    journal.as_ref(),
                    settings,
                    policy,
                    ctx,
                    record,
                    &events,
                    live,
                )
                .await,
            ),
            (Some(_), OnResume::Continue) => why_not.take().map(Err),
            (_, OnResume::Rollback) => None,
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
                    continue_rollout(journal, policy, ctx, record, &context, backends, point).await;
                (summary.outcome, summary.final_weight)
            }
            other => {
                let reason = match (other, why_not) {
                    (Some(Err(why)), _) => {
                        tracing::warn!(rollout = %record.id, "cannot continue, rolling back: {why}");
                        let reason =
                            format!("resumed after a crash: cannot continue ({why}): rolled back");
                        resumed.fallback = Some(why.to_string());
                        reason
                    }
                    (_, Some(why)) => format!("resumed after a crash: {why}: rolled back"),
                    _ => ROLLBACK_REASON.to_string(),
                };
                let job = RollBack {
                    record,
                    at,
                    live,
                    reason: &reason,
                    undo: found.undo,
                    deadline_seconds: policy.rollout.rollback_deadline_seconds,
                };
                match roll_back(journal.as_ref(), &backends, &mut sink, job).await {
                    Ok(()) => (Outcome::RolledBack, 0),
                    Err(message) => {
                        resumed.outcome = Outcome::RollbackFailed.as_str().into();
                        resumed.error = Some(format!("rollback failed: {message}"));
                        return Ok(resumed);
                    }
                }
            }
        }
    };
    if let Some(e) = sink.error() {
        return Err(ResumeError::JournalWrite(e.to_string()));
    }
    resumed.outcome = outcome.as_str().to_string();
    resumed.final_weight = final_weight;
    Ok(resumed)
}

fn finish(sink: &mut JournalSink, at: f64, outcome: Outcome, reason: &str, weight: u8) {
    sink.emit(
        at,
        &Event::Finished {
            outcome,
            reason: reason.into(),
            weight,
        },
    );
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
