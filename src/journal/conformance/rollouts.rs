//! Rollouts, their events and write-ahead intents: numbered in order without gaps
//! (also from several handles at once), finished once, listed newest first, and
//! written by the `JournalSink` the rollout loop uses.

use super::*;

pub fn events_are_numbered_in_order_and_finished_ends_the_rollout(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    let events = [
        Event::WeightChanged { from: 0, to: 5 },
        Event::Judged {
            weight: 5,
            verdict: verdict(VerdictKind::Pass),
        },
        Event::WeightChanged { from: 5, to: 25 },
    ];
    let seqs: Vec<u64> = events
        .iter()
        .enumerate()
        .map(|(i, e)| j.append("r1", i as f64 * 10.0, e).unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(
        j.rollout("r1").unwrap().weight,
        25,
        "weight follows WeightChanged"
    );
    assert_eq!(j.unfinished().unwrap().len(), 1);

    assert_eq!(
        j.append("r1", 40.0, &finished(Outcome::Promoted, 100))
            .unwrap(),
        4
    );
    let stored = j.events("r1").unwrap();
    let kinds: Vec<&str> = stored.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["weight_changed", "judged", "weight_changed", "finished"]
    );
    assert_eq!(stored[2].payload, serde_json::json!({"from": 5, "to": 25}));
    assert_eq!(stored[1].at, 10.0);
    let r = j.rollout("r1").unwrap();
    assert_eq!(r.outcome.as_deref(), Some("promoted"));
    assert_eq!(
        (r.weight, r.reason.as_deref()),
        (100, Some("all steps passed"))
    );
    assert!(r.finished_at.is_some());
    assert!(j.unfinished().unwrap().is_empty());

    let after = j.append("r1", 50.0, &Event::WeightChanged { from: 0, to: 5 });
    assert!(matches!(after, Err(JournalError::Conflict(_))), "{after:?}");
    let twice = j.finish("r1", Outcome::Aborted, "again", 0);
    assert!(matches!(twice, Err(JournalError::Conflict(_))), "{twice:?}");
}

pub fn a_failed_rollback_keeps_the_rollout_open_until_resume_finishes_it(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    j.append("r1", 1.0, &Event::WeightChanged { from: 0, to: 25 })
        .unwrap();
    j.append("r1", 2.0, &finished(Outcome::RollbackFailed, 25))
        .unwrap();
    let r = j.rollout("r1").unwrap();
    assert_eq!(r.outcome.as_deref(), Some("rollback_failed"));
    assert_eq!(r.weight, 25, "the record says what still serves");
    assert!(r.finished_at.is_none(), "still open");
    let open_ids: Vec<String> = j.unfinished().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(open_ids, ["r1"], "resume must find it");
    // `resume` appends to it and finishes it for good.
    j.append("r1", 3.0, &Event::WeightChanged { from: 25, to: 0 })
        .unwrap();
    j.append("r1", 3.0, &finished(Outcome::RolledBack, 0))
        .unwrap();
    let r = j.rollout("r1").unwrap();
    assert_eq!(r.outcome.as_deref(), Some("rolled_back"));
    assert!(r.finished_at.is_some());
    assert!(j.unfinished().unwrap().is_empty());
}

pub fn unknown_and_duplicate_rollouts_are_typed_errors(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    assert!(matches!(
        j.begin(&record("r1")),
        Err(JournalError::Conflict(_))
    ));
    let e = Event::WeightChanged { from: 0, to: 5 };
    assert!(matches!(j.append("nope", 0.0, &e), Err(JournalError::NotFound(id)) if id == "nope"));
    assert!(matches!(j.rollout("nope"), Err(JournalError::NotFound(_))));
    assert!(matches!(j.events("nope"), Err(JournalError::NotFound(_))));
    assert!(matches!(
        j.open_intents("nope"),
        Err(JournalError::NotFound(_))
    ));
    assert!(matches!(
        j.finish("nope", Outcome::Aborted, "x", 0),
        Err(JournalError::NotFound(_))
    ));
}

pub fn history_lists_newest_first_and_filters_by_service(open: Open<'_>) {
    let j = open();
    for (i, service) in ["checkout", "search", "checkout"].iter().enumerate() {
        let mut r = record(&format!("r{i}"));
        r.service = service.to_string();
        r.started_at += i as f64;
        j.begin(&r).unwrap();
    }
    let ids = |rs: Vec<RolloutRecord>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(j.list(None, 10).unwrap()), ["r2", "r1", "r0"]);
    assert_eq!(ids(j.list(Some("checkout"), 10).unwrap()), ["r2", "r0"]);
    assert_eq!(ids(j.list(None, 1).unwrap()), ["r2"]);
    assert_eq!(j.rollout("r1").unwrap().service, "search");
}

