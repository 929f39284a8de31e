//! Transport shared by the hub and the platform: TLS (rustls) listeners and mutual-TLS clients,
//! and RFC 9457 problem responses with a JSON extractor that produces them.
//!
//! Mutual TLS proves that a peer holds a certificate of the linkage network's CA; which org (or
//! the hub) sent a message is proved by the Ed25519 signature on the message itself.

pub mod breaker;
pub mod problem;
pub mod tls;

pub use problem::{ApiJson, Problem};
pub use tls::{TlsError, TlsMaterial};

/// Retry delay for delivery attempt number `attempts` (0-based): 200 ms doubling per attempt,
/// capped at 60 s, with jitter over the upper half so that retries of many queries spread out.
pub fn backoff_millis(attempts: i64) -> i64 {
    use rand::Rng;
    let base = 200i64.saturating_mul(1i64 << attempts.clamp(0, 16)).min(60_000);
    base / 2 + rand::thread_rng().gen_range(0..=base / 2)
}
