//! `deploy-agent rollout`: assess, then drive a guarded rollout on a target.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use super::approvers::{approve_as, approver, slack_channel, terminal_user, ApprovalHint};
use crate::approval::slack::SlackClient;
use crate::approval::{Approver, JournalApprover, SlackApprover};
use crate::assess::{assess_change, AssessRequest, LlmMode};
use crate::canary::SequentialJudge;
use crate::commands::backends::{self, MetricsKind};
use crate::commands::ArgError;
use crate::error::Error;
use crate::git::{ChangeSource, LocalGit};
use crate::journal::{Journal, JournalSink};
use crate::llm::LlmClient;
use crate::narrate::Narrator;
use crate::planner::{HandoverPlanner, LlmPlanner, Planner, PlaybookPlanner};
use crate::report::rollout_text;
use crate::rollout::events::{EventSink, Fanout, JsonLines};
use crate::rollout::state::Outcome;
use crate::rollout::terminal::TerminalProgress;
use crate::rollout::{self, ChangeContext, RolloutSpec, RolloutSummary, StopSignal};
use crate::settings::{Env, Settings};
use crate::sim::Scenario;

mod lease;

/// Exit codes of `rollout`.
pub mod codes {
    pub const PROMOTED: u8 = 0;
    pub const ROLLED_BACK: u8 = 4;
    pub const ABORTED: u8 = 5;
    /// A rollback was needed and the target never confirmed it: the canary
    /// may still serve. The journal keeps the rollout open for `resume`.
    pub const ROLLBACK_FAILED: u8 = 7;
}

/// Which planner proposes the tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlannerKind {
    /// The offline playbook: the policy's strategy, no model.
    Playbook,
    /// An OpenAI-compatible model (OPENAI_API_KEY / OPENAI_BASE_URL).
    Llm,
}

pub use crate::traffic::TargetKind;

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
    /// `--journal`: the journal file (default: settings' `journal.path`, else
    /// [`crate::journal::DEFAULT_PATH`]).
    pub journal: Option<PathBuf>,
    /// `--no-journal`: record nothing (throwaway runs); no journal approvals, no resume.
    pub no_journal: bool,
    /// `--adopt`: start from a canary the target already serves (judged before
    /// anything moves) instead of refusing a target that is not at 0 %.
    pub adopt: bool,
}

/// What `rollout` produced.
#[derive(Debug)]
pub struct RolloutOutcome {
    pub summary: RolloutSummary,
    pub rendered: String,
    pub exit_code: u8,
}

/// What a caller other than the CLI (the webhook server) adds to a rollout.
#[derive(Default)]
pub struct RolloutHooks {
    /// Sinks appended to the fanout after the journal (e.g. Prometheus counters).
    pub sinks: Vec<Box<dyn EventSink>>,
    /// Never ask on a terminal, and print no progress: approvals go to the
    /// journal (or `approve_as`), and the sinks above are the only observers.
    pub headless: bool,
    /// A journal handle to share instead of opening `--journal` again: `serve`
    /// passes one to all its rollouts, so hundreds of them queue on one
    /// connection's lock instead of racing for SQLite's file lock (whose busy
    /// handler backs off and can starve a writer past its timeout).
    pub journal: Option<Arc<dyn Journal>>,
    /// Stops the loop (rolling back) when triggered; the CLI wires Ctrl-C and
    /// SIGTERM to it (see `commands::signals`).
    pub stop: Option<StopSignal>,
    /// When the service's lease is held by another rollout: wait for it (polling
    /// while `still_wanted` says so) instead of refusing at once. `serve` waits;
    /// the CLI refuses with who holds it.
    pub lease_wait: Option<LeaseWait>,
}

/// How `serve` waits for a busy service's lease.
#[derive(Clone)]
pub struct LeaseWait {
    pub poll: std::time::Duration,
    /// False once a newer merge replaced this one: stop waiting.
    pub still_wanted: Arc<dyn Fn() -> bool + Send + Sync>,
}

