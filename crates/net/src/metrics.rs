//! Request metrics for Prometheus (issue 17 §6): a count and a latency histogram per listener,
//! route class and status, kept by [`record`] on each router. A route class is the matched
//! route's template reduced to its area and resource (`/api/v1/queries/{id}` → `api/queries`),
//! so no path parameter — an id, a tenant — ever becomes a label. `serve` writes them, with the
//! gauges it reads at scrape time, on a listener of its own.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Requests {
    listener: &'static str,
    class: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Latency {
    listener: &'static str,
    class: String,
}

struct Http {
    registry: Registry,
    requests: Family<Requests, Counter>,
    latency: Family<Latency, Histogram>,
}

fn http() -> &'static Http {
    static HTTP: OnceLock<Http> = OnceLock::new();
    HTTP.get_or_init(|| {
        let mut registry = Registry::with_prefix("renkei_http");
        let requests = Family::<Requests, Counter>::default();
        // 1 ms to about 16 s, doubling.
        let latency = Family::<Latency, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15))
        });
        registry.register("requests", "Requests answered, by listener, route class and status", requests.clone());
        registry.register("request_duration_seconds", "Time to answer a request, by listener and route class", latency.clone());
        Http { registry, requests, latency }
    })
}

/// The class of the route `template` (a matched route, never a request's path).
pub fn class_of(template: &str) -> String {
    let parts: Vec<&str> = template.split('/').filter(|p| !p.is_empty() && !p.starts_with('{')).collect();
    match parts.as_slice() {
        [] => "page/home".into(),
        [area @ ("api" | "net" | "hub"), _version, resource, ..] => format!("{area}/{resource}"),
        [first, ..] => format!("page/{first}"),
    }
}

/// A layer (`axum::middleware::from_fn`) counting and timing each request of `listener`.
pub async fn record(listener: &'static str, request: Request, next: Next) -> Response {
    let class = request.extensions().get::<MatchedPath>().map(|m| class_of(m.as_str())).unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    let m = http();
    m.requests.get_or_create(&Requests { listener, class: class.clone(), status: response.status().as_u16() }).inc();
    m.latency.get_or_create(&Latency { listener, class }).observe(started.elapsed().as_secs_f64());
    response
}

/// The request metrics in Prometheus's text format (without the closing `# EOF`).
pub fn encode_requests(out: &mut String) -> std::fmt::Result {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &http().registry)?;
    out.push_str(text.trim_end().trim_end_matches("# EOF").trim_end());
    out.push('\n');
    Ok(())
}

/// Writes a gauge's HELP and TYPE lines, then one sample per (labels, value).
pub fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = if labels.is_empty() { writeln!(out, "{name} {value}") } else { writeln!(out, "{name}{{{labels}}} {value}") };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_route_class_names_no_parameter() {
        assert_eq!(super::class_of("/api/v1/queries/{id}"), "api/queries");
        assert_eq!(super::class_of("/api/v1/tenants/{tenant}/session-limit"), "api/tenants");
        assert_eq!(super::class_of("/net/v1/queries"), "net/queries");
        assert_eq!(super::class_of("/queries/{id}"), "page/queries");
        assert_eq!(super::class_of("/"), "page/home");
        assert_eq!(super::class_of("/assets/{file}"), "page/assets");
    }
}
