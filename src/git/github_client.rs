//! The HTTP side of the GitHub backend: one client, its errors and settings.
//!
//! Every call sends `Accept: application/vnd.github+json`, the API version header
//! and the bearer token; listings follow `Link: rel="next"` up to a page cap and
//! never to another host than `api_url` (the token would go with them). Retries
//! are bounded: 5xx and transport errors back off; 429 and a rate-limited 403
//! wait `Retry-After` (or until `x-ratelimit-reset`), and a wait over 60 s fails
//! with a message instead of hanging the CI job.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The public GitHub API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Longest wait a `Retry-After` or rate-limit reset may ask for before we give up.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Why a GitHub call failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub token missing or invalid: set GITHUB_TOKEN (GitHub answered 401 for {path})")]
    Unauthorized { path: String },
    #[error("GitHub answered 404 for {path}: OWNER/REPO or revision not found (check `{repo}` and `{rev}`; a private repository also answers 404 when GITHUB_TOKEN cannot read it)")]
    NotFound {
        path: String,
        repo: String,
        rev: String,
    },
    #[error("GitHub forbade {path} (403: {message}): the token needs contents:read, pull-requests:write to comment, checks:write for check runs")]
    Forbidden { path: String, message: String },
    #[error("GitHub rate limit reached for {path} after {attempts} attempts: {detail} (wait, or use a token with a higher limit)")]
    RateLimited {
        path: String,
        attempts: u32,
        detail: String,
    },
    #[error("GitHub answered {code} for {path}: {message}")]
    Status {
        code: u16,
        path: String,
        message: String,
    },
    #[error("GitHub API unreachable at {api}: {detail} (check [github] api_url and the network)")]
    Transport { api: String, detail: String },
    #[error("unexpected GitHub answer for {path}: {detail}")]
    Shape { path: String, detail: String },
    #[error("{0}")]
    Usage(String),
}

/// Connection settings (`[github]` in the config; tokens from the environment).
#[derive(Debug, Clone, PartialEq)]
pub struct GitHubSettings {
    /// `[github] api_url` (env `DEPLOY_AGENT_GITHUB__API_URL`); GitHub Enterprise: `https://HOST/api/v3`.
    pub api_url: String,
    /// From `GITHUB_TOKEN` only.
    pub token: Option<String>,
    /// From `GITHUB_APP_INSTALLATION_TOKEN` only; enables the check run on `--post`.
    pub app_installation_token: Option<String>,
    pub timeout_secs: u64,
    /// Retries on 5xx, 429 and rate-limited 403 (each waits as told, at most 60 s).
    pub max_retries: u32,
    /// Pages followed per listing (100 items a page; 300 for a commit's files).
    pub max_pages: usize,
}

impl Default for GitHubSettings {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.into(),
            token: None,
            app_installation_token: None,
            timeout_secs: 20,
            max_retries: 3,
            max_pages: 10,
        }
    }
}

/// A small client for the GitHub REST API.
#[derive(Debug, Clone)]
pub struct GitHubClient {
    api: String,
    token: Option<String>,
    http: reqwest::Client,
    max_retries: u32,
    max_pages: usize,
}

/// One answer: headers and parsed JSON body.
struct Answer {
    headers: HeaderMap,
    body: Value,
}

