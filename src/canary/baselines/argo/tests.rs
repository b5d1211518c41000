use super::super::testutil::feed;
use super::*;

const GOOD: Option<(u64, u64, f64)> = Some((1000, 10, 80.0));
const BAD: Option<(u64, u64, f64)> = Some((1000, 100, 80.0));

/// Feeds one 5-minute measurement and returns its verdict.
fn measurement(j: &mut ArgoJudge, index: usize, canary: Option<(u64, u64, f64)>) -> VerdictKind {
    let kinds = feed(j, 10.0 + 300.0 * index as f64, 30, GOOD, canary);
    assert!(kinds[..29].iter().all(|k| *k == VerdictKind::Inconclusive));
    kinds[29]
}

#[test]
fn promotes_after_eight_measurements() {
    let mut j = ArgoJudge::default();
    let kinds: Vec<_> = (0..8).map(|i| measurement(&mut j, i, GOOD)).collect();
    assert_eq!(kinds[7], VerdictKind::Pass);
    assert!(kinds[..7].iter().all(|k| *k == VerdictKind::Inconclusive));
}

#[test]
fn fails_when_failures_exceed_the_limit() {
    let mut j = ArgoJudge::default();
    let kinds: Vec<_> = [BAD, GOOD, BAD, BAD, BAD]
        .iter()
        .enumerate()
        .map(|(i, c)| measurement(&mut j, i, *c))
        .collect();
    assert_eq!(
        kinds[3],
        VerdictKind::Inconclusive,
        "3 failures are allowed"
    );
    assert_eq!(kinds[4], VerdictKind::Fail);
}

#[test]
fn fails_on_the_fifth_consecutive_error_only() {
    let mut j = ArgoJudge::new(ArgoAnalysisConfig {
        count: 20,
        ..ArgoAnalysisConfig::default()
    });
    // Four errors, a good one (ends the streak), then five errors.
    let plan = [None, None, None, None, GOOD, None, None, None, None, None];
    let kinds: Vec<_> = plan
        .iter()
        .enumerate()
        .map(|(i, c)| measurement(&mut j, i, *c))
        .collect();
    assert!(!kinds[..9].contains(&VerdictKind::Fail), "{kinds:?}");
    assert_eq!(kinds[9], VerdictKind::Fail);
    // A window with zero canary requests is an error too.
    let mut j = ArgoJudge::default();
    let kinds: Vec<_> = (0..5)
        .map(|i| measurement(&mut j, i, Some((0, 0, 0.0))))
        .collect();
    assert_eq!(kinds[4], VerdictKind::Fail);
}
