//! `deploy-agent rollout`: assess, then drive a guarded rollout on a target.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use crate::approval::{Approver, FixedApprover, TerminalApprover};
use crate::assess::{assess_change, AssessRequest, LlmMode};
use crate::canary::SequentialJudge;
use crate::clock::{Clock, VirtualClock};
use crate::commands::backends::{self, MetricsKind};
use crate::error::Error;
use crate::git::{ChangeSource, LocalGit};
use crate::llm::LlmClient;
use crate::planner::{LlmPlanner, Planner, PlaybookPlanner};
use crate::report::rollout_text;
use crate::rollout::events::{EventSink, JsonLines};
use crate::rollout::state::Outcome;
use crate::rollout::terminal::TerminalProgress;
use crate::rollout::{self, Backends, ChangeContext, RolloutSpec, RolloutSummary};
use crate::settings::{Env, Settings};
use crate::sim::{Scenario, SimConfig};

/// Exit codes of `rollout`.
pub mod codes {
    pub const PROMOTED: u8 = 0;
    pub const ROLLED_BACK: u8 = 4;
    pub const ABORTED: u8 = 5;
}

/// Which planner proposes the tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlannerKind {
    /// The offline playbook: the policy's strategy, no model.
    Playbook,
    /// An OpenAI-compatible model (OPENAI_API_KEY / OPENAI_BASE_URL).
    Llm,
}

/// Where traffic moves and metrics come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// The simulated world (no cluster needed).
    Sim,
    /// HAProxy's runtime API (`[services.NAME.haproxy]`), judged on Prometheus.
    Haproxy,
}

/// Output formats of `rollout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RolloutFormat {
    /// Live progress on stderr, a summary on stdout.
    Text,
    /// One JSON event per line on stdout, then `{"event":"summary",…}`.
    Jsonl,
}

/// Everything `deploy-agent rollout` needs, already parsed.
#[derive(Debug, Clone)]
pub struct RolloutCommand {
    pub rev: String,
    pub repo: PathBuf,
    pub service: String,
    pub target: TargetKind,
    /// Default: `sim` for the simulated target, `prometheus` for real ones.
    pub metrics: Option<MetricsKind>,
    /// Real targets only: read live weights, print every change instead of sending it.
    pub dry_run: bool,
    pub scenario: Scenario,
    pub seed: u64,
    pub planner: PlannerKind,
    pub format: RolloutFormat,
    pub approve_as: Option<String>,
    pub config: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    /// Real seconds per simulated second (0: as fast as possible).
    pub pace: Option<f64>,
}

/// What `rollout` produced.
#[derive(Debug)]
pub struct RolloutOutcome {
    pub summary: RolloutSummary,
    pub rendered: String,
    pub exit_code: u8,
}

/// Runs one rollout end to end.
pub async fn run_rollout(cmd: &RolloutCommand) -> Result<RolloutOutcome, Error> {
    if cmd.service.trim().is_empty() {
        return Err(Error::Usage(
            "--service must name the service to roll out".into(),
        ));
    }
    let settings = Settings::load(cmd.config.as_deref(), &Env::from_process())?;
    let policy = settings.policy(cmd.policy.as_deref())?;
    if cmd.planner == PlannerKind::Llm && !settings.llm.is_configured() {
        return Err(Error::Usage(
            "--planner llm needs a model endpoint: set OPENAI_API_KEY and/or OPENAI_BASE_URL"
                .into(),
        ));
    }
    let repo = LocalGit::open(&cmd.repo)?;
    let llm_mode = match cmd.planner {
        PlannerKind::Llm => LlmMode::Auto,
        PlannerKind::Playbook => LlmMode::Off,
    };
    let request = AssessRequest {
        rev: cmd.rev.clone(),
        base: None,
        llm: llm_mode,
    };
    let (change, assessment) = assess_change(&repo, &policy, &settings.llm, &request).await?;
    let diff = repo.diff_excerpt(&change, 32_000)?;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let pace = cmd
        .pace
        .unwrap_or(if cmd.format == RolloutFormat::Text && interactive {
            0.002
        } else {
            0.0
        });
    let (backends, target) = build_backends(cmd, &settings, pace, approver(cmd, interactive))?;
    let spec = RolloutSpec {
        id: format!(
            "{}-{}-{}",
            cmd.service,
            &assessment.rev[..8.min(assessment.rev.len())],
            cmd.seed
        ),
        service: cmd.service.clone(),
        rev: assessment.rev.clone(),
        target,
    };
    let context = ChangeContext { assessment, diff };
    let mut planner: Box<dyn Planner> = match cmd.planner {
        PlannerKind::Playbook => {
            Box::new(PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes))
        }
        PlannerKind::Llm => {
            let client = LlmClient::new(&settings.llm).map_err(|e| Error::Usage(e.to_string()))?;
            Box::new(LlmPlanner::new(client, &opening_message(&spec, &context)))
        }
    };
    let mut sink: Box<dyn EventSink> = match cmd.format {
        RolloutFormat::Text => Box::new(TerminalProgress::new(std::io::stderr())),
        RolloutFormat::Jsonl => Box::new(JsonLines::new(std::io::stdout())),
    };
    let judge = Box::new(SequentialJudge::new(policy.canary));
    let summary = rollout::run(
        &spec,
        &context,
        &policy,
        planner.as_mut(),
        judge,
        backends,
        sink.as_mut(),
    )
    .await;
    let rendered = match cmd.format {
        RolloutFormat::Text => rollout_text(&summary),
        RolloutFormat::Jsonl => {
            let mut v = serde_json::to_value(&summary).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("event".into(), serde_json::json!("summary"));
            }
            format!("{v}\n")
        }
    };
    Ok(RolloutOutcome {
        exit_code: exit_code(summary.outcome),
        summary,
        rendered,
    })
}

