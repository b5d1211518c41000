//! The oracle: Wald's SPRT on the canary's errors, told the true rates.
//!
//! It knows the baseline error rate `p0` and the alternative `p1` of the
//! scenario and looks at canary requests only (errors, not latency, not the
//! baseline), so no real judge can reach a lower expected sample size on the
//! error scenarios: it is the benchmark's lower-bound line. Boundaries:
//! A = (1 − β)/α (fail at or above), B = β/(1 − α) (pass at or below).

use super::{check, verdict};
use crate::canary::{Judge, MetricsWindow, Verdict, VerdictKind};

/// Settings for [`OracleSprt`].
#[derive(Debug, Clone, Copy)]
pub struct OracleConfig {
    /// True baseline (null) error rate.
    pub p0: f64,
    /// Alternative error rate to detect.
    pub p1: f64,
    pub alpha: f64,
    pub beta: f64,
}

impl OracleConfig {
    /// The benchmark's settings: α = 0.01, β = 0.05.
    pub fn new(p0: f64, p1: f64) -> Self {
        Self {
            p0,
            p1,
            alpha: 0.01,
            beta: 0.05,
        }
    }

    /// ln A and ln B.
    pub fn log_boundaries(&self) -> (f64, f64) {
        let a = (1.0 - self.beta) / self.alpha;
        let b = self.beta / (1.0 - self.alpha);
        (a.ln(), b.ln())
    }

    /// Log-likelihood ratio of one error and of one success.
    fn log_steps(&self) -> (f64, f64) {
        (
            (self.p1 / self.p0).ln(),
            ((1.0 - self.p1) / (1.0 - self.p0)).ln(),
        )
    }
}

/// Wald's approximation of E[N | p1] for the Bernoulli SPRT of p0 against p1:
/// [(1 − β) ln A + β ln B] / KL(p1 ‖ p0), boundary overshoot ignored.
pub fn wald_expected_n(p0: f64, p1: f64, alpha: f64, beta: f64) -> f64 {
    let config = OracleConfig {
        p0,
        p1,
        alpha,
        beta,
    };
    let (ln_a, ln_b) = config.log_boundaries();
    let (on_error, on_success) = config.log_steps();
    let drift = p1 * on_error + (1.0 - p1) * on_success;
    ((1.0 - beta) * ln_a + beta * ln_b) / drift
}

/// Wald's SPRT as a [`Judge`].
#[derive(Debug, Clone)]
pub struct OracleSprt {
    config: OracleConfig,
    llr: f64,
    canary_requests: u64,
    canary_errors: u64,
}

impl OracleSprt {
    pub fn new(config: OracleConfig) -> Self {
        Self {
            config,
            llr: 0.0,
            canary_requests: 0,
            canary_errors: 0,
        }
    }

    /// The log-likelihood ratio so far.
    pub fn log_likelihood_ratio(&self) -> f64 {
        self.llr
    }
}

impl Judge for OracleSprt {
    fn observe(&mut self, window: &MetricsWindow) -> Verdict {
        let Some(canary) = &window.canary else {
            let summary = "canary metrics missing".to_string();
            return verdict(
                VerdictKind::NoData,
                summary,
                vec![],
                self.canary_requests,
                0,
            );
        };
        let errors = canary.errors.min(canary.requests);
        let (on_error, on_success) = self.config.log_steps();
        self.llr += errors as f64 * on_error + (canary.requests - errors) as f64 * on_success;
        self.canary_requests += canary.requests;
        self.canary_errors += errors;
        let (ln_a, ln_b) = self.config.log_boundaries();
        let kind = if self.llr >= ln_a {
            VerdictKind::Fail
        } else if self.llr <= ln_b {
            VerdictKind::Pass
        } else {
            VerdictKind::Inconclusive
        };
        let detail = format!("ln LR {:.3} in ({ln_b:.3}, {ln_a:.3})", self.llr);
        let rate = (self.canary_requests > 0)
            .then(|| self.canary_errors as f64 / self.canary_requests as f64);
        let c = check(
            "error_rate",
            kind,
            rate,
            Some(self.config.p0),
            Some(self.llr),
            detail.clone(),
        );
        verdict(kind, detail, vec![c], self.canary_requests, 0)
    }

    fn reset(&mut self) {
        *self = Self::new(self.config);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::window;
    use super::*;

    #[test]
    fn wald_bound_matches_the_textbook_numbers() {
        let n = wald_expected_n(0.01, 0.02, 0.05, 0.05);
        assert!((n - 677.0).abs() < 1.0, "{n}");
        let n = wald_expected_n(0.01, 0.02, 0.01, 0.05);
        assert!((n - 1067.0).abs() < 1.0, "{n}");
        assert!(wald_expected_n(0.01, 0.05, 0.01, 0.05) < 200.0);
    }

    #[test]
    fn boundaries_are_walds() {
        let (a, b) = OracleConfig::new(0.01, 0.02).log_boundaries();
        assert!((a - 95.0_f64.ln()).abs() < 1e-12);
        assert!((b - (0.05_f64 / 0.99).ln()).abs() < 1e-12);
    }

    #[test]
    fn crosses_the_upper_boundary_exactly_when_the_llr_does() {
        let config = OracleConfig::new(0.01, 0.02);
        let (ln_a, _) = config.log_boundaries();
        // Each error adds ln 2 − the successes' small drift; 7 errors in 7 requests
        // is 7 ln 2 ≈ 4.85 ≥ ln 95 ≈ 4.55, 6 is 4.16 < 4.55.
        let mut j = OracleSprt::new(config);
        let v = j.observe(&window(10.0, None, Some((6, 6, 80.0))));
        assert_eq!(v.kind, VerdictKind::Inconclusive);
        let v = j.observe(&window(20.0, None, Some((1, 1, 80.0))));
        assert_eq!(v.kind, VerdictKind::Fail);
        assert!(j.log_likelihood_ratio() >= ln_a);
    }

    #[test]
    fn passes_on_many_clean_requests_and_ignores_missing_windows() {
        let mut j = OracleSprt::new(OracleConfig::new(0.01, 0.02));
        let v = j.observe(&window(10.0, Some((100, 1, 80.0)), None));
        assert_eq!(v.kind, VerdictKind::NoData);
        // ln B ≈ −2.99; each success adds ln(0.98/0.99) ≈ −0.0102: 294 needed.
        let v = j.observe(&window(20.0, None, Some((290, 0, 80.0))));
        assert_eq!(v.kind, VerdictKind::Inconclusive);
        let v = j.observe(&window(30.0, None, Some((10, 0, 80.0))));
        assert_eq!(v.kind, VerdictKind::Pass);
    }
}
