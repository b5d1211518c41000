//! What `PrometheusMetrics` asks: per-service PromQL templates, from a preset or
//! spelled out in `deploy-agent.toml` (`[services.NAME.prometheus]`).
//!
//! A template is PromQL with these placeholders:
//! - `{version}`: the label value naming one version (`stable_version` or
//!   `canary_version`);
//! - `{server}` and `{backend}`: the HAProxy server of that version and its
//!   backend (`stable_server`/`canary_server`, `backend`; filled from the
//!   service's `[haproxy]` section when unset, so the preset always queries the
//!   backend the rollout moves — never another service's numbers);
//! - `{range}`: the window length as a PromQL duration (`30s`, `2500ms`).
//!
//! The queries are evaluated at the window's end (`time=`), so
//! `increase(x[{range}])` counts exactly the window. Each must return one series
//! (aggregate with `sum`), except the latency query, which returns one series per
//! `le` bucket (`sum by (le)`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Metric families the default templates read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// HAProxy's built-in exporter (`haproxy_server_http_responses_total{proxy,server,code}`)
    /// for requests and errors, split by server name (`proxy="{backend}"`,
    /// `server="{server}"`); latency from the service's own
    /// `http_request_duration_seconds` histogram labelled `version`.
    #[default]
    Haproxy,
    /// Istio or Envoy sidecars: `istio_requests_total` and
    /// `istio_request_duration_milliseconds` with `reporter="destination"`, split by
    /// `destination_version`.
    Istio,
    /// ingress-nginx: `nginx_ingress_controller_requests` and
    /// `nginx_ingress_controller_request_duration_seconds`, split by the `service`
    /// label (stable and canary behind separate Services, as its canary annotations need).
    NginxIngress,
}

/// The unit of the histogram's `le` bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LatencyUnit {
    Seconds,
    Milliseconds,
}

impl LatencyUnit {
    /// Milliseconds per unit.
    pub fn to_ms(self) -> f64 {
        match self {
            LatencyUnit::Seconds => 1_000.0,
            LatencyUnit::Milliseconds => 1.0,
        }
    }
}

/// The three queries, with the latency histogram's unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Queries {
    pub requests: String,
    pub errors: String,
    pub latency_buckets: String,
    pub latency_unit: LatencyUnit,
}

impl Preset {
    /// The preset's templates. Error queries fall back to `0 * requests` when no
    /// error series exists yet (`or`), so "no errors" reads as zero while a
    /// missing request series still reads as missing.
    pub fn queries(self) -> Queries {
        match self {
            Preset::Haproxy => Queries {
                requests: r#"sum(increase(haproxy_server_http_responses_total{proxy="{backend}",server="{server}"}[{range}]))"#.into(),
                errors: r#"sum(increase(haproxy_server_http_responses_total{proxy="{backend}",server="{server}",code="5xx"}[{range}]))"#.into(),
                latency_buckets: r#"sum by (le) (increase(http_request_duration_seconds_bucket{version="{version}"}[{range}]))"#.into(),
                latency_unit: LatencyUnit::Seconds,
            },
            Preset::Istio => {
                let sel = r#"reporter="destination",destination_version="{version}""#;
                Queries {
                    requests: format!("sum(increase(istio_requests_total{{{sel}}}[{{range}}]))"),
                    errors: with_zero_fallback(
                        &format!(r#"sum(increase(istio_requests_total{{{sel},response_code=~"5.."}}[{{range}}]))"#),
                        &format!("sum(increase(istio_requests_total{{{sel}}}[{{range}}]))"),
                    ),
                    latency_buckets: format!(
                        "sum by (le) (increase(istio_request_duration_milliseconds_bucket{{{sel}}}[{{range}}]))"
                    ),
                    latency_unit: LatencyUnit::Milliseconds,
                }
            }
            Preset::NginxIngress => {
                let sel = r#"service="{version}""#;
                Queries {
                    requests: format!("sum(increase(nginx_ingress_controller_requests{{{sel}}}[{{range}}]))"),
                    errors: with_zero_fallback(
                        &format!(r#"sum(increase(nginx_ingress_controller_requests{{{sel},status=~"5.."}}[{{range}}]))"#),
                        &format!("sum(increase(nginx_ingress_controller_requests{{{sel}}}[{{range}}]))"),
                    ),
                    latency_buckets: format!(
                        "sum by (le) (increase(nginx_ingress_controller_request_duration_seconds_bucket{{{sel}}}[{{range}}]))"
                    ),
                    latency_unit: LatencyUnit::Seconds,
                }
            }
        }
    }
}

fn with_zero_fallback(errors: &str, requests: &str) -> String {
    format!("{errors} or (0 * {requests})")
}

/// `[services.NAME.prometheus]`. Every field has a default; a template given here
/// replaces the preset's.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Base URL of the Prometheus HTTP API (`/api/v1/query` is appended).
    pub url: String,
    /// Which metric families the default queries read (see the presets).
    pub preset: Preset,
    /// `{version}` for the stable version.
    pub stable_version: String,
    /// `{version}` for the canary version.
    pub canary_version: String,
    /// `{backend}`: the HAProxy backend (default: `[haproxy] backend`, else `be_app`).
    pub backend: Option<String>,
    /// `{server}` for the stable version (default: `[haproxy] stable_server`,
    /// else `stable_version`).
    pub stable_server: Option<String>,
    /// `{server}` for the canary version (default: `[haproxy] canary_server`,
    /// else `canary_version`).
    pub canary_server: Option<String>,
    /// Replaces the preset's requests query.
    pub requests: Option<String>,
    /// Replaces the preset's errors query.
    pub errors: Option<String>,
    /// Replaces the preset's latency-buckets query.
    pub latency_buckets: Option<String>,
    /// Replaces the preset's `le` unit.
    pub latency_unit: Option<LatencyUnit>,
    /// Per HTTP request, connect included.
    pub timeout_ms: u64,
    /// Retries after a failed request (connection errors, timeouts, 429, 5xx).
    pub max_retries: u32,
    /// First backoff; doubled after each retry.
    pub retry_backoff_ms: u64,
    /// Latency samples per version per window at most (see `buckets`).
    pub max_latency_samples: usize,
    /// Extra ratio metrics a planner may add to the judge (`add_metrics`), by name.
    pub catalogue: std::collections::BTreeMap<String, super::catalogue::CatalogueMetric>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:9090".into(),
            preset: Preset::default(),
            stable_version: "stable".into(),
            canary_version: "canary".into(),
            backend: None,
            stable_server: None,
            canary_server: None,
            requests: None,
            errors: None,
            latency_buckets: None,
            latency_unit: None,
            timeout_ms: 5_000,
            max_retries: 2,
            retry_backoff_ms: 200,
            max_latency_samples: 2_000,
            catalogue: Default::default(),
        }
    }
}

