//! Simulated canary traffic for the judge benchmark: cheap, seeded, 10 s windows.
//!
//! Counts are drawn in aggregate (Poisson requests, binomial errors) and only a
//! small latency subsample is drawn per version and window, so a 90-minute run
//! costs microseconds per window. Each run is one seeded PCG stream ([`SimRng`]) keyed by
//! (seed, run, scenario, rps) and consumed in a fixed order, so a run is
//! reproducible however far it is read and whichever thread reads it.

use serde::Serialize;

use super::scenario::LatencyShape;
pub use super::scenario::{ScenarioKind, TrafficScenario};
use crate::canary::{MetricsWindow, VersionSample};
use crate::sim::{keyed, Draws, SimRng};

/// Length of the baseline history the judges may calibrate on.
const HISTORY_SECONDS: f64 = 3600.0;
/// Separates the history's random stream from the run's.
const HISTORY_KEY: u64 = 0x4849_5354;

/// z of the standard normal's 98th percentile: the `tail-p99+30` cut.
const Z_98: f64 = 2.053_748_910_631_823;

/// Fixed traffic settings shared by every scenario.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TrafficConfig {
    pub total_rps: f64,
    /// Fraction of requests the canary serves (fixed for the whole run).
    pub canary_share: f64,
    pub baseline_error: f64,
    pub latency_median_ms: f64,
    pub latency_sigma: f64,
    /// Latency samples kept per version and window.
    pub subsample: u64,
    pub window_s: f64,
    pub horizon_s: f64,
}

impl TrafficConfig {
    pub fn new(total_rps: f64) -> Self {
        Self {
            total_rps,
            canary_share: 0.1,
            baseline_error: 0.01,
            latency_median_ms: 80.0,
            latency_sigma: 0.35,
            subsample: 50,
            window_s: 10.0,
            horizon_s: 90.0 * 60.0,
        }
    }

    pub fn windows(&self) -> u64 {
        (self.horizon_s / self.window_s).round() as u64
    }
}

/// One window as the judges see it, plus what the canary really served.
#[derive(Debug, Clone)]
pub struct SimWindow {
    pub window: MetricsWindow,
    /// Canary requests and errors served, whether or not their metrics arrived.
    pub canary_requests: u64,
    pub canary_errors: u64,
}

/// The `noisy-aa` disturbances of the current moment.
#[derive(Debug, Clone, Copy)]
struct Noise {
    /// Diurnal sinusoid phase (radians), drawn per run.
    phase: f64,
    /// Window indices [start, end) of this 10-minute block's error blip.
    blip: (u64, u64),
    /// Per-minute overdispersion factors (stable, canary).
    factors: (f64, f64),
}

/// An iterator over a run's windows.
#[derive(Debug, Clone)]
pub struct Traffic {
    config: TrafficConfig,
    scenario: TrafficScenario,
    rng: SimRng,
    index: u64,
    noise: Noise,
}

impl Traffic {
    pub fn new(config: TrafficConfig, scenario: TrafficScenario, seed: u64, run: u64) -> Self {
        let mut rng = keyed(seed, &[run, scenario.key(), config.total_rps.to_bits()]);
        let phase = rng.uniform() * std::f64::consts::TAU;
        Self {
            config,
            scenario,
            rng,
            index: 0,
            noise: Noise {
                phase,
                blip: (0, 0),
                factors: (1.0, 1.0),
            },
        }
    }

    /// The stable version's hour before the canary started, as the judges may
    /// read it from the metrics store: counts only, same noise process, its own
    /// random stream (so the canary run is the same with or without it).
    pub fn baseline_history(
        config: TrafficConfig,
        scenario: TrafficScenario,
        seed: u64,
        run: u64,
    ) -> Vec<MetricsWindow> {
        let config = TrafficConfig {
            subsample: 0,
            horizon_s: HISTORY_SECONDS,
            ..config
        };
        let mut history = Self::new(config, scenario, seed, run);
        history.rng = keyed(
            seed,
            &[run, scenario.key(), config.total_rps.to_bits(), HISTORY_KEY],
        );
        history
            .map(|w| MetricsWindow {
                start: w.window.start - HISTORY_SECONDS,
                end: w.window.end - HISTORY_SECONDS,
                stable: w.window.stable,
                canary: None,
            })
            .collect()
    }

