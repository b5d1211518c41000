//! Why a GitHub call failed, and whether trying again can help.
//!
//! octocrab answers every failure with one `octocrab::Error`; this module turns a
//! failed attempt into either a bounded wait before the next attempt or a
//! [`GitHubError`] whose message says what to do. The retry policy is ours, not
//! octocrab's `retry` feature: that one sleeps until a rate limit resets however
//! far away the reset is, and a CI job should fail with the reset time instead.

use std::time::Duration;

/// Longest wait a `Retry-After` or rate-limit reset may ask for before we give up.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

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
    #[error("GitHub answered {code} for {path} on all {attempts} attempts: {message} (GitHub, or the server at [github] api_url, is failing; try again later)")]
    Unavailable {
        code: u16,
        path: String,
        attempts: u32,
        message: String,
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
    /// `--github` is not OWNER/REPO.
    #[error("--github expects OWNER/REPO, got `{given}`")]
    RepoName { given: String },
    /// `#` followed by something other than a number.
    #[error("`{rev}`: a pull request is #NUMBER, e.g. #42")]
    PullNumber { rev: String },
    #[error("with --github the revision is a commit sha or #PR_NUMBER, got `{rev}`")]
    Revision { rev: String },
    #[error("[github] api_url `{api}` is not a URL (GitHub Enterprise: https://HOST/api/v3)")]
    ApiUrl { api: String },
    /// A commit has no pull request to comment on; its check run needs an App token.
    #[error("--post with a commit sha posts only a check run, which needs GITHUB_APP_INSTALLATION_TOKEN; assess the pull request (#N) to post a comment")]
    PostNeedsAppToken,
}

/// One failed attempt at a call, as far as the retry loop is concerned.
pub(crate) struct Attempt<'a> {
    pub api: &'a str,
    pub path: &'a str,
    /// 0 for the first attempt.
    pub number: u32,
    pub max_retries: u32,
}

/// What a failed attempt calls for.
#[derive(Debug)]
pub(crate) enum Next {
    Retry(Duration),
    Fail(GitHubError),
}

/// What went wrong, before deciding what to do about it.
pub(crate) enum Failure {
    /// No HTTP answer: connection refused, reset, timed out.
    Transport(String),
    /// An answer we could not read.
    Shape(String),
    /// GitHub answered with an error status.
    Status(Box<octocrab::GitHubError>),
}

impl From<octocrab::Error> for Failure {
    fn from(e: octocrab::Error) -> Self {
        match e {
            octocrab::Error::GitHub { source, .. } => Failure::Status(source),
            octocrab::Error::Serde { source, .. } => Failure::Shape(source.to_string()),
            octocrab::Error::Json { source, .. } => {
                Failure::Shape(format!("{} at {}", source.inner(), source.path()))
            }
            other => Failure::Transport(transport_detail(&other)),
        }
    }
}

impl Attempt<'_> {
    /// Transport errors and 5xx back off and retry; 429 and a rate-limited 403
    /// wait `Retry-After` (or until `x-ratelimit-reset`) and retry, unless the
    /// wait is over [`MAX_WAIT`]; everything else fails at once.
    pub(crate) fn next(&self, failure: Failure) -> Next {
        let last = self.number >= self.max_retries;
        let e = match failure {
            Failure::Shape(detail) => {
                return Next::Fail(GitHubError::Shape {
                    path: self.path.into(),
                    detail,
                })
            }
            Failure::Transport(detail) if last => {
                return Next::Fail(GitHubError::Transport {
                    api: self.api.into(),
                    detail,
                })
            }
            Failure::Transport(_) => return Next::Retry(backoff(self.number)),
            Failure::Status(e) => e,
        };
        let code = e.status_code.as_u16();
        let limited = rate_limited(&e);
        if !limited && code < 500 {
            return Next::Fail(status_error(&e, self.path));
        }
        let wait = retry_wait(&e).unwrap_or_else(|| backoff(self.number));
        if !last && wait <= MAX_WAIT {
            return Next::Retry(wait);
        }
        let attempts = self.number + 1;
        Next::Fail(if limited {
            GitHubError::RateLimited {
                path: self.path.into(),
                attempts,
                detail: format!("{}, the limit resets in {}s", e.status_code, wait.as_secs()),
            }
        } else {
            GitHubError::Unavailable {
                code,
                path: self.path.into(),
                attempts,
                message: e.message.clone(),
            }
        })
    }
}

/// 500 ms, 1 s, 2 s, … capped at 16 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * (1 << attempt.min(5)))
}

fn header<'a>(e: &'a octocrab::GitHubError, name: &str) -> Option<&'a str> {
    e.headers.as_ref()?.get(name)?.to_str().ok()
}

fn rate_limited(e: &octocrab::GitHubError) -> bool {
    match e.status_code.as_u16() {
        429 => true,
        403 => {
            header(e, "retry-after").is_some() || header(e, "x-ratelimit-remaining") == Some("0")
        }
        _ => false,
    }
}

/// `Retry-After` seconds, else the time until `x-ratelimit-reset` when none remain.
fn retry_wait(e: &octocrab::GitHubError) -> Option<Duration> {
    if let Some(secs) = header(e, "retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header(e, "x-ratelimit-remaining") == Some("0") {
        let reset = e.rate_limit_reset?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    None
}

fn status_error(e: &octocrab::GitHubError, path: &str) -> GitHubError {
    let message = e.message.clone();
    match e.status_code.as_u16() {
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

/// `OWNER/REPO` out of `/repos/OWNER/REPO/...`.
fn repo_of(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').split('/').skip(1);
    match (parts.next(), parts.next()) {
        (Some(o), Some(r)) => format!("{o}/{r}"),
        _ => path.into(),
    }
}

/// The innermost cause of a transport failure ("connection refused"), which is
/// what the user can act on; octocrab's own wrapper text says little.
fn transport_detail(e: &octocrab::Error) -> String {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    detail.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(number: u32) -> Attempt<'static> {
        Attempt {
            api: "http://x",
            path: "/repos/acme/shop/pulls/7",
            number,
            max_retries: 2,
        }
    }

    #[test]
    fn transport_failures_back_off_then_name_the_api() {
        let t = || Failure::Transport("connection refused".into());
        assert!(matches!(attempt(0).next(t()), Next::Retry(d) if d == backoff(0)));
        assert!(matches!(attempt(1).next(t()), Next::Retry(d) if d == backoff(1)));
        let Next::Fail(e) = attempt(2).next(t()) else {
            panic!("the third failure gives up")
        };
        assert!(e.to_string().contains("unreachable at http://x"), "{e}");
        assert_eq!(backoff(9), Duration::from_secs(16));
    }

    #[test]
    fn the_repository_is_read_from_the_path() {
        assert_eq!(repo_of("/repos/acme/shop/pulls/7"), "acme/shop");
        assert_eq!(repo_of("/user"), "/user");
    }
}
