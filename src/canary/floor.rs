//! `FloorTest`: evidence that the canary's error rate is below an absolute
//! floor that policy declares harmless (`error_rate_floor`). It lets a service
//! whose errors are too rare for a ratio to mean anything pass — a relative
//! test cannot pass a canary when neither version fails — without the
//! judge assuming any particular baseline rate: the floor is a stated policy
//! choice, and the relative test still decides everything above it.
//!
//! An e-value against "the canary's rate is at least `floor`": a mixture of
//! likelihood ratios of lower rates (0, ¼ and ½ of the floor) against the floor
//! itself. Each is a supermartingale under any rate ≥ the floor (the
//! likelihood ratio is monotone in the rate), so Ville's inequality holds. Each
//! window is tempered by the same predictable dispersion as the ratio test.

/// Alternatives as fractions of the floor, and their weights.
const MIXTURE: [(f64, f64); 3] = [(0.0, 0.5), (0.25, 0.25), (0.5, 0.25)];

/// A sequential test of "the canary's event rate is below `floor`".
#[derive(Debug, Clone)]
pub struct FloorTest {
    floor: f64,
    logs: [f64; 3],
}

impl FloorTest {
    /// `floor` outside (0, 1) disables the test (its e-value stays 0).
    pub fn new(floor: f64) -> Self {
        Self {
            floor,
            logs: if floor > 0.0 && floor < 1.0 {
                [0.0; 3]
            } else {
                [f64::NEG_INFINITY; 3]
            },
        }
    }

    pub fn floor(&self) -> f64 {
        self.floor
    }

    /// Adds a window of `n` canary requests with `k` events, tempered by `phi` ≥ 1.
    pub fn add(&mut self, n: u64, k: u64, phi: f64) {
        let (n, k, f) = (n as f64, k as f64, self.floor);
        for (log, (fraction, _)) in self.logs.iter_mut().zip(MIXTURE) {
            if !log.is_finite() {
                continue;
            }
            let p = fraction * f;
            let step = if p == 0.0 {
                if k > 0.0 {
                    f64::NEG_INFINITY
                } else {
                    -n * (1.0 - f).ln()
                }
            } else {
                k * (p / f).ln() + (n - k) * ((1.0 - p) / (1.0 - f)).ln()
            };
            *log += step / phi.max(1.0);
        }
    }

    pub fn evalue(&self) -> f64 {
        MIXTURE
            .iter()
            .zip(self.logs)
            .map(|((_, w), l)| w * l.min(700.0).exp())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{seeded, Draws};

    #[test]
    fn an_error_free_canary_passes_after_enough_requests() {
        let mut t = FloorTest::new(0.001);
        t.add(5_000, 0, 1.0);
        assert!(t.evalue() > 50.0, "{}", t.evalue());
        assert!(t.evalue() < 100.0, "{}", t.evalue());
        t.add(2_000, 0, 1.0);
        assert!(t.evalue() > 500.0, "{}", t.evalue());
    }

    /// A canary at the floor passes in at most ≈β of runs, looked at every window.
    #[test]
    fn a_canary_at_the_floor_rarely_passes() {
        let mut rng = seeded(9);
        let (runs, beta) = (1_000, 0.05);
        let mut passed = 0;
        for _ in 0..runs {
            let mut t = FloorTest::new(0.002);
            for _ in 0..300 {
                let n = rng.poisson(200.0);
                t.add(n, rng.binomial(n, 0.002), 1.0);
                if t.evalue() >= 1.0 / beta {
                    passed += 1;
                    break;
                }
            }
        }
        let rate = f64::from(passed) / f64::from(runs);
        assert!(rate <= beta, "passed {rate} of runs at the floor");
    }

    #[test]
    fn disabled_floor_never_passes() {
        let mut t = FloorTest::new(0.0);
        t.add(1_000_000, 0, 1.0);
        assert_eq!(t.evalue(), 0.0);
    }
}
