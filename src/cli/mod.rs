//! The command line: the top-level parser, its global flags and one subcommand per
//! variant. Each command family keeps its flags and the function that turns them into
//! the library's command in its own file, so a flag and its use are read together.
//!
//! The variants' doc comments are the subcommands' help texts; the flag structs carry
//! none of their own, so what `--help` prints is written in one place.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod assess;
pub mod bench;
pub mod journal;
pub mod llm;
pub mod rollout;
pub mod tools;

/// An LLM-driven deployment agent whose every action passes deterministic guardrails.
#[derive(Parser)]
#[command(name = "deploy-agent", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file (default: ./deploy-agent.toml when present). Env: DEPLOY_AGENT_* with `__` nesting.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Rollout journal: a SQLite file, or postgres://USER@HOST:PORT/DB shared by several
    /// replicas (password from PGPASSWORD). Default: `journal.path` in the config, else
    /// .deploy-agent/journal.db.
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub journal: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Score how risky a commit is, with evidence, a rollout strategy and the approval rule.
    ///
    /// Works offline in any git repository. Exit codes: 0 ok, 2 bad input,
    /// 3 when --fail-above is given and the score is above it.
    Assess(assess::AssessArgs),
    /// Roll a change out with a guarded agent loop (simulated target by default).
    ///
    /// Assesses the change, then a planner proposes tool calls; the guard vetoes
    /// anything policy forbids and the canary judge rolls back on failure.
    /// Before anything moves, the target and the metrics are checked (preflight)
    /// and the target must serve 0 % to the canary (or pass --adopt). Ctrl-C or
    /// SIGTERM rolls the canary back and ends the rollout; a second one exits at
    /// once and leaves it to `deploy-agent resume`.
    /// Exit codes: 0 promoted, 4 rolled back, 5 aborted or blocked, 7 rollback
    /// failed (the canary may still serve; `resume` retries), 2 bad input or a
    /// failed preflight.
    Rollout(rollout::RolloutArgs),
    /// How well the risk score ranks this repository's own history: every
    /// commit scored as of its own time (ancestors only), labelled by later
    /// `This reverts commit <sha>`; ROC AUC with a bootstrap interval, the
    /// lines-changed baseline, reverted commits in the top 10/20 %, calibration
    /// per level and the factors that separate best. Progress on stderr.
    Backtest(assess::BacktestArgs),
    /// Fit this repository's risk model on its own history and cache it in the
    /// git directory (`.git/deploy-agent/risk/`), where `assess` uses it: the
    /// policy's weights, the shipped prior and a refit are judged out of sample
    /// (blocked by time) and the best kept. Run it again after new commits: only
    /// those are read.
    Calibrate(assess::CalibrateArgs),
    /// Benchmarks that print measured figures.
    Bench {
        #[command(subcommand)]
        which: bench::BenchCommand,
    },
    /// Run an eval suite: scenarios rolled out in the simulated world, scored on
    /// outcomes, approvals and safety. Exit codes: 0 all thresholds hold,
    /// 6 a threshold fails, 2 bad input.
    Eval(tools::EvalArgs),
    /// List journaled rollouts, newest first.
    History(journal::HistoryArgs),
    /// Show one rollout's timeline from the journal.
    Show(journal::ShowArgs),
    /// Decide a running rollout's pending approval (for the rollout's revision).
    ///
    /// You decide as your OS account (the real uid, never `$USER`), recorded as
    /// the `[people]` entry it maps to; a service with an allow-list
    /// (`[services.NAME.slack] approvers`) must list you.
    /// Exit codes: 0 recorded; 2 refused (no such rollout or journal, not an
    /// approver, nothing pending, already decided, past the deadline); 1 the
    /// journal is unusable or the uid has no user.
    Approve(journal::ApproveArgs),
    /// Finish rollouts whose process died (crash, kill, reboot), and retry
    /// rollbacks that were never confirmed (`rollback_failed`).
    ///
    /// For each unfinished rollout in the journal: reads the live weight from its
    /// target, marks each open write-ahead intent applied if its effect is visible
    /// there and not applied otherwise (nothing is re-applied), then follows the
    /// policy's `[rollout] on_resume`: "rollback" (the default) routes all traffic
    /// to stable and records the rollout rolled back; "continue" picks the loop up
    /// at the live weight under the journaled risk, approval and budgets, bakes
    /// and judges again before any increase, and rolls back instead (saying why)
    /// when the repository or the journaled assessment is missing. A staged
    /// promotion that did not complete is undone; a rollout whose rollback failed
    /// is always rolled back. A simulated target is rebuilt from the journal.
    /// Exit codes: 0 all finished (or none unfinished), 7 a rollback still not
    /// confirmed (the canary may serve; the report says where), 1 some could not
    /// be resumed, 2 bad input.
    Resume(rollout::ResumeArgs),
    /// Serve GitHub webhooks: a merge to `[serve] branch` of one of `[serve]
    /// repositories` rolls out the `[serve]` services.
    ///
    /// POST /webhooks/github (signed with GITHUB_WEBHOOK_SECRET, env only; JSON or
    /// form-encoded), POST /slack/interactivity (with SLACK_SIGNING_SECRET and
    /// SLACK_BOT_TOKEN), GET /metrics (Prometheus), GET /healthz. Several replicas
    /// may share one PostgreSQL journal: each merge is rolled out once, each
    /// service is driven by one rollout at a time (its lease), and a rollout whose
    /// replica died is taken over by another within about one lease period.
    /// SIGTERM or ctrl-c: stop accepting, drop queued rollouts, let running ones
    /// finish within --shutdown-grace; the rest are taken over (or `resume`d).
    Serve(rollout::ServeArgs),
    /// Check a configuration against the real services before a first rollout.
    ///
    /// Runs a rollout's preflight without moving anything: the config and policy
    /// load; each service's target is reachable with its backend/servers (or
    /// route, Deployments, Rollout) present and its canary at 0 %; its metrics
    /// answer for both versions; the journal opens; Slack/GitHub credentials are
    /// set where configured. Prints a checklist with what to fix. Exit codes: 0
    /// ready (warnings allowed), 2 a check failed.
    Doctor(tools::DoctorArgs),
    /// The model endpoint: `llm check` shows what it accepts and whether the
    /// planner can use it.
    Llm {
        #[command(subcommand)]
        which: llm::LlmCommand,
    },
    /// Print a JSON Schema: of a machine-readable output (`assess`, `rollout`) or
    /// of the configuration file (`config`; `--format markdown` prints the
    /// reference in docs/configuration.md).
    Schema(tools::SchemaArgs),
}
