//! Why `resume` could not finish a rollout, or could not continue it and
//! rolled it back instead. These land in the resume report (`error`,
//! `fallback`) rather than stopping the command: one rollout's trouble must
//! not leave the others unfinished. Each says what to restore or pass.

use std::path::PathBuf;

use crate::git::GitError;
use crate::journal::JournalError;
use crate::traffic::TrafficError;

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("could not write to the journal: {0}")]
    JournalWrite(String),
    #[error("cannot read the live weight: {0}")]
    LiveWeight(#[source] TrafficError),
    #[error("unknown simulated scenario in target `{target}`")]
    UnknownScenario { target: String },
    #[error("cannot resume a rollout on target `{target}`: no router for it")]
    NoRouter { target: String },
    /// The service's settings could not build the target's backends.
    #[error(transparent)]
    Backends(Box<crate::error::Error>),
    #[error("the settings of {service} now point at `{now}` but the rollout ran on `{ran_on}`: restore the settings it ran with, then resume")]
    TargetMoved {
        service: String,
        now: String,
        ran_on: String,
    },
    // === why `on_resume = "continue"` fell back to a rollback ===
    #[error("its rollback had not been confirmed")]
    RollbackUnconfirmed,
    #[error("a promotion was staged and did not complete: it is undone")]
    StagedPromotion,
    #[error("the journal holds no readable `assessed` event")]
    NoAssessment,
    #[error("cannot read the approval: {0}")]
    Approval(#[source] JournalError),
    #[error("no repository at {} ({source}); run resume in the repository or pass --repo", path.display())]
    NoRepository {
        path: PathBuf,
        #[source]
        source: GitError,
    },
    #[error("cannot read revision {rev} in {}: {source}", path.display())]
    Revision {
        rev: String,
        path: PathBuf,
        #[source]
        source: GitError,
    },
    #[error(transparent)]
    Diff(GitError),
}

/// A rollback `resume` started and could not confirm.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// Another process took the rollout over; the rollback is its own now.
    #[error("the lease was lost ({why}): no further change from this process")]
    LeaseLost { why: String },
    /// The target never confirmed all traffic on stable: what it serves, and what to do.
    #[error("{0}")]
    NotConfirmed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_target_says_to_restore_the_settings() {
        let e = ResumeError::TargetMoved {
            service: "shop".into(),
            now: "haproxy:tcp:b:1".into(),
            ran_on: "haproxy:tcp:a:1".into(),
        }
        .to_string();
        assert!(
            e.contains("restore the settings it ran with, then resume"),
            "{e}"
        );
        assert!(e.contains("`haproxy:tcp:a:1`"), "{e}");
    }
}
