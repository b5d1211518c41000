//! Waiting for a Deployment to reach a state, with kube's own watch.
//!
//! `kube::runtime::wait::await_condition` LISTs the object by name and then
//! WATCHes it, checking the condition on every event, so the wait ends as
//! soon as the controller reports the state, without a polling interval of
//! ours. It fails on the first watch error, so a transient one (a dropped
//! connection, a 5xx) restarts it, at most `max_retries` times; a refusal
//! (401/403: the Role lacks `list`/`watch` on deployments) ends it at once.
//! The whole wait is bounded by the caller's timeout.

use std::time::Duration;

use backon::Retryable;
use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::wait::{await_condition, Error as AwaitError};
use kube::runtime::watcher::Error as WatchError;
use kube::Api;

use super::{KubeClient, KubeError, Op};

/// Why a wait ended without the condition.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("not reached within {} s", .0.as_secs_f64())]
    TimedOut(Duration),
    #[error(transparent)]
    Api(#[from] KubeError),
}

impl KubeClient {
    /// Waits until `condition` holds for Deployment `namespace/name` (it gets
    /// `None` while the object does not exist), at most `timeout`. Returns the
    /// object as it was when the condition held.
    pub async fn await_deployment<C>(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
        condition: C,
    ) -> Result<Option<Deployment>, WaitError>
    where
        C: Fn(Option<&Deployment>) -> bool + Clone + Send + 'static,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let api: Api<Deployment> = Api::namespaced(self.watch_client().await?, namespace);
        let (api, condition) = (&api, &condition);
        let watch = move || async move {
            let waited = tokio::time::timeout_at(
                deadline,
                await_condition(api.clone(), name, condition.clone()),
            )
            .await;
            match waited {
                Err(_) => Err(WaitError::TimedOut(timeout)),
                Ok(Ok(found)) => Ok(found),
                Ok(Err(AwaitError::ProbeFailed(e))) => Err(classify(namespace, name, e).into()),
            }
        };
        let schedule = crate::retry::doubling(Duration::from_millis(100), self.max_retries())
            .with_max_delay(super::MAX_BACKOFF);
        watch
            .retry(schedule)
            .sleep(tokio::time::sleep)
            .when(|e| matches!(e, WaitError::Api(api) if api.is_retryable()))
            .notify(|e, wait| {
                tracing::warn!(error = %e, ?wait, "watching deployment {namespace}/{name} failed; watching again");
            })
            .await
    }
}

/// A watcher failure as the API call that failed (`list` or `watch`).
fn classify(namespace: &str, name: &str, e: WatchError) -> KubeError {
    let op = |verb| Op::new(verb, "apps", "deployments", namespace, name);
    match e {
        WatchError::InitialListFailed(e) => KubeError::from_kube(&op("list"), e),
        WatchError::WatchStartFailed(e) | WatchError::WatchFailed(e) => {
            KubeError::from_kube(&op("watch"), e)
        }
        WatchError::WatchError(status) => {
            KubeError::from_kube(&op("watch"), kube::Error::Api(status))
        }
        WatchError::NoResourceVersion => KubeError::Transport {
            op: op("list").to_string(),
            message: "the list answer has no metadata.resourceVersion".into(),
        },
    }
}
