//! `on_resume = "continue"`: what the loop needs to pick a rollout up where
//! its process died, all from the journal and the repository.

use std::sync::Arc;

use super::{resuming_sink, ResumeContext, ResumeError};
use crate::assess::{assess_change, AssessRequest, LlmMode};
use crate::canary::SequentialJudge;
use crate::git::{ChangeSource, LocalGit};
use crate::journal::{Journal, RolloutRecord, StoredEvent};
use crate::planner::PlaybookPlanner;
use crate::policy::{Level, Policy, Strategy};
use crate::rollout::events::Fanout;
use crate::rollout::state::{ApprovalRecord, RiskSnapshot};
use crate::rollout::terminal::TerminalProgress;
use crate::rollout::{self, Backends, ChangeContext, ResumePoint, RolloutSpec};
use crate::settings::Settings;

/// What `continue` needs, all from the journal and the repository; an `Err`
/// says what is missing (and the caller rolls back).
pub(super) async fn continue_point(
    journal: &dyn Journal,
    settings: &Settings,
    policy: &Policy,
    ctx: &ResumeContext<'_>,
    record: &RolloutRecord,
    events: &[StoredEvent],
    live: u8,
) -> Result<(ResumePoint, ChangeContext), ResumeError> {
    let risk: RiskSnapshot = events
        .iter()
        .find(|e| e.kind == "assessed")
        .and_then(|e| serde_json::from_value(e.payload["risk"].clone()).ok())
        .ok_or(ResumeError::NoAssessment)?;
    let mut context = change_context(settings, policy, ctx, record).await?;
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
        chosen_strategy: chosen_strategy(events),
        chosen_metrics: chosen_metrics(events),
    };
    Ok((point, context))
}

/// The last more cautious strategy the planner chose before the crash: the
/// resumed loop must not fall back to the assessed level's faster limits.
fn chosen_strategy(events: &[StoredEvent]) -> Option<(Level, Strategy)> {
    let e = events.iter().rev().find(|e| e.kind == "strategy_chosen")?;
    let level = serde_json::from_value(e.payload["level"].clone()).ok()?;
    let strategy = serde_json::from_value(e.payload["strategy"].clone()).ok()?;
    Some((level, strategy))
}

/// Every catalogue metric the planner added before the crash, in order: the
/// resumed judge keeps judging them (a metric added is never dropped).
fn chosen_metrics(events: &[StoredEvent]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| e.kind == "metrics_added") {
        let added = e.payload["metrics"].as_array().into_iter().flatten();
        for name in added.filter_map(|m| m.as_str()) {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// The approval the dead process recorded as an event (any approver, including
/// `--approve-as` and the terminal, which leave no journal request).
pub(super) fn decided_before_crash(events: &[StoredEvent]) -> Option<ApprovalRecord> {
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
) -> Result<Option<ApprovalRecord>, ResumeError> {
    match journal.approval_status(&record.id, &record.rev) {
        Ok(Some(crate::journal::ApprovalStatus::Decided(d))) => Ok(Some(ApprovalRecord {
            approved: d.approved,
            by: d.by,
            at: d.decided_at,
            reason: d.reason,
        })),
        Ok(_) => Ok(None),
        Err(e) => Err(ResumeError::Approval(e)),
    }
}

/// The change and its diff, re-read from the repository (offline, no model) for
/// the tools; the caller puts the journaled risk facts back over its score.
async fn change_context(
    settings: &Settings,
    policy: &Policy,
    ctx: &ResumeContext<'_>,
    record: &RolloutRecord,
) -> Result<ChangeContext, ResumeError> {
    let repo = LocalGit::open(ctx.repo).map_err(|source| ResumeError::NoRepository {
        path: ctx.repo.to_path_buf(),
        source,
    })?;
    let request = AssessRequest {
        rev: record.rev.clone(),
        base: None,
        llm: LlmMode::Off,
    };
    let (change, assessment) = assess_change(&repo, policy, &settings.llm, &request)
        .await
        .map_err(|source| ResumeError::Revision {
            rev: record.rev.clone(),
            path: ctx.repo.to_path_buf(),
            source,
        })?;
    let diff = repo
        .diff_excerpt(&change, 32_000)
        .map_err(ResumeError::Diff)?;
    Ok(ChangeContext { assessment, diff })
}

/// Runs the loop from `point` to the end, journaled (and shown on stderr in
/// text mode), with the playbook planner and a fresh judge.
pub(super) async fn continue_rollout(
    journal: &Arc<dyn Journal>,
    policy: &Policy,
    ctx: &ResumeContext<'_>,
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
        .push(Box::new(resuming_sink(journal, &backends, &record.id)));
    if ctx.show_progress {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::events::Event;

    fn stored(event: &Event) -> StoredEvent {
        let (kind, payload) = crate::journal::event_parts(event).unwrap();
        StoredEvent {
            rollout_id: "r".into(),
            seq: 1,
            at: 0.0,
            wall: 0.0,
            kind,
            payload,
        }
    }

    #[test]
    fn the_last_chosen_strategy_is_read_back_as_journaled() {
        let policy = Policy::embedded().unwrap();
        let choose = |level: Level| Event::StrategyChosen {
            level,
            reason: "careful".into(),
            strategy: policy.strategy_for(level).clone(),
        };
        assert_eq!(chosen_strategy(&[]), None);
        let events = [stored(&choose(Level::Medium)), stored(&choose(Level::High))];
        let (level, strategy) = chosen_strategy(&events).unwrap();
        assert_eq!(level, Level::High);
        assert_eq!(&strategy, policy.strategy_for(Level::High));
    }

    #[test]
    fn every_added_metric_is_read_back_once_in_order() {
        let add = |names: &[&str]| Event::MetricsAdded {
            metrics: names.iter().map(|n| n.to_string()).collect(),
            reason: "checkout".into(),
        };
        assert!(chosen_metrics(&[]).is_empty());
        let events = [
            stored(&add(&["endpoint:/checkout"])),
            stored(&add(&["endpoint:/search", "endpoint:/checkout"])),
        ];
        assert_eq!(
            chosen_metrics(&events),
            ["endpoint:/checkout", "endpoint:/search"]
        );
    }
}
