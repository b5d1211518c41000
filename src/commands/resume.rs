//! `deploy-agent resume`: finishing rollouts whose process died.
//!
//! For each unfinished rollout in the journal: read the live weight from its
//! target, reconcile the open write-ahead intents with it (an effect visible on
//! the target was applied, one not visible was not; nothing is re-applied), then
//! follow the policy's `on_resume`. Only `rollback` is implemented: all traffic
//! back to stable, then `AutoRollback` and `Finished` in the journal. A promotion
//! found already in effect is recorded as promoted, not undone.
//!
//! The simulated target lives in the process that died, so its world is rebuilt
//! from the journal: the live weight is the last `weight_changed` the journal
//! holds (a change made but not journaled died with the process).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::approval::FixedApprover;
use crate::clock::VirtualClock;
use crate::commands::backends;
use crate::commands::journal::{open_existing, JournalFormat, JournalLocation};
use crate::error::Error;
use crate::journal::{
    wall_now, ApprovalDecision, Intent, Journal, JournalSink, RolloutRecord, StoredEvent,
};
use crate::policy::OnResume;
use crate::rollout::events::{Event, EventSink};
use crate::rollout::state::Outcome;
use crate::settings::{Env, Settings};
use crate::sim::{SimConfig, SimWorld};
use crate::traffic::TrafficRouter;

/// The reason recorded for a rollout rolled back by `resume`.
pub const ROLLBACK_REASON: &str = "resumed after a crash: rolled back per on_resume";

/// `deploy-agent resume`.
#[derive(Debug, Clone)]
pub struct ResumeCommand {
    pub location: JournalLocation,
    /// Policy file (default: `policy` in the config, else the embedded default).
    pub policy: Option<PathBuf>,
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
    /// `rolled_back`, `promoted`, or `failed` (with `error`).
    pub outcome: String,
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
    let journal: Arc<dyn Journal> = Arc::new(open_existing(&cmd.location)?);
    let unfinished = journal.unfinished()?;
    if !unfinished.is_empty() && policy.rollout.on_resume == OnResume::Continue {
        return Err(Error::Usage(format!(
            "on_resume = \"continue\" is not implemented yet ({} unfinished rollout(s) left as they are): set on_resume = \"rollback\" in the policy's [rollout] section",
            unfinished.len()
        )));
    }
    let mut report = Vec::new();
    for record in unfinished {
        let resumed = match resume_one(&journal, &settings, &record).await {
            Ok(r) => r,
            Err(e) => Resumed {
                id: record.id.clone(),
                target: record.target.clone(),
                live_weight: record.weight,
                intents: Vec::new(),
                outcome: "failed".into(),
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
    record: &RolloutRecord,
) -> Result<Resumed, String> {
    let events = journal.events(&record.id).map_err(|e| e.to_string())?;
    let (traffic, simulated) = router(settings, record, &events)?;
    let live = traffic
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

    let mut intents = Vec::new();
    let mut promoted = false;
    for intent in journal
        .open_intents(&record.id)
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
            .applied(&record.id, intent.seq, applied, &detail)
            .map_err(|e| e.to_string())?;
        intents.push(Reconciled {
            seq: intent.seq,
            kind: intent.kind,
            payload: intent.payload,
            applied,
        });
    }

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
    close_pending_approval(journal.as_ref(), record);
    let (outcome, reason, final_weight) = if promoted && live == 100 {
        let reason = "resumed after a crash: the promotion had taken effect".to_string();
        (Outcome::Promoted, reason, 100)
    } else {
        sink.emit(
            at,
            &Event::AutoRollback {
                reason: ROLLBACK_REASON.into(),
            },
        );
        let seq = journal
            .intent(&record.id, at, "rollback", json!({"from": live}))
            .map_err(|e| e.to_string())?;
        let result = traffic.rollback().await;
        let ok = result.is_ok();
        let detail = result
            .as_ref()
            .err()
            .map_or("rolled back".to_string(), |e| e.to_string());
        journal
            .applied(&record.id, seq, ok, &detail)
            .map_err(|e| e.to_string())?;
        if let Err(e) = result {
            return Err(format!("rollback failed: {e} (run `resume` again)"));
        }
        if live > 0 {
            sink.emit(at, &Event::WeightChanged { from: live, to: 0 });
        }
        (Outcome::RolledBack, ROLLBACK_REASON.to_string(), 0)
    };
    sink.emit(
        at,
        &Event::Finished {
            outcome,
            reason,
            weight: final_weight,
        },
    );
    if let Some(e) = sink.error() {
        return Err(format!("could not write to the journal: {e}"));
    }
    Ok(Resumed {
        id: record.id.clone(),
        target: record.target.clone(),
        live_weight: live,
        intents,
        outcome: outcome.as_str().to_string(),
        final_weight,
        error: None,
    })
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

/// The router of a rollout's target. The simulated world is rebuilt from the
/// journal's weight changes; HAProxy is reached through the service's settings.
fn router(
    settings: &Settings,
    record: &RolloutRecord,
    events: &[StoredEvent],
) -> Result<(Arc<dyn TrafficRouter>, bool), String> {
    if record.target.starts_with("sim:") {
        let start = events.first().map_or(0.0, |e| e.at);
        let clock = Arc::new(VirtualClock::new(start));
        let world = SimWorld::new(SimConfig::default(), clock.clone());
        for e in events {
            if e.kind == "weight_changed" {
                if let Some(to) = e.payload["to"].as_u64() {
                    clock.advance((e.at - world.now()).max(0.0));
                    world.set_weight(u8::try_from(to).unwrap_or(0));
                }
            }
        }
        return Ok((Arc::new(world.traffic()), true));
    }
    if record.target.starts_with("haproxy:") {
        let reject = Arc::new(FixedApprover::reject("resume asks nobody"));
        let (backends, _) = backends::haproxy_prometheus(&record.service, settings, false, reject)
            .map_err(|e| e.to_string())?;
        return Ok((backends.traffic, false));
    }
    Err(format!(
        "cannot resume a rollout on target `{}`: no router for it",
        record.target
    ))
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
                "{}: live weight {}%, {intents}; {} at {}%\n",
                r.id, r.live_weight, r.outcome, r.final_weight
            )),
        }
    }
    out
}