/// Runs one rollout end to end; Ctrl-C or SIGTERM rolls it back.
pub async fn run_rollout(cmd: &RolloutCommand) -> Result<RolloutOutcome, Error> {
    let hooks = RolloutHooks {
        stop: Some(StopSignal::default()),
        ..RolloutHooks::default()
    };
    run_rollout_with(cmd, hooks).await
}

/// [`run_rollout`] with extra sinks and, when `hooks.headless`, no terminal.
pub async fn run_rollout_with(
    cmd: &RolloutCommand,
    hooks: RolloutHooks,
) -> Result<RolloutOutcome, Error> {
    if cmd.service.trim().is_empty() {
        return Err(ArgError::NoService.into());
    }
    let settings = Settings::load(cmd.config.as_deref(), &Env::from_process())?;
    let policy = settings.policy(cmd.policy.as_deref())?;
    let slack_channel = slack_channel(cmd, &settings)?;
    let approve_as = approve_as(cmd, &settings)?;
    if cmd.planner == PlannerKind::Llm && !settings.llm.is_configured() {
        return Err(ArgError::NoModelEndpoint.into());
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
    let interactive =
        !hooks.headless && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let pace = cmd
        .pace
        .unwrap_or(if cmd.format == RolloutFormat::Text && interactive {
            0.002
        } else {
            0.0
        });
    // A dry run changes nothing, so there is nothing to resume: journaling it
    // would let `resume` roll back the real target for a rollout that never ran.
    let journal: Option<Arc<dyn Journal>> = if cmd.no_journal || cmd.dry_run {
        None
    } else if let Some(shared) = &hooks.journal {
        Some(shared.clone())
    } else {
        let path = settings.journal_path(cmd.journal.as_deref());
        Some(crate::journal::open_path(&path)?)
    };
    let slack = match (slack_channel, &journal) {
        (Some(channel), Some(journal)) => {
            let client = SlackClient::new(&settings.slack)?;
            let asks = JournalApprover::new(journal.clone())
                .checking_voters(settings.directory(), &cmd.service);
            Some(Arc::new(SlackApprover::with_journal_approver(
                asks, client, channel,
            )))
        }
        _ => None,
    };
    let approver = match &slack {
        Some(s) => (s.clone() as Arc<dyn Approver>, true),
        None => {
            // A terminal asks one person: two approvers go through the journal.
            let one = policy.approval.required_approvals(assessment.level) == 1;
            let terminal = (interactive && one && approve_as.is_none())
                .then(|| terminal_user(&cmd.service, &settings))
                .flatten();
            let journal = journal.as_ref().map(|j| {
                JournalApprover::new(j.clone()).checking_voters(settings.directory(), &cmd.service)
            });
            approver(approve_as, terminal, journal)
        }
    };
    let asks_journal = approver.1;
    let (mut backends, target) = backends::for_flags(cmd, &settings, pace, approver.0)?;
    let id = rollout_id(&cmd.service, &assessment.rev);
    // One owner per service: the lease first (journaled rollouts), so a busy
    // service is refused (or waited for) with who drives it; every journal
    // write and every intent of the rollout carries it.
    let lease = match &journal {
        Some(j) => {
            let lease = lease::acquire(j, &cmd.service, &id, &settings, hooks.lease_wait.as_ref());
            Some(Arc::new(lease.await?))
        }
        None => None,
    };
    // Preflight and the live state, before anything is recorded or moved.
    let first_weight = match assessment.strategy {
        crate::policy::Strategy::Canary { first_weight, .. } => Some(first_weight),
        crate::policy::Strategy::Direct { verify_seconds: 0 } => None,
        crate::policy::Strategy::Direct { .. } => Some(100),
    };
    let checked = rollout::check_start(
        backends.traffic.as_ref(),
        backends.metrics.as_ref(),
        cmd.adopt,
        first_weight,
    )
    .await;
    let start = match checked {
        Ok(start) => start,
        Err(e) => {
            if let Some(lease) = &lease {
                lease.release();
            }
            return Err(e.into());
        }
    };
    for warning in &start.warnings {
        tracing::warn!("{warning}");
        if !hooks.headless {
            eprintln!("warning: {warning}");
        }
    }
    if let Some(j) = &journal {
        backends = backends.with_journal(j.clone());
    }
    let spec = RolloutSpec {
        id,
        service: cmd.service.clone(),
        rev: assessment.rev.clone(),
        target,
        start_weight: start.weight,
    };
    if let Some(stop) = &hooks.stop {
        backends = backends.with_stop(stop.clone());
        if !hooks.headless {
            super::signals::watch(stop.clone(), spec.id.clone());
        }
    }
    let context = ChangeContext { assessment, diff };
    let mut planner: Box<dyn Planner> = match cmd.planner {
        PlannerKind::Playbook => {
            Box::new(PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes))
        }
        PlannerKind::Llm => match LlmClient::new(&settings.llm) {
            // A model that cannot go on hands the rollout to the playbook (policy's
            // `max_invalid_turns`, `on_model_failure`) rather than aborting it.
            Ok(client) => {
                // The model explains a rollback too, checked against the numbers.
                backends = backends.with_narrator(Narrator::model(client.clone()));
                Box::new(HandoverPlanner::new(
                    Box::new(LlmPlanner::new(
                        client,
                        &crate::planner::openai::opening_message(
                            &spec.service,
                            &context.assessment,
                        ),
                    )),
                    &policy.rollout,
                ))
            }
            Err(e) => {
                // Nothing began: the service is free again at once.
                if let Some(lease) = &lease {
                    lease.release();
                }
                return Err(e.into());
            }
        },
    };
    // The journal first: an event is durable before anyone is shown it.
    let mut sink = Fanout::default();
    if let (Some(j), Some(lease)) = (&journal, &lease) {
        backends = backends.with_lease(lease.clone());
        sink.sinks
            .push(Box::new(JournalSink::new(j.clone()).fenced(lease.fence())));
    }
    if !hooks.headless {
        sink.sinks.push(match cmd.format {
            RolloutFormat::Text => Box::new(TerminalProgress::new(std::io::stderr())),
            RolloutFormat::Jsonl => Box::new(JsonLines::new(std::io::stdout())),
        });
    }
    sink.sinks.extend(hooks.sinks);
    if asks_journal && !hooks.headless {
        sink.sinks.push(Box::new(ApprovalHint {
            id: spec.id.clone(),
        }));
    }
    let judge = Box::new(SequentialJudge::new(policy.canary));
    let summary = rollout::run(
        &spec,
        &context,
        &policy,
        planner.as_mut(),
        judge,
        backends,
        &mut sink,
    )
    .await;
    if let Some(lease) = &lease {
        // A rollback not confirmed keeps the service's lease until it expires,
        // so no new rollout starts beside a canary that may still serve and the
        // next process to look takes it over to retry the rollback.
        match summary.outcome {
            Outcome::RollbackFailed => lease.abandon(),
            _ => lease.release(),
        }
    }
    if let Some(slack) = &slack {
        slack
            .rollout_ended(
                summary.outcome,
                &summary.reason,
                summary.explanation.as_ref(),
            )
            .await;
    }
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

pub fn exit_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Promoted => codes::PROMOTED,
        Outcome::RolledBack => codes::ROLLED_BACK,
        Outcome::Aborted => codes::ABORTED,
        Outcome::RollbackFailed => codes::ROLLBACK_FAILED,
    }
}

/// `service-rev8-<unix millis>`: unique per start, so every run is its own journal entry.
pub fn rollout_id(service: &str, rev: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{service}-{}-{millis}", &rev[..8.min(rev.len())])
}
