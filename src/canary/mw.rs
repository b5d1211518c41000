//! Mann-Whitney U with tie correction, on raw samples or histogram buckets.
//!
//! Works on (value, count) pairs so Prometheus `_bucket` counts (every request
//! in a bucket tied at its upper bound) and raw latencies go through the same
//! code. O((n + m) log(n + m)) for raw samples, O(buckets) for histograms.
//! statrs has `mannwhitneyu`, but it ranks in O(n²); the tests use it as the
//! independent reference.

use statrs::distribution::{ContinuousCDF, Normal};

/// The result of a one-sided test "canary tends to be larger than baseline".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the canary sample.
    pub u: f64,
    /// Estimated P(canary > baseline) + ½ P(tie): 0.5 means no shift.
    pub auc: f64,
    /// Normal approximation with tie and continuity correction.
    pub z: f64,
    /// One-sided p-value for "canary larger".
    pub p_greater: f64,
    /// Standard error of `auc` under the null.
    pub auc_se: f64,
    pub n_canary: u64,
    pub n_baseline: u64,
}

/// Groups raw samples into sorted (value, count) pairs.
pub fn group(samples: &[f64]) -> Vec<(f64, u64)> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let mut out: Vec<(f64, u64)> = Vec::new();
    for x in v {
        match out.last_mut() {
            Some((last, n)) if *last == x => *n += 1,
            _ => out.push((x, 1)),
        }
    }
    out
}

/// Mann-Whitney on grouped samples (sorted by value, as [`group`] makes them).
/// `None` when either side is empty.
pub fn mann_whitney(canary: &[(f64, u64)], baseline: &[(f64, u64)]) -> Option<MannWhitney> {
    let n: u64 = canary.iter().map(|c| c.1).sum();
    let m: u64 = baseline.iter().map(|c| c.1).sum();
    if n == 0 || m == 0 {
        return None;
    }
    let (mut i, mut j) = (0, 0);
    let mut below = 0u64; // baseline values smaller than the current value
    let mut u = 0.0;
    let mut tie_term = 0.0; // Σ (t³ − t) over tied groups of the pooled sample
    while i < canary.len() || j < baseline.len() {
        let next = match (canary.get(i), baseline.get(j)) {
            (Some(c), Some(b)) => c.0.min(b.0),
            (Some(c), None) => c.0,
            (None, Some(b)) => b.0,
            (None, None) => break,
        };
        let mut c_here = 0u64;
        while i < canary.len() && canary[i].0 == next {
            c_here += canary[i].1;
            i += 1;
        }
        let mut b_here = 0u64;
        while j < baseline.len() && baseline[j].0 == next {
            b_here += baseline[j].1;
            j += 1;
        }
        u += c_here as f64 * (below as f64 + 0.5 * b_here as f64);
        let t = (c_here + b_here) as f64;
        tie_term += t * t * t - t;
        below += b_here;
    }
    let (nf, mf) = (n as f64, m as f64);
    let total = nf + mf;
    let mean = nf * mf / 2.0;
    let var = nf * mf / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)).max(1.0));
    let sd = var.max(0.0).sqrt();
    let (z, p) = if sd > 0.0 {
        // One-sided "greater", continuity corrected as scipy does: U − ½ − mean.
        let z = (u - mean - 0.5) / sd;
        (z, 1.0 - standard_normal_cdf(z))
    } else {
        (0.0, 0.5)
    };
    Some(MannWhitney {
        u,
        auc: u / (nf * mf),
        z,
        p_greater: p,
        auc_se: sd / (nf * mf),
        n_canary: n,
        n_baseline: m,
    })
}

pub fn standard_normal_cdf(z: f64) -> f64 {
    Normal::standard().cdf(z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::stats_tests::mannwhitneyu::{mannwhitneyu, MannWhitneyUMethod};
    use statrs::stats_tests::Alternative;

    #[test]
    fn textbook_example_matches_scipy() {
        // scipy.stats.mannwhitneyu([19,22,16,29,24], [20,11,17,12], alternative="greater",
        // method="asymptotic") → U = 17, p = 0.0556 (continuity corrected).
        let male = [19.0, 22.0, 16.0, 29.0, 24.0];
        let female = [20.0, 11.0, 17.0, 12.0];
        let r = mann_whitney(&group(&male), &group(&female)).unwrap();
        assert_eq!(r.u, 17.0);
        assert!((r.p_greater - 0.0556).abs() < 1e-3, "{r:?}");
    }

    #[test]
    fn agrees_with_statrs_on_tied_data() {
        let x: Vec<f64> = (0..60).map(|i| f64::from((i * 7) % 13)).collect();
        let y: Vec<f64> = (0..45).map(|i| f64::from((i * 5) % 11)).collect();
        let ours = mann_whitney(&group(&x), &group(&y)).unwrap();
        let (u, p) = mannwhitneyu(
            &x,
            &y,
            MannWhitneyUMethod::AsymptoticInclContinuityCorrection,
            Alternative::Greater,
        )
        .unwrap();
        assert!((ours.u - u).abs() < 1e-9, "U {} vs {u}", ours.u);
        assert!(
            (ours.p_greater - p).abs() < 1e-9,
            "p {} vs {p}",
            ours.p_greater
        );
    }

    #[test]
    fn buckets_equal_tied_raw_samples() {
        // Histogram buckets: every request counted at its bucket's bound.
        let canary = [(50.0, 10), (100.0, 30), (250.0, 5)];
        let baseline = [(50.0, 40), (100.0, 50), (250.0, 2)];
        let expand = |b: &[(f64, u64)]| -> Vec<f64> {
            b.iter()
                .flat_map(|(v, n)| std::iter::repeat_n(*v, *n as usize))
                .collect()
        };
        let a = mann_whitney(&canary, &baseline).unwrap();
        let b = mann_whitney(&group(&expand(&canary)), &group(&expand(&baseline))).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn order_invariance_and_symmetry() {
        let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let y = [2.0, 7.0, 1.0, 8.0, 2.0, 8.0];
        let mut xr = x;
        xr.reverse();
        let a = mann_whitney(&group(&x), &group(&y)).unwrap();
        let b = mann_whitney(&group(&xr), &group(&y)).unwrap();
        assert_eq!(a, b);
        let swapped = mann_whitney(&group(&y), &group(&x)).unwrap();
        assert!((a.u + swapped.u - 48.0).abs() < 1e-9, "U + U' = n·m");
        assert!((a.auc + swapped.auc - 1.0).abs() < 1e-12);
    }
}
