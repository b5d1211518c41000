//! Why `serve` refuses to start: a configuration it could not act on. Each
//! message names the key or variable to set, so the fix is in the error
//! rather than in a rollout that fails later. All exit 2 (bad input), as a
//! port already taken did before these were typed.

use std::net::SocketAddr;

use crate::approval::identity::IdentityError;
use crate::settings::ServiceTargetError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("serve needs the webhook secret in {env} (the same value as the GitHub hook's secret); it is never read from a file or flag")]
    NoWebhookSecret { env: &'static str },
    #[error(
        "serve needs `[serve] repo = \"PATH\"` (a local clone to assess merges from) in the config"
    )]
    NoRepo,
    #[error("serve needs `[serve] services = [\"NAME\", ...]`: the services a merge rolls out")]
    NoServices,
    #[error("serve needs `[serve] repositories = [\"OWNER/NAME\", ...]`: the GitHub repositories whose merges roll out, e.g. repositories = [\"acme/shop\"] (deliveries from any other repository are refused)")]
    NoRepositories,
    /// `[serve] approve_as` names an identity the allow-list would refuse.
    #[error("serve.approve_as: {0}")]
    ApproveAs(IdentityError),
    #[error("approvals of {services:?} go to Slack but {env} is not set: set it to the app's bot token (xoxb-…, scope chat:write), or set `[serve] approve_as`")]
    NoSlackToken {
        services: Vec<String>,
        env: &'static str,
    },
    #[error("serve.services: {0}")]
    Target(#[from] ServiceTargetError),
    #[error("cannot listen on {address}: {source} (choose a free address with --listen)")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_setting_says_what_to_write() {
        let e = ServeError::NoRepositories.to_string();
        assert!(e.contains("repositories = [\"acme/shop\"]"), "{e}");
        let e = ServeError::NoSlackToken {
            services: vec!["shop".into()],
            env: "SLACK_BOT_TOKEN",
        }
        .to_string();
        assert!(
            e.contains("SLACK_BOT_TOKEN is not set") && e.contains("[serve] approve_as"),
            "{e}"
        );
    }
}
