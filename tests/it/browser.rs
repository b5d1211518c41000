//! serve's rollout pages in headless Chromium (support/browser.rs): a rollout
//! journaled over a few seconds while the page is open, the page with
//! JavaScript off, and the list with the live rollout on top.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deploy_agent::journal::Journal;
use deploy_agent::serve::live::Closing;
use deploy_agent::serve::pages::{self, Access};

use crate::support::browser::{exclusive, Browser};
use crate::support::live::{journal, replay, simulated_events, HOSTILE};
use crate::support::loopback::serve_with_peer;
use crate::support::rollout::running_record;

/// How long a weight in the journal may be missing from the page.
const FOLLOW: Duration = Duration::from_secs(2);

async fn pages_on_loopback(journal: Arc<dyn Journal>) -> String {
    let addr = serve_with_peer(pages::router(journal, Access::default(), Closing::never())).await;
    format!("http://{addr}")
}

async fn text(browser: &Browser, selector: &str) -> String {
    let script =
        format!("var e = document.querySelector('{selector}'); return e ? e.textContent : null;");
    browser
        .eval(&script)
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn rows(browser: &Browser) -> u64 {
    browser
        .eval("return document.querySelectorAll('#events tbody tr').length;")
        .await
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_page_follows_the_journal_in_chromium() {
    let _one = exclusive().await;
    let (_dir, journal) = journal();
    let id = "checkout-live-1";
    let events = simulated_events(id).await;
    let total = events.len() as u64;
    let writer = replay(journal.clone(), events, Duration::from_secs(6));
    let base = pages_on_loopback(journal.clone()).await;
    let browser = Browser::start(&[]).await;
    browser.goto(&format!("{base}/rollouts/{id}")).await;
    let first_rows = rows(&browser).await;
    assert_eq!(
        browser
            .eval("return document.documentElement.getAttribute('data-live');")
            .await,
        "on",
        "a running rollout's page streams its events"
    );

    // Every weight the journal reaches must show on the page within FOLLOW.
    let mut seen: Vec<(u8, Instant, bool)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let record = journal.rollout(id).expect("record");
        if seen.last().is_none_or(|(w, _, _)| *w != record.weight) {
            seen.push((record.weight, Instant::now(), false));
        }
        let shown: u8 = text(&browser, "#weight").await.parse().unwrap_or(255);
        if let Some(k) = seen.iter().rposition(|(w, _, _)| *w == shown) {
            for s in &mut seen[..=k] {
                s.2 = true;
            }
        }
        for (w, at, ok) in &seen {
            assert!(
                *ok || at.elapsed() <= FOLLOW,
                "journal weight {w}% not on the page after {FOLLOW:?} (page shows {shown})"
            );
        }
        let outcome = text(&browser, "#outcome").await;
        if record.finished_at.is_some() && seen.iter().all(|s| s.2) && outcome != "running" {
            assert_eq!(Some(outcome), record.outcome, "outcome on the page");
            break;
        }
        assert!(Instant::now() < deadline, "rollout page never finished");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    writer.join().expect("writer");
    assert!(seen.len() >= 3, "the weight moved: {seen:?}");
    let last_rows = rows(&browser).await;
    assert!(
        last_rows > first_rows,
        "rows grew: {first_rows} → {last_rows}"
    );
    assert_eq!(last_rows, total, "one row per journal event");
    assert_eq!(
        browser.eval("return window.__xss === undefined;").await,
        true,
        "a journaled <script> ran"
    );
    let page_text = text(&browser, "#events").await;
    assert!(page_text.contains(HOSTILE), "markup shown as text");

    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&dir).expect("target/browser");
    std::fs::write(dir.join("rollout-live.png"), &png).expect("save screenshot");

    // A probe proves the log is read at all (an empty log proves nothing).
    browser
        .eval("console.warn('deploy-agent log probe'); return null;")
        .await;
    let log = browser.console().await;
    assert!(
        log.iter()
            .any(|(_, m)| m.contains("deploy-agent log probe")),
        "the browser log does not work: {log:?}"
    );
    let severe: Vec<_> = log
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "console errors: {severe:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_without_javascript_is_rendered_by_the_server() {
    let _one = exclusive().await;
    let (_dir, journal) = journal();
    let id = "checkout-static-1";
    let events = simulated_events(id).await;
    let total = events.len() as u64;
    replay(journal.clone(), events, Duration::ZERO)
        .join()
        .expect("writer");
    let record = journal.rollout(id).expect("record");
    let base = pages_on_loopback(journal.clone()).await;
    let browser = Browser::start(&["--blink-settings=scriptEnabled=false"]).await;
    browser.goto(&format!("{base}/rollouts/{id}")).await;
    assert_eq!(
        browser
            .eval("return document.documentElement.getAttribute('data-script');")
            .await,
        serde_json::Value::Null,
        "the page's script must not have run with JavaScript off"
    );
    assert_eq!(text(&browser, "#weight").await, record.weight.to_string());
    assert_eq!(Some(text(&browser, "#outcome").await), record.outcome);
    assert_eq!(rows(&browser).await, total);
    let chart = browser
        .eval("return document.querySelectorAll('#chart > svg').length;")
        .await;
    assert_eq!(chart, 1, "the chart is inline");
    let weight_marks = browser
        .eval("return document.querySelectorAll('#chart svg .marker').length;")
        .await;
    assert!(
        weight_marks.as_u64().unwrap_or(0) > 0,
        "the chart's event markers are drawn: {weight_marks}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_the_live_rollout_on_top() {
    let _one = exclusive().await;
    let (_dir, journal) = journal();
    let now = deploy_agent::journal::wall_now();
    journal
        .begin(&running_record("checkout-live-2", "aaaaaaaa", now - 60.0))
        .expect("begin live");
    for (n, id) in ["checkout-done-1", "checkout-done-2"].iter().enumerate() {
        journal
            .begin(&running_record(id, "bbbbbbbb", now - 30.0 + n as f64))
            .expect("begin");
        journal
            .finish(
                id,
                deploy_agent::rollout::state::Outcome::Promoted,
                "ok",
                100,
            )
            .expect("finish");
    }
    let base = pages_on_loopback(journal.clone()).await;
    let browser = Browser::start(&[]).await;
    browser.goto(&format!("{base}/rollouts")).await;
    let ids = browser
        .eval("return Array.from(document.querySelectorAll('#rollouts tbody tr td:first-child')).map(function (td) { return td.textContent; });")
        .await;
    assert_eq!(
        ids,
        serde_json::json!(["checkout-live-2", "checkout-done-2", "checkout-done-1"]),
        "live first, then newest first"
    );
    let phase = text(&browser, "#rollouts tbody tr td:nth-child(4)").await;
    assert_eq!(phase, "running");

    // A finished rollout's page runs its script but opens no stream.
    browser
        .goto(&format!("{base}/rollouts/checkout-done-1"))
        .await;
    let marks = browser
        .eval("var d = document.documentElement; return [d.getAttribute('data-script'), d.getAttribute('data-live')];")
        .await;
    assert_eq!(marks, serde_json::json!(["ran", null]));
}
