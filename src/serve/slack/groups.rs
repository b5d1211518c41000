//! Who may click: user ids listed in `[services.NAME.slack] approvers`, or
//! members of a listed user group (`S…`), read with `usergroups.users.list`
//! and cached per group for `[slack] group_cache_secs` (default 60 s), so a burst of clicks costs one
//! lookup and a slow Slack API is asked once, not once per click.
//!
//! Missing data never passes: a lookup that fails (or cannot be made, without a
//! bot token) is an error the clicker is told about, never an approval, and it
//! is not cached, so the next click asks again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::approval::slack::{SlackClient, SlackError};

/// Why membership could not be checked (the click is refused, and told why).
#[derive(Debug, thiserror::Error)]
pub enum GroupLookupError {
    #[error("approvers list user group {group} but serve has no Slack bot token to read it: set SLACK_BOT_TOKEN (scope usergroups:read)")]
    NoClient { group: String },
    #[error("could not read the members of user group {group} from Slack: {source} (try again, or decide with `deploy-agent approve`)")]
    Slack {
        group: String,
        #[source]
        source: SlackError,
    },
}

/// Members of one group as read at `at`.
#[derive(Debug, Clone)]
struct Members {
    at: Instant,
    users: Arc<Vec<String>>,
}

/// One slot per group; its async lock makes concurrent clicks wait for the
/// first one's lookup instead of each asking Slack.
type Slot = Arc<tokio::sync::Mutex<Option<Members>>>;

/// The per-group membership cache, shared by every click the server handles.
#[derive(Clone)]
pub struct GroupCache {
    client: Option<SlackClient>,
    ttl: Duration,
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

impl GroupCache {
    /// Memberships are trusted for `ttl`: short, so removing someone from a
    /// group takes effect soon. Without a client (no bot token) only user ids match.
    pub fn new(client: Option<SlackClient>, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            slots: Arc::default(),
        }
    }

    /// Whether `user` is one of `approvers`: listed by id, or a member of a
    /// listed group. A group that could not be read makes the answer an error
    /// unless another entry already lets the user in.
    pub async fn is_approver(
        &self,
        approvers: &[String],
        user: &str,
    ) -> Result<bool, GroupLookupError> {
        if approvers.iter().any(|a| a == user) {
            return Ok(true);
        }
        let mut failed = None;
        for group in approvers.iter().filter(|a| a.starts_with('S')) {
            match self.members(group).await {
                Ok(members) if members.iter().any(|m| m == user) => return Ok(true),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(%group, error = %e, "could not read a Slack user group's members");
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(false), Err)
    }

    /// The members of `group`, from the cache while fresh, else from Slack.
    async fn members(&self, group: &str) -> Result<Arc<Vec<String>>, GroupLookupError> {
        let Some(client) = &self.client else {
            return Err(GroupLookupError::NoClient {
                group: group.into(),
            });
        };
        let slot = self.slot(group);
        let mut cached = slot.lock().await;
        if let Some(m) = cached.as_ref().filter(|m| m.at.elapsed() < self.ttl) {
            return Ok(m.users.clone());
        }
        let users =
            client
                .usergroup_members(group)
                .await
                .map_err(|source| GroupLookupError::Slack {
                    group: group.into(),
                    source,
                })?;
        let users = Arc::new(users);
        *cached = Some(Members {
            at: Instant::now(),
            users: users.clone(),
        });
        Ok(users)
    }

    fn slot(&self, group: &str) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(group.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approvers() -> Vec<String> {
        vec!["U1".into(), "SOPS".into()]
    }

    #[tokio::test]
    async fn listed_ids_pass_and_unreadable_groups_never_do() {
        let cache = GroupCache::new(None, Duration::from_secs(60));
        assert!(cache.is_approver(&approvers(), "U1").await.unwrap());
        let err = cache.is_approver(&approvers(), "U2").await.unwrap_err();
        assert!(err.to_string().contains("SLACK_BOT_TOKEN"), "{err}");
        let ids_only = vec!["U1".to_string()];
        assert!(!cache.is_approver(&ids_only, "U2").await.unwrap());
    }
}
