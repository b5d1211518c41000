//! Promotion: only from the policy's weight on a Pass, or at 0 for an unverified
//! `direct` strategy.

use super::*;
use crate::canary::VerdictKind;

#[test]
fn table() {
    check_table(vec![
        (
            "promote too early",
            |s| at(20, 0.0, Some(VerdictKind::Pass), s),
            promote(),
            400.0,
            Some(Rule::PromoteTooEarly),
        ),
        (
            "promote from 0 on a canary strategy",
            |_| {},
            promote(),
            0.0,
            Some(Rule::PromoteTooEarly),
        ),
        (
            "promote on pass at 50",
            |s| at(50, 0.0, Some(VerdictKind::Pass), s),
            promote(),
            300.0,
            None,
        ),
        (
            "promote on no data at 50",
            |s| at(50, 0.0, Some(VerdictKind::NoData), s),
            promote(),
            300.0,
            Some(Rule::VerdictNotPass),
        ),
        (
            "unverified direct strategy promotes at 0",
            |s| {
                s.limits.direct = true;
                s.limits.unverified = true;
            },
            promote(),
            0.0,
            None,
        ),
        (
            "verified direct strategy does not promote at 0",
            |s| {
                s.limits.direct = true;
                s.limits.promote_min_weight = 100;
            },
            promote(),
            0.0,
            Some(Rule::PromoteTooEarly),
        ),
        (
            "verified direct strategy promotes at 100 on a Pass",
            |s| {
                s.limits.direct = true;
                s.limits.promote_min_weight = 100;
                at(100, 0.0, Some(VerdictKind::Pass), s)
            },
            promote(),
            300.0,
            None,
        ),
    ]);
}
