//! `deploy-agent bench loop`: the cost of the guard and judge per tool call, and
//! simulated rollouts per second with the playbook planner (single-threaded).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::approval::FixedApprover;
use crate::assess::{Assessment, CommitSummary, HistorySummary, LlmSection, PolicyRef};
use crate::canary::{Judge, MetricsWindow, SequentialJudge, VersionSample};
use crate::clock::VirtualClock;
use crate::error::Error;
use crate::guard;
use crate::planner::PlaybookPlanner;
use crate::policy::{Level, Policy};
use crate::risk::calibrate::CalibrationReport;
use crate::risk::features::ChangeStats;
use crate::rollout::events::Collector;
use crate::rollout::state::{Limits, Outcome, RolloutState};
use crate::rollout::{self, Backends, ChangeContext, RolloutSpec};
use crate::sim::{Scenario, SimConfig};
use crate::tools::{self, ProposedCall};

/// Measured figures.
#[derive(Debug, Clone, Serialize)]
pub struct LoopBench {
    pub guard_calls: u64,
    /// Parse + guard per proposed call, in microseconds.
    pub guard_us_per_call: f64,
    /// One judge observation of a window with 400 + 400 latency samples, in microseconds.
    pub judge_us_per_call: f64,
    pub rollouts: u64,
    pub rollouts_per_second: f64,
    /// Mean weight steps per rollout (the strategy of a high-risk change).
    pub steps_per_rollout: f64,
    pub promoted: u64,
}

/// Runs the benchmark with `rollouts` simulated rollouts.
pub async fn bench_loop(rollouts: u64) -> Result<LoopBench, Error> {
    let policy = Policy::embedded()?;
    let context = ChangeContext {
        assessment: synthetic_assessment(&policy, Level::High),
        diff: String::new(),
    };
    let (guard_calls, guard_us) = time_guard(&context);
    let judge_us = time_judge();
    let started = Instant::now();
    let mut steps = 0usize;
    let mut promoted = 0u64;
    let mut shown = crate::progress::Progress::new("bench loop", "rollouts", rollouts);
    for seed in 0..rollouts {
        let clock = Arc::new(VirtualClock::new(1_800_000_000.0));
        let (backends, _world) = Backends::simulated(
            SimConfig::new(Scenario::Healthy, seed),
            clock,
            Arc::new(FixedApprover::approve_as("bench")),
        );
        let spec = RolloutSpec {
            id: format!("bench-{seed}"),
            service: "bench".into(),
            rev: context.assessment.rev.clone(),
            target: "sim".into(),
            start_weight: 0,
        };
        let mut planner = PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes);
        let mut sink = Collector::default();
        let judge = Box::new(SequentialJudge::new(policy.canary));
        let summary = rollout::run(
            &spec,
            &context,
            &policy,
            &mut planner,
            judge,
            backends,
            &mut sink,
        )
        .await;
        steps += summary.steps.len();
        promoted += u64::from(summary.outcome == Outcome::Promoted);
        shown.inc();
    }
    let secs = started.elapsed().as_secs_f64();
    shown.finish();
    Ok(LoopBench {
        guard_calls,
        guard_us_per_call: guard_us,
        judge_us_per_call: judge_us,
        rollouts,
        rollouts_per_second: rollouts as f64 / secs.max(1e-9),
        steps_per_rollout: steps as f64 / rollouts.max(1) as f64,
        promoted,
    })
}

