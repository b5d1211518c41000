//! Per-repository calibration from the repository's own reverts.
//!
//! Every ancestor in the history window is a labelled example: reverted (a later
//! ancestor says `This reverts commit <sha>`) or not. We fit a logistic model on
//! the features the history walk can compute, as a MAP estimate under a Gaussian
//! prior centred on the policy weights. With few reverts the prior dominates and
//! the weights stay put; with many, they move toward what this repository shows.
//! The policy intercept is kept, so level thresholds keep their meaning.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::sigmoid;

/// What calibration did, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CalibrationReport {
    /// `applied`, `disabled`, or `too_few_reverts`.
    pub status: String,
    /// Ancestors used as examples.
    pub commits: usize,
    /// Of those, how many were reverted.
    pub reverts: usize,
    /// The weights that moved most: (feature, policy weight, calibrated weight).
    pub largest_shifts: Vec<WeightShift>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct WeightShift {
    pub feature: String,
    pub policy_weight: f64,
    pub calibrated_weight: f64,
}

/// Training rows: feature values in `names` order, and labels.
#[derive(Debug, Default, Clone)]
pub struct Examples {
    pub rows: Vec<Vec<f64>>,
    pub labels: Vec<bool>,
}

/// Fits weights for `names` as a MAP logistic regression.
///
/// `prior` gives the prior mean of each weight, `prior_intercept` the intercept's;
/// `strength` is the prior precision on weights (the intercept gets a weak one).
/// A count feature (x often 3–5) moves the score more per unit of weight than a
/// 0/1 feature, so its precision is scaled by its mean square (at least 1): the
/// prior then holds each feature's *effect*, not its raw weight, equally firmly.
/// Newton's method; at most 25 iterations.
pub fn fit(examples: &Examples, prior: &[f64], prior_intercept: f64, strength: f64) -> Vec<f64> {
    let d = prior.len() + 1;
    let mut w: Vec<f64> = std::iter::once(prior_intercept)
        .chain(prior.iter().copied())
        .collect();
    let mean: Vec<f64> = w.clone();
    let n = examples.rows.len().max(1) as f64;
    let precision: Vec<f64> = std::iter::once(1e-2)
        .chain((0..d - 1).map(|j| {
            let mean_square = examples.rows.iter().map(|r| r[j] * r[j]).sum::<f64>() / n;
            strength * mean_square.max(1.0)
        }))
        .collect();
    for _ in 0..25 {
        let mut grad: Vec<f64> = (0..d).map(|j| precision[j] * (w[j] - mean[j])).collect();
        let mut hess = vec![vec![0.0; d]; d];
        for j in 0..d {
            hess[j][j] = precision[j];
        }
        for (row, &label) in examples.rows.iter().zip(&examples.labels) {
            let x = |j: usize| if j == 0 { 1.0 } else { row[j - 1] };
            let z: f64 = (0..d).map(|j| w[j] * x(j)).sum();
            let p = sigmoid(z);
            let r = p - f64::from(u8::from(label));
            let s = p * (1.0 - p);
            let nz: Vec<usize> = (0..d).filter(|&j| x(j) != 0.0).collect();
            for &j in &nz {
                grad[j] += r * x(j);
                for &k in &nz {
                    hess[j][k] += s * x(j) * x(k);
                }
            }
        }
        let Some(step) = solve(hess, grad) else {
            break;
        };
        let mut largest: f64 = 0.0;
        for j in 0..d {
            w[j] -= step[j];
            largest = largest.max(step[j].abs());
        }
        if largest < 1e-6 {
            break;
        }
    }
    w.split_off(1)
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, bottom) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (offset, row) in bottom.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            if f == 0.0 {
                continue;
            }
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// Largest shifts between two weight maps, for the report.
pub fn largest_shifts(
    policy: &BTreeMap<String, f64>,
    calibrated: &BTreeMap<String, f64>,
    n: usize,
) -> Vec<WeightShift> {
    let mut shifts: Vec<WeightShift> = calibrated
        .iter()
        .map(|(k, v)| WeightShift {
            feature: k.clone(),
            policy_weight: policy.get(k).copied().unwrap_or(0.0),
            calibrated_weight: super::model::round(*v, 3),
        })
        .collect();
    shifts.sort_by(|a, b| {
        let da = (a.calibrated_weight - a.policy_weight).abs();
        let db = (b.calibrated_weight - b.policy_weight).abs();
        db.total_cmp(&da)
    });
    shifts.truncate(n);
    shifts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_prior_keeps_weights() {
        let ex = Examples {
            rows: vec![vec![1.0], vec![0.0], vec![1.0], vec![0.0]],
            labels: vec![true, false, false, false],
        };
        let w = fit(&ex, &[0.5], -2.0, 1e6);
        assert!((w[0] - 0.5).abs() < 1e-3, "{w:?}");
    }

    #[test]
    fn signal_moves_weight_toward_data() {
        // Feature present → reverted 50%; absent → 2%: a strong positive effect.
        let mut ex = Examples::default();
        for i in 0..400 {
            let on = i % 4 == 0;
            ex.rows.push(vec![f64::from(u8::from(on))]);
            ex.labels.push(if on { i % 8 == 0 } else { i % 50 == 1 });
        }
        let w = fit(&ex, &[0.0], -2.0, 1.0);
        assert!(w[0] > 2.0, "{w:?}");
    }

    #[test]
    fn solve_small_system() {
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
    }
}
