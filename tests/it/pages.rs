//! serve's read-only pages over HTTP (no browser): escaping, access, the SSE
//! stream and its resume, GET only.

use std::sync::Arc;
use std::time::Duration;

use deploy_agent::journal::Journal;
use deploy_agent::serve::live::Closing;
use deploy_agent::serve::pages::{self, Access};

use crate::support::live::{journal, replay, simulated_events, HOSTILE};
use crate::support::loopback::{serve, serve_with_peer};

async fn finished_rollout(id: &str) -> (tempfile::TempDir, Arc<dyn Journal>, usize) {
    let (dir, journal) = journal();
    let events = simulated_events(id).await;
    let n = events.len();
    replay(journal.clone(), events, Duration::ZERO)
        .join()
        .expect("writer");
    (dir, journal, n)
}

#[tokio::test]
async fn journal_text_is_escaped_and_nothing_can_change_a_rollout() {
    let (_dir, journal, _) = finished_rollout("checkout-esc-1").await;
    let addr = serve_with_peer(pages::router(journal, Access::default(), Closing::never())).await;
    let http = reqwest::Client::new();
    let page = http
        .get(format!("http://{addr}/rollouts/checkout-esc-1"))
        .send()
        .await
        .expect("GET page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(!html.contains(HOSTILE), "raw journal markup in the page");
    assert!(html.contains("&lt;script&gt;window.__xss = 1&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"));
    for id in [
        "id=\"weight\"",
        "id=\"outcome\"",
        "id=\"events\"",
        "id=\"chart\"",
    ] {
        assert!(html.contains(id), "{id} missing");
    }
    assert!(!html.to_lowercase().contains("<form"), "no forms");
    let post = http
        .post(format!("http://{addr}/rollouts/checkout-esc-1"))
        .send()
        .await
        .expect("POST");
    assert_eq!(post.status(), 405, "read-only: GET only");
    let missing = http
        .get(format!("http://{addr}/rollouts/nope"))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), 404);
    let svg = http
        .get(format!("http://{addr}/rollouts/checkout-esc-1/chart.svg"))
        .send()
        .await
        .expect("GET chart");
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.expect("svg").contains("<polyline"));
}

#[tokio::test]
async fn without_a_token_only_loopback_peers_are_served_and_a_token_opens_them() {
    let (_dir, journal, _) = finished_rollout("checkout-acc-1").await;
    // No peer recorded: treated as not loopback.
    let no_peer = serve(pages::router(
        journal.clone(),
        Access::default(),
        Closing::never(),
    ))
    .await;
    let refused = reqwest::get(format!("http://{no_peer}/rollouts"))
        .await
        .expect("GET");
    assert_eq!(refused.status(), 403);
    let says = refused.text().await.expect("body");
    assert!(says.contains(pages::TOKEN_ENV), "{says}");

    let access = Access {
        token: Some("s3cret".into()),
    };
    let addr = serve_with_peer(pages::router(journal, access, Closing::never())).await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/rollouts");
    assert_eq!(http.get(&url).send().await.expect("GET").status(), 401);
    let bad = http
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .expect("GET");
    assert_eq!(bad.status(), 401);
    let ok = http
        .get(&url)
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("GET");
    assert_eq!(ok.status(), 200);
    let by_query = http
        .get(format!("{url}?token=s3cret"))
        .send()
        .await
        .expect("GET");
    assert_eq!(by_query.status(), 200);
    let list = by_query.text().await.expect("body");
    assert!(
        list.contains("/rollouts/checkout-acc-1?token=s3cret"),
        "links carry the token"
    );
}

#[tokio::test]
async fn events_stream_resumes_after_last_event_id_and_ends_after_finished() {
    let (_dir, journal, n) = finished_rollout("checkout-sse-1").await;
    let addr = serve_with_peer(pages::router(journal, Access::default(), Closing::never())).await;
    let url = format!("http://{addr}/rollouts/checkout-sse-1/events");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let all = http
        .get(&url)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("stream ends");
    let ids: Vec<u64> = all
        .lines()
        .filter_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
        .map(|v| v.trim().parse().expect("seq"))
        .collect();
    assert_eq!(ids, (1..=n as u64).collect::<Vec<_>>());
    assert!(all.contains("\"outcome\":\"promoted\""), "{all}");
    let resumed = http
        .get(&url)
        .header("Last-Event-ID", (n - 2).to_string())
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("stream ends");
    let count = resumed.lines().filter(|l| l.starts_with("id:")).count();
    assert_eq!(count, 2, "{resumed}");
}

#[tokio::test]
async fn events_stream_of_a_running_rollout_ends_when_serve_shuts_down() {
    let (_dir, journal) = journal();
    let events = simulated_events("checkout-run-1").await;
    // Started and one more: running, nothing more coming.
    replay(journal.clone(), events[..2].to_vec(), Duration::ZERO)
        .join()
        .expect("writer");
    let (closing, rx) = tokio::sync::watch::channel(false);
    let app = pages::router(journal, Access::default(), Closing::on(rx));
    let addr = serve_with_peer(app).await;
    let url = format!("http://{addr}/rollouts/checkout-run-1/events");
    let mut stream = reqwest::get(&url).await.expect("GET");
    let first = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .expect("the first events in time")
        .expect("chunk");
    assert!(first.is_some_and(|c| String::from_utf8_lossy(&c).contains("id:")));
    closing.send(true).expect("send");
    let rest = tokio::time::timeout(Duration::from_secs(2), async {
        while stream.chunk().await.expect("chunk").is_some() {}
    })
    .await;
    assert!(rest.is_ok(), "the stream did not end at shutdown");
}
