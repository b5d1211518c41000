//! The adapter against a local HTTP server answering with recorded Prometheus bodies.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::get;
use axum::Router;

use super::*;

/// What the fake server answers for one query: status and body.
type Answer = Arc<dyn Fn(&str, usize) -> (u16, String) + Send + Sync>;

/// (query, time, authorization) of one request.
type Recorded = (String, String, Option<String>);

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<Recorded>>>,
}

fn vector(value: &str) -> String {
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1764424400,"{value}"]}}]}}}}"#
    )
}

const EMPTY: &str = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;

fn buckets(counts: [&str; 3]) -> String {
    let items: Vec<String> = ["0.025", "0.05", "+Inf"]
        .iter()
        .zip(counts)
        .map(|(le, c)| format!(r#"{{"metric":{{"le":"{le}"}},"value":[1764424400,"{c}"]}}"#))
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
        items.join(",")
    )
}

/// A healthy answer: 100 requests and 3 errors for stable, 20 and 4 for canary.
fn healthy(query: &str) -> (u16, String) {
    let canary = query.contains(r#""canary""#);
    let body = if query.contains("sum by (le)") {
        buckets(if canary {
            ["10", "18", "20"]
        } else {
            ["70", "99.6", "100.2"]
        })
    } else if query.contains("5xx") {
        vector(if canary { "4" } else { "3.2" })
    } else {
        vector(if canary { "20" } else { "100.4" })
    };
    (200, body)
}

async fn serve(answer: Answer) -> (String, Seen) {
    let seen = Seen::default();
    let calls = Arc::new(Mutex::new(0usize));
    let s = seen.clone();
    let app = Router::new().route(
        "/prom/api/v1/query",
        get(move |uri: Uri, headers: HeaderMap| {
            let (seen, calls, answer) = (s.clone(), calls.clone(), answer.clone());
            async move {
                let url = reqwest::Url::parse(&format!("http://x{uri}")).unwrap();
                let param = |k: &str| {
                    url.query_pairs()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string());
                let (query, time) = (param("query"), param("time"));
                seen.requests
                    .lock()
                    .unwrap()
                    .push((query.clone(), time, auth));
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                let (status, body) = answer(&query, n);
                if status == 0 {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                (StatusCode::from_u16(status.max(200)).unwrap(), body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/prom"), seen)
}

fn metrics(url: &str, token: Option<&str>) -> PrometheusMetrics {
    let config = PrometheusConfig {
        url: url.into(),
        timeout_ms: 300,
        max_retries: 2,
        retry_backoff_ms: 5,
        ..PrometheusConfig::default()
    };
    PrometheusMetrics::new(
        config,
        token.map(String::from),
        ClockMapping::starting_at(0.0, 1_764_424_000.0),
    )
    .unwrap()
}

#[tokio::test]
async fn a_window_reads_both_versions_at_its_end_in_unix_time() {
    let (url, seen) = serve(Arc::new(|q: &str, _| healthy(q))).await;
    let w = metrics(&url, Some("s3cret"))
        .window(370.0, 400.0)
        .await
        .unwrap();
    let stable = w.stable.unwrap();
    let canary = w.canary.unwrap();
    assert_eq!((stable.requests, stable.errors), (100, 3));
    assert_eq!((canary.requests, canary.errors), (20, 4));
    // 10 at 25 ms, 8 at 50 ms, 2 above the last edge (at 2 × 50 ms).
    assert_eq!(canary.latency_ms.len(), 20);
    assert_eq!(canary.latency_ms.iter().filter(|&&x| x == 100.0).count(), 2);
    assert_eq!(stable.latency_ms.len(), 100);
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 6);
    for (query, time, auth) in &requests {
        assert!(query.contains("[30s]"), "{query}");
        assert_eq!(time, "1764424400.000");
        assert_eq!(auth.as_deref(), Some("Bearer s3cret"));
    }
}

#[tokio::test]
async fn empty_or_nan_answers_make_that_version_missing_never_zero() {
    for bad in [EMPTY.to_string(), vector("NaN"), vector("+Inf")] {
        let answer: Answer = Arc::new(move |q: &str, _| {
            if q.contains(r#""canary""#) && !q.contains("5xx") && !q.contains("(le)") {
                (200, bad.clone())
            } else {
                healthy(q)
            }
        });
        let (url, _) = serve(answer).await;
        let w = metrics(&url, None).window(0.0, 30.0).await.unwrap();
        assert!(w.canary.is_none() && w.stable.is_some());
    }
    // Missing latency buckets: missing too (the judge needs latency to pass).
    let (url, _) = serve(Arc::new(|q: &str, _| {
        if q.contains("(le)") {
            (200, EMPTY.to_string())
        } else {
            healthy(q)
        }
    }))
    .await;
    let w = metrics(&url, None).window(0.0, 30.0).await.unwrap();
    assert!(w.canary.is_none() && w.stable.is_none());
}

#[tokio::test]
async fn transient_failures_are_retried_a_bounded_number_of_times() {
    // The first two requests fail with 503, then all succeed.
    let (url, seen) = serve(Arc::new(|q: &str, n| {
        if n <= 2 {
            (503, "overloaded".into())
        } else {
            healthy(q)
        }
    }))
    .await;
    assert!(metrics(&url, None).window(0.0, 30.0).await.is_ok());
    assert_eq!(seen.requests.lock().unwrap().len(), 8);
    // Always 503: 1 + 2 retries per query, then an error.
    let (url, seen) = serve(Arc::new(|_: &str, _| (503, "down".into()))).await;
    let m = metrics(&url, None);
    let err = m.query("up".into(), 1.0).await.unwrap_err().to_string();
    assert!(err.contains("503"), "{err}");
    assert_eq!(seen.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn bad_queries_and_garbage_fail_at_once_timeouts_after_retries() {
    let bad = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"}"#;
    let (url, seen) = serve(Arc::new(move |_: &str, _| (400, bad.into()))).await;
    let err = metrics(&url, None)
        .query("x{".into(), 1.0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MetricsError::Query(m) if m.contains("parse error")),
        "{err}"
    );
    assert_eq!(seen.requests.lock().unwrap().len(), 1);

    let (url, _) = serve(Arc::new(|_: &str, _| (200, "<html>proxy</html>".into()))).await;
    assert!(metrics(&url, None).window(0.0, 30.0).await.is_err());

    // Status 0: the server sleeps past the client's timeout.
    let (url, seen) = serve(Arc::new(|_: &str, _| (0, String::new()))).await;
    let err = metrics(&url, None)
        .query("up".into(), 1.0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MetricsError::Unreachable(m) if m.contains("timeout_ms")),
        "{err}"
    );
    assert_eq!(seen.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn unreachable_server_and_empty_window_are_errors() {
    let m = metrics("http://127.0.0.1:9", None);
    assert!(matches!(
        m.window(0.0, 30.0).await,
        Err(MetricsError::Unreachable(_))
    ));
    assert!(m.window(30.0, 30.0).await.is_err());
}

#[tokio::test]
async fn preflight_needs_the_stable_series_and_warns_of_a_canary_without_traffic() {
    let (url, _) = serve(Arc::new(|q: &str, _| healthy(q))).await;
    assert_eq!(
        metrics(&url, None).preflight().await.unwrap(),
        Vec::<String>::new()
    );

    // No canary series: for the HAProxy preset (its exporter lists every
    // server) the labels are wrong; for others it may only lack traffic yet.
    let no_canary = |q: &str, _| {
        if q.contains(r#""canary""#) && !q.contains("sum by (le)") && !q.contains("5xx") {
            (200, EMPTY.to_string())
        } else {
            healthy(q)
        }
    };
    let (url, _) = serve(Arc::new(no_canary)).await;
    let err = metrics(&url, None).preflight().await.unwrap_err();
    assert!(
        matches!(&err, MetricsError::Misconfigured(m) if m.contains("canary version returned no series")),
        "{err}"
    );
    let istio = PrometheusMetrics::new(
        PrometheusConfig {
            url: url.clone(),
            preset: Preset::Istio,
            ..PrometheusConfig::default()
        },
        None,
        ClockMapping::unix(),
    )
    .unwrap();
    let warnings = istio.preflight().await.unwrap();
    assert!(
        warnings[0].contains("once the canary gets traffic"),
        "{warnings:?}"
    );

    // No stable series, or a query Prometheus rejects: misconfigured, named.
    let (url, _) = serve(Arc::new(|_: &str, _| (200, EMPTY.to_string()))).await;
    let err = metrics(&url, None).preflight().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("stable version returned no series"),
        "{err}"
    );
    let bad = |q: &str, _| {
        if q.contains("5xx") {
            (
                400,
                r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#.to_string(),
            )
        } else {
            healthy(q)
        }
    };
    let (url, _) = serve(Arc::new(bad)).await;
    let err = metrics(&url, None).preflight().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the errors query for the stable version fails"),
        "{err}"
    );
}

#[tokio::test]
async fn catalogue_metrics_render_their_templates_per_version() {
    let checkout = catalogue::CatalogueMetric {
        description: "failed checkouts".into(),
        total: r#"sum(increase(orders_total{version="{version}"}[{range}]))"#.into(),
        bad: r#"sum(increase(orders_total{version="{version}",result="failed"}[{range}]))"#.into(),
    };
    let (url, seen) = serve(Arc::new(|q: &str, _| {
        let canary = q.contains(r#""canary""#);
        let body = match (q.contains("failed"), canary) {
            // The canary's bad count has no series: missing, never zero.
            (true, true) => EMPTY.to_string(),
            (true, false) => vector("4.2"),
            (false, _) => vector(if canary { "50" } else { "200.4" }),
        };
        (200, body)
    }))
    .await;
    let mut m = metrics(&url, None);
    m.config
        .catalogue
        .insert("checkout_failed".into(), checkout);
    assert_eq!(m.catalogue()[0].name, "checkout_failed");
    let names = ["checkout_failed".to_string(), "not_listed".into()];
    let got = m.extra(&names, 370.0, 400.0).await.unwrap();
    assert_eq!(got[0].stable, Some(RatioSample { total: 200, bad: 4 }));
    assert_eq!(got[0].canary, None);
    assert_eq!(got[1], ExtraWindow::missing("not_listed"));
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 4, "only the listed metric is queried");
    let queries: Vec<&str> = requests.iter().map(|(q, _, _)| q.as_str()).collect();
    assert!(
        queries.contains(&r#"sum(increase(orders_total{version="stable",result="failed"}[30s]))"#)
    );
    assert!(queries.contains(&r#"sum(increase(orders_total{version="canary"}[30s]))"#));
    assert!(requests.iter().all(|(_, t, _)| t == "1764424400.000"));
}

#[tokio::test]
async fn preflight_warns_of_a_catalogue_query_without_series() {
    let (url, _) = serve(Arc::new(|q: &str, _| {
        if q.contains("orders_total") {
            (200, EMPTY.to_string())
        } else {
            healthy(q)
        }
    }))
    .await;
    let mut m = metrics(&url, None);
    m.config.catalogue.insert(
        "checkout_failed".into(),
        catalogue::CatalogueMetric {
            description: "failed checkouts".into(),
            total: r#"sum(increase(orders_total{version="{version}"}[{range}]))"#.into(),
            bad: r#"sum(increase(http_requests_total{version="{version}"}[{range}]))"#.into(),
        },
    );
    let warnings = m.preflight().await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("catalogue metric `checkout_failed`: the total query")
            && warnings[0].contains("judged NoData"),
        "{}",
        warnings[0]
    );
}