    /// Redraws the `noisy-aa` state at block and minute starts.
    fn update_noise(&mut self) {
        let windows_per_block = (600.0 / self.config.window_s).round() as u64;
        let windows_per_minute = (60.0 / self.config.window_s).round().max(1.0) as u64;
        let blip_windows = (30.0 / self.config.window_s).round().max(1.0) as u64;
        if self.index.is_multiple_of(windows_per_block.max(1)) {
            // One 30 s blip somewhere in each 10-minute block: "every ~10 min".
            let slots = windows_per_block.saturating_sub(blip_windows) + 1;
            let start = self.index + (self.rng.uniform() * slots as f64) as u64;
            self.noise.blip = (start, start + blip_windows);
        }
        if self.index.is_multiple_of(windows_per_minute) {
            // Mean-one log-normal factors: exp(σZ − σ²/2), σ = 0.3.
            let mut factor = || (0.3 * self.rng.normal() - 0.045_f64).exp();
            self.noise.factors = (factor(), factor());
        }
    }

    /// (traffic multiplier, stable error multiplier, canary error multiplier).
    fn multipliers(&self, mid: f64) -> (f64, f64, f64) {
        if self.scenario != TrafficScenario::NoisyAa {
            return (1.0, 1.0, 1.0);
        }
        let diurnal = 1.0 + 0.5 * (std::f64::consts::TAU * mid / 1800.0 + self.noise.phase).sin();
        let (from, to) = self.noise.blip;
        let blip = if (from..to).contains(&self.index) {
            5.0
        } else {
            1.0
        };
        let (fs, fc) = self.noise.factors;
        (diurnal, blip * fs, blip * fc)
    }

    /// Draws one version's window.
    fn version(&mut self, rps: f64, error: f64, shape: LatencyShape) -> VersionSample {
        let requests = self.rng.poisson(rps * self.config.window_s);
        let errors = self.rng.binomial(requests, error.clamp(0.0, 1.0));
        let k = requests.min(self.config.subsample);
        let (median, sigma) = (self.config.latency_median_ms, self.config.latency_sigma);
        let latency_ms = (0..k)
            .map(|_| {
                let z = self.rng.normal();
                let base = median * (sigma * z).exp();
                match shape {
                    LatencyShape::Scaled(f) => base * f,
                    LatencyShape::SlowTail if z > Z_98 => base * 1.3,
                    LatencyShape::SlowTail => base,
                }
            })
            .collect();
        VersionSample {
            requests,
            errors,
            latency_ms,
        }
    }
}

impl Iterator for Traffic {
    type Item = SimWindow;

