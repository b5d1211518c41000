//! What the target can serve: a weight it would round up is refused, one it serves
//! exactly is allowed.

use super::*;
use crate::canary::VerdictKind;
use crate::traffic::Granularity;

#[test]
fn table() {
    check_table(vec![
        (
            "a first step four pods cannot serve",
            |s| s.granularity = Granularity::Replicas { total: 4 },
            weight(5),
            0.0,
            Some(Rule::TargetGranularity),
        ),
        (
            "a first step twenty pods serve exactly",
            |s| s.granularity = Granularity::Replicas { total: 20 },
            weight(5),
            0.0,
            None,
        ),
        (
            "a step the Rollout's next setWeight does not give",
            |s| {
                at(5, 0.0, Some(VerdictKind::Pass), s);
                s.granularity = Granularity::Steps {
                    steps: vec![5, 25, 50],
                    next: Some(25),
                };
            },
            weight(20),
            301.0,
            Some(Rule::TargetGranularity),
        ),
    ]);
}
