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

/// One setting whose value cannot work: which one (`haproxy.backend`, after
/// [`ConfigError::within`] `services.shop.haproxy.backend`) and what it must be.
/// Shared by every adapter's `validate()`, so a bad section reads the same
/// whichever backend it configures; the caller adds the section it sits in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct ConfigError {
    /// The dotted path of the setting, e.g. `prometheus.url`.
    pub field: String,
    /// What it must be, and what it is: "must start with http:// or https://, got `x`".
    pub problem: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The same error seen from the enclosing section (`services.shop`).
    pub fn within(mut self, section: &str) -> Self {
        self.field = format!("{section}.{}", self.field);
        self
    }
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
    /// `serve`'s configuration cannot work (no secret, repo, services; a port taken).
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    /// `deploy-agent schema NAME`: an unknown name or format.
    #[error(transparent)]
    Schema(#[from] crate::SchemaError),
    /// A flag's value or a combination of flags the command cannot use.
    #[error(transparent)]
    Arg(#[from] crate::commands::ArgError),
    /// A real target's sections: missing, or rejected by its adapter.
    #[error(transparent)]
    Backend(#[from] crate::commands::backends::BackendError),
    /// The model client could not be built from `[llm]`.
    #[error(transparent)]
    Llm(#[from] crate::llm::LlmError),
    /// The Slack client could not be built from `[slack]` (no bot token).
    #[error(transparent)]
    Slack(#[from] crate::approval::slack::SlackError),
    /// `backtest`/`calibrate`: a history whose ranking cannot be judged.
    #[error(transparent)]
    Backtest(#[from] crate::backtest::MetricsError),
    /// `calibrate`: the risk cache could not be written.
    #[error(transparent)]
    Cache(#[from] crate::backtest::cache::CacheError),
    /// The risk prior built into the binary does not parse: a defect.
    #[error(transparent)]
    Prior(#[from] crate::risk::fitted::PriorError),
    /// `eval`: the suite file, or the scratch repository an episode runs in.
    #[error(transparent)]
    Eval(#[from] crate::evals::EvalError),
    /// `--plot`: the figure could not be written.
    #[error(transparent)]
    Plot(#[from] crate::backtest::plot::PlotError),
    /// `bench risk`: its features files, or the prior it writes.
    #[error(transparent)]
    RiskBench(#[from] crate::bench::risk::RiskBenchError),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Git(GitError::Spawn(_)) => exit::INTERNAL,
            Error::Git(GitError::Command { .. } | GitError::Parse { .. }) => exit::INTERNAL,
            Error::Journal(e) if journal_is_broken(e) => exit::INTERNAL,
            Error::Identity(IdentityError::UnknownUid { .. }) => exit::INTERNAL,
            Error::Schema(crate::SchemaError::Render(_)) => exit::INTERNAL,
            Error::Prior(_) => exit::INTERNAL,
            Error::Eval(e) if e.is_environment() => exit::INTERNAL,
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
            | Error::Serve(_)
            | Error::Schema(_)
            | Error::Arg(_)
            | Error::Backend(_)
            | Error::Llm(_)
            | Error::Slack(_)
            | Error::Backtest(_)
            | Error::Cache(_)
            | Error::Eval(_)
            | Error::Plot(_)
            | Error::RiskBench(_) => exit::BAD_INPUT,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn json_error() -> serde_json::Error {
        serde_json::from_str::<u8>("x").unwrap_err()
    }

    /// The typed errors keep the exit codes their `Usage(String)` had, except
    /// where the environment or a defect is at fault (exit 1).
    #[test]
    fn typed_errors_map_to_their_exit_codes() {
        let bad_input: Vec<Error> = vec![
            crate::commands::ArgError::AtLeastOne { flag: "--commits" }.into(),
            crate::serve::ServeError::NoRepo.into(),
            crate::SchemaError::Unknown { name: "x".into() }.into(),
            crate::evals::EvalError::InvalidSuite {
                path: "s.toml".into(),
                field: "repeat".into(),
                problem: "must be at least 1".into(),
            }
            .into(),
            SettingsError::Setting(ConfigError::new("haproxy.socket", "must be set")).into(),
            GitHubError::PostNeedsAppToken.into(),
        ];
        for e in &bad_input {
            assert_eq!(e.exit_code(), exit::BAD_INPUT, "{e}");
        }
        let environment: Vec<Error> = vec![
            crate::risk::fitted::PriorError::Embedded(json_error()).into(),
            crate::SchemaError::Render(json_error()).into(),
            crate::evals::EvalError::Scratch {
                what: "cannot run git: not found".into(),
            }
            .into(),
        ];
        for e in &environment {
            assert_eq!(e.exit_code(), exit::INTERNAL, "{e}");
        }
    }

    #[test]
    fn a_setting_is_named_from_the_enclosing_section() {
        let e = ConfigError::new(
            "prometheus.url",
            "must start with http:// or https://, got `x`",
        )
        .within("services.shop");
        assert_eq!(e.field, "services.shop.prometheus.url");
        assert_eq!(
            e.to_string(),
            "services.shop.prometheus.url must start with http:// or https://, got `x`"
        );
    }
}
