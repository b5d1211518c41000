//! `deploy-agent bench rollouts`: the whole loop as users see it — the
//! playbook planner, the guard, the judge and the simulated world — over risk
//! levels × scenarios × traffic, many seeds a cell. Where `bench canary`
//! judges one step at a fixed share, this counts what a team lives with: how
//! often a healthy release is rolled back (by a Fail, missing data or a
//! budget alike), how often a bad one is caught, how often a human is asked,
//! whether anything is promoted without a judged Pass, how long a decision
//! takes, and how many users met the bad version.
//!
//! Each judge runs its whole rollout through the same loop: ours the policy's
//! schedule for the level, each baseline the schedule its product's own
//! documentation shows (see [`JudgeKind::schedule`]).
//!
//! The simulated human: approves every rollout approval, and answers "no" to
//! every question whether to go on without a Pass — the run is then counted
//! as *asked* (a person decided), neither a rollback nor a promotion.

mod render;
mod row;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

pub use render::{render_markdown, targets, Target};
pub use row::Row;

use crate::approval::{ApprovalAnswer, ApprovalRequest, Approver};
use crate::canary::baselines::{
    ArgoAnalysisConfig, ArgoJudge, FlaggerConfig, FlaggerJudge, KayentaConfig, KayentaJudge,
};
use crate::canary::{Judge, SequentialJudge, VerdictKind};
use crate::clock::VirtualClock;
use crate::commands::bench::synthetic_assessment;
use crate::planner::PlaybookPlanner;
use crate::policy::{Level, OnInconclusive, Policy, Strategy};
use crate::rollout::events::{Collector, Event};
use crate::rollout::state::{Outcome, PromotedOn};
use crate::rollout::{self, Backends, ChangeContext, RolloutSpec};
use crate::sim::{Scenario, SimConfig};

/// The judge the loop runs with, and whose schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgeKind {
    /// deploy-agent's sequential judge and the policy's strategy for the level.
    Ours,
    /// Flagger's Istio tutorial: stepWeight 10 to maxWeight 50, 1 min
    /// intervals, threshold 5 (see `canary::baselines::flagger`).
    Flagger,
    /// Flagger's "how it works" page and README: stepWeight 5, threshold 10.
    FlaggerReadme,
    /// Argo Rollouts' background-analysis example: 20/40/60/80 % with 10 min
    /// pauses, success rate ≥ 95 % every 5 min, failureLimit 3.
    Argo,
    /// Argo Rollouts' inline-analysis example: 20 %, 5 min pause, one measurement.
    ArgoInline,
    /// Spinnaker's canary best practices: one 3 h step judged hourly by
    /// Kayenta's Mann-Whitney classifier, marginal 75, pass 95.
    Kayenta,
}

