//! The simulator's seeded random streams and the distributions it draws from.
//!
//! Every stream is a [`rand_pcg::Pcg64Mcg`] seeded with
//! [`SeedableRng::seed_from_u64`]: PCG is a documented, portable algorithm
//! (rand's `StdRng` and `SmallRng` may change between releases), so the same seed
//! gives the same numbers run to run and machine to machine — evals and benches
//! pin their seeds and must reproduce. The world re-creates a stream from a key
//! (seed, bucket, version) on every query, so seeding must be cheap: PCG's state
//! is one `u128`, filled by four PCG32 steps.
//!
//! The distributions are rand_distr's exact samplers (Poisson, binomial,
//! standard normal, log-normal). [`Draws`] only maps the simulator's degenerate
//! parameters — a zero, negative or NaN mean or probability — to the obvious
//! answer, where rand_distr would return an error every caller had to handle.

use rand::{RngExt, SeedableRng};
use rand_distr::{Binomial, Distribution, LogNormal, Poisson, StandardNormal};

/// The simulator's random stream: same seed, same numbers.
pub type SimRng = rand_pcg::Pcg64Mcg;

/// The golden-ratio increment, used to spread nearby keys apart.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The stream for `seed`.
pub fn seeded(seed: u64) -> SimRng {
    SimRng::seed_from_u64(seed)
}

/// The stream named by `seed` and `parts` (see [`hash_key`]): a pure function of
/// its key, so no number depends on which streams were drawn before.
pub fn keyed(seed: u64, parts: &[u64]) -> SimRng {
    seeded(hash_key(seed, parts))
}

/// Hashes a seed and a key path into a stream seed. Order matters, so
/// `[bucket, version]` and `[version, bucket]` name different streams. A hash,
/// not a generator: it names streams, rand's PCG draws from them.
pub fn hash_key(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix64(seed ^ GOLDEN), |h, &p| {
        mix64(h.rotate_left(17) ^ mix64(p.wrapping_add(GOLDEN)))
    })
}

/// SplitMix64's finaliser: a strong 64-bit mixer, so keys differing in one bit
/// give unrelated stream seeds.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The simulator's draws on any rand generator, total over their parameters.
pub trait Draws: RngExt {
    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.random::<f64>()
    }

    /// Standard normal.
    fn normal(&mut self) -> f64 {
        self.sample(StandardNormal)
    }

    /// Log-normal with the given median and log-scale sigma; the median itself
    /// when either parameter is unusable.
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        match LogNormal::new(median.ln(), sigma) {
            Ok(d) => d.sample(self),
            Err(_) => median,
        }
    }

    /// Poisson(mean); 0 for a mean that is not positive and finite.
    fn poisson(&mut self, mean: f64) -> u64 {
        match Poisson::new(mean) {
            // A Poisson draw is a whole number below 2^64 (rand_distr caps the mean).
            Ok(d) => d.sample(self) as u64,
            Err(_) => 0,
        }
    }

    /// Binomial(n, p); p at or below 0 (or NaN) gives 0, at or above 1 gives n.
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if p.is_nan() || p <= 0.0 {
            return 0;
        }
        match Binomial::new(n, p.min(1.0)) {
            Ok(d) => d.sample(self),
            Err(_) => 0,
        }
    }
}

impl<R: RngExt + ?Sized> Draws for R {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

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
            let mut r = keyed(7, parts);
            (0..4).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(&[1, 2]), draw(&[1, 2]));
        assert_ne!(draw(&[1, 2]), draw(&[1, 3]));
        assert_ne!(hash_key(7, &[1, 2]), hash_key(7, &[2, 1]));
        assert_ne!(hash_key(7, &[1, 2]), hash_key(8, &[1, 2]));
    }

    #[test]
    fn uniform_and_normal_have_the_right_moments() {
        let mut r = seeded(1);
        let (m, v) = moments((0..100_000).map(|_| r.uniform()));
        assert!((m - 0.5).abs() < 0.01 && (v - 1.0 / 12.0).abs() < 0.005);
        let (m, v) = moments((0..100_000).map(|_| r.normal()));
        assert!(m.abs() < 0.02 && (v - 1.0).abs() < 0.03, "{m} {v}");
    }

    #[test]
    fn poisson_mean_and_variance_match_small_and_large() {
        let mut r = seeded(2);
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
        let mut r = seeded(3);
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
        let mut r = seeded(4);
        let mut v: Vec<f64> = (0..20_001).map(|_| r.lognormal(80.0, 0.35)).collect();
        v.sort_by(f64::total_cmp);
        assert!((v[10_000] - 80.0).abs() < 1.5, "{}", v[10_000]);
    }
}
