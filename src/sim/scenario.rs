//! What the simulated canary does: one scenario per failure mode the loop must handle.
//!
//! Behaviour is a function of *canary time*, the seconds since the canary first got
//! traffic, so a scenario unfolds the same way however long the rollout waited
//! before its first step.

use std::fmt;

/// Error rate of the stable version (and of a healthy canary).
pub const BASELINE_ERROR_RATE: f64 = 0.005;
/// Median latency of the stable version, in milliseconds.
pub const BASELINE_LATENCY_MEDIAN_MS: f64 = 80.0;
/// Log-scale spread of every version's latency.
pub const LATENCY_SIGMA: f64 = 0.35;
/// Error rate of a spiking (or flapping, in its bad phase) canary.
pub const SPIKE_ERROR_RATE: f64 = 0.06;
/// Latency factor of a latency-regressed canary.
pub const LATENCY_REGRESSION_FACTOR: f64 = 1.6;
/// The mild latency regression: the canary is 30 % slower.
pub const LATENCY_MILD_FACTOR: f64 = 1.3;
/// Slow degradation: added error rate per second of canary time (1 point per 5 minutes).
pub const DEGRADATION_PER_SEC: f64 = 0.01 / 300.0;
/// Slow degradation never exceeds this error rate.
pub const DEGRADATION_CAP: f64 = 0.30;
/// Flapping: seconds of canary time in each phase (good first, then bad).
pub const FLAP_PERIOD_SECS: f64 = 120.0;
/// A canary-only burst: its error rate, and when it happens in canary time.
pub const BURST_ERROR_RATE: f64 = 0.20;
pub const BURST_FROM_SECS: f64 = 180.0;
pub const BURST_SECS: f64 = 90.0;

/// How the simulated canary behaves.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// The canary behaves exactly like the baseline.
    #[default]
    Healthy,
    /// The canary fails 6% of requests from its first request.
    ErrorSpike,
    /// The canary is 1.6 times slower (median 128 ms instead of 80 ms).
    LatencyRegression,
    /// The canary's error rate grows by one point every 5 minutes (capped at 30%).
    SlowDegradation,
    /// The canary is healthy but its metrics are missing.
    NoData,
    /// The canary's error rate alternates between 0.5% and 6% every 2 minutes.
    Flapping,
    /// The canary is healthy on a noisy service: each version's error rate
    /// wanders minute by minute (±30 %), and a 30 s blip (×5) hits both every 10 minutes.
    NoisyHealthy,
    /// The canary fails twice as often as the baseline (1% instead of 0.5%).
    ErrorDouble,
    /// The canary alone fails 20% of requests for 90 s, 3 minutes in.
    CanaryBurst,
    /// The canary is healthy while the baseline degrades (+1 point of errors per
    /// 5 minutes): a relative judge must not blame the canary.
    BaselineDegrades,
    /// The canary is 30 % slower (median 104 ms instead of 80 ms).
    LatencyMild,
    /// The canary's overall error rate matches the baseline's, but 10 % of its
    /// checkouts fail to complete instead of 2 % (`endpoint:/checkout` in the
    /// sim's catalogue): only a rollout that judges that metric catches it.
    EndpointRegression,
}

impl Scenario {
    pub const ALL: [Scenario; 12] = [
        Scenario::Healthy,
        Scenario::ErrorSpike,
        Scenario::LatencyRegression,
        Scenario::SlowDegradation,
        Scenario::NoData,
        Scenario::Flapping,
        Scenario::NoisyHealthy,
        Scenario::ErrorDouble,
        Scenario::CanaryBurst,
        Scenario::BaselineDegrades,
        Scenario::LatencyMild,
        Scenario::EndpointRegression,
    ];

