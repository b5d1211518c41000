//! Prometheus' `/api/v1/query` answers: parsing, and reading counts from them.
//!
//! Anything that is not a clean number reads as *missing* (`None`), never as zero:
//! an empty result (no such series, or none with samples inside the window: a
//! stale target), NaN, ±Inf and negative counts. Missing data is NoData for the
//! judge, which never passes.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::metrics::MetricsError;

/// One series of an instant query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorItem>),
    Scalar(Point),
    Matrix(#[allow(dead_code)] serde::de::IgnoredAny),
    String(#[allow(dead_code)] serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VectorItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Point,
}

/// `[unix_time, "value"]`: Prometheus sends values as strings ("NaN", "+Inf" too).
#[derive(Deserialize)]
struct Point(#[allow(dead_code)] f64, String);

impl Point {
    fn value(&self) -> f64 {
        self.1.trim().parse().unwrap_or(f64::NAN)
    }
}

/// Parses an instant query's body into series. A scalar result is one unlabelled
/// series; an error answer or a range result is an error.
pub fn parse_vector(body: &[u8]) -> Result<Vec<Series>, MetricsError> {
    let env: Envelope = serde_json::from_slice(body).map_err(|e| {
        MetricsError::Query(format!(
            "not a Prometheus API answer ({e}): {}",
            snippet(body)
        ))
    })?;
    if env.status != "success" {
        return Err(MetricsError::Query(format!(
            "{}: {}",
            env.error_type.as_deref().unwrap_or("error"),
            env.error.as_deref().unwrap_or("no message")
        )));
    }
    match env.data {
        Some(Data::Vector(items)) => Ok(items
            .into_iter()
            .map(|i| Series {
                value: i.value.value(),
                labels: i.metric,
            })
            .collect()),
        Some(Data::Scalar(p)) => Ok(vec![Series {
            labels: BTreeMap::new(),
            value: p.value(),
        }]),
        Some(Data::Matrix(_) | Data::String(_)) | None => Err(MetricsError::Query(
            "expected an instant vector (use increase(...[{range}]) inside sum)".into(),
        )),
    }
}

/// The sum of a count query's series. `None` when there is no series or any value
/// is NaN, infinite or negative.
pub fn total(series: &[Series]) -> Option<f64> {
    if series.is_empty() || series.iter().any(|s| !is_count(s.value)) {
        return None;
    }
    Some(series.iter().map(|s| s.value).sum())
}

/// `(le, cumulative count)` pairs of a `sum by (le)` query, sorted by `le`.
/// `None` when empty, when a series has no parsable `le`, or when a count is not
/// a clean number.
pub fn buckets(series: &[Series]) -> Option<Vec<(f64, f64)>> {
    if series.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let le: f64 = s.labels.get("le")?.trim().parse().ok()?;
        if le.is_nan() || !is_count(s.value) {
            return None;
        }
        out.push((le, s.value));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some(out)
}

fn is_count(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// The start of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from Prometheus 2.42 (`sum(increase(...))` over HAProxy's exporter).
    const REQUESTS: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764424400.5,"312.6315789473684"]}]}}"#;
    const EMPTY: &str = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
    const BAD_QUERY: &str = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:8: parse error: unexpected \"}\""}"#;
    const BUCKETS: &str = r#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"le":"+Inf"},"value":[1764424400.5,"120"]},
        {"metric":{"le":"0.025"},"value":[1764424400.5,"80"]},
        {"metric":{"le":"0.05"},"value":[1764424400.5,"115.5"]}]}}"#;

    fn count(body: &str) -> Option<f64> {
        total(&parse_vector(body.as_bytes()).unwrap())
    }

    #[test]
    fn counts_read_like_a_table() {
        let cases: [(&str, Option<f64>); 7] = [
            (REQUESTS, Some(312.6315789473684)),
            (EMPTY, None),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#,
                None,
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}"#,
                None,
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"-3"]}]}}"#,
                None,
            ),
            (
                r#"{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}"#,
                Some(7.0),
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"server":"a"},"value":[1,"2"]},{"metric":{"server":"b"},"value":[1,"3"]}]},"warnings":["x"]}"#,
                Some(5.0),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(count(body), want, "{body}");
        }
    }

    #[test]
    fn error_answers_and_garbage_are_errors() {
        let err = parse_vector(BAD_QUERY.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("bad_data") && err.contains("parse error"),
            "{err}"
        );
        for body in [
            "<html>502 Bad Gateway</html>",
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":"x"}]}}"#,
            "",
        ] {
            assert!(
                matches!(parse_vector(body.as_bytes()), Err(MetricsError::Query(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn buckets_are_sorted_by_le_and_need_le() {
        let b = buckets(&parse_vector(BUCKETS.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            b,
            vec![(0.025, 80.0), (0.05, 115.5), (f64::INFINITY, 120.0)]
        );
        assert_eq!(buckets(&parse_vector(EMPTY.as_bytes()).unwrap()), None);
        let no_le = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}"#;
        assert_eq!(buckets(&parse_vector(no_le.as_bytes()).unwrap()), None);
        let nan = BUCKETS.replace(r#""80""#, r#""NaN""#);
        assert_eq!(buckets(&parse_vector(nan.as_bytes()).unwrap()), None);
    }
}
