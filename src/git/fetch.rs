//! Making sure a commit is in a local clone: `git cat-file -e`, else `git fetch`
//! it from a remote, each attempt under a timeout, bounded retries with backoff.
//!
//! A webhook can announce a merge before the clone `serve` assesses from has
//! it. The sha is fetched directly (`git fetch --no-tags REMOTE SHA`; GitHub and
//! protocol v2 servers serve any reachable commit), else the branch it was
//! merged into (`refs/heads/BRANCH`), which brings it on servers that only serve
//! advertised refs. Only a commit that is still missing after every attempt is
//! an error, with git's own words and what to check.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::process::Command;

/// How hard to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// The remote to fetch from (`origin`).
    pub remote: String,
    /// The branch the commit was merged into (without `refs/heads/`).
    pub branch: String,
    /// One `git fetch` may take this long; then it is killed.
    pub timeout: Duration,
    /// Attempts after the first one.
    pub retries: u32,
    /// The wait before the first retry; doubled before each further one, at most [`MAX_BACKOFF`].
    pub backoff: Duration,
}

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What [`ensure_commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The commit was already there; nothing was fetched.
    Present,
    /// Fetched, on this attempt (1 = the first).
    Fetched { attempt: u32 },
}

/// Why the commit is not in the clone. Each message says what to check.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{sha}` is not a commit sha (hex, 7 to 64 characters)")]
    InvalidSha { sha: String },
    #[error(
        "commit {sha} is not in {repo} and it has no `{remote}` remote to fetch it from: add one (`git -C {repo} remote add {remote} URL`)",
        repo = .repo.display()
    )]
    NoRemote {
        sha: String,
        repo: PathBuf,
        remote: String,
    },
    #[error(
        "commit {sha} is not in {repo} and could not be fetched from `{remote}` ({url}) in {attempts} attempt(s); git said: {last}. Check that `{remote}` is the repository the hook is for, that its credentials (ssh key, token, credential helper) work for the user running serve — try `git -C {repo} fetch {remote} {branch}` as that user — and that the commit was pushed",
        repo = .repo.display()
    )]
    Failed {
        sha: String,
        repo: PathBuf,
        remote: String,
        url: String,
        branch: String,
        attempts: u32,
        /// git's error from the last attempt (or the timeout).
        last: String,
    },
    #[error("could not run git: {0} (is git installed and on PATH?)")]
    Spawn(#[source] std::io::Error),
}

/// Makes sure `sha` names a commit in the repository at `repo`, fetching it from
/// `policy.remote` when it does not.
pub async fn ensure_commit(
    repo: &Path,
    sha: &str,
    policy: &FetchPolicy,
) -> Result<Fetched, FetchError> {
    if !((7..=64).contains(&sha.len()) && sha.chars().all(|c| c.is_ascii_hexdigit())) {
        return Err(FetchError::InvalidSha { sha: sha.into() });
    }
    if has_commit(repo, sha).await? {
        return Ok(Fetched::Present);
    }
    let Some(url) = remote_url(repo, &policy.remote).await? else {
        return Err(FetchError::NoRemote {
            sha: sha.into(),
            repo: repo.to_path_buf(),
            remote: policy.remote.clone(),
        });
    };
    let branch_ref = format!("refs/heads/{}", policy.branch);
    let attempts = policy.retries.saturating_add(1);
    let (mut made, branch) = (0, branch_ref.as_str());
    let counter = &mut made;
    let outcome = (move || {
        *counter += 1;
        fetch_once(repo, sha, branch, policy, *counter)
    })
    .retry(schedule(policy.backoff, policy.retries))
    .sleep(tokio::time::sleep)
    .when(|e| matches!(e, Attempt::Failed(_)))
    .await;
    match outcome {
        Ok(fetched) => Ok(fetched),
        Err(Attempt::Fatal(e)) => Err(e),
        Err(Attempt::Failed(last)) => Err(FetchError::Failed {
            sha: sha.into(),
            repo: repo.to_path_buf(),
            remote: policy.remote.clone(),
            url,
            branch: branch_ref,
            attempts,
            last,
        }),
    }
}

