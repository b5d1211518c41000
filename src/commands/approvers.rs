//! Who answers a rollout's approval request: `--approve-as`, Slack, the
//! terminal, or the journal (`deploy-agent approve` from another shell).

use std::sync::Arc;

use super::rollout::RolloutCommand;
use crate::approval::slack::BOT_TOKEN_ENV;
use crate::approval::{Approver, FixedApprover, JournalApprover, TerminalApprover};
use crate::error::Error;
use crate::journal::Journal;
use crate::rollout::events::{Event, EventSink};
use crate::settings::Settings;

/// Who answers an approval request when Slack does not (see [`slack_channel`]),
/// and whether it is the journal:
/// `--approve-as NAME` approves without asking; else a terminal asks; else the
/// journal waits for `deploy-agent approve` from another shell; with `--no-journal`
/// and no terminal, a standing rejection.
pub(super) fn approver(
    cmd: &RolloutCommand,
    interactive: bool,
    journal: Option<&Arc<dyn Journal>>,
) -> (Arc<dyn Approver>, bool) {
    match (&cmd.approve_as, interactive, journal) {
        (Some(name), _, _) => (Arc::new(FixedApprover::approve_as(name)), false),
        (None, true, _) => (
            Arc::new(TerminalApprover {
                user: std::env::var("USER").unwrap_or_else(|_| "terminal".into()),
            }),
            false,
        ),
        (None, false, Some(journal)) => (Arc::new(JournalApprover::new(journal.clone())), true),
        (None, false, None) => (
            Arc::new(FixedApprover::reject(
                "no terminal to ask, no --approve-as and no journal (--no-journal): a rejection",
            )),
            false,
        ),
    }
}

/// The Slack channel to ask in, when Slack is the approver: configured for the
/// service (`[services.NAME.slack]` or `[slack]` channel) and no `--approve-as`.
/// Checked before anything runs, so a missing token is an error up front rather
/// than an approval nobody sees. A dry run records nothing and asks as it would
/// without Slack.
pub(super) fn slack_channel<'a>(
    cmd: &RolloutCommand,
    settings: &'a Settings,
) -> Result<Option<&'a str>, Error> {
    if cmd.approve_as.is_some() || cmd.dry_run {
        return Ok(None);
    }
    let Some(channel) = settings.slack_channel(&cmd.service) else {
        return Ok(None);
    };
    if settings.slack.bot_token.is_none() {
        return Err(Error::Usage(format!(
            "approvals of {} go to Slack ({channel}) but {BOT_TOKEN_ENV} is not set: set it to the app's bot token (xoxb-…, scope chat:write), or pass --approve-as NAME",
            cmd.service
        )));
    }
    if cmd.no_journal {
        return Err(Error::Usage(format!(
            "approvals of {} go to Slack ({channel}), which records them in the journal: drop --no-journal",
            cmd.service
        )));
    }
    Ok(Some(channel))
}

/// Tells the operator how to answer when the journal is the approver.
pub(super) struct ApprovalHint {
    pub id: String,
}

impl EventSink for ApprovalHint {
    fn emit(&mut self, _at: f64, event: &Event) {
        if matches!(event, Event::ApprovalRequested { .. }) {
            eprintln!(
                "approve from another shell: deploy-agent approve {} --by NAME",
                self.id
            );
        }
    }
}
