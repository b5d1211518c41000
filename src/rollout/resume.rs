//! `on_resume = "continue"`: the loop picks a rollout up where its process
//! died, at the weight the target serves, under the risk facts journaled at
//! its start.

use super::events::{Event, EventSink};
use super::runner::Runner;
use super::state::{ApprovalRecord, Limits, Outcome, Phase, RiskSnapshot};
use super::{Backends, ChangeContext, RolloutSpec, RolloutSummary};
use crate::canary::Judge;
use crate::planner::Planner;
use crate::policy::{Level, Policy, Strategy};

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
    /// A more cautious strategy the planner chose before the crash
    /// (`strategy_chosen`): the guard keeps holding the rollout to it.
    pub chosen_strategy: Option<(Level, Strategy)>,
    /// The catalogue metrics the planner added before the crash
    /// (`metrics_added`): the resumed judge keeps judging them.
    pub chosen_metrics: Vec<String>,
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
    let mut runner = Runner::new(
        spec,
        change,
        policy,
        point.risk.clone(),
        point.started_at,
        judge,
        backends,
        sink,
    );
    let s = &mut runner.state;
    s.weight = point.weight;
    s.approval = point.approval.clone();
    s.turns = point.turns;
    s.prompt_tokens = point.prompt_tokens;
    s.completion_tokens = point.completion_tokens;
    if let Some((level, strategy)) = &point.chosen_strategy {
        s.limits = Limits::new(strategy);
        s.strategy_level = *level;
    }
    // Restored even if the catalogue changed since: a metric the backend no
    // longer answers is NoData, never silently dropped.
    runner.restore_metrics(&point.chosen_metrics);
    // The target may serve the canary: ending must roll it back.
    runner.touched = true;
    runner.emit(Event::Resumed {
        weight: point.weight,
        detail: describe_resume(&point),
    });
    runner.refresh_granularity().await;
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
    runner.conclude(planner).await
}

fn describe_resume(point: &ResumePoint) -> String {
    let approval = match &point.approval {
        Some(a) if a.approved => format!("approved by {}", a.by.as_deref().unwrap_or("nobody")),
        Some(_) => "approval refused".to_string(),
        None if point.risk.requires_approval => "approval still pending".to_string(),
        None => "no approval needed".to_string(),
    };
    let metrics = if point.chosen_metrics.is_empty() {
        String::new()
    } else {
        format!(", still judging {}", point.chosen_metrics.join(", "))
    };
    format!(
        "continued per on_resume at {}% ({approval}, {} turn(s) and {} token(s) already spent); the judge starts over{metrics}",
        point.weight,
        point.turns,
        point.prompt_tokens + point.completion_tokens
    )
}
