//! Turning the weight history and the scenario into request, error and latency counts.
//!
//! Time is cut into fixed buckets of [`BUCKET_SECS`] from the world's start. Each
//! (bucket, version) draws its totals from its own PRNG stream keyed by
//! (seed, bucket index, version), so no number depends on which windows were asked
//! before, or in what order:
//! - requests ~ Poisson(rps × exposure), where exposure is the version's traffic
//!   share integrated over the whole bucket (a weight change inside a bucket is
//!   prorated by time);
//! - errors ~ Binomial(requests, p), with p the version's error rate at the
//!   bucket's midpoint.
//!
//! A window that cuts a bucket takes the bucket's requests that fall inside it,
//! treating them as spread evenly over the bucket's exposure, and its errors as
//! spread evenly among its requests. Windows are therefore additive: `[a, b)` plus
//! `[b, c)` gives exactly `[a, c)`, and errors never exceed requests.
//!
//! Latencies are drawn per window from a stream keyed by the window's bounds, at
//! most the configured cap per version, because no scenario's latency changes with
//! time; drawing one per request would cost far too much.

use super::rng::{keyed, Draws};
use super::scenario::{BASELINE_LATENCY_MEDIAN_MS, LATENCY_SIGMA};
use super::SimConfig;

/// Width of one draw bucket, in seconds.
pub const BUCKET_SECS: f64 = 10.0;

/// Stream tag for latency draws, kept apart from bucket indices.
const LATENCY_STREAM: u64 = 0x4C41_5445_4E43_5900;
/// Stream tags for the noisy scenario's per-minute factors and blips.
const NOISE_STREAM: u64 = 0x4E4F_4953_4500_0000;
const BLIP_STREAM: u64 = 0x424C_4950_0000_0000;
/// Noisy scenario: log-sd of the per-minute factor, blip length, factor and period.
const NOISE_SIGMA: f64 = 0.3;
const BLIP_SECS: f64 = 30.0;
const BLIP_FACTOR: f64 = 5.0;
const BLIP_PERIOD_SECS: f64 = 600.0;

/// One of the two versions the world serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Stable,
    Canary,
}

impl Version {
    fn tag(self) -> u64 {
        match self {
            Version::Stable => 1,
            Version::Canary => 2,
        }
    }
}

/// Requests and errors of one version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.requests += other.requests;
        self.errors += other.errors;
    }

    /// The part of a bucket's totals between cumulative-exposure fractions `lo` and `hi`.
    fn between(self, lo: f64, hi: f64) -> Counts {
        let (first, end) = (self.request_index(lo), self.request_index(hi));
        Counts {
            requests: end - first,
            errors: self.errors_before(end) - self.errors_before(first),
        }
    }

    /// How many requests lie before fraction `x`, request `i` sitting at `(i + ½) / n`.
    fn request_index(self, x: f64) -> u64 {
        evenly_spaced_before(x * self.requests as f64, self.requests)
    }

    /// How many errors lie among the first `m` requests, errors spread evenly among them.
    fn errors_before(self, m: u64) -> u64 {
        if self.requests == 0 {
            return 0;
        }
        let scaled = (m as f64 * self.errors as f64) / self.requests as f64;
        evenly_spaced_before(scaled, self.errors)
    }
}

/// Count of points `j + ½` (`j < n`) below `x`.
fn evenly_spaced_before(x: f64, n: u64) -> u64 {
    let k = (x - 0.5).ceil();
    if k.is_nan() || k <= 0.0 {
        0
    } else {
        (k as u64).min(n)
    }
}

/// The canary's weight over time, as the world recorded it.
#[derive(Debug, Clone, Copy)]
pub struct Timeline<'a> {
    /// `(time, weight)` entries, time non-decreasing, each in effect until the next.
    /// Before the first entry the weight is 0.
    pub history: &'a [(f64, u8)],
    /// When the canary first had a weight above 0.
    pub first_traffic: Option<f64>,
}

