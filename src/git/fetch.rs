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
    let mut last = String::new();
    let attempts = policy.retries.saturating_add(1);
    for attempt in 1..=attempts {
        if attempt > 1 {
            tokio::time::sleep(backoff(policy.backoff, attempt - 1)).await;
        }
        // The sha itself, then the branch: whichever the server serves.
        let mut said = Vec::new();
        for what in [sha, branch_ref.as_str()] {
            let args = ["fetch", "--no-tags", "--quiet", &policy.remote, what];
            match run(repo, &args, policy.timeout).await? {
                Ok(_) if has_commit(repo, sha).await? => return Ok(Fetched::Fetched { attempt }),
                Ok(_) => said.push(format!("fetch {what}: done, but {sha} is not in it")),
                Err(e) => said.push(format!("fetch {what}: {e}")),
            }
        }
        last = said.join("; ");
        tracing::warn!(%sha, attempt, attempts, "fetching the merged commit failed: {last}");
    }
    Err(FetchError::Failed {
        sha: sha.into(),
        repo: repo.to_path_buf(),
        remote: policy.remote.clone(),
        url,
        branch: branch_ref,
        attempts,
        last,
    })
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

/// The wait before retry `n` (1-based): `first` doubled `n - 1` times, at most [`MAX_BACKOFF`].
fn backoff(first: Duration, n: u32) -> Duration {
    first
        .saturating_mul(2u32.saturating_pow(n.saturating_sub(1)))
        .min(MAX_BACKOFF)
}