    /// The kebab-case name, as on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::ErrorSpike => "error-spike",
            Scenario::LatencyRegression => "latency-regression",
            Scenario::SlowDegradation => "slow-degradation",
            Scenario::NoData => "no-data",
            Scenario::Flapping => "flapping",
            Scenario::NoisyHealthy => "noisy-healthy",
            Scenario::ErrorDouble => "error-double",
            Scenario::CanaryBurst => "canary-burst",
            Scenario::BaselineDegrades => "baseline-degrades",
            Scenario::LatencyMild => "latency-mild",
            Scenario::EndpointRegression => "endpoint-regression",
        }
    }

    /// One line for people (reports, `--help`).
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Healthy => "canary behaves like the baseline (0.5% errors, median 80 ms)",
            Scenario::ErrorSpike => "canary fails 6% of requests instead of 0.5%",
            Scenario::LatencyRegression => "canary is 1.6x slower (median 128 ms instead of 80 ms)",
            Scenario::SlowDegradation => {
                "canary error rate starts at 0.5% and grows 1 point per 5 minutes (cap 30%)"
            }
            Scenario::NoData => "canary is healthy but its metrics are missing",
            Scenario::Flapping => "canary error rate alternates 0.5% / 6% every 120 s",
            Scenario::NoisyHealthy => {
                "healthy canary on a noisy service: per-minute ±30% error-rate noise per version, 30 s ×5 blips on both"
            }
            Scenario::ErrorDouble => "canary fails 1% of requests instead of 0.5%",
            Scenario::CanaryBurst => "canary alone fails 20% of requests for 90 s, 3 minutes in",
            Scenario::BaselineDegrades => {
                "healthy canary while the baseline's error rate grows 1 point per 5 minutes"
            }
            Scenario::LatencyMild => "canary is 1.3x slower (median 104 ms instead of 80 ms)",
            Scenario::EndpointRegression => {
                "canary's overall error rate is the baseline's, but 10% of its checkouts fail instead of 2% (endpoint:/checkout)"
            }
        }
    }

    /// Ground truth for scoring evals: whether the new version is fit to promote.
    /// `no-data` is healthy, yet a careful loop still must not promote it blind.
    pub fn canary_is_healthy(self) -> bool {
        matches!(
            self,
            Scenario::Healthy
                | Scenario::NoData
                | Scenario::NoisyHealthy
                | Scenario::BaselineDegrades
        )
    }

    /// Whether the canary's metrics are missing (the window's canary is `None`).
    pub fn canary_metrics_missing(self) -> bool {
        self == Scenario::NoData
    }

    /// The canary's error probability after `canary_secs` seconds of canary time.
    pub fn canary_error_rate(self, canary_secs: f64) -> f64 {
        let t = canary_secs.max(0.0);
        match self {
            Scenario::Healthy
            | Scenario::LatencyRegression
            | Scenario::LatencyMild
            | Scenario::NoData
            | Scenario::NoisyHealthy
            | Scenario::BaselineDegrades
            | Scenario::EndpointRegression => BASELINE_ERROR_RATE,
            Scenario::ErrorSpike => SPIKE_ERROR_RATE,
            Scenario::ErrorDouble => 2.0 * BASELINE_ERROR_RATE,
            Scenario::CanaryBurst => {
                if (BURST_FROM_SECS..BURST_FROM_SECS + BURST_SECS).contains(&t) {
                    BURST_ERROR_RATE
                } else {
                    BASELINE_ERROR_RATE
                }
            }
            Scenario::SlowDegradation => {
                (BASELINE_ERROR_RATE + DEGRADATION_PER_SEC * t).min(DEGRADATION_CAP)
            }
            Scenario::Flapping => {
                let bad_phase = (t / FLAP_PERIOD_SECS).floor() as u64 % 2 == 1;
                if bad_phase {
                    SPIKE_ERROR_RATE
                } else {
                    BASELINE_ERROR_RATE
                }
            }
        }
    }

    /// The stable version's error probability after `canary_secs` seconds of
    /// canary time (it degrades only in `baseline-degrades`).
    pub fn stable_error_rate(self, canary_secs: f64) -> f64 {
        match self {
            Scenario::BaselineDegrades => (BASELINE_ERROR_RATE
                + DEGRADATION_PER_SEC * canary_secs.max(0.0))
            .min(DEGRADATION_CAP),
            _ => BASELINE_ERROR_RATE,
        }
    }

    /// Whether error rates carry per-minute noise and common blips.
    pub fn is_noisy(self) -> bool {
        self == Scenario::NoisyHealthy
    }

    /// The canary's latency relative to the baseline's (time-invariant in every scenario).
    pub fn canary_latency_factor(self) -> f64 {
        match self {
            Scenario::LatencyRegression => LATENCY_REGRESSION_FACTOR,
            Scenario::LatencyMild => LATENCY_MILD_FACTOR,
            _ => 1.0,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_agree_across_as_str_clap_and_serde() {
        for s in Scenario::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Scenario>(&json).unwrap(), s);
            assert_eq!(Scenario::from_str(s.as_str(), false).unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
            assert!(!s.describe().is_empty());
        }
        assert_eq!(Scenario::value_variants().len(), Scenario::ALL.len());
    }

    #[test]
    fn error_rates_follow_canary_time() {
        assert_eq!(
            Scenario::Healthy.canary_error_rate(1e4),
            BASELINE_ERROR_RATE
        );
        assert_eq!(
            Scenario::ErrorSpike.canary_error_rate(0.0),
            SPIKE_ERROR_RATE
        );
        let slow = Scenario::SlowDegradation;
        assert!((slow.canary_error_rate(300.0) - 0.015).abs() < 1e-12);
        assert!((slow.canary_error_rate(1500.0) - 0.055).abs() < 1e-12);
        assert_eq!(slow.canary_error_rate(1e6), DEGRADATION_CAP);
        assert_eq!(slow.canary_error_rate(-5.0), BASELINE_ERROR_RATE);
        let flap = Scenario::Flapping;
        assert_eq!(flap.canary_error_rate(60.0), BASELINE_ERROR_RATE);
        assert_eq!(flap.canary_error_rate(180.0), SPIKE_ERROR_RATE);
        assert_eq!(flap.canary_error_rate(300.0), BASELINE_ERROR_RATE);
    }

    #[test]
    fn only_latency_regression_is_slower_and_only_no_data_is_missing() {
        for s in Scenario::ALL {
            let slower = s.canary_latency_factor() > 1.0;
            assert_eq!(
                slower,
                matches!(s, Scenario::LatencyRegression | Scenario::LatencyMild)
            );
            assert_eq!(s.canary_metrics_missing(), s == Scenario::NoData);
        }
    }
}
