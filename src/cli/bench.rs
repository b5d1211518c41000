//! `bench`: benchmarks that print measured figures (loop cost, canary judges side by
//! side, whole rollouts, the risk model across repositories). Progress goes to stderr
//! so the figures on stdout stay clean for a file.

use std::path::PathBuf;

use clap::Subcommand;
use deploy_agent::bench::rollouts::JudgeKind;
use deploy_agent::commands::bench;
use deploy_agent::error::Error;
use deploy_agent::exit;
use deploy_agent::policy::{Level, Policy};
use deploy_agent::progress::Progress;
use deploy_agent::sim::Scenario;

#[derive(Subcommand)]
pub enum BenchCommand {
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
        level: Vec<Level>,
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
pub enum BenchFormat {
    Markdown,
    Json,
}

impl BenchCommand {
    pub async fn run(self) -> Result<u8, Error> {
        match self {
            BenchCommand::Risk {
                rows,
                write_prior,
                seed,
                format,
            } => bench_risk(rows, write_prior, seed, format),
            BenchCommand::Loop { rollouts, format } => {
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
            BenchCommand::Canary {
                runs,
                format,
                plot,
                seed,
            } => {
                let json = matches!(format, BenchFormat::Json);
                let out =
                    deploy_agent::bench::canary::run_command(runs, seed, json, plot.as_deref())?;
                print!("{out}");
                Ok(exit::OK)
            }
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
            } => {
                let bench = deploy_agent::bench::rollouts::RolloutBench {
                    judges: judge,
                    levels: if level.is_empty() {
                        Level::ALL.to_vec()
                    } else {
                        level
                    },
                    scenarios: if scenario.is_empty() {
                        Scenario::ALL.to_vec()
                    } else {
                        scenario
                    },
                    rps,
                    seeds,
                    seed_offset: seed,
                };
                bench_rollouts(bench, policy, format, check).await
            }
        }
    }
}

/// `bench risk`: fit, optionally write the prior, print the table.
fn bench_risk(
    rows: PathBuf,
    write_prior: Option<PathBuf>,
    seed: u64,
    format: BenchFormat,
) -> Result<u8, Error> {
    use deploy_agent::bench::risk;
    let mut shown = Progress::new("bench risk", "models fitted", 0);
    let b = risk::run(&rows, seed, |what| {
        shown.message(what);
        shown.inc();
    })?;
    shown.finish();
    if let Some(path) = write_prior {
        let json = serde_json::to_string(&b.prior).unwrap_or_default();
        std::fs::write(&path, json + "\n")
            .map_err(|source| risk::RiskBenchError::WritePrior { path, source })?;
    }
    match format {
        BenchFormat::Markdown => print!("{}", risk::render_markdown(&b)),
        BenchFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&b).unwrap_or_default())
        }
    }
    Ok(exit::OK)
}

/// `bench rollouts`: run the cells with progress, print rows and targets; with
/// `--check`, a missed target is exit 6 (as an eval threshold).
async fn bench_rollouts(
    bench: deploy_agent::bench::rollouts::RolloutBench,
    policy: Option<PathBuf>,
    format: BenchFormat,
    check: bool,
) -> Result<u8, Error> {
    use deploy_agent::bench::rollouts;
    let policy = match policy {
        Some(p) => Policy::load(&p)?,
        None => Policy::embedded()?,
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
            serde_json::to_string_pretty(&serde_json::json!({"rows": rows, "targets": targets}))
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
