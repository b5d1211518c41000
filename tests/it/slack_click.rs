//! The click path of the real `serve` under a slow or failing Slack: the HTTP
//! answer comes at once and the outcome later through `response_url`; group
//! memberships are read once per TTL; a membership that cannot be read never
//! approves. The fake Web API makes `usergroups.users.list` slow or absent.

use std::time::{Duration, Instant};

use deploy_agent::journal::wall_now;

use crate::slack_serve::{rollout_of, setup, setup_with, Setup, SIGNING_SECRET, WAIT};

/// Well under Slack's 3 s, however slow the Slack API is.
const ACK_BUDGET: Duration = Duration::from_secs(1);

fn slow_groups(s: &Setup, delay: Duration) {
    s.slack
        .state
        .lock()
        .unwrap()
        .delays
        .insert("usergroups.users.list".into(), delay);
}

fn group_lookups(s: &Setup) -> usize {
    s.slack.calls("usergroups.users.list").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_click_is_acknowledged_at_once_while_the_group_lookup_is_slow() {
    let s = setup(false).await;
    s.push(1).await;
    let value = s.posted(1).await;
    slow_groups(&s, Duration::from_secs(4));

    // U456 is only an approver as a member of SOPS: the decision needs the lookup.
    let click = s.signed("U456", "approve", &value, wall_now() as i64, SIGNING_SECRET);
    let clicked = Instant::now();
    let (status, took) = s.ack(&click).await;
    println!("slack interactivity ack latency with a 4 s usergroups.users.list: {took:?}");
    assert_eq!(status, 200);
    assert!(took < ACK_BUDGET, "acknowledged after {took:?}");

    let decided = s.slack.reply(&click.reply_to, 1, WAIT).await;
    assert!(decided.contains("approved by slack:U456"), "{decided}");
    let waited = clicked.elapsed();
    println!("decision reply arrived {waited:?} after the click");
    assert!(
        waited >= Duration::from_secs(4),
        "the reply came after the lookup"
    );
    assert_eq!(s.outcome(&rollout_of(&value)).await, "promoted");
    assert_eq!(group_lookups(&s), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_group_members_are_looked_up_once_within_the_ttl() {
    let s = setup(true).await;
    s.push(1).await;
    let value = s.posted(1).await;
    // A burst: a non-member and a member click while the lookup is slow.
    slow_groups(&s, Duration::from_millis(500));
    let (stranger, member) = tokio::join!(
        s.click("U999", "approve", &value),
        s.click("U456", "approve", &value)
    );
    assert!(stranger.1.contains("not an approver"), "{}", stranger.1);
    assert!(
        member.1.contains("1 of 2 approvals recorded"),
        "{}",
        member.1
    );
    assert_eq!(group_lookups(&s), 1, "one lookup for the burst");

    // The channel sees the first approval; nothing new is posted.
    let progress = s
        .update_with("1 of 2 approvals: approved by <@U456>, waiting for another approver")
        .await;
    assert_eq!(
        progress.body["blocks"][1]["elements"][0]["value"],
        value.as_str()
    );

    let (_, text) = s.click("U789", "approve", &value).await;
    assert!(text.contains("approved by slack:U789"), "{text}");
    assert_eq!(group_lookups(&s), 1, "the second member hit the cache");
    assert_eq!(s.outcome(&rollout_of(&value)).await, "promoted");
    assert_eq!(s.slack.calls("chat.postMessage").len(), 1, "one post only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_group_cache_of_zero_seconds_asks_at_every_click() {
    let s = setup_with(true, "group_cache_secs = 0").await;
    s.push(1).await;
    let value = s.posted(1).await;
    let (_, text) = s.click("U456", "approve", &value).await;
    assert!(text.contains("1 of 2 approvals recorded"), "{text}");
    let (_, text) = s.click("U789", "approve", &value).await;
    assert!(text.contains("approved by slack:U789"), "{text}");
    assert_eq!(group_lookups(&s), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_unreadable_group_never_approves_and_says_so() {
    let s = setup(false).await;
    s.slack.state.lock().unwrap().groups.clear();
    s.push(1).await;
    let value = s.posted(1).await;
    let (status, text) = s.click("U456", "approve", &value).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("not counted") && text.contains("SOPS") && text.contains("no_such_subteam"),
        "{text}"
    );
    // A failure is not cached: Slack is asked again, and the user id still decides.
    let (_, text) = s.click("U456", "approve", &value).await;
    assert!(text.contains("not counted"), "{text}");
    assert_eq!(group_lookups(&s), 2);
    let (_, text) = s.click("U123", "approve", &value).await;
    assert!(text.contains("approved by slack:U123"), "{text}");
    assert_eq!(s.outcome(&rollout_of(&value)).await, "promoted");
}
