//! Before a job's rollout is assessed, its sha must be in `[serve] repo`: a
//! webhook can arrive before anything else updated the clone. The git part is
//! [`crate::git::fetch`]; this holds the policy from `[serve]` and makes fetches
//! into the one clone take turns, so the jobs of one merge (one per service)
//! fetch it once and the rest find it there.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::git::{ensure_commit, FetchError, FetchPolicy, Fetched};
use crate::settings::ServeSettings;

/// The remote a missing commit is fetched from.
pub const REMOTE: &str = "origin";

/// The wait before the first retry of a failed fetch (doubled before each next one).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Fetches merged commits into the clone; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    repo: PathBuf,
    policy: FetchPolicy,
    /// One fetch at a time into the clone (rollouts run on their own runtimes;
    /// a Tokio mutex is runtime-agnostic).
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Fetcher {
    pub fn new(repo: PathBuf, serve: &ServeSettings) -> Self {
        Self {
            repo,
            policy: FetchPolicy {
                remote: REMOTE.into(),
                branch: serve.branch.clone(),
                timeout: Duration::from_secs(serve.fetch_timeout_secs),
                retries: serve.fetch_retries,
                backoff: FIRST_BACKOFF,
            },
            turn: Arc::default(),
        }
    }

    /// The clone.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// Makes sure `sha` is in the clone (see [`ensure_commit`]).
    pub async fn ensure(&self, sha: &str) -> Result<Fetched, FetchError> {
        let _turn = self.turn.lock().await;
        let fetched = ensure_commit(&self.repo, sha, &self.policy).await?;
        if let Fetched::Fetched { attempt } = fetched {
            tracing::info!(%sha, attempt, remote = REMOTE, "fetched the merged commit");
        }
        Ok(fetched)
    }

    /// Says at startup when the clone cannot fetch at all (no `origin`): merges
    /// already in it still roll out, others will be journaled as aborted.
    pub async fn check_remote(&self) {
        match crate::git::fetch::remote_url(&self.repo, REMOTE).await {
            Ok(Some(url)) => {
                tracing::info!(%url, "merged commits missing from the clone are fetched from {REMOTE}")
            }
            Ok(None) => tracing::warn!(
                repo = %self.repo.display(),
                "the clone has no `{REMOTE}` remote: a merge whose commit is not already in it cannot be fetched and will be journaled as aborted"
            ),
            Err(e) => tracing::warn!("cannot read the clone's remotes: {e}"),
        }
    }
}
