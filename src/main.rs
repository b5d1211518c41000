//! The `deploy-agent` binary: parse, set up tracing, call the library, map exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deploy_agent::assess::{AssessRequest, LlmMode};
use deploy_agent::backtest::BacktestOptions;
use deploy_agent::bench::rollouts::JudgeKind;
use deploy_agent::commands::backends::MetricsKind;
use deploy_agent::commands::backtest::{run_backtest, BacktestCommand, BacktestFormat};
use deploy_agent::commands::bench;
use deploy_agent::commands::journal::{
    ApproveCommand, HistoryCommand, JournalFormat, JournalLocation, ShowCommand,
};
use deploy_agent::commands::resume::{run_resume, ResumeCommand};
use deploy_agent::commands::rollout::{PlannerKind, RolloutFormat, TargetKind};
use deploy_agent::evals::{EvalCommand, EvalFormat, EvalPlanner};
use deploy_agent::progress::Progress;
use deploy_agent::report::Format;
use deploy_agent::sim::Scenario;
use deploy_agent::{exit, AssessCommand, RolloutCommand};

/// An LLM-driven deployment agent whose every action passes deterministic guardrails.
#[derive(Parser)]
#[command(name = "deploy-agent", version, about, propagate_version = true)]
struct Cli {
    /// Config file (default: ./deploy-agent.toml when present). Env: DEPLOY_AGENT_* with `__` nesting.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Rollout journal: a SQLite file, or postgres://USER@HOST:PORT/DB shared by several
    /// replicas (password from PGPASSWORD). Default: `journal.path` in the config, else
    /// .deploy-agent/journal.db.
    #[arg(long, global = true, value_name = "PATH|URL")]
    journal: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score how risky a commit is, with evidence, a rollout strategy and the approval rule.
    ///
    /// Works offline in any git repository. Exit codes: 0 ok, 2 bad input,
    /// 3 when --fail-above is given and the score is above it.
    Assess {
        /// The revision to assess (sha, branch, tag, HEAD~2, ...).
        rev: String,
        /// The repository (default: the current directory).
        #[arg(long, default_value = ".", value_name = "PATH")]
        repo: PathBuf,
        /// Compare against the merge base with this revision instead of the first parent.
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Exit with code 3 when the final score is above this value (0..1).
        #[arg(long, value_name = "SCORE")]
        fail_above: Option<f64>,
        /// Ask an OpenAI-compatible model for a second opinion (auto: when configured).
        #[arg(long, value_enum, default_value_t = LlmMode::Auto)]
        llm: LlmMode,
        /// Policy file (default: `policy` in the config, else the embedded default).
        #[arg(long, value_name = "PATH")]
        policy: Option<PathBuf>,
        /// Read the change from GitHub (REV is a sha or #PR_NUMBER); token from GITHUB_TOKEN.
        #[arg(long, value_name = "OWNER/REPO")]
        github: Option<String>,
        /// With --github: post the report as a PR comment (updated in place) and, with
        /// GITHUB_APP_INSTALLATION_TOKEN, a check run.
        #[arg(long, requires = "github")]
        post: bool,
    },
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
    Rollout {
        /// The revision to roll out.
        rev: String,
        /// The service being deployed.
        #[arg(long)]
        service: String,
        /// The repository (default: the current directory).
        #[arg(long, default_value = ".", value_name = "PATH")]
        repo: PathBuf,
        #[arg(long, value_enum, default_value_t = TargetKind::Sim)]
        target: TargetKind,
        /// Where metrics come from (default: sim for --target sim, prometheus otherwise).
        #[arg(long, value_enum)]
        metrics: Option<MetricsKind>,
        /// With a real target: read live weights, print each change instead of sending it.
        #[arg(long)]
        dry_run: bool,
        /// The simulated world's scenario.
        #[arg(long, value_enum, default_value_t = Scenario::Healthy)]
        scenario: Scenario,
        /// Seed of the simulated traffic (same seed, same rollout).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = PlannerKind::Playbook)]
        planner: PlannerKind,
        #[arg(long, value_enum, default_value_t = RolloutFormat::Text)]
        format: RolloutFormat,
        /// Approve as NAME without asking (for automation). Otherwise a terminal
        /// asks; with no terminal the journal waits for `deploy-agent approve <id>
        /// --by NAME` from another shell (the id is printed on stderr); with
        /// --no-journal and no terminal an approval is a rejection.
        #[arg(long, value_name = "NAME")]
        approve_as: Option<String>,
        /// Do not record the rollout in the journal (throwaway runs: no
        /// write-ahead intents, no `approve` from another shell, no `resume`).
        #[arg(long)]
        no_journal: bool,
        /// Start from a canary the target already serves (its live weight is
        /// judged before anything moves). Without it, a target that is not at
        /// 0 % (e.g. left at 100 % by an earlier HAProxy promotion) is refused.
        #[arg(long)]
        adopt: bool,
        /// Policy file (default: `policy` in the config, else the embedded default).
        #[arg(long, value_name = "PATH")]
        policy: Option<PathBuf>,
        /// Real seconds per simulated second (default: 0.002 on a terminal, else 0).
        #[arg(long, value_name = "SECONDS")]
        pace: Option<f64>,
    },
    /// How well the risk score ranks this repository's own history: every
    /// commit scored as of its own time (ancestors only), labelled by later
    /// `This reverts commit <sha>`; ROC AUC with a bootstrap interval, the
    /// lines-changed baseline, reverted commits in the top 10/20 %, calibration
    /// per level and the factors that separate best. Progress on stderr.
    Backtest {
        /// The tip whose history is walked.
        #[arg(default_value = "HEAD")]
        tip: String,
        /// The repository (default: the current directory).
        #[arg(long, default_value = ".", value_name = "PATH")]
        repo: PathBuf,
        /// Score at most this many of the newest eligible commits.
        #[arg(long, default_value_t = 2000)]
        commits: usize,
        /// Leave out commits younger than this at the tip (not yet had time to be reverted).
        #[arg(long, default_value_t = 30)]
        min_age_days: u32,
        /// Seed of the bootstrap interval.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = BacktestFormat::Text)]
        format: BacktestFormat,
        /// Also write the ROC curves (score and lines changed) as an SVG here.
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
        /// Also write every scored commit's features and label as CSV here
        /// (the rows a model is fitted on).
        #[arg(long, value_name = "FILE.csv")]
        features: Option<PathBuf>,
        /// Policy file (default: `policy` in the config, else the embedded default).
        #[arg(long, value_name = "PATH")]
        policy: Option<PathBuf>,
    },
    /// Fit this repository's risk model on its own history and cache it in the
    /// git directory (`.git/deploy-agent/risk/`), where `assess` uses it: the
    /// policy's weights, the shipped prior and a refit are judged out of sample
    /// (blocked by time) and the best kept. Run it again after new commits: only
    /// those are read.
    Calibrate {
        /// The tip whose history is walked.
        #[arg(default_value = "HEAD")]
        tip: String,
        /// The repository (default: the current directory).
        #[arg(long, default_value = ".", value_name = "PATH")]
        repo: PathBuf,
        /// Learn from at most this many of the newest eligible commits.
        #[arg(long, default_value_t = 20_000)]
        commits: usize,
        /// Leave out commits younger than this at the tip (not yet had time to be reverted).
        #[arg(long, default_value_t = 90)]
        min_age_days: u32,
        /// Seed of the bootstrap intervals.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = BacktestFormat::Text)]
        format: BacktestFormat,
        /// Policy file (default: `policy` in the config, else the embedded default).
        #[arg(long, value_name = "PATH")]
        policy: Option<PathBuf>,
    },
    /// Benchmarks that print measured figures.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
    /// Run an eval suite: scenarios rolled out in the simulated world, scored on
    /// outcomes, approvals and safety. Exit codes: 0 all thresholds hold,
    /// 6 a threshold fails, 2 bad input.
    Eval {
        /// The suite file.
        #[arg(long, default_value = "evals/playbook.toml", value_name = "PATH")]
        suite: PathBuf,
        #[arg(long, value_enum, default_value_t = EvalPlanner::Playbook)]
        planner: EvalPlanner,
        /// Episodes per scenario seed (overrides the suite's `repeat`).
        #[arg(long, value_name = "N")]
        repeat: Option<u32>,
        #[arg(long, value_enum, default_value_t = EvalFormat::Text)]
        format: EvalFormat,
        /// Added to every scenario seed: another sample of the same suite.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Price per 1,000 model tokens, for a cost estimate.
        #[arg(long, value_name = "PRICE")]
        price_per_1k_tokens: Option<f64>,
    },
    /// List journaled rollouts, newest first.
    History {
        /// Only this service's rollouts.
        #[arg(long)]
        service: Option<String>,
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
        #[arg(long, value_enum, default_value_t = JournalFormat::Text)]
        format: JournalFormat,
    },
    /// Show one rollout's timeline from the journal.
    Show {
        /// The rollout id (see `history`).
        id: String,
        #[arg(long, value_enum, default_value_t = JournalFormat::Text)]
        format: JournalFormat,
    },
    /// Decide a running rollout's pending approval (for the rollout's revision).
    ///
    /// You decide as your OS account (the real uid, never `$USER`), recorded as
    /// the `[people]` entry it maps to; a service with an allow-list
    /// (`[services.NAME.slack] approvers`) must list you.
    /// Exit codes: 0 recorded; 2 refused (no such rollout or journal, not an
    /// approver, nothing pending, already decided, past the deadline); 1 the
    /// journal is unusable or the uid has no user.
    Approve {
        /// The rollout id (see `history`).
        id: String,
        /// Reject instead of approving.
        #[arg(long)]
        reject: bool,
        /// Not needed: who decides is your OS account (real uid), as `[people]`
        /// maps it to a person. Given, it must name you, or it is refused.
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Why (recorded).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
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
    Resume {
        /// Policy file (default: `policy` in the config, else the embedded default).
        #[arg(long, value_name = "PATH")]
        policy: Option<PathBuf>,
        /// The repository of the rollouts' revisions (`on_resume = "continue"`
        /// re-reads the change; without it the rollout is rolled back).
        #[arg(long, default_value = ".", value_name = "PATH")]
        repo: PathBuf,
        #[arg(long, value_enum, default_value_t = JournalFormat::Text)]
        format: JournalFormat,
    },
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
    Serve {
        /// Address to listen on (port 0: any; the chosen one is printed on stderr).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Rollouts running at once, over all services (one per service at most).
        #[arg(long, default_value_t = 4, value_name = "N")]
        max_concurrent: usize,
        /// Seconds running rollouts get to finish after SIGTERM.
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        shutdown_grace: u64,
        /// Services with `target = "sim"`: real seconds per simulated second (0: as
        /// fast as possible), for demos and tests.
        #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
        pace: f64,
    },
    /// Check a configuration against the real services before a first rollout.
    ///
    /// Runs a rollout's preflight without moving anything: the config and policy
    /// load; each service's target is reachable with its backend/servers (or
    /// route, Deployments, Rollout) present and its canary at 0 %; its metrics
    /// answer for both versions; the journal opens; Slack/GitHub credentials are
    /// set where configured. Prints a checklist with what to fix. Exit codes: 0
    /// ready (warnings allowed), 2 a check failed.
    Doctor {
        /// Only this service (default: every configured one).
        #[arg(long)]
        service: Option<String>,
        /// A policy file (default: the configured one, else the embedded default).
        #[arg(long, value_name = "PATH")]
        policy: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = JournalFormat::Text)]
        format: JournalFormat,
    },
    /// Print a JSON Schema: of a machine-readable output (`assess`, `rollout`) or
    /// of the configuration file (`config`; `--format markdown` prints the
    /// reference in docs/configuration.md).
    Schema {
        /// Which: assess, rollout or config.
        name: String,
        /// `json` (default) or `markdown` (config only).
        #[arg(long, default_value = "json", value_parser = ["json", "markdown"])]
        format: String,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Guard and judge cost per tool call; simulated playbook rollouts per second.
    Loop {
        /// Simulated rollouts to time.
        #[arg(long, default_value_t = 2_000)]
        rollouts: u64,
        #[arg(long, value_enum, default_value_t = BenchFormat::Markdown)]
        format: BenchFormat,
    },
    /// Canary judges side by side (ours, Flagger, Argo, Kayenta, fixed MW, oracle SPRT)
    /// on the same simulated traffic: false rollbacks, detection, time and requests to decide.
    Canary {
        /// Runs per scenario × rps cell (a-a at 100 rps gets 10 × this).
        #[arg(long, default_value_t = 1_000)]
        runs: u64,
        #[arg(long, value_enum, default_value_t = BenchFormat::Markdown)]
        format: BenchFormat,
        /// Also write an SVG figure here.
        #[arg(long, value_name = "PATH")]
        plot: Option<PathBuf>,
        /// Seed of the simulated traffic (same seed, same figures).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// The whole loop (playbook, guard, judge, simulated world) over risk levels ×
    /// scenarios × traffic: healthy releases rolled back, bad ones caught,
    /// unjudged promotions, minutes to decide, users exposed. Progress on stderr.
    Rollouts {
        /// Rollouts per cell.
        #[arg(long, default_value_t = 400)]
        seeds: u64,
        /// Judges to run the same schedule with (default: ours).
        #[arg(long, value_enum, value_delimiter = ',', default_values_t = [JudgeKind::Ours])]
        judge: Vec<JudgeKind>,
        /// Risk levels (default: all four).
        #[arg(long, value_enum, value_delimiter = ',')]
        level: Vec<deploy_agent::policy::Level>,
        /// Scenarios (default: all).
        #[arg(long, value_enum, value_delimiter = ',')]
        scenario: Vec<Scenario>,
        /// Requests per second over both versions.
        #[arg(long, value_delimiter = ',', default_values_t = [200.0, 20.0, 2.0])]
        rps: Vec<f64>,
        /// Added to every seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Policy file (default: the embedded one).
        #[arg(long, value_name = "PATH")]
        policy: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = BenchFormat::Markdown)]
        format: BenchFormat,
        /// Exit 6 when a target that was run is missed.
        #[arg(long)]
        check: bool,
    },
    /// The risk model on the development set, leave-one-repository-out: for each
    /// repository, the prior fitted on the others scores it (ROC AUC, top 10 %),
    /// beside the shipped policy and lines changed. Progress on stderr.
    Risk {
        /// Directory of features files, one per repository (`OWNER+NAME.csv`,
        /// from `deploy-agent backtest --features`).
        #[arg(long, value_name = "DIR")]
        rows: PathBuf,
        /// Also write the prior fitted on every repository here (JSON, the
        /// format of policies/risk-prior.json).
        #[arg(long, value_name = "FILE.json")]
        write_prior: Option<PathBuf>,
        /// Seed of the bootstrap intervals.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = BenchFormat::Markdown)]
        format: BenchFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchFormat {
    Markdown,
    Json,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal (and never with NO_COLOR): logs that go to
        // files or collectors stay plain.
        .with_ansi(deploy_agent::report::colour_on(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ))
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<u8, deploy_agent::Error> {
    let location = JournalLocation {
        config: cli.config.clone(),
        journal: cli.journal,
    };
    match cli.command {
        Command::Assess {
            rev,
            repo,
            base,
            format,
            fail_above,
            llm,
            policy,
            github,
            post,
        } => {
            let cmd = AssessCommand {
                request: AssessRequest { rev, base, llm },
                repo,
                config: cli.config,
                policy,
                format,
                fail_above,
                github,
                post,
            };
            let outcome = deploy_agent::run_assess(&cmd).await?;
            print!("{}", outcome.rendered);
            for p in &outcome.posted {
                eprintln!("{p}");
            }
            Ok(outcome.exit_code)
        }
        Command::Rollout {
            rev,
            service,
            repo,
            target,
            metrics,
            dry_run,
            scenario,
            seed,
            planner,
            format,
            approve_as,
            no_journal,
            adopt,
            policy,
            pace,
        } => {
            let cmd = RolloutCommand {
                rev,
                repo,
                service,
                target,
                metrics,
                dry_run,
                scenario,
                seed,
                planner,
                format,
                approve_as,
                config: cli.config,
                policy,
                pace,
                journal: location.journal.clone(),
                no_journal,
                adopt,
            };
            let outcome = deploy_agent::run_rollout(&cmd).await?;
            print!("{}", outcome.rendered);
            Ok(outcome.exit_code)
        }
        Command::Backtest {
            tip,
            repo,
            commits,
            min_age_days,
            seed,
            format,
            plot,
            features,
            policy,
        } => {
            let cmd = BacktestCommand {
                plot,
                features,
                repo,
                options: BacktestOptions {
                    tip,
                    commits,
                    min_age_days,
                    seed,
                },
                config: cli.config,
                policy,
                format,
            };
            print!("{}", run_backtest(&cmd)?);
            Ok(exit::OK)
        }
        Command::Calibrate {
            tip,
            repo,
            commits,
            min_age_days,
            seed,
            format,
            policy,
        } => {
            let cmd = deploy_agent::commands::calibrate::CalibrateCommand {
                repo,
                options: BacktestOptions {
                    tip,
                    commits,
                    min_age_days,
                    seed,
                },
                config: cli.config,
                policy,
                format,
            };
            print!(
                "{}",
                deploy_agent::commands::calibrate::run_calibrate(&cmd)?
            );
            Ok(exit::OK)
        }
        Command::Bench {
            which:
                BenchCommand::Risk {
                    rows,
                    write_prior,
                    seed,
                    format,
                },
        } => {
            use deploy_agent::bench::risk;
            let mut shown = Progress::new("bench risk", "models fitted", 0);
            let b = risk::run(&rows, seed, |what| {
                shown.message(what);
                shown.inc();
            })
            .map_err(deploy_agent::error::Error::Usage)?;
            shown.finish();
            if let Some(path) = write_prior {
                let json = serde_json::to_string(&b.prior).unwrap_or_default();
                std::fs::write(&path, json + "\n").map_err(|e| {
                    deploy_agent::error::Error::Usage(format!(
                        "cannot write --write-prior {}: {e}",
                        path.display()
                    ))
                })?;
            }
            match format {
                BenchFormat::Markdown => print!("{}", risk::render_markdown(&b)),
                BenchFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&b).unwrap_or_default())
                }
            }
            Ok(exit::OK)
        }
        Command::Bench {
            which: BenchCommand::Loop { rollouts, format },
        } => {
            let figures = bench::bench_loop(rollouts).await?;
            match format {
                BenchFormat::Markdown => print!("{}", bench::render_markdown(&figures)),
                BenchFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&figures).unwrap_or_default()
                ),
            }
            Ok(exit::OK)
        }
        Command::Bench {
            which:
                BenchCommand::Canary {
                    runs,
                    format,
                    plot,
                    seed,
                },
        } => {
            let json = matches!(format, BenchFormat::Json);
            let out = deploy_agent::bench::canary::run_command(runs, seed, json, plot.as_deref())?;
            print!("{out}");
            Ok(exit::OK)
        }
        Command::Bench {
            which:
                BenchCommand::Rollouts {
                    seeds,
                    judge,
                    level,
                    scenario,
                    rps,
                    seed,
                    policy,
                    format,
                    check,
                },
        } => {
            use deploy_agent::bench::rollouts;
            let policy = match policy {
                Some(p) => deploy_agent::policy::Policy::load(&p)?,
                None => deploy_agent::policy::Policy::embedded()?,
            };
            let all_levels = deploy_agent::policy::Level::ALL.to_vec();
            let bench = rollouts::RolloutBench {
                judges: judge,
                levels: if level.is_empty() { all_levels } else { level },
                scenarios: if scenario.is_empty() {
                    Scenario::ALL.to_vec()
                } else {
                    scenario
                },
                rps,
                seeds,
                seed_offset: seed,
            };
            let mut shown = Progress::new("bench rollouts", "cells", 0);
            let rows = rollouts::run(&bench, &policy, |r, i, n| {
                shown.set(i as u64, n as u64);
                shown.message(format!(
                    "{} {} {} {} rps: {} promoted, {} stopped, {} asked of {}",
                    r.judge.as_str(),
                    r.level.as_str(),
                    r.scenario.as_str(),
                    r.rps,
                    r.promoted,
                    r.stopped,
                    r.asked,
                    r.runs
                ));
            })
            .await;
            shown.finish();
            let targets = rollouts::targets(&rows);
            match format {
                BenchFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"rows": rows, "targets": targets})
                    )
                    .unwrap_or_default()
                ),
                BenchFormat::Markdown => print!("{}", rollouts::render_markdown(&rows)),
            }
            let missed = targets.iter().any(|t| t.met == Some(false));
            Ok(if check && missed {
                deploy_agent::evals::codes::THRESHOLD_FAILED
            } else {
                exit::OK
            })
        }
        Command::Eval {
            suite,
            planner,
            repeat,
            format,
            seed,
            price_per_1k_tokens,
        } => {
            let cmd = EvalCommand {
                suite,
                planner,
                repeat,
                format,
                seed,
                price_per_1k_tokens,
                config: cli.config,
            };
            let outcome = deploy_agent::evals::run_eval(&cmd).await?;
            print!("{}", outcome.rendered);
            for f in &outcome.report.failures {
                eprintln!("threshold failed: {f}");
            }
            Ok(outcome.exit_code)
        }
        Command::History {
            service,
            limit,
            format,
        } => {
            let cmd = HistoryCommand {
                location,
                service,
                limit,
                format,
            };
            print!("{}", deploy_agent::commands::journal::run_history(&cmd)?);
            Ok(exit::OK)
        }
        Command::Resume {
            policy,
            repo,
            format,
        } => {
            let cmd = ResumeCommand {
                location,
                policy,
                repo,
                format,
            };
            let (out, code) = run_resume(&cmd).await?;
            print!("{out}");
            Ok(code)
        }
        Command::Show { id, format } => {
            let cmd = ShowCommand {
                location,
                id,
                format,
            };
            print!("{}", deploy_agent::commands::journal::run_show(&cmd)?);
            Ok(exit::OK)
        }
        Command::Approve {
            id,
            reject,
            by,
            reason,
        } => {
            let cmd = ApproveCommand {
                location,
                id,
                reject,
                by,
                reason,
            };
            print!("{}", deploy_agent::commands::journal::run_approve(&cmd)?);
            Ok(exit::OK)
        }
        Command::Serve {
            listen,
            max_concurrent,
            shutdown_grace,
            pace,
        } => {
            let cmd = deploy_agent::serve::ServeCommand {
                listen,
                max_concurrent,
                pace,
                shutdown_grace: std::time::Duration::from_secs(shutdown_grace),
                config: cli.config,
                journal: location.journal,
            };
            deploy_agent::serve::run_serve(&cmd).await
        }
        Command::Doctor {
            service,
            policy,
            format,
        } => {
            let cmd = deploy_agent::doctor::DoctorCommand {
                config: location.config,
                policy,
                journal: location.journal,
                service,
            };
            let report = deploy_agent::doctor::run_doctor(&cmd).await;
            print!(
                "{}",
                match format {
                    JournalFormat::Json => deploy_agent::doctor::render_json(&report),
                    JournalFormat::Text => deploy_agent::doctor::render_text(
                        &report,
                        deploy_agent::report::colour_on(std::io::IsTerminal::is_terminal(
                            &std::io::stdout()
                        ))
                    ),
                }
            );
            Ok(if report.failed() {
                exit::BAD_INPUT
            } else {
                exit::OK
            })
        }
        Command::Schema { name, format } => {
            print!(
                "{}",
                deploy_agent::output_schema(&name, format == "markdown")?
            );
            Ok(exit::OK)
        }
    }
}
