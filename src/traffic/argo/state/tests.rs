use serde_json::{json, Value};

use super::*;

fn rollout(replicas: u64, routing: bool, steps: Value, status: Value) -> ArgoRolloutState {
    let mut canary = json!({"steps": steps});
    if routing {
        canary["trafficRouting"] = json!({"nginx": {"stableIngress": "checkout"}});
    }
    ArgoRolloutState::read(&json!({
        "spec": {"replicas": replicas, "strategy": {"canary": canary}},
        "status": status,
    }))
}

fn steps(weights: &[u64]) -> Value {
    let mut s = vec![json!({"pause": {}})];
    for w in weights {
        s.push(json!({"setWeight": w}));
        s.push(json!({"pause": {}}));
    }
    Value::Array(s)
}

fn updating(index: u64, paused: bool) -> Value {
    let mut status = json!({"currentStepIndex": index, "stableRS": "aaa", "currentPodHash": "bbb"});
    if paused {
        status["pauseConditions"] = json!([{"reason": "CanaryPauseStep"}]);
    }
    status
}

#[test]
fn a_basic_canary_serves_whole_pods_rounded_as_argo_does() {
    // (replicas, setWeight) -> served share, from DesiredReplicaCountsForCanary.
    for (replicas, w, served) in [
        (4, 5, 20),
        (4, 25, 25),
        (4, 30, 40),
        (4, 50, 50),
        (10, 5, 10),
        (3, 50, 50),
        (1, 5, 50),
    ] {
        let s = rollout(replicas, false, steps(&[w]), json!({}));
        assert_eq!(s.served(w as u8), served, "{replicas} replicas at {w}%");
    }
    let routed = rollout(4, true, steps(&[5]), json!({}));
    assert_eq!(
        routed.served(5),
        5,
        "traffic routing serves the weight itself"
    );
}

#[test]
fn granularity_lists_served_steps_and_the_next_one() {
    let s = rollout(4, false, steps(&[5, 25, 50]), updating(0, true));
    assert_eq!(
        s.granularity(),
        Granularity::Steps {
            steps: vec![20, 25, 50],
            next: Some(20)
        }
    );
    // Paused after the second setWeight (index 4): next is 50 %.
    let s = rollout(4, false, steps(&[5, 25, 50]), updating(4, true));
    assert_eq!(s.target_index(), Some(5));
    // On its way (not paused, at a setWeight): that step is the target.
    let s = rollout(4, false, steps(&[5, 25, 50]), updating(3, false));
    assert_eq!(s.target_index(), Some(3));
    // Paused after the last one: no step left.
    let s = rollout(4, false, steps(&[5, 25, 50]), updating(6, true));
    assert_eq!(
        s.granularity(),
        Granularity::Steps {
            steps: vec![20, 25, 50],
            next: None
        }
    );
}

#[test]
fn the_weight_is_what_the_controller_reports() {
    let mut status = updating(2, true);
    status["replicas"] = json!(5);
    status["updatedReplicas"] = json!(1);
    assert_eq!(rollout(4, false, steps(&[5]), status.clone()).weight(), 20);
    status["abort"] = json!(true);
    assert_eq!(
        rollout(4, false, steps(&[5]), status.clone()).weight(),
        20,
        "aborted, canary not scaled down yet: still served"
    );
    status["updatedReplicas"] = json!(0);
    status["replicas"] = json!(4);
    assert_eq!(rollout(4, false, steps(&[5]), status).weight(), 0);

    let mut status = updating(2, true);
    status["canary"] = json!({"weights": {"canary": {"weight": 5}, "stable": {"weight": 95}}});
    assert_eq!(rollout(4, true, steps(&[5]), status).weight(), 5);
    let done = json!({"currentStepIndex": 3, "stableRS": "bbb", "currentPodHash": "bbb"});
    let s = rollout(4, false, steps(&[5]), done);
    assert_eq!((s.weight(), s.promoted()), (0, true));
}

#[test]
fn step_shapes_the_agent_cannot_drive_are_named() {
    let problem = |steps: Value| rollout(4, true, steps, json!({})).steps_problem();
    assert_eq!(problem(steps(&[5, 25])), None);
    assert!(problem(json!([{"setWeight": 5}, {"pause": {}}]))
        .unwrap()
        .contains("add `- pause: {}` as step 0"));
    assert!(
        problem(json!([{"pause": {"duration": "1m"}}, {"setWeight": 5}, {"pause": {}}]))
            .unwrap()
            .contains("step 0")
    );
    assert!(problem(json!([]))
        .unwrap()
        .contains("no spec.strategy.canary.steps"));
    assert!(problem(json!([{"pause": {}}, {"setWeight": 5}, {"pause": {"duration": 60}}, {"setWeight": 50}, {"pause": {}}]))
        .unwrap()
        .contains("no `pause: {}` between"));
    assert!(problem(json!([{"pause": {}}, {"setWeight": 5}]))
        .unwrap()
        .contains("at the end"));
    assert!(problem(json!([{"pause": {}}, {"experiment": {}}]))
        .unwrap()
        .contains("`experiment`"));
    assert_eq!(
        problem(json!([{"pause": {}}, {"setWeight": 5}, {"analysis": {}}, {"pause": {}}])),
        None,
        "an analysis before the pause leaves the weight alone"
    );
}
