//! Runs every method on the same windows: each run's traffic is generated once,
//! window by window, and fed to all methods still undecided, so differences
//! between methods are never differences in luck.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::Serialize;

use super::traffic::{Traffic, TrafficConfig, TrafficScenario};
use crate::canary::baselines::{
    ArgoJudge, FixedMwJudge, FlaggerJudge, KayentaConfig, KayentaJudge, OracleConfig, OracleSprt,
};
use crate::canary::{Judge, SequentialJudge, VerdictKind};

/// The judges compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    Ours,
    Flagger,
    Argo,
    Kayenta20,
    Kayenta60,
    FixedMw,
    Oracle,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Ours,
        Method::Flagger,
        Method::Argo,
        Method::Kayenta20,
        Method::Kayenta60,
        Method::FixedMw,
        Method::Oracle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Ours => "ours (sequential)",
            Method::Flagger => "flagger",
            Method::Argo => "argo",
            Method::Kayenta20 => "kayenta-20m",
            Method::Kayenta60 => "kayenta-60m",
            Method::FixedMw => "fixed-mw",
            Method::Oracle => "oracle-sprt",
        }
    }

    /// The tools a team might use instead of ours (not the oracle, which
    /// knows the answer's rates).
    pub fn is_baseline(self) -> bool {
        !matches!(self, Method::Ours | Method::Oracle)
    }

    /// A fresh judge for one run of `scenario`.
    pub fn judge(self, scenario: TrafficScenario, traffic: &TrafficConfig) -> Box<dyn Judge> {
        match self {
            Method::Ours => Box::new(SequentialJudge::default()),
            Method::Flagger => Box::new(FlaggerJudge::default()),
            Method::Argo => Box::new(ArgoJudge::default()),
            Method::Kayenta20 => Box::new(KayentaJudge::default()),
            Method::Kayenta60 => Box::new(KayentaJudge::new(KayentaConfig::single_judgement())),
            Method::FixedMw => Box::new(FixedMwJudge::default()),
            Method::Oracle => {
                let (p0, p1) = scenario.oracle_rates(traffic.baseline_error);
                Box::new(OracleSprt::new(OracleConfig::new(p0, p1)))
            }
        }
    }
}

/// How a run ended for one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Rollback,
    Promote,
    /// Neither by the horizon.
    Undecided,
}

/// One method's result on one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    /// Simulated minutes at the decision (the horizon when undecided).
    pub minutes: f64,
    /// Canary requests and errors served up to and including the decision window.
    pub canary_requests: u64,
    pub canary_errors: u64,
}

/// Runs one run of `scenario` and returns one outcome per method of `methods`.
pub fn simulate_run(
    traffic: TrafficConfig,
    scenario: TrafficScenario,
    methods: &[Method],
    seed: u64,
    run: u64,
) -> Vec<Outcome> {
    let mut judges: Vec<Box<dyn Judge>> = methods
        .iter()
        .map(|m| m.judge(scenario, &traffic))
        .collect();
    let history = Traffic::baseline_history(traffic, scenario, seed, run);
    for judge in &mut judges {
        judge.calibrate(&history);
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; methods.len()];
    let (mut requests, mut errors) = (0u64, 0u64);
    for w in Traffic::new(traffic, scenario, seed, run) {
        requests += w.canary_requests;
        errors += w.canary_errors;
        for (judge, outcome) in judges.iter_mut().zip(outcomes.iter_mut()) {
            if outcome.is_some() {
                continue;
            }
            let decision = match judge.observe(&w.window).kind {
                VerdictKind::Fail => Decision::Rollback,
                VerdictKind::Pass => Decision::Promote,
                VerdictKind::Inconclusive | VerdictKind::NoData => continue,
            };
            *outcome = Some(Outcome {
                decision,
                minutes: w.window.end / 60.0,
                canary_requests: requests,
                canary_errors: errors,
            });
        }
        if outcomes.iter().all(Option::is_some) {
            break;
        }
    }
    let undecided = Outcome {
        decision: Decision::Undecided,
        minutes: traffic.horizon_s / 60.0,
        canary_requests: requests,
        canary_errors: errors,
    };
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(undecided))
        .collect()
}