impl Timeline<'_> {
    /// The weight in effect at `t`.
    pub fn weight_at(&self, t: f64) -> u8 {
        let i = self.history.partition_point(|&(at, _)| at <= t);
        i.checked_sub(1).map_or(0, |i| self.history[i].1)
    }

    /// `version`'s traffic share integrated over `[a, b)`, in seconds.
    fn exposure(&self, version: Version, a: f64, b: f64) -> f64 {
        if b <= a {
            return 0.0;
        }
        let canary = self.canary_exposure(a, b);
        match version {
            Version::Canary => canary,
            Version::Stable => ((b - a) - canary).max(0.0),
        }
    }

    fn canary_exposure(&self, a: f64, b: f64) -> f64 {
        let mut i = self.history.partition_point(|&(at, _)| at <= a);
        let mut weight = i.checked_sub(1).map_or(0, |j| self.history[j].1);
        let (mut from, mut acc) = (a, 0.0);
        while let Some(&(at, next)) = self.history.get(i).filter(|&&(at, _)| at < b) {
            acc += f64::from(weight) * (at - from);
            (from, weight, i) = (at, next, i + 1);
        }
        (acc + f64::from(weight) * (b - from)) / 100.0
    }
}

/// Everything a draw depends on: the configuration, the world's start and its timeline.
#[derive(Debug, Clone, Copy)]
pub struct Drawer<'a> {
    pub config: &'a SimConfig,
    pub start: f64,
    pub timeline: Timeline<'a>,
}

impl Drawer<'_> {
    /// `version`'s requests and errors over `[from, to)`.
    pub fn counts(&self, version: Version, from: f64, to: f64) -> Counts {
        let mut total = Counts::default();
        if to.partial_cmp(&from) != Some(std::cmp::Ordering::Greater) {
            return total;
        }
        let first = ((from - self.start) / BUCKET_SECS).floor() as i64;
        let end = ((to - self.start) / BUCKET_SECS).ceil() as i64;
        for bucket in first..end {
            total.add(self.bucket_counts(version, bucket, from, to));
        }
        total
    }

    fn bucket_start(&self, bucket: i64) -> f64 {
        self.start + bucket as f64 * BUCKET_SECS
    }

    /// The part of one bucket's draws that falls inside `[from, to)`.
    fn bucket_counts(&self, version: Version, bucket: i64, from: f64, to: f64) -> Counts {
        let begin = self.bucket_start(bucket);
        let end = begin + BUCKET_SECS;
        let (lo, hi) = (from.max(begin), to.min(end));
        if hi <= lo {
            return Counts::default();
        }
        let full = self.timeline.exposure(version, begin, end);
        if full <= 0.0 {
            return Counts::default();
        }
        let totals = self.bucket_totals(version, bucket, full, begin + BUCKET_SECS / 2.0);
        if lo <= begin && hi >= end {
            return totals;
        }
        let fraction = |t| self.timeline.exposure(version, begin, t) / full;
        totals.between(fraction(lo), fraction(hi))
    }

    /// The whole bucket's draws, from the bucket's own stream.
    fn bucket_totals(&self, version: Version, bucket: i64, exposure: f64, mid: f64) -> Counts {
        let mut rng = keyed(self.config.seed, &[bucket as u64, version.tag()]);
        let requests = rng.poisson(self.config.rps.max(0.0) * exposure);
        let errors = rng.binomial(requests, self.error_rate(version, mid));
        Counts { requests, errors }
    }

    /// `version`'s error probability at time `t`.
    fn error_rate(&self, version: Version, t: f64) -> f64 {
        let base = self.base_error_rate(version, t);
        if self.config.scenario.is_noisy() {
            (base * self.noise(version, t)).min(1.0)
        } else {
            base
        }
    }

    /// The noisy scenario's multiplier: a mean-one log-normal factor per
    /// (minute, version) and a blip shared by both versions, each from its own
    /// stream keyed by time so any window sees the same noise.
    fn noise(&self, version: Version, t: f64) -> f64 {
        let since = t - self.start;
        let minute = (since / 60.0).floor() as i64 as u64;
        let mut rng = keyed(self.config.seed, &[NOISE_STREAM, minute, version.tag()]);
        let factor = (NOISE_SIGMA * rng.normal() - NOISE_SIGMA * NOISE_SIGMA / 2.0).exp();
        let period = (since / BLIP_PERIOD_SECS).floor();
        let mut blip_rng = keyed(self.config.seed, &[BLIP_STREAM, period as i64 as u64]);
        let blip_start =
            period * BLIP_PERIOD_SECS + blip_rng.uniform() * (BLIP_PERIOD_SECS - BLIP_SECS);
        let in_blip = (blip_start..blip_start + BLIP_SECS).contains(&since);
        factor * if in_blip { BLIP_FACTOR } else { 1.0 }
    }

    fn base_error_rate(&self, version: Version, t: f64) -> f64 {
        let since = self.timeline.first_traffic.map_or(0.0, |first| t - first);
        match version {
            Version::Stable => self.config.scenario.stable_error_rate(since),
            Version::Canary => self.config.scenario.canary_error_rate(since),
        }
    }
}

