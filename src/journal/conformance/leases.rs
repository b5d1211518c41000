//! Leases and claims: one holder per service, a takeover fences the old holder's
//! writes, a race grants the lease once, and a webhook delivery or a merge is claimed
//! once.

use super::*;

fn lease_req(rollout: &str, holder: &str, now: f64) -> LeaseRequest {
    LeaseRequest {
        service: "checkout".into(),
        rollout_id: rollout.into(),
        holder: holder.into(),
        ttl: 30.0,
        now,
    }
}

pub fn a_lease_has_one_holder_and_a_takeover_fences_the_old_one(open: Open<'_>) {
    let a = open();
    let b = open();
    a.begin(&record("r1")).unwrap();
    let mine = a.acquire_lease(&lease_req("r1", "agent-a", 100.0)).unwrap();
    assert_eq!((mine.generation, mine.expires_at), (1, 130.0));
    // Live: nobody else gets it, for this rollout or another.
    let held = b.acquire_lease(&lease_req("r1", "agent-b", 110.0));
    assert!(
        matches!(&held, Err(JournalError::LeaseHeld { holder, .. }) if holder == "agent-a"),
        "{held:?}"
    );
    assert!(b.acquire_lease(&lease_req("r2", "agent-b", 110.0)).is_err());
    // Renewed by its holder; writes under it pass.
    let renewed = a.renew_lease(&mine.fence(), 30.0, 120.0).unwrap();
    assert_eq!((renewed.generation, renewed.expires_at), (1, 150.0));
    let moved = Event::WeightChanged { from: 0, to: 5 };
    a.append_fenced(&mine.fence(), "r1", 1.0, &moved).unwrap();
    a.intent_fenced(
        &mine.fence(),
        "r1",
        1.0,
        "set_weight",
        serde_json::json!({"to": 10}),
    )
    .unwrap();
    // Expired: another holder takes the same rollout over, one generation up.
    let taken = b.acquire_lease(&lease_req("r1", "agent-b", 151.0)).unwrap();
    assert_eq!((taken.generation, taken.holder.as_str()), (2, "agent-b"));
    // The old holder is fenced: no event, no intent, no renewal, no release.
    let seen = a.events("r1").unwrap().len();
    assert!(matches!(
        a.append_fenced(&mine.fence(), "r1", 2.0, &moved),
        Err(JournalError::Fenced { .. })
    ));
    assert!(matches!(
        a.intent_fenced(
            &mine.fence(),
            "r1",
            2.0,
            "set_weight",
            serde_json::json!({})
        ),
        Err(JournalError::Fenced { .. })
    ));
    assert!(matches!(
        a.renew_lease(&mine.fence(), 30.0, 152.0),
        Err(JournalError::Fenced { .. })
    ));
    assert!(a.release_lease(&mine.fence()).is_err());
    assert_eq!(a.events("r1").unwrap().len(), seen, "nothing written");
    assert_eq!(a.open_intents("r1").unwrap().len(), 1);
    // A new rollout waits while r1 is unfinished, even once its lease expired.
    let err = a
        .acquire_lease(&lease_req("r2", "agent-a", 500.0))
        .unwrap_err();
    assert!(err.to_string().contains("waits to be taken over"), "{err}");
    // Finished and released: the next rollout gets it, one generation up.
    b.append_fenced(&taken.fence(), "r1", 3.0, &finished(Outcome::RolledBack, 0))
        .unwrap();
    b.release_lease(&taken.fence()).unwrap();
    let next = a.acquire_lease(&lease_req("r2", "agent-a", 501.0)).unwrap();
    assert_eq!(next.generation, 3);
    let all = a.leases().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].rollout_id, "r2");
}

pub fn a_lease_is_granted_once_when_two_race_for_it(open: Open<'_>) {
    let handles: Vec<Arc<dyn Journal>> = (0..4).map(|_| open()).collect();
    let barrier = std::sync::Barrier::new(handles.len());
    let won: Vec<bool> = std::thread::scope(|s| {
        let tasks: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let req = lease_req(&format!("r{i}"), &format!("agent-{i}"), 10.0);
                    j.acquire_lease(&req).is_ok()
                })
            })
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
}

pub fn a_delivery_and_a_merge_are_claimed_once(open: Open<'_>) {
    let j = open();
    let services = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let push = j
        .claim_merge("d-1", "push abc", "abc", &services(&["checkout"]), 1.0)
        .unwrap();
    assert_eq!(push, Some(services(&["checkout"])));
    let again = j
        .claim_merge(
            "d-1",
            "push abc",
            "abc",
            &services(&["checkout", "cart"]),
            2.0,
        )
        .unwrap();
    assert_eq!(again, None, "a redelivery writes nothing");
    let pr = j
        .claim_merge(
            "d-2",
            "pull_request abc",
            "abc",
            &services(&["checkout", "cart"]),
            2.0,
        )
        .unwrap();
    assert_eq!(
        pr,
        Some(services(&["cart"])),
        "the pull_request of the same merge claims only what the push did not"
    );
    // Where an approval was posted, for whoever ends the rollout.
    j.begin(&record("r1")).unwrap();
    assert!(
        j.set_approval_message("r1", REV, "C1:1.2").is_err(),
        "no request yet"
    );
    j.request_approval("r1", REV, "s", f64::MAX, 1).unwrap();
    assert_eq!(j.approval_message("r1", REV).unwrap(), None);
    j.set_approval_message("r1", REV, "C1:1.2").unwrap();
    assert_eq!(
        j.approval_message("r1", REV).unwrap().as_deref(),
        Some("C1:1.2")
    );
}
