//! Evidence for a step: the bake time, a Pass (not Inconclusive, NoData or Fail),
//! and a Pass fresh enough to cover the whole bake.

use super::*;
use crate::canary::VerdictKind;

#[test]
fn table() {
    check_table(vec![
        (
            "a Pass judged before the bake ended",
            |s| {
                at(5, 0.0, Some(VerdictKind::Pass), s);
                s.verdict_until = 100.0;
            },
            weight(20),
            301.0,
            Some(Rule::StaleVerdict),
        ),
        (
            "a Pass older than max_verdict_age",
            |s| {
                at(5, 0.0, Some(VerdictKind::Pass), s);
                s.max_verdict_age = 60.0;
            },
            weight(20),
            400.0,
            Some(Rule::StaleVerdict),
        ),
        (
            "a Pass within max_verdict_age",
            |s| {
                at(5, 0.0, Some(VerdictKind::Pass), s);
                s.max_verdict_age = 60.0;
            },
            weight(20),
            350.0,
            None,
        ),
        (
            "step before bake",
            |s| at(5, 0.0, Some(VerdictKind::Pass), s),
            weight(20),
            100.0,
            Some(Rule::BakeTime),
        ),
        (
            "step with pass after bake",
            |s| at(5, 0.0, Some(VerdictKind::Pass), s),
            weight(20),
            300.0,
            None,
        ),
        (
            "step with no verdict",
            |s| at(5, 0.0, None, s),
            weight(20),
            400.0,
            Some(Rule::VerdictNotPass),
        ),
        (
            "step on inconclusive",
            |s| at(5, 0.0, Some(VerdictKind::Inconclusive), s),
            weight(20),
            400.0,
            Some(Rule::VerdictNotPass),
        ),
        (
            "step on no data",
            |s| at(5, 0.0, Some(VerdictKind::NoData), s),
            weight(20),
            400.0,
            Some(Rule::VerdictNotPass),
        ),
        (
            "step on fail",
            |s| at(5, 0.0, Some(VerdictKind::Fail), s),
            weight(20),
            400.0,
            Some(Rule::VerdictNotPass),
        ),
    ]);
}