    fn next(&mut self) -> Option<SimWindow> {
        if self.index >= self.config.windows() {
            return None;
        }
        if self.scenario == TrafficScenario::NoisyAa {
            self.update_noise();
        }
        let c = self.config;
        let start = self.index as f64 * c.window_s;
        let mid = start + c.window_s / 2.0;
        let (volume, stable_mult, canary_mult) = self.multipliers(mid);
        let rps = c.total_rps * volume;
        let stable = self.version(
            rps * (1.0 - c.canary_share),
            c.baseline_error * stable_mult,
            LatencyShape::Scaled(1.0),
        );
        let canary = self.version(
            rps * c.canary_share,
            self.scenario.canary_error(c.baseline_error, mid) * canary_mult,
            self.scenario.canary_latency(),
        );
        let (canary_requests, canary_errors) = (canary.requests, canary.errors);
        let scrape_lost =
            self.scenario == TrafficScenario::MissingScrapesAa && self.rng.uniform() < 0.2;
        let canary_lost = scrape_lost || self.scenario == TrafficScenario::DeadCanary;
        self.index += 1;
        Some(SimWindow {
            window: MetricsWindow {
                start,
                end: start + c.window_s,
                stable: (!scrape_lost).then_some(stable),
                canary: (!canary_lost).then_some(canary),
            },
            canary_requests,
            canary_errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(scenario: TrafficScenario, rps: f64, runs: u64) -> (f64, f64, f64, f64) {
        let (mut cr, mut ce, mut sr, mut se) = (0u64, 0u64, 0u64, 0u64);
        for run in 0..runs {
            for w in Traffic::new(TrafficConfig::new(rps), scenario, 9, run) {
                cr += w.canary_requests;
                ce += w.canary_errors;
                if let Some(s) = &w.window.stable {
                    sr += s.requests;
                    se += s.errors;
                }
            }
        }
        let minutes = runs as f64 * 90.0;
        (
            cr as f64 / minutes / 60.0,
            ce as f64 / cr.max(1) as f64,
            sr as f64 / minutes / 60.0,
            se as f64 / sr.max(1) as f64,
        )
    }

    #[test]
    fn same_key_same_windows_and_keys_differ() {
        let draw = |scenario, run| {
            Traffic::new(TrafficConfig::new(10.0), scenario, 3, run)
                .map(|w| w.window)
                .collect::<Vec<_>>()
        };
        let a = draw(TrafficScenario::NoisyAa, 1);
        assert_eq!(a.len(), 540);
        assert_eq!(a, draw(TrafficScenario::NoisyAa, 1));
        assert_ne!(a, draw(TrafficScenario::NoisyAa, 2));
        assert_ne!(
            draw(TrafficScenario::Aa, 1),
            draw(TrafficScenario::Improvement, 1)
        );
    }

    #[test]
    fn rates_and_shares_match_the_settings() {
        let (crps, cerr, srps, serr) = totals(TrafficScenario::Aa, 100.0, 4);
        assert!((crps - 10.0).abs() < 0.2, "{crps}");
        assert!((srps - 90.0).abs() < 0.5, "{srps}");
        assert!((cerr - 0.01).abs() < 0.001 && (serr - 0.01).abs() < 0.0005);
        let (_, cerr, _, _) = totals(TrafficScenario::Errors1To5, 100.0, 2);
        assert!((cerr - 0.05).abs() < 0.003, "{cerr}");
        // Noise keeps the mean rates: blips add 3 of 60 windows × 4 extra ≈ +20 %.
        let (crps, cerr, _, serr) = totals(TrafficScenario::NoisyAa, 100.0, 8);
        assert!((crps - 10.0).abs() < 0.5, "{crps}");
        assert!((cerr - 0.012).abs() < 0.0015 && (serr - 0.012).abs() < 0.001);
    }

    #[test]
    fn missing_and_dead_windows() {
        let w: Vec<_> = Traffic::new(
            TrafficConfig::new(100.0),
            TrafficScenario::MissingScrapesAa,
            1,
            0,
        )
        .map(|w| w.window)
        .collect();
        let lost = w.iter().filter(|w| w.canary.is_none()).count() as f64 / w.len() as f64;
        assert!((lost - 0.2).abs() < 0.06, "{lost}");
        assert!(w.iter().all(|w| w.canary.is_none() == w.stable.is_none()));
        let dead: Vec<_> =
            Traffic::new(TrafficConfig::new(100.0), TrafficScenario::DeadCanary, 1, 0).collect();
        assert!(dead
            .iter()
            .all(|w| w.window.canary.is_none() && w.window.stable.is_some()));
        assert!(dead.iter().map(|w| w.canary_requests).sum::<u64>() > 50_000);
    }

    #[test]
    fn latency_shapes() {
        let mut c = TrafficConfig::new(1000.0);
        c.subsample = 10_000;
        let quantiles = |scenario| {
            let mut v: Vec<f64> = Traffic::new(c, scenario, 5, 0)
                .take(20)
                .flat_map(|w| w.window.canary.map(|s| s.latency_ms).unwrap_or_default())
                .collect();
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[(q * (v.len() - 1) as f64) as usize];
            (at(0.5), at(0.99))
        };
        let (m, p99) = quantiles(TrafficScenario::Aa);
        assert!((m - 80.0).abs() < 2.0 && (p99 - 80.0 * (0.35 * 2.326f64).exp()).abs() < 8.0);
        let (tm, tp99) = quantiles(TrafficScenario::TailP99Plus30);
        assert!((tm / m - 1.0).abs() < 0.03, "median {tm} vs {m}");
        assert!((tp99 / p99 - 1.3).abs() < 0.08, "p99 {tp99} vs {p99}");
        let (lm, _) = quantiles(TrafficScenario::LatencyX1_3);
        assert!((lm / m - 1.3).abs() < 0.05);
    }
}
