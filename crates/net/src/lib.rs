//! Transport shared by the hub and the platform: TLS (rustls) listeners and mutual-TLS clients,
//! RFC 9457 problem responses with a JSON extractor that produces them, and the delivery loop
//! with its retry delays and circuit breakers.
//!
//! Mutual TLS proves that a peer holds a certificate of the linkage network's CA; which org (or
//! the hub) sent a message is proved by the Ed25519 signature on the message itself.

pub mod breaker;
pub mod cache;
pub mod drain;
pub mod listener;
pub mod metrics;
pub mod page;
pub mod problem;
pub mod tls;
pub mod worker;

pub use problem::{ApiJson, Problem, ProblemKind};
pub use tls::{TlsError, TlsMaterial};

/// Retry delay for delivery attempt number `attempts` (0-based): 200 ms doubling per attempt,
/// capped at 60 s, with jitter over the upper half so that retries of many queries spread out.
pub fn backoff_millis(attempts: i64) -> i64 {
    use rand::Rng;
    let base = 200i64.saturating_mul(1i64 << attempts.clamp(0, 16)).min(60_000);
    base / 2 + rand::thread_rng().gen_range(0..=base / 2)
}

/// An error and its causes, outermost first, each said once. A failed request's own message
/// ("error sending request for url …") leaves out why it failed (refused, timed out, a
/// certificate refused); staff reading a query's error and operators reading a log need that.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !out.contains(&said) {
            out.push_str(": ");
            out.push_str(&said);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_refused_connection_says_it_was_refused() {
        // A port nothing listens on: bound, then let go.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let client = reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap();
        let e = client.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap_err();
        assert!(!e.to_string().contains("refused"), "reqwest's own message: {e}");
        let said = super::with_causes(&e);
        assert!(said.starts_with(&e.to_string()) && said.contains("refused"), "{said}");
    }
}