/// Why one fetch attempt did not bring the commit: git could not run (not
/// retried), or git said why (retried; the last words go to the operator).
enum Attempt {
    Fatal(FetchError),
    Failed(String),
}

/// Attempt `attempt` (1 = the first): the sha itself, then the branch,
/// whichever the server serves.
async fn fetch_once(
    repo: &Path,
    sha: &str,
    branch_ref: &str,
    policy: &FetchPolicy,
    attempt: u32,
) -> Result<Fetched, Attempt> {
    let mut said = Vec::new();
    for what in [sha, branch_ref] {
        let args = ["fetch", "--no-tags", "--quiet", &policy.remote, what];
        match run(repo, &args, policy.timeout)
            .await
            .map_err(Attempt::Fatal)?
        {
            Ok(_) if has_commit(repo, sha).await.map_err(Attempt::Fatal)? => {
                return Ok(Fetched::Fetched { attempt })
            }
            Ok(_) => said.push(format!("fetch {what}: done, but {sha} is not in it")),
            Err(e) => said.push(format!("fetch {what}: {e}")),
        }
    }
    let last = said.join("; ");
    let attempts = policy.retries.saturating_add(1);
    tracing::warn!(%sha, attempt, attempts, "fetching the merged commit failed: {last}");
    Err(Attempt::Failed(last))
}

/// Whether `sha` names a commit in the repository (`git cat-file -e SHA^{commit}`).
pub async fn has_commit(repo: &Path, sha: &str) -> Result<bool, FetchError> {
    let spec = format!("{sha}^{{commit}}");
    let out = run(repo, &["cat-file", "-e", &spec], LOCAL_TIMEOUT).await?;
    Ok(out.is_ok())
}

/// The URL of `remote`, or `None` when the repository has no such remote.
pub async fn remote_url(repo: &Path, remote: &str) -> Result<Option<String>, FetchError> {
    let out = run(repo, &["remote", "get-url", "--", remote], LOCAL_TIMEOUT).await?;
    Ok(out.ok().map(|url| redact(url.trim())))
}

/// Local commands answer at once; this only bounds a wedged disk.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The waits before the `retries` retries: `first`, doubled before each next one, at most [`MAX_BACKOFF`].
fn schedule(first: Duration, retries: u32) -> ExponentialBuilder {
    crate::retry::doubling(first, retries).with_max_delay(MAX_BACKOFF)
}

/// Why git, once started, did not succeed: data for the retry loop and the
/// operator's message, not a failure of ours (that is [`FetchError::Spawn`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Refused {
    #[error("git {command} timed out after {after:.0?} (is the remote reachable?)")]
    TimedOut { command: String, after: Duration },
    #[error("git exited with {status}")]
    Exited { status: String },
    /// git's last stderr lines, credentials in URLs redacted.
    #[error("{0}")]
    Said(String),
}

/// Runs git in `repo` under `timeout` (killed when it runs out). Outer error:
/// git could not be started; inner: git's refusal, or the timeout.
async fn run(
    repo: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<Result<String, Refused>, FetchError> {
    let child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(FetchError::Spawn)?;
    let Ok(out) = tokio::time::timeout(timeout, child.wait_with_output()).await else {
        // Dropping the future killed git (`kill_on_drop`).
        return Ok(Err(Refused::TimedOut {
            command: args.first().copied().unwrap_or_default().into(),
            after: timeout,
        }));
    };
    let out = out.map_err(FetchError::Spawn)?;
    if out.status.success() {
        return Ok(Ok(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    Ok(Err(if stderr.is_empty() {
        Refused::Exited {
            status: out.status.to_string(),
        }
    } else {
        // git's last lines say why; a credential in a URL never reaches a log.
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        Refused::Said(redact(
            &tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
        ))
    }))
}

/// `https://user:token@host/…` → `https://***@host/…`, wherever it appears.
fn redact(text: &str) -> String {
    text.split(' ')
        .map(|word| match (word.find("://"), word.find('@')) {
            (Some(scheme), Some(at)) if at > scheme + 3 && !word[scheme + 3..at].contains('/') => {
                format!("{}***{}", &word[..scheme + 3], &word[at..])
            }
            _ => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
