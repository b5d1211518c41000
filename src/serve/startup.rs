//! What `serve` checks before it listens, so a configuration that cannot work
//! is an error at start (exit 2, saying what to write) rather than a rollout
//! that fails later or an approval nobody can decide: every service's target,
//! Slack's token, the approvers, and `[serve] approve_as` against them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::slack;
use super::ServeError;
use crate::approval::identity::{os_user, IdentityError};
use crate::commands::rollout::TargetKind;
use crate::error::Error;
use crate::journal::Journal;
use crate::settings::Settings;

/// Approvals, checked at start rather than at each rollout: the bot token
/// ([`check_slack_token`]), the approvers ([`Settings::check_approvers`]), and
/// `[serve] approve_as`, which with an allow-list needs serve's own OS user on
/// it (as `rollout --approve-as` does).
pub(super) fn check_approvals(settings: &Settings) -> Result<(), Error> {
    if settings.serve.approve_as.is_none() {
        check_slack_token(settings)?;
    }
    settings.check_approvers()?;
    if settings.serve.approve_as.is_none() {
        return Ok(());
    }
    let directory = settings.directory();
    let guarded: Vec<&String> = (settings.serve.services.iter())
        .filter(|s| directory.has_allow_list(s))
        .collect();
    let Some(first) = guarded.first() else {
        return Ok(());
    };
    let user = os_user()?;
    for service in &guarded {
        if let Err(IdentityError::NotAnApprover(refusal)) = directory.admit_os_user(service, &user)
        {
            return Err(ServeError::ApproveAs(IdentityError::ApproveAsNotApprover(refusal)).into());
        }
    }
    tracing::info!(service = %first, "[serve] approve_as approves as {}", directory.identify_os(&user));
    Ok(())
}

/// A service whose approvals go to Slack needs the bot token to post; without
/// the signing secret the buttons cannot be clicked, which is allowed
/// (`deploy-agent approve` still decides) but said.
fn check_slack_token(settings: &Settings) -> Result<(), Error> {
    let slack: Vec<&String> = settings
        .serve
        .services
        .iter()
        .filter(|s| settings.slack_channel(s).is_some())
        .collect();
    if slack.is_empty() {
        return Ok(());
    }
    if settings.slack.bot_token.is_none() {
        return Err(ServeError::NoSlackToken {
            services: slack.into_iter().cloned().collect(),
            env: crate::approval::slack::BOT_TOKEN_ENV,
        }
        .into());
    }
    if std::env::var(slack::SIGNING_SECRET_ENV).map_or(true, |s| s.trim().is_empty()) {
        tracing::warn!(
            "approvals of {slack:?} go to Slack but {} is not set: clicks will be refused (503); `deploy-agent approve` still works",
            slack::SIGNING_SECRET_ENV
        );
    }
    Ok(())
}

/// The Slack interactivity handler's state, when `SLACK_SIGNING_SECRET` is set.
pub(super) fn slack_state(
    settings: &Settings,
    journal: Arc<dyn Journal>,
) -> Option<slack::SlackState> {
    let secret = std::env::var(slack::SIGNING_SECRET_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())?;
    let state = slack::SlackState::new(
        secret.as_bytes(),
        journal,
        settings.directory(),
        &settings.slack,
    );
    state
        .map_err(|e| tracing::error!("Slack clicks are refused (503): {e}"))
        .ok()
}

/// The target of every `[serve] services` entry, resolved once at startup: a
/// service without a complete target is an error now, not a rollout silently
/// run in the simulator and reported promoted.
pub(super) fn service_targets(settings: &Settings) -> Result<BTreeMap<String, TargetKind>, Error> {
    let mut targets = BTreeMap::new();
    for name in &settings.serve.services {
        let service = settings.services.get(name).cloned().unwrap_or_default();
        let target = service.resolve_target(name).map_err(ServeError::from)?;
        targets.insert(name.clone(), target);
    }
    Ok(targets)
}
