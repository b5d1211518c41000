//! Where a feature value sits in *this* repository's history: its percentile.
//!
//! Raw values do not carry from one repository to another — 400 changed lines
//! is a typical commit in one project and a rare one in another, 30 authors on
//! a file is many in a small project and few in a large one. Percentiles do:
//! measured on the development set, a model over per-repository percentiles
//! ranks an unseen repository's reverts better than one over raw values
//! (benches/devset/risk-model.md). Each feature becomes `CUTS.len()` step
//! indicators (`x` at or above the 20th, 40th, … percentile), so a model over
//! them is additive per feature and every factor's contribution stays visible.

use serde::{Deserialize, Serialize};

/// The percentiles at which each feature steps.
pub const CUTS: [f64; 4] = [0.2, 0.4, 0.6, 0.8];

/// Values kept per feature: enough for percentiles to ±1 %.
const SAMPLE: usize = 4000;

/// Per-feature sorted samples of a repository's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    /// Feature names, in column order.
    pub names: Vec<String>,
    /// For each feature, a sorted, evenly thinned sample of its values.
    pub sorted: Vec<Vec<f64>>,
}

impl Scale {
    /// Learns the scale from rows (each in `names` order).
    pub fn fit(names: &[&str], rows: &[&[f64]]) -> Self {
        let sorted = (0..names.len())
            .map(|j| {
                let mut v: Vec<f64> = rows.iter().map(|r| r[j]).collect();
                v.sort_by(f64::total_cmp);
                thin(v)
            })
            .collect();
        Self {
            names: names.iter().map(|n| n.to_string()).collect(),
            sorted,
        }
    }

    /// Mid-rank percentile of `x` for feature `j`: ties count half, so a value
    /// most commits share (0 reverts, not a migration) sits in the middle of
    /// its tie rather than at its top.
    pub fn percentile(&self, j: usize, x: f64) -> f64 {
        let v = &self.sorted[j];
        if v.is_empty() {
            return 0.5;
        }
        let below = v.partition_point(|y| *y < x);
        let at_or_below = v.partition_point(|y| *y <= x);
        (below as f64 + (at_or_below - below) as f64 / 2.0) / v.len() as f64
    }

    /// The step indicators of one row: `CUTS.len()` per feature.
    pub fn encode(&self, row: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(row.len() * CUTS.len());
        for (j, x) in row.iter().enumerate() {
            let p = self.percentile(j, *x);
            out.extend(CUTS.iter().map(|c| f64::from(u8::from(p >= *c))));
        }
        out
    }
}

/// Names of the encoded columns: `feature≥p20` and so on.
pub fn encoded_names(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| CUTS.iter().map(move |c| format!("{n}≥p{:.0}", c * 100.0)))
        .collect()
}

fn thin(v: Vec<f64>) -> Vec<f64> {
    if v.len() <= SAMPLE {
        return v;
    }
    (0..SAMPLE)
        .map(|i| v[(i * (v.len() - 1)) / (SAMPLE - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_steps() {
        let rows: Vec<Vec<f64>> = (0..100).map(|i| vec![f64::from(i), 0.0]).collect();
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let s = Scale::fit(&["lines", "flag"], &refs);
        assert!((s.percentile(0, 49.0) - 0.495).abs() < 1e-9);
        assert_eq!(s.percentile(0, 1000.0), 1.0);
        // A value every row shares sits at the middle of its tie.
        assert_eq!(s.percentile(1, 0.0), 0.5);
        assert_eq!(
            s.encode(&[90.0, 0.0]),
            vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(s.encode(&[10.0, 1.0])[..4], [0.0, 0.0, 0.0, 0.0]);
        assert_eq!(s.encode(&[10.0, 1.0])[4..], [1.0, 1.0, 1.0, 1.0]);
        assert_eq!(encoded_names(&["a"])[0], "a≥p20");
    }

    #[test]
    fn thinning_keeps_the_shape() {
        let rows: Vec<Vec<f64>> = (0..20_000).map(|i| vec![f64::from(i)]).collect();
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let s = Scale::fit(&["x"], &refs);
        assert_eq!(s.sorted[0].len(), SAMPLE);
        assert!((s.percentile(0, 5_000.0) - 0.25).abs() < 0.01);
    }
}
