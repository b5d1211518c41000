//! The risk family: `assess` scores one change, `backtest` and `calibrate` walk a
//! repository's history. The two walks share their flags ([`HistoryWalk`]) so they
//! cannot drift apart; only their defaults differ, because a backtest is a quick
//! look at recent history and a calibration learns from as much settled history
//! as it can.

use std::marker::PhantomData;
use std::path::PathBuf;

use clap::Args;
use deploy_agent::assess::{AssessRequest, LlmMode};
use deploy_agent::backtest::BacktestOptions;
use deploy_agent::commands::backtest::{run_backtest, BacktestCommand, BacktestFormat};
use deploy_agent::commands::calibrate::{run_calibrate, CalibrateCommand};
use deploy_agent::commands::journal::JournalLocation;
use deploy_agent::report::Format;
use deploy_agent::{exit, AssessCommand};

#[derive(Args)]
pub struct AssessArgs {
    /// The revision to assess (sha, branch, tag, HEAD~2, ...).
    rev: String,
    /// The repository (default: the current directory).
    #[arg(long, default_value = ".", value_name = "PATH")]
    repo: PathBuf,
    /// Compare against the merge base with this revision instead of the first parent.
    #[arg(long, value_name = "REV")]
    base: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit with code 3 when the final score is above this value (0..1).
    #[arg(long, value_name = "SCORE")]
    fail_above: Option<f64>,
    /// Ask an OpenAI-compatible model for a second opinion (auto: when configured).
    #[arg(long, value_enum, default_value_t = LlmMode::Auto)]
    llm: LlmMode,
    /// Policy file (default: `policy` in the config, else the embedded default).
    #[arg(long, value_name = "PATH")]
    policy: Option<PathBuf>,
    /// Read the change from GitHub (REV is a sha or #PR_NUMBER); token from GITHUB_TOKEN.
    #[arg(long, value_name = "OWNER/REPO")]
    github: Option<String>,
    /// With --github: post the report as a PR comment (updated in place) and, with
    /// GITHUB_APP_INSTALLATION_TOKEN, a check run.
    #[arg(long, requires = "github")]
    post: bool,
}

/// What differs between the two history walks: their defaults and the words for them.
///
/// Defaults are strings (`default_value`), not numbers (`default_value_t`): clap's
/// derive renders a `default_value_t` once into a `static` inside the generated
/// function, and a static in a generic function is shared by every instance, so
/// whichever walk is built first would set the default of both.
pub trait WalkDefaults: Clone + Send + Sync + 'static {
    const COMMITS: &'static str;
    /// Help of `--commits` (no final period: clap strips it only from doc comments).
    const COMMITS_HELP: &'static str;
    const MIN_AGE_DAYS: &'static str;
    /// Help of `--seed`.
    const SEED_HELP: &'static str;
}

/// `backtest`: a look at recent history, one bootstrap interval.
#[derive(Clone)]
pub struct BacktestDefaults;

impl WalkDefaults for BacktestDefaults {
    const COMMITS: &'static str = "2000";
    const COMMITS_HELP: &'static str = "Score at most this many of the newest eligible commits";
    const MIN_AGE_DAYS: &'static str = "30";
    const SEED_HELP: &'static str = "Seed of the bootstrap interval";
}

/// `calibrate`: as much settled history as there is, several intervals.
#[derive(Clone)]
pub struct CalibrateDefaults;

impl WalkDefaults for CalibrateDefaults {
    const COMMITS: &'static str = "20000";
    const COMMITS_HELP: &'static str =
        "Learn from at most this many of the newest eligible commits";
    const MIN_AGE_DAYS: &'static str = "90";
    const SEED_HELP: &'static str = "Seed of the bootstrap intervals";
}

/// The flags of a history walk, shared by `backtest` and `calibrate`: one definition,
/// so the two commands take the same flags and build [`BacktestOptions`] alike.
#[derive(Args)]
pub struct HistoryWalk<D: WalkDefaults> {
    /// The tip whose history is walked.
    #[arg(default_value = "HEAD")]
    tip: String,
    /// The repository (default: the current directory).
    #[arg(long, default_value = ".", value_name = "PATH")]
    repo: PathBuf,
    #[arg(long, default_value = D::COMMITS, help = D::COMMITS_HELP)]
    commits: usize,
    /// Leave out commits younger than this at the tip (not yet had time to be reverted).
    #[arg(long, default_value = D::MIN_AGE_DAYS)]
    min_age_days: u32,
    #[arg(long, default_value_t = 1, help = D::SEED_HELP)]
    seed: u64,
    #[arg(skip)]
    defaults: PhantomData<D>,
}

