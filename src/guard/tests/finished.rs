//! After the end: a rollback is always allowed unless promoted, nothing else
//! moves, reads still answer.

use super::*;
use crate::canary::VerdictKind;
use crate::rollout::state::Outcome;
use crate::tools::{QueryMetricsArgs, RollbackArgs};

#[test]
fn table() {
    check_table(vec![
        (
            "rollback always",
            |s| at(20, 0.0, Some(VerdictKind::Fail), s),
            ToolCall::Rollback(RollbackArgs { reason: "x".into() }),
            1.0,
            None,
        ),
        (
            "rollback after rollback",
            |s| s.finish(Outcome::RolledBack, 0),
            ToolCall::Rollback(RollbackArgs { reason: "x".into() }),
            1.0,
            None,
        ),
        (
            "rollback after promote",
            |s| s.finish(Outcome::Promoted, 100),
            ToolCall::Rollback(RollbackArgs { reason: "x".into() }),
            1.0,
            Some(Rule::AlreadyPromoted),
        ),
        (
            "weight after the end",
            |s| s.finish(Outcome::Aborted, 0),
            weight(5),
            1.0,
            Some(Rule::RolloutFinished),
        ),
        (
            "reads after the end",
            |s| s.finish(Outcome::Aborted, 0),
            ToolCall::QueryMetrics(QueryMetricsArgs { wait_seconds: None }),
            1.0,
            None,
        ),
    ]);
}
