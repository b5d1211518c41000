//! The Mann-Whitney shift and its confidence interval (Kayenta's port of
//! R's `wilcox.test(conf.int = TRUE)`), and the small statistics around it.

use statrs::distribution::{ContinuousCDF, Normal};

/// Canary median over baseline median; a zero baseline median makes any
/// positive canary median infinitely larger and equal zeros no effect.
pub(super) fn median_ratio(canary: f64, baseline: f64) -> f64 {
    if baseline > 0.0 {
        canary / baseline
    } else if canary > 0.0 {
        f64::INFINITY
    } else {
        1.0
    }
}

pub(super) fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// A confidence interval and estimate of the location shift `x − y`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ShiftInterval {
    pub(super) lower: f64,
    pub(super) upper: f64,
    pub(super) estimate: f64,
}

/// Kayenta's `MannWhitney.mannWhitneyUTest(experiment = x, control = y,
/// confLevel)` (`kayenta-mannwhitney`, after R's `wilcox.test(conf.int =
/// TRUE, exact = FALSE, correct = TRUE)`): the bounds are the shifts `mu` at
/// which the continuity-corrected normal statistic of `x − mu` against `y`
/// equals ∓ z(α/2), the estimate the one where it is 0. Two constant samples
/// (where Kayenta adds a little noise) give their difference. `None` for an
/// empty sample.
pub(super) fn shift_interval(x: &[f64], y: &[f64], confidence: f64) -> Option<ShiftInterval> {
    let (xmin, xmax) = min_max(x)?;
    let (ymin, ymax) = min_max(y)?;
    if xmin == xmax && ymin == ymax {
        let d = xmin - ymin;
        return Some(ShiftInterval {
            lower: d,
            upper: d,
            estimate: d,
        });
    }
    let z = Normal::standard().inverse_cdf((1.0 - confidence) / 2.0);
    let (lo, hi) = (xmin - ymax, xmax - ymin);
    let root = |q: f64| find_root(|mu| wilcoxon_diff(mu, q, x, y), lo, hi);
    Some(ShiftInterval {
        lower: root(-z)?,
        upper: root(z)?,
        estimate: root(0.0)?,
    })
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let mut it = v.iter().copied().filter(|x| x.is_finite());
    let first = it.next()?;
    Some(it.fold((first, first), |(a, b), x| (a.min(x), b.max(x))))
}

/// Kayenta's `wilcoxonDiff`: the standardized rank-sum statistic of `x − mu`
/// against `y` (tie and continuity corrected), minus `q`. Decreasing in `mu`;
/// `None` when every value is tied.
fn wilcoxon_diff(mu: f64, q: f64, x: &[f64], y: &[f64]) -> Option<f64> {
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (v - mu, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (n, m) = (x.len() as f64, y.len() as f64);
    let (mut rank_sum, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let rank = (i + j + 2) as f64 / 2.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        rank_sum += rank * all[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    let dz = rank_sum - n * (n + 1.0) / 2.0 - n * m / 2.0;
    let correction = if dz == 0.0 { 0.0 } else { 0.5 * dz.signum() };
    let sigma = (n * m / 12.0 * ((n + m + 1.0) - ties / ((n + m) * (n + m - 1.0)))).sqrt();
    (sigma > 0.0).then(|| (dz - correction) / sigma - q)
}

/// The root of a decreasing (step) function on `[lo, hi]`, as Kayenta's
/// `findRoot`: `lo` if f(lo) ≤ 0, `hi` if f(hi) ≥ 0, else bisection.
fn find_root(f: impl Fn(f64) -> Option<f64>, mut lo: f64, mut hi: f64) -> Option<f64> {
    if f(lo)? <= 0.0 {
        return Some(lo);
    }
    if f(hi)? >= 0.0 {
        return Some(hi);
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid)? > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi))
}

pub(super) fn median(v: &[f64]) -> Option<f64> {
    super::super::quantile(v, 0.5)
}
