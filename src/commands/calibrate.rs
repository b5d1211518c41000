//! `deploy-agent calibrate`: fit this repository's risk model and cache it
//! where `assess` finds it.

use crate::commands::ArgError;
use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::backtest::cache::RiskCache;
use crate::backtest::calibrate::{self, Calibrated};
use crate::backtest::{self, BacktestOptions};
use crate::commands::backtest::BacktestFormat;
use crate::error::Error;
use crate::git::LocalGit;
use crate::risk::fitted::{HowWell, Prior};
use crate::settings::{Env, Settings};

/// What `deploy-agent calibrate` was asked.
#[derive(Debug, Clone)]
pub struct CalibrateCommand {
    pub repo: PathBuf,
    pub options: BacktestOptions,
    pub config: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    pub format: BacktestFormat,
}

/// What was fitted, and where it went.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrateReport {
    pub repository: String,
    pub tip: String,
    pub cache: String,
    /// Rows reused from the previous run (their commits were not read again).
    pub reused: usize,
    pub unreadable: usize,
    pub seconds: f64,
    #[serde(flatten)]
    pub fitted: Calibrated,
}

/// Walks the history, fits, writes the cache, renders the report.
pub fn run_calibrate(cmd: &CalibrateCommand) -> Result<String, Error> {
    if cmd.options.commits == 0 {
        return Err(ArgError::AtLeastOne { flag: "--commits" }.into());
    }
    let settings = Settings::load(cmd.config.as_deref(), &Env::from_process())?;
    let policy = settings.policy(cmd.policy.as_deref())?;
    let repo = LocalGit::open(&cmd.repo)?;
    if !policy.calibration.enabled {
        eprintln!(
            "warning: the policy turns calibration off ([calibration] enabled = false): the model is fitted and cached, but `assess` will not use it under this policy"
        );
    }
    let cache = RiskCache::in_git_dir(&repo.git_dir()?);
    let known: HashMap<String, backtest::Scored> = cache
        .rows(&policy.hash)
        .into_iter()
        .map(|r| (r.sha.clone(), r))
        .collect();
    let started = std::time::Instant::now();
    let result = backtest::run(
        &repo,
        &policy,
        &cmd.options,
        &known,
        super::backtest::progress("calibrate"),
    )?;
    let fitted = calibrate::fit(
        &result.scored,
        &policy,
        &Prior::shipped()?,
        (&result.tip, result.tip_time),
        cmd.options.seed,
    )?;
    cache.save(&fitted.model, &result.index, &result.scored)?;
    let report = CalibrateReport {
        repository: cmd.repo.display().to_string(),
        tip: result.tip.clone(),
        cache: cache.dir().display().to_string(),
        reused: result.reused,
        unreadable: result.unreadable.len(),
        seconds: started.elapsed().as_secs_f64(),
        fitted,
    };
    Ok(match cmd.format {
        BacktestFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        BacktestFormat::Text | BacktestFormat::Markdown => markdown(&report),
    })
}

fn markdown(r: &CalibrateReport) -> String {
    let row = |name: &str, h: &HowWell| {
        format!(
            "| {name} | {:.3} [{:.3}, {:.3}] | {:.1} % | {} |\n",
            h.auc,
            h.auc_low,
            h.auc_high,
            100.0 * h.top10_recall,
            h.method
        )
    };
    let f = &r.fitted;
    let mut s = format!(
        "# Risk model for {} at {}\n\n{} commits scored, {} later reverted ({} reused from the last run{}), {:.0} s.\n\n| model | ROC AUC [95 %] | reverted in top 10 % | how |\n|---|---|---|---|\n",
        r.repository,
        &r.tip[..r.tip.len().min(12)],
        f.prior.commits,
        f.prior.reverted,
        r.reused,
        match r.unreadable {
            0 => String::new(),
            n => format!(", {n} unreadable left out"),
        },
        r.seconds
    );
    s.push_str(&row("shipped prior", &f.prior));
    s.push_str(&row("prior refitted here", &f.refit));
    s.push_str(&row("policy weights", &f.policy));
    let pct = |v: &[f64; 4]| {
        v.iter()
            .map(|x| format!("{:.0} %", 100.0 * x))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    s.push_str(&format!(
        "| lines changed alone | {:.3} | | baseline |\n\nLevels on this history (low / medium / high / critical, floors included): policy weights {}; kept model {}.\n\nKept: **{}** (it ranked this history best). `assess` now uses it and reports these figures; cached in `{}`. Run `deploy-agent calibrate` again after new commits: only those are read.\n",
        f.prior.lines_auc,
        pct(&f.levels.policy),
        pct(&f.levels.kept),
        f.chosen,
        r.cache
    ));
    s
}
