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

/// The benchmark scenarios (see `name` for the CLI spelling): traffic made for the
/// judges alone. Named apart from [`crate::sim::Scenario`], the rollout simulator's
/// worlds, so a reader never has to check which one an import means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TrafficScenario {
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

impl TrafficScenario {
    pub const ALL: [TrafficScenario; 10] = [
        TrafficScenario::Aa,
        TrafficScenario::NoisyAa,
        TrafficScenario::MissingScrapesAa,
        TrafficScenario::Improvement,
        TrafficScenario::Errors1To2,
        TrafficScenario::Errors1To5,
        TrafficScenario::SlowDrift,
        TrafficScenario::LatencyX1_3,
        TrafficScenario::TailP99Plus30,
        TrafficScenario::DeadCanary,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TrafficScenario::Aa => "a-a",
            TrafficScenario::Errors1To2 => "errors-1-2",
            TrafficScenario::Errors1To5 => "errors-1-5",
            TrafficScenario::LatencyX1_3 => "latency-x1.3",
            TrafficScenario::TailP99Plus30 => "tail-p99+30",
            TrafficScenario::SlowDrift => "slow-drift",
            TrafficScenario::NoisyAa => "noisy-aa",
            TrafficScenario::MissingScrapesAa => "missing-scrapes-aa",
            TrafficScenario::DeadCanary => "dead-canary",
            TrafficScenario::Improvement => "improvement",
        }
    }

    pub fn kind(self) -> ScenarioKind {
        match self {
            TrafficScenario::Aa
            | TrafficScenario::NoisyAa
            | TrafficScenario::MissingScrapesAa
            | TrafficScenario::Improvement => ScenarioKind::Healthy,
            TrafficScenario::DeadCanary => ScenarioKind::Dead,
            _ => ScenarioKind::Bad,
        }
    }

    /// (p0, p1) the oracle is told: the baseline rate and the alternative,
    /// 2·p0 unless the scenario is a different fixed error rate.
    pub fn oracle_rates(self, baseline_error: f64) -> (f64, f64) {
        match self {
            TrafficScenario::Errors1To5 => (baseline_error, 0.05),
            _ => (baseline_error, 2.0 * baseline_error),
        }
    }

    /// True for the scenarios whose canary error rate is a fixed alternative,
    /// where Wald's E[N | p1] is a real lower bound (efficiency is reported).
    pub fn fixed_error_alternative(self) -> bool {
        matches!(
            self,
            TrafficScenario::Errors1To2 | TrafficScenario::Errors1To5
        )
    }

    /// A stable number for the seed key (independent of the enum's order).
    pub(super) fn key(self) -> u64 {
        match self {
            TrafficScenario::Aa => 1,
            TrafficScenario::Errors1To2 => 2,
            TrafficScenario::Errors1To5 => 3,
            TrafficScenario::LatencyX1_3 => 4,
            TrafficScenario::TailP99Plus30 => 5,
            TrafficScenario::SlowDrift => 6,
            TrafficScenario::NoisyAa => 7,
            TrafficScenario::MissingScrapesAa => 8,
            TrafficScenario::DeadCanary => 9,
            TrafficScenario::Improvement => 10,
        }
    }

    /// The canary's error rate at time `t` seconds (before noise).
    pub(super) fn canary_error(self, base: f64, t: f64) -> f64 {
        match self {
            TrafficScenario::Errors1To2 => 0.02,
            TrafficScenario::Errors1To5 => 0.05,
            // 1 % → 3 % linearly over the first hour, then flat.
            TrafficScenario::SlowDrift => base + 0.02 * (t / 3600.0).clamp(0.0, 1.0),
            TrafficScenario::Improvement => 0.005,
            _ => base,
        }
    }

    /// The canary's latency relative to the baseline's.
    pub(super) fn canary_latency(self) -> LatencyShape {
        match self {
            TrafficScenario::LatencyX1_3 => LatencyShape::Scaled(1.3),
            TrafficScenario::Improvement => LatencyShape::Scaled(0.9),
            TrafficScenario::TailP99Plus30 => LatencyShape::SlowTail,
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