/// The values a template's placeholders take for one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels<'a> {
    pub version: &'a str,
    pub server: &'a str,
    pub backend: &'a str,
}

impl PrometheusConfig {
    /// The placeholders' values for the canary (`true`) or the stable version.
    pub fn labels(&self, canary: bool) -> Labels<'_> {
        let (version, server) = if canary {
            (&self.canary_version, &self.canary_server)
        } else {
            (&self.stable_version, &self.stable_server)
        };
        Labels {
            version,
            server: server.as_deref().unwrap_or(version),
            backend: self.backend.as_deref().unwrap_or("be_app"),
        }
    }

    /// Fills the HAProxy names left unset from the service's `[haproxy]`
    /// section: the preset then queries the backend the rollout moves.
    pub fn with_haproxy(mut self, backend: &str, stable: &str, canary: &str) -> Self {
        self.backend.get_or_insert_with(|| backend.to_string());
        self.stable_server.get_or_insert_with(|| stable.to_string());
        self.canary_server.get_or_insert_with(|| canary.to_string());
        self
    }

    /// The preset's queries with this config's overrides.
    pub fn queries(&self) -> Queries {
        let mut q = self.preset.queries();
        let pick = |over: &Option<String>, base: &mut String| {
            if let Some(t) = over {
                *base = t.clone();
            }
        };
        pick(&self.requests, &mut q.requests);
        pick(&self.errors, &mut q.errors);
        pick(&self.latency_buckets, &mut q.latency_buckets);
        if let Some(unit) = self.latency_unit {
            q.latency_unit = unit;
        }
        q
    }

    /// Checks what can be checked before the first query; the message names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(ConfigError::new(
                "prometheus.url",
                format!("must start with http:// or https://, got `{}`", self.url),
            ));
        }
        if self.stable_version.is_empty() {
            return Err(ConfigError::new(
                "prometheus.stable_version",
                "must be set: it selects the stable version's series",
            ));
        }
        if self.stable_version == self.canary_version {
            return Err(ConfigError::new(
                "prometheus.canary_version",
                "must differ from stable_version: each selects its own version's series",
            ));
        }
        if !(1..=120_000).contains(&self.timeout_ms) {
            return Err(ConfigError::new(
                "prometheus.timeout_ms",
                "must be between 1 and 120000",
            ));
        }
        if self.max_retries > 10 {
            return Err(ConfigError::new(
                "prometheus.max_retries",
                "must be at most 10",
            ));
        }
        if self.max_latency_samples == 0 {
            return Err(ConfigError::new(
                "prometheus.max_latency_samples",
                "must be at least 1",
            ));
        }
        super::catalogue::validate(&self.catalogue)?;
        let q = self.queries();
        for (name, t) in [
            ("requests", &q.requests),
            ("errors", &q.errors),
            ("latency_buckets", &q.latency_buckets),
        ] {
            if !((t.contains("{version}") || t.contains("{server}")) && t.contains("{range}")) {
                return Err(ConfigError::new(
                    format!("prometheus.{name}"),
                    format!("must contain {{range}} and {{version}} or {{server}}: `{t}`"),
                ));
            }
        }
        Ok(())
    }
}

