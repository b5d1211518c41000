//! `deploy-agent bench rollouts`: the whole loop as users see it — the
//! playbook planner, the guard, the judge and the simulated world — over risk
//! levels × scenarios × traffic, many seeds a cell. Where `bench canary`
//! judges one step at a fixed share, this counts what a team lives with: how
//! often a healthy release is rolled back (by a Fail or a give-up alike), how
//! often a bad one is caught, whether anything is promoted without a judged
//! Pass, how long a decision takes, and how many users met the bad version.
//!
//! The same schedule (the policy's strategy for the level, the playbook) runs
//! with each judge, so a baseline is compared rollout against rollout.

use std::sync::Arc;

use serde::Serialize;

use crate::approval::FixedApprover;
use crate::bench::canary::stats::{quantile, wilson};
use crate::canary::baselines::{ArgoJudge, FlaggerJudge, KayentaJudge};
use crate::canary::{Judge, SequentialJudge, VerdictKind};
use crate::clock::VirtualClock;
use crate::commands::bench::synthetic_assessment;
use crate::planner::PlaybookPlanner;
use crate::policy::{Level, Policy};
use crate::rollout::events::{Collector, Event};
use crate::rollout::state::Outcome;
use crate::rollout::{self, Backends, ChangeContext, RolloutSpec};
use crate::sim::{Scenario, SimConfig};

/// The judge the loop runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgeKind {
    /// deploy-agent's sequential judge, with the policy's `[canary]` settings.
    Ours,
    /// Flagger's tutorial analysis (see `canary::baselines::flagger`).
    Flagger,
    /// The Argo Rollouts documentation's analysis example.
    Argo,
    /// Kayenta's per-interval Mann-Whitney classification (20-minute judgements).
    Kayenta,
}

impl JudgeKind {
    fn judge(self, policy: &Policy) -> Box<dyn Judge> {
        match self {
            JudgeKind::Ours => Box::new(SequentialJudge::new(policy.canary)),
            JudgeKind::Flagger => Box::new(FlaggerJudge::default()),
            JudgeKind::Argo => Box::new(ArgoJudge::default()),
            JudgeKind::Kayenta => Box::new(KayentaJudge::default()),
        }
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

/// One cell's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub judge: JudgeKind,
    pub level: Level,
    pub scenario: Scenario,
    pub healthy: bool,
    pub rps: f64,
    pub runs: u64,
    pub promoted: u64,
    /// Ended without a promotion (a Fail, a give-up, a budget): "rolled back"
    /// for a healthy release, "caught" for a bad one.
    pub not_promoted: u64,
    /// `not_promoted / runs` and its 95 % Wilson interval.
    pub not_promoted_rate: f64,
    pub not_promoted_ci: (f64, f64),
    /// Ended by the judge's Fail (the rest of `not_promoted`: give-ups, budgets).
    pub failed_by_judge: u64,
    /// Promoted without any Pass from the judge (e.g. a direct deploy).
    pub unjudged_promotions: u64,
    pub minutes_median: Option<f64>,
    pub minutes_p90: Option<f64>,
    /// Requests served by the canary over all requests during the rollouts,
    /// and the canary's failed requests per 1,000 requests of all users.
    pub canary_share: f64,
    pub bad_per_1000: f64,
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
        let row = run_cell(bench, policy, judge, level, scenario, rps).await;
        progress(&row, i + 1, cells.len());
        rows.push(row);
    }
    rows
}

/// What one rollout came to.
struct Run {
    outcome: Outcome,
    failed_by_judge: bool,
    judged_pass: bool,
    minutes: f64,
    canary_requests: u64,
    canary_errors: u64,
    all_requests: u64,
}

