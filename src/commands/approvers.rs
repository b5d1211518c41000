//! Who answers a rollout's approval request: `--approve-as`, Slack, the
//! terminal, or the journal (`deploy-agent approve` from another shell), each
//! speaking for a verified identity where the service has an allow-list.

use std::sync::Arc;

use super::rollout::RolloutCommand;
use crate::approval::identity::{os_user, IdentityError};
use crate::approval::slack::BOT_TOKEN_ENV;
use crate::approval::{Approver, FixedApprover, JournalApprover, TerminalApprover};
use crate::error::Error;
use crate::rollout::events::{Event, EventSink};
use crate::settings::{ApproverConfigError, Settings};

/// Who answers an approval request when Slack does not (see [`slack_channel`]),
/// and whether it is the journal:
/// `--approve-as NAME` (checked by [`approve_as`]) approves without asking; else a
/// terminal asks, when `terminal` names who sits at it (see [`terminal_user`]);
/// else the journal waits for `deploy-agent approve` from another shell; with
/// `--no-journal` and no terminal, a standing rejection.
pub(super) fn approver(
    approve_as: Option<FixedApprover>,
    terminal: Option<String>,
    journal: Option<JournalApprover>,
) -> (Arc<dyn Approver>, bool) {
    match (approve_as, terminal, journal) {
        (Some(fixed), _, _) => (Arc::new(fixed), false),
        (None, Some(user), _) => (Arc::new(TerminalApprover { user }), false),
        (None, None, Some(journal)) => (Arc::new(journal), true),
        (None, None, None) => (
            Arc::new(FixedApprover::reject(
                "no terminal to ask, no --approve-as and no journal (--no-journal): a rejection",
            )),
            false,
        ),
    }
}

/// `--approve-as NAME`, checked before anything runs. Without an allow-list for
/// the service it approves as NAME, as automation always has (the README's demo,
/// CI). With one, NAME is only a label: the OS user running the command must be
/// on the list, and its verified identity is what is recorded; otherwise the
/// rollout is refused, so the flag cannot stand in for an approver.
pub(super) fn approve_as(
    cmd: &RolloutCommand,
    settings: &Settings,
) -> Result<Option<FixedApprover>, Error> {
    let Some(label) = cmd.approve_as.as_deref() else {
        return Ok(None);
    };
    let directory = settings.directory();
    if !directory.has_allow_list(&cmd.service) {
        return Ok(Some(FixedApprover::approve_as(label)));
    }
    let os_user = os_user()?;
    match directory.admit_os_user(&cmd.service, &os_user) {
        Ok(identity) => Ok(Some(FixedApprover::approve_verified(
            &identity.key(),
            label,
        ))),
        Err(IdentityError::NotAnApprover(refusal)) => {
            Err(IdentityError::ApproveAsNotApprover(refusal).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Who answers at this terminal: the verified OS identity (never `$USER`), if
/// the service's allow-list admits it. Otherwise the terminal is not asked (the
/// journal waits for a listed approver instead) and the reason is logged.
pub(super) fn terminal_user(service: &str, settings: &Settings) -> Option<String> {
    let admitted = os_user()
        .and_then(|user| settings.directory().admit_os_user(service, &user))
        .map(|identity| identity.key());
    admitted
        .map_err(|e| tracing::warn!("not asking at this terminal: {e}"))
        .ok()
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
        return Err(ApproverConfigError::NoSlackToken {
            service: cmd.service.clone(),
            channel: channel.into(),
            env: BOT_TOKEN_ENV,
        }
        .into());
    }
    if cmd.no_journal {
        return Err(ApproverConfigError::SlackNeedsJournal {
            service: cmd.service.clone(),
            channel: channel.into(),
        }
        .into());
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
                "approve from another shell: deploy-agent approve {} --by NAME (optional; you approve as your OS account, mapped by [people])",
                self.id
            );
        }
    }
}
