//! Who may approve, checked: `[people]` when the settings load (a person is
//! one identity, so no account may belong to two), and the allow-lists when
//! `serve` starts ([`Settings::check_approvers`]), so an approver who can
//! never match, a Slack section for a service nobody rolls out, or a channel
//! nobody may answer is an error at start rather than a request nobody can decide.

use std::collections::{BTreeMap, BTreeSet};

use super::{Settings, SettingsError};
use crate::approval::identity::{is_slack_group_id, is_slack_user_id, Person};

/// Why `serve` refuses its approval settings. Each names the field and what to write.
#[derive(Debug, thiserror::Error)]
pub enum ApproverConfigError {
    #[error("{field}: `{entry}` can never match: an approver is a Slack member id (U… or W…, e.g. U0123ABC: Slack profile → ⋮ → Copy member ID), a user group id (S…), or a person from [people] — {hint}")]
    Unmatchable {
        field: String,
        entry: String,
        hint: String,
    },
    #[error("[services.{service}.slack] is for a service serve does not roll out (serve.services = {known:?}): fix the name, add it to [serve] services, or remove the section")]
    UnknownService { service: String, known: Vec<String> },
    #[error("approvals of {service} go to Slack ({channel}) but nobody may answer them: list approvers in [services.{service}.slack] approvers or [slack] approvers (Slack member ids, user groups or [people] names)")]
    NoApprovers { service: String, channel: String },
    /// `rollout` of a service asked in Slack, without the token to post there.
    #[error("approvals of {service} go to Slack ({channel}) but {env} is not set: set it to the app's bot token (xoxb-…, scope chat:write), or pass --approve-as NAME")]
    NoSlackToken {
        service: String,
        channel: String,
        env: &'static str,
    },
    /// Slack's answers arrive through the journal, so it cannot be turned off.
    #[error("approvals of {service} go to Slack ({channel}), which records them in the journal: drop --no-journal")]
    SlackNeedsJournal { service: String, channel: String },
}

impl Settings {
    /// The allow-lists `serve` works with: every entry can match someone,
    /// every `[services.NAME.slack]` is one of `[serve] services`, and every
    /// served service asked in a Slack channel has approvers.
    pub fn check_approvers(&self) -> Result<(), ApproverConfigError> {
        let mut lists = vec![("[slack] approvers".to_string(), &self.slack.approvers)];
        for (name, service) in &self.services {
            let Some(slack) = &service.slack else {
                continue;
            };
            if !self.serve.services.contains(name) {
                return Err(ApproverConfigError::UnknownService {
                    service: name.clone(),
                    known: self.serve.services.clone(),
                });
            }
            lists.push((
                format!("[services.{name}.slack] approvers"),
                &slack.approvers,
            ));
        }
        for (field, entries) in lists {
            if let Some(entry) = entries.iter().find(|e| !self.can_match(e)) {
                return Err(ApproverConfigError::Unmatchable {
                    field,
                    entry: entry.clone(),
                    hint: self.hint(entry),
                });
            }
        }
        let directory = self.directory();
        for service in &self.serve.services {
            if let Some(channel) = self.slack_channel(service) {
                if !directory.has_allow_list(service) {
                    return Err(ApproverConfigError::NoApprovers {
                        service: service.clone(),
                        channel: channel.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    fn can_match(&self, entry: &str) -> bool {
        is_slack_user_id(entry) || is_slack_group_id(entry) || self.people.contains_key(entry)
    }

    fn hint(&self, entry: &str) -> String {
        let bare = entry.trim_start_matches(['@', '#']);
        if entry.starts_with('@') {
            format!("a @handle is not an id: write the member id, or add [people.{bare}] with slack = \"U…\" and os_user")
        } else {
            format!("to name a person, add [people.{bare}] with os_user and/or slack")
        }
    }
}

/// `[people]`: names usable in approver lists and in the journal, and no
/// account claimed twice (else one login would be two voters, or two people one).
pub(super) fn validate_people(people: &BTreeMap<String, Person>) -> Result<(), SettingsError> {
    let invalid = |m: String| Err(SettingsError::Invalid(m));
    let mut os_users = BTreeSet::new();
    let mut slack_ids = BTreeSet::new();
    for (name, person) in people {
        if !is_person_name(name) {
            return invalid(format!(
                "people.{name}: a person's name is lower case letters, digits, `.`, `_` or `-`, starting with a letter (e.g. [people.alice])"
            ));
        }
        if person.os_user.is_none() && person.slack.is_none() {
            return invalid(format!(
                "people.{name}: give os_user (the login name) and/or slack (the member id, e.g. \"U0123ABC\")"
            ));
        }
        if let Some(slack) = person.slack.as_deref() {
            if !is_slack_user_id(slack) {
                return invalid(format!(
                    "people.{name}.slack: `{slack}` is not a Slack member id (U… or W…, e.g. U0123ABC: Slack profile → ⋮ → Copy member ID)"
                ));
            }
            if !slack_ids.insert(slack) {
                return invalid(format!(
                    "people.{name}.slack: `{slack}` belongs to another person too; one account is one person"
                ));
            }
        }
        if let Some(os_user) = person.os_user.as_deref() {
            if os_user.trim().is_empty() || !os_users.insert(os_user) {
                return invalid(format!(
                    "people.{name}.os_user: `{os_user}` is empty or belongs to another person too; one account is one person"
                ));
            }
        }
    }
    Ok(())
}

/// Lower case, so it can never look like a Slack id; no `:`, so it can never
/// look like `slack:U…` or `os:NAME` in the journal.
fn is_person_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(text: &str) -> Result<(), SettingsError> {
        let people: BTreeMap<String, Person> =
            toml::from_str(text).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        validate_people(&people)
    }

    #[test]
    fn people_are_named_and_hold_their_accounts_alone() {
        assert!(people(
            "[alice]\nos_user = \"al\"\nslack = \"U0123ABC\"\n[bob]\nos_user = \"bob\"\n"
        )
        .is_ok());
        let refused = [
            ("[Alice]\nos_user = \"al\"\n", "people.Alice"),
            ("[\"a:b\"]\nos_user = \"al\"\n", "people.a:b"),
            ("[alice]\n", "os_user"),
            ("[alice]\nslack = \"@alice\"\n", "people.alice.slack"),
            (
                "[a]\nos_user = \"x\"\n[b]\nos_user = \"x\"\n",
                "people.b.os_user",
            ),
            (
                "[a]\nslack = \"U111\"\n[b]\nslack = \"U111\"\n",
                "people.b.slack",
            ),
            ("[a]\nemail = \"x\"\n", "email"),
        ];
        for (text, says) in refused {
            let err = people(text).unwrap_err();
            assert!(err.to_string().contains(says), "{text}: {err}");
        }
    }
}
