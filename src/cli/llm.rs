//! `deploy-agent llm …`: the model endpoint on its own.

use clap::{Args, Subcommand};
use deploy_agent::commands::journal::{JournalFormat, JournalLocation};
use deploy_agent::exit;
use deploy_agent::llm::check::{render_json, render_text, run_check};
use deploy_agent::settings::{Env, Settings};

#[derive(Subcommand)]
pub enum LlmCommand {
    /// What the configured endpoint accepts: reachable, native or text tool
    /// calls, whether tool messages reach the model, the structured-output
    /// mode, the answer-cap field, and the time of one small planner turn.
    /// Exit codes: 0 usable, 2 not usable (or bad configuration).
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    #[arg(long, value_enum, default_value_t = JournalFormat::Text)]
    format: JournalFormat,
}

impl LlmCommand {
    pub async fn run(self, location: &JournalLocation) -> Result<u8, deploy_agent::Error> {
        let LlmCommand::Check(args) = self;
        let settings = Settings::load(location.config.as_deref(), &Env::from_process())?;
        let report = run_check(&settings.llm).await;
        print!(
            "{}",
            match args.format {
                JournalFormat::Json => render_json(&report),
                JournalFormat::Text => render_text(&report),
            }
        );
        Ok(if report.usable { 0 } else { exit::BAD_INPUT })
    }
}