/// Runs git in `repo` under `timeout` (killed when it runs out). Outer error:
/// git could not be started; inner: git's stderr, or the timeout.
async fn run(
    repo: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<Result<String, String>, FetchError> {
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
        return Ok(Err(format!(
            "git {} timed out after {:.0?} (is the remote reachable?)",
            args.first().copied().unwrap_or_default(),
            timeout
        )));
    };
    let out = out.map_err(FetchError::Spawn)?;
    if out.status.success() {
        return Ok(Ok(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    Ok(Err(if stderr.is_empty() {
        format!("git exited with {}", out.status)
    } else {
        // git's last lines say why; a credential in a URL never reaches a log.
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        redact(&tail.into_iter().rev().collect::<Vec<_>>().join(" / "))
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
mod tests {
    use super::*;

    /// A bare "origin", a work tree that pushes to it, and a clone made from it.
    struct Origins {
        _dir: tempfile::TempDir,
        bare: PathBuf,
        work: PathBuf,
        clone: PathBuf,
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_DATE", "@1780000000 +0000")
            .env("GIT_COMMITTER_DATE", "@1780000000 +0000")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    impl Origins {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let (bare, work, clone) = (
                dir.path().join("origin.git"),
                dir.path().join("work"),
                dir.path().join("clone"),
            );
            let s = |p: &Path| p.to_str().unwrap().to_string();
            git(
                dir.path(),
                &["init", "-q", "--bare", "-b", "main", &s(&bare)],
            );
            git(dir.path(), &["init", "-q", "-b", "main", &s(&work)]);
            for (k, v) in [("user.name", "A"), ("user.email", "a@example.com")] {
                git(&work, &["config", k, v]);
            }
            git(&work, &["remote", "add", "origin", &s(&bare)]);
            let me = Self {
                _dir: dir,
                bare,
                work,
                clone,
            };
            me.commit("initial");
            git(
                me._dir.path(),
                &["clone", "-q", &s(&me.bare), &s(&me.clone)],
            );
            me
        }

        /// Commits in the work tree and pushes it to origin's main.
        fn commit(&self, message: &str) -> String {
            git(
                &self.work,
                &["commit", "-q", "--allow-empty", "-m", message],
            );
            git(&self.work, &["push", "-q", "origin", "main"]);
            git(&self.work, &["rev-parse", "HEAD"])
        }
    }

    fn policy(retries: u32) -> FetchPolicy {
        FetchPolicy {
            remote: "origin".into(),
            branch: "main".into(),
            timeout: Duration::from_secs(20),
            retries,
            backoff: Duration::from_millis(10),
        }
    }

    #[tokio::test]
    async fn a_present_commit_is_not_fetched_and_a_new_one_on_origin_is() {
        let o = Origins::new();
        let first = git(&o.clone, &["rev-parse", "HEAD"]);
        assert_eq!(
            ensure_commit(&o.clone, &first, &policy(0)).await.unwrap(),
            Fetched::Present
        );
        let new = o.commit("merged later");
        assert!(!has_commit(&o.clone, &new).await.unwrap());
        assert_eq!(
            ensure_commit(&o.clone, &new, &policy(0)).await.unwrap(),
            Fetched::Fetched { attempt: 1 }
        );
        assert!(has_commit(&o.clone, &new).await.unwrap());
    }

    /// A server that serves only advertised refs (protocol v0 without
    /// `allowReachableSHA1InWant`) refuses a sha that is no longer a branch
    /// tip; the branch brings it.
    #[tokio::test]
    async fn a_server_that_refuses_a_sha_gives_it_through_the_branch() {
        let o = Origins::new();
        git(&o.clone, &["config", "protocol.version", "0"]);
        let new = o.commit("merged later");
        o.commit("merged after it");
        let args = ["fetch", "--no-tags", "origin", &new];
        let direct = run(&o.clone, &args, policy(0).timeout).await.unwrap();
        assert!(direct.is_err(), "the server should refuse the sha");
        assert_eq!(
            ensure_commit(&o.clone, &new, &policy(0)).await.unwrap(),
            Fetched::Fetched { attempt: 1 }
        );
    }

    #[tokio::test]
    async fn a_commit_that_exists_nowhere_fails_after_the_bounded_retries() {
        let o = Origins::new();
        let nowhere = "1234567890abcdef1234567890abcdef12345678";
        let err = ensure_commit(&o.clone, nowhere, &policy(2))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Failed { attempts: 3, .. }),
            "{err}"
        );
        let text = err.to_string();
        let said = format!("git said: fetch {nowhere}: ");
        for says in [
            "in 3 attempt(s)",
            &said,
            "not in it",
            "credentials",
            "origin",
        ] {
            assert!(text.contains(says), "{says}: {text}");
        }
    }

    #[tokio::test]
    async fn no_remote_and_bad_shas_fail_at_once() {
        let o = Origins::new();
        let err = ensure_commit(
            &o.work,
            "1234567",
            &FetchPolicy {
                remote: "upstream".into(),
                ..policy(5)
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FetchError::NoRemote { .. }), "{err}");
        assert!(err.to_string().contains("remote add upstream"), "{err}");
        let err = ensure_commit(&o.clone, "--upload-pack=touch x", &policy(0))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::InvalidSha { .. }), "{err}");
    }

    /// A remote that accepts the connection and never answers: each attempt is
    /// cut at the timeout.
    #[tokio::test]
    async fn a_hung_remote_is_cut_by_the_timeout() {
        let o = Origins::new();
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("git://{}/shop.git", silent.local_addr().unwrap());
        let held = std::thread::spawn(move || {
            // Hold up to a few connections open without a word.
            let mut held = Vec::new();
            for stream in silent.incoming().take(4) {
                held.push(stream);
            }
            std::thread::sleep(Duration::from_secs(5));
        });
        git(&o.clone, &["remote", "set-url", "origin", &url]);
        let started = std::time::Instant::now();
        let err = ensure_commit(
            &o.clone,
            "1234567890abcdef",
            &FetchPolicy {
                timeout: Duration::from_millis(300),
                ..policy(1)
            },
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        drop(held);
    }

    #[test]
    fn backoff_doubles_up_to_a_bound_and_credentials_are_redacted() {
        let first = Duration::from_secs(1);
        let waits: Vec<u64> = (1..=7).map(|n| backoff(first, n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(
            redact("fatal: https://bot:ghp_x@github.com/acme/shop.git not found"),
            "fatal: https://***@github.com/acme/shop.git not found"
        );
        assert_eq!(
            redact("git@github.com:acme/shop.git"),
            "git@github.com:acme/shop.git"
        );
    }
}
