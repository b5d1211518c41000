//! `deploy-agent bench canary`: our sequential judge against Flagger-, Argo-,
//! Kayenta-style analyses, a re-tested fixed-sample Mann-Whitney test and an
//! oracle SPRT, on the same simulated traffic and seeds.
//!
//! Runs: `runs` (default 1,000) per (scenario, rps) cell, except A/A at 100 rps,
//! which gets 10 × `runs` (default 10,000): the false-rollback target is 1 %,
//! and only ~10,000 runs put the Wilson interval's width (± 0.2 points at 1 %)
//! well inside it. Everything is a pure function of the config: same seed,
//! same figures, whatever the thread count.

mod plot;
mod report;
mod runner;
mod scenario;
pub(crate) mod stats;
mod targets;
pub mod traffic;

pub use plot::write_svg;
pub use report::{render_json, render_markdown};
pub use runner::{simulate_run, Decision, Method, Outcome};
pub use stats::{wilson, Row};
pub use targets::{TargetCheck, Targets};

use serde::Serialize;

use crate::canary::baselines::{wald_expected_n, OracleConfig};
use runner::Cell;
use traffic::{TrafficConfig, TrafficScenario};

/// What to run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchConfig {
    /// Runs per cell.
    pub runs: u64,
    /// Runs of A/A at 100 rps (see the module docs).
    pub aa_runs: u64,
    pub seed: u64,
    /// Worker threads (the CI machine has 2 cores).
    pub threads: usize,
    /// Total request rates (both versions) to run every scenario at.
    pub rps: Vec<f64>,
    #[serde(skip)]
    pub scenarios: Vec<TrafficScenario>,
    #[serde(skip)]
    pub methods: Vec<Method>,
}

impl BenchConfig {
    /// The benchmark's cells with `runs` per cell (10 × for A/A at 100 rps).
    pub fn new(runs: u64, seed: u64) -> Self {
        Self {
            runs,
            aa_runs: runs.saturating_mul(10),
            seed,
            threads: 2,
            rps: vec![100.0, 10.0, 0.5],
            scenarios: TrafficScenario::ALL.to_vec(),
            methods: Method::ALL.to_vec(),
        }
    }

    fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::new();
        for &scenario in &self.scenarios {
            for &rps in &self.rps {
                let runs = if scenario == TrafficScenario::Aa && rps == 100.0 {
                    self.aa_runs
                } else {
                    self.runs
                };
                cells.push(Cell {
                    scenario,
                    traffic: TrafficConfig::new(rps),
                    runs,
                });
            }
        }
        cells
    }
}

/// Wald's expected sample size for one scenario's error alternative.
#[derive(Debug, Clone, Serialize)]
pub struct WaldRow {
    pub scenario: &'static str,
    pub p0: f64,
    pub p1: f64,
    pub alpha: f64,
    pub beta: f64,
    /// E[N | p1] in canary requests.
    pub expected_n: f64,
    /// (total rps, minutes of canary traffic to reach `expected_n`).
    pub minutes_at: Vec<(f64, f64)>,
}

impl WaldRow {
    pub(crate) fn new(scenario: TrafficScenario, rps: &[f64]) -> Self {
        let traffic = TrafficConfig::new(1.0);
        let (p0, p1) = scenario.oracle_rates(traffic.baseline_error);
        let o = OracleConfig::new(p0, p1);
        let expected_n = wald_expected_n(p0, p1, o.alpha, o.beta);
        let minutes_at = rps
            .iter()
            .map(|&r| (r, expected_n / (r * traffic.canary_share) / 60.0))
            .collect();
        Self {
            scenario: scenario.name(),
            p0,
            p1,
            alpha: o.alpha,
            beta: o.beta,
            expected_n,
            minutes_at,
        }
    }
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    pub config: BenchConfig,
    /// What the sequential judge was when measured (its verdict summary on an
    /// empty window), so a stub is visible in the output.
    pub judge_note: String,
    pub elapsed_s: f64,
    pub wald: Vec<WaldRow>,
    /// One per method × scenario × rps, scenario-major.
    pub rows: Vec<Row>,
    pub targets: Targets,
}

/// Runs the benchmark; `progress(done_runs, total_runs)` is called from this thread.
pub fn run(config: &BenchConfig, progress: impl FnMut(u64, u64)) -> BenchResults {
    let started = std::time::Instant::now();
    let cells = config.cells();
    let outcomes = runner::run_cells(
        &cells,
        &config.methods,
        config.seed,
        config.threads,
        progress,
    );
    let wald: Vec<WaldRow> = config
        .scenarios
        .iter()
        .map(|&s| WaldRow::new(s, &config.rps))
        .collect();
    let mut rows = Vec::new();
    for (cell, runs) in cells.iter().zip(&outcomes) {
        let bound = WaldRow::new(cell.scenario, &[]).expected_n;
        for (m, &method) in config.methods.iter().enumerate() {
            let mine: Vec<Outcome> = runs.iter().filter_map(|r| r.get(m).copied()).collect();
            let rps = cell.traffic.total_rps;
            rows.push(Row::new(method, cell.scenario, rps, &mine, bound));
        }
    }
    BenchResults {
        config: config.clone(),
        judge_note: judge_note(),
        elapsed_s: started.elapsed().as_secs_f64(),
        targets: Targets::evaluate(&rows, &wald),
        wald,
        rows,
    }
}

/// The sequential judge's summary on one healthy window: shows a stub as such.
fn judge_note() -> String {
    use crate::canary::{Judge, MetricsWindow, SequentialJudge, VersionSample};
    let sample = VersionSample {
        requests: 100,
        errors: 1,
        latency_ms: vec![80.0; 10],
    };
    let window = MetricsWindow {
        start: 0.0,
        end: 10.0,
        stable: Some(sample.clone()),
        canary: Some(sample),
    };
    SequentialJudge::default().observe(&window).summary
}

/// Progress on stderr for the CLI ([`crate::progress::Progress`]): a bar on a
/// terminal, one closing line otherwise.
pub fn stderr_progress() -> impl FnMut(u64, u64) {
    let mut shown = crate::progress::Progress::new("bench canary", "runs", 0);
    move |done, total| {
        shown.set(done, total);
        if done == total {
            shown.finish();
        }
    }
}

/// The CLI's whole job: run, render in `format` (`json` or Markdown), and
/// write the SVG when asked. Returns the text to print.
pub fn run_command(
    runs: u64,
    seed: u64,
    json: bool,
    plot: Option<&std::path::Path>,
) -> Result<String, crate::Error> {
    // Check the plot's folder before minutes of simulation, not after.
    if let Some(dir) = plot
        .and_then(|p| p.parent())
        .filter(|d| !d.as_os_str().is_empty())
    {
        if !dir.is_dir() {
            return Err(crate::commands::ArgError::NoPlotFolder {
                dir: dir.to_path_buf(),
            }
            .into());
        }
    }
    let config = BenchConfig::new(runs.max(1), seed);
    let results = run(&config, stderr_progress());
    if let Some(path) = plot {
        write_svg(&results, path)?;
        eprintln!("bench canary: wrote {}", path.display());
    }
    Ok(if json {
        render_json(&results)
    } else {
        render_markdown(&results)
    })
}
