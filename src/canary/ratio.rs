//! `RatioTest`: how often an event (an error, a request slower than the
//! baseline's p99) happens on the canary versus the baseline, as always-valid
//! e-values that may be checked after every window.
//!
//! Conditional on a window's requests and its total events, each event is the
//! canary's with probability θ(ρ) = n_c·ρ / (n_c·ρ + n_s), where ρ is the
//! canary/baseline rate ratio (two Poisson processes conditioned on their sum
//! give a binomial). The product over windows of likelihood ratios is a
//! nonnegative supermartingale under the null whatever the traffic split does
//! from window to window, so by Ville's inequality P(ever ≥ 1/α) ≤ α: valid
//! under optional stopping, time-varying traffic and any number of traffic
//! steps. Common-mode noise (a blip that hits both versions) cancels, because
//! only the canary's *share* of events matters.
//!
//! **Overdispersion.** Real services add noise beyond the binomial (pods,
//! per-minute bursts) that the likelihood would read as signal. Each window's
//! log likelihood ratio is divided by a dispersion φ ≥ 1 fixed *before* the
//! window's split is seen: from the stable version's history before the
//! canary, the canary's earlier one-minute blocks, and the window's own
//! request and total-event counts (which the test conditions on anyway). What
//! holds: for binomial data the tempered product is still a supermartingale
//! for any predictable φ ≥ 1 (Jensen: E[LR^{1/φ}] ≤ E[LR]^{1/φ} = 1), so the
//! bound is exact; for overdispersed data it holds when φ covers the window's
//! true dispersion (in the normal approximation E[LR^{1/φ}] ≤ 1 iff φ ≥ the
//! variance inflation) — an assumption the noisy A/A benchmarks measure.

/// Mixture components for "the canary is worse": multiples of the bad ratio and weights.
/// Most weight sits on the ratio that must be caught; larger ratios are caught
/// fast anyway.
const FAIL_MIXTURE: [(f64, f64); 3] = [(1.0, 0.96), (2.0, 0.03), (4.0, 0.01)];
/// Closed blocks kept for the dispersion estimate.
const MAX_BLOCKS: usize = 500;
/// Largest dispersion applied: beyond it the data say little either way.
const MAX_PHI: f64 = 20.0;
/// Ratios at which the always-valid upper bound is searched (1 … 100, ×1.05).
const BOUND_STEPS: usize = 95;

/// One window as the test saw it, for the confidence bound.
#[derive(Debug, Clone, Copy)]
struct Seen {
    n_c: f64,
    n_s: f64,
    k_c: f64,
    k_s: f64,
    phi: f64,
}

/// A sequential test of the canary/baseline ratio of an event rate.
#[derive(Debug, Clone)]
pub struct RatioTest {
    /// Null boundary for failing: ratios ≤ this are acceptable (1 + margin).
    tolerated: f64,
    /// The ratio that must be caught.
    bad: f64,
    /// The null for passing: evidence against "at least this much worse".
    pass_null: f64,
    /// Tempered log likelihood ratios of each fail-mixture component against `tolerated`.
    fail_log: [f64; 3],
    /// Tempered log likelihood ratio of "healthy (ρ = 1)" against `pass_null`,
    /// over the whole canary (every step: the hypothesis does not depend on the split).
    pass_log: f64,
    pub canary_events: u64,
    pub baseline_events: u64,
    pub canary_n: u64,
    pub baseline_n: u64,
    /// Canary requests since the last traffic step (fresh evidence at this weight).
    pub step_canary_n: u64,
    /// Counts of the open block: (n canary, n baseline, k canary, k baseline).
    block: [u64; 4],
    /// Closed blocks, for the overdispersion estimate.
    blocks: Vec<[u64; 4]>,
    /// Variance of each version's per-block log event rate, learned before the
    /// canary started (see [`super::evalue::rate_noise_variance`]); 0 when none was measured.
    noise_var: f64,
    /// Block length the noise was measured on, and seconds of data added.
    block_seconds: f64,
    seconds: f64,
    /// Length of the window being added (set by [`RatioTest::elapse`]).
    window_seconds: f64,
    /// φ applied to the latest window.
    phi: f64,
    windows: Vec<Seen>,
}

