//! Always-valid evidence helpers: the normal-mixture mSPRT for asymptotically
//! normal statistics, and how noisy a version's error rate is (learned from its
//! history before a canary starts). The count test itself is
//! [`super::ratio::RatioTest`].

/// How the noise estimate weighs an odd minute (a blip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outliers {
    /// The median of the standardised squares: an odd minute weighs no more
    /// than a typical one (it still raises the pooled rate). For versions
    /// compared side by side, where a blip that hits both cancels in the
    /// canary's share of events.
    Robust,
    /// Their mean: every minute weighs its full square. For the canary compared
    /// with the previous version at another time (before/after), where
    /// nothing cancels.
    Mean,
}

/// Variance of a version's per-block log event rate beyond Poisson noise, from
/// its history as `(requests, events)` per block (e.g. the stable version's
/// last hour, minute by minute). 0 unless the excess is clear.
///
/// Per block, E[(k − p̂n)² / p̂n] = 1 + p̂n·σ² when the rate carries a mean-one
/// factor of variance σ². With [`Outliers::Robust`] the median of the
/// standardised squares (÷ 0.455, the median of χ²₁) keeps one odd minute from
/// dominating; traffic swings are absorbed by `n`.
pub fn rate_noise_variance(blocks: &[(u64, u64)], outliers: Outliers) -> f64 {
    let usable: Vec<(f64, f64)> = blocks
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|&(n, k)| (n as f64, k as f64))
        .collect();
    if usable.len() < 10 {
        return 0.0;
    }
    // The pooled rate: common blips raise it, so they read as noise too. They
    // cancel in the ratio test on their own, but they multiply whatever
    // per-version noise the minute carries, so tempering for them is right.
    let (n_sum, k_sum) = usable
        .iter()
        .fold((0.0, 0.0), |(a, b), (n, k)| (a + n, b + k));
    let p = k_sum / n_sum;
    if p <= 0.0 {
        return 0.0;
    }
    let squares: Vec<f64> = usable
        .iter()
        .map(|(n, k)| (k - p * n).powi(2) / (p * n))
        .collect();
    let b = usable.len() as f64;
    let expected = p * usable.iter().map(|(n, _)| n).sum::<f64>() / b;
    // Standard errors: √(2/B) for the mean-based (Pearson) estimate and
    // 2.33/√B for the median-based one on plenty of events; with few events a
    // block the standardised square is heavier-tailed (its variance for a
    // Poisson count of mean μ is 2 + 1/μ), so a quiet service's handful of
    // errors a minute does not read as noise.
    let small = (1.0 + 1.0 / (2.0 * expected)).sqrt();
    let (phi, se) = match outliers {
        Outliers::Robust => (median(squares) / MEDIAN_CHI2_1, small * 2.33 / b.sqrt()),
        Outliers::Mean => (squares.iter().sum::<f64>() / b, small * (2.0 / b).sqrt()),
    };
    // Noise that is not clear (two standard errors) is left out: tempering
    // for it would cost power on every quiet service (measured: a lower gate
    // before/after let a 2 rps canary's burst through 4 % of the time, and
    // rolled back no fewer noisy healthy ones).
    if phi - 2.0 * se <= 1.0 {
        return 0.0;
    }
    (phi - 1.0) / expected
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median of the χ² distribution with one degree of freedom.
const MEDIAN_CHI2_1: f64 = 0.454_936_423_119_572_7;

/// Normal-mixture (mSPRT) e-value and confidence radius for a statistic that is
/// asymptotically normal with standard error `se` (Robbins; Johari et al.).
/// `tau` is the mixture scale: the effect size the test is tuned for.
pub fn msprt(effect: f64, se: f64, tau: f64) -> f64 {
    if se <= 0.0 {
        return 1.0;
    }
    let (v, t2) = (se * se, tau * tau);
    let log = 0.5 * (v / (v + t2)).ln() + t2 * effect * effect / (2.0 * v * (v + t2));
    log.min(700.0).exp()
}

/// Radius of the always-valid (1 − level) confidence sequence matching [`msprt`].
pub fn msprt_radius(se: f64, tau: f64, level: f64) -> f64 {
    if se <= 0.0 {
        return f64::INFINITY;
    }
    let (v, t2) = (se * se, tau * tau);
    ((v * (v + t2) / t2) * (((v + t2) / v).ln() + 2.0 * (1.0 / level).ln())).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{seeded, Draws, SimRng};

    #[test]
    fn msprt_grows_with_effect_and_radius_shrinks_with_data() {
        assert!(msprt(0.2, 0.02, 0.1) > msprt(0.1, 0.02, 0.1));
        assert!(msprt(0.0, 0.02, 0.1) < 1.0);
        assert!(msprt_radius(0.01, 0.1, 0.05) < msprt_radius(0.05, 0.1, 0.05));
    }

    /// Per-minute (requests, errors) with a mean-one log-normal rate factor of
    /// log-sd `sigma`, and a ×5 minute every `blip_every` minutes (0: none).
    pub(crate) fn blocks(
        rng: &mut SimRng,
        sigma: f64,
        blip_every: usize,
        n: usize,
    ) -> Vec<(u64, u64)> {
        (0..n)
            .map(|i| {
                let requests = rng.poisson(5_400.0);
                let mut factor = (sigma * rng.normal() - sigma * sigma / 2.0).exp();
                if blip_every > 0 && i % blip_every == 0 {
                    factor *= 5.0;
                }
                (requests, rng.binomial(requests, 0.01 * factor))
            })
            .collect()
    }

    /// A clean hour reads as noisy in few histories (the excess must clear two
    /// standard errors), whichever estimate. A false reading costs power
    /// (evidence is tempered), never a false rollback.
    #[test]
    fn clean_histories_rarely_read_as_noisy() {
        for outliers in [Outliers::Robust, Outliers::Mean] {
            let noisy = (0..500)
                .filter(|&seed| {
                    let mut rng = seeded(seed);
                    rate_noise_variance(&blocks(&mut rng, 0.0, 0, 60), outliers) > 0.0
                })
                .count();
            assert!(
                noisy <= 50,
                "{outliers:?}: {noisy} of 500 clean histories read as noisy"
            );
        }
    }

    #[test]
    fn rate_noise_is_near_sigma_squared_when_noisy() {
        let mut rng = seeded(21);
        let noisy = rate_noise_variance(&blocks(&mut rng, 0.3, 0, 60), Outliers::Robust);
        assert!((0.04..0.2).contains(&noisy), "σ² estimate {noisy} for 0.09");
        // Too little history says nothing.
        let short = blocks(&mut rng, 0.3, 0, 5);
        assert_eq!(rate_noise_variance(&short, Outliers::Robust), 0.0);
    }

    /// A ×5 minute in ten weighs its full square in the mean-based estimate
    /// (before/after, where nothing cancels), and only through the pooled rate
    /// in the robust one (side by side, where blips cancel).
    #[test]
    fn blips_weigh_fully_only_in_the_mean() {
        let mut rng = seeded(5);
        let history = blocks(&mut rng, 0.0, 10, 60);
        let robust = rate_noise_variance(&history, Outliers::Robust);
        let mean = rate_noise_variance(&history, Outliers::Mean);
        assert!(mean > 2.0 * robust, "mean {mean}, robust {robust}");
    }
}
