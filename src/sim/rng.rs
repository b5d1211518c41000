//! A small seedable PRNG and the few distributions the simulator draws from.
//!
//! Hand-written because the crate takes no `rand` dependency. SplitMix64 is used
//! because its whole state is one `u64`: the simulator re-creates a stream from a
//! key (seed, bucket, version) on every query, so seeding must cost nothing.
//! The distributions trade exactness for speed where the simulator can afford it
//! (normal approximations for large means), because evals run thousands of
//! simulated rollouts per second.

/// The golden-ratio increment of SplitMix64.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Means at or above this use the normal approximation to the Poisson.
const POISSON_NORMAL_FROM: f64 = 30.0;

/// `n·p` at or above this uses the normal approximation to the binomial.
const BINOMIAL_NORMAL_FROM: f64 = 10.0;

/// SplitMix64's output function: a strong 64-bit mixer, also used to hash keys.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a seed and a key path into a stream seed. Order matters, so
/// `[bucket, version]` and `[version, bucket]` name different streams.
pub fn hash_key(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix64(seed ^ GOLDEN), |h, &p| {
        mix64(h.rotate_left(17) ^ mix64(p.wrapping_add(GOLDEN)))
    })
}

/// SplitMix64 with a cached second normal deviate (the polar method yields two).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
    spare_normal: Option<f64>,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare_normal: None,
        }
    }

    /// The stream named by `seed` and `parts` (see [`hash_key`]).
    pub fn from_key(seed: u64, parts: &[u64]) -> Self {
        Self::new(hash_key(seed, parts))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    fn next_open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal, by Marsaglia's polar method (no trigonometry, two per round).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.next_f64() - 1.0;
            let v = 2.0 * self.next_f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = (-2.0 * s.ln() / s).sqrt();
                self.spare_normal = Some(v * m);
                return u * m;
            }
        }
    }

    /// Log-normal with the given median and log-scale sigma.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Poisson(mean): Knuth's product method for small means, a rounded normal otherwise.
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if mean.is_nan() || mean <= 0.0 {
            return 0;
        }
        if mean >= POISSON_NORMAL_FROM {
            return round_nonnegative(mean + mean.sqrt() * self.normal());
        }
        let limit = (-mean).exp();
        let mut product = self.next_open01();
        let mut k = 0;
        while product > limit {
            product *= self.next_open01();
            k += 1;
        }
        k
    }

    /// Binomial(n, p): sequential inversion when `n·p` is small, a rounded normal otherwise.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p.is_nan() || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if p > 0.5 {
            return n - self.binomial(n, 1.0 - p);
        }
        let mean = n as f64 * p;
        if mean >= BINOMIAL_NORMAL_FROM {
            let sd = (mean * (1.0 - p)).sqrt();
            return round_nonnegative(mean + sd * self.normal()).min(n);
        }
        self.binomial_inversion(n, p)
    }

    /// Walks the CDF from 0 upwards: O(n·p) steps, exact up to rounding.
    fn binomial_inversion(&mut self, n: u64, p: f64) -> u64 {
        let q = 1.0 - p;
        let ratio = p / q;
        let mut prob = (n as f64 * (-p).ln_1p()).exp();
        let mut u = self.next_f64();
        let mut x = 0;
        while u >= prob && x < n {
            u -= prob;
            x += 1;
            prob *= ratio * (n - x + 1) as f64 / x as f64;
        }
        x
    }
}

/// Rounds to the nearest integer, clamping negatives (and NaN) to zero.
fn round_nonnegative(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        x.round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(draws: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = draws.collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn same_key_same_stream_and_keys_are_ordered() {
        let draw = |parts: &[u64]| {
            let mut r = SplitMix64::from_key(7, parts);
            (0..4).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(&[1, 2]), draw(&[1, 2]));
        assert_ne!(draw(&[1, 2]), draw(&[1, 3]));
        assert_ne!(hash_key(7, &[1, 2]), hash_key(7, &[2, 1]));
        assert_ne!(hash_key(7, &[1, 2]), hash_key(8, &[1, 2]));
    }

    #[test]
    fn uniform_and_normal_have_the_right_moments() {
        let mut r = SplitMix64::new(1);
        let (m, v) = moments((0..100_000).map(|_| r.next_f64()));
        assert!((m - 0.5).abs() < 0.01 && (v - 1.0 / 12.0).abs() < 0.005);
        let (m, v) = moments((0..100_000).map(|_| r.normal()));
        assert!(m.abs() < 0.02 && (v - 1.0).abs() < 0.03, "{m} {v}");
    }

    #[test]
    fn poisson_mean_and_variance_match_small_and_large() {
        let mut r = SplitMix64::new(2);
        for mean in [0.3, 4.0, 25.0, 30.0, 500.0] {
            let (m, v) = moments((0..50_000).map(|_| r.poisson(mean) as f64));
            assert!((m - mean).abs() < 0.03 * mean + 0.02, "{mean}: {m}");
            assert!((v - mean).abs() < 0.06 * mean + 0.03, "{mean}: {v}");
        }
        assert_eq!(r.poisson(0.0), 0);
        assert_eq!(r.poisson(f64::NAN), 0);
    }

    #[test]
    fn binomial_mean_and_variance_match_small_and_large() {
        let mut r = SplitMix64::new(3);
        for (n, p) in [
            (25, 0.06),
            (500, 0.005),
            (500, 0.3),
            (40, 0.9),
            (10_000, 0.06),
        ] {
            let (m, v) = moments((0..50_000).map(|_| r.binomial(n, p) as f64));
            let (mean, var) = (n as f64 * p, n as f64 * p * (1.0 - p));
            assert!((m - mean).abs() < 0.03 * mean + 0.02, "{n} {p}: {m}");
            assert!((v - var).abs() < 0.07 * var + 0.03, "{n} {p}: {v}");
        }
        assert_eq!(r.binomial(10, 0.0), 0);
        assert_eq!(r.binomial(10, 1.0), 10);
        assert_eq!(r.binomial(0, 0.5), 0);
    }

    #[test]
    fn lognormal_median_is_the_median() {
        let mut r = SplitMix64::new(4);
        let mut v: Vec<f64> = (0..20_001).map(|_| r.lognormal(80.0, 0.35)).collect();
        v.sort_by(f64::total_cmp);
        assert!((v[10_000] - 80.0).abs() < 1.5, "{}", v[10_000]);
    }
}
