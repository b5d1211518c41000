use super::super::testutil::feed;
use super::*;

const HEALTHY: Option<(u64, u64, f64)> = Some((1000, 0, 80.0));

#[test]
fn promotes_after_ten_good_intervals() {
    let mut j = FlaggerJudge::default();
    let kinds = feed(&mut j, 10.0, 60, HEALTHY, HEALTHY);
    assert_eq!(kinds.iter().position(|k| *k == VerdictKind::Pass), Some(59));
    assert!(!kinds.contains(&VerdictKind::Fail));
}

#[test]
fn fails_after_five_failed_intervals() {
    let mut j = FlaggerJudge::default();
    // 2 % errors: success rate 98 % < 99 %.
    let kinds = feed(&mut j, 10.0, 30, HEALTHY, Some((1000, 20, 80.0)));
    assert_eq!(kinds.iter().position(|k| *k == VerdictKind::Fail), Some(29));
}

#[test]
fn slow_p99_fails_the_check() {
    let mut j = FlaggerJudge::default();
    let kinds = feed(&mut j, 10.0, 30, HEALTHY, Some((1000, 0, 600.0)));
    assert_eq!(kinds[29], VerdictKind::Fail);
}

#[test]
fn nan_counts_as_failed_and_failures_are_cumulative() {
    let mut j = FlaggerJudge::default();
    // 3 intervals without canary metrics, then 2 with zero canary requests,
    // interleaved with good ones: the counter never resets.
    let mut t = 10.0;
    for canary in [None, None, HEALTHY, None, Some((0, 0, 0.0)), HEALTHY] {
        let kinds = feed(&mut j, t, 6, HEALTHY, canary);
        t += 60.0;
        assert!(!kinds[..5].contains(&VerdictKind::Fail));
        if canary == HEALTHY {
            assert_eq!(kinds[5], VerdictKind::Inconclusive);
        }
    }
    let kinds = feed(&mut j, t, 6, HEALTHY, None);
    assert_eq!(kinds[5], VerdictKind::Fail);
}
