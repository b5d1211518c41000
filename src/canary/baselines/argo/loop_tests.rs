use super::*;
use VerdictKind::*;

const GOOD: Option<(u64, u64, f64)> = Some((400, 4, 80.0));
/// 10 % errors: success rate 0.90 < 0.95.
const BAD: Option<(u64, u64, f64)> = Some((400, 40, 80.0));

/// A 30 s window (the loop's `check_interval_seconds`) ending at `end`.
fn w30(end: f64, canary: Option<(u64, u64, f64)>) -> MetricsWindow {
    let mut w = super::super::testutil::window(end, GOOD, canary);
    w.start = end - 30.0;
    w
}

/// Feeds the windows ending in `(from, to]` and returns their verdicts.
fn feed(
    j: &mut ArgoJudge,
    from: f64,
    to: f64,
    canary: Option<(u64, u64, f64)>,
) -> Vec<VerdictKind> {
    let mut out = vec![];
    let mut end = from + 30.0;
    while end <= to + 1e-9 {
        out.push(j.observe(&w30(end, canary)).kind);
        end += 30.0;
    }
    out
}

#[test]
fn schedules_are_the_documented_numbers() {
    let d = ArgoAnalysisConfig::documented();
    assert_eq!(
        d.schedule(),
        Strategy::Canary {
            first_weight: 20,
            step: 20,
            bake_seconds: 600,
            promote_at: 80
        }
    );
    assert_eq!(d.schedule().weights(), vec![20, 40, 60, 80, 100]);
    assert_eq!(
        (d.interval_s, d.min_success, d.failure_limit, d.count),
        (300.0, 0.95, 3, 0)
    );
    assert_eq!(d.analysis, ArgoAnalysis::Background { from_weight: 1 });
    let a = ArgoAnalysisConfig::alternative();
    assert_eq!(
        a.schedule(),
        Strategy::Canary {
            first_weight: 20,
            step: 80,
            bake_seconds: 300,
            promote_at: 20
        }
    );
    assert_eq!(a.schedule().weights(), vec![20, 100]);
    let five = ArgoAnalysisConfig { count: 5, ..a };
    assert!(matches!(
        five.schedule(),
        Strategy::Canary {
            bake_seconds: 540,
            ..
        }
    ));
}

#[test]
fn background_analysis_starts_at_its_step_and_spans_the_steps() {
    let mut j = ArgoJudge::for_loop(ArgoAnalysisConfig::documented());
    j.new_step(); // the first weight: not a step yet
                  // 20 %: no analysis, a bad canary goes on.
    assert!(feed(&mut j, 0.0, 600.0, BAD).iter().all(|k| *k == Pass));
    j.new_step();
    // 40 %: measurements at 630 (the run's start), 930; 60 %: 1230, 1530.
    let mut kinds = feed(&mut j, 600.0, 1200.0, BAD);
    j.new_step();
    kinds.extend(feed(&mut j, 1200.0, 1800.0, BAD));
    let fail = kinds.iter().position(|k| *k == Fail);
    // The fourth failed measurement (failed 4 > failureLimit 3) at 1530 s.
    assert_eq!(fail, Some(((1530.0 - 630.0) / 30.0) as usize));
    assert!(kinds[..fail.unwrap()].iter().all(|k| *k == Pass));
}

#[test]
fn a_healthy_background_run_passes_every_step() {
    let mut j = ArgoJudge::for_loop(ArgoAnalysisConfig::documented());
    for step in 0..4 {
        j.new_step();
        let from = 600.0 * f64::from(step);
        assert!(feed(&mut j, from, from + 600.0, GOOD)
            .iter()
            .all(|k| *k == Pass));
    }
}

#[test]
fn errors_retry_at_once_and_fail_after_the_limit() {
    let mut j = ArgoJudge::for_loop(ArgoAnalysisConfig {
        analysis: ArgoAnalysis::Background { from_weight: 0 },
        ..ArgoAnalysisConfig::documented()
    });
    // No canary series: errors at 30, 60, 90, 120 pass, the fifth (150) fails.
    let kinds = feed(&mut j, 0.0, 150.0, None);
    assert_eq!(kinds, vec![Pass, Pass, Pass, Pass, Fail]);
    // A measurement in between ends the streak.
    let mut j = ArgoJudge::for_loop(ArgoAnalysisConfig {
        analysis: ArgoAnalysis::Background { from_weight: 0 },
        ..ArgoAnalysisConfig::documented()
    });
    let mut kinds = feed(&mut j, 0.0, 120.0, None);
    kinds.extend(feed(&mut j, 120.0, 150.0, GOOD));
    kinds.extend(feed(&mut j, 150.0, 540.0, None));
    assert!(!kinds.contains(&Fail), "{kinds:?}");
}

#[test]
fn no_requests_is_nan_and_a_failed_measurement() {
    let mut j = ArgoJudge::for_loop(ArgoAnalysisConfig {
        analysis: ArgoAnalysis::Background { from_weight: 0 },
        ..ArgoAnalysisConfig::documented()
    });
    // Failed measurements every 5 min: 30, 330, 630, 930 → fail at the 4th.
    let kinds = feed(&mut j, 0.0, 930.0, Some((0, 0, 0.0)));
    assert_eq!(kinds.iter().position(|k| *k == Fail), Some(30));
}

#[test]
fn inline_analysis_measures_once_after_the_pause() {
    let mut j = ArgoJudge::for_loop(ArgoAnalysisConfig::alternative());
    j.new_step();
    let kinds = feed(&mut j, 0.0, 300.0, GOOD);
    assert!(kinds[..9].iter().all(|k| *k == Inconclusive), "{kinds:?}");
    assert_eq!(kinds[9], Pass);
    let mut j = ArgoJudge::for_loop(ArgoAnalysisConfig::alternative());
    j.new_step();
    let kinds = feed(&mut j, 0.0, 300.0, BAD);
    assert_eq!(
        kinds[9], Fail,
        "failureLimit 0: one failed measurement fails"
    );
    // Only the query range counts: bad until the last window passes.
    let mut j = ArgoJudge::for_loop(ArgoAnalysisConfig::alternative());
    feed(&mut j, 0.0, 270.0, BAD);
    assert_eq!(feed(&mut j, 270.0, 300.0, GOOD), vec![Pass]);
}

#[test]
fn the_bench_canary_judge_still_forgets_at_a_new_step() {
    let mut j = ArgoJudge::default();
    let first = super::super::testutil::feed(&mut j, 10.0, 30, GOOD, BAD);
    assert_eq!(first[29], Inconclusive, "1 failed of 3");
    j.new_step();
    assert_eq!(j.measurements, 0);
}
