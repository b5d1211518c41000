//! The Slack Web API client: the few methods the approver and the
//! interactivity handler call, with a timeout and bounded retries.

use std::time::Duration;

use serde_json::Value;

/// Where the bot token comes from (never a file or a flag).
pub const BOT_TOKEN_ENV: &str = "SLACK_BOT_TOKEN";
/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// `[slack]` plus the bot token from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackSettings {
    pub api_url: String,
    /// The default channel; `[services.NAME.slack] channel` overrides it.
    pub channel: Option<String>,
    pub timeout_secs: u64,
    pub max_retries: u32,
    /// From `SLACK_BOT_TOKEN` only.
    pub bot_token: Option<String>,
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.into(),
            channel: None,
            timeout_secs: 10,
            max_retries: 2,
            bot_token: None,
        }
    }
}

/// Why a Slack call failed. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack needs a bot token in {BOT_TOKEN_ENV} (scope chat:write); it is never read from a file")]
    NoToken,
    #[error("Slack {method} answered ok=false: {error} (check the bot token, its chat:write scope and that the bot is in the channel)")]
    Api { method: String, error: String },
    #[error("Slack {method} failed after {attempts} attempt(s): {detail}")]
    Transport {
        method: String,
        attempts: u32,
        detail: String,
    },
}

/// A minimal Slack Web API client: JSON POSTs with a bearer token, a timeout and
/// bounded retries on transport errors, 5xx and 429.
#[derive(Debug, Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    api_url: String,
    token: String,
    max_retries: u32,
}

impl SlackClient {
    pub fn new(settings: &SlackSettings) -> Result<Self, SlackError> {
        let token = settings.bot_token.clone().ok_or(SlackError::NoToken)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs))
            .build()
            .map_err(|e| SlackError::Transport {
                method: "client".into(),
                attempts: 0,
                detail: e.to_string(),
            })?;
        Ok(Self {
            http,
            api_url: settings.api_url.trim_end_matches('/').to_string(),
            token,
            max_retries: settings.max_retries,
        })
    }

    /// Calls `method` with a JSON `body` (Slack's write methods);
    /// `{"ok": false, "error": ...}` is an error.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.api_url);
        self.send(method, || self.http.post(&url).json(body)).await
    }

    /// Calls a read method with query arguments: Slack's read methods (e.g.
    /// `usergroups.users.list`) take form or query arguments, not JSON.
    pub async fn get(&self, method: &str, query: &[(&str, &str)]) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.api_url);
        self.send(method, || self.http.get(&url).query(query)).await
    }

    /// The members of user group `group` (`S…`); needs the `usergroups:read` scope.
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let answer = self
            .get("usergroups.users.list", &[("usergroup", group)])
            .await?;
        Ok(answer["users"]
            .as_array()
            .map(|users| {
                users
                    .iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn send(
        &self,
        method: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, SlackError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let detail = match request().bearer_auth(&self.token).send().await {
                Ok(resp) if resp.status().is_server_error() || resp.status().as_u16() == 429 => {
                    format!("HTTP {}", resp.status())
                }
                Ok(resp) => {
                    let status = resp.status();
                    let answer: Value = resp.json().await.map_err(|e| SlackError::Transport {
                        method: method.into(),
                        attempts,
                        detail: format!("HTTP {status}, unreadable answer: {e}"),
                    })?;
                    if answer["ok"].as_bool() == Some(true) {
                        return Ok(answer);
                    }
                    return Err(SlackError::Api {
                        method: method.into(),
                        error: answer["error"].as_str().unwrap_or("unknown").to_string(),
                    });
                }
                Err(e) => e.to_string(),
            };
            if attempts > self.max_retries {
                return Err(SlackError::Transport {
                    method: method.into(),
                    attempts,
                    detail,
                });
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempts))).await;
        }
    }
}
