use super::super::testutil::window;
use super::*;

/// Feeds 20 minutes; `canary(minute)` gives that minute's canary counts.
fn twenty_minutes(
    j: &mut KayentaJudge,
    from_minute: usize,
    canary: impl Fn(usize) -> Option<(u64, u64, f64)>,
) -> VerdictKind {
    let mut last = VerdictKind::NoData;
    for m in from_minute..from_minute + 20 {
        let stable = Some((1000, 10 + (m % 3) as u64, 80.0 + (m % 5) as f64));
        for w in 0..6 {
            let end = 60.0 * m as f64 + 10.0 * (w + 1) as f64;
            last = j.observe(&window(end, stable, canary(m))).kind;
        }
    }
    last
}

#[test]
fn healthy_canary_promotes_after_the_lifetime() {
    let mut j = KayentaJudge::default();
    let same = |m: usize| Some((1000, 10 + (m % 3) as u64, 80.0 + (m % 5) as f64));
    assert_eq!(twenty_minutes(&mut j, 0, same), VerdictKind::Inconclusive);
    assert_eq!(twenty_minutes(&mut j, 20, same), VerdictKind::Inconclusive);
    assert_eq!(twenty_minutes(&mut j, 40, same), VerdictKind::Pass);
}

#[test]
fn one_high_metric_scores_fifty_and_fails() {
    let mut j = KayentaJudge::default();
    // Error rate ×3 per minute: significant and ratio 3 > 1.25.
    let v = twenty_minutes(&mut j, 0, |m| {
        Some((1000, 30 + (m % 3) as u64, 80.0 + (m % 5) as f64))
    });
    assert_eq!(v, VerdictKind::Fail);
}

#[test]
fn significant_but_small_effect_passes() {
    let mut j = KayentaJudge::default();
    // Latency +10 ms on ≈ 82 ms: every minute larger, ratio ≈ 1.12 < 1.25.
    let v = twenty_minutes(&mut j, 0, |m| {
        Some((1000, 10 + (m % 3) as u64, 90.0 + (m % 5) as f64))
    });
    assert_eq!(v, VerdictKind::Inconclusive);
    let test = mann_whitney(
        &group(&[90.0, 91.0, 92.0, 93.0, 94.0]),
        &group(&[80.0, 81.0, 82.0, 83.0, 84.0]),
    );
    assert!(test.is_some_and(|t| t.p_greater < 0.01));
}

#[test]
fn missing_canary_metrics_do_not_pass() {
    let mut j = KayentaJudge::default();
    assert_eq!(twenty_minutes(&mut j, 0, |_| None), VerdictKind::Fail);
    let mut j = KayentaJudge::new(KayentaConfig::single_judgement());
    for start in [0, 20] {
        let v = twenty_minutes(&mut j, start, |_| None);
        assert_eq!(v, VerdictKind::Inconclusive);
    }
    assert_eq!(twenty_minutes(&mut j, 40, |_| None), VerdictKind::Fail);
}

#[test]
fn median_ratio_handles_zero_baselines() {
    assert_eq!(median_ratio(0.0, 0.0), 1.0);
    assert_eq!(median_ratio(0.1, 0.0), f64::INFINITY);
    assert_eq!(median_ratio(2.0, 1.0), 2.0);
}
