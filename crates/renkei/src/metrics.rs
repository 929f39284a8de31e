//! `serve`'s and `hub`'s `/metrics` (issue 17 §6): OpenMetrics text (Prometheus reads it) on a
//! listener of its own (plain HTTP: bind it to loopback or a monitoring network) — the request
//! counts and latencies every router keeps (`net::metrics`), the stores' transaction times and
//! query moves (`store::metrics`), and gauges read at each scrape: for a platform, tenants with
//! work in the outbox, the hub link's breaker, each monitored tenant's latest probe (passed,
//! seconds), incidents open, and the last backup; for the hub, its queue by state. A label names
//! a tenant by its id, nothing else; no value is personal.

use anyhow::Result;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use renkei_hub::Hub;
use renkei_net::metrics::gauge;
use renkei_server::Platform;
use renkei_store::hub::RouteState;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What a `/metrics` listener reports on.
#[derive(Clone)]
pub enum Source {
    Platform(Arc<Platform>),
    Hub(Arc<Hub>),
}

/// Serves `/metrics` on `listener` until `stop`.
pub async fn serve(listener: TcpListener, source: Source, stop: impl Future<Output = ()> + Send + 'static) {
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape)).with_state(source);
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

async fn scrape(State(source): State<Source>) -> Response {
    match text(&source).await {
        Ok(body) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics could not be read");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn text(source: &Source) -> Result<String> {
    let mut out = String::new();
    renkei_net::metrics::encode_requests(&mut out).map_err(|_| anyhow::anyhow!("encoding the request metrics"))?;
    renkei_store::metrics::encode(&mut out).map_err(|_| anyhow::anyhow!("encoding the store metrics"))?;
    match source {
        Source::Platform(p) => platform(p, &mut out).await?,
        Source::Hub(hub) => {
            let depth = hub.store.queue_depth().await?;
            let samples: Vec<(String, f64)> = [RouteState::Accepted, RouteState::Answered, RouteState::Undeliverable]
                .into_iter()
                .map(|s| (format!("state=\"{s}\""), depth.iter().find(|(d, _)| *d == s).map_or(0.0, |(_, n)| *n as f64)))
                .collect();
            gauge(&mut out, "renkei_hub_queue", "Queries waiting at the hub to be forwarded, relayed or reported undeliverable", &samples);
        }
    }
    out.push_str("# EOF\n");
    Ok(out)
}

async fn platform(p: &Platform, out: &mut String) -> Result<()> {
    gauge(out, "renkei_outbox_tenants", "Tenants with queries due in the outbox", &[(String::new(), p.active.len() as f64)]);
    let open = f64::from(u8::from(p.breakers.is_open(renkei_server::outbox::HUB)));
    gauge(out, "renkei_breaker_open", "Whether a destination's circuit breaker is open", &[("destination=\"hub\"".into(), open)]);

    let (mut passed, mut seconds) = (Vec::new(), Vec::new());
    for target in p.platform.probe_targets().await? {
        let mut latest = BTreeMap::new();
        for r in p.platform.probe_results(target.tenant.as_str(), 8).await? {
            latest.entry(r.kind).or_insert(r);
        }
        for (kind, r) in latest {
            let labels = format!("tenant=\"{}\",probe=\"{}\"", target.tenant, kind.as_str());
            passed.push((labels.clone(), f64::from(u8::from(r.ok))));
            seconds.push((labels, r.latency_ms as f64 / 1000.0));
        }
    }
    gauge(out, "renkei_probe_ok", "Whether a tenant's latest probe of a kind passed", &passed);
    gauge(out, "renkei_probe_seconds", "How long a tenant's latest probe of a kind took", &seconds);
    let mut open_by: BTreeMap<String, f64> = BTreeMap::new();
    for i in p.platform.open_incidents().await? {
        *open_by.entry(if i.tenant.is_empty() { "platform".into() } else { i.tenant }).or_default() += 1.0;
    }
    let open: Vec<(String, f64)> = open_by.into_iter().map(|(t, n)| (format!("tenant=\"{t}\""), n)).collect();
    gauge(out, "renkei_incidents_open", "Incidents open, by tenant", &open);
    if let Some(last) = p.platform.backup_runs(1).await?.into_iter().next() {
        gauge(out, "renkei_backup_last_ok", "Whether the last backup run succeeded", &[(String::new(), f64::from(u8::from(last.ok)))]);
        gauge(
            out,
            "renkei_backup_last_finished_timestamp_seconds",
            "When the last backup run ended",
            &[(String::new(), last.finished_at as f64)],
        );
    }
    Ok(())
}
