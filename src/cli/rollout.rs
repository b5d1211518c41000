//! The rollout family: `rollout` drives one change, `resume` finishes what a dead
//! process left, `serve` rolls out merges from webhooks. All three move traffic, so
//! all three take the journal location from the global flags.

use std::path::PathBuf;

use clap::Args;
use deploy_agent::commands::backends::MetricsKind;
use deploy_agent::commands::journal::{JournalFormat, JournalLocation};
use deploy_agent::commands::resume::{run_resume, ResumeCommand};
use deploy_agent::commands::rollout::{PlannerKind, RolloutFormat, TargetKind};
use deploy_agent::serve::ServeCommand;
use deploy_agent::sim::Scenario;
use deploy_agent::RolloutCommand;

#[derive(Args)]
pub struct RolloutArgs {
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
}

#[derive(Args)]
pub struct ResumeArgs {
    /// Policy file (default: `policy` in the config, else the embedded default).
    #[arg(long, value_name = "PATH")]
    policy: Option<PathBuf>,
    /// The repository of the rollouts' revisions (`on_resume = "continue"`
    /// re-reads the change; without it the rollout is rolled back).
    #[arg(long, default_value = ".", value_name = "PATH")]
    repo: PathBuf,
    #[arg(long, value_enum, default_value_t = JournalFormat::Text)]
    format: JournalFormat,
}

#[derive(Args)]
pub struct ServeArgs {
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
}

impl RolloutArgs {
    pub async fn run(self, location: &JournalLocation) -> Result<u8, deploy_agent::Error> {
        let cmd = RolloutCommand {
            rev: self.rev,
            repo: self.repo,
            service: self.service,
            target: self.target,
            metrics: self.metrics,
            dry_run: self.dry_run,
            scenario: self.scenario,
            seed: self.seed,
            planner: self.planner,
            format: self.format,
            approve_as: self.approve_as,
            config: location.config.clone(),
            policy: self.policy,
            pace: self.pace,
            journal: location.journal.clone(),
            no_journal: self.no_journal,
            adopt: self.adopt,
        };
        let outcome = deploy_agent::run_rollout(&cmd).await?;
        print!("{}", outcome.rendered);
        Ok(outcome.exit_code)
    }
}

impl ResumeArgs {
    pub async fn run(self, location: JournalLocation) -> Result<u8, deploy_agent::Error> {
        let cmd = ResumeCommand {
            location,
            policy: self.policy,
            repo: self.repo,
            format: self.format,
        };
        let (out, code) = run_resume(&cmd).await?;
        print!("{out}");
        Ok(code)
    }
}

impl ServeArgs {
    /// Runs until SIGTERM or ctrl-c; the exit code says how the shutdown went.
    pub async fn run(self, location: JournalLocation) -> Result<u8, deploy_agent::Error> {
        let cmd = ServeCommand {
            listen: self.listen,
            max_concurrent: self.max_concurrent,
            pace: self.pace,
            shutdown_grace: std::time::Duration::from_secs(self.shutdown_grace),
            config: location.config,
            journal: location.journal,
        };
        deploy_agent::serve::run_serve(&cmd).await
    }
}
