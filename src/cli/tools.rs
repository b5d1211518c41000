//! The checking tools: `eval` scores the agent on a suite, `doctor` checks a
//! configuration against the real services, `schema` prints the machine-readable
//! formats. None of them moves traffic.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use deploy_agent::commands::journal::{JournalFormat, JournalLocation};
use deploy_agent::doctor::{render_json, render_text, run_doctor, DoctorCommand};
use deploy_agent::evals::{run_eval, EvalCommand, EvalFormat, EvalPlanner};
use deploy_agent::exit;

#[derive(Args)]
pub struct EvalArgs {
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
}

#[derive(Args)]
pub struct DoctorArgs {
    /// Only this service (default: every configured one).
    #[arg(long)]
    service: Option<String>,
    /// A policy file (default: the configured one, else the embedded default).
    #[arg(long, value_name = "PATH")]
    policy: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = JournalFormat::Text)]
    format: JournalFormat,
}

#[derive(Args)]
pub struct SchemaArgs {
    /// Which: assess, rollout or config.
    name: String,
    /// `json` (default) or `markdown` (config only).
    #[arg(long, default_value = "json", value_parser = ["json", "markdown"])]
    format: String,
}

impl EvalArgs {
    /// Prints the report; each failed threshold also goes to stderr.
    pub async fn run(self, location: &JournalLocation) -> Result<u8, deploy_agent::Error> {
        let cmd = EvalCommand {
            suite: self.suite,
            planner: self.planner,
            repeat: self.repeat,
            format: self.format,
            seed: self.seed,
            price_per_1k_tokens: self.price_per_1k_tokens,
            config: location.config.clone(),
        };
        let outcome = run_eval(&cmd).await?;
        print!("{}", outcome.rendered);
        for f in &outcome.report.failures {
            eprintln!("threshold failed: {f}");
        }
        Ok(outcome.exit_code)
    }
}

impl DoctorArgs {
    /// Prints the checklist; a failed check is bad input (warnings are not).
    pub async fn run(self, location: JournalLocation) -> Result<u8, deploy_agent::Error> {
        let cmd = DoctorCommand {
            config: location.config,
            policy: self.policy,
            journal: location.journal,
            service: self.service,
        };
        let report = run_doctor(&cmd).await;
        print!(
            "{}",
            match self.format {
                JournalFormat::Json => render_json(&report),
                JournalFormat::Text => render_text(
                    &report,
                    deploy_agent::report::colour_on(std::io::stdout().is_terminal())
                ),
            }
        );
        Ok(if report.failed() {
            exit::BAD_INPUT
        } else {
            exit::OK
        })
    }
}

impl SchemaArgs {
    pub fn run(self) -> Result<u8, deploy_agent::Error> {
        print!(
            "{}",
            deploy_agent::output_schema(&self.name, self.format == "markdown")?
        );
        Ok(exit::OK)
    }
}
