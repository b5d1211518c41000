//! A fixed log-spaced latency histogram: cheap quantiles and a bucketed
//! Mann-Whitney whatever the number of requests.

/// Lower edge of the first bucket, in milliseconds.
const MIN_MS: f64 = 0.5;
/// Buckets per factor of 10 (≈ 4.7 % wide each).
const PER_DECADE: f64 = 50.0;
/// 0.5 ms … 500 s.
const BUCKETS: usize = 300;

/// Counts of latencies in log-spaced buckets.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    fn bucket(ms: f64) -> usize {
        if ms.is_nan() || ms <= MIN_MS {
            return 0;
        }
        (((ms / MIN_MS).log10() * PER_DECADE) as usize).min(BUCKETS - 1)
    }

    /// Upper edge of bucket `i`, in milliseconds.
    pub fn upper(i: usize) -> f64 {
        MIN_MS * 10f64.powf((i + 1) as f64 / PER_DECADE)
    }

    pub fn add(&mut self, ms: f64) {
        if ms.is_finite() {
            self.counts[Self::bucket(ms)] += 1;
            self.total += 1;
        }
    }

    pub fn extend(&mut self, samples: &[f64]) {
        for s in samples {
            self.add(*s);
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The upper edge of the bucket holding quantile `q` (None when empty).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::upper(i));
            }
        }
        Some(Self::upper(BUCKETS - 1))
    }

    /// (bucket upper edge, count) for non-empty buckets, ascending: Mann-Whitney input.
    pub fn pairs(&self) -> Vec<(f64, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (Self::upper(i), *c))
            .collect()
    }

    /// Samples strictly above `threshold` (a bucket edge, so bucket-exact).
    pub fn count_above(samples: &[f64], threshold: f64) -> u64 {
        samples.iter().filter(|s| **s > threshold).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut h = LatencyHistogram::default();
        for i in 1..=1000 {
            h.add(f64::from(i));
        }
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((p50 / 500.0 - 1.0).abs() < 0.05, "{p50}");
        assert!((p99 / 990.0 - 1.0).abs() < 0.05, "{p99}");
        assert_eq!(h.pairs().iter().map(|p| p.1).sum::<u64>(), 1000);
    }
}
