//! Prometheus metrics (`/metrics`, OpenMetrics text) and the request log.
//!
//! - `dossier_http_requests_total{method,route,status}`: requests answered, by route template
//!   (`unmatched` for no route);
//! - `dossier_http_request_duration_seconds{method,route}`: latency histogram;
//! - `dossier_projector_lag_records`, `dossier_projector_applied_seq`: where the views stand
//!   against the ledger, sampled at each scrape;
//! - `dossier_auditor_alarms`: alarms in the auditor's store, sampled at each scrape.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::auth::Principal;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The service's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub(crate) lag: Gauge,
    pub(crate) applied: Gauge,
    pub(crate) alarms: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let lag = Gauge::default();
        let applied = Gauge::default();
        let alarms = Gauge::default();
        registry.register(
            "dossier_http_requests",
            "Requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "dossier_http_request_duration_seconds",
            "Time to answer a request, by method and route template",
            latency.clone(),
        );
        registry.register(
            "dossier_projector_lag_records",
            "Records the belief views stand behind the ledger's head",
            lag.clone(),
        );
        registry.register(
            "dossier_projector_applied_seq",
            "The last record applied to the belief views",
            applied.clone(),
        );
        registry.register(
            "dossier_auditor_alarms",
            "Alarms recorded by the auditor",
            alarms.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            lag,
            applied,
            alarms,
        }
    }

    /// The OpenMetrics text of every metric.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Middleware: logs and counts every request (principal, route template, status, latency).
pub(crate) async fn observe(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(req).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    let principal = response
        .extensions()
        .get::<Principal>()
        .map_or("-", |p| p.name.as_str());
    tracing::info!(
        principal,
        %method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels { method, route })
        .observe(elapsed.as_secs_f64());
    response
}
