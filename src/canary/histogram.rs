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
        self.quantile_bucket(q).map(Self::upper)
    }

    /// The index of the bucket holding quantile `q` (None when empty).
    pub fn quantile_bucket(&self, q: f64) -> Option<usize> {
        if self.total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(i);
            }
        }
        Some(BUCKETS - 1)
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

    /// The first bucket of "the slowest 1 − q": the buckets above the one holding
    /// quantile `q` when they hold at least a quarter of that share (fine-grained
    /// data), else that bucket too. With latencies from coarse Prometheus buckets
    /// (every sample at a `le` edge) "above the p99 bucket" almost never happens
    /// and a tail test on it could never pass. Both versions are counted the
    /// same way, so the test stays valid whatever the event's base rate.
    pub fn tail_start(&self, q: f64) -> Option<usize> {
        let b = self.quantile_bucket(q)?;
        let above: u64 = self.counts[b + 1..].iter().sum();
        let wanted = (1.0 - q.clamp(0.0, 1.0)) / 4.0 * self.total as f64;
        Some(if above as f64 >= wanted { b + 1 } else { b })
    }

    /// Samples in bucket `bucket` or above.
    pub fn count_from_bucket(samples: &[f64], bucket: usize) -> u64 {
        samples
            .iter()
            .filter(|s| Self::bucket(**s) >= bucket)
            .count() as u64
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

    #[test]
    fn bucketed_samples_at_the_quantile_edge_count_as_tail() {
        // Prometheus-style: 97 % at 50 ms, 3 % at 100 ms (the p99 bucket is the
        // slowest one), so nothing lies above it.
        let mut samples = vec![50.0; 97];
        samples.extend([100.0; 3]);
        let mut h = LatencyHistogram::default();
        h.extend(&samples);
        let p99 = h.quantile(0.99).unwrap();
        assert_eq!(samples.iter().filter(|s| **s > p99).count(), 0);
        let start = h.tail_start(0.99).unwrap();
        assert_eq!(LatencyHistogram::count_from_bucket(&samples, start), 3);
        // Fine-grained data (log-uniform, like a latency tail) keeps "strictly
        // above the quantile's bucket", close to the intended 1 %.
        let fine: Vec<f64> = (0..1000).map(|i| 1.01_f64.powi(i)).collect();
        let mut f = LatencyHistogram::default();
        f.extend(&fine);
        let slow = LatencyHistogram::count_from_bucket(&fine, f.tail_start(0.99).unwrap());
        assert!((3..=10).contains(&slow), "{slow}");
    }
}
