//! Flags that clap accepts one by one but the command cannot use: a value out
//! of range, two flags that do not go together, a path that leads nowhere.
//! One type for every command, so each refusal names the flag and says what
//! to pass instead; all are bad input (exit 2).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    /// `--commits 0`, `--repeat 0`.
    #[error("{flag} must be at least 1")]
    AtLeastOne { flag: &'static str },
    #[error("--fail-above must be between 0 and 1, got {got}")]
    FailAboveOutOfRange { got: f64 },
    #[error("--price-per-1k-tokens must be a non-negative number")]
    NegativePrice,
    #[error("--post needs --github OWNER/REPO")]
    PostNeedsGitHub,
    #[error(
        "--base is not used with --github: assess the pull request (#N) to compare with its base"
    )]
    BaseWithGitHub,
    #[error("--service must name the service to roll out")]
    NoService,
    #[error("--planner llm needs a model endpoint: set OPENAI_API_KEY and/or OPENAI_BASE_URL")]
    NoModelEndpoint,
    #[error("--dry-run applies to real targets (haproxy, kubernetes, argo); the simulated one changes nothing real")]
    DryRunOnSim,
    #[error("--target {target} with --metrics {metrics} is not supported: use sim with sim, or haproxy, kubernetes or argo with prometheus")]
    UnsupportedPair {
        target: &'static str,
        metrics: &'static str,
    },
    #[error("--plot: folder {} does not exist (create it or choose another path)", dir.display())]
    NoPlotFolder { dir: PathBuf },
    /// An output file given by a flag (`--features PATH`) cannot be written.
    #[error("cannot write {flag} {}: {source}; choose a writable path", path.display())]
    CannotWrite {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The journal a reading command was pointed at was never written.
    #[error("no journal at {} (nothing was recorded there; pass --journal PATH or set journal.path / DEPLOY_AGENT_JOURNAL__PATH)", path.display())]
    NoJournal { path: PathBuf },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_flag_and_the_way_out() {
        for (e, wanted) in [
            (
                ArgError::AtLeastOne { flag: "--commits" },
                "--commits must be at least 1",
            ),
            (
                ArgError::UnsupportedPair {
                    target: "sim",
                    metrics: "prometheus",
                },
                "--target sim with --metrics prometheus is not supported: use sim with sim",
            ),
            (
                ArgError::NoJournal {
                    path: "/tmp/none.db".into(),
                },
                "no journal at /tmp/none.db (nothing was recorded there; pass --journal PATH",
            ),
        ] {
            assert!(e.to_string().starts_with(wanted), "{e}");
        }
    }
}