impl GitHubClient {
    pub fn new(settings: &GitHubSettings, token: Option<String>) -> Result<Self, GitHubError> {
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("deploy-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GitHubError::Transport {
                api: settings.api_url.clone(),
                detail: e.to_string(),
            })?;
        Ok(Self {
            api: settings.api_url.trim_end_matches('/').to_string(),
            token,
            http,
            max_retries: settings.max_retries.min(10),
            max_pages: settings.max_pages.max(1),
        })
    }

    pub fn api(&self) -> &str {
        &self.api
    }

    pub async fn get(&self, path: &str) -> Result<Value, GitHubError> {
        Ok(self.send(Method::GET, &self.url(path), None).await?.body)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, GitHubError> {
        Ok(self
            .send(Method::POST, &self.url(path), Some(body))
            .await?
            .body)
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, GitHubError> {
        Ok(self
            .send(Method::PATCH, &self.url(path), Some(body))
            .await?
            .body)
    }

    /// GETs a listing and follows `Link: rel="next"` for at most `max_pages` pages
    /// (fewer when `max_pages` is smaller in the settings). `key` picks the array
    /// out of an object answer (a commit's `files`); `None` for array answers.
    /// Returns the items and whether pages were left unread.
    pub async fn get_pages(
        &self,
        path: &str,
        key: Option<&str>,
        max_pages: usize,
    ) -> Result<(Vec<Value>, Option<Value>, bool), GitHubError> {
        let mut url = self.url(path);
        let mut items = Vec::new();
        let mut first = None;
        for page in 0..max_pages.min(self.max_pages).max(1) {
            let answer = self.send(Method::GET, &url, None).await?;
            let list = match key {
                Some(k) => answer.body.get(k).cloned().unwrap_or(Value::Array(vec![])),
                None => answer.body.clone(),
            };
            match list {
                Value::Array(v) => items.extend(v),
                _ => {
                    return Err(GitHubError::Shape {
                        path: path.into(),
                        detail: "expected a JSON array".into(),
                    })
                }
            }
            if page == 0 {
                first = Some(answer.body);
            }
            match next_link(&answer.headers) {
                // Never send the token to another host than the configured API.
                Some(next) if next.starts_with(&self.api) => url = next,
                Some(next) => {
                    tracing::warn!(next, "ignoring a pagination link to another host");
                    return Ok((items, first, false));
                }
                None => return Ok((items, first, false)),
            }
        }
        Ok((items, first, true))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.api, path)
    }

    /// Sends with bounded retries: 5xx and transport errors back off; 429 and a
    /// rate-limited 403 wait `Retry-After` (or until `x-ratelimit-reset`), at most 60 s.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, GitHubError> {
        let path = url.strip_prefix(&self.api).unwrap_or(url).to_string();
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url)
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28");
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let wait = match req.send().await {
                Err(e) => {
                    if attempt >= self.max_retries {
                        return Err(GitHubError::Transport {
                            api: self.api.clone(),
                            detail: e.to_string(),
                        });
                    }
                    backoff(attempt)
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let bytes = resp.bytes().await.unwrap_or_default();
                    if status.is_success() {
                        let body = if bytes.is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_slice(&bytes).map_err(|e| GitHubError::Shape {
                                path: path.clone(),
                                detail: e.to_string(),
                            })?
                        };
                        return Ok(Answer { headers, body });
                    }
                    let limited = rate_limited(status, &headers);
                    let retryable = limited || status.is_server_error();
                    if !retryable {
                        return Err(status_error(status, &bytes, &path));
                    }
                    let wait = retry_wait(&headers).unwrap_or_else(|| backoff(attempt));
                    if attempt >= self.max_retries || wait > MAX_WAIT {
                        if limited {
                            return Err(GitHubError::RateLimited {
                                path,
                                attempts: attempt + 1,
                                detail: format!("{status}, retry after {}s", wait.as_secs()),
                            });
                        }
                        return Err(status_error(status, &bytes, &path));
                    }
                    wait
                }
            };
            attempt += 1;
            tracing::warn!(%method, path, attempt, wait_ms = wait.as_millis() as u64, "GitHub call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * (1 << attempt.min(5)))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v: &HeaderValue| v.to_str().ok())
}

fn rate_limited(status: StatusCode, h: &HeaderMap) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (h.contains_key("retry-after") || header(h, "x-ratelimit-remaining") == Some("0")))
}

/// `Retry-After` seconds, else the time until `x-ratelimit-reset` when none remain.
fn retry_wait(h: &HeaderMap) -> Option<Duration> {
    if let Some(secs) = header(h, "retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header(h, "x-ratelimit-remaining") == Some("0") {
        let reset: u64 = header(h, "x-ratelimit-reset")?.trim().parse().ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    None
}

fn status_error(status: StatusCode, body: &[u8], path: &str) -> GitHubError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    match status.as_u16() {
        401 => GitHubError::Unauthorized { path: path.into() },
        403 => GitHubError::Forbidden {
            path: path.into(),
            message,
        },
        404 => GitHubError::NotFound {
            path: path.into(),
            repo: repo_of(path),
            rev: String::new(),
        },
        code => GitHubError::Status {
            code,
            path: path.into(),
            message,
        },
    }
}

fn repo_of(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').split('/').skip(1);
    match (parts.next(), parts.next()) {
        (Some(o), Some(r)) => format!("{o}/{r}"),
        _ => path.into(),
    }
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(h: &HeaderMap) -> Option<String> {
    header(h, "link")?.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(
                "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        h.insert(
            "link",
            HeaderValue::from_static("<https://api.github.com/x?page=1>; rel=\"prev\""),
        );
        assert_eq!(next_link(&h), None);
    }
}