/// The backends `--target` and `--metrics` name, and the target's label.
/// The simulated world's metrics live on its virtual clock, so they go only with
/// the simulated target, and real targets only with real metrics.
fn build_backends(
    cmd: &RolloutCommand,
    settings: &Settings,
    pace: f64,
    approver: Arc<dyn Approver>,
) -> Result<(Backends, String), Error> {
    let metrics = cmd.metrics.unwrap_or(match cmd.target {
        TargetKind::Sim => MetricsKind::Sim,
        TargetKind::Haproxy => MetricsKind::Prometheus,
    });
    match (cmd.target, metrics) {
        (TargetKind::Sim, MetricsKind::Sim) if cmd.dry_run => Err(Error::Usage(
            "--dry-run applies to real targets (--target haproxy); the simulated one changes nothing real".into(),
        )),
        (TargetKind::Sim, MetricsKind::Sim) => {
            let clock = Arc::new(VirtualClock::paced(crate::clock::SystemClock.now(), pace));
            let config = SimConfig::new(cmd.scenario, cmd.seed);
            let (backends, _world) = Backends::simulated(config, clock, approver);
            Ok((backends, format!("sim:{}", cmd.scenario.as_str())))
        }
        (TargetKind::Haproxy, MetricsKind::Prometheus) => {
            backends::haproxy_prometheus(&cmd.service, settings, cmd.dry_run, approver)
        }
        (target, metrics) => Err(Error::Usage(format!(
            "--target {target:?} with --metrics {metrics:?} is not supported: use sim with sim, or haproxy with prometheus"
        ).to_lowercase())),
    }
}

pub fn exit_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Promoted => codes::PROMOTED,
        Outcome::RolledBack => codes::ROLLED_BACK,
        Outcome::Aborted => codes::ABORTED,
    }
}

fn approver(cmd: &RolloutCommand, interactive: bool) -> Arc<dyn Approver> {
    match (&cmd.approve_as, interactive) {
        (Some(name), _) => Arc::new(FixedApprover::approve_as(name)),
        (None, true) => Arc::new(TerminalApprover {
            user: std::env::var("USER").unwrap_or_else(|_| "terminal".into()),
        }),
        (None, false) => Arc::new(FixedApprover::reject(
            "no terminal to ask and no --approve-as given: a rejection",
        )),
    }
}

/// The model's first user message: the service, the change and what it may do.
fn opening_message(spec: &RolloutSpec, context: &ChangeContext) -> String {
    let a = &context.assessment;
    serde_json::json!({
        "task": "Roll this change out to production safely.",
        "service": spec.service,
        "rev": spec.rev,
        "subject": a.commit.subject,
        "risk_score": a.risk_score,
        "level": a.level,
        "requires_approval": a.requires_approval,
    })
    .to_string()
}
