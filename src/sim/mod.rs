//! The simulated world: a stable and a canary version behind a router, with metrics.
//!
//! It is the default target and metrics backend for simulated rollouts and evals,
//! so it must be cheap (thousands of rollouts per second) and reproducible: every
//! number is a pure function of the seed, the weight history and the queried
//! window (the `draw` submodule says how). The world is shared through an `Arc`; the router
//! ([`SimTraffic`]) writes its weight history and the metrics backend
//! ([`SimMetrics`]) reads it.
//!
//! Time beyond the clock's `now` is extrapolated with the current weight, so a
//! window that reaches into the future can change once the weight changes.

mod draw;
mod endpoints;
pub mod faults;
mod metrics;
mod rng;
mod scenario;
mod traffic;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

pub use draw::BUCKET_SECS;
pub use endpoints::{Endpoint, ENDPOINTS};
pub use rng::{hash_key, keyed, seeded, Draws, SimRng};
pub use scenario::{Scenario, BASELINE_ERROR_RATE};

use crate::canary::{MetricsWindow, VersionSample};
use crate::clock::Clock;
use crate::metrics::MetricsError;
use draw::{Counts, Drawer, Timeline, Version};
pub use metrics::SimMetrics;
pub use traffic::SimTraffic;

/// Longest window (and longest `canary_served` span) the world computes: 7 days,
/// so a stray query cannot loop over millions of buckets.
pub const MAX_WINDOW_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// How the simulated world behaves.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    pub scenario: Scenario,
    pub seed: u64,
    /// Total requests per second over both versions (negative or NaN means none).
    pub rps: f64,
    /// Latency samples per version per window, at most (the rest are not drawn).
    pub max_latency_samples_per_window: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            scenario: Scenario::Healthy,
            seed: 0,
            rps: 200.0,
            max_latency_samples_per_window: 1_000,
        }
    }
}

impl SimConfig {
    /// The defaults with a scenario and a seed, the two things evals vary.
    pub fn new(scenario: Scenario, seed: u64) -> Self {
        Self {
            scenario,
            seed,
            ..Self::default()
        }
    }
}

/// What the router changed, guarded by the world's mutex.
#[derive(Debug, Clone)]
struct State {
    /// `(time, weight)` for every change, time non-decreasing; 0 before the first.
    history: Vec<(f64, u8)>,
    first_traffic: Option<f64>,
    promoted: bool,
    rolled_back: bool,
}

impl State {
    fn weight(&self) -> u8 {
        self.history.last().map_or(0, |&(_, w)| w)
    }

    /// Records `weight` at `now` if it differs from the current one.
    fn set_weight(&mut self, now: f64, weight: u8) {
        if weight == self.weight() {
            return;
        }
        let last = self.history.last().map_or(now, |&(t, _)| t);
        let at = now.max(last);
        self.history.push((at, weight));
        if weight > 0 && self.first_traffic.is_none() {
            self.first_traffic = Some(at);
        }
    }
}

/// The simulated stable and canary versions, their router state and their metrics.
pub struct SimWorld {
    config: SimConfig,
    clock: Arc<dyn Clock>,
    start: f64,
    state: Mutex<State>,
}

impl fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimWorld")
            .field("config", &self.config)
            .field("start", &self.start)
            .field("state", &*self.state())
            .finish_non_exhaustive()
    }
}

impl SimWorld {
    /// A world starting now (on `clock`) with the canary at weight 0.
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Arc<Self> {
        let start = clock.now();
        Arc::new(Self {
            config,
            clock,
            start,
            state: Mutex::new(State {
                history: Vec::new(),
                first_traffic: None,
                promoted: false,
                rolled_back: false,
            }),
        })
    }

    /// The metrics backend reading this world.
    pub fn metrics(self: &Arc<Self>) -> SimMetrics {
        SimMetrics::new(Arc::clone(self))
    }

