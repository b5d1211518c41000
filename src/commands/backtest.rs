//! `deploy-agent backtest`: wiring settings, policy, the repository and progress.

use crate::commands::ArgError;
use std::path::PathBuf;

use crate::backtest::{self, render, BacktestOptions, Metrics};
use crate::error::Error;
use crate::git::LocalGit;
use crate::progress::Progress;
use crate::settings::{Env, Settings};

/// Output of `backtest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BacktestFormat {
    Text,
    Markdown,
    Json,
}

/// What `deploy-agent backtest` was asked.
#[derive(Debug, Clone)]
pub struct BacktestCommand {
    pub repo: PathBuf,
    pub options: BacktestOptions,
    pub config: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    pub format: BacktestFormat,
    /// Also write the ROC curves here (SVG).
    pub plot: Option<PathBuf>,
    /// Also write every commit's features here (CSV).
    pub features: Option<PathBuf>,
}

/// Progress of scoring commits on stderr ([`Progress`]): a bar on a
/// terminal, one closing line otherwise (logs).
pub fn progress(what: &'static str) -> impl FnMut(usize, usize) {
    let mut shown = Progress::new(what, "commits scored", 0);
    move |done, total| {
        shown.set(done as u64, total as u64);
        if done == total {
            shown.finish();
        }
    }
}

/// Scores the history and renders the figures.
pub fn run_backtest(cmd: &BacktestCommand) -> Result<String, Error> {
    if cmd.options.commits == 0 {
        return Err(ArgError::AtLeastOne { flag: "--commits" }.into());
    }
    let settings = Settings::load(cmd.config.as_deref(), &Env::from_process())?;
    let policy = settings.policy(cmd.policy.as_deref())?;
    let repo = LocalGit::open(&cmd.repo)?;
    let started = std::time::Instant::now();
    let known = std::collections::HashMap::new();
    let result = backtest::run(&repo, &policy, &cmd.options, &known, progress("backtest"))?;
    let scored = result.scored;
    if let Some((sha, why)) = result.unreadable.first() {
        eprintln!(
            "warning: {} commits left out because git could not show their change (first: {sha}: {why}); a full clone has every object",
            result.unreadable.len()
        );
    }
    tracing::info!(
        commits = scored.len(),
        seconds = started.elapsed().as_secs_f64(),
        "backtest scored"
    );
    let metrics = Metrics::of(&scored, cmd.options.seed)?;
    if let Some(path) = &cmd.features {
        let write = || -> std::io::Result<()> {
            let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
            backtest::write_features(&scored, &mut out)?;
            std::io::Write::flush(&mut out)
        };
        write().map_err(|source| ArgError::CannotWrite {
            flag: "--features",
            path: path.clone(),
            source,
        })?;
    }
    if let Some(path) = &cmd.plot {
        let title = format!(
            "ROC: {} ({} commits, {} reverted)",
            cmd.repo.display(),
            metrics.commits,
            metrics.reverted
        );
        backtest::plot::write_svg(&scored, &title, path)?;
    }
    let what = format!(
        "{} at {} (newest {} commits at least {} days old{})",
        cmd.repo.display(),
        cmd.options.tip,
        cmd.options.commits,
        cmd.options.min_age_days,
        match result.unreadable.len() {
            0 => String::new(),
            n => format!("; {n} left out, their change unreadable"),
        }
    );
    Ok(match cmd.format {
        BacktestFormat::Text | BacktestFormat::Markdown => render::markdown(&metrics, &what),
        BacktestFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "metrics": metrics,
                "commits": scored,
                "unreadable": result.unreadable,
            }))
            .unwrap_or_default()
        ),
    })
}