impl<D: WalkDefaults> HistoryWalk<D> {
    /// The repository walked and what to score in it.
    fn into_options(self) -> (PathBuf, BacktestOptions) {
        let options = BacktestOptions {
            tip: self.tip,
            commits: self.commits,
            min_age_days: self.min_age_days,
            seed: self.seed,
        };
        (self.repo, options)
    }
}

#[derive(Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    walk: HistoryWalk<BacktestDefaults>,
    #[arg(long, value_enum, default_value_t = BacktestFormat::Text)]
    format: BacktestFormat,
    /// Also write the ROC curves (score and lines changed) as an SVG here.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Also write every scored commit's features and label as CSV here
    /// (the rows a model is fitted on).
    #[arg(long, value_name = "FILE.csv")]
    features: Option<PathBuf>,
    /// Policy file (default: `policy` in the config, else the embedded default).
    #[arg(long, value_name = "PATH")]
    policy: Option<PathBuf>,
}

#[derive(Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    walk: HistoryWalk<CalibrateDefaults>,
    #[arg(long, value_enum, default_value_t = BacktestFormat::Text)]
    format: BacktestFormat,
    /// Policy file (default: `policy` in the config, else the embedded default).
    #[arg(long, value_name = "PATH")]
    policy: Option<PathBuf>,
}

impl AssessArgs {
    /// Prints the report, then where it was posted (stderr).
    pub async fn run(self, location: &JournalLocation) -> Result<u8, deploy_agent::Error> {
        let cmd = AssessCommand {
            request: AssessRequest {
                rev: self.rev,
                base: self.base,
                llm: self.llm,
            },
            repo: self.repo,
            config: location.config.clone(),
            policy: self.policy,
            format: self.format,
            fail_above: self.fail_above,
            github: self.github,
            post: self.post,
        };
        let outcome = deploy_agent::run_assess(&cmd).await?;
        print!("{}", outcome.rendered);
        for p in &outcome.posted {
            eprintln!("{p}");
        }
        Ok(outcome.exit_code)
    }
}

impl BacktestArgs {
    pub fn run(self, location: &JournalLocation) -> Result<u8, deploy_agent::Error> {
        let (repo, options) = self.walk.into_options();
        let cmd = BacktestCommand {
            plot: self.plot,
            features: self.features,
            repo,
            options,
            config: location.config.clone(),
            policy: self.policy,
            format: self.format,
        };
        print!("{}", run_backtest(&cmd)?);
        Ok(exit::OK)
    }
}

impl CalibrateArgs {
    pub fn run(self, location: &JournalLocation) -> Result<u8, deploy_agent::Error> {
        let (repo, options) = self.walk.into_options();
        let cmd = CalibrateCommand {
            repo,
            options,
            config: location.config.clone(),
            policy: self.policy,
            format: self.format,
        };
        print!("{}", run_calibrate(&cmd)?);
        Ok(exit::OK)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn options(args: &[&str]) -> deploy_agent::backtest::BacktestOptions {
        let walk = match Cli::parse_from(args).command {
            Command::Backtest(b) => b.walk.into_options(),
            Command::Calibrate(c) => c.walk.into_options(),
            _ => unreachable!("only walks are parsed here"),
        };
        walk.1
    }

    /// Both walks parsed in one process keep their own defaults (a `default_value_t`
    /// in the shared generic struct would give both the first one's).
    #[test]
    fn backtest_and_calibrate_keep_their_own_defaults() {
        let b = options(&["deploy-agent", "backtest"]);
        let c = options(&["deploy-agent", "calibrate"]);
        let b2 = options(&["deploy-agent", "backtest"]);
        assert_eq!((b.commits, b.min_age_days, b.seed), (2000, 30, 1));
        assert_eq!((c.commits, c.min_age_days, c.seed), (20_000, 90, 1));
        assert_eq!((b2.commits, b2.min_age_days), (2000, 30));
        assert_eq!(c.tip, "HEAD");
    }

    #[test]
    fn walk_flags_reach_the_options() {
        let o = options(&[
            "deploy-agent",
            "calibrate",
            "main",
            "--commits",
            "7",
            "--min-age-days",
            "3",
            "--seed",
            "9",
        ]);
        assert_eq!(
            (o.tip.as_str(), o.commits, o.min_age_days, o.seed),
            ("main", 7, 3, 9)
        );
    }
}
