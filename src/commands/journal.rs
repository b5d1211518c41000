//! `deploy-agent history`, `show` and `approve`: reading the journal, and deciding a
//! running rollout's approval from any shell on the machine.

use crate::commands::ArgError;
use std::path::PathBuf;
use std::sync::Arc;

use crate::approval::identity::{check_by, os_user};
use crate::error::Error;
use crate::journal::timeline::{
    history_json, render_history, render_timeline, render_votes, timeline_json,
};
use crate::journal::{wall_now, ApprovalDecision, ApprovalProgress, Journal};
use crate::settings::{Env, Settings};

/// Output formats of `history` and `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JournalFormat {
    Text,
    /// The journal's records as JSON.
    Json,
}

/// Output formats of `show`: `history`'s, and pictures of the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// The timeline as a table.
    Text,
    /// The rollout, its events and approval votes as JSON.
    Json,
    /// One self-contained HTML page (inline SVG and CSS, no scripts): summary, chart, events.
    Html,
    /// The chart alone: weight, error rate and latency of both versions, evidence
    /// against its threshold, and markers (detail on hover) for every decision.
    Svg,
    /// The canary weight over time as a Mermaid `xychart-beta` block, for a
    /// pull request, an issue or a wiki page (GitHub renders it).
    Mermaid,
}

/// Where the journal is: `--journal`, else the settings' `journal.path`, else the default.
#[derive(Debug, Clone, Default)]
pub struct JournalLocation {
    pub config: Option<PathBuf>,
    pub journal: Option<PathBuf>,
}

/// `deploy-agent history`.
#[derive(Debug, Clone)]
pub struct HistoryCommand {
    pub location: JournalLocation,
    pub service: Option<String>,
    pub limit: usize,
    pub format: JournalFormat,
}

/// `deploy-agent show <id>`.
#[derive(Debug, Clone)]
pub struct ShowCommand {
    pub location: JournalLocation,
    pub id: String,
    pub format: ShowFormat,
}

/// `deploy-agent approve <id>`. Who decides is not a field: it is the OS user
/// of the process, mapped through `[people]` ([`crate::approval::identity`]).
#[derive(Debug, Clone)]
pub struct ApproveCommand {
    pub location: JournalLocation,
    pub id: String,
    pub reject: bool,
    /// `--by NAME`: accepted only when it names the verified identity (a
    /// check for scripts that passed it before), never instead of it.
    pub by: Option<String>,
    pub reason: Option<String>,
}

/// Lists rollouts, newest first.
pub fn run_history(cmd: &HistoryCommand) -> Result<String, Error> {
    let journal = open_existing(&cmd.location)?;
    let records = journal.list(cmd.service.as_deref(), cmd.limit)?;
    Ok(match cmd.format {
        JournalFormat::Text => {
            let awaiting: Vec<String> = journal
                .pending_approvals()?
                .into_iter()
                .map(|p| p.rollout_id)
                .collect();
            render_history(&records, &awaiting)
        }
        JournalFormat::Json => pretty(&history_json(&records)),
    })
}

/// One rollout's timeline.
pub fn run_show(cmd: &ShowCommand) -> Result<String, Error> {
    let journal = open_existing(&cmd.location)?;
    let record = journal.rollout(&cmd.id)?;
    let events = journal.events(&cmd.id)?;
    let votes = journal.approval_votes(&record.id, &record.rev)?;
    Ok(match cmd.format {
        ShowFormat::Text => render_timeline(&record, &events) + &render_votes(&votes),
        ShowFormat::Json => pretty(&timeline_json(&record, &events, &votes)),
        ShowFormat::Html => crate::chart::html(&record, &events),
        ShowFormat::Svg => crate::chart::svg(&record, &events) + "\n",
        ShowFormat::Mermaid => crate::chart::mermaid(&record, &events),
    })
}

/// Decides the pending approval of a rollout, bound to the rollout's revision, or
/// adds a vote when policy asks two approvers and this is the first. The voter
/// is the verified identity: the OS user of this process (real uid), as the
/// person `[people]` maps it to; when the service has an allow-list, that
/// identity must be on it. A refusal (not an approver, `--by` naming someone
/// else, decided already, too late, nothing pending, the same person twice,
/// whichever channel they used the first time) is an error.
pub fn run_approve(cmd: &ApproveCommand) -> Result<String, Error> {
    let (settings, journal) = open_with_settings(&cmd.location)?;
    let rollout = journal.rollout(&cmd.id)?;
    let os_user = os_user()?;
    let directory = settings.directory();
    check_by(
        cmd.by.as_deref(),
        &directory.identify_os(&os_user),
        &os_user,
    )?;
    let by = directory.admit_os_user(&rollout.service, &os_user)?.key();
    // The question pending for this rollout: its approval, or whether to go
    // on without a Pass (recorded as `REV#go-on@W`).
    let key = pending_key(journal.as_ref(), &rollout.id)?.unwrap_or_else(|| rollout.rev.clone());
    let verb = if cmd.reject { "rejected" } else { "approved" };
    let decision = ApprovalDecision {
        approved: !cmd.reject,
        by: Some(by.clone()),
        reason: cmd
            .reason
            .clone()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| format!("{verb} with deploy-agent approve")),
        decided_at: wall_now(),
    };
    if let ApprovalProgress::Waiting {
        approvals,
        required,
    } = journal.decide_approval(&rollout.id, &key, &decision)?
    {
        return Ok(format!(
            "{approvals} of {required} approvals recorded for rollout {} as {by}, waiting for another approver\n",
            rollout.id
        ));
    }
    Ok(format!(
        "{verb} rollout {} (rev {}) as {by}\n",
        rollout.id,
        rollout.rev.get(..10).unwrap_or(&rollout.rev)
    ))
}

/// The key of the newest pending approval of `rollout_id`, if any.
pub(crate) fn pending_key(
    journal: &dyn Journal,
    rollout_id: &str,
) -> Result<Option<String>, Error> {
    Ok(journal
        .pending_approvals()?
        .into_iter()
        .filter(|p| p.rollout_id == rollout_id)
        .max_by(|a, b| a.requested_at.total_cmp(&b.requested_at))
        .map(|p| p.rev))
}

/// Opens the journal for reading or deciding; a missing file is an error rather
/// than a new empty journal, so a wrong path is noticed.
pub(crate) fn open_existing(location: &JournalLocation) -> Result<Arc<dyn Journal>, Error> {
    Ok(open_with_settings(location)?.1)
}

/// [`open_existing`], with the settings it read.
fn open_with_settings(location: &JournalLocation) -> Result<(Settings, Arc<dyn Journal>), Error> {
    let settings = Settings::load(location.config.as_deref(), &Env::from_process())?;
    let path = settings.journal_path(location.journal.as_deref());
    if !path.exists() && !crate::journal::is_database_url(&path) {
        return Err(ArgError::NoJournal { path }.into());
    }
    let journal = crate::journal::open_path(&path)?;
    Ok((settings, journal))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}