async fn run_cell(
    bench: &RolloutBench,
    policy: &Policy,
    judge: JudgeKind,
    level: Level,
    scenario: Scenario,
    rps: f64,
) -> Row {
    let context = ChangeContext {
        assessment: synthetic_assessment(policy, level),
        diff: String::new(),
    };
    let mut runs = Vec::with_capacity(bench.seeds as usize);
    for seed in 0..bench.seeds {
        let seed = seed.wrapping_add(bench.seed_offset);
        runs.push(run_one(&context, policy, judge, scenario, rps, seed).await);
    }
    row(judge, level, scenario, rps, &runs)
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
    let approver = Arc::new(FixedApprover::approve_as("bench"));
    let (backends, world) = Backends::simulated(config, clock.clone(), approver);
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
        judge.judge(policy),
        backends,
        &mut sink,
    )
    .await;
    let failed_by_judge = sink.events.iter().any(
        |(_, e)| matches!(e, Event::Judged { verdict, .. } if verdict.kind == VerdictKind::Fail),
    );
    let judged_pass = sink.events.iter().any(
        |(_, e)| matches!(e, Event::Judged { verdict, .. } if verdict.kind == VerdictKind::Pass),
    );
    let (canary_requests, canary_errors) = world.canary_served(summary.ended_at);
    let all_requests = world
        .window(summary.started_at, summary.ended_at.max(summary.started_at))
        .map(|w| {
            w.stable.map_or(0, |s| s.requests) + w.canary.map_or(canary_requests, |c| c.requests)
        })
        .unwrap_or(0);
    Run {
        outcome: summary.outcome,
        failed_by_judge,
        judged_pass,
        minutes: summary.duration_seconds() / 60.0,
        canary_requests,
        canary_errors,
        all_requests,
    }
}

fn row(judge: JudgeKind, level: Level, scenario: Scenario, rps: f64, runs: &[Run]) -> Row {
    let n = runs.len() as u64;
    let promoted = runs
        .iter()
        .filter(|r| r.outcome == Outcome::Promoted)
        .count() as u64;
    let not_promoted = n - promoted;
    let minutes: Vec<f64> = runs.iter().map(|r| r.minutes).collect();
    let all: u64 = runs.iter().map(|r| r.all_requests).sum();
    let canary: u64 = runs.iter().map(|r| r.canary_requests).sum();
    let bad: u64 = runs.iter().map(|r| r.canary_errors).sum();
    Row {
        judge,
        level,
        scenario,
        healthy: scenario.canary_is_healthy(),
        rps,
        runs: n,
        promoted,
        not_promoted,
        not_promoted_rate: not_promoted as f64 / n.max(1) as f64,
        not_promoted_ci: wilson(not_promoted, n),
        failed_by_judge: runs.iter().filter(|r| r.failed_by_judge).count() as u64,
        unjudged_promotions: runs
            .iter()
            .filter(|r| r.outcome == Outcome::Promoted && !r.judged_pass)
            .count() as u64,
        minutes_median: quantile(&minutes, 0.5),
        minutes_p90: quantile(&minutes, 0.9),
        canary_share: canary as f64 / all.max(1) as f64,
        bad_per_1000: 1000.0 * bad as f64 / all.max(1) as f64,
    }
}

/// The table, one row a cell.
pub fn render_markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| judge | level | scenario | rps | runs | not promoted % [95% CI] | by a Fail | unjudged promotions | minutes median / p90 | canary share | bad per 1,000 requests |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let what = if r.healthy { "rolled back" } else { "caught" };
        let minutes = match (r.minutes_median, r.minutes_p90) {
            (Some(m), Some(p)) => format!("{m:.1} / {p:.1}"),
            _ => "—".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {what} {:.2} [{:.2}, {:.2}] | {} | {} | {minutes} | {:.3} | {:.3} |\n",
            serde_json::to_value(r.judge).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            r.level.as_str(),
            r.scenario.as_str(),
            r.rps,
            r.runs,
            100.0 * r.not_promoted_rate,
            100.0 * r.not_promoted_ci.0,
            100.0 * r.not_promoted_ci.1,
            r.failed_by_judge,
            r.unjudged_promotions,
            r.canary_share,
            r.bad_per_1000,
        ));
    }
    out
}