/// Fills a template. Label values are escaped as PromQL strings, so a value
/// cannot change the query's shape.
pub fn render(template: &str, labels: &Labels<'_>, range_secs: f64) -> String {
    let escape = |v: &str| v.replace('\\', r"\\").replace('"', "\\\"");
    template
        .replace("{version}", &escape(labels.version))
        .replace("{server}", &escape(labels.server))
        .replace("{backend}", &escape(labels.backend))
        .replace("{range}", &promql_duration(range_secs))
}

/// A window length as a PromQL duration, to the millisecond (at least 1 ms).
pub fn promql_duration(secs: f64) -> String {
    let ms = (secs * 1_000.0).round().max(1.0) as u64;
    if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_defaults_split_by_server() {
        let c = PrometheusConfig::default();
        let q = c.queries();
        assert_eq!(
            render(&q.requests, &c.labels(true), 30.0),
            r#"sum(increase(haproxy_server_http_responses_total{proxy="be_app",server="canary"}[30s]))"#
        );
        assert!(render(&q.errors, &c.labels(false), 2.5).contains(r#"code="5xx"}[2500ms]"#));
        assert_eq!(q.latency_unit, LatencyUnit::Seconds);
    }

    #[test]
    fn the_haproxy_preset_queries_the_configured_backend_and_servers() {
        // Regression: the preset always asked for `be_app`, so a service on
        // another backend was judged on someone else's numbers.
        let c = PrometheusConfig {
            stable_version: "v1".into(),
            canary_version: "v2".into(),
            ..PrometheusConfig::default()
        }
        .with_haproxy("be_checkout", "blue", "green");
        let q = c.queries();
        let canary = render(&q.requests, &c.labels(true), 30.0);
        assert!(
            canary.contains(r#"proxy="be_checkout",server="green""#),
            "{canary}"
        );
        let latency = render(&q.latency_buckets, &c.labels(false), 30.0);
        assert!(latency.contains(r#"version="v1""#), "{latency}");
        // Explicit names win over the [haproxy] section's.
        let c = PrometheusConfig {
            backend: Some("be_x".into()),
            ..PrometheusConfig::default()
        }
        .with_haproxy("be_checkout", "blue", "green");
        assert_eq!(c.labels(false).backend, "be_x");
    }

    #[test]
    fn every_preset_validates_and_istio_is_in_milliseconds() {
        for preset in [Preset::Haproxy, Preset::Istio, Preset::NginxIngress] {
            let c = PrometheusConfig {
                preset,
                ..PrometheusConfig::default()
            };
            assert_eq!(c.validate(), Ok(()), "{preset:?}");
        }
        assert_eq!(
            Preset::Istio.queries().latency_unit,
            LatencyUnit::Milliseconds
        );
        let v2 = Labels {
            version: "v2",
            server: "v2",
            backend: "be_app",
        };
        let errors = render(&Preset::NginxIngress.queries().errors, &v2, 60.0);
        assert!(errors.contains(r#"status=~"5.."}[60s]"#), "{errors}");
        assert!(errors.contains(
            " or (0 * sum(increase(nginx_ingress_controller_requests{service=\"v2\"}[60s])))"
        ));
    }

    #[test]
    fn overrides_replace_the_preset_and_are_checked() {
        let c = PrometheusConfig {
            requests: Some("sum(rate(x[{range}]))".into()),
            ..PrometheusConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("requests"));
        let c = PrometheusConfig {
            url: "localhost:9090".into(),
            ..PrometheusConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("http://"));
    }

    #[test]
    fn versions_are_escaped_and_durations_exact() {
        let odd = Labels {
            version: r#"a"b\"#,
            server: "s",
            backend: "b",
        };
        assert_eq!(render("{version}", &odd, 1.0), r#"a\"b\\"#);
        assert_eq!(promql_duration(30.0), "30s");
        assert_eq!(promql_duration(0.0001), "1ms");
        assert_eq!(promql_duration(2.0004), "2s");
    }
}
