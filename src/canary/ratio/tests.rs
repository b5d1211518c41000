use super::*;
use crate::sim::{seeded, Draws};

/// A/A: the fail e-value crosses 1/α in at most ≈α of runs, checked after every window.
#[test]
fn aa_false_alarms_stay_within_alpha() {
    let mut rng = seeded(7);
    let (runs, alpha) = (2_000, 0.05);
    let mut alarms = 0;
    for _ in 0..runs {
        let mut t = RatioTest::new(1.0, 2.0);
        for _ in 0..200 {
            let n_c = rng.poisson(100.0);
            let n_s = rng.poisson(900.0);
            t.add(n_c, rng.binomial(n_c, 0.01), n_s, rng.binomial(n_s, 0.01));
            if t.fail_evalue() >= 1.0 / alpha {
                alarms += 1;
                break;
            }
        }
    }
    let rate = f64::from(alarms) / f64::from(runs);
    assert!(rate <= alpha, "false alarm rate {rate}");
}

#[test]
fn doubling_is_detected_and_health_passes() {
    let mut rng = seeded(3);
    let mut bad = RatioTest::new(1.0, 2.0);
    let mut good = RatioTest::new(1.0, 2.0);
    for _ in 0..300 {
        let (n_c, n_s) = (rng.poisson(100.0), rng.poisson(900.0));
        bad.add(n_c, rng.binomial(n_c, 0.02), n_s, rng.binomial(n_s, 0.01));
        good.add(n_c, rng.binomial(n_c, 0.01), n_s, rng.binomial(n_s, 0.01));
    }
    assert!(bad.fail_evalue() > 1e6);
    assert!(good.pass_evalue() > 1e3);
    assert!(good.fail_evalue() < 1.0);
}

#[test]
fn common_mode_blips_cancel() {
    let mut t = RatioTest::new(1.0, 2.0);
    // Both versions' error rate ×10 at the same traffic split: no evidence either way.
    t.add(100, 10, 900, 90);
    t.add(100, 100, 900, 900);
    assert!(t.fail_evalue() < 1.0, "{}", t.fail_evalue());
}

#[test]
fn measured_noise_tempers_evidence_from_the_first_window() {
    let mut quiet = RatioTest::new(1.0, 2.0);
    let mut noisy = RatioTest::new(1.0, 2.0);
    noisy.set_noise(0.09, 60.0);
    for t in [&mut quiet, &mut noisy] {
        t.elapse(60.0);
        t.add(600, 12, 5_400, 54);
    }
    assert!(noisy.dispersion() > 1.5, "{}", noisy.dispersion());
    assert_eq!(quiet.dispersion(), 1.0);
    assert!(noisy.fail_evalue() < quiet.fail_evalue());
}

/// φ is fixed before a window's split is seen: a window whose split is wild
/// is tempered only by what came before it, never by itself.
#[test]
fn dispersion_is_predictable() {
    let mut t = RatioTest::new(1.0, 2.0);
    for _ in 0..6 {
        t.elapse(60.0);
        t.add(1_000, 10, 9_000, 90);
        t.close_block();
    }
    let before = t.fail_evalue();
    t.elapse(60.0);
    t.add(1_000, 60, 9_000, 90);
    // The wild window was judged at φ = 1 (clean blocks before it)...
    assert_eq!(t.dispersion(), 1.0);
    assert!(t.fail_evalue() > 1e6 * before.max(1e-9));
    t.close_block();
    // ...and it raises φ for the windows after it.
    t.elapse(60.0);
    t.add(1_000, 10, 9_000, 90);
    assert!(t.dispersion() > 2.0, "{}", t.dispersion());
}

/// The always-valid upper bound on the ratio covers the true ratio at every
/// look in at least 1 − level of runs, and shrinks with data.
#[test]
fn ratio_upper_bound_covers_the_truth() {
    let mut rng = seeded(11);
    let (runs, level) = (400, 0.05);
    let mut misses = 0;
    let mut last = Vec::new();
    for _ in 0..runs {
        let mut t = RatioTest::new(1.0, 2.0);
        let mut missed = false;
        for _ in 0..100 {
            let (n_c, n_s) = (rng.poisson(100.0), rng.poisson(900.0));
            t.add(n_c, rng.binomial(n_c, 0.015), n_s, rng.binomial(n_s, 0.01));
            if t.ratio_upper(level).is_some_and(|u| u < 1.5) {
                missed = true;
            }
        }
        misses += u32::from(missed);
        last.push(t.ratio_upper(level).unwrap_or(f64::INFINITY));
    }
    let rate = f64::from(misses) / f64::from(runs);
    assert!(rate <= level, "the bound missed ρ = 1.5 in {rate} of runs");
    last.sort_by(f64::total_cmp);
    let median = last[last.len() / 2];
    assert!(
        median < 2.5,
        "median bound after 10,000 canary requests: {median}"
    );
}

/// Pass evidence survives a traffic step (only the fresh-request count restarts).
#[test]
fn pass_evidence_is_kept_across_steps() {
    let mut rng = seeded(4);
    let mut t = RatioTest::new(1.0, 2.0);
    for _ in 0..200 {
        let (n_c, n_s) = (rng.poisson(100.0), rng.poisson(900.0));
        t.add(n_c, rng.binomial(n_c, 0.01), n_s, rng.binomial(n_s, 0.01));
    }
    let before = t.pass_evalue();
    t.restart_step();
    assert_eq!(t.step_canary_n, 0);
    assert_eq!(t.pass_evalue(), before);
    assert!(before > 100.0, "{before}");
}

/// Bisection finds the same bound as scanning every grid ratio down from the
/// top (the rejected ratios are one interval), at every look.
#[test]
fn ratio_upper_bisection_matches_a_full_scan() {
    let scan = |t: &RatioTest, level: f64| {
        let threshold = (1.0 / level).ln();
        let mut bound = None;
        for i in (0..=BOUND_STEPS).rev() {
            let rho = 1.05_f64.powi(i as i32);
            let log: f64 = t.windows.iter().map(|w| w.log_lr(1.0, rho)).sum();
            if log < threshold {
                break;
            }
            bound = Some(rho);
        }
        bound
    };
    let mut rng = seeded(23);
    for canary_rate in [0.005, 0.01, 0.03] {
        let mut t = RatioTest::new(1.0, 2.0);
        t.set_noise(0.05, 60.0);
        for _ in 0..60 {
            t.elapse(30.0);
            let (n_c, n_s) = (rng.poisson(50.0), rng.poisson(950.0));
            t.add(
                n_c,
                rng.binomial(n_c, canary_rate),
                n_s,
                rng.binomial(n_s, 0.01),
            );
            t.close_block();
            for level in [0.002, 0.05] {
                assert_eq!(t.ratio_upper(level), scan(&t, level), "rate {canary_rate}");
            }
        }
    }
}