/// Parse + guard on a mix of allowed and vetoed proposals.
fn time_guard(context: &ChangeContext) -> (u64, f64) {
    let risk = context.risk();
    let mut state = RolloutState::new(
        "bench".into(),
        risk.clone(),
        Limits::new(&risk.strategy),
        0.0,
    );
    state.set_weight(5, 0.0);
    let proposals = [
        ("set_canary_weight", r#"{"weight": 20, "reason": "next"}"#),
        ("set_canary_weight", r#"{"weight": 90, "reason": "jump"}"#),
        ("promote", r#"{"reason": "done"}"#),
        ("query_metrics", "{}"),
        ("delete_everything", "{}"),
    ];
    let calls: Vec<ProposedCall> = proposals
        .iter()
        .enumerate()
        .map(|(i, (n, a))| ProposedCall {
            id: format!("c{i}"),
            name: (*n).to_string(),
            arguments: (*a).to_string(),
        })
        .collect();
    let n: u64 = 200_000;
    let started = Instant::now();
    let mut allowed = 0u64;
    for i in 0..n {
        let call = &calls[(i % calls.len() as u64) as usize];
        if tools::parse(call)
            .and_then(|c| guard::check(c, &state, 400.0))
            .is_ok()
        {
            allowed += 1;
        }
    }
    let us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    std::hint::black_box(allowed);
    (n, us)
}

fn time_judge() -> f64 {
    let sample = |errors, base: f64| VersionSample {
        requests: 3_000,
        errors,
        latency_ms: (0..400).map(|i| base + f64::from(i % 37)).collect(),
    };
    let window = MetricsWindow {
        start: 0.0,
        end: 60.0,
        stable: Some(sample(15, 80.0)),
        canary: Some(sample(16, 81.0)),
    };
    let n = 2_000;
    let started = Instant::now();
    for _ in 0..n {
        let mut judge = SequentialJudge::default();
        std::hint::black_box(judge.observe(&window));
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

/// An assessment at `level` without a repository (benchmarks and evals).
pub fn synthetic_assessment(policy: &Policy, level: Level) -> Assessment {
    let score = match level {
        Level::Low => 0.1,
        Level::Medium => 0.3,
        Level::High => 0.6,
        Level::Critical => 0.9,
    };
    let requires_approval = policy.approval.levels.contains(&level);
    Assessment {
        risk_score: score,
        level,
        requires_approval,
        approval_reasons: if requires_approval {
            vec![format!(
                "policy requires approval at level {}",
                level.as_str()
            )]
        } else {
            vec![]
        },
        strategy: policy.strategy_for(level).clone(),
        deterministic_score: score,
        logistic_score: score,
        floor: None,
        factors: vec![],
        intercept: policy.risk.intercept,
        llm: LlmSection::off(),
        rev: "0000000000000000000000000000000000000000".into(),
        base: None,
        commit: CommitSummary {
            author: "bench".into(),
            email: "bench@example.com".into(),
            time: 0,
            subject: "synthetic change".into(),
            parents: 1,
        },
        stats: ChangeStats::default(),
        categories: vec![],
        history: HistorySummary {
            commits_read: 0,
            truncated: false,
            reverted_touching: vec![],
        },
        calibration: CalibrationReport {
            status: "disabled".into(),
            commits: 0,
            reverts: 0,
            largest_shifts: vec![],
        },
        model: deploy_model_section(),
        policy: PolicyRef {
            name: policy.name.clone(),
            version: policy.version,
            hash: policy.hash.clone(),
            levels: policy.levels,
        },
        warnings: vec![],
    }
}

/// Renders the figures as a Markdown table.
pub fn render_markdown(b: &LoopBench) -> String {
    format!(
        "| measure | figure | target |\n|---|---|---|\n\
         | parse + guard per tool call | {:.2} µs ({} calls) | ≤ 100 µs |\n\
         | judge per observation (400+400 latency samples) | {:.2} µs | ≤ 100 µs |\n\
         | simulated rollouts per second (playbook, high risk: {:.1} steps, single thread) | {:.0} /s ({} rollouts, {} promoted) | ≥ 1,000 /s |\n",
        b.guard_us_per_call,
        b.guard_calls,
        b.judge_us_per_call,
        b.steps_per_rollout,
        b.rollouts_per_second,
        b.rollouts,
        b.promoted
    )
}

fn deploy_model_section() -> crate::assess::ModelSection {
    crate::assess::ModelSection {
        source: "policy".into(),
        how_well: None,
        fitted_at: None,
        hint: None,
    }
}