/// Latency samples (ms) for `version` over `[from, to)`: `min(requests, cap)` of them.
pub fn latencies(
    config: &SimConfig,
    version: Version,
    from: f64,
    to: f64,
    requests: u64,
) -> Vec<f64> {
    let n = usize::try_from(requests).map_or(config.max_latency_samples_per_window, |r| {
        r.min(config.max_latency_samples_per_window)
    });
    let key = [LATENCY_STREAM ^ version.tag(), from.to_bits(), to.to_bits()];
    let mut rng = keyed(config.seed, &key);
    let median = match version {
        Version::Stable => BASELINE_LATENCY_MEDIAN_MS,
        Version::Canary => BASELINE_LATENCY_MEDIAN_MS * config.scenario.canary_latency_factor(),
    };
    (0..n)
        .map(|_| rng.lognormal(median, LATENCY_SIGMA))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Scenario;

    fn config(scenario: Scenario) -> SimConfig {
        SimConfig {
            scenario,
            seed: 11,
            ..SimConfig::default()
        }
    }

    #[test]
    fn exposure_integrates_the_weight_history() {
        let history = [(0.0, 0), (5.0, 50), (15.0, 100), (15.0, 20)];
        let t = Timeline {
            history: &history,
            first_traffic: Some(5.0),
        };
        assert_eq!(t.weight_at(-1.0), 0);
        assert_eq!(t.weight_at(5.0), 50);
        assert_eq!(t.weight_at(15.0), 20);
        assert!((t.exposure(Version::Canary, 0.0, 10.0) - 2.5).abs() < 1e-12);
        assert!((t.exposure(Version::Stable, 0.0, 10.0) - 7.5).abs() < 1e-12);
        assert!((t.exposure(Version::Canary, 10.0, 20.0) - 3.5).abs() < 1e-12);
        assert_eq!(t.exposure(Version::Canary, 3.0, 3.0), 0.0);
    }

    #[test]
    fn splitting_a_bucket_keeps_errors_within_requests_and_sums_exactly() {
        let totals = Counts {
            requests: 37,
            errors: 11,
        };
        let cuts = [0.0, 0.013, 0.2, 0.5, 0.51, 0.77, 0.999, 1.0];
        let mut sum = Counts::default();
        for pair in cuts.windows(2) {
            let part = totals.between(pair[0], pair[1]);
            assert!(part.errors <= part.requests, "{pair:?}: {part:?}");
            sum.add(part);
        }
        assert_eq!(sum, totals);
    }

    #[test]
    fn windows_are_additive_across_cuts_inside_buckets() {
        let history = [(100.0, 0), (133.0, 25), (251.7, 60)];
        let cfg = config(Scenario::ErrorSpike);
        let d = Drawer {
            config: &cfg,
            start: 100.0,
            timeline: Timeline {
                history: &history,
                first_traffic: Some(133.0),
            },
        };
        for v in [Version::Stable, Version::Canary] {
            let whole = d.counts(v, 95.0, 713.3);
            let mut parts = d.counts(v, 95.0, 212.345);
            parts.add(d.counts(v, 212.345, 500.0));
            parts.add(d.counts(v, 500.0, 713.3));
            assert_eq!(whole, parts, "{v:?}");
        }
    }

    #[test]
    fn latencies_are_capped_and_deterministic() {
        let cfg = config(Scenario::LatencyRegression);
        let a = latencies(&cfg, Version::Canary, 0.0, 300.0, 10_000);
        assert_eq!(a.len(), cfg.max_latency_samples_per_window);
        assert_eq!(a, latencies(&cfg, Version::Canary, 0.0, 300.0, 10_000));
        assert_eq!(latencies(&cfg, Version::Canary, 0.0, 300.0, 7).len(), 7);
        assert!(latencies(&cfg, Version::Stable, 0.0, 300.0, 0).is_empty());
    }
}
