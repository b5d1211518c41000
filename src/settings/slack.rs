//! `[slack]`: the Web API's address and limits, the default channel and
//! approvers, and the hosts a click's `response_url` may point at. The bot
//! token comes from `SLACK_BOT_TOKEN` only.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Env, SettingsError};
use crate::approval::slack::SlackSettings;

/// `[slack]`: where approvals are asked (the bot token comes from
/// `SLACK_BOT_TOKEN` only, the signing secret from `SLACK_SIGNING_SECRET`).
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlack {
    /// Slack's Web API base URL (a local fake in tests).
    #[schemars(extend("default" = "https://slack.com/api"))]
    api_url: Option<String>,
    /// The channel approvals are asked in (`#deploys` or a channel id), unless
    /// the service names its own in `[services.NAME.slack]`.
    #[schemars(extend("examples" = ["#deploys"]))]
    channel: Option<String>,
    /// Per Web API call (1-60).
    #[schemars(extend("default" = 10))]
    timeout_secs: Option<u64>,
    /// Retries after a failed call, honouring `Retry-After` (at most 10).
    #[schemars(extend("default" = 2))]
    max_retries: Option<u32>,
    /// How long a user group's members are remembered (0-3600; 0 asks Slack at every click).
    #[schemars(extend("default" = 60))]
    group_cache_secs: Option<u64>,
    /// Who may answer for services without their own `approvers`: `[people]`
    /// names, Slack user ids (`U…`) or user groups (`S…`).
    #[serde(default)]
    #[schemars(extend("examples" = [["alice", "U0123ABC", "S0789SRE"]]))]
    approvers: Vec<String>,
    /// Hosts a click's `response_url` may point at; any other is not called.
    #[schemars(extend("default" = ["hooks.slack.com"]))]
    response_url_hosts: Option<Vec<String>>,
}

pub(super) fn validate_slack(raw: RawSlack, env: &Env) -> Result<SlackSettings, SettingsError> {
    let d = SlackSettings::default();
    let api_url = raw.api_url.unwrap_or(d.api_url);
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(SettingsError::Invalid(format!(
            "slack.api_url must be an http(s) URL, got `{api_url}`"
        )));
    }
    let timeout_secs = raw.timeout_secs.unwrap_or(d.timeout_secs);
    let max_retries = raw.max_retries.unwrap_or(d.max_retries);
    if timeout_secs == 0 || timeout_secs > 60 || max_retries > 10 {
        return Err(SettingsError::Invalid(
            "slack: timeout_secs 1..=60, max_retries at most 10".into(),
        ));
    }
    let group_cache_secs = raw.group_cache_secs.unwrap_or(d.group_cache_secs);
    if group_cache_secs > 3600 {
        return Err(SettingsError::Invalid(
            "slack.group_cache_secs at most 3600 (0 asks Slack at every click)".into(),
        ));
    }
    let response_url_hosts = raw.response_url_hosts.unwrap_or(d.response_url_hosts);
    if let Some(bad) = response_url_hosts.iter().find(|h| !is_host(h)) {
        return Err(SettingsError::Invalid(format!(
            "slack.response_url_hosts: `{bad}` is not a host name (write the host alone, e.g. response_url_hosts = [\"hooks.slack.com\"])"
        )));
    }
    Ok(SlackSettings {
        api_url,
        channel: raw.channel.filter(|c| !c.trim().is_empty()),
        timeout_secs,
        max_retries,
        group_cache_secs,
        approvers: raw.approvers,
        response_url_hosts: response_url_hosts
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        bot_token: env.slack_bot_token.clone(),
    })
}

/// A bare host name or IP address: no scheme, port, path or wildcard.
fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(text: &str) -> Result<SlackSettings, SettingsError> {
        let raw: RawSlack =
            toml::from_str(text).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        validate_slack(raw, &Env::default())
    }

    #[test]
    fn response_url_hosts_default_to_slacks_and_must_be_bare_hosts() {
        assert_eq!(slack("").unwrap().response_url_hosts, ["hooks.slack.com"]);
        let s = slack("response_url_hosts = [\"127.0.0.1\", \"Hooks.Slack.com\"]").unwrap();
        assert_eq!(s.response_url_hosts, ["127.0.0.1", "hooks.slack.com"]);
        for bad in [
            "https://hooks.slack.com",
            "*.slack.com",
            "hooks.slack.com:443",
            "",
        ] {
            let err = slack(&format!("response_url_hosts = [{bad:?}]")).unwrap_err();
            assert!(
                err.to_string().contains("slack.response_url_hosts"),
                "{err}"
            );
        }
        assert_eq!(
            slack("approvers = [\"alice\"]").unwrap().approvers,
            ["alice"]
        );
    }
}