impl RatioTest {
    pub fn new(tolerated: f64, bad: f64) -> Self {
        Self {
            tolerated: tolerated.max(1e-6),
            bad: bad.max(tolerated * 1.01),
            pass_null: bad.max(tolerated * 1.01),
            fail_log: [0.0; 3],
            pass_log: 0.0,
            canary_events: 0,
            baseline_events: 0,
            canary_n: 0,
            baseline_n: 0,
            step_canary_n: 0,
            block: [0; 4],
            blocks: Vec::new(),
            noise_var: 0.0,
            block_seconds: 60.0,
            seconds: 0.0,
            window_seconds: 0.0,
            phi: 1.0,
            windows: Vec::new(),
        }
    }

    /// Sets the per-block rate noise measured on the baseline's history.
    pub fn set_noise(&mut self, noise_var: f64, block_seconds: f64) {
        self.noise_var = noise_var.max(0.0);
        self.block_seconds = block_seconds.max(1.0);
    }

    /// Counts `seconds` of data: the length of the window about to be added.
    pub fn elapse(&mut self, seconds: f64) {
        self.window_seconds = seconds.max(0.0);
        self.seconds += self.window_seconds;
    }

    /// Passes against "at least `null` times worse" instead of the bad ratio.
    /// A canary at the bad ratio then still never passes (its evidence drifts
    /// down while ρ·ln(null) > null − 1), but a healthy one passes sooner.
    pub fn with_pass_null(mut self, null: f64) -> Self {
        self.pass_null = null.max(self.tolerated * 1.01);
        self
    }

    /// The ratio a Pass must exclude.
    pub fn pass_null(&self) -> f64 {
        self.pass_null
    }

    /// Adds one window: `n` trials and `k` events per version.
    pub fn add(&mut self, n_canary: u64, k_canary: u64, n_base: u64, k_base: u64) {
        // φ first, from what came before and what the test conditions on.
        self.phi = self.window_dispersion(n_canary, n_base, k_canary + k_base);
        self.canary_n += n_canary;
        self.baseline_n += n_base;
        self.step_canary_n += n_canary;
        self.canary_events += k_canary;
        self.baseline_events += k_base;
        for (slot, x) in self
            .block
            .iter_mut()
            .zip([n_canary, n_base, k_canary, k_base])
        {
            *slot += x;
        }
        if n_canary == 0 || n_base == 0 || k_canary + k_base == 0 {
            return;
        }
        let seen = Seen {
            n_c: n_canary as f64,
            n_s: n_base as f64,
            k_c: k_canary as f64,
            k_s: k_base as f64,
            phi: self.phi,
        };
        for (slot, (mult, _)) in self.fail_log.iter_mut().zip(FAIL_MIXTURE) {
            *slot += seen.log_lr(self.bad * mult, self.tolerated);
        }
        self.pass_log += seen.log_lr(1.0, self.pass_null);
        self.windows.push(seen);
    }

    /// The e-value against "the canary is at most `tolerated` times worse".
    pub fn fail_evalue(&self) -> f64 {
        FAIL_MIXTURE
            .iter()
            .zip(self.fail_log)
            .map(|((_, w), l)| w * l.min(700.0).exp())
            .sum()
    }

    /// The e-value against "the canary is at least `pass_null` times worse".
    pub fn pass_evalue(&self) -> f64 {
        self.pass_log.min(700.0).exp()
    }

