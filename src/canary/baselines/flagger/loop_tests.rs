use super::*;

const HEALTHY: Option<(u64, u64, f64)> = Some((500, 0, 80.0));
/// 2 % errors: success rate 98 % < 99 %.
const ERRORS: Option<(u64, u64, f64)> = Some((500, 10, 80.0));

/// A 30 s window (the loop's `check_interval_seconds`) ending at `end`.
fn w30(end: f64, canary: Option<(u64, u64, f64)>) -> MetricsWindow {
    let mut w = super::super::testutil::window(end, HEALTHY, canary);
    w.start = end - 30.0;
    w
}

/// Feeds one 1-minute interval (two 30 s windows) ending at `end`; returns
/// the verdict at the boundary after checking the first window waits.
fn interval(j: &mut FlaggerJudge, end: f64, canary: Option<(u64, u64, f64)>) -> VerdictKind {
    assert_eq!(
        j.observe(&w30(end - 30.0, canary)).kind,
        VerdictKind::Inconclusive
    );
    j.observe(&w30(end, canary)).kind
}

#[test]
fn schedules_are_the_documented_numbers() {
    let d = FlaggerConfig::documented();
    assert_eq!(
        d.schedule(),
        Strategy::Canary {
            first_weight: 10,
            step: 10,
            bake_seconds: 60,
            promote_at: 50
        }
    );
    assert_eq!(d.schedule().weights(), vec![10, 20, 30, 40, 50, 100]);
    assert_eq!(
        (d.threshold, d.min_success_pct, d.max_p99_ms),
        (5, 99.0, 500.0)
    );
    assert_eq!((d.success_range_s, d.duration_range_s), (60.0, 30.0));
    let a = FlaggerConfig::alternative();
    assert_eq!(
        a.schedule(),
        Strategy::Canary {
            first_weight: 5,
            step: 5,
            bake_seconds: 60,
            promote_at: 50
        }
    );
    assert_eq!(a.threshold, 10);
    assert_eq!(a.schedule().weights().len(), 11, "5, 10, …, 50, then 100");
}

#[test]
fn a_healthy_interval_passes_at_its_boundary() {
    let mut j = FlaggerJudge::for_loop(FlaggerConfig::documented());
    j.new_step();
    assert_eq!(interval(&mut j, 60.0, HEALTHY), VerdictKind::Pass);
    j.new_step();
    assert_eq!(interval(&mut j, 120.0, HEALTHY), VerdictKind::Pass);
}

#[test]
fn failed_checks_accumulate_across_steps_to_the_threshold() {
    let mut j = FlaggerJudge::for_loop(FlaggerConfig::documented());
    j.new_step();
    let mut kinds = vec![];
    let mut end = 60.0;
    for canary in [ERRORS, ERRORS, HEALTHY] {
        kinds.push(interval(&mut j, end, canary));
        end += 60.0;
    }
    // The pass advanced the weight; the counter is not reset by the step.
    j.new_step();
    for canary in [ERRORS, None, ERRORS] {
        kinds.push(interval(&mut j, end, canary));
        end += 60.0;
    }
    use VerdictKind::*;
    assert_eq!(
        kinds,
        vec![
            Inconclusive,
            Inconclusive,
            Pass,
            Inconclusive,
            Inconclusive,
            Fail
        ]
    );
    // A new canary run starts from zero, still in loop mode.
    j.reset();
    assert_eq!(interval(&mut j, end, ERRORS), Inconclusive);
    assert_eq!(interval(&mut j, end + 60.0, HEALTHY), Pass);
}

#[test]
fn the_alternative_tolerates_ten_failed_checks() {
    let mut j = FlaggerJudge::for_loop(FlaggerConfig::alternative());
    let kinds: Vec<_> = (1..=10)
        .map(|i| interval(&mut j, 60.0 * f64::from(i), ERRORS))
        .collect();
    assert!(kinds[..9].iter().all(|k| *k == VerdictKind::Inconclusive));
    assert_eq!(kinds[9], VerdictKind::Fail);
}

#[test]
fn each_metric_uses_its_own_query_range() {
    // Slow first half, fast second half: the tutorial's p99 over 30 s sees
    // only the fast half; a 1 m range sees both.
    let slow = Some((500, 0, 600.0));
    let feed = |j: &mut FlaggerJudge| {
        j.observe(&w30(30.0, slow));
        j.observe(&w30(60.0, HEALTHY)).kind
    };
    let mut j = FlaggerJudge::for_loop(FlaggerConfig::documented());
    assert_eq!(feed(&mut j), VerdictKind::Pass);
    let mut j = FlaggerJudge::for_loop(FlaggerConfig::alternative());
    assert_eq!(feed(&mut j), VerdictKind::Inconclusive);
    // The success rate over 1 m counts both windows: 9 errors in 1000 pass,
    // 11 do not.
    let mut j = FlaggerJudge::for_loop(FlaggerConfig::documented());
    j.observe(&w30(30.0, Some((500, 9, 80.0))));
    assert_eq!(j.observe(&w30(60.0, HEALTHY)).kind, VerdictKind::Pass);
    let mut j = FlaggerJudge::for_loop(FlaggerConfig::documented());
    j.observe(&w30(30.0, Some((500, 11, 80.0))));
    assert_eq!(
        j.observe(&w30(60.0, HEALTHY)).kind,
        VerdictKind::Inconclusive
    );
}

#[test]
fn a_step_restarts_the_interval_at_the_weight_change() {
    let mut j = FlaggerJudge::for_loop(FlaggerConfig::documented());
    assert_eq!(
        j.observe(&w30(30.0, HEALTHY)).kind,
        VerdictKind::Inconclusive
    );
    j.new_step();
    // Without the restart the boundary would be at 60 s.
    assert_eq!(
        j.observe(&w30(60.0, HEALTHY)).kind,
        VerdictKind::Inconclusive
    );
    assert_eq!(j.observe(&w30(90.0, HEALTHY)).kind, VerdictKind::Pass);
}

#[test]
fn the_bench_canary_judge_still_forgets_at_a_new_step() {
    let mut j = FlaggerJudge::default();
    super::super::testutil::feed(&mut j, 10.0, 30, HEALTHY, ERRORS);
    j.new_step();
    let kinds = super::super::testutil::feed(&mut j, 310.0, 6, HEALTHY, ERRORS);
    assert_eq!(kinds[5], VerdictKind::Inconclusive, "1 failed check of 5");
}