    /// The router driving this world.
    pub fn traffic(self: &Arc<Self>) -> SimTraffic {
        SimTraffic::new(Arc::clone(self))
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Clock time at which the world was created (the first bucket starts here).
    pub fn start(&self) -> f64 {
        self.start
    }

    /// The current time on the world's clock.
    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    pub fn canary_weight(&self) -> u8 {
        self.state().weight()
    }

    /// The canary weight in effect at clock time `t` (0 before the world began).
    pub fn weight_at(&self, t: f64) -> u8 {
        self.timeline_with(|timeline| timeline.weight_at(t))
    }

    /// Whether the new version is currently promoted (a later weight change or rollback undoes it).
    pub fn promoted(&self) -> bool {
        self.state().promoted
    }

    /// True once `rollback()` was called after the canary had had traffic.
    pub fn rolled_back(&self) -> bool {
        self.state().rolled_back
    }

    /// When the canary first got traffic; scenarios run on time since then.
    pub fn canary_started_at(&self) -> Option<f64> {
        self.state().first_traffic
    }

    /// `(clock time, weight)` for every change, in order; empty while the weight
    /// never left its initial 0. Setting the current weight again records nothing.
    pub fn weight_history(&self) -> Vec<(f64, u8)> {
        self.state().history.clone()
    }

    /// Requests the canary served up to `until` and how many of them failed
    /// ("bad requests served"); the same draws as the metrics, even for `no-data`.
    /// Spans longer than [`MAX_WINDOW_SECS`] after the first traffic are cut there.
    pub fn canary_served(&self, until: f64) -> (u64, u64) {
        let counts = self.drawer_with(|d| match d.timeline.first_traffic {
            Some(first) => d.counts(Version::Canary, first, until.min(first + MAX_WINDOW_SECS)),
            None => Counts::default(),
        });
        (counts.requests, counts.errors)
    }

    /// Metrics for both versions over `[from, to)`: what [`SimMetrics`] returns,
    /// without the async wrapper (handy for benchmarks and evals).
    pub fn window(&self, from: f64, to: f64) -> Result<MetricsWindow, MetricsError> {
        check_window(from, to)?;
        let (stable, canary) = self.drawer_with(|d| {
            let stable = d.counts(Version::Stable, from, to);
            (stable, d.counts(Version::Canary, from, to))
        });
        let missing = self.config.scenario.canary_metrics_missing();
        Ok(MetricsWindow {
            start: from,
            end: to,
            stable: Some(self.sample(Version::Stable, from, to, stable)),
            canary: (!missing).then(|| self.sample(Version::Canary, from, to, canary)),
        })
    }

    fn sample(&self, version: Version, from: f64, to: f64, counts: Counts) -> VersionSample {
        VersionSample {
            requests: counts.requests,
            errors: counts.errors,
            latency_ms: draw::latencies(&self.config, version, from, to, counts.requests),
        }
    }

    /// Sets the canary weight (clamped to 100); a change undoes a promotion.
    pub(crate) fn set_weight(&self, weight: u8) {
        self.set_weight_at(self.clock.now(), weight);
    }

    /// [`SimWorld::set_weight`] taking effect at clock time `at`, which may
    /// lie ahead (a router that applies later than asked) but never before an
    /// earlier change.
    pub(crate) fn set_weight_at(&self, at: f64, weight: u8) {
        let mut state = self.state();
        if weight.min(100) != state.weight() {
            state.promoted = false;
        }
        state.set_weight(at, weight.min(100));
    }

    /// All traffic to the new version, which becomes the stable one.
    pub(crate) fn promote(&self) {
        self.promote_at(self.clock.now());
    }

    /// [`SimWorld::promote`] taking effect at clock time `at`.
    pub(crate) fn promote_at(&self, at: f64) {
        let mut state = self.state();
        state.set_weight(at, 100);
        state.promoted = true;
    }

    /// All traffic back to the stable version.
    pub(crate) fn rollback(&self) {
        self.rollback_at(self.clock.now());
    }

    /// [`SimWorld::rollback`] taking effect at clock time `at`.
    pub(crate) fn rollback_at(&self, at: f64) {
        let mut state = self.state();
        if state.first_traffic.is_some() {
            state.rolled_back = true;
        }
        state.promoted = false;
        state.set_weight(at, 0);
    }

    /// The state, even if a panicking holder poisoned the lock (it holds only plain data).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn timeline_with<R>(&self, f: impl FnOnce(Timeline<'_>) -> R) -> R {
        let state = self.state();
        f(Timeline {
            history: &state.history,
            first_traffic: state.first_traffic,
        })
    }

    fn drawer_with<R>(&self, f: impl FnOnce(&Drawer<'_>) -> R) -> R {
        self.timeline_with(|timeline| {
            f(&Drawer {
                config: &self.config,
                start: self.start,
                timeline,
            })
        })
    }
}

/// Rejects windows the world cannot answer: not finite, inverted, or too long.
fn check_window(from: f64, to: f64) -> Result<(), MetricsError> {
    if !from.is_finite() || !to.is_finite() || to < from {
        return Err(MetricsError::Query(format!(
            "invalid window [{from}, {to})"
        )));
    }
    if to - from > MAX_WINDOW_SECS {
        return Err(MetricsError::Query(format!(
            "window of {} s is longer than the simulator's limit of {MAX_WINDOW_SECS} s",
            to - from
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
