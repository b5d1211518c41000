//! The benchmark's scenarios: what the canary does differently, and what a
//! judge should conclude about it.

use serde::Serialize;

/// What a judge should do with a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    /// Promote; a rollback is a false rollback.
    Healthy,
    /// Roll back; the rollback rate is the detection rate.
    Bad,
    /// Canary metrics never arrive: never promote.
    Dead,
}

/// The benchmark scenarios (see `name` for the CLI spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scenario {
    Aa,
    Errors1To2,
    Errors1To5,
    LatencyX1_3,
    TailP99Plus30,
    SlowDrift,
    NoisyAa,
    MissingScrapesAa,
    DeadCanary,
    Improvement,
}

impl Scenario {
    pub const ALL: [Scenario; 10] = [
        Scenario::Aa,
        Scenario::NoisyAa,
        Scenario::MissingScrapesAa,
        Scenario::Improvement,
        Scenario::Errors1To2,
        Scenario::Errors1To5,
        Scenario::SlowDrift,
        Scenario::LatencyX1_3,
        Scenario::TailP99Plus30,
        Scenario::DeadCanary,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Aa => "a-a",
            Scenario::Errors1To2 => "errors-1-2",
            Scenario::Errors1To5 => "errors-1-5",
            Scenario::LatencyX1_3 => "latency-x1.3",
            Scenario::TailP99Plus30 => "tail-p99+30",
            Scenario::SlowDrift => "slow-drift",
            Scenario::NoisyAa => "noisy-aa",
            Scenario::MissingScrapesAa => "missing-scrapes-aa",
            Scenario::DeadCanary => "dead-canary",
            Scenario::Improvement => "improvement",
        }
    }

    pub fn kind(self) -> ScenarioKind {
        match self {
            Scenario::Aa
            | Scenario::NoisyAa
            | Scenario::MissingScrapesAa
            | Scenario::Improvement => ScenarioKind::Healthy,
            Scenario::DeadCanary => ScenarioKind::Dead,
            _ => ScenarioKind::Bad,
        }
    }

    /// (p0, p1) the oracle is told: the baseline rate and the alternative,
    /// 2·p0 unless the scenario is a different fixed error rate.
    pub fn oracle_rates(self, baseline_error: f64) -> (f64, f64) {
        match self {
            Scenario::Errors1To5 => (baseline_error, 0.05),
            _ => (baseline_error, 2.0 * baseline_error),
        }
    }

    /// True for the scenarios whose canary error rate is a fixed alternative,
    /// where Wald's E[N | p1] is a real lower bound (efficiency is reported).
    pub fn fixed_error_alternative(self) -> bool {
        matches!(self, Scenario::Errors1To2 | Scenario::Errors1To5)
    }

    /// A stable number for the seed key (independent of the enum's order).
    pub(super) fn key(self) -> u64 {
        match self {
            Scenario::Aa => 1,
            Scenario::Errors1To2 => 2,
            Scenario::Errors1To5 => 3,
            Scenario::LatencyX1_3 => 4,
            Scenario::TailP99Plus30 => 5,
            Scenario::SlowDrift => 6,
            Scenario::NoisyAa => 7,
            Scenario::MissingScrapesAa => 8,
            Scenario::DeadCanary => 9,
            Scenario::Improvement => 10,
        }
    }

    /// The canary's error rate at time `t` seconds (before noise).
    pub(super) fn canary_error(self, base: f64, t: f64) -> f64 {
        match self {
            Scenario::Errors1To2 => 0.02,
            Scenario::Errors1To5 => 0.05,
            // 1 % → 3 % linearly over the first hour, then flat.
            Scenario::SlowDrift => base + 0.02 * (t / 3600.0).clamp(0.0, 1.0),
            Scenario::Improvement => 0.005,
            _ => base,
        }
    }

    /// The canary's latency relative to the baseline's.
    pub(super) fn canary_latency(self) -> LatencyShape {
        match self {
            Scenario::LatencyX1_3 => LatencyShape::Scaled(1.3),
            Scenario::Improvement => LatencyShape::Scaled(0.9),
            Scenario::TailP99Plus30 => LatencyShape::SlowTail,
            _ => LatencyShape::Scaled(1.0),
        }
    }
}

/// How a version's latency departs from the baseline log-normal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum LatencyShape {
    /// Every request × factor.
    Scaled(f64),
    /// Requests whose normal deviate is above z₀.₉₈ (the slowest 2 %) take 1.3×.
    /// The map is monotone, so every quantile above the 98th, p99 included, is
    /// exactly 1.3× the baseline's and every quantile below (the median) is
    /// unchanged.
    SlowTail,
}