/// One (scenario, rps) cell to run `runs` times.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub scenario: TrafficScenario,
    pub traffic: TrafficConfig,
    pub runs: u64,
}

/// Outcomes of a cell: `outcomes[run][method]`.
pub type CellOutcomes = Vec<Vec<Outcome>>;

/// Runs per unit of work handed to a thread: small enough to balance two
/// threads, large enough that scheduling costs nothing.
const CHUNK: u64 = 50;

/// Runs all cells on `threads` threads and reports finished runs to
/// `progress(done, total)` from the calling thread. Results are in run order
/// whatever the scheduling, so the figures depend only on the seed.
pub fn run_cells(
    cells: &[Cell],
    methods: &[Method],
    seed: u64,
    threads: usize,
    mut progress: impl FnMut(u64, u64),
) -> Vec<CellOutcomes> {
    let units: Vec<(usize, u64, u64)> = cells
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            (0..c.runs)
                .step_by(CHUNK as usize)
                .map(move |from| (i, from, (from + CHUNK).min(c.runs)))
        })
        .collect();
    let total: u64 = cells.iter().map(|c| c.runs).sum();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Vec<Vec<Outcome>>)>();
    let mut done_units: Vec<Option<Vec<Vec<Outcome>>>> = vec![None; units.len()];
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let (tx, next, units) = (tx.clone(), &next, &units);
            scope.spawn(move || loop {
                let u = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(cell, from, to)) = units.get(u) else {
                    break;
                };
                let c = &cells[cell];
                let out = (from..to)
                    .map(|run| simulate_run(c.traffic, c.scenario, methods, seed, run))
                    .collect();
                if tx.send((u, out)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done = 0u64;
        for (u, out) in rx {
            done += out.len() as u64;
            if let Some(slot) = done_units.get_mut(u) {
                *slot = Some(out);
            }
            progress(done, total);
        }
    });
    let mut results: Vec<CellOutcomes> = vec![Vec::new(); cells.len()];
    for ((cell, _, _), out) in units.iter().zip(done_units) {
        if let Some(r) = results.get_mut(*cell) {
            r.extend(out.unwrap_or_default());
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_outcomes_whatever_the_threads() {
        let cells = [Cell {
            scenario: TrafficScenario::Errors1To5,
            traffic: TrafficConfig::new(100.0),
            runs: 120,
        }];
        let methods = [Method::Flagger, Method::FixedMw, Method::Oracle];
        let one = run_cells(&cells, &methods, 7, 1, |_, _| {});
        let two = run_cells(&cells, &methods, 7, 2, |_, _| {});
        assert_eq!(one, two);
        assert_eq!(one[0].len(), 120);
    }

    #[test]
    fn oracle_catches_five_percent_errors_quickly() {
        let out = simulate_run(
            TrafficConfig::new(100.0),
            TrafficScenario::Errors1To5,
            &[Method::Oracle, Method::Flagger],
            1,
            0,
        );
        assert_eq!(out[0].decision, Decision::Rollback);
        assert!(out[0].minutes <= 2.0, "{:?}", out[0]);
        assert_eq!(out[1].decision, Decision::Rollback);
        assert!(out[1].canary_requests >= out[0].canary_requests);
    }

    #[test]
    fn dead_canary_is_never_promoted_by_flagger_argo_or_kayenta() {
        let methods = [
            Method::Flagger,
            Method::Argo,
            Method::Kayenta20,
            Method::Kayenta60,
        ];
        let out = simulate_run(
            TrafficConfig::new(10.0),
            TrafficScenario::DeadCanary,
            &methods,
            1,
            0,
        );
        assert!(
            out.iter().all(|o| o.decision == Decision::Rollback),
            "{out:?}"
        );
    }
}
