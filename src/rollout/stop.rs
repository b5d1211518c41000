//! An operator's request to stop a rollout (Ctrl-C, SIGTERM), seen by the loop
//! at every turn and during every wait, so the canary is rolled back at once
//! rather than left at its weight when the process exits.

use tokio::sync::watch;

/// Cheap to clone; every clone sees the same request. The default never stops.
#[derive(Debug, Clone)]
pub struct StopSignal {
    tx: std::sync::Arc<watch::Sender<Option<String>>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        Self {
            tx: std::sync::Arc::new(watch::channel(None).0),
        }
    }
}

impl StopSignal {
    /// Asks the loop to stop, saying why (the first reason wins).
    pub fn stop(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Why a stop was asked, if it was.
    pub fn requested(&self) -> Option<String> {
        self.tx.borrow().clone()
    }

    /// Resolves once a stop is asked (at once if it already was).
    pub async fn stopped(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(Option::is_some).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_wins_and_waiters_wake() {
        let stop = StopSignal::default();
        assert_eq!(stop.requested(), None);
        let waiter = {
            let stop = stop.clone();
            tokio::spawn(async move { stop.stopped().await })
        };
        stop.stop("Ctrl-C");
        stop.stop("SIGTERM");
        waiter.await.unwrap();
        assert_eq!(stop.requested().as_deref(), Some("Ctrl-C"));
        stop.stopped().await; // already stopped: returns at once
    }
}
