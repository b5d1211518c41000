//! The library's top-level error and the exit codes it maps to.

use crate::approval::identity::IdentityError;
use crate::git::{GitError, GitHubError};
use crate::journal::JournalError;
use crate::policy::PolicyError;
use crate::settings::SettingsError;

/// Exit codes shared by every command.
pub mod exit {
    pub const OK: u8 = 0;
    /// Something unexpected (a bug or the environment), not the user's input.
    pub const INTERNAL: u8 = 1;
    /// Usage or bad input: unknown revision, not a repository, invalid policy or config.
    pub const BAD_INPUT: u8 = 2;
    /// `assess --fail-above T` and the score is above T.
    pub const RISK_ABOVE_THRESHOLD: u8 = 3;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The target or the metrics failed their preflight, or the target is not
    /// in a state a rollout may start from.
    #[error(transparent)]
    Start(#[from] crate::rollout::StartError),
    /// Who is answering an approval, and whether they may.
    #[error(transparent)]
    Identity(#[from] crate::approval::identity::IdentityError),
    /// `serve`'s approvers: one that can never match, a Slack section for an
    /// unknown service, a channel nobody may answer.
    #[error(transparent)]
    Approvers(#[from] crate::settings::ApproverConfigError),
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Git(GitError::Spawn(_)) => exit::INTERNAL,
            Error::Git(GitError::Command { .. } | GitError::Parse { .. }) => exit::INTERNAL,
            Error::Journal(e) if journal_is_broken(e) => exit::INTERNAL,
            Error::Identity(IdentityError::UnknownUid { .. }) => exit::INTERNAL,
            Error::GitHub(
                GitHubError::Transport { .. }
                | GitHubError::Shape { .. }
                | GitHubError::RateLimited { .. }
                | GitHubError::Unavailable { .. }
                | GitHubError::Status { .. },
            ) => exit::INTERNAL,
            Error::Git(_)
            | Error::GitHub(_)
            | Error::Policy(_)
            | Error::Settings(_)
            | Error::Journal(_)
            | Error::Start(_)
            | Error::Identity(_)
            | Error::Approvers(_)
            | Error::Usage(_) => exit::BAD_INPUT,
        }
    }
}

/// A journal that cannot be opened, read or written is the environment's fault (a
/// missing journal file is caught before, as bad input); a refused
/// request (unknown id, decided twice, too late, a newer schema) is the input's.
fn journal_is_broken(e: &JournalError) -> bool {
    matches!(
        e,
        JournalError::Open { .. }
            | JournalError::Migration { .. }
            | JournalError::Corrupt(_)
            | JournalError::Storage(_)
            | JournalError::OutOfOrder(_)
    )
}
