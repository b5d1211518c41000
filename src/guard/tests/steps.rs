//! Weight moves: the first step, each later step, the 0..=100 range, and no move
//! that goes down or stays put (a rollback is the way down).

use super::*;
use crate::canary::VerdictKind;

#[test]
fn table() {
    check_table(vec![
        ("first step within limit", |_| {}, weight(5), 0.0, None),
        (
            "first step too big",
            |_| {},
            weight(50),
            0.0,
            Some(Rule::MaxFirstStep),
        ),
        (
            "jump to 100 at high risk",
            |_| {},
            weight(100),
            0.0,
            Some(Rule::MaxFirstStep),
        ),
        (
            "weight above 100",
            |_| {},
            weight(101),
            0.0,
            Some(Rule::WeightRange),
        ),
        (
            "step too big",
            |s| at(5, 0.0, Some(VerdictKind::Pass), s),
            weight(25),
            400.0,
            Some(Rule::MaxStep),
        ),
        (
            "decrease",
            |s| at(20, 0.0, Some(VerdictKind::Pass), s),
            weight(5),
            400.0,
            Some(Rule::WeightDecrease),
        ),
        (
            "unchanged",
            |s| at(20, 0.0, Some(VerdictKind::Pass), s),
            weight(20),
            400.0,
            Some(Rule::WeightUnchanged),
        ),
    ]);
}
