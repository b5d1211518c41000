//! Approval: no move before a required approval, none after a rejection.

use super::*;
use crate::canary::VerdictKind;

#[test]
fn table() {
    check_table(vec![
        (
            "move before approval",
            |s| s.risk.requires_approval = true,
            weight(5),
            0.0,
            Some(Rule::ApprovalRequired),
        ),
        (
            "move after approval",
            |s| {
                s.risk.requires_approval = true;
                approve(s, true)
            },
            weight(5),
            0.0,
            None,
        ),
        (
            "move after rejection",
            |s| approve(s, false),
            weight(5),
            0.0,
            Some(Rule::ApprovalRejected),
        ),
        (
            "promote before approval",
            |s| {
                s.risk.requires_approval = true;
                at(50, 0.0, Some(VerdictKind::Pass), s)
            },
            promote(),
            300.0,
            Some(Rule::ApprovalRequired),
        ),
    ]);
}