    /// The always-valid (1 − `level`) upper bound on the ratio ρ: the smallest
    /// ratio (≥ 1) such that it and every larger one are rejected by the
    /// likelihood ratio of ρ = 1 against it at 1/`level`. None while the data
    /// exclude no ratio up to 100.
    pub fn ratio_upper(&self, level: f64) -> Option<f64> {
        let threshold = (1.0 / level).ln();
        let rho = |i: usize| 1.05_f64.powi(i as i32);
        let rejected = |i: usize| {
            let log: f64 = self.windows.iter().map(|w| w.log_lr(1.0, rho(i))).sum();
            log >= threshold
        };
        if !rejected(BOUND_STEPS) {
            return None;
        }
        // The log-likelihood is concave in log ρ (a binomial in the logit,
        // each window scaled by 1/φ > 0), so ln LR(1 vs ρ) is convex in log ρ
        // and 0 at ρ = 1: the rejected ratios above 1 are one interval up to
        // the top, and its lower end can be found by bisection.
        let (mut lo, mut hi) = (0, BOUND_STEPS);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if rejected(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(rho(hi))
    }

    /// Ends a block of windows (the judge closes one a minute). Blocks are the
    /// unit of the overdispersion estimate: noise shared by neighbouring windows.
    pub fn close_block(&mut self) {
        if self.block[2] + self.block[3] > 0 && self.block[0] > 0 && self.block[1] > 0 {
            if self.blocks.len() == MAX_BLOCKS {
                self.blocks.remove(0);
            }
            self.blocks.push(self.block);
        }
        self.block = [0; 4];
    }

    /// The φ applied to the latest window (1 on clean data).
    pub fn dispersion(&self) -> f64 {
        self.phi
    }

    /// φ for a window with these requests and total events, before its split
    /// is seen: the larger of what the canary's earlier blocks show and what
    /// the history's noise implies at this traffic share and event volume.
    fn window_dispersion(&self, n_c: u64, n_s: u64, events: u64) -> f64 {
        self.observed_dispersion()
            .max(self.prior_dispersion(n_c, n_s, events))
    }

    /// φ implied by the history's rate noise: per block, the canary's share of
    /// events varies by θ(1−θ)·e·(σ²_canary + σ²_baseline) beyond the binomial
    /// θ(1−θ)·e. The noise is shared by a block's windows, so the volume is
    /// the block's (this window's events scaled to a block), not the window's.
    fn prior_dispersion(&self, n_c: u64, n_s: u64, events: u64) -> f64 {
        let (n_c, n_s) = (n_c as f64, n_s as f64);
        if self.noise_var <= 0.0 || n_c + n_s == 0.0 || self.window_seconds <= 0.0 {
            return 1.0;
        }
        let theta = n_c * self.tolerated / (n_c * self.tolerated + n_s);
        let scale = (self.block_seconds / self.window_seconds).max(1.0);
        let per_block = events as f64 * scale;
        (1.0 + 2.0 * self.noise_var * per_block * theta * (1.0 - theta)).min(MAX_PHI)
    }

    /// Pearson dispersion of the canary's share of events across closed
    /// blocks around the fitted ratio, moved off 1 only when the excess is
    /// clear (above two standard errors), so clean data keep full power.
    fn observed_dispersion(&self) -> f64 {
        let b = self.blocks.len();
        if b < 5 {
            return 1.0;
        }
        let rho = self.ratio_estimate().unwrap_or(1.0).clamp(0.1, 10.0);
        let mut x2 = 0.0;
        for [n_c, n_s, k_c, k_s] in &self.blocks {
            let e = (k_c + k_s) as f64;
            let c = *n_c as f64 * rho;
            let theta = c / (c + *n_s as f64);
            let var = e * theta * (1.0 - theta);
            if var > 0.0 {
                x2 += (*k_c as f64 - e * theta).powi(2) / var;
            }
        }
        let df = (b - 1) as f64;
        let phi = x2 / df;
        (phi - 2.0 * (2.0 / df).sqrt()).clamp(1.0, MAX_PHI)
    }

    /// A new traffic step: the judge asks for fresh canary requests at each
    /// step before it passes again. Both e-values keep their evidence: they
    /// test hypotheses about the ratio, which no traffic split changes.
    pub fn restart_step(&mut self) {
        self.step_canary_n = 0;
    }

    /// Canary rate ÷ baseline rate so far (None without data).
    pub fn ratio_estimate(&self) -> Option<f64> {
        let c = self.canary_events as f64 / self.canary_n.max(1) as f64;
        let b = self.baseline_events as f64 / self.baseline_n.max(1) as f64;
        (self.canary_n > 0 && self.baseline_n > 0 && b > 0.0).then(|| c / b)
    }
}

impl Seen {
    /// Tempered log likelihood ratio of ratio `alt` against ratio `null`.
    fn log_lr(&self, alt: f64, null: f64) -> f64 {
        let theta = |rho: f64| {
            let c = self.n_c * rho;
            c / (c + self.n_s)
        };
        let (a, b) = (theta(alt), theta(null));
        (self.k_c * (a / b).ln() + self.k_s * ((1.0 - a) / (1.0 - b)).ln()) / self.phi
    }
}

#[cfg(test)]
mod tests;
