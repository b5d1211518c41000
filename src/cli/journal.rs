//! The journal family: `history` and `show` read the journal, `approve` decides a
//! pending approval in it. None of them moves traffic.

use clap::Args;
use deploy_agent::commands::journal::{
    run_approve, run_history, run_show, ApproveCommand, HistoryCommand, JournalFormat,
    JournalLocation, ShowCommand, ShowFormat,
};
use deploy_agent::commands::ArgError;
use deploy_agent::exit;

#[derive(Args)]
pub struct HistoryArgs {
    /// Only this service's rollouts.
    #[arg(long)]
    service: Option<String>,
    #[arg(long, default_value_t = 20, value_name = "N")]
    limit: usize,
    #[arg(long, value_enum, default_value_t = JournalFormat::Text)]
    format: JournalFormat,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The rollout id (see `history`).
    id: String,
    /// `html` and `svg` draw the rollout (weight, both versions' error rate and
    /// latency, evidence, a marker per decision with its detail on hover).
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    format: ShowFormat,
    /// Write to FILE instead of standard output (e.g. `--format html --output rollout.html`).
    #[arg(long, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct ApproveArgs {
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
}

impl HistoryArgs {
    pub fn run(self, location: JournalLocation) -> Result<u8, deploy_agent::Error> {
        let cmd = HistoryCommand {
            location,
            service: self.service,
            limit: self.limit,
            format: self.format,
        };
        print!("{}", run_history(&cmd)?);
        Ok(exit::OK)
    }
}

impl ShowArgs {
    pub fn run(self, location: JournalLocation) -> Result<u8, deploy_agent::Error> {
        let cmd = ShowCommand {
            location,
            id: self.id,
            format: self.format,
        };
        let shown = run_show(&cmd)?;
        match self.output {
            Some(path) => std::fs::write(&path, shown).map_err(|source| ArgError::CannotWrite {
                flag: "--output",
                path,
                source,
            })?,
            None => print!("{shown}"),
        }
        Ok(exit::OK)
    }
}

impl ApproveArgs {
    pub fn run(self, location: JournalLocation) -> Result<u8, deploy_agent::Error> {
        let cmd = ApproveCommand {
            location,
            id: self.id,
            reject: self.reject,
            by: self.by,
            reason: self.reason,
        };
        print!("{}", run_approve(&cmd)?);
        Ok(exit::OK)
    }
}
