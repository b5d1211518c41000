//! Histogram buckets → latency samples the judge can take.
//!
//! The judge takes `latency_ms: Vec<f64>` samples and bins them itself
//! (`canary::histogram`), testing with a tie-corrected Mann-Whitney. A Prometheus
//! histogram only says how many requests fell in each `le` bucket, so each
//! bucket's count becomes that many *tied* samples at the bucket's upper edge:
//! Mann-Whitney with ties on these samples is exactly the test on the buckets
//! (nothing is invented inside a bucket). The `+Inf` bucket has no edge; its
//! requests are put at 2 × the last finite edge — slower than every finite bucket,
//! which is all the test uses.
//!
//! Counts come from `increase()`, which extrapolates, so they are fractional and
//! can be slightly non-monotone across `le`: per-bucket counts are clamped at 0 and
//! rounded by largest remainder so they add up to the rounded total. When that
//! total is above the cap, the counts are scaled down proportionally to the cap
//! the same way — deterministically (ties go to the lower bucket), so the same
//! answer gives the same samples.

/// Latency samples in milliseconds from cumulative `(le, count)` buckets sorted
/// by `le` (`le` in the unit given by `to_ms`, milliseconds per unit), at most
/// `cap` of them. `None` when no bucket has a finite edge.
pub fn latency_samples(cumulative: &[(f64, f64)], to_ms: f64, cap: usize) -> Option<Vec<f64>> {
    let last_finite = cumulative
        .iter()
        .rev()
        .find(|(le, _)| le.is_finite())
        .map(|(le, _)| le * to_ms)?;
    let mut counts = Vec::with_capacity(cumulative.len());
    let mut below = 0.0_f64;
    for &(_, cum) in cumulative {
        counts.push((cum - below).max(0.0));
        below = below.max(cum);
    }
    let edges: Vec<f64> = cumulative
        .iter()
        .map(|&(le, _)| {
            if le.is_finite() {
                le * to_ms
            } else {
                2.0 * last_finite
            }
        })
        .collect();
    let total: f64 = counts.iter().sum();
    let target = (total.round() as usize).min(cap);
    let whole = apportion(&counts, target);
    Some(
        edges
            .iter()
            .zip(whole)
            .flat_map(|(&edge, n)| std::iter::repeat_n(edge, n))
            .collect(),
    )
}

/// Integers proportional to `weights` that add up to `target` (largest remainder;
/// ties to the lower index).
fn apportion(weights: &[f64], target: usize) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 || target == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| w * target as f64 / sum).collect();
    let mut whole: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let short = target.saturating_sub(whole.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take(short) {
        whole[i] += 1;
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    fn counts_at(samples: &[f64]) -> Vec<(f64, usize)> {
        let mut out: Vec<(f64, usize)> = Vec::new();
        for &s in samples {
            match out.last_mut() {
                Some((edge, n)) if *edge == s => *n += 1,
                _ => out.push((s, 1)),
            }
        }
        out
    }

    #[test]
    fn buckets_become_tied_samples_at_their_upper_edge() {
        let b = [(0.01, 2.0), (0.025, 5.0), (0.05, 5.0), (INF, 6.0)];
        let s = latency_samples(&b, 1_000.0, 2_000).unwrap();
        assert_eq!(counts_at(&s), vec![(10.0, 2), (25.0, 3), (100.0, 1)]);
    }

    #[test]
    fn fractional_and_non_monotone_counts_round_to_the_total() {
        // increase() extrapolates each series on its own: 4.4, 4.3 (dip), 9.6.
        let b = [(10.0, 4.4), (20.0, 4.3), (INF, 9.6)];
        let s = latency_samples(&b, 1.0, 2_000).unwrap();
        // Per bucket 4.4, 0 (clamped), 5.2: 9.6 in all, rounded to 10.
        assert_eq!(counts_at(&s), vec![(10.0, 5), (40.0, 5)]);
    }

    #[test]
    fn large_counts_are_scaled_down_proportionally_and_deterministically() {
        let b = [
            (0.025, 30_000.0),
            (0.05, 39_000.0),
            (0.1, 40_000.0),
            (INF, 40_001.0),
        ];
        let s = latency_samples(&b, 1_000.0, 2_000).unwrap();
        assert_eq!(s.len(), 2_000);
        assert_eq!(counts_at(&s), vec![(25.0, 1_500), (50.0, 450), (100.0, 50)]);
        assert_eq!(latency_samples(&b, 1_000.0, 2_000).unwrap(), s);
    }

    #[test]
    fn no_finite_edge_or_no_requests() {
        assert_eq!(latency_samples(&[(INF, 5.0)], 1.0, 10), None);
        assert_eq!(latency_samples(&[], 1.0, 10), None);
        assert_eq!(
            latency_samples(&[(5.0, 0.0), (INF, 0.0)], 1.0, 10),
            Some(vec![])
        );
    }
}