impl JudgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeKind::Ours => "ours",
            JudgeKind::Flagger => "flagger",
            JudgeKind::FlaggerReadme => "flagger-readme",
            JudgeKind::Argo => "argo",
            JudgeKind::ArgoInline => "argo-inline",
            JudgeKind::Kayenta => "kayenta",
        }
    }

    /// The judge, and the schedule it runs (None: the policy's for the level).
    fn judge(self, policy: &Policy) -> (Box<dyn Judge>, Option<Strategy>) {
        fn with<J: Judge + 'static>(
            judge: J,
            schedule: Strategy,
        ) -> (Box<dyn Judge>, Option<Strategy>) {
            (Box::new(judge), Some(schedule))
        }
        match self {
            JudgeKind::Ours => (Box::new(SequentialJudge::new(policy.canary)), None),
            JudgeKind::Flagger => {
                let c = FlaggerConfig::documented();
                with(FlaggerJudge::for_loop(c), c.schedule())
            }
            JudgeKind::FlaggerReadme => {
                let c = FlaggerConfig::alternative();
                with(FlaggerJudge::for_loop(c), c.schedule())
            }
            JudgeKind::Argo => {
                let c = ArgoAnalysisConfig::documented();
                with(ArgoJudge::for_loop(c), c.schedule())
            }
            JudgeKind::ArgoInline => {
                let c = ArgoAnalysisConfig::alternative();
                with(ArgoJudge::for_loop(c), c.schedule())
            }
            JudgeKind::Kayenta => {
                let c = KayentaConfig::documented();
                with(KayentaJudge::for_loop(c), c.schedule())
            }
        }
    }

    /// The loop's policy for this judge: a baseline decides on its own when to
    /// fail and never hands an Inconclusive step to our hold/ask machinery.
    fn policy(self, policy: &Policy) -> Policy {
        let mut p = policy.clone();
        if self != JudgeKind::Ours {
            p.rollout.max_inconclusive_bakes = u32::MAX;
            p.rollout.inconclusive.then = OnInconclusive::Rollback;
            p.rollout.inconclusive.hold_seconds = 0.0;
        }
        p
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RolloutBench {
    pub judges: Vec<JudgeKind>,
    pub levels: Vec<Level>,
    pub scenarios: Vec<Scenario>,
    pub rps: Vec<f64>,
    pub seeds: u64,
    /// Added to every seed: another sample of the same cells.
    pub seed_offset: u64,
}

/// Runs every cell; `progress` is told after each.
pub async fn run(
    bench: &RolloutBench,
    policy: &Policy,
    mut progress: impl FnMut(&Row, usize, usize),
) -> Vec<Row> {
    let cells: Vec<(JudgeKind, Level, Scenario, f64)> = bench
        .judges
        .iter()
        .flat_map(|&j| {
            bench.levels.iter().flat_map(move |&l| {
                bench
                    .scenarios
                    .iter()
                    .flat_map(move |&s| bench.rps.iter().map(move |&r| (j, l, s, r)))
            })
        })
        .collect();
    let mut rows = Vec::with_capacity(cells.len());
    for (i, &(judge, level, scenario, rps)) in cells.iter().enumerate() {
        let loop_policy = judge.policy(policy);
        let mut assessment = synthetic_assessment(&loop_policy, level);
        if let (_, Some(schedule)) = judge.judge(policy) {
            assessment.strategy = schedule;
        }
        let context = ChangeContext {
            assessment,
            diff: String::new(),
        };
        let mut runs = Vec::with_capacity(bench.seeds as usize);
        for seed in 0..bench.seeds {
            let seed = seed.wrapping_add(bench.seed_offset);
            runs.push(run_one(&context, &loop_policy, judge, scenario, rps, seed).await);
        }
        let row = Row::new(judge, level, scenario, rps, policy, &runs);
        progress(&row, i + 1, cells.len());
        rows.push(row);
    }
    rows
}

/// What one rollout came to.
pub(crate) struct Run {
    pub outcome: Outcome,
    pub promoted_on: Option<PromotedOn>,
    /// Ended at a human's "no" to going on without a Pass.
    pub asked: bool,
    pub failed_by_judge: bool,
    /// Canary requests the judge had seen when it said Fail.
    pub fail_canary_requests: Option<u64>,
    pub minutes: f64,
    /// Why it ended, digits blanked so alike reasons group.
    pub reason: String,
    pub canary_requests: u64,
    pub canary_errors: u64,
    pub all_requests: u64,
}

/// Approves rollouts; says no to going on without a Pass, and remembers it was asked.
struct BenchHuman {
    asked: AtomicBool,
}

#[async_trait]
impl Approver for BenchHuman {
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        if request.go_on_at.is_some() {
            self.asked.store(true, Ordering::SeqCst);
            return ApprovalAnswer {
                approved: false,
                by: Some("bench".into()),
                reason: "the benchmark stops at the question (counted as asked)".into(),
            };
        }
        ApprovalAnswer {
            approved: true,
            by: Some("bench".into()),
            reason: "approved by the benchmark".into(),
        }
    }
}

async fn run_one(
    context: &ChangeContext,
    policy: &Policy,
    judge: JudgeKind,
    scenario: Scenario,
    rps: f64,
    seed: u64,
) -> Run {
    let clock = Arc::new(VirtualClock::new(1_800_000_000.0));
    let config = SimConfig {
        rps,
        ..SimConfig::new(scenario, seed)
    };
    let human = Arc::new(BenchHuman {
        asked: AtomicBool::new(false),
    });
    let (backends, world) = Backends::simulated(config, clock.clone(), human.clone());
    let spec = RolloutSpec {
        id: format!("bench-{seed}"),
        service: "bench".into(),
        rev: context.assessment.rev.clone(),
        target: format!("sim:{}", scenario.as_str()),
        start_weight: 0,
    };
    let mut planner = PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes);
    let mut sink = Collector::default();
    let summary = rollout::run(
        &spec,
        context,
        policy,
        &mut planner,
        judge.judge(policy).0,
        backends,
        &mut sink,
    )
    .await;
    let fail = sink.events.iter().find_map(|(_, e)| match e {
        Event::Judged { verdict, .. } if verdict.kind == VerdictKind::Fail => {
            Some(verdict.canary_requests)
        }
        _ => None,
    });
    let (canary_requests, canary_errors) = world.canary_served(summary.ended_at);
    let all_requests = world
        .window(summary.started_at, summary.ended_at.max(summary.started_at))
        .map(|w| {
            w.stable.map_or(0, |s| s.requests) + w.canary.map_or(canary_requests, |c| c.requests)
        })
        .unwrap_or(0);
    Run {
        outcome: summary.outcome,
        promoted_on: summary.promoted_on,
        asked: human.asked.load(Ordering::SeqCst) && summary.outcome != Outcome::Promoted,
        failed_by_judge: fail.is_some(),
        fail_canary_requests: fail,
        minutes: summary.duration_seconds() / 60.0,
        reason: reason_class(&summary.reason),
        canary_requests,
        canary_errors,
        all_requests,
    }
}

/// The reason without its numbers (and cut short), so alike ends group.
fn reason_class(reason: &str) -> String {
    let mut out = String::new();
    for c in reason.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else if c != '.' || !out.ends_with('#') {
            out.push(c);
        }
    }
    out.chars().take(90).collect()
}

#[cfg(test)]
mod tests;