pub fn intents_stay_open_until_applied(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    let a = j
        .intent("r1", 0.0, "set_weight", serde_json::json!({"weight": 5}))
        .unwrap();
    let b = j
        .intent("r1", 60.0, "set_weight", serde_json::json!({"weight": 25}))
        .unwrap();
    assert_eq!((a, b), (1, 2));
    j.applied("r1", a, true, "weight 5 read back").unwrap();
    let open_now = j.open_intents("r1").unwrap();
    assert_eq!(open_now.len(), 1);
    assert_eq!(
        (open_now[0].seq, &open_now[0].payload),
        (b, &serde_json::json!({"weight": 25}))
    );
    assert!(matches!(
        j.applied("r1", a, true, "again"),
        Err(JournalError::Conflict(_))
    ));
    assert!(matches!(
        j.applied("r1", 99, true, ""),
        Err(JournalError::IntentNotFound { seq: 99, .. })
    ));
    j.applied("r1", b, false, "target refused").unwrap();
    assert!(j.open_intents("r1").unwrap().is_empty());
}

/// Handles appending to one rollout at once from several threads get distinct
/// sequence numbers 1..=n, events and intents alike.
pub fn concurrent_appends_are_numbered_without_gaps(open: Open<'_>, handles: usize, each: usize) {
    open().begin(&record("r1")).unwrap();
    let journals: Vec<_> = (0..handles).map(|_| open()).collect();
    let seqs: Vec<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = journals
            .iter()
            .enumerate()
            .map(|(h, j)| {
                s.spawn(move || {
                    (0..each)
                        .map(|i| {
                            let e = Event::WeightChanged {
                                from: 0,
                                to: u8::try_from((h * each + i) % 100).unwrap_or(0),
                            };
                            j.append("r1", i as f64, &e).unwrap()
                        })
                        .chain((0..2).map(|_| {
                            j.intent("r1", 0.0, "set_weight", serde_json::json!({}))
                                .unwrap()
                                + 1_000_000
                        }))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let (mut events, mut intents): (Vec<u64>, Vec<u64>) =
        seqs.into_iter().partition(|s| *s < 1_000_000);
    events.sort_unstable();
    intents.sort_unstable();
    let n = (handles * each) as u64;
    assert_eq!(events, (1..=n).collect::<Vec<_>>(), "event numbers");
    let m = (handles * 2) as u64;
    assert_eq!(
        intents,
        (1..=m).map(|s| s + 1_000_000).collect::<Vec<_>>(),
        "intent numbers"
    );
    let stored: Vec<u64> = open().events("r1").unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(stored, (1..=n).collect::<Vec<_>>());
}

pub fn journal_sink_writes_the_rollout_row_and_its_end(open: Open<'_>) {
    let journal = open();
    let mut sink = JournalSink::new(journal.clone());
    sink.emit(0.0, &started("r1"));
    sink.emit(1.0, &Event::WeightChanged { from: 0, to: 5 });
    sink.emit(70.0, &finished(Outcome::RolledBack, 0));
    assert!(sink.error().is_none(), "{:?}", sink.error());
    let r = journal.rollout("r1").unwrap();
    assert_eq!(
        (r.service.as_str(), r.planner.as_str()),
        ("checkout", "playbook")
    );
    assert_eq!((r.outcome.as_deref(), r.weight), (Some("rolled_back"), 0));
    assert_eq!(journal.events("r1").unwrap().len(), 3);

    // The same id again: refused, and nothing lands in the first rollout's log.
    let mut again = JournalSink::new(journal.clone());
    again.emit(0.0, &started("r1"));
    again.emit(1.0, &Event::WeightChanged { from: 0, to: 5 });
    assert!(matches!(again.error(), Some(JournalError::Conflict(_))));
    assert_eq!(journal.events("r1").unwrap().len(), 3);
}

pub fn a_planner_handover_renames_the_rollouts_planner(open: Open<'_>) {
    let j = open();
    j.begin(&record("r1")).unwrap();
    assert_eq!(j.rollout("r1").unwrap().planner, "playbook");
    let handover = Event::PlannerHandover {
        from: "llm:small".into(),
        to: "playbook".into(),
        reason: "2 malformed turns".into(),
        turn: 3,
    };
    j.append("r1", 10.0, &handover).unwrap();
    assert_eq!(
        j.rollout("r1").unwrap().planner,
        "llm:small → playbook",
        "history and show name both planners"
    );
    let stored = j.events("r1").unwrap();
    assert_eq!(stored[0].kind, "planner_handover");
    assert_eq!(stored[0].payload["reason"], "2 malformed turns");
}
