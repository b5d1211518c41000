use super::*;
use VerdictKind::*;

type Counts = Option<(u64, u64, f64)>;

/// The baseline's minute `m`: ≈ 1 % errors and ≈ 82 ms, varying by minute.
fn stable(m: usize) -> Counts {
    Some((1000, 10 + (m % 3) as u64, 80.0 + (m % 5) as f64))
}

/// Feeds minutes `from..to` as 30 s windows; returns the verdict of each
/// judgement (every `interval`), i.e. of the windows ending on an hour.
fn minutes(
    j: &mut KayentaJudge,
    from: usize,
    to: usize,
    canary: impl Fn(usize) -> Counts,
) -> Vec<VerdictKind> {
    let mut out = vec![];
    for m in from..to {
        for half in 1..=2 {
            let end = 60.0 * m as f64 + 30.0 * f64::from(half);
            let mut w = super::super::testutil::window(end, stable(m), canary(m));
            w.start = end - 30.0;
            let v = j.observe(&w);
            if (end / 3600.0).fract() == 0.0 {
                out.push(v.kind);
            } else {
                assert_eq!(v.kind, Inconclusive, "between judgements at {end}");
            }
        }
    }
    out
}

#[test]
fn the_schedule_is_one_step_for_the_lifetime() {
    let d = KayentaConfig::documented();
    assert_eq!(
        d.schedule(),
        Strategy::Canary {
            first_weight: 10,
            step: 90,
            bake_seconds: 3 * 3600,
            promote_at: 10
        }
    );
    assert_eq!(d.schedule().weights(), vec![10, 100]);
    assert_eq!(
        (d.interval_s, d.lifetime_s, d.step_s),
        (3600.0, 10800.0, 60.0)
    );
    assert_eq!((d.marginal_score, d.pass_score), (75.0, 95.0));
    assert_eq!(
        (d.confidence, d.tolerance, d.allowed_increase),
        (0.98, 0.25, 1.0)
    );
    assert!(d.growing);
}

#[test]
fn a_healthy_canary_passes_after_three_hourly_judgements() {
    let mut j = KayentaJudge::for_loop(KayentaConfig::documented());
    j.new_step();
    // The canary's minutes are the baseline's, shifted by one minute.
    let kinds = minutes(&mut j, 0, 180, |m| stable(m + 1));
    assert_eq!(kinds, vec![Inconclusive, Inconclusive, Pass]);
}

#[test]
fn a_high_error_rate_fails_at_the_first_judgement() {
    let mut j = KayentaJudge::for_loop(KayentaConfig::documented());
    let kinds = minutes(&mut j, 0, 60, |m| {
        Some((1000, 30 + (m % 3) as u64, 80.0 + (m % 5) as f64))
    });
    assert_eq!(kinds, vec![Fail], "score 50 < marginal 75");
}

#[test]
fn a_small_consistent_shift_is_high_for_kayentas_classifier() {
    // +10 ms on ≈ 82 ms every minute: our first reading let it pass (ratio
    // 1.12 < 1.25); Kayenta's tolerance band is 25 % of the shift itself.
    let slower = |m: usize| Some((1000, 10 + (m % 3) as u64, 90.0 + (m % 5) as f64));
    let mut j = KayentaJudge::for_loop(KayentaConfig::documented());
    assert_eq!(minutes(&mut j, 0, 60, slower), vec![Fail]);
    let mut j = KayentaJudge::new(KayentaConfig {
        classifier: KayentaClassifier::MedianRatio,
        ..KayentaConfig::documented()
    });
    assert_eq!(minutes(&mut j, 0, 60, slower), vec![Inconclusive]);
}

#[test]
fn judgements_grow_without_lookback() {
    let mut j = KayentaJudge::for_loop(KayentaConfig::documented());
    minutes(&mut j, 0, 120, |m| stable(m + 1));
    assert_eq!(j.canary.latency_mean.len(), 120);
    let mut j = KayentaJudge::for_loop(KayentaConfig {
        growing: false,
        ..KayentaConfig::documented()
    });
    minutes(&mut j, 0, 120, |m| stable(m + 1));
    assert!(j.canary.latency_mean.is_empty());
}

#[test]
fn missing_canary_metrics_score_zero() {
    let mut j = KayentaJudge::for_loop(KayentaConfig::documented());
    assert_eq!(minutes(&mut j, 0, 60, |_| None), vec![Fail]);
}

#[test]
fn the_shift_interval_brackets_the_median_difference() {
    // x = y + 5 with distinct noise: estimate ≈ 5, the interval around it.
    let y: Vec<f64> = (0..40).map(|i| f64::from((i * 7) % 40)).collect();
    let x: Vec<f64> = (0..40)
        .map(|i| 5.0 + f64::from((i * 11) % 40) + 0.01)
        .collect();
    let ci = shift_interval(&x, &y, 0.98).unwrap();
    assert!(ci.lower < ci.estimate && ci.estimate < ci.upper, "{ci:?}");
    assert!((ci.estimate - 5.01).abs() < 0.5, "{ci:?}");
    assert!(ci.lower < 5.01 && 5.01 < ci.upper, "{ci:?}");
    // The estimate is the median of the pairwise differences (the statistic
    // is 0 there, up to its continuity correction).
    let mut d: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    d.sort_by(f64::total_cmp);
    let (a, b) = (d[d.len() / 2 - 1], d[d.len() / 2]);
    assert!(
        ci.estimate >= a - 1e-9 && ci.estimate <= b + 1e-9,
        "{ci:?} vs [{a}, {b}]"
    );
    // A wider confidence gives a wider interval.
    let wide = shift_interval(&x, &y, 0.999).unwrap();
    assert!(wide.lower < ci.lower && wide.upper > ci.upper);
    // Two constant samples: their difference.
    let c = shift_interval(&[3.0, 3.0], &[1.0, 1.0, 1.0], 0.98).unwrap();
    assert_eq!((c.lower, c.upper, c.estimate), (2.0, 2.0, 2.0));
    assert!(shift_interval(&[], &[1.0], 0.98).is_none());
}
