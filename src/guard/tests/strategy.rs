//! `choose_strategy`: a more cautious level's strategy before any traffic,
//! never a faster one. The state is the high-risk 5 % / +15 % / 300 s / 50 %
//! canary; each row gives `critical` a strategy and says what the guard answers.

use super::*;
use crate::canary::VerdictKind;
use crate::tools::ChooseStrategyArgs;

fn choose(level: Level) -> ToolCall {
    ToolCall::ChooseStrategy(ChooseStrategyArgs {
        level,
        reason: "test".into(),
    })
}

fn canary(first_weight: u8, step: u8, bake_seconds: u32, promote_at: u8) -> Strategy {
    Strategy::Canary {
        first_weight,
        step,
        bake_seconds,
        promote_at,
    }
}

/// The answer to choosing `level` (given `strategy`) from a state set up by `setup`.
fn answer(
    level: Level,
    strategy: Strategy,
    setup: impl FnOnce(&mut RolloutState),
) -> Result<(), Veto> {
    let mut s = state(Level::High, false);
    s.strategies.insert(level, strategy);
    setup(&mut s);
    check(choose(level), &s, 0.0).map(|_| ())
}

#[test]
fn a_slower_strategy_is_allowed_before_traffic() {
    // The default policy's critical strategy: smaller steps, longer bakes.
    assert_eq!(
        answer(Level::Critical, canary(1, 10, 600, 50), |_| {}),
        Ok(())
    );
    // The same limits are not looser: choosing them is allowed.
    assert_eq!(
        answer(Level::Critical, canary(5, 15, 300, 50), |_| {}),
        Ok(())
    );
}

#[test]
fn each_looser_limit_is_vetoed_naming_it() {
    let cases = [
        (
            canary(10, 15, 300, 50),
            "the critical strategy's first step (10%) is larger than the current 5%",
        ),
        (
            canary(5, 30, 300, 50),
            "the critical strategy's step (30 points) is larger than the current 15 points",
        ),
        (
            canary(5, 15, 120, 50),
            "the critical strategy's bake (120 s) is shorter than the current 300 s",
        ),
        (
            canary(5, 15, 300, 40),
            "the critical strategy promotes from 40%, below the current 50%",
        ),
        (
            Strategy::Direct { verify_seconds: 600 },
            "the critical strategy is a direct deploy (all traffic at once), faster than the current canary",
        ),
    ];
    for (strategy, want) in cases {
        let veto = answer(Level::Critical, strategy.clone(), |_| {}).unwrap_err();
        assert_eq!(
            veto.rule,
            Rule::StrategyTooFast,
            "{strategy:?}: {}",
            veto.reason
        );
        assert!(
            veto.reason.starts_with(want),
            "{strategy:?}: {}",
            veto.reason
        );
    }
}

#[test]
fn after_traffic_moved_no_strategy_is_allowed() {
    let veto = answer(Level::Critical, canary(1, 10, 600, 50), |s| {
        at(5, 0.0, Some(VerdictKind::Pass), s)
    })
    .unwrap_err();
    assert_eq!(veto.rule, Rule::StrategyAfterTraffic, "{}", veto.reason);
    assert!(veto.reason.contains("at 5%"), "{}", veto.reason);
    // Nor after a step that the target has already undone to 0 %.
    let veto = answer(Level::Critical, canary(1, 10, 600, 50), |s| {
        at(5, 0.0, None, s);
        s.weight = 0;
    })
    .unwrap_err();
    assert_eq!(veto.rule, Rule::StrategyAfterTraffic, "{}", veto.reason);
}

#[test]
fn direct_to_canary_is_slower_and_canary_to_direct_is_faster() {
    let from_direct = |s: &mut RolloutState| {
        s.limits = Limits::new(&Strategy::Direct {
            verify_seconds: 300,
        });
    };
    // Any canary is slower than all traffic at once, whatever its promotion weight.
    assert_eq!(
        answer(Level::High, canary(5, 15, 300, 50), from_direct),
        Ok(())
    );
    // A direct deploy verified longer is slower; one verified less is not.
    assert_eq!(
        answer(
            Level::Medium,
            Strategy::Direct {
                verify_seconds: 600
            },
            from_direct
        ),
        Ok(())
    );
    let veto = answer(
        Level::Medium,
        Strategy::Direct { verify_seconds: 0 },
        from_direct,
    )
    .unwrap_err();
    assert_eq!(veto.rule, Rule::StrategyTooFast, "{}", veto.reason);
    assert!(veto.reason.contains("bake (0 s)"), "{}", veto.reason);
    let veto = answer(
        Level::Low,
        Strategy::Direct {
            verify_seconds: 300,
        },
        |_| {},
    )
    .unwrap_err();
    assert_eq!(veto.rule, Rule::StrategyTooFast, "{}", veto.reason);
    assert!(veto.reason.contains("direct deploy"), "{}", veto.reason);
}

#[test]
fn a_level_without_a_strategy_and_a_finished_rollout_are_vetoed() {
    let s = state(Level::High, false);
    let veto = check(choose(Level::Critical), &s, 0.0).unwrap_err();
    assert_eq!(veto.rule, Rule::InvalidArguments, "{}", veto.reason);
    let mut s = state(Level::High, false);
    s.strategies.insert(Level::Critical, canary(1, 10, 600, 50));
    s.finish(crate::rollout::state::Outcome::Aborted, 0);
    let veto = check(choose(Level::Critical), &s, 0.0).unwrap_err();
    assert_eq!(veto.rule, Rule::RolloutFinished, "{}", veto.reason);
}
